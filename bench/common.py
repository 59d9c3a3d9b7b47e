"""What every benchmark shares: its own PostgreSQL and broker (or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS),
percentiles, and the result table."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from youmin.infra import EmbeddedPostgres, TansuBroker, free_port
from youmin.kit.migrate import drop_database
from youmin.kit.settings import service_database_url

ROOT = Path(__file__).resolve().parents[1]
console = Console()


@dataclass
class BenchInfra:
    """The benchmark's PostgreSQL server URL, broker and a database suffix of its own."""

    server_url: str
    bootstrap: str
    suffix: str

    def database_url(self, service: str) -> str:
        """Returns the async URL of a service's benchmark database."""
        return service_database_url(self.server_url, service, self.suffix)


@asynccontextmanager
async def bench_infra(*, migrate: bool = True) -> AsyncIterator[BenchInfra]:
    """Starts (or reuses) PostgreSQL and the broker, migrates fresh databases, and cleans up afterwards."""
    from youmin.stack import prepare

    pg = broker = None
    server_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with console.status("starting PostgreSQL and the broker"):
        if not server_url:
            pg = EmbeddedPostgres(ROOT / ".data" / "bench-postgres", port=free_port())
            pg.start()
            server_url = pg.url
        if not bootstrap:
            broker = TansuBroker(port=free_port())
            broker.start()
            bootstrap = broker.bootstrap
    infra = BenchInfra(server_url, bootstrap, f"_bench{uuid.uuid4().hex[:6]}")
    try:
        if migrate:
            with console.status("migrating the benchmark databases"):
                await prepare(server_url, bootstrap, suffix=infra.suffix)
        yield infra
    finally:
        if migrate:
            from youmin.stack import MIGRATED

            for name in MIGRATED:
                await drop_database(infra.database_url(name))
        if broker:
            broker.stop()
        if pg:
            pg.stop()


def percentile(values: Sequence[float], p: float) -> float:
    """Returns the p-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    """Returns the median."""
    return statistics.median(values) if values else float("nan")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """Builds a result table."""
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, justify="right" if c != columns[0] else "left")
    for row in rows:
        t.add_row(*[f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row])
    return t


def report_failures(runs: Sequence[tuple[str, int, int]]) -> bool:
    """Says loudly which measured runs had failed requests, given (run, failed, sent) for each; their requests/s and
    latencies count the successful responses only. Returns whether any failed."""
    failed = [(name, errors, sent) for name, errors, sent in runs if errors]
    for name, errors, sent in failed:
        console.print(f"[bold red]{name}: {errors:,} of {sent:,} requests failed; its requests/s and latencies count "
                      f"only the {sent - errors:,} that succeeded[/]")
    return bool(failed)


def spawn_uvicorn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Starts an app under uvicorn in its own process (args: the app and its uvicorn options)."""
    return subprocess.Popen([sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--no-access-log",
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """Stops spawned servers: asks each to terminate, then kills one that has not exited within 10 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Waits until a URL answers without a server error."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited with {proc.returncode}")
            try:
                if (await client.get(url, timeout=2)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


def http_request(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """Builds the bytes of one keep-alive HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: application/json",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Sends one keep-alive request (a GET, or any request from http_request) and reads the whole answer;
    returns the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = next((int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"), 0)
    if length:
        await reader.readexactly(length)
    return status
