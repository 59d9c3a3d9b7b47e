"""The `youmin` command line."""

from __future__ import annotations

import asyncio
import os
import sys

import typer
from rich.console import Console

from youmin.cli_registry import registry_app

app = typer.Typer(help="Youmin (由民): run, operate and develop the system.", no_args_is_help=True)
apikey_app = typer.Typer(help="Department API keys.", no_args_is_help=True)
contracts_app = typer.Typer(help="Event contracts in contracts/.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: records a consumer could not apply.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(dlq_app, name="dlq")
app.add_typer(contracts_app, name="contracts")
app.add_typer(registry_app)  # `youmin import ...` and `youmin seed`
console = Console()


@app.command()
def up(
    seed: bool = typer.Option(True, help="Load the demo data set (idempotent)."),
    scale: float = typer.Option(0.02, help="Demo size as a share of Kuiwen's full household count (1.0 = full)."),
) -> None:
    """Starts PostgreSQL, the broker, every service and the gateway; Ctrl-C stops them all."""
    from youmin.stack import up as run_up

    raise typer.Exit(run_up(seed_data=seed, scale=scale))


@app.command()
def migrate(
    topics: bool = typer.Option(True, help="Also create the Kafka topics."),
    partitions: int = typer.Option(3, help="Partitions per topic when creating them."),
) -> None:
    """Creates each database, runs every migration (and creates the topics) against DATABASE_URL."""
    from youmin.kit.kafka import ensure_topics
    from youmin.kit.settings import CommonSettings
    from youmin.stack import MIGRATED, prepare_databases

    settings = CommonSettings()
    if not settings.database_url:
        console.print("[red]error:[/] DATABASE_URL is not set")
        raise typer.Exit(2)

    async def run() -> None:
        await prepare_databases(settings.database_url)
        if topics:
            await ensure_topics(settings.kafka_bootstrap_servers, partitions=partitions)

    asyncio.run(run())
    console.print(f"migrated {', '.join(MIGRATED)}" + (" and created the topics" if topics else ""))


@app.command()
def token(
    role: str = typer.Option(..., help="Role, e.g. grid_manager, street_staff, resident."),
    scope: str = typer.Option(..., help="Org unit code the role covers, e.g. 370705001."),
    sub: str = typer.Option("dev-user", help="Subject (person id)."),
    minutes: int = typer.Option(60, help="Lifetime in minutes."),
) -> None:
    """Mints a development access token with the local signing key."""
    from youmin.kit.auth import Grant, mint_token
    from youmin.kit.settings import DEV_SIGNING_KEY, CommonSettings

    environment = os.environ.get("YOUMIN_ENVIRONMENT", "development")
    if environment != "development":
        console.print(f"[red]refused:[/] tokens are minted only in development (YOUMIN_ENVIRONMENT={environment})")
        raise typer.Exit(2)
    settings = CommonSettings()
    if settings.signing_key != DEV_SIGNING_KEY and os.environ.get("YOUMIN_ALLOW_CUSTOM_KEY") != "1":
        console.print("[yellow]note:[/] signing with the configured YOUMIN_SIGNING_KEY")
    typer.echo(mint_token(settings, sub, [Grant(role=role, scope=scope)], minutes=minutes))


@apikey_app.command("create")
def apikey_create(department: str = typer.Option(..., help="Department code.")) -> None:
    """Creates an API key for a department and prints it once."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", department):
        # As the admin API requires: a key under another code could not be listed, rotated or revoked there.
        console.print("[red]error:[/] --department: 1 to 32 letters, digits, '_' or '-'")
        raise typer.Exit(2)
    from gateway.apikeys import create_key
    from youmin.kit.db import make_engine, make_sessionmaker, transaction
    from youmin.kit.settings import service_database_url

    url = os.environ.get("GATEWAY_SERVICE_DATABASE_URL") or service_database_url(
        os.environ.get("DATABASE_URL") or f"postgresql://postgres@127.0.0.1:{os.environ.get('YOUMIN_PG_PORT', 5433)}/postgres",
        "gateway",
    )

    async def run() -> str:
        engine = make_engine(url, pool_size=1)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return await create_key(session, department)
        finally:
            await engine.dispose()

    try:
        key = asyncio.run(run())
    except OSError as exc:
        console.print(f"[red]error:[/] cannot reach the gateway database ({exc}); is `make run` up?")
        raise typer.Exit(1)
    typer.echo(key)


@contracts_app.command("write")
def contracts_write() -> None:
    """Regenerates contracts/ from the code's event models."""
    from youmin.contracts import write

    for path in write():
        console.print(f"wrote {path}")


@contracts_app.command("check")
def contracts_check() -> None:
    """Fails when contracts/ and the code's event models differ."""
    from youmin.contracts import drift

    problems = drift()
    if problems:
        console.print("[red]contracts out of date[/] (run `youmin contracts write`):\n" + "\n".join(problems))
        raise typer.Exit(1)
    console.print("contracts in sync")


def _bootstrap() -> str:
    """The broker: KAFKA_BOOTSTRAP_SERVERS, else the one `youmin up` starts (on YOUMIN_KAFKA_PORT)."""
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{os.environ.get('YOUMIN_KAFKA_PORT', 9092)}"


@dlq_app.command("show")
def dlq_show(topic: str = typer.Argument(..., help="The topic, e.g. registry.units (its dead letters are in <topic>.dlq).")) -> None:
    """Lists a topic's dead letters: where, which consumer, which event, why."""
    from rich.table import Table

    from youmin.kit import dlq

    letters = asyncio.run(dlq.show(_bootstrap(), topic))
    table = Table("partition", "offset", "consumer", "event", "error", title=f"{topic}.dlq: {len(letters)} dead letters")
    for d in letters:
        table.add_row(str(d.partition), str(d.offset), d.consumer, f"{d.event_type} {d.event_id}", d.error[:120])
    console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    topic: str = typer.Argument(..., help="The topic whose dead letters go back to it."),
    consumer: str = typer.Option(None, help="Only the dead letters of this consumer (group name)."),
) -> None:
    """Sends a topic's dead letters back to it, once what failed them is fixed (consumers skip what they applied)."""
    from youmin.kit import dlq

    sent = asyncio.run(dlq.redrive(_bootstrap(), topic, consumer_name=consumer))
    console.print(f"sent {sent} dead letters back to {topic}")


def main() -> None:  # pragma: no cover - console entry point
    """Runs a command; what goes wrong outside it (bad settings, an unreachable database or broker) is one line on
    stderr and an exit status, not a traceback."""
    from aiokafka.errors import KafkaError
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        app()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors(include_url=False, include_input=False))
        Console(stderr=True).print(f"[red]error:[/] configuration: {problems}")
        sys.exit(2)
    except (ArgumentError, ValueError) as exc:  # a malformed DATABASE_URL, a port that is not a number
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        sys.exit(2)
    except (OSError, TimeoutError, KafkaError, DBAPIError) as exc:
        from youmin.kit.errors import describe_error

        Console(stderr=True).print(f"[red]error:[/] {describe_error(exc)} (is PostgreSQL / the broker reachable?)")
        sys.exit(1)
    except Exception as exc:  # asyncpg's own errors (a missing database) are not DBAPIError outside SQLAlchemy
        if type(exc).__module__.startswith("asyncpg"):
            from youmin.kit.errors import describe_error

            Console(stderr=True).print(f"[red]error:[/] {describe_error(exc)}")
            sys.exit(1)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
