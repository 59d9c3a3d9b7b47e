"""The gateway's retention sweep deletes what it keeps only for a while, and nothing still in use."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from gateway.models import LoginThrottle, OneTimeCode, RefreshToken, WebhookAttempt, WebhookDelivery, WebhookSubscription
from gateway.retention import sweep_once
from youmin.kit.db import transaction
from youmin.testing import running


async def test_the_sweep_deletes_spent_codes_old_tokens_ended_lockouts_and_old_delivery_logs_only(make_gateway):
    app = make_gateway(webhook_enabled=False, retention_sweep_seconds=0, webhook_log_days=30)
    async with running(app):
        now = app.state.clock.now()
        tag = uuid.uuid4().hex[:12]
        async with transaction(app.state.sessions) as session:
            rows = {
                # (kept?, row)
                "code, 3 days": (False, OneTimeCode(phone_hash=f"old-{tag}", code_hash="x",
                                                    created_at=now - timedelta(days=3),
                                                    expires_at=now - timedelta(days=3), attempts=0)),
                "code, 20 hours": (True, OneTimeCode(phone_hash=f"new-{tag}", code_hash="x",
                                                     created_at=now - timedelta(hours=20),
                                                     expires_at=now - timedelta(hours=20), attempts=0)),
                "token, expired 100 days": (False, RefreshToken(token_hash=f"old-{tag}", family_id=uuid.uuid4(),
                                                                person_id=tag, expires_at=now - timedelta(days=100))),
                "token, alive": (True, RefreshToken(token_hash=f"new-{tag}", family_id=uuid.uuid4(), person_id=tag,
                                                    expires_at=now + timedelta(days=20))),
                "throttle, ended": (False, LoginThrottle(subject=f"ip:old-{tag}", failures=3,
                                                         window_started_at=now - timedelta(days=2))),
                "throttle, still locked": (True, LoginThrottle(subject=f"ip:locked-{tag}", failures=50,
                                                               window_started_at=now - timedelta(days=2),
                                                               locked_until=now + timedelta(minutes=5))),
            }
            session.add_all(row for _, row in rows.values())
        deliveries = await _deliveries(app, tag, now)
        deleted = await sweep_once(app)
        assert all(deleted[table] >= 1 for table in ("one_time_code", "refresh_token", "login_throttle",
                                                     "webhook_delivery")), deleted
        async with transaction(app.state.sessions) as session:
            left = {
                "code, 3 days": await session.scalar(select(OneTimeCode).where(OneTimeCode.phone_hash == f"old-{tag}")),
                "code, 20 hours": await session.scalar(select(OneTimeCode).where(OneTimeCode.phone_hash == f"new-{tag}")),
                "token, expired 100 days": await session.get(RefreshToken, f"old-{tag}"),
                "token, alive": await session.get(RefreshToken, f"new-{tag}"),
                "throttle, ended": await session.get(LoginThrottle, f"ip:old-{tag}"),
                "throttle, still locked": await session.get(LoginThrottle, f"ip:locked-{tag}"),
            }
            assert {name: row is not None for name, row in left.items()} == {name: kept for name, (kept, _) in rows.items()}
            kept = set(await session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.id.in_(deliveries.values()))))
            assert kept == {deliveries["delivered yesterday"], deliveries["pending, 40 days"]}
            assert await session.scalar(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id == deliveries["delivered 40 days ago"])) is None


async def _deliveries(app, tag: str, now) -> dict[str, uuid.UUID]:
    """A subscription's deliveries: delivered 40 days ago (with its attempt), delivered yesterday, pending for 40 days
    (its receiver down, the subscription disabled)."""
    ages = {"delivered 40 days ago": ("delivered", 40), "delivered yesterday": ("delivered", 1),
            "pending, 40 days": ("pending", 40)}
    ids = {name: uuid.uuid4() for name in ages}
    async with transaction(app.state.sessions) as session:
        sub = WebhookSubscription(id=uuid.uuid4(), department_code=f"d-{tag}", url="https://example.org/hook",
                                  secret="s", consecutive_failures=0)
        session.add(sub)
        await session.flush()
        for name, (status, days) in ages.items():
            at = now - timedelta(days=days)
            session.add(WebhookDelivery(id=ids[name], subscription_id=sub.id, event_id=str(uuid.uuid4()),
                                        event_type="test", payload={}, status=status, attempts=1, next_attempt_at=at,
                                        created_at=at))
        await session.flush()
        session.add(WebhookAttempt(delivery_id=ids["delivered 40 days ago"], attempt=1,
                                   attempted_at=now - timedelta(days=40), status_code=204, duration_ms=5))
    return ids
