"""Public disclosure API: item listing through the gateway beside a bare FastAPI JSON endpoint, and
decision-to-visible latency while matters are decided at a steady rate.

Run: .venv/bin/python -m bench.disclosure_public [--seconds 8] [--clients 64] [--communities 12] [--items 30]
                                                 [--rate 200] [--decide-seconds 10]
     .venv/bin/python -m bench.disclosure_public --full   (longer runs)
Targets (issue 6): listing >= 40% of the bare FastAPI requests/s at 64 clients; decision -> visible p99 < 1 s
at 200 decisions/s.

Issue 6 measures "the /public/v1 item listing for one community" at 64 clients: one community's page asked over
and over. The service keeps each rendered public response for a fraction of a second
(DISCLOSURE_PUBLIC_CACHE_SECONDS), so that page is nearly always answered from that cache, and the row says so.
Beside it, a run cycles through many distinct listings (the street and each community; every kind and category
filter; no period, this year, this month; newest-first and commit order; pages of 10 and 20; second pages by
cursor), so that a URL comes back only after the cache has let it go: the listing's own cost. Each run counts how
many requests at most could have been cache hits. Requests/s and latencies count successful responses only; failed
requests are counted and reported.

The disclosure service, the gateway and the baseline each run as their own uvicorn process (as deployed);
the load comes from a small keep-alive HTTP/1.1 client so the generator is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer
from rich.progress import Progress

from bench.common import (bench_infra, console, http_get, percentile, report_failures, spawn_uvicorn, stop_processes,
                          table, wait_ready)
from services.disclosure.settings import Settings as DisclosureSettings
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

KINDS = ("party", "residents", "finance")
CATEGORIES = ("notice", "minutes", "covenant")


@dataclass
class LoadResult:
    """A load run: successful requests/s, their latencies (ms), failed requests, and how many requests at most were
    answered from the service's response cache (asked again within its lifetime of an earlier answer)."""

    rps: float
    latencies: list[float]
    errors: int
    possible_hits: int

    @property
    def sent(self) -> int:
        return len(self.latencies) + self.errors


async def load(port: int, paths: list[str], clients: int, seconds: float,
               cache_seconds: float = 0.0) -> LoadResult:
    """Runs `clients` keep-alive connections for `seconds`, the requests taking the paths in turn."""
    requests = [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
                for path in paths]
    latencies: list[float] = []
    errors = possible_hits = 0
    turn = itertools.count()
    answered: dict[int, float] = {}  # path index -> when it was last answered
    in_flight = [0] * len(requests)  # path index -> requests sent and not yet answered
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal errors, possible_hits
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                n = next(turn) % len(requests)
                started = time.perf_counter()
                # A rendering enters the cache before its answer leaves: a request may be a hit only if the same URL
                # is in flight or was answered within the cache's lifetime; asked later, it cannot be one.
                if in_flight[n] or started - answered.get(n, float("-inf")) < cache_seconds:
                    possible_hits += 1
                in_flight[n] += 1
                try:
                    status = await http_get(reader, writer, requests[n])
                finally:
                    in_flight[n] -= 1
                done = time.perf_counter()
                answered[n] = done
                if status == 200:
                    latencies.append((done - started) * 1000)
                else:
                    errors += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return LoadResult(len(latencies) / (time.monotonic() - started), latencies, errors, possible_hits)


def listings(street: str, communities: list[str]) -> list[str]:
    """The distinct /public/v1/items listings the headline run cycles through (first pages; see second_pages)."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    filters = [{}, *({"kind": k} for k in KINDS), *({"category": c} for c in CATEGORIES)]
    paths = []
    for unit in [street, *communities]:
        for where in filters:
            for period in (None, f"{now:%Y}", f"{now:%Y-%m}"):
                for order in ("newest", "commit"):
                    for limit in (10, 20):
                        query = {"unit": unit, **where, "order": order, "limit": limit}
                        if period:
                            query["period"] = period
                        paths.append("/public/v1/items?" + urlencode(query))
    return paths


async def second_pages(client: httpx.AsyncClient, units: list[str]) -> list[str]:
    """The second page (by the first page's cursor) of each unit's newest-first listings of 10, whole and by kind."""
    paths = []
    for unit in units:
        for where in [{}, *({"kind": k} for k in KINDS)]:
            query = {"unit": unit, **where, "limit": 10}
            first = await client.get("/public/v1/items", params=query)
            first.raise_for_status()
            cursor = first.json()["next_cursor"]
            if cursor:
                paths.append("/public/v1/items?" + urlencode({**query, "cursor": cursor}))
    return paths


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
    # How long the service keeps a rendered public response (its setting, as the spawned service reads it).
    cache_seconds = float(os.environ.get("DISCLOSURE_PUBLIC_CACHE_SECONDS",
                                         DisclosureSettings.model_fields["public_cache_seconds"].default))
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
            communities = [f"{street}{n:03d}" for n in range(1, args.communities + 1)]
            token = mint_token(CommonSettings(), "bench", [Grant(role="street_staff", scope=street)])
            total_items = args.communities * args.items
            with console.status(f"posting {args.items} items in each of {args.communities} communities"):
                async with httpx.AsyncClient(base_url=gateway, headers={"authorization": f"Bearer {token}"},
                                             timeout=30) as staff:
                    posts = iter(range(total_items))

                    async def poster() -> None:
                        for n in posts:
                            j = n // args.communities  # the item's number within its community
                            resp = await staff.post("/api/v1/disclosure/items", json={
                                "unit_code": communities[n % args.communities], "kind": KINDS[j % 3],
                                "category": CATEGORIES[j // 3 % 3], "title": f"公开事项{n}", "body": "内容" * 50})
                            resp.raise_for_status()

                    await asyncio.gather(*(poster() for _ in range(8)))
                    varied = listings(street, communities) + await second_pages(staff, [street, *communities])
            random.Random(6).shuffle(varied)
            popular = [f"/public/v1/items?unit={communities[0]}&limit=20"]
            with console.status("warming up"):
                await load(ports["gateway"], varied, 8, 1)
                await load(ports["baseline"], ["/json"], 8, 1)
            runs: dict[str, LoadResult] = {}
            for name, port, paths, what in (
                    ("baseline", ports["baseline"], ["/json"], "bare FastAPI JSON endpoint"),
                    ("varied", ports["gateway"], varied, f"{len(varied):,} distinct listings through the gateway"),
                    ("popular", ports["gateway"], popular, "one popular page through the gateway"),
                    ("direct", ports["disclosure"], varied, f"{len(varied):,} distinct listings on the service itself")):
                with console.status(f"{what}: {args.clients} clients for {args.seconds:g}s"):
                    runs[name] = await load(port, paths, args.clients, args.seconds,
                                            0.0 if name == "baseline" else cache_seconds)
            with Progress(console=console, transient=True) as progress:
                visible, unseen, achieved = await decision_to_visible(gateway, infra.bootstrap, "370705098",
                                                                      args.rate, args.decide_seconds, progress)
        finally:
            stop_processes(procs)

    base = runs["baseline"]

    def row(label: str, run: LoadResult, ratio: bool = False) -> list[object]:
        hits = f"≤ {run.possible_hits / run.sent:.1%}" if run.sent and run is not base else ""
        return [label, run.rps, percentile(run.latencies, 50), percentile(run.latencies, 99),
                f"{run.rps / base.rps:.0%}" if ratio and base.rps else "", hits, run.errors]

    console.print(table(
        f"/public/v1 item listing ({total_items:,} items in {args.communities} communities), {args.clients} clients, "
        "successful responses only",
        ["endpoint", "requests/s", "p50 ms", "p99 ms", "of baseline", "cache hits", "errors"],
        [row("bare FastAPI JSON (baseline)", base),
         row("one community's listing via gateway (issue 6: ≥ 40%)", runs["popular"], True),
         row("distinct listings via gateway (uncached)", runs["varied"], True),
         row("distinct listings, service direct", runs["direct"], True)]))
    console.print(f"one community's listing: one URL asked over and over ({popular[0]}), issue 6's measure, served "
                  f"mostly by the response cache; distinct listings: {len(varied):,} /public/v1/items URLs taken in "
                  "turn, the listing's own cost; baseline: a fixed page of 20 items.\n"
                  "cache hits: the share of requests sent while the same URL was in flight or within "
                  f"{cache_seconds:g} s (the service's response cache) of an answer to it, the most that can have been "
                  "answered from the cache.")
    report_failures([(name, run.errors, run.sent) for name, run in runs.items()])
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
    parser.add_argument("--communities", type=int, default=12, help="communities of the street with items")
    parser.add_argument("--items", type=int, default=30, help="items posted in each community")
    parser.add_argument("--rate", type=float, default=200.0, help="matters decided per second")
    parser.add_argument("--decide-seconds", type=float, default=10.0)
    parser.add_argument("--full", action="store_true", help="longer runs (30 s each, 60 s of decisions)")
    args = parser.parse_args()
    if args.full:
        args.seconds, args.decide_seconds = 30.0, 60.0
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
