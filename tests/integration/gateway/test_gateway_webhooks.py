"""Department webhooks: signed deliveries to a receiver running in the test, retries, the log, disabling."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import event, select, update

from gateway import apikeys
from gateway.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from gateway.webhooks import SIGNATURE_HEADER, WORK_ORDER_CHANGED, deliver_due, enqueue, verify_signature
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.db import transaction
from youmin.kit.errors import problem
from youmin.kit.events import Envelope
from youmin.kit.kafka import make_producer
from youmin.testing import InProcessServer, eventually, running


class Receiver:
    """A department's webhook endpoint: verifies each signature, fails the first `fail_first` calls."""

    def __init__(self, secret_holder: dict, fail_first: int = 0, always_fail: bool = False,
                 trickle: bool = False, silent: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.secret = secret_holder
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            if silent:  # no answer for a minute
                await asyncio.sleep(60)
            body = await request.body()
            header = request.headers.get(SIGNATURE_HEADER, "")
            self.calls.append({"body": body, "signature": header, "verified": verify_signature(self.secret["s"], header, body),
                               "event": request.headers.get("x-youmin-event"), "host": request.headers.get("host")})
            if trickle:  # the answer's body a byte a second, for a minute
                async def slowly():
                    for _ in range(60):
                        yield b"."
                        await asyncio.sleep(1)
                return StreamingResponse(slowly(), status_code=200)
            if self.always_fail or len(self.calls) <= self.fail_first:
                return Response(status_code=500)
            return Response(status_code=204)

        self.server = InProcessServer(app, free_port())

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


async def _department(app) -> tuple[str, str]:
    department = f"dept-{uuid.uuid4().hex[:8]}"
    async with transaction(app.state.sessions) as session:
        key = await apikeys.create_key(session, department)
    return department, key


async def _subscribe(client, key: str, url: str) -> dict:
    resp = await client.post("/liaison/v1/webhooks", json={"url": url}, headers={"x-api-key": key})
    assert resp.status_code == 201, resp.text
    return resp.json()


@asynccontextmanager
async def subscribed(app, **receiver_options) -> AsyncIterator[tuple]:
    """The gateway running, with a department of its own subscribed to a receiver started for it (stopped after):
    yields (client, receiver, department, api key, subscription)."""
    secret: dict = {}
    receiver = Receiver(secret, **receiver_options)
    await receiver.server.start()
    try:
        async with running(app) as client:
            department, key = await _department(app)
            sub = await _subscribe(client, key, receiver.url)
            secret["s"] = sub["secret"]
            yield client, receiver, department, key, sub
    finally:
        await receiver.server.stop()


async def _publish_work_order_change(infra, department: str) -> str:
    """Publishes a work-order change the way the matters service's outbox relay does (its contract)."""
    envelope = Envelope(
        id=str(uuid.uuid4()), source="/youmin/matters", type=WORK_ORDER_CHANGED, topic="matters.matters",
        key=str(uuid.uuid4()), time=datetime.now(UTC), subject=None, dataschema=None,
        data={"work_order_id": str(uuid.uuid4()), "matter_id": str(uuid.uuid4()), "department_code": department,
              "community_code": "370705001001", "status": "assigned", "action": "assigned",
              "due_at": "2026-12-05T09:00:00+00:00", "warning": None, "at": datetime.now(UTC).isoformat()},
    )
    producer = make_producer(infra.bootstrap, idempotence=False, client_id="test-matters")
    await producer.start()
    try:
        await producer.send_and_wait(envelope.topic, value=envelope.value(), key=envelope.key.encode(),
                                     headers=envelope.headers())
    finally:
        await producer.stop()
    return envelope.id


async def _deliveries(app, subscription_id: str) -> list[WebhookDelivery]:
    async with transaction(app.state.sessions) as session:
        return list(await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == uuid.UUID(subscription_id))))


async def test_work_order_change_reaches_the_receiver_with_a_valid_signature(make_gateway, infra):
    app = make_gateway(consumers_enabled=True)
    secret: dict = {}
    receiver = Receiver(secret)
    await receiver.server.start()
    try:
        async with running(app) as client:
            department, key = await _department(app)
            # By name: the delivery goes to the address the name was checked at, addressed to the name.
            named = receiver.url.replace("127.0.0.1", "localhost")
            sub = await _subscribe(client, key, named)
            secret["s"] = sub["secret"]
            event_id = await _publish_work_order_change(infra, department)
            await eventually(lambda: _async(len(receiver.calls) >= 1), timeout=60)
            call = receiver.calls[0]
            assert call["host"] == named.split("/")[2]
            assert call["verified"] is True
            assert call["event"] == WORK_ORDER_CHANGED
            assert f'"id":"{event_id}"'.encode() in call["body"]
            # A tampered body does not verify with the same header.
            assert not verify_signature(secret["s"], call["signature"], call["body"] + b" ")
            delivered = await eventually(lambda: _delivered(app, sub["id"]), timeout=30)
            assert delivered[0].attempts == 1
    finally:
        await receiver.server.stop()


async def _async(value):
    return value


async def _delivered(app, subscription_id: str):
    rows = await _deliveries(app, subscription_id)
    return [r for r in rows if r.status == "delivered"]


async def test_failing_receiver_is_retried_until_it_accepts(gateway_app):
    client = gateway_app.state.test_client
    secret: dict = {}
    receiver = Receiver(secret, fail_first=2)
    await receiver.server.start()
    try:
        _, key = await _department(gateway_app)
        sub = await _subscribe(client, key, receiver.url)
        secret["s"] = sub["secret"]
        assert (await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})).status_code == 202
        delivered = await eventually(lambda: _delivered(gateway_app, sub["id"]), timeout=30)
        assert delivered[0].attempts == 3
        assert len(receiver.calls) == 3 and all(c["verified"] for c in receiver.calls)
        log = await client.get(f"/liaison/v1/webhooks/{sub['id']}/deliveries", headers={"x-api-key": key})
        assert log.json()["items"][0]["status"] == "delivered"
        async with transaction(gateway_app.state.sessions) as session:
            attempts = list(await session.scalars(select(WebhookAttempt.status_code).where(
                WebhookAttempt.delivery_id == delivered[0].id).order_by(WebhookAttempt.attempt)))
        assert attempts == [500, 500, 204]
    finally:
        await receiver.server.stop()


async def test_a_receiver_that_answers_slowly_does_not_hold_the_other_deliveries(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_timeout_seconds=2)
    secret: dict = {}
    slow, quick = Receiver(secret, trickle=True), Receiver(secret)
    await slow.server.start()
    await quick.server.start()
    try:
        async with running(app) as client:
            subs = {}
            for name, receiver in (("slow", slow), ("quick", quick)):
                _, key = await _department(app)
                subs[name] = await _subscribe(client, key, receiver.url)
                await client.post(f"/liaison/v1/webhooks/{subs[name]['id']}/ping", headers={"x-api-key": key})
            secret["s"] = subs["quick"]["secret"]
            # One pass sends both and ends with the slow receiver's status, not with its minute-long body.
            pass_ = asyncio.create_task(deliver_due(app))
            done, _ = await asyncio.wait([pass_], timeout=20)
            assert pass_ in done and pass_.result() == 2
            for name in ("slow", "quick"):
                assert len(await _delivered(app, subs[name]["id"])) == 1
    finally:
        await slow.server.stop()
        await quick.server.stop()


async def test_a_receiver_that_does_not_answer_is_given_up_on_at_the_timeout_and_retried(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_timeout_seconds=2)
    silent = Receiver({}, silent=True)
    await silent.server.start()
    try:
        async with running(app) as client:
            _, key = await _department(app)
            sub = await _subscribe(client, key, silent.url)
            await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})
            pass_ = asyncio.create_task(deliver_due(app))
            done, _ = await asyncio.wait([pass_], timeout=20)
            assert pass_ in done
            [delivery] = await _deliveries(app, sub["id"])
            assert (delivery.status, delivery.attempts) == ("pending", 1)
            assert delivery.last_error == "timed out: no answer within 2 s"
            # Removed, so that no other test's pass finds it due.
            assert (await client.delete(f"/liaison/v1/webhooks/{sub['id']}", headers={"x-api-key": key})).status_code == 204
    finally:
        silent.server.server.force_exit = True  # its request is still waiting
        await silent.server.stop()


async def test_a_subscriptions_changes_arrive_in_order_even_when_one_is_retried(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=60)
    async with subscribed(app, fail_first=1) as (client, receiver, department, key, sub):
        now = app.state.clock.now()
        async with transaction(app.state.sessions) as session:
            for n, action in enumerate(("signed", "answered")):
                await enqueue(session, department, str(uuid.uuid4()), WORK_ORDER_CHANGED,
                              {"data": {"action": action}}, now + timedelta(microseconds=n))
        assert await deliver_due(app) == 1  # "signed" fails: "answered" waits behind it
        assert await deliver_due(app) == 0
        app.state.clock.advance(70)
        assert [await deliver_due(app) for _ in range(3)] == [1, 1, 0]
        actions = [json.loads(c["body"])["data"]["action"] for c in receiver.calls]
        assert actions == ["signed", "signed", "answered"]


async def test_retry_waits_for_the_backoff_on_the_workers_clock(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=60)
    async with subscribed(app, fail_first=1) as (client, receiver, _, key, sub):
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})
        assert await deliver_due(app) == 1  # fails: the next attempt is ~60 s away
        assert await deliver_due(app) == 0
        app.state.clock.advance(59)
        assert await deliver_due(app) == 0
        app.state.clock.advance(10)  # past the 60 s backoff and its jitter (at most +10%)
        assert await deliver_due(app) == 1
        assert len(await _delivered(app, sub["id"])) == 1


async def test_retry_backoff_doubles_between_attempts_up_to_the_cap(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=60, webhook_backoff_max_seconds=300,
                       webhook_max_attempts=10, webhook_disable_after_failures=100)
    async with subscribed(app, always_fail=True) as (client, receiver, _, key, sub):
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})
        delays = []
        for attempt in range(1, 6):
            assert await deliver_due(app) == 1
            [delivery] = await _deliveries(app, sub["id"])
            async with transaction(app.state.sessions) as session:
                attempted_at = await session.scalar(select(WebhookAttempt.attempted_at).where(
                    WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.attempt == attempt))
            delays.append((delivery.next_attempt_at - attempted_at).total_seconds())
            app.state.clock.advance(delays[-1] + 1)
        assert len(receiver.calls) == 5
    # Each wait is twice the one before (base 60 s, plus at most 10% jitter) until the 300 s cap.
    for delay, nominal in zip(delays, [60, 120, 240, 300, 300], strict=True):
        assert nominal <= delay <= nominal * 1.1, delays
    for earlier, later in zip(delays[:2], delays[1:3], strict=True):
        assert 2 * earlier / 1.1 <= later <= 2 * earlier * 1.1, delays


async def test_subscription_is_disabled_after_repeated_failures(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=0,
                                      webhook_max_attempts=5, webhook_disable_after_failures=3)
    async with subscribed(app, always_fail=True) as (client, receiver, department, key, sub):
        headers = {"x-api-key": key}
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers=headers)
        while await deliver_due(app):
            pass
        listed = (await client.get("/liaison/v1/webhooks", headers=headers)).json()["items"]
        assert listed[0]["active"] is False
        assert "3 failed deliveries in a row" in listed[0]["disabled_reason"]
        second_ping = (await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers=headers)).json()
        # A work-order change while the subscription is disabled is kept for it, not dropped.
        change_id = str(uuid.uuid4())
        async with transaction(app.state.sessions) as session:
            assert await enqueue(session, department, change_id, WORK_ORDER_CHANGED, {"id": change_id, "data": {}},
                                 datetime.now(UTC)) == 1
        assert await deliver_due(app) == 0  # nothing is sent while disabled
        assert len(receiver.calls) == 3
        # Re-enabling resumes the three pending deliveries, one at a time, in the order of the changes.
        receiver.always_fail = False
        assert (await client.post(f"/liaison/v1/webhooks/{sub['id']}/enable", headers=headers)).json()["active"]
        passes = [await deliver_due(app) for _ in range(4)]
        assert passes == [1, 1, 1, 0]
        assert len(await _delivered(app, sub["id"])) == 3
        # The first ping (failed three times), the second, then the change.
        resumed = [json.loads(c["body"])["id"] for c in receiver.calls[3:]]
        assert resumed == [json.loads(receiver.calls[0]["body"])["id"], second_ping["event_id"], change_id]


async def test_re_enabling_a_subscription_resumes_its_deliveries_at_once_not_after_their_backoff(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=600, webhook_disable_after_failures=1)
    async with subscribed(app, fail_first=1) as (client, receiver, _, key, sub):
        headers = {"x-api-key": key}
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers=headers)
        assert await deliver_due(app) == 1 and len(receiver.calls) == 1  # failed: disabled, next try in 10 minutes
        assert (await client.post(f"/liaison/v1/webhooks/{sub['id']}/enable", headers=headers)).json()["active"]
        assert await deliver_due(app) == 1 and len(receiver.calls) == 2
        assert len(await _delivered(app, sub["id"])) == 1


async def test_delivery_gives_up_after_the_maximum_attempts(make_gateway):
    app = make_gateway(webhook_enabled=False, webhook_backoff_base_seconds=0,
                                      webhook_max_attempts=2, webhook_disable_after_failures=100)
    async with subscribed(app, always_fail=True) as (client, receiver, _, key, sub):
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})
        while await deliver_due(app):
            pass
        log = (await client.get(f"/liaison/v1/webhooks/{sub['id']}/deliveries?status=failed",
                                headers={"x-api-key": key})).json()["items"]
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("failed", 2, 500)]


async def test_webhooks_of_another_department_are_invisible(gateway_app):
    client = gateway_app.state.test_client
    _, key_a = await _department(gateway_app)
    _, key_b = await _department(gateway_app)
    sub = await _subscribe(client, key_a, "http://127.0.0.1:9/hook")
    resp = await client.get(f"/liaison/v1/webhooks/{sub['id']}/deliveries", headers={"x-api-key": key_b})
    assert resp.status_code == 404
    assert (await client.get("/liaison/v1/webhooks", headers={"x-api-key": key_b})).json()["items"] == []


async def test_a_liaison_action_holds_no_gateway_connection_while_the_matters_service_answers(gateway_app, monkeypatch):
    client = gateway_app.state.test_client
    _, key = await _department(gateway_app)
    # Connections held by each task: checked out and back in by the task that uses them.
    held: Counter[int] = Counter()
    pool = gateway_app.state.engine.sync_engine.pool
    checkout = lambda *_: held.update([id(asyncio.current_task())])  # noqa: E731
    checkin = lambda *_: held.subtract([id(asyncio.current_task())])  # noqa: E731
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    seen: list[int] = []

    async def slow_matters(request, service, method, path, **kw):
        seen.append(held[id(asyncio.current_task())])  # as the matters service is called, and waited on
        return problem(404, "Not found", "no such work order", "/problems/not-found")

    monkeypatch.setattr("gateway.liaison.upstream", slow_matters)
    try:
        resp = await client.post(f"/liaison/v1/workorders/{uuid.uuid4()}/sign", headers={"x-api-key": key})
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert resp.status_code == 404 and seen == [0]


async def test_a_department_subscribes_a_url_once_and_at_most_ten(gateway_app):
    client = gateway_app.state.test_client
    _, key = await _department(gateway_app)
    headers = {"x-api-key": key}
    await _subscribe(client, key, "http://127.0.0.1:9/hook-0")
    again = await client.post("/liaison/v1/webhooks", json={"url": "http://127.0.0.1:9/hook-0"}, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "url"
    for n in range(1, 10):
        await _subscribe(client, key, f"http://127.0.0.1:9/hook-{n}")
    eleventh = await client.post("/liaison/v1/webhooks", json={"url": "http://127.0.0.1:9/hook-10"}, headers=headers)
    assert eleventh.status_code == 422 and eleventh.json()["rule"] == "webhook.too_many", eleventh.text
    assert len((await client.get("/liaison/v1/webhooks", headers=headers)).json()["items"]) == 10


def test_the_published_liaison_api_names_what_a_work_order_action_may_answer(gateway_app):
    paths = gateway_app.openapi()["paths"]
    for action in ("sign", "answer", "extend", "return"):
        codes = set(paths[f"/liaison/v1/workorders/{{work_order_id}}/{action}"]["post"]["responses"])
        assert {"401", "403", "404", "409", "502", "504"} <= codes, (action, codes)


async def test_worker_stops_when_cancelled_as_it_is_woken(make_gateway):
    """The gateway's shutdown cancels the delivery worker; a wake-up at that moment must not swallow it."""
    import asyncio

    from gateway.webhooks import run_worker

    app = make_gateway(webhook_enabled=False, webhook_poll_seconds=30)
    async with running(app):
        for _ in range(5):
            worker = asyncio.create_task(run_worker(app))
            await asyncio.sleep(0.3)  # nothing is due: the worker waits for a wake-up
            app.state.webhook_wakeup.set()  # what a new subscription or delivery does
            assert worker.cancel()
            done, _ = await asyncio.wait({worker}, timeout=15)
            assert done and worker.cancelled(), "the webhook worker outlived its cancellation"


async def test_a_change_older_than_the_age_limit_is_not_sent_after_re_enabling(make_gateway):
    from datetime import timedelta

    app = make_gateway(webhook_enabled=False, webhook_max_age_hours=72)
    async with subscribed(app) as (client, receiver, department, key, sub):
        now = datetime.now(UTC)
        async with transaction(app.state.sessions) as session:
            for age in (timedelta(hours=73), timedelta(hours=1)):
                await enqueue(session, department, str(uuid.uuid4()), WORK_ORDER_CHANGED, {"data": {}}, now - age)
        assert await deliver_due(app) == 1
        async with transaction(app.state.sessions) as session:
            statuses = sorted((await session.scalars(select(WebhookDelivery.status).where(
                WebhookDelivery.subscription_id == uuid.UUID(sub["id"])))).all())
        assert statuses == ["delivered", "expired"]


def _district_staff(app) -> dict:
    token = mint_token(app.state.settings, "district-admin", [Grant(role="district_staff", scope="370705")])
    return {"authorization": f"Bearer {token}"}


async def test_revoking_a_key_stops_the_subscriptions_it_made_and_a_live_key_takes_them_on(make_gateway):
    app = make_gateway(webhook_enabled=False)
    async with subscribed(app) as (client, receiver, department, leaked, sub):
        admin = _district_staff(app)
        issued = (await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={},
                                    headers=admin)).json()
        other = await _subscribe(client, issued["api_key"], "http://127.0.0.1:9/other")
        assert sub["key_id"] == apikeys.key_id_of(leaked) and other["key_id"] == issued["key_id"]
        revoked = await client.post(f"/liaison/v1/admin/keys/{sub['key_id']}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text
        listed = {s["id"]: s for s in (await client.get("/liaison/v1/webhooks",
                                                        headers={"x-api-key": issued["api_key"]})).json()["items"]}
        # The revoked key's subscription is stopped; the one the live key made goes on.
        assert listed[sub["id"]]["active"] is False and listed[sub["id"]]["disabled_by"] == "key_revoked"
        assert sub["key_id"] in listed[sub["id"]]["disabled_reason"]
        assert listed[other["id"]]["active"] is True
        # A change for the department waits in the stopped subscription; nothing reaches its receiver.
        change_id = str(uuid.uuid4())
        async with transaction(app.state.sessions) as session:
            await enqueue(session, department, change_id, WORK_ORDER_CHANGED, {"id": change_id, "data": {}},
                          datetime.now(UTC))
        while await deliver_due(app):
            pass
        assert receiver.calls == []
        # The revoked key cannot re-enable it; a live key of the department can, and the subscription is its own then.
        assert (await client.post(f"/liaison/v1/webhooks/{sub['id']}/enable",
                                  headers={"x-api-key": leaked})).status_code == 401
        enabled = (await client.post(f"/liaison/v1/webhooks/{sub['id']}/enable",
                                     headers={"x-api-key": issued["api_key"]})).json()
        assert enabled["active"] is True and enabled["key_id"] == issued["key_id"] and enabled["disabled_by"] is None
        await deliver_due(app)
        assert [json.loads(c["body"])["id"] for c in receiver.calls] == [change_id]
        # The other subscription's receiver does not exist: its delivery goes with it, not into later tests' passes.
        await client.delete(f"/liaison/v1/webhooks/{other['id']}", headers={"x-api-key": issued["api_key"]})


async def test_a_rotated_key_hands_its_subscriptions_on_and_the_last_revoked_key_stops_them_all(make_gateway):
    app = make_gateway(webhook_enabled=False)
    async with subscribed(app) as (client, receiver, department, key, sub):
        admin = _district_staff(app)
        async with transaction(app.state.sessions) as session:  # made before subscriptions recorded their key
            await session.execute(update(WebhookSubscription).where(WebhookSubscription.id == uuid.UUID(sub["id"]))
                                  .values(key_id=None))
        rotated = (await client.post("/liaison/v1/keys/rotate", headers={"x-api-key": key})).json()
        made = await _subscribe(client, rotated["api_key"], "http://127.0.0.1:9/made")
        second = (await client.post("/liaison/v1/keys/rotate", headers={"x-api-key": rotated["api_key"]})).json()
        listed = (await client.get(f"/liaison/v1/admin/departments/{department}/webhooks", headers=admin)).json()
        by_id = {s["id"]: s for s in listed["items"]}
        assert by_id[made["id"]]["key_id"] == second["key_id"] and by_id[made["id"]]["active"] is True
        assert by_id[sub["id"]]["key_id"] is None and by_id[sub["id"]]["active"] is True
        assert all("secret" not in s for s in listed["items"])
        # The department's last key revoked: every subscription of theirs stops, the one without a key too.
        await client.post(f"/liaison/v1/admin/keys/{second['key_id']}/revoke", headers=admin)
        listed = (await client.get(f"/liaison/v1/admin/departments/{department}/webhooks", headers=admin)).json()
        assert [(s["active"], s["disabled_by"]) for s in listed["items"]] == [(False, "key_revoked")] * 2
        assert "last API key" in listed["items"][0]["disabled_reason"]
        # District staff cannot start them again before the department has a live key.
        refused = await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/enable", headers=admin)
        assert refused.status_code == 409 and "no live API key" in refused.json()["detail"]
        fresh = (await client.post(f"/liaison/v1/admin/departments/{department}/keys", json={},
                                   headers=admin)).json()
        enabled = (await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/enable", headers=admin)).json()
        assert enabled["active"] is True and enabled["key_id"] == fresh["key_id"]


async def test_district_staff_hold_a_subscription_that_the_department_cannot_re_enable(make_gateway):
    app = make_gateway(webhook_enabled=False)
    async with subscribed(app) as (client, receiver, department, key, sub):
        admin = _district_staff(app)
        resident = {"authorization": "Bearer " + mint_token(app.state.settings, "someone",
                                                            [Grant(role="community_staff", scope="370705001001")])}
        assert (await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/disable", json={"reason": "x"},
                                  headers=resident)).status_code == 403
        assert (await client.get(f"/liaison/v1/admin/departments/{department}/webhooks",
                                 headers=resident)).status_code == 403
        blank = await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/disable", json={"reason": ""}, headers=admin)
        assert blank.status_code == 422 and "reason" in blank.text
        held = (await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/disable",
                                  json={"reason": "receiver under review"}, headers=admin)).json()
        assert (held["active"], held["disabled_by"]) == (False, "district")
        assert "receiver under review" in held["disabled_reason"]
        await client.post(f"/liaison/v1/webhooks/{sub['id']}/ping", headers={"x-api-key": key})
        await deliver_due(app)
        assert receiver.calls == []
        refused = await client.post(f"/liaison/v1/webhooks/{sub['id']}/enable", headers={"x-api-key": key})
        assert refused.status_code == 409 and "district staff" in refused.json()["detail"]
        # A revocation does not take the hold over: district staff release it, and the ping goes out.
        released = (await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/enable", headers=admin)).json()
        assert released["active"] is True and released["disabled_by"] is None
        await deliver_due(app)
        assert len(receiver.calls) == 1
        unknown = await client.post(f"/liaison/v1/admin/webhooks/{uuid.uuid4()}/disable", json={"reason": "x"},
                                    headers=admin)
        assert unknown.status_code == 404


async def test_a_held_subscription_cannot_be_deleted_to_subscribe_its_url_afresh(make_gateway):
    app = make_gateway(webhook_enabled=False)
    async with subscribed(app) as (client, receiver, department, key, sub):
        headers, admin = {"x-api-key": key}, _district_staff(app)
        held = await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/disable",
                                 json={"reason": "receiver under review"}, headers=admin)
        assert held.status_code == 200, held.text
        refused = await client.delete(f"/liaison/v1/webhooks/{sub['id']}", headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "district staff" in refused.json()["detail"] and "receiver under review" in refused.json()["detail"]
        # The held row stays, and keeps its URL from being subscribed again out of the hold.
        again = await client.post("/liaison/v1/webhooks", json={"url": receiver.url}, headers=headers)
        assert again.status_code == 409 and again.json()["field"] == "url"
        listed = (await client.get("/liaison/v1/webhooks", headers=headers)).json()["items"]
        assert [(s["id"], s["active"], s["disabled_by"]) for s in listed] == [(sub["id"], False, "district")]
        # Once district staff lift the hold, the department deletes it as any other.
        released = await client.post(f"/liaison/v1/admin/webhooks/{sub['id']}/enable", headers=admin)
        assert released.status_code == 200, released.text
        deleted = await client.delete(f"/liaison/v1/webhooks/{sub['id']}", headers=headers)
        assert deleted.status_code == 204, deleted.text
        assert (await client.get("/liaison/v1/webhooks", headers=headers)).json()["items"] == []
