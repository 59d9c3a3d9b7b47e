"""Sending one-time codes: a console sender for development, an HTTP sender handing codes to the deployment's SMS
relay, and a disabled sender for a deployment that logs in by password only."""

from __future__ import annotations

from collections import deque
from typing import Protocol

import httpx

from youmin.kit.logging import get_logger
from youmin.kit.pii import mask_phone

log = get_logger("gateway.sms")


class SmsSender(Protocol):
    """Delivers a log-in code to a phone; a production deployment plugs its SMS provider in here."""

    async def send_code(self, phone: str, code: str, minutes: int) -> None: ...


class ConsoleSender:
    """Development sender: logs the code (with the phone masked) and keeps the last few in memory."""

    def __init__(self, keep: int = 100) -> None:
        self.sent: deque[tuple[str, str]] = deque(maxlen=keep)

    async def send_code(self, phone: str, code: str, minutes: int) -> None:
        """Logs the code instead of sending it."""
        self.sent.append((phone, code))
        log.info("otp.sent_to_console", phone=mask_phone(phone), code=code, valid_minutes=minutes)

    def last_code(self, phone: str) -> str | None:
        """Returns the newest code sent to a phone (development and tests)."""
        return next((c for p, c in reversed(self.sent) if p == phone), None)


class DisabledSender:
    """No SMS provider: log-in by one-time code is refused (503) before any phone is looked at."""

    enabled = False

    async def send_code(self, phone: str, code: str, minutes: int) -> None:
        raise RuntimeError("log-in by SMS code is disabled")


class HttpSender:
    """Hands each code to the deployment's SMS relay (the bridge to its provider's API): POST `url` with
    {"phone", "code", "valid_minutes"} as JSON and the relay's bearer token. The gateway's HTTP client is attached
    when the app starts."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client: httpx.AsyncClient | None = None

    async def send_code(self, phone: str, code: str, minutes: int) -> None:
        """Sends the code; raises httpx.HTTPError when the relay cannot be reached or refuses it."""
        assert self.client is not None, "the HTTP client is attached at start-up"
        resp = await self.client.post(self.url, json={"phone": phone, "code": code, "valid_minutes": minutes},
                                      headers={"Authorization": f"Bearer {self.token}"})
        resp.raise_for_status()


def make_sender(kind: str, environment: str, url: str = "", token: str = "") -> SmsSender:
    """Builds the configured sender (GATEWAY_SMS_SENDER: console, http or disabled); the console sender is refused
    in production."""
    if kind == "console":
        if environment == "production":
            raise RuntimeError("GATEWAY_SMS_SENDER=console is for development; set it to http (with GATEWAY_SMS_URL "
                               "and GATEWAY_SMS_TOKEN) or disabled")
        return ConsoleSender()
    if kind == "http":
        if not url.startswith(("https://", "http://")):
            raise RuntimeError("GATEWAY_SMS_SENDER=http needs GATEWAY_SMS_URL, the SMS relay's address")
        return HttpSender(url, token)
    if kind == "disabled":
        return DisabledSender()
    raise RuntimeError(f"unknown SMS sender {kind!r}; expected console, http or disabled")
