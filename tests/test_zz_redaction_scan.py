"""The redaction scan: every public response the test run received holds no phone number, no ID number and
no full name of a seeded person. It runs after the browser, end-to-end and integration tests (file order)."""

from __future__ import annotations

import re

import pytest

from services.disclosure.leakcheck import find_leaks
from services.registry.seed import seeded_personal_data

# The scales the registry tests and the demo seed use; names repeat across scales, so the union is small.
SEED_SCALES = (0.005, 0.02)
PLANTED_NAMES = ("王建国", "李秀英", "欧阳明华", "张伟")  # put into free text by the disclosure tests


def seeded_names() -> set[str]:
    return {name for scale in SEED_SCALES for name, _, _ in seeded_personal_data(scale)} | set(PLANTED_NAMES)


def test_no_public_response_of_the_run_carries_personal_data(record_public_responses):
    bodies = record_public_responses.bodies
    if not bodies:
        pytest.skip("no public response was recorded: run the whole suite (make test) for the scan")
    scan = scanner(seeded_names())
    leaks = [leak for url, body in bodies for leak in scan(url, body)]
    assert len(bodies) > 20, "the suite's public responses were not all recorded"
    assert not leaks, f"{len(leaks)} personal data found in public responses, e.g. {leaks[:5]}"


def scanner(names: set[str]):
    """The scan of one response: phone and ID numbers (find_leaks), and any of the given full names."""
    pattern = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))

    def scan(url: str, body: str) -> list[tuple[str, str, str]]:
        return ([(url, leak.kind, leak.value) for leak in find_leaks(url, body)]
                + [(url, "name", m.group(0)) for m in pattern.finditer(body)])

    return scan


def test_the_scan_finds_a_seeded_name_a_phone_and_an_id_number():
    names = seeded_names()
    name = next(iter(names - set(PLANTED_NAMES)))
    body = f"<p>联系人 {name}，电话 13912345678，身份证 370705198001011234</p>"
    found = scanner(names)("/public/v1/x", body)
    assert sorted(kind for _, kind, _ in found) == ["id_number", "name", "phone"]
    assert ("/public/v1/x", "name", name) in found
    assert scanner(names)("/public/v1/x", "<p>联系人 张某，电话 139****5678</p>") == []
