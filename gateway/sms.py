"""Sending one-time codes: a console sender for development, an interface for a production SMS gateway."""

from __future__ import annotations

from collections import deque
from typing import Protocol

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


def make_sender(kind: str, environment: str) -> SmsSender:
    """Builds the configured sender; the console sender is refused in production."""
    if kind == "console":
        if environment == "production":
            raise RuntimeError("GATEWAY_SMS_SENDER=console is for development; configure an SMS provider")
        return ConsoleSender()
    raise RuntimeError(f"unknown SMS sender {kind!r}")
