"""Matters through the gateway: matter creation and vote casting at 32 concurrent clients, beside a bare
FastAPI + asyncpg insert endpoint measured in the same run; and a 户决制 vote of 10,000 households tallied.

Run: .venv/bin/python -m bench.matters_throughput [--requests 1500] [--households 10000] [--full]
Targets (issue 4): >= 30% of the baseline's requests/s with p99 < 150 ms; the 10,000-household tally < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from fastapi import FastAPI, Request
from rich.progress import Progress

from bench.common import bench_infra, console, percentile, table
from youmin.infra import free_port
from youmin.kit.auth import Grant, mint_token
from youmin.kit.relay import asyncpg_dsn
from youmin.testing import InProcessServer

CLIENTS = 32


def baseline_app(dsn: str) -> FastAPI:
    """A bare FastAPI endpoint that inserts one row with asyncpg: the raw cost of 'an HTTP write'."""
    app = FastAPI()

    @app.on_event("startup")
    async def _start() -> None:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        await app.state.pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline (id uuid PRIMARY KEY, title text, body jsonb, at timestamptz DEFAULT now())")

    @app.on_event("shutdown")
    async def _stop() -> None:
        await app.state.pool.close()

    @app.post("/insert", status_code=201)
    async def insert(request: Request) -> dict:
        raw = await request.body()
        body = json.loads(raw)
        row_id = uuid.uuid4()
        await app.state.pool.execute("INSERT INTO bench_baseline (id, title, body) VALUES ($1, $2, $3::jsonb)",
                                     row_id, body.get("title", ""), raw.decode())
        return {"id": str(row_id)}

    return app


async def load(name: str, total: int, make: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
               base_url: str, progress: Progress) -> tuple[float, list[float], int]:
    """Runs `total` requests from CLIENTS concurrent clients; returns (requests/s, latencies ms, errors)."""
    task = progress.add_task(name, total=total)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client_loop() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            for i in counter:
                started = time.perf_counter()
                resp = await make(client, i)
                latencies.append((time.perf_counter() - started) * 1000)
                if resp.status_code >= 300:
                    errors += 1
                    if errors <= 3:
                        console.print(f"[red]{name}: {resp.status_code} {resp.text[:200]}")
                progress.advance(task)

    started = time.perf_counter()
    await asyncio.gather(*[client_loop() for _ in range(CLIENTS)])
    elapsed = time.perf_counter() - started
    return total / elapsed, latencies, errors


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
    from gateway.app import create_app as create_gateway
    from gateway.settings import Settings as GatewaySettings
    from services.matters.app import create_app as create_matters
    from services.matters.settings import Settings as MattersSettings

    async with bench_infra() as infra:
        matters_url = infra.database_url("matters")
        settings = MattersSettings(service_database_url=matters_url, kafka_bootstrap_servers=infra.bootstrap,
                                   environment="test", sweep_enabled=False, log_level="WARNING")
        servers = [InProcessServer(create_matters(settings), free_port()),
                   InProcessServer(baseline_app(asyncpg_dsn(matters_url)), free_port())]
        for server in servers:
            await server.start()
        gateway_settings = GatewaySettings(service_database_url=infra.database_url("gateway"),
                                           kafka_bootstrap_servers=infra.bootstrap, environment="test",
                                           matters_url=servers[0].url, rate_limit_enabled=False, log_level="WARNING")
        gateway = InProcessServer(create_gateway(gateway_settings), free_port())
        await gateway.start()
        servers.append(gateway)
        try:
            community = f"370705{random.randrange(10**6):06d}"
            staff = {"authorization": "Bearer " + mint_token(settings, "bench-staff", [Grant(role="community_staff", scope=community)],
                                                             minutes=120)}
            rows = []
            with Progress(console=console) as progress:
                rps_base, lat_base, err_base = await load(
                    "baseline insert", requests,
                    lambda c, i: c.post("/insert", json={"title": f"路灯{i}"}), servers[1].url, progress)
                rps_create, lat_create, err_create = await load(
                    "matter creation", requests,
                    lambda c, i: c.post("/api/v1/matters/", headers=staff, json={
                        "title": f"三号楼路灯不亮{i}", "description": "夜间出行不便", "category": "city_management",
                        "unit_code": community}), gateway.url, progress)

                # A vote whose electorate is `requests` adults; each request is one voter's ballot.
                vote_community = f"370705{random.randrange(10**6):06d}"
                voters = await seed_households(asyncpg_dsn(matters_url), vote_community, requests)
                vote_staff = {"authorization": "Bearer " + mint_token(
                    settings, "bench-staff", [Grant(role="community_staff", scope=vote_community)], minutes=120)}
                async with httpx.AsyncClient(base_url=gateway.url, headers=vote_staff, timeout=60) as client:
                    matter = (await client.post("/api/v1/matters/", json={
                        "title": "更换大门", "description": "x", "category": "property_management",
                        "unit_code": vote_community})).json()
                    for action in ("accept", "route"):
                        await client.post(f"/api/v1/matters/{matter['matter_id']}/transitions", json={"action": action})
                    vote = (await client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={})).json()
                tokens = [{"authorization": "Bearer " + mint_token(settings, person, [Grant(role="resident", scope=code)],
                                                                   minutes=120)} for code, person in voters]
                rps_vote, lat_vote, err_vote = await load(
                    "vote casting", requests,
                    lambda c, i: c.post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", headers=tokens[i],
                                        json={"choice": "for" if i % 3 else "against"}), gateway.url, progress)

            # 户决制 at scale: 10,000 households, electorate frozen at opening, ballots in, then the tally.
            tally_community = f"370705{random.randrange(10**6):06d}"
            with console.status(f"seeding {households:,} households"):
                homes = await seed_households(asyncpg_dsn(matters_url), tally_community, households)
            tally_staff = {"authorization": "Bearer " + mint_token(
                settings, "bench-staff", [Grant(role="community_staff", scope=tally_community)], minutes=120)}
            async with httpx.AsyncClient(base_url=gateway.url, headers=tally_staff, timeout=120) as client:
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
                        await conn.copy_records_to_table("ballot_choice", records=[
                            (uuid.uuid4().hex, uuid.UUID(big_vote["vote_id"]), "for" if i % 4 else "against")
                            for i in range(len(present))], columns=["receipt_digest", "vote_id", "choice"])
                    finally:
                        await conn.close()
                started = time.perf_counter()
                result = (await client.post(f"/api/v1/matters/votes/{big_vote['vote_id']}/close")).json()
                tally_ms = (time.perf_counter() - started) * 1000

            def row(name: str, rps: float, lat: list[float], errors: int, target: str) -> list[object]:
                return [name, rps, percentile(lat, 50), percentile(lat, 99), f"{rps / rps_base:.0%}", errors, target]

            rows = [
                row("bare FastAPI + asyncpg insert (baseline)", rps_base, lat_base, err_base, ""),
                row("matter creation via gateway", rps_create, lat_create, err_create, ">= 30%, p99 < 150 ms"),
                row("vote casting via gateway", rps_vote, lat_vote, err_vote, ">= 30%, p99 < 150 ms"),
            ]
            console.print(table(f"Matters at {CLIENTS} concurrent clients, {requests:,} requests each",
                                ["endpoint", "req/s", "p50 ms", "p99 ms", "of baseline", "errors", "target"], rows))
            console.print(table(f"户决制 vote of {households:,} households", ["step", "ms", "result", "target"], [
                ["open: freeze the electorate", freeze_ms, f"base {big_vote['base_size']:,}", ""],
                ["close: tally and decide", tally_ms,
                 f"present {result['present']:,}, for {result['votes_for']:,}, passed {result['passed']}", "< 2,000 ms"],
            ]))
        finally:
            for server in reversed(servers):
                await server.stop()


def datetime_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests per measured endpoint")
    parser.add_argument("--households", type=int, default=10_000, help="households in the 户决制 tally")
    parser.add_argument("--full", action="store_true", help="the issue's full size: 5,000 requests per endpoint")
    args = parser.parse_args()
    asyncio.run(main(5000 if args.full else args.requests, args.households))
