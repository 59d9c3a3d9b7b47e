"""Registry bulk import beside a raw asyncpg COPY of the same rows, and the "households under a street" query.

Run: .venv/bin/python -m bench.registry_import [--scale 0.25] [--full] [--queries 200]
Targets (issue 3): the household import at >= 25% of the raw COPY rate and under 3 minutes at full size
(>= 263,000 households with their members: --full); "all households under street X" at full size, p99 < 50 ms.

The household file is the demo seed's (deterministic), written to a temporary CSV file first. The raw
baseline COPYs that very file into a bare table with the same columns; the import reads it with the
same COPY, checks every row (GB 11643 ID numbers, mobile numbers, codes), runs the set-based checks and
writes units, households, people, personal data and their events in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import random
import tempfile
import time
from pathlib import Path

import asyncpg
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import bench_infra, console, median, percentile, table
from services.registry import importer, seed
from services.registry.seed import MEMBER_HEADER, SEEDED_STREETS, UNIT_HEADER
from services.registry.service import RegistryService
from youmin.kit.auth import Grant, Principal
from youmin.kit.db import make_engine, make_sessionmaker, transaction
from youmin.kit.relay import asyncpg_dsn


def write_file(path: Path, scale: float) -> int:
    """Writes the seed's household file at a scale; returns its number of member rows."""
    total_households = sum(seed.household_counts(scale))
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f, Progress(
        TextColumn("writing the household file"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} households"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        task = progress.add_task("", total=total_households)
        writer = csv.writer(f)
        writer.writerow(MEMBER_HEADER)
        for n, (_, members) in enumerate(seed.households(scale), 1):
            for p in members:
                writer.writerow([p.household_code, p.name, p.id_number, p.phone or "", "", p.address or "",
                                 p.role_in_household])
                rows += 1
            if n % 5000 == 0:
                progress.update(task, completed=n)
    return rows


async def raw_copy(conn: asyncpg.Connection, path: Path) -> float:
    """COPYs the file into a bare table of text columns; returns the seconds taken."""
    await conn.execute("DROP TABLE IF EXISTS raw_member")
    await conn.execute("CREATE TABLE raw_member (" + ", ".join(f"{c} text" for c in MEMBER_HEADER) + ")")
    started = time.perf_counter()
    await conn.copy_to_table("raw_member", source=str(path), format="csv", header=True)
    elapsed = time.perf_counter() - started
    await conn.execute("DROP TABLE raw_member")
    return elapsed


async def run_import(conn: asyncpg.Connection, path: Path,
                     rows: int) -> tuple[float, importer.ImportResult, dict[str, float]]:
    """Imports the file; returns the seconds taken, the result, and the seconds of each phase the import reported
    (reading: rows parsed, checked in Python and copied into the staging table; checking: the set-based checks;
    writing: units, households, people, personal data and events)."""
    size = path.stat().st_size
    entered: dict[str, float] = {}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[rows]:,} rows"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("households: reading", total=size, rows=0)

        def update(phase: str, n: int, read: int) -> None:
            entered.setdefault(phase, time.perf_counter())
            progress.update(task, completed=read, rows=n, description=f"households: {phase}")

        started = time.perf_counter()
        result = await importer.import_file(conn, "households", path, progress=update)
        finished = time.perf_counter()
    if result.status != "succeeded":
        raise SystemExit(f"import failed: {result.errors[:5]}")
    assert result.rows_read == rows
    entered.setdefault("reading", started)
    order = [phase for phase in ("reading", "checking", "writing") if phase in entered]
    ends = [entered[phase] for phase in order[1:]] + [finished]
    return finished - started, result, {phase: end - entered[phase] for phase, end in zip(order, ends)}


async def subtree_queries(url: str, n: int) -> dict[str, list[float]]:
    """Times "all households under street X" three ways, n times each over random streets."""
    rng = random.Random(7)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    timings: dict[str, list[float]] = {"codes": [], "count": [], "page": []}
    principal = Principal(sub="bench", grants=[Grant(role="district_staff", scope="370705")])
    try:
        # What autovacuum does after a bulk load: statistics and the visibility map (index-only scans).
        await conn.execute("VACUUM ANALYZE org_unit, household, person, person_personal")
        for street in SEEDED_STREETS:  # warm-up: each street's pages once into the buffer cache
            await conn.fetch("SELECT code FROM org_unit WHERE level = 'household' AND code >= $1 AND code < $2",
                             street, street + ":")
        for _ in range(n):
            street = rng.choice(SEEDED_STREETS)
            started = time.perf_counter()
            await conn.fetch("SELECT code FROM org_unit WHERE level = 'household' AND code >= $1 AND code < $2",
                             street, street + ":")
            timings["codes"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await conn.fetchval("SELECT count(*) FROM org_unit WHERE level = 'household' AND code >= $1 AND code < $2",
                                street, street + ":")
            timings["count"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            async with transaction(sessions) as session:
                await RegistryService(session).households(principal, street, None, 100)
            timings["page"].append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
        await engine.dispose()
    return timings


async def main(scale: float, queries: int) -> None:
    async with bench_infra() as infra:
        url = infra.database_url("registry")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            units = await importer.import_rows(conn, "units", UNIT_HEADER, seed.unit_rows(), source_name="bench units")
            assert units.status == "succeeded", units.errors[:3]
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "households.csv"
                rows = write_file(path, scale)
                households = sum(seed.household_counts(scale))
                with console.status("raw COPY of the same file"):
                    raw_seconds = await raw_copy(conn, path)
                import_seconds, result, phases = await run_import(conn, path, rows)
                with console.status("second import of the same file (idempotent)"):
                    again_started = time.perf_counter()
                    again = await importer.import_file(conn, "households", path)
                    again_seconds = time.perf_counter() - again_started
            events = await conn.fetchval("SELECT count(*) FROM outbox_event")
        finally:
            await conn.close()
        # The import left this process with a large heap; its garbage collection is not the query's latency.
        gc.collect()
        gc.freeze()
        with console.status(f"subtree queries ({queries} x 3)"):
            timings = await subtree_queries(url, queries)

    raw_rate, import_rate = rows / raw_seconds, rows / import_seconds
    console.print(table(
        f"Household import: {households:,} households, {rows:,} member rows (scale {scale:g})",
        ["run", "seconds", "rows/s", "ratio to raw COPY"],
        [
            ["raw asyncpg COPY (same file, bare table)", raw_seconds, raw_rate, "100%"],
            ["youmin import households (checked, all-or-nothing)", import_seconds, import_rate,
             f"{import_rate / raw_rate:.0%}"],
            *([f"  of which {phase}", seconds, "", f"{seconds / import_seconds:.0%} of the import"]
              for phase, seconds in phases.items()),
            [f"same file again (idempotent: {again.rows_created} created)", again_seconds, rows / again_seconds,
             f"{rows / again_seconds / raw_rate:.0%}"],
        ],
    ))
    console.print("reading: rows parsed and checked in Python, into the staging table by COPY; checking: the "
                  "set-based checks; writing: units, households, people, personal data and their events")
    console.print(f"created {result.rows_created:,} people; {events:,} events written to the outbox in the same transactions")
    console.print(table(
        f"All households under a street ({households // len(SEEDED_STREETS):,} per street on average), {queries} runs",
        ["query", "p50 ms", "p99 ms"],
        [
            ["every household code under the street (full list)", median(timings["codes"]), percentile(timings["codes"], 99)],
            ["count of households under the street", median(timings["count"]), percentile(timings["count"], 99)],
            ["API page: first 100 households with members (masked)", median(timings["page"]), percentile(timings["page"], 99)],
        ],
    ))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25, help="share of the full 263,000 households")
    parser.add_argument("--full", action="store_true", help="the full size (scale 1.0)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(1.0 if args.full else args.scale, args.queries))
