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
    names = seeded_names()
    pattern = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))
    leaks = []
    for url, body in bodies:
        leaks += find_leaks(url, body)
        leaks += [(url, "name", m.group(0)) for m in pattern.finditer(body)]
    assert len(bodies) > 20, "the suite's public responses were not all recorded"
    assert not leaks, f"{len(leaks)} personal data found in public responses, e.g. {leaks[:5]}"


def test_the_scan_finds_a_seeded_name_a_phone_and_an_id_number():
    name = next(iter(seeded_names() - set(PLANTED_NAMES)))
    body = f"<p>联系人 {name}，电话 13912345678，身份证 370705198001011234</p>"
    kinds = {leak.kind for leak in find_leaks("/public/v1/x", body)}
    assert kinds == {"phone", "id_number"}
    assert re.search(re.escape(name), body)
