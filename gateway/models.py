"""Tables of the gateway: department API keys, refresh-token families, lock-outs, one-time codes, webhooks, and the
consumer inbox of work-order changes."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from youmin.kit.db import make_base
from youmin.kit.outbox import inbox_table

Base = make_base()

# The consumer of work-order changes deduplicates through the kit's inbox; the gateway publishes nothing, so it has
# no outbox.
inbox_event = inbox_table(Base.metadata)


class ApiKey(Base):
    """A department's integration key; only its SHA-256 hash is kept."""

    __tablename__ = "api_key"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    department_code: Mapped[str] = mapped_column(String(32), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(100))


class RefreshToken(Base):
    """One refresh token of a log-in family; only its hash is kept. Reusing a used one revokes the family."""

    __tablename__ = "refresh_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[UUID] = mapped_column(index=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the password the log-in was made under (checked, or the person's when a one-time code was used) was set.
    password_set_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed log-ins counted per subject (`phone:<hash>` or `ip:<address>`), and the lock that follows."""

    __tablename__ = "login_throttle"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OneTimeCode(Base):
    """A log-in code sent by SMS; phone and code are kept hashed."""

    __tablename__ = "one_time_code"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscription(Base):
    """Where a department wants its work-order changes pushed, and the secret deliveries are signed with."""

    __tablename__ = "webhook_subscription"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    department_code: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Why it is disabled: "failures" (the department re-enables it), "key_revoked" (a live key of the department
    # re-enables it, and becomes its key) or "district" (held by district staff, who alone re-enable it).
    disabled_by: Mapped[str | None] = mapped_column(String(16))
    # The API key that made it, followed through rotations: revoking that key disables it. Empty for subscriptions
    # made before keys were recorded.
    key_id: Mapped[str | None] = mapped_column(String(16), index=True)


class WebhookDelivery(Base):
    """One event to push to one subscription: pending until delivered or abandoned."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    subscription_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed | expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    """The delivery log: every attempt with its outcome."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
