"""Public disclosure API: item listing through the gateway beside a bare FastAPI JSON endpoint, and
decision-to-visible latency while matters are decided at a steady rate.

Run: .venv/bin/python -m bench.disclosure_public [--seconds 8] [--clients 64] [--rate 200] [--decide-seconds 10]
     .venv/bin/python -m bench.disclosure_public --full   (longer runs)
Targets (issue 6): listing >= 40% of the bare FastAPI requests/s at 64 clients; decision -> visible p99 < 1 s
at 200 decisions/s.

The disclosure service, the gateway and the baseline each run as their own uvicorn process (as deployed);
the load comes from a small keep-alive HTTP/1.1 client so the generator is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from rich.progress import Progress

from bench.common import bench_infra, console, http_get, percentile, spawn_uvicorn, stop_processes, table, wait_ready
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.events import Envelope
from youmin.kit.settings import CommonSettings

BASELINE_APP = '''
from fastapi import FastAPI
app = FastAPI()
PAYLOAD = {"items": [{"id": i, "title": "通知", "kind": "residents"} for i in range(20)], "next_cursor": None}

@app.get("/json")
async def json_endpoint():
    return PAYLOAD
'''


async def load(port: int, path: str, clients: int, seconds: float) -> tuple[float, list[float], int]:
    """Runs `clients` keep-alive connections for `seconds`; returns (requests/s, latencies ms, errors)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
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
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.monotonic() - started), latencies, errors


async def decision_to_visible(gateway: str, bootstrap: str, street: str, rate: float, seconds: float,
                              progress: Progress) -> tuple[list[float], int, float]:
    """Produces decided events at `rate`/s and polls the public listing; returns (latencies ms, unseen, achieved rate)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    total = int(rate * seconds)
    task = progress.add_task(f"deciding {total} matters at {rate:g}/s", total=total)
    done = asyncio.Event()

    async def decide() -> float:
        from services.matters.events import MatterDecided

        started = time.monotonic()
        pending = []
        for n in range(total):
            due = started + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            community = f"{street}{100 + n % 50:03d}"
            matter_id = uuid.uuid4()
            event = MatterDecided(
                matter_id=matter_id, community_code=community, unit_code=community, category="facilities",
                channel="residents_meeting", public_title=f"基准事项{n}", rule_version="urco-2018", quorum_met=True,
                passed=True, base_size=100, present=60, votes_for=40, votes_against=10, abstain=10,
                decided_at=datetime.now(UTC))
            env = Envelope.of(event)
            sent[str(matter_id)] = time.perf_counter()
            pending.append(await producer.send(env.topic, value=env.value(), key=env.key.encode(), headers=env.headers()))
            progress.advance(task)
        await asyncio.gather(*pending)
        return total / (time.monotonic() - started)

    async def watch() -> None:
        async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
            while not done.is_set() or len(seen) < len(sent):
                resp = await client.get("/public/v1/items", params={"unit": street, "category": "matter_decision",
                                                                    "limit": 200})
                now = time.perf_counter()
                for item in resp.json()["items"]:
                    matter = item["matter_id"]
                    if matter in sent and matter not in seen:
                        seen[matter] = now
                if done.is_set() and time.monotonic() > deadline:
                    return
                await asyncio.sleep(0.02)

    deadline = float("inf")
    watcher = asyncio.create_task(watch())
    achieved = await decide()
    done.set()
    deadline = time.monotonic() + 30
    await watcher
    await producer.stop()
    latencies = [(seen[m] - sent[m]) * 1000 for m in seen]
    return latencies, len(sent) - len(seen), achieved


async def main(args: argparse.Namespace) -> None:
    async with bench_infra() as infra:
        logs = Path(tempfile.mkdtemp(prefix="bench-disclosure-"))
        ports = {name: free_port() for name in ("disclosure", "gateway", "baseline")}
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "YOUMIN_ENVIRONMENT": "test",
               "YOUMIN_LOG_LEVEL": "WARNING"}
        disclosure_env = {**env, "DISCLOSURE_SERVICE_DATABASE_URL": infra.database_url("disclosure"),
                          "DISCLOSURE_PUBLIC_RATE_PER_SECOND": "1000000", "DISCLOSURE_PUBLIC_RATE_BURST": "1000000",
                          "DISCLOSURE_RELAY_POLL_SECONDS": "0.1"}
        unreachable = f"http://127.0.0.1:{free_port()}"
        gateway_env = {**env, "GATEWAY_SERVICE_DATABASE_URL": infra.database_url("gateway"),
                       "GATEWAY_DISCLOSURE_URL": f"http://127.0.0.1:{ports['disclosure']}",
                       "GATEWAY_REGISTRY_URL": unreachable, "GATEWAY_MATTERS_URL": unreachable,
                       "GATEWAY_MEDIATION_URL": unreachable, "GATEWAY_RATE_LIMIT_ENABLED": "false",
                       "GATEWAY_CONSUMERS_ENABLED": "false"}
        baseline_dir = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
        (baseline_dir / "bench_baseline_app.py").write_text(BASELINE_APP)
        procs = []
        try:
            with console.status("starting the disclosure service, the gateway and the bare FastAPI baseline"):
                procs.append(spawn_uvicorn(["services.disclosure.app:create_app", "--factory", "--port",
                                    str(ports["disclosure"])], disclosure_env, logs / "disclosure.log"))
                procs.append(spawn_uvicorn(["gateway.app:create_app", "--factory", "--port", str(ports["gateway"])],
                                   gateway_env, logs / "gateway.log"))
                procs.append(spawn_uvicorn(["bench_baseline_app:app", "--app-dir", str(baseline_dir), "--port",
                                    str(ports["baseline"])], env, logs / "baseline.log"))
                await wait_ready(f"http://127.0.0.1:{ports['disclosure']}/readyz", procs[0])
                await wait_ready(f"http://127.0.0.1:{ports['gateway']}/healthz", procs[1])
                await wait_ready(f"http://127.0.0.1:{ports['baseline']}/json", procs[2])
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            street = "370705099"
            community = street + "001"
            token = mint_token(CommonSettings(), "bench", [Grant(role="street_staff", scope=street)])
            with console.status(f"posting {args.items} items to community {community}"):
                async with httpx.AsyncClient(base_url=gateway, headers={"authorization": f"Bearer {token}"},
                                             timeout=30) as staff:
                    for n in range(args.items):
                        resp = await staff.post("/api/v1/disclosure/items", json={
                            "unit_code": community, "kind": ("party", "residents", "finance")[n % 3],
                            "category": "notice", "title": f"公开事项{n}", "body": "内容" * 50})
                        resp.raise_for_status()
            path = f"/public/v1/items?unit={community}&limit=20"
            with console.status("warming up"):
                await load(ports["gateway"], path, 8, 1)
                await load(ports["baseline"], "/json", 8, 1)
            with console.status(f"bare FastAPI JSON endpoint: {args.clients} clients for {args.seconds:g}s"):
                base_rps, base_lat, base_err = await load(ports["baseline"], "/json", args.clients, args.seconds)
            with console.status(f"/public/v1 listing through the gateway: {args.clients} clients for {args.seconds:g}s"):
                rps, lat, err = await load(ports["gateway"], path, args.clients, args.seconds)
            with console.status("/public/v1 listing on the disclosure service itself (no gateway), for reference"):
                direct_rps, direct_lat, direct_err = await load(ports["disclosure"], path, args.clients, args.seconds)
            with Progress(console=console, transient=True) as progress:
                visible, unseen, achieved = await decision_to_visible(gateway, infra.bootstrap, "370705098",
                                                                      args.rate, args.decide_seconds, progress)
        finally:
            stop_processes(procs)

    console.print(table(
        f"/public/v1 item listing, one community ({args.items} items, page of 20), {args.clients} clients",
        ["endpoint", "requests/s", "p50 ms", "p99 ms", "errors"],
        [["bare FastAPI JSON (baseline)", base_rps, percentile(base_lat, 50), percentile(base_lat, 99), base_err],
         ["gateway → /public/v1/items", rps, percentile(lat, 50), percentile(lat, 99), err],
         ["(reference) service direct /public/v1/items", direct_rps, percentile(direct_lat, 50),
          percentile(direct_lat, 99), direct_err],
         ["ratio (target ≥ 40%)", f"{rps / base_rps:.0%}", "", "", ""]]))
    console.print(table(
        f"decision → visible on /public/v1 at {achieved:,.0f} decisions/s for {args.decide_seconds:g}s",
        ["measure", "value"],
        [["matters decided", len(visible) + unseen], ["seen on /public/v1", len(visible)], ["never seen (30 s)", unseen],
         ["p50 ms", percentile(visible, 50)], ["p99 ms (target < 1000)", percentile(visible, 99)],
         ["max ms", max(visible) if visible else float("nan")]]))
    console.print(f"logs: {logs}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per throughput run")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--items", type=int, default=60, help="items in the measured community")
    parser.add_argument("--rate", type=float, default=200.0, help="matters decided per second")
    parser.add_argument("--decide-seconds", type=float, default=10.0)
    parser.add_argument("--full", action="store_true", help="longer runs (30 s each, 60 s of decisions)")
    args = parser.parse_args()
    if args.full:
        args.seconds, args.decide_seconds = 30.0, 60.0
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
