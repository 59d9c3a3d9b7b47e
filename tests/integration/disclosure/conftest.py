"""The disclosure service in-process against the run's PostgreSQL and broker, a producer of upstream
events, and a client that records every public body for the redaction scan."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from disclosure_helpers import PLANTED_NAMES

from services.disclosure.app import create_app
from services.disclosure.leakcheck import PublicBodyRecorder
from services.disclosure.settings import Settings
from youmin.kit.auth import Grant, mint_token
from youmin.kit.events import Envelope, Event



@dataclass
class Disclosure:
    """The running service: its app, a recorded client, and helpers for tokens and events."""

    app: Any
    client: httpx.AsyncClient
    recorder: PublicBodyRecorder
    producer: AIOKafkaProducer
    settings: Settings

    def token(self, role: str, scope: str, sub: str | None = None) -> dict[str, str]:
        """Returns authorization headers for a role at a scope."""
        token = mint_token(self.settings, sub or f"user-{uuid.uuid4().hex[:8]}", [Grant(role=role, scope=scope)])
        return {"authorization": f"Bearer {token}"}

    async def send(self, event: Event | tuple[str, str, str, dict[str, Any]], *, time: datetime | None = None) -> Envelope:
        """Produces an upstream event in CloudEvents binary mode (a model, or (type, topic, key, data)), stamped with
        `time` (else now) as an outbox stamps it."""
        if isinstance(event, Event):
            env = Envelope.of(event)
            if time is not None:
                env = dataclasses.replace(env, time=time)
        else:
            type_, topic, key, data = event
            env = Envelope(id=str(uuid.uuid4()), source=f"/youmin/{type_.split('.')[2]}", type=type_, topic=topic,
                           key=key, time=datetime.now(UTC), subject=key, dataschema=None, data=data)
        await self.producer.send_and_wait(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers())
        return env

    @property
    def clock(self):
        return self.app.state.clock


@pytest.fixture(scope="session")
async def disclosure(infra) -> AsyncIterator[Disclosure]:
    settings = Settings(
        service_database_url=infra.database_url("disclosure"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", relay_poll_seconds=0.1, consumer_stall_seconds=30,
        consumer_group_suffix=f"-it{uuid.uuid4().hex[:6]}", public_cache_seconds=0,
        public_rate_per_second=10_000, public_rate_burst=10_000, supervision_sweep_seconds=0,
    )
    app = create_app(settings)
    recorder = PublicBodyRecorder()
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://disclosure.test",
                                         event_hooks={"response": [recorder.hook]}) as client:
                yield Disclosure(app=app, client=client, recorder=recorder, producer=producer, settings=settings)
    finally:
        await producer.stop()


@pytest.fixture(autouse=True)
def _no_personal_data_in_public_bodies(request):
    """After every test of this folder, scans the public bodies it received for personal data."""
    if "disclosure" not in request.fixturenames:
        yield
        return
    recorder: PublicBodyRecorder = request.getfixturevalue("disclosure").recorder
    start = len(recorder.bodies)
    yield
    leaks = recorder.leaks(PLANTED_NAMES, since=start)
    assert not leaks, f"personal data in public responses: {leaks[:5]}"


@pytest.fixture
def clock(disclosure):
    """The service clock; released after the test."""
    yield disclosure.clock
    disclosure.clock.set(None)
