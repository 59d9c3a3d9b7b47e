"""Access tokens: a verified token is known again by its text until it expires; nothing else passes for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from youmin.kit import auth
from youmin.kit.auth import ALGORITHM, Grant, decode_token, mint_token
from youmin.kit.errors import Unauthorized
from youmin.kit.settings import CommonSettings

SETTINGS = CommonSettings()


def _token(seconds: float, sub: str = "resident-1", key: str | None = None, **claims) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": sub, "iss": SETTINGS.jwt_issuer, "iat": now, "exp": now + timedelta(seconds=seconds),
                       "kind": "user", "grants": [{"role": "resident", "scope": "370705001001001001010001"}],
                       **claims}, key or SETTINGS.signing_key, algorithm=ALGORITHM)


def test_a_verified_token_serves_its_requests_until_it_expires(monkeypatch):
    token = _token(30)
    first = decode_token(SETTINGS, token)
    assert decode_token(SETTINGS, token) is first  # known again, not decoded again
    assert first.grants == (Grant(role="resident", scope="370705001001001001010001"),)
    with pytest.raises(Exception):
        first.grants = ()  # one principal serves many requests: nobody changes it

    later = time.time() + 31
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SETTINGS, token)


def test_expiry_is_read_to_the_second_as_pyjwt_reads_it(monkeypatch):
    exp = int(time.time()) + 60
    token = jwt.encode({"sub": "s", "iss": SETTINGS.jwt_issuer, "exp": exp}, SETTINGS.signing_key, algorithm=ALGORITHM)
    decode_token(SETTINGS, token)
    monkeypatch.setattr(auth.time, "time", lambda: exp - 0.5)
    assert decode_token(SETTINGS, token).sub == "s"
    monkeypatch.setattr(auth.time, "time", lambda: float(exp))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SETTINGS, token)


def test_a_fractional_expiry_counts_in_whole_seconds_as_pyjwt_counts_it(monkeypatch):
    base = int(time.time()) + 60
    token = jwt.encode({"sub": "s", "iss": SETTINGS.jwt_issuer, "exp": base + 0.9}, SETTINGS.signing_key,
                       algorithm=ALGORITHM)
    assert decode_token(SETTINGS, token).sub == "s"
    monkeypatch.setattr(auth.time, "time", lambda: base + 0.3)
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SETTINGS, token)


def test_nothing_passes_for_a_verified_token():
    token = _token(300)
    decode_token(SETTINGS, token)
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"resident-1", b"resident-2")).decode()
    for forged in (f"{header}.{forged_payload}.{signature}", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
                   _token(300, key="another key of at least thirty-two characters")):
        for _ in range(2):  # a refused token is not remembered either
            with pytest.raises(Unauthorized):
                decode_token(SETTINGS, forged)
    # Another issuer's settings do not take this issuer's verified token.
    other = CommonSettings(jwt_issuer="someone-else")
    with pytest.raises(Unauthorized):
        decode_token(other, token)
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, mint_token(SETTINGS, "s", [], minutes=-1))


def test_a_token_minted_by_a_clock_running_ahead_is_taken_and_still_expires_to_the_second(monkeypatch):
    # The gateway mints a token for each call to the registry: its clock a few seconds ahead must not make every
    # call (a log-in among them) "not yet valid".
    now = int(time.time())
    token = jwt.encode({"sub": "s", "iss": SETTINGS.jwt_issuer, "iat": now + 20, "nbf": now + 20, "exp": now + 40},
                       SETTINGS.signing_key, algorithm=ALGORITHM)
    assert decode_token(SETTINGS, token).sub == "s"
    monkeypatch.setattr(auth.time, "time", lambda: float(now + 40))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SETTINGS, token)
    far_ahead = jwt.encode({"sub": "s", "iss": SETTINGS.jwt_issuer, "iat": now + 600, "exp": now + 900},
                           SETTINGS.signing_key, algorithm=ALGORITHM)
    monkeypatch.setattr(auth.time, "time", lambda: float(now))
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, far_ahead)
