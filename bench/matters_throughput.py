"""Matters through the gateway: matter creation and vote casting at 32 concurrent clients, beside a bare
FastAPI + asyncpg insert endpoint measured in the same run; and a 户决制 vote of 10,000 households closed.

The 10,000 households' ballots are written in bulk, as an online ballot writes them (participation in ballot, the
receipt's digest in ballot_receipt, the choice in the ballot box); the timed close mixes the box into the vote's
totals and tallies them, and its answer is checked against the ballots written.

Run: .venv/bin/python -m bench.matters_throughput [--requests 3000] [--households 10000] [--full]
Targets (issue 4): >= 30% of the baseline's requests/s with p99 < 150 ms; the 10,000-household tally < 2 s.
Requests/s and latencies count successful responses only; failed requests are counted and reported.

The matters service, the gateway and the baseline each run as their own uvicorn process (as deployed); the
load comes from a small keep-alive HTTP/1.1 client so the generator is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from rich.progress import Progress

from bench.common import (bench_infra, console, http_get, http_request, percentile, report_failures, spawn_uvicorn,
                          stop_processes, table, wait_ready)
from services.matters.rules.voting import rule_from_mapping, tally
from services.matters.service import _digest
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
@app.post("/api/v1/matters", status_code=201)
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
    """Sends `total` requests over CLIENTS keep-alive connections; returns (successful requests/s, latencies ms of
    the successful ones, failed requests)."""
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
                if status >= 300:
                    errors += 1
                else:
                    latencies.append((time.perf_counter() - started) * 1000)
                progress.advance(task)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*[client_loop() for _ in range(CLIENTS)])
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


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
        ports = {name: free_port() for name in ("matters", "gateway", "baseline", "gateway_to_baseline")}
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap, "YOUMIN_ENVIRONMENT": "test",
               "YOUMIN_LOG_LEVEL": "WARNING"}
        unreachable = f"http://127.0.0.1:{free_port()}"
        # The ballot-box mixer runs once a minute rather than every second: the 户决制 close then finds the 10,000
        # households' choices still in the box and mixes them itself (the most a close can have to count).
        matters_env = {**env, "MATTERS_SERVICE_DATABASE_URL": matters_url, "MATTERS_SWEEP_ENABLED": "false",
                       "MATTERS_BALLOT_MIX_SECONDS": "60"}
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
                # The same gateway in front of the bare insert (served at the matters path): what the gateway's hop
                # alone leaves of the baseline, the most any endpoint behind it can reach.
                procs.append(spawn_uvicorn(["gateway.app:create_app", "--factory", "--port",
                                            str(ports["gateway_to_baseline"])],
                                           {**gateway_env, "GATEWAY_MATTERS_URL": f"http://127.0.0.1:{ports['baseline']}"},
                                           logs / "gateway-to-baseline.log"))
                await wait_ready(f"http://127.0.0.1:{ports['matters']}/readyz", procs[0])
                await wait_ready(f"http://127.0.0.1:{ports['gateway']}/healthz", procs[1])
                await wait_ready(f"http://127.0.0.1:{ports['baseline']}/healthz", procs[2])
                await wait_ready(f"http://127.0.0.1:{ports['gateway_to_baseline']}/healthz", procs[3])
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
                await load("warm-up", ports["gateway_to_baseline"], 200,
                           lambda i: post("/api/v1/matters", staff, {"title": f"预热{i}"}), progress)
                rps_hop, lat_hop, err_hop = await load(
                    "baseline insert via gateway", ports["gateway_to_baseline"], requests,
                    lambda i: post("/api/v1/matters", staff, {"title": f"路灯{i}"}), progress)
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
                    matter = checked(await client.post("/api/v1/matters/", json={
                        "title": "更换大门", "description": "x", "category": "property_management",
                        "unit_code": vote_community}))
                    for action in ("accept", "route"):
                        checked(await client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                                  json={"action": action}))
                    vote = checked(await client.post(f"/api/v1/matters/{matter['matter_id']}/votes", json={}))
                tokens = [mint_token(settings, person, [Grant(role="resident", scope=code)], minutes=120)
                          for code, person in voters]
                rps_vote, lat_vote, err_vote = await load(
                    "vote casting", ports["gateway"], requests,
                    lambda i: post(f"/api/v1/matters/votes/{vote['vote_id']}/ballots", tokens[i],
                                   {"choice": "for" if i % 3 else "against"}), progress)

            # 户决制 at scale: 10,000 households, electorate frozen at opening, their ballots cast, then the tally.
            tally_community = f"370705{random.randrange(10**6):06d}"
            with console.status(f"seeding {households:,} households"):
                await seed_households(asyncpg_dsn(matters_url), tally_community, households)
            tally_staff = {"authorization": "Bearer " + mint_token(
                settings, "bench-staff", [Grant(role="community_staff", scope=tally_community)], minutes=120)}
            async with httpx.AsyncClient(base_url=gateway, headers=tally_staff, timeout=120) as client:
                (await client.put(f"/api/v1/matters/templates/communities/{tally_community}",
                                  json={"template_code": "nanhu-household-decision"})).raise_for_status()
                matter = checked(await client.post("/api/v1/matters/", json={
                    "title": "加装电梯", "description": "x", "category": "old_estate_renovation",
                    "unit_code": tally_community}))
                for action in ("accept", "route"):
                    checked(await client.post(f"/api/v1/matters/{matter['matter_id']}/transitions",
                                              json={"action": action}))
                started = time.perf_counter()
                big_vote = checked(await client.post(f"/api/v1/matters/{matter['matter_id']}/votes",
                                                     json={"secret": True}))
                freeze_ms = (time.perf_counter() - started) * 1000
                big_vote_id = uuid.UUID(big_vote["vote_id"])
                with console.status(f"casting {households:,} households' ballots"):
                    cast = await cast_household_ballots(asyncpg_dsn(matters_url), big_vote_id, secret=big_vote["secret"])
                boxed = await ballots_in_box(asyncpg_dsn(matters_url), big_vote_id)
                started = time.perf_counter()
                closed = await client.post(f"/api/v1/matters/votes/{big_vote_id}/close")
                tally_ms = (time.perf_counter() - started) * 1000
                result = checked(closed)
                left_in_box = await ballots_in_box(asyncpg_dsn(matters_url), big_vote_id)
        finally:
            stop_processes(procs)

    def row(name: str, rps: float, lat: list[float], errors: int, target: str) -> list[object]:
        share = f"{rps / rps_base:.0%}" if rps_base else "n/a"
        return [name, rps, percentile(lat, 50), percentile(lat, 99), share, errors, target]

    console.print(table(f"Matters at {CLIENTS} concurrent clients, {requests:,} requests each "
                        "(req/s and latencies of successful responses)", [
        "endpoint", "req/s", "p50 ms", "p99 ms", "of baseline", "errors", "target"], [
        row("bare FastAPI + asyncpg insert (baseline)", rps_base, lat_base, err_base, ""),
        row("the same bare insert via gateway (the hop's ceiling)", rps_hop, lat_hop, err_hop, ""),
        row("matter creation via gateway", rps_create, lat_create, err_create, ">= 30%, p99 < 150 ms"),
        row("vote casting via gateway", rps_vote, lat_vote, err_vote, ">= 30%, p99 < 150 ms"),
    ]))
    report_failures([("baseline insert", err_base, requests), ("baseline insert via gateway", err_hop, requests),
                     ("matter creation", err_create, requests),
                     ("vote casting", err_vote, requests)])
    console.print(table(f"户决制 vote of {households:,} households (secret ballot)", ["step", "ms", "result", "target"], [
        ["open: freeze the electorate", freeze_ms, f"base {big_vote['base_size']:,}", ""],
        [f"close: mix the box ({boxed:,} ballots), tally and decide", tally_ms,
         f"present {result['present']:,}: for {result['votes_for']:,}, against {result['votes_against']:,}, "
         f"abstain {result['abstain']:,}; quorum {result['quorum_met']}, passed {result['passed']}", "< 2,000 ms"],
    ]))
    console.print(f"logs: {logs}")
    problems = tally_problems(result, cast, boxed, left_in_box)
    if problems:
        for problem in problems:
            console.print(f"[bold red]tally wrong: {problem}[/]")
        raise SystemExit("the 户决制 close did not count the ballots cast")
    console.print(f"the close counted every ballot cast ({sum(cast.values()):,}: {dict(cast)}) and emptied the box")


def checked(response: httpx.Response) -> dict:
    """The JSON body of a successful response; raises with the body otherwise."""
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                           f"{response.text}")
    return response.json()


# Nine households in ten vote: two in three of the whole electorate for, the rest against or abstaining.
HOUSEHOLD_CHOICES = ("for", "for", "against", "for", "abstain", "for", "for", "against", "for", None)


async def cast_household_ballots(dsn: str, vote_id: uuid.UUID, *, secret: bool) -> Counter[str]:
    """Casts the ballots of a vote's electorate in bulk, writing what an online ballot writes (MattersService.cast):
    participation in ballot (for a secret ballot without choice or receipt), the receipt's digest in ballot_receipt,
    and the choice in the ballot box, which the mixer or the closing tally counts. Returns the choices cast."""
    conn = await asyncpg.connect(dsn)
    try:
        electors = await conn.fetch("SELECT voter_key, caster_ids[1] AS caster FROM vote_elector WHERE vote_id = $1 "
                                    "ORDER BY voter_key", vote_id)
        now = datetime.now(UTC)
        cast: Counter[str] = Counter()
        ballots, receipts, box = [], [], []
        for n, elector in enumerate(electors):
            choice = HOUSEHOLD_CHOICES[n % len(HOUSEHOLD_CHOICES)]
            if choice is None:
                continue
            digest = _digest(vote_id, secrets.token_urlsafe(18))
            ballots.append((vote_id, elector["voter_key"], elector["caster"], "online", None if secret else choice,
                            None if secret else digest, now))
            receipts.append((digest, vote_id, None if secret else choice))
            box.append((vote_id, choice))
            cast[choice] += 1
        async with conn.transaction():
            await conn.copy_records_to_table("ballot", records=ballots, columns=[
                "vote_id", "voter_key", "cast_by", "via", "choice", "receipt_digest", "cast_at"])
            await conn.copy_records_to_table("ballot_receipt", records=receipts,
                                             columns=["receipt_digest", "vote_id", "choice"])
            await conn.copy_records_to_table("ballot_box", records=box, columns=["vote_id", "choice"])
    finally:
        await conn.close()
    return cast


async def ballots_in_box(dsn: str, vote_id: uuid.UUID) -> int:
    """How many of a vote's choices wait in the ballot box, not yet added to its totals."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM ballot_box WHERE vote_id = $1", vote_id)
    finally:
        await conn.close()


def tally_problems(result: dict, cast: Counter[str], boxed: int, left_in_box: int) -> list[str]:
    """Compares the closed vote as the service answered it with the ballots cast; returns what differs."""
    present = sum(cast.values())
    expected = tally(rule_from_mapping(result["rule"]), result["base_size"], cast["for"], cast["against"],
                     cast["abstain"])
    checks = [("status", result["status"], "closed"), ("votes_for", result["votes_for"], cast["for"]),
              ("votes_against", result["votes_against"], cast["against"]), ("abstain", result["abstain"], cast["abstain"]),
              ("present", result["present"], present), ("participated", result["participated"], present),
              ("quorum_met", result["quorum_met"], expected.quorum_met), ("passed", result["passed"], expected.passed),
              ("ballots left in the box", left_in_box, 0)]
    problems = [f"{name} is {got}, expected {want}" for name, got, want in checks if got != want]
    if boxed != present:
        problems.append(f"the box held {boxed:,} ballots at closing, not the {present:,} cast (did the mixer run?)")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per measured endpoint")
    parser.add_argument("--households", type=int, default=10_000, help="households in the 户决制 tally")
    parser.add_argument("--full", action="store_true", help="the issue's full size: 5,000 requests per endpoint")
    args = parser.parse_args()
    asyncio.run(main(5000 if args.full else args.requests, args.households))
