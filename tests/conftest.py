"""Shared fixtures: one real PostgreSQL and one real Kafka-protocol broker (behind a cuttable proxy) per run.

Nothing is started unless a test asks for it, so `pytest tests/unit` needs neither.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.disclosure.leakcheck import PublicBodyRecorder
from youmin.infra import EmbeddedPostgres, TansuBroker, free_port, wait_for_port
from youmin.kit.migrate import drop_database
from youmin.kit.settings import SERVICES, service_database_url
from youmin.testing import TcpProxy

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Infra:
    """Where the test run's PostgreSQL server and broker are."""

    server_url: str
    bootstrap: str
    proxy: TcpProxy
    broker: TansuBroker
    suffix: str

    def database_url(self, service: str) -> str:
        """Returns the async URL of a service's test database."""
        return service_database_url(self.server_url, service, self.suffix)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """DATABASE_URL if set, else an embedded PostgreSQL of this run's own under .data/."""
    (ROOT / ".data").mkdir(exist_ok=True)
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    # A data directory per run, so that concurrent runs on one machine never share a server.
    data_dir = Path(tempfile.mkdtemp(prefix="test-postgres-", dir=ROOT / ".data"))
    pg = EmbeddedPostgres(data_dir / "pg", port=free_port())
    pg.start()
    try:
        yield pg.url
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def broker_and_proxy() -> Iterator[tuple[TansuBroker, TcpProxy]]:
    """KAFKA_BOOTSTRAP_SERVERS is not used here: tests need to cut the network, so they own a Tansu broker."""
    proxy_port, broker_port = free_port(), free_port()
    log = ROOT / ".data" / f"test-tansu-{os.getpid()}.log"
    log.parent.mkdir(exist_ok=True)
    broker = TansuBroker(port=broker_port, advertised_port=proxy_port, log_path=log)
    broker.start()
    proxy = TcpProxy(broker_port, proxy_port)
    proxy.start()
    wait_for_port(proxy_port)
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


@pytest.fixture(scope="session")
async def infra(postgres_server_url: str, broker_and_proxy: tuple[TansuBroker, TcpProxy]) -> AsyncIterator[Infra]:
    """Migrated databases for every service (suffixed per run) and the topics."""
    from youmin.stack import prepare

    broker, proxy = broker_and_proxy
    suffix = f"_t{uuid.uuid4().hex[:8]}"
    bootstrap = f"127.0.0.1:{proxy.listen_port}"
    await prepare(postgres_server_url, bootstrap, suffix=suffix)
    infra = Infra(server_url=postgres_server_url, bootstrap=bootstrap, proxy=proxy, broker=broker, suffix=suffix)
    try:
        yield infra
    finally:
        proxy.restore()
        for name in (*SERVICES, "gateway"):
            await drop_database(infra.database_url(name))


@pytest.fixture
def restore_network(infra: Infra) -> Iterator[None]:
    """Makes sure a test that cuts the broker's network gives it back."""
    yield
    infra.proxy.restore()


# --- the redaction scan over every public response of the run ----------------------------------------

PUBLIC_BODIES = PublicBodyRecorder()


@pytest.fixture(scope="session", autouse=True)
def record_public_responses() -> Iterator[PublicBodyRecorder]:
    """Records the body of every public response (portal, /public/v1) any httpx client in the run receives."""
    original = httpx.AsyncClient.__init__

    def init(self: httpx.AsyncClient, *args: object, **kwargs: object) -> None:
        hooks = dict(kwargs.get("event_hooks") or {})  # type: ignore[arg-type]
        hooks["response"] = [*hooks.get("response", []), PUBLIC_BODIES.hook]
        kwargs["event_hooks"] = hooks
        original(self, *args, **kwargs)

    httpx.AsyncClient.__init__ = init  # type: ignore[method-assign]
    try:
        yield PUBLIC_BODIES
    finally:
        httpx.AsyncClient.__init__ = original  # type: ignore[method-assign]
