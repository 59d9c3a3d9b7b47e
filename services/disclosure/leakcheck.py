"""Finds personal data in public output: phone numbers, ID numbers and known full names.

Used by the test suite's redaction scan over every public response, and usable by operators to audit
an export before it leaves the building.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from youmin.kit.pii import ID_NUMBER_PATTERN, PHONE_PATTERN, half_width

PUBLIC_PREFIXES = ("/public/", "/portal/", "/")


@dataclass(frozen=True)
class Leak:
    """One piece of personal data found in a public body."""

    url: str
    kind: str
    value: str


def find_leaks(url: str, body: str, names: Iterable[str] = ()) -> list[Leak]:
    """Returns the phone numbers, ID numbers and given full names found in a body (full-width digits too)."""
    body = half_width(body)
    leaks = [Leak(url, "id_number", m.group(0)) for m in ID_NUMBER_PATTERN.finditer(body)]
    leaks += [Leak(url, "phone", m.group(0)) for m in PHONE_PATTERN.finditer(body)]
    leaks += [Leak(url, "name", n) for n in names if len(n) >= 2 and n in body]
    return leaks


@dataclass
class PublicBodyRecorder:
    """Collects the body of every public response a client receives (an httpx response hook)."""

    bodies: list[tuple[str, str]] = field(default_factory=list)

    async def hook(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if path == "/" or path.startswith(("/public/", "/portal/")):
            await response.aread()
            self.bodies.append((str(response.request.url), response.content.decode("utf-8", errors="replace")))

    def leaks(self, names: Iterable[str] = (), since: int = 0) -> list[Leak]:
        """Scans the bodies recorded from position `since` on."""
        names = list(names)
        return [leak for url, body in self.bodies[since:] for leak in find_leaks(url, body, names)]
