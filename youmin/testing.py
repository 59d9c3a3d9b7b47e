"""Test and benchmark support: a cuttable TCP proxy, in-process apps, polling with a deadline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI


class TcpProxy:
    """Forwards a local port to an upstream one in its own thread; `cut()` simulates a network outage.

    Cutting closes every open connection and refuses new ones, so the upstream (the broker) keeps its
    state as a real cluster would while clients see it vanish.
    """

    def __init__(self, upstream_port: int, listen_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.listen_port = listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._open = True

    def start(self) -> None:
        """Starts listening."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.listen_port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Drops every connection and refuses new ones."""

        def _cut() -> None:
            self._open = False
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(_cut)

    def restore(self) -> None:
        """Accepts connections again."""
        self._loop.call_soon_threadsafe(setattr, self, "_open", True)

    def stop(self) -> None:
        """Stops the proxy thread."""
        async def _stop() -> None:
            if self._server:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            # Connections still being piped end here, not as tasks destroyed pending when the loop goes.
            piping = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in piping:
                task.cancel()
            await asyncio.gather(*piping, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Runs an app's lifespan and yields an in-process client for it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Polls an async check until it returns a truthy value; fails with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class InProcessServer:
    """Serves an app with uvicorn on a loopback port inside the current event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Starts serving and waits until the server is up."""
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url} did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Shuts the server down gracefully (lifespan shutdown included)."""
        self.server.should_exit = True
        if self.task:
            await asyncio.wait_for(self.task, 30)


async def create_messaging_tables(url: str) -> None:
    """Creates the outbox and inbox tables (youmin.kit.outbox) in the database at `url`, for tests and benchmarks of
    the event backbone that run without a service's migrations."""
    from sqlalchemy import MetaData

    from youmin.kit.db import NAMING_CONVENTION, make_engine
    from youmin.kit.outbox import messaging_tables

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    messaging_tables(metadata)
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
