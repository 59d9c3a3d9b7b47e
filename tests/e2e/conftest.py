"""The whole stack in-process: the four services and the gateway on loopback ports, over the test run's
PostgreSQL and broker. Tests talk to the gateway over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.settings import SERVICES, CommonSettings
from youmin.testing import InProcessServer


@dataclass
class Stack:
    """The running stack: the gateway's URL, each service's URL, and a token minter."""

    gateway_url: str
    service_urls: dict[str, str]
    settings: CommonSettings
    gateway_app: Any = None  # the in-process gateway (its SMS sender holds the codes sent)

    def token(self, role: str, scope: str, sub: str = "e2e-user", **kw) -> str:
        """Mints an access token for a role at a scope."""
        return mint_token(self.settings, sub, [Grant(role=role, scope=scope)], **kw)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """Returns a client of the gateway, authenticated when a token is given."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.gateway_url, headers=headers, timeout=30)


def service_settings(name: str, infra, **overrides):
    """Builds a service's settings against the test run's database and broker."""
    import importlib

    module = importlib.import_module(f"services.{name}.settings")
    return module.Settings(
        service_database_url=infra.database_url(name),
        kafka_bootstrap_servers=infra.bootstrap,
        environment="test",
        relay_poll_seconds=0.1,
        consumer_stall_seconds=30,
        **overrides,
    )


@pytest.fixture(scope="package")
async def stack(infra) -> AsyncIterator[Stack]:
    """The running stack, for the end-to-end tests only: it stops when they are done, so its consumers
    and transactions never mix with the integration tests that follow."""
    import importlib

    servers: list[InProcessServer] = []
    urls = {}
    try:
        for name in SERVICES:
            module = importlib.import_module(f"services.{name}.app")
            server = InProcessServer(module.create_app(service_settings(name, infra)), free_port())
            await server.start()
            servers.append(server)
            urls[name] = server.url
        gateway_settings = GatewaySettings(
            service_database_url=infra.database_url("gateway"), kafka_bootstrap_servers=infra.bootstrap,
            environment="test", **{f"{name}_url": url for name, url in urls.items()},
            # Every test shares one client address; per-IP limits are tested on their own gateway.
            rate_limit_ip_capacity=100_000, rate_limit_ip_per_second=10_000, otp_requests_per_address_hour=100_000,
        )
        gateway_app = create_gateway(gateway_settings)
        gateway = InProcessServer(gateway_app, free_port())
        await gateway.start()
        servers.append(gateway)
        yield Stack(gateway_url=gateway.url, service_urls=urls, settings=gateway_settings, gateway_app=gateway_app)
    finally:
        for server in reversed(servers):
            await server.stop()
