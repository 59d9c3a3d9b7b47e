"""Bearer JWTs with roles and org-unit scopes; every service checks them itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from youmin.kit.errors import Forbidden, Unauthorized
from youmin.kit.settings import CommonSettings

ALGORITHM = "HS256"


class Grant(BaseModel):
    """A role held at an org unit; the scope covers every unit whose code extends it."""

    model_config = ConfigDict(frozen=True)

    role: str
    scope: str


class Principal(BaseModel):
    """Who is calling: a person, a department's integration, or a service. Frozen: one verified token's principal
    serves each of its requests (decode_token)."""

    model_config = ConfigDict(frozen=True)

    sub: str
    kind: Literal["user", "department", "service"] = "user"
    grants: tuple[Grant, ...] = ()
    department: str | None = None

    def roles(self) -> set[str]:
        """Returns the role names this principal holds anywhere."""
        return {g.role for g in self.grants}

    def covers(self, unit_code: str, roles: set[str] | frozenset[str] | None = None) -> bool:
        """Tells whether a grant (optionally of one of `roles`) has a scope covering the unit."""
        return any(
            unit_code.startswith(g.scope) and (roles is None or g.role in roles) for g in self.grants
        )

    def scopes(self, roles: set[str] | frozenset[str] | None = None) -> list[str]:
        """Returns the scope codes of the grants (optionally of the given roles)."""
        return [g.scope for g in self.grants if roles is None or g.role in roles]


def mint_token(
    settings: CommonSettings,
    sub: str,
    grants: list[Grant] | list[dict],
    *,
    kind: str = "user",
    minutes: int | None = None,
    department: str | None = None,
    extra: dict | None = None,
) -> str:
    """Signs an access token."""
    now = datetime.now(UTC)
    claims = {
        "sub": sub,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + timedelta(minutes=minutes or settings.access_token_minutes),
        "kind": kind,
        "grants": [g.model_dump() if isinstance(g, Grant) else dict(g) for g in grants],
        **({"department": department} if department else {}),
        **(extra or {}),
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


# How far the clocks of the processes that mint and verify tokens may disagree.
CLOCK_SKEW_SECONDS = 30


def decode_token(settings: CommonSettings, token: str) -> Principal:
    """Verifies a token's signature, expiry and issuer; returns its principal.

    A token verified once is known again by its whole text until it expires: a phone sends one access token with
    every request of its session, and its signature is checked the first time only (a few hundred microseconds of
    each request's CPU). A token that fails is not remembered: it is checked again, and refused again, every time.
    """
    try:
        principal, expires = _verified(settings.signing_key, settings.jwt_issuer, token)
    except (jwt.PyJWTError, ValidationError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    # As PyJWT tells an expired token: its expiry, in whole seconds, at or before now.
    if expires <= time.time():
        raise Unauthorized("invalid token: Signature has expired")
    return principal


@lru_cache(maxsize=8192)
def _verified(signing_key: str, issuer: str, token: str) -> tuple[Principal, int]:
    """A token's principal and expiry (Unix time), its signature and claims verified."""
    # Issued-at and not-before are read with the leeway (the issuing process's clock may run ahead of this one's:
    # a token minted for a call would be "not yet valid" at the other end); expiry is checked by decode_token, to the
    # second.
    claims = jwt.decode(
        token, signing_key, algorithms=[ALGORITHM], issuer=issuer, options={"require": ["exp", "sub", "iss"]},
        leeway=CLOCK_SKEW_SECONDS,
    )
    principal = Principal(sub=claims["sub"], kind=claims.get("kind", "user"), grants=claims.get("grants", []),
                          department=claims.get("department"))
    return principal, int(claims["exp"])


def bearer(request: Request) -> str | None:
    """Returns the bearer token of a request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_principal(request: Request) -> Principal:
    """Dependency: the verified caller; 401 without a valid token."""
    token = bearer(request)
    if token is None:
        raise Unauthorized("a bearer token is required")
    return decode_token(request.app.state.settings, token)


def optional_principal(request: Request) -> Principal | None:
    """Dependency: the verified caller, or None for an anonymous request."""
    token = bearer(request)
    return decode_token(request.app.state.settings, token) if token else None


# FastAPI runs a plain `def` dependency in its thread pool; these run on the event loop (decoding is quick).
async def _current_principal(request: Request) -> Principal:
    return current_principal(request)


async def _optional_principal(request: Request) -> Principal | None:
    return optional_principal(request)


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]


def require_scope(principal: Principal, unit_code: str, roles: set[str] | frozenset[str] | None = None) -> None:
    """Refuses (403) unless the principal holds a grant covering the unit."""
    if not principal.covers(unit_code, roles):
        raise Forbidden(f"no grant covers org unit {unit_code}", scope=unit_code)
