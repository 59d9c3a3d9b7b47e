"""The registry's internal log-in API, called with the gateway's service token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import httpx

from youmin.kit.auth import Grant, mint_token
from youmin.kit.errors import PROBLEM, DomainError, PersonUnknown
from youmin.kit.settings import CommonSettings

BASE = "/internal/v1/registry"


class RegistryUnavailable(DomainError):
    status, type, title = 503, "/problems/upstream-unavailable", "Service unavailable"


@dataclass(frozen=True)
class Identity:
    """A person the registry vouched for, with their roles and scopes."""

    person_id: str
    grants: list[Grant]
    # When their password was last set: the one just checked at a log-in, the current one at a refresh.
    password_changed_at: datetime | None = None


class RegistryClient:
    """Verifies passwords, looks people up by phone and reads their current grants; the registry holds the argon2
    hashes and the roles."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, settings: CommonSettings) -> None:
        self.http = http
        self.base_url = base_url
        self.settings = settings

    def _headers(self) -> dict[str, str]:
        token = mint_token(self.settings, "gateway", [], kind="service", minutes=5)
        return {"authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, request_id: str | None, body: dict | None = None) -> httpx.Response:
        headers = self._headers() | ({"x-request-id": request_id} if request_id else {})
        try:
            resp = await self.http.request(method, f"{self.base_url}{BASE}{path}", json=body, headers=headers)
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"the registry is unavailable: {type(exc).__name__}") from exc
        # Only a password check answers 401 about the person; anywhere else it means the service token was refused.
        if resp.status_code >= 500 or resp.status_code == 403 or (resp.status_code == 401 and path != "/credentials/verify"):
            raise RegistryUnavailable(f"the registry answered {resp.status_code}")
        return resp

    @staticmethod
    def _problem_type(resp: httpx.Response) -> str | None:
        """Returns the type of a problem+json answer, else None."""
        if not resp.headers.get("content-type", "").startswith(PROBLEM):
            return None
        try:
            body = resp.json()
        except ValueError:
            return None
        return body.get("type") if isinstance(body, dict) else None

    @staticmethod
    def _identity(resp: httpx.Response) -> Identity:
        body = resp.json()
        changed = body.get("password_changed_at")
        return Identity(person_id=str(body["person_id"]), grants=[Grant(**g) for g in body.get("grants", [])],
                        password_changed_at=datetime.fromisoformat(changed) if changed else None)

    async def verify(self, phone: str, password: str, request_id: str | None = None) -> Identity | None:
        """Returns the person when the password matches, else None."""
        resp = await self._call("POST", "/credentials/verify", request_id, {"phone": phone, "password": password})
        if resp.status_code == 200:
            return self._identity(resp)
        if resp.status_code in (401, 404, 422):
            return None
        raise RegistryUnavailable(f"the registry answered {resp.status_code} to a password check")

    async def lookup(self, phone: str, request_id: str | None = None) -> Identity | None:
        """Returns the person holding a phone number, else None."""
        resp = await self._call("POST", "/credentials/lookup", request_id, {"phone": phone})
        if resp.status_code == 200:
            return self._identity(resp)
        if resp.status_code in (404, 422):
            return None
        raise RegistryUnavailable(f"the registry answered {resp.status_code} to a look-up")

    async def current(self, person_id: str, request_id: str | None = None) -> Identity | None:
        """Returns a person's grants as the registry holds them now, else None when it no longer knows them."""
        resp = await self._call("GET", f"/people/{quote(person_id, safe='')}/grants", request_id)
        if resp.status_code == 200:
            return self._identity(resp)
        # None ends every session of the log-in, so only the registry's own person-unknown answer counts: a 404 from a
        # registry without this route, or from a proxy in front of it, says nothing about the person.
        if resp.status_code == 422 or (resp.status_code == 404 and self._problem_type(resp) == PersonUnknown.type):
            return None
        raise RegistryUnavailable(f"the registry answered {resp.status_code} to a grants look-up")
