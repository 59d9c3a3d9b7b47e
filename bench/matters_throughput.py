"""Matters through the gateway: matter creation and vote casting at 32 concurrent clients, beside a bare
FastAPI + asyncpg insert endpoint measured in the same run; and a 户决制 vote of 10,000 households tallied.

Run: .venv/bin/python -m bench.matters_throughput [--requests 3000] [--households 10000] [--full]
Targets (issue 4): >= 30% of the baseline's requests/s with p99 < 150 ms; the 10,000-household tally < 2 s.

The matters service, the gateway and the baseline each run as their own uvicorn process (as deployed); the
load comes from a small keep-alive HTTP/1.1 client so the generator is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
from rich.progress import Progress

from bench.common import bench_infra, console, http_get, http_request, percentile, spawn_uvicorn, stop_processes, table, wait_ready
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.relay import asyncpg_dsn
from youmin.kit.settings import CommonSettings

CLIENTS = 32

# A bare FastAPI endpoint that inserts one row with asyncpg: the raw cost of "an HTTP write".
BASELINE_APP = '''
import json, os, uuid
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_BASELINE_DSN"], min_size=10, max_size=20)
    await app.state.pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_baseline (id uuid PRIMARY KEY, title text, body jsonb, at timestamptz DEFAULT now())")
    yield
    await app.state.pool.close()

app = FastAPI(lifespan=lifespan)


@app.post("/insert", status_code=201)
async def insert(request: Request) -> dict:
    raw = await request.body()
    body = json.loads(raw)
    row_id = uuid.uuid4()
    await app.state.pool.execute("INSERT INTO bench_baseline (id, title, body) VALUES ($1, $2, $3::jsonb)",
                                 row_id, body.get("title", ""), raw.decode())
    return {"id": str(row_id)}


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
'''


async def load(name: str, port: int, total: int, make: Callable[[int], bytes],
               progress: Progress) -> tuple[float, list[float], int]:
    """Sends `total` requests over CLIENTS keep-alive connections; returns (requests/s, latencies ms, errors)."""
    task = progress.add_task(name, total=total)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client_loop() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                request = make(i)
                started = time.perf_counter()
                status = await http_get(reader, writer, request)
                latencies.append((time.perf_counter() - started) * 1000)
                if status >= 300:
                    errors += 1
                progress.advance(task)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*[client_loop() for _ in range(CLIENTS)])
    elapsed = time.perf_counter() - started
    return total / elapsed, latencies, errors


def post(path: str, token: str, body: dict) -> bytes:
    return http_request("POST", path, {"Authorization": f"Bearer {token}"}, json.dumps(body, ensure_ascii=False).encode())


async def seed_households(dsn: str, community: str, count: int) -> list[tuple[str, str]]:
    """Writes `count` households (one adult representative each) straight into the replica tables."""
    rows = []
    for n in range(count):
        code = f"{community}{n // 2000 + 1:03d}{(n // 200) % 10 + 1:03d}{(n // 20) % 10 + 1:02d}{n % 20 + 1:04d}"
        rows.append((code, str(uuid.uuid4())))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany("INSERT INTO replica_resident (person_id, household_code, adult) VALUES ($1::uuid, $2, true)",
                               [(p, c) for c, p in rows])
        await conn.executemany("INSERT INTO replica_household (household_code, representative_person_id) VALUES ($1, $2::uuid)",
                               rows)
    finally:
        await conn.close()
    return rows


async def main(requests: int, households: int) -> None:
    settings = CommonSettings()
    async with bench_infra() as infra:
        matters_url = infra.database_url("matters")
        logs = Path(tempfile.mkdtemp(prefix="bench-matters-"))
        ports = {name: free_port() for name in ("matters", "gateway", "baseline")}
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "YOUMIN_ENVIRONMENT": "test",
               "YOUMIN_LOG_LEVEL": "WARNING"}
        unreachable = f"http://127.0.0.1:{free_port()}"
        matters_env = {**env, "MATTERS_SERVICE_DATABASE_URL": matters_url, "MATTERS_SWEEP_ENABLED": "false"}
        gateway_env = {**env, "GATEWAY_SERVICE_DATABASE_URL": infra.database_url("gateway"),
                       "GATEWAY_MATTERS_URL": f"http://127.0.0.1:{ports['matters']}",
                       "GATEWAY_REGISTRY_URL": unreachable, "GATEWAY_MEDIATION_URL": unreachable,
                       "GATEWAY_DISCLOSURE_URL": unreachable, "GATEWAY_RATE_LIMIT_ENABLED": "false",
                       "GATEWAY_CONSUMERS_ENABLED": "false", "GATEWAY_WEBHOOK_ENABLED": "false"}
        baseline_dir = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
        (baseline_dir / "bench_insert_app.py").write_text(BASELINE_APP)
        procs = []
        try:
            with console.status("starting the matters service, the gateway and the bare FastAPI baseline"):
                procs.append(spawn_uvicorn(["services.matters.app:create_app", "--factory", "--port",
                                            str(ports["matters"])], matters_env, logs / "matters.log"))
                procs.append(spawn_uvicorn(["gateway.app:create_app", "--factory", "--port", str(ports["gateway"])],
                                           gateway_env, logs / "gateway.log"))
                procs.append(spawn_uvicorn(["bench_insert_app:app", "--app-dir", str(baseline_dir), "--port",
                                            str(ports["baseline"])],
                                           {**env, "BENCH_BASELINE_DSN": asyncpg_dsn(matters_url)}, logs / "baseline.log"))
                await wait_ready(f"http://127.0.0.1:{ports['matters']}/readyz", procs[0])
                await wait_ready(f"http://127.0.0.1:{ports['gateway']}/healthz", procs[1])
                await wait_ready(f"http://127.0.0.1:{ports['baseline']}/healthz", procs[2])
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            community = f"370705{random.randrange(10**6):06d}"
            staff = mint_token(settings, "bench-staff", [Grant(role="community_staff", scope=community)], minutes=120)
            with Progress(console=console, transient=True) as progress:
                # Warm-up: connections, prepared statements and caches on both sides.
                await load("warm-up", ports["baseline"], 200, lambda i: post("/insert", staff, {"title": f"预热{i}"}), progress)
                await load("warm-up", ports["gateway"], 200, lambda i: post("/api/v1/matters/", staff, {
                    "title": f"预热事项{i}", "description": "预热", "category": "city_management",
                    "unit_code": community}), progress)
                rps_base, lat_base, err_base = await load(
                    "baseline insert", ports["baseline"], requests,
                    lambda i: post("/insert", staff, {"title": f"路灯{i}"}), progress)
                rps_create, lat_create, err_create = await load(
                    "matter creation", ports["gateway"], requests, lambda i: post("/api/v1/matters/", staff, {
                        "title": f"三号楼路灯不亮{i}", "description": "夜间出行不便", "category": "city_management",
                        "unit_code": community}), progress)

                # A vote whose electorate is `requests` adults; each request is one voter's ballot.
                vote_community = f"370705{random.randrange(10**6):06d}"
                voters = await seed_households(asyncpg_dsn(matters_url), vote_community, requests)
                vote_staff = {"authorization": "Bearer " + mint_token(
                    settings, "bench-staff", [Grant(role="community_staff", scope=vote_community)], minutes=120)}
                async with httpx.AsyncClient(base_url=gateway, headers=vote_staff, timeout=60) as client:
                    matter = (await client.post("/api/v1/matters/", json={
                        "title": "更换大门", "description": "x", "category": "property_management",
                        "unit_code": vote_community})).json()
                    for action in ("accept", "route"):
                        await client.post(f"/api/v1/matters/{matter['matter_id']}/transitions", json={"action": action})
                    vote = (await client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={})).json()
                tokens = [mint_token(settings, person, [Grant(role="resident", scope=code)], minutes=120)
                          for code, person in voters]
                rps_vote, lat_vote, err_vote = await load(
                    "vote casting", ports["gateway"], requests,
                    lambda i: post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", tokens[i],
                                   {"choice": "for" if i % 3 else "against"}), progress)

            # 户决制 at scale: 10,000 households, electorate frozen at opening, ballots in, then the tally.
            tally_community = f"370705{random.randrange(10**6):06d}"
            with console.status(f"seeding {households:,} households"):
                homes = await seed_households(asyncpg_dsn(matters_url), tally_community, households)
            tally_staff = {"authorization": "Bearer " + mint_token(
                settings, "bench-staff", [Grant(role="community_staff", scope=tally_community)], minutes=120)}
            async with httpx.AsyncClient(base_url=gateway, headers=tally_staff, timeout=120) as client:
                await client.put(f"/api/v1/matters/templates/communities/{tally_community}",
                                 json={"template_code": "nanhu-household-decision"})
                matter = (await client.post("/api/v1/matters/", json={
                    "title": "加装电梯", "description": "x", "category": "old_estate_renovation",
                    "unit_code": tally_community})).json()
                for action in ("accept", "route"):
                    await client.post(f"/api/v1/matters/{matter['matter_id']}/transitions", json={"action": action})
                started = time.perf_counter()
                big_vote = (await client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={"secret": True})).json()
                freeze_ms = (time.perf_counter() - started) * 1000
                with console.status(f"casting {households:,} household ballots"):
                    conn = await asyncpg.connect(asyncpg_dsn(matters_url))
                    try:
                        present = [h for i, h in enumerate(homes) if i % 10 != 0]
                        await conn.copy_records_to_table("ballot", records=[
                            (uuid.UUID(big_vote["vote_id"]), code, person, "online", None, None, datetime_now())
                            for code, person in present], columns=["vote_id", "voter_key", "cast_by", "via", "choice",
                                                                   "receipt_digest", "cast_at"])
                        await conn.copy_records_to_table("ballot_receipt", records=[
                            (uuid.uuid4().hex, uuid.UUID(big_vote["vote_id"]), None)
                            for _ in range(len(present))], columns=["receipt_digest", "vote_id", "choice"])
                        against = len(present) // 4
                        await conn.execute(
                            "INSERT INTO vote_online_count (vote_id, votes_for, votes_against) VALUES ($1, $2, $3)",
                            uuid.UUID(big_vote["vote_id"]), len(present) - against, against)
                    finally:
                        await conn.close()
                started = time.perf_counter()
                result = (await client.post(f"/api/v1/matters/votes/{big_vote['vote_id']}/close")).json()
                tally_ms = (time.perf_counter() - started) * 1000
        finally:
            stop_processes(procs)

    def row(name: str, rps: float, lat: list[float], errors: int, target: str) -> list[object]:
        return [name, rps, percentile(lat, 50), percentile(lat, 99), f"{rps / rps_base:.0%}", errors, target]

    console.print(table(f"Matters at {CLIENTS} concurrent clients, {requests:,} requests each", [
        "endpoint", "req/s", "p50 ms", "p99 ms", "of baseline", "errors", "target"], [
        row("bare FastAPI + asyncpg insert (baseline)", rps_base, lat_base, err_base, ""),
        row("matter creation via gateway", rps_create, lat_create, err_create, ">= 30%, p99 < 150 ms"),
        row("vote casting via gateway", rps_vote, lat_vote, err_vote, ">= 30%, p99 < 150 ms"),
    ]))
    console.print(table(f"户决制 vote of {households:,} households", ["step", "ms", "result", "target"], [
        ["open: freeze the electorate", freeze_ms, f"base {big_vote['base_size']:,}", ""],
        ["close: tally and decide", tally_ms,
         f"present {result['present']:,}, for {result['votes_for']:,}, passed {result['passed']}", "< 2,000 ms"],
    ]))
    console.print(f"logs: {logs}")


def datetime_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per measured endpoint")
    parser.add_argument("--households", type=int, default=10_000, help="households in the 户决制 tally")
    parser.add_argument("--full", action="store_true", help="the issue's full size: 5,000 requests per endpoint")
    args = parser.parse_args()
    asyncio.run(main(5000 if args.full else args.requests, args.households))
