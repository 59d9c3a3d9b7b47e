"""The mediation ladder's escalation sweep over many open cases, beside a bare count(*) of the same rows.

Seeds N open cases (default 100,000) whose next due instants spread over the coming 30 days, so a sweep
finds the ~0.1 % that fell due in the last hour (yellow warnings). Each sweep runs in a transaction that is
rolled back, so every repetition does the same work. Prints the time per sweep, the baseline
`SELECT count(*)` of the due rows and of all open rows, their ratio, and whether the plan of the sweep's
query uses the partial index on next_due_at instead of scanning the table.

    .venv/bin/python -m bench.mediation_sweep            # 100,000 open cases
    .venv/bin/python -m bench.mediation_sweep --full     # 1,000,000 open cases (city scale)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg
from rich.progress import Progress
from sqlalchemy.dialects import postgresql

from bench.common import bench_infra, console, median, percentile, table
from services.mediation.service import MediationConfig, sweep
from youmin.kit.db import make_engine, make_sessionmaker
from youmin.kit.relay import asyncpg_dsn

INDEX = "ix_mediation_case_next_due_at"

SEED = """
INSERT INTO mediation_case (id, place_code, community_code, level, status, dispute_type, description, opened_at,
                            opened_by, level_entered_at, deadline_at, warning, next_due_at)
SELECT gen_random_uuid(), '370705001001' || lpad((g % 400)::text, 3, '0'), '370705001001', 'grid', 'mediating',
       'neighbour', 'bench', due - interval '3 days', 'bench', due - interval '3 days', due + interval '2 days',
       'none', due
FROM (SELECT g, $1::timestamptz - interval '1 hour' + random() * interval '30 days' AS due
      FROM generate_series($2::int, $3::int) AS g) AS s
"""
COUNT_DUE = "SELECT count(*) FROM mediation_case WHERE next_due_at IS NOT NULL AND next_due_at <= $1"
COUNT_OPEN = "SELECT count(*) FROM mediation_case WHERE status IN ('intake', 'consent_pending', 'mediating')"


def plan_nodes(plan: dict) -> list[dict]:
    """Flattens an EXPLAIN (FORMAT JSON) plan tree."""
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(plan_nodes(child))
    return nodes


async def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def main(cases: int, repeat: int) -> None:
    async with bench_infra() as infra:
        url = infra.database_url("mediation")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        now = datetime.now(UTC)
        try:
            with Progress(console=console) as progress:
                task = progress.add_task(f"seeding {cases:,} open cases", total=cases)
                step = 50_000
                for start in range(1, cases + 1, step):
                    stop = min(cases, start + step - 1)
                    await conn.execute(SEED, now, start, stop)
                    progress.update(task, completed=stop)
            await conn.execute("VACUUM ANALYZE mediation_case")

            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            config = MediationConfig()
            reports = []

            async def one_sweep() -> None:
                async with sessions() as session:
                    reports.append(await sweep(session, now, config, batch_size=cases))
                    await session.rollback()

            await one_sweep()  # warm-up
            with console.status(f"sweeping {repeat} times"):
                sweep_ms = await timed(one_sweep, repeat)
                count_due_ms = await timed(lambda: conn.fetchval(COUNT_DUE, now), repeat)
                count_open_ms = await timed(lambda: conn.fetchval(COUNT_OPEN), repeat)
            due = await conn.fetchval(COUNT_DUE, now)
            open_rows = await conn.fetchval(COUNT_OPEN)

            # The sweep's own query, as SQLAlchemy renders it, explained by PostgreSQL.
            from sqlalchemy import select

            from services.mediation.models import MediationCase

            stmt = (select(MediationCase.id).where(MediationCase.next_due_at.is_not(None), MediationCase.next_due_at <= now)
                    .order_by(MediationCase.next_due_at).limit(cases).with_for_update(skip_locked=True))
            sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            async with conn.transaction():
                raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}")
            nodes = plan_nodes(json.loads(raw)[0]["Plan"])
            scans = [n for n in nodes if "Scan" in n["Node Type"]]
            uses_index = any(n.get("Index Name") == INDEX for n in scans) and not any(
                n["Node Type"] == "Seq Scan" for n in scans)
            await engine.dispose()
        finally:
            await conn.close()
    sweep_median = median(sweep_ms)
    rows = [
        ("sweep (select due FOR UPDATE SKIP LOCKED, warn, flush)", f"{due:,}", sweep_median, percentile(sweep_ms, 95),
         "1.0"),
        ("baseline: SELECT count(*) of the due rows", f"{due:,}", median(count_due_ms), percentile(count_due_ms, 95),
         f"{sweep_median / median(count_due_ms):,.1f}x"),
        ("reference: SELECT count(*) of all open rows", f"{open_rows:,}", median(count_open_ms),
         percentile(count_open_ms, 95), f"{sweep_median / median(count_open_ms):,.2f}x"),
    ]
    console.print(table(f"Mediation escalation sweep over {cases:,} open cases ({repeat} runs each)",
                        ["measure", "rows", "median ms", "p95 ms", "sweep / this"], rows))
    last = reports[-1]
    console.print(f"each sweep examined {last.examined:,} cases: {last.warned_yellow:,} yellow, {last.warned_red:,} red, "
                  f"{last.escalated:,} escalated")
    plan = " → ".join(f"{n['Node Type']}{' on ' + n['Index Name'] if n.get('Index Name') else ''}" for n in nodes)
    console.print(f"plan of the sweep's query: {plan}")
    console.print(f"uses the partial index {INDEX}: [bold]{'yes' if uses_index else 'NO (seq scan)'}[/]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="open cases to seed (default 100,000)")
    parser.add_argument("--repeat", type=int, default=15, help="sweeps to time")
    parser.add_argument("--full", action="store_true", help="city scale: 1,000,000 open cases")
    args = parser.parse_args()
    asyncio.run(main(1_000_000 if args.full else args.cases, args.repeat))
