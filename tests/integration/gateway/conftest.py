"""The gateway in-process against the run's PostgreSQL and broker (services unreachable unless a test starts one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.app import create_app
from gateway.settings import Settings
from youmin.infra import free_port


def gateway_settings(infra, **overrides) -> Settings:
    """Builds gateway settings over the test run's database and broker; services point at closed ports."""
    closed = f"http://127.0.0.1:{free_port()}"
    values = dict(
        service_database_url=infra.database_url("gateway"), kafka_bootstrap_servers=infra.bootstrap,
        environment="test", registry_url=closed, matters_url=closed, mediation_url=closed, disclosure_url=closed,
        consumer_stall_seconds=30, webhook_backoff_base_seconds=0.01, webhook_poll_seconds=0.05,
        consumers_enabled=False,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def gateway_app(infra) -> AsyncIterator:
    """A gateway app with its lifespan running (no consumers; the webhook worker runs)."""
    from youmin.testing import running

    app = create_app(gateway_settings(infra))
    async with running(app) as client:
        app.state.test_client = client
        yield app


@pytest.fixture
def make_gateway(infra):
    """Builds a gateway app with overridden settings (the test runs its lifespan)."""
    return lambda **overrides: create_app(gateway_settings(infra, **overrides))
