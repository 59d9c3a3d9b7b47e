"""The mediation ladder's escalation sweep over many open cases, beside a bare count(*) of the same rows.

Seeds N open cases (default 100,000) whose next due instants spread over the coming 30 days, so a sweep
finds the ~0.1 % that fell due in the last hour (yellow warnings). Each sweep runs in a transaction that is
rolled back, so every repetition does the same work. Prints the time per sweep, the baseline
`SELECT count(*)` of the due rows and of all open rows, their ratio, and whether the plan of the sweep's
query uses the partial index on next_due_at instead of scanning the table. The plan is PostgreSQL's EXPLAIN of the
statement and parameters CaseRepository.due itself sends (caught as it runs), not of a copy.

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
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.common import bench_infra, console, median, percentile, table
from services.mediation.repository import CaseRepository
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


async def explain_due(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], now: datetime,
                      limit: int) -> tuple[str, object, dict]:
    """Runs CaseRepository.due as the sweep does (in a transaction rolled back), catching the statement and the
    parameters it sends to PostgreSQL; returns them with the root of their EXPLAIN (FORMAT JSON) plan."""
    sent: list[tuple[str, object]] = []

    def catch(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    async with sessions() as session:
        await session.connection()
        event.listen(engine.sync_engine, "before_cursor_execute", catch)
        try:
            await CaseRepository(session).due(now, limit)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", catch)
        if len(sent) != 1:
            raise RuntimeError(f"CaseRepository.due sent {len(sent)} statements, expected one: {sent}")
        statement, parameters = sent[0]
        conn = await session.connection()
        raw = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)).scalar_one()
        await session.rollback()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return statement, parameters, plan[0]["Plan"]


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

            # The sweep's own query: the statement CaseRepository.due sends, with its parameters, explained.
            statement, parameters, root = await explain_due(engine, sessions, now, cases)
            nodes = plan_nodes(root)
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
    sql = " ".join(statement.split())
    head, _, tail = sql.partition(" FROM ")
    console.print(f"the sweep's query, as CaseRepository.due sends it: SELECT <{head.count(',') + 1} columns> FROM {tail}")
    console.print(f"its parameters: {parameters}")
    console.print(f"plan of the sweep's query: {plan}")
    console.print(f"uses the partial index {INDEX}: [bold]{'yes' if uses_index else 'NO (seq scan)'}[/]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="open cases to seed (default 100,000)")
    parser.add_argument("--repeat", type=int, default=15, help="sweeps to time")
    parser.add_argument("--full", action="store_true", help="city scale: 1,000,000 open cases")
    args = parser.parse_args()
    asyncio.run(main(1_000_000 if args.full else args.cases, args.repeat))
