"""Sending one-time codes: a console sender for development, an HTTP sender handing codes to the deployment's SMS
relay, and a disabled sender for a deployment that logs in by password only."""

from __future__ import annotations

import asyncio
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
    when the app starts.

    The code is sent after the request is answered, in a task of its own (at most `concurrency` at once): the answer
    to a registered phone takes no longer than to an unknown one, and a slow relay holds no database connection or
    lock. A code the relay could not take is logged (phone masked); the person asks again after the resend wait.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 5.0, concurrency: int = 20,
                 backlog: int = 1000) -> None:
        self.url, self.token, self.timeout, self.backlog = url, token, timeout, backlog
        self.client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._sending: set[asyncio.Task[bool]] = set()

    async def send_code(self, phone: str, code: str, minutes: int) -> None:
        """Schedules the code's delivery and returns at once; with `backlog` codes still waiting for a relay that does
        not answer, a new one is dropped (logged): it would arrive after it had expired."""
        if len(self._sending) >= self.backlog:
            log.error("otp.send_dropped", phone=mask_phone(phone), waiting=len(self._sending))
            return
        task = asyncio.get_running_loop().create_task(self.deliver(phone, code, minutes))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def deliver(self, phone: str, code: str, minutes: int) -> bool:
        """Sends one code to the relay; returns whether it took it."""
        assert self.client is not None, "the HTTP client is attached at start-up"
        async with self._slots:
            try:
                resp = await self.client.post(self.url, json={"phone": phone, "code": code, "valid_minutes": minutes},
                                              headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout)
                resp.raise_for_status()
                return True
            except Exception as exc:  # noqa: BLE001 - a task of its own: nobody else would see it
                log.error("otp.send_failed", phone=mask_phone(phone), error=f"{type(exc).__name__}: {exc}")
                return False

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for the codes being sent (on shutdown, and in tests), at most `timeout` seconds."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=timeout)


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
