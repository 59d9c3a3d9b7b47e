"""Gateway overhead: the same authenticated read through the gateway and straight from the service, same run.

Run: .venv/bin/python -m bench.gateway_overhead [--seconds 6] [--clients 32]
     .venv/bin/python -m bench.gateway_overhead --full   (longer runs)
Targets (issue 7): p50 overhead <= 3 ms (sequential requests); throughput through the gateway >= 60% of direct.

The registry and the gateway each run as their own uvicorn process (as deployed); the load comes from a small
keep-alive HTTP/1.1 client so the generator is not what is measured. The read is GET /api/v1/registry/units/{code}
with a bearer token: the gateway verifies the token, draws from its rate-limit buckets, and proxies it.
Requests/s and latencies count successful (200) responses only; failed requests are counted and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx

from bench.common import (ROOT, bench_infra, console, http_get, percentile, report_failures, spawn_uvicorn,
                          stop_processes, table, wait_ready)
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.settings import CommonSettings


async def load(port: int, path: str, token: str, clients: int, seconds: float) -> tuple[float, list[float], int]:
    """Runs `clients` keep-alive connections for `seconds`; returns (successful requests/s, latencies ms of the
    successful ones, failed requests)."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                status = await http_get(reader, writer, request)
                if status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.monotonic() - started), latencies, errors


async def main(args: argparse.Namespace) -> None:
    seconds = 20.0 if args.full else args.seconds
    async with bench_infra() as infra:
        logs = ROOT / ".data" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        registry_port, gateway_port = free_port(), free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "YOUMIN_LOG_LEVEL": "WARNING",
               "REGISTRY_SERVICE_DATABASE_URL": infra.database_url("registry"), "REGISTRY_PORT": str(registry_port),
               "GATEWAY_SERVICE_DATABASE_URL": infra.database_url("gateway"),
               "GATEWAY_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
               "GATEWAY_RATE_LIMIT_USER_CAPACITY": "1e12", "GATEWAY_RATE_LIMIT_IP_CAPACITY": "1e12",
               "GATEWAY_CONSUMERS_ENABLED": "false", "GATEWAY_WEBHOOK_ENABLED": "false"}
        procs = [spawn_uvicorn(["services.registry.app:create_app", "--factory", "--port", str(registry_port)], env, logs / "bench-registry.log"),
                 spawn_uvicorn(["gateway.app:create_app", "--factory", "--port", str(gateway_port)], env, logs / "bench-gateway.log")]
        try:
            with console.status("starting the registry and the gateway"):
                await wait_ready(f"http://127.0.0.1:{registry_port}/healthz", procs[0])
                await wait_ready(f"http://127.0.0.1:{gateway_port}/healthz", procs[1])
            token = mint_token(CommonSettings(), "bench", [Grant(role="admin", scope="370705")], minutes=60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{registry_port}",
                                         headers={"authorization": f"Bearer {token}"}) as client:
                for code, parent in (("370705", None), ("370705001", "370705")):
                    resp = await client.post("/api/v1/registry/units", json={"code": code, "parent_code": parent,
                                                                             "name": f"单元{code}"})
                    assert resp.status_code in (201, 409), resp.text
            path = "/api/v1/registry/units/370705001"
            results = {}
            failures: list[tuple[str, int, int]] = []
            for label, port in (("direct", registry_port), ("gateway", gateway_port)):
                with console.status(f"{label}: warming up, then sequential latency and {args.clients}-client throughput"):
                    await load(port, path, token, 4, 1.0)
                    _, sequential, errors_seq = await load(port, path, token, 1, seconds / 2)
                    rps, loaded, errors = await load(port, path, token, args.clients, seconds)
                results[label] = (sequential, rps, loaded, errors + errors_seq)
                failures += [(f"{label}, sequential", errors_seq, len(sequential) + errors_seq),
                             (f"{label}, {args.clients} clients", errors, len(loaded) + errors)]
        finally:
            stop_processes(procs)
    d_seq, d_rps, d_lat, d_err = results["direct"]
    g_seq, g_rps, g_lat, g_err = results["gateway"]
    rows = [
        ("direct (registry)", percentile(d_seq, 50), percentile(d_seq, 99), percentile(d_lat, 50), percentile(d_lat, 99),
         d_rps, d_err),
        ("through the gateway", percentile(g_seq, 50), percentile(g_seq, 99), percentile(g_lat, 50),
         percentile(g_lat, 99), g_rps, g_err),
    ]
    console.print(table(f"GET {path}: sequential latency (ms), and under {args.clients} clients (successful "
                        "responses only)",
                        ["path", "p50 seq", "p99 seq", f"p50 @{args.clients}", f"p99 @{args.clients}", "req/s", "errors"],
                        rows))
    overhead = percentile(g_seq, 50) - percentile(d_seq, 50)
    ratio = g_rps / d_rps if d_rps else float("nan")
    console.print(table("Gateway overhead against the targets", ["measure", "value", "target", "met"], [
        ("p50 overhead (ms, sequential)", overhead, "<= 3 ms", "yes" if overhead <= 3 else "NO"),
        ("throughput ratio gateway/direct", ratio, ">= 0.60", "yes" if ratio >= 0.6 else "NO"),
    ]))
    report_failures(failures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--full", action="store_true")
    asyncio.run(main(parser.parse_args()))
