"""The portal behind the real gateway on loopback ports, for headless Chromium.

Only the gateway and the disclosure service run here (the portal needs nothing else), with their own
consumer groups, so this never takes partitions from the e2e `stack` running in the same session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from gateway.app import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from services.disclosure.app import create_app as create_disclosure
from services.disclosure.leakcheck import PublicBodyRecorder
from services.disclosure.settings import Settings as DisclosureSettings
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.events import Envelope, Event
from youmin.testing import InProcessServer


@dataclass
class PortalStack:
    """The gateway URL, a token minter, a recorded gateway client and a producer of upstream events."""

    gateway_url: str
    settings: GatewaySettings
    disclosure_app: object
    producer: AIOKafkaProducer
    recorder: PublicBodyRecorder

    def token(self, role: str, scope: str) -> str:
        return mint_token(self.settings, f"browser-{uuid.uuid4().hex[:6]}", [Grant(role=role, scope=scope)])

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.gateway_url, headers=headers, timeout=30,
                                 event_hooks={"response": [self.recorder.hook]})

    async def send(self, event: Event) -> None:
        env = Envelope.of(event)
        await self.producer.send_and_wait(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers())


# Module scope: the portal's disclosure service shares the integration tests' database, so it must stop (and its
# consumer, which runs on real time, with it) before they run.
@pytest.fixture(scope="module")
async def portal_stack(infra) -> AsyncIterator[PortalStack]:
    disclosure_settings = DisclosureSettings(
        service_database_url=infra.database_url("disclosure"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", relay_poll_seconds=0.1, consumer_stall_seconds=30,
        consumer_group_suffix=f"-browser{uuid.uuid4().hex[:6]}", public_cache_seconds=0,
        public_rate_per_second=1000, public_rate_burst=1000, supervision_sweep_seconds=0,
    )
    disclosure_app = create_disclosure(disclosure_settings)
    disclosure = InProcessServer(disclosure_app, free_port())
    await disclosure.start()
    unreachable = f"http://127.0.0.1:{free_port()}"
    gateway_settings = GatewaySettings(
        service_database_url=infra.database_url("gateway"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", consumers_enabled=False, relay_enabled=False, disclosure_url=disclosure.url,
        registry_url=unreachable, matters_url=unreachable, mediation_url=unreachable,
    )
    gateway = InProcessServer(create_gateway(gateway_settings), free_port())
    await gateway.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        yield PortalStack(gateway_url=gateway.url, settings=gateway_settings, disclosure_app=disclosure_app,
                          producer=producer, recorder=PublicBodyRecorder())
    finally:
        await producer.stop()
        await gateway.stop()
        await disclosure.stop()
