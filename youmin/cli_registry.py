"""`youmin import` and `youmin seed`: bulk CSV import into the registry and the demo data set."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from rich.console import Console

registry_app = typer.Typer(help="Registry data: bulk import and the demo seed.")
console = Console(stderr=True)

KINDS = ("units", "households", "people")


def _server_url() -> str:
    return os.environ.get("DATABASE_URL") or f"postgresql://postgres@127.0.0.1:{os.environ.get('YOUMIN_PG_PORT', 5433)}/postgres"


def _configure_codes() -> None:
    """The registry's code scheme, as REGISTRY_GRID_SERIAL_WIDTH sets it for the service."""
    from services.registry.rules.codes import CodeScheme, configure
    from services.registry.settings import Settings

    configure(CodeScheme(grid_width=Settings().grid_serial_width))


def _registry_url() -> str:
    from youmin.kit.settings import service_database_url

    return os.environ.get("REGISTRY_SERVICE_DATABASE_URL") or service_database_url(_server_url(), "registry")


@registry_app.command("import")
def import_(
    kind: str = typer.Argument(..., help="units | households | people", metavar="KIND"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="UTF-8 CSV file with a header row."),
) -> None:
    """Imports a CSV file into the registry: all or nothing, with a per-row error report."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from services.registry.importer import import_file
    from youmin.kit.relay import asyncpg_dsn

    if kind not in KINDS:
        console.print(f"[red]error:[/] KIND must be one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    _configure_codes()
    size = file.stat().st_size

    async def run():
        import asyncpg

        dsn = asyncpg_dsn(_registry_url())
        conn = await asyncpg.connect(dsn)
        try:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                          TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task(f"{kind}: reading", total=size, rows=0)

                def update(phase: str, rows: int, read: int) -> None:
                    progress.update(task, completed=read, rows=rows, description=f"{kind}: {phase}")

                # An import stopped by Ctrl-C or a lost connection has its outcome written on a connection of its own.
                return await import_file(conn, kind, file, progress=update, connect=lambda: asyncpg.connect(dsn))
        finally:
            await conn.close()

    try:
        result = asyncio.run(run())
    except OSError as exc:
        console.print(f"[red]error:[/] cannot reach the registry database ({exc}); is `make run` up?")
        raise typer.Exit(1)
    if result.status == "succeeded":
        console.print(f"[green]✓[/] {result.rows_read:,} rows read, {result.rows_created:,} created "
                      f"(import {result.import_id})")
        return
    table = Table(title=f"{result.error_count:,} errors: nothing was imported (import {result.import_id})")
    for column in ("row", "field", "reason"):
        table.add_column(column)
    for error in result.errors[:200]:
        table.add_row(str(error.row), error.field, error.reason)
    console.print(table)
    if result.error_count > 200:
        console.print(f"… and {result.error_count - 200:,} more (GET /api/v1/registry/imports/{result.import_id})")
    raise typer.Exit(1)


@registry_app.command("seed")
def seed(scale: float = typer.Option(0.02, help="Share of Kuiwen's ~263,000 households to load (1.0 = full size).")) -> None:
    """Loads the deterministic Kuiwen demo data set into every service that has one (idempotent)."""
    from youmin.stack import seed as seed_all

    try:
        asyncio.run(seed_all(_server_url(), scale=scale))
    except OSError as exc:
        console.print(f"[red]error:[/] cannot reach PostgreSQL ({exc}); run migrations first (`make run` does)")
        raise typer.Exit(1)
