"""Log-in through the gateway against the real registry: passwords, refresh rotation, one-time codes, lock-out."""

from __future__ import annotations

import asyncio
import random

import httpx
from sqlalchemy import text

from youmin.kit.auth import decode_token, mint_token
from youmin.kit.db import transaction
from youmin.kit.pii import id_check_char
from youmin.testing import eventually


def _phone() -> str:
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


def _id_number() -> str:
    first17 = "370705" + f"{random.randint(1960, 2000)}0{random.randint(1, 9)}1{random.randint(0, 9)}" + \
        "".join(random.choice("0123456789") for _ in range(3))
    return first17 + id_check_char(first17)


async def _person_with_password(stack, phone: str, password: str) -> str:
    """Registers a person in the registry and sets their password (as an admin and the gateway would)."""
    admin = stack.token("admin", "370705", sub="e2e-admin")
    async with stack.client(admin) as client:
        resp = await client.post("/api/v1/registry/people", json={"name": "测试居民", "id_number": _id_number(),
                                                                  "phone": phone})
        assert resp.status_code == 201, resp.text
        person_id = resp.json()["person_id"]
    service = mint_token(stack.settings, "gateway", [], kind="service")
    async with httpx.AsyncClient(base_url=stack.service_urls["registry"],
                                 headers={"authorization": f"Bearer {service}"}) as registry:
        resp = await registry.put("/internal/v1/registry/credentials", json={"person_id": person_id, "password": password})
        assert resp.status_code == 204, resp.text
    return person_id


async def test_login_returns_an_access_token_for_the_registry_person_and_a_refresh_token(stack):
    phone = _phone()
    person_id = await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        resp = await client.post("/auth/login", json={"phone": phone, "password": "correct horse battery"})
        assert resp.status_code == 200, resp.text
        pair = resp.json()
        assert decode_token(stack.settings, pair["access_token"]).sub == person_id
        rotated = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert rotated.status_code == 200
        replay = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert replay.status_code == 401
        assert (await client.post("/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]})).status_code == 401


async def test_a_password_reset_ends_the_log_ins_made_before_it_at_their_next_refresh(stack):
    phone = _phone()
    person_id = await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        stolen = (await client.post("/auth/login", json={"phone": phone, "password": "correct horse battery"})).json()
        # The phone is lost: the operator sets a new password.
        service = mint_token(stack.settings, "gateway", [], kind="service")
        async with httpx.AsyncClient(base_url=stack.service_urls["registry"],
                                     headers={"authorization": f"Bearer {service}"}) as registry:
            reset = await registry.put("/internal/v1/registry/credentials",
                                       json={"person_id": person_id, "password": "a new long passphrase"})
            assert reset.status_code == 204, reset.text
        refused = await client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert refused.status_code == 401 and "password was changed" in refused.json()["detail"]
        fresh = await client.post("/auth/login", json={"phone": phone, "password": "a new long passphrase"})
        assert fresh.status_code == 200, fresh.text
        renewed = await client.post("/auth/refresh", json={"refresh_token": fresh.json()["refresh_token"]})
        assert renewed.status_code == 200, renewed.text


async def test_a_log_in_checked_just_before_a_reset_is_ended_though_its_token_was_written_after_it(stack):
    phone = _phone()
    person_id = await _person_with_password(stack, phone, "correct horse battery")
    service = mint_token(stack.settings, "gateway", [], kind="service")
    async with stack.client() as client, httpx.AsyncClient(
            base_url=stack.service_urls["registry"], headers={"authorization": f"Bearer {service}"}) as registry:
        stolen = (await client.post("/auth/login", json={"phone": phone, "password": "correct horse battery"})).json()
        reset = await registry.put("/internal/v1/registry/credentials",
                                   json={"person_id": person_id, "password": "a new long passphrase"})
        assert reset.status_code == 204, reset.text
        # The old password was checked before the reset committed, and the log-in written after it: by the times alone
        # the log-in would look newer than the reset.
        async with transaction(stack.gateway_app.state.sessions) as session:
            await session.execute(text("UPDATE refresh_token SET issued_at = now() + interval '1 minute' "
                                       "WHERE person_id = :p"), {"p": person_id})
        refused = await client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert refused.status_code == 401 and "password was changed" in refused.json()["detail"]
        # A log-in under the new password lives on through its refreshes.
        fresh = (await client.post("/auth/login", json={"phone": phone, "password": "a new long passphrase"})).json()
        for _ in range(2):
            renewed = await client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
            assert renewed.status_code == 200, renewed.text
            fresh = renewed.json()


async def test_wrong_password_is_401_without_saying_which_part_was_wrong(stack):
    phone = _phone()
    await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        wrong = await client.post("/auth/login", json={"phone": phone, "password": "nope"})
        unknown = await client.post("/auth/login", json={"phone": _phone(), "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_repeated_failures_lock_the_phone_out_even_with_the_right_password(stack):
    phone = _phone()
    await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        statuses = [(await client.post("/auth/login", json={"phone": phone, "password": f"bad{i}"})).status_code
                    for i in range(5)]
        assert statuses == [401, 401, 401, 401, 429]
        locked = await client.post("/auth/login", json={"phone": phone, "password": "correct horse battery"})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 60
        assert locked.headers["content-type"].startswith("application/problem+json")
        # Another phone from the same address is not locked by this one.
        other = _phone()
        await _person_with_password(stack, other, "another good password")
        assert (await client.post("/auth/login", json={"phone": other, "password": "another good password"})).status_code == 200


async def test_one_time_code_logs_in_and_works_once(stack):
    phone = _phone()
    person_id = await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        sent = await client.post("/auth/otp/request", json={"phone": phone})
        assert sent.status_code == 202
        # The development console sender logs the code; the test reads it from the sender the gateway uses.
        code = _last_code(stack, phone)
        ok = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert ok.status_code == 200, ok.text
        assert decode_token(stack.settings, ok.json()["access_token"]).sub == person_id
        again = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert again.status_code == 401


def _last_code(stack, phone: str) -> str:
    # The development console sender logs the code and keeps the last one per phone.
    code = stack.gateway_app.state.sms_sender.last_code(phone)
    assert code, "no code was sent to the console"
    return code


async def test_one_time_code_for_an_unknown_phone_answers_the_same_and_sends_nothing(stack):
    phone = _phone()
    async with stack.client() as client:
        resp = await client.post("/auth/otp/request", json={"phone": phone})
        assert resp.status_code == 202
    assert stack.gateway_app.state.sms_sender.last_code(phone) is None


async def test_concurrent_guesses_on_one_phone_are_counted_one_by_one(stack):
    import asyncio

    phone = _phone()
    await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        answers = await asyncio.gather(*[client.post("/auth/login", json={"phone": phone, "password": f"guess{i}"})
                                         for i in range(20)])
    statuses = sorted(a.status_code for a in answers)
    # As one after another: four wrong passwords, then the phone is locked (the fifth failure locks it).
    assert statuses == [401] * 4 + [429] * 16, statuses


async def test_asking_twice_for_a_code_answers_alike_for_registered_and_unknown_phones(stack):
    known = _phone()
    await _person_with_password(stack, known, "correct horse battery")
    async with stack.client() as client:
        for phone in (known, _phone()):
            first = await client.post("/auth/otp/request", json={"phone": phone})
            second = await client.post("/auth/otp/request", json={"phone": phone})
            assert (first.status_code, second.status_code) == (202, 429), (phone == known, second.text)


async def test_a_phone_is_sent_so_many_codes_a_day_registered_or_not(stack):
    from datetime import UTC, datetime, timedelta

    from gateway.auth import _hash
    from gateway.models import OneTimeCode
    from youmin.kit.db import transaction

    known = _phone()
    await _person_with_password(stack, known, "correct horse battery")
    daily = stack.gateway_app.state.settings.otp_daily_max
    now = datetime.now(UTC)
    for phone in (known, _phone()):
        # The day's codes sent earlier, the oldest 23 hours ago: the next one may be asked for in an hour.
        async with transaction(stack.gateway_app.state.sessions) as session:
            session.add_all(OneTimeCode(phone_hash=_hash(phone), code_hash=_hash(str(n)), attempts=0, used_at=now,
                                        created_at=now - timedelta(hours=23, minutes=n),
                                        expires_at=now - timedelta(hours=23, minutes=n)) for n in range(daily))
        async with stack.client() as client:
            refused = await client.post("/auth/otp/request", json={"phone": phone})
        assert refused.status_code == 429, refused.text
        assert f"{daily} codes in 24 hours" in refused.json()["detail"]
        assert 3000 < int(refused.headers["retry-after"]) <= 3600 - 60 * (daily - 1) + 1
    assert known not in [p for p, _ in stack.gateway_app.state.sms_sender.sent]


async def test_codes_asked_for_at_once_send_one_text(stack):
    import asyncio

    phone = _phone()
    await _person_with_password(stack, phone, "correct horse battery")
    async with stack.client() as client:
        answers = await asyncio.gather(*[client.post("/auth/otp/request", json={"phone": phone}) for _ in range(8)])
    assert sorted(a.status_code for a in answers) == [202] + [429] * 7
    assert [p for p, _ in stack.gateway_app.state.sms_sender.sent].count(phone) == 1


async def test_a_one_time_code_is_texted_only_once_it_is_committed(stack):
    from sqlalchemy import text

    from gateway.auth import _hash

    phone = _phone()
    await _person_with_password(stack, phone, "correct horse battery")
    app = stack.gateway_app
    seen: list[tuple[str, int]] = []

    class CheckingSender:
        """Looks, when asked to send, for the code's row from another connection: only a committed row is there."""

        async def send_code(self, phone: str, code: str, minutes: int) -> None:
            async with app.state.sessions() as other:
                waiting = await other.scalar(text("SELECT count(*) FROM one_time_code WHERE phone_hash = :h AND "
                                                  "used_at IS NULL AND expires_at > now()"), {"h": _hash(phone)})
            seen.append((code, int(waiting)))

    console, app.state.sms_sender = app.state.sms_sender, CheckingSender()
    try:
        async with stack.client() as client:
            assert (await client.post("/auth/otp/request", json={"phone": phone})).status_code == 202
        await eventually(lambda: asyncio.sleep(0, seen))  # sent after the answer
    finally:
        app.state.sms_sender = console
    assert len(seen) == 1 and seen[0][1] >= 1, seen
