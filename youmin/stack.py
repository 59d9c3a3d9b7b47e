"""`youmin up`: the whole system on one machine, on embedded defaults unless told otherwise."""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from youmin.infra import RUNNING_FILE, EmbeddedPostgres, ManagedProcesses, PortInUse, TansuBroker, port_free, reap_leftovers
from youmin.kit.kafka import ensure_topics
from youmin.kit.migrate import ensure_database, upgrade_async
from youmin.kit.settings import DEFAULT_PORTS, SERVICES, service_database_url

ROOT = Path(__file__).resolve().parents[1]
MIGRATED = (*SERVICES, "gateway")

console = Console(stderr=True)


@dataclass
class Ports:
    """Ports of everything `youmin up` starts; each overridable by environment (PORT_VARIABLES)."""

    postgres: int = 5433
    kafka: int = 9092
    gateway: int = DEFAULT_PORTS["gateway"]
    registry: int = DEFAULT_PORTS["registry"]
    matters: int = DEFAULT_PORTS["matters"]
    mediation: int = DEFAULT_PORTS["mediation"]
    disclosure: int = DEFAULT_PORTS["disclosure"]

    @classmethod
    def from_environment(cls) -> Ports:
        """The ports, as the environment sets them; a value that is not a port is refused, naming its variable."""
        chosen = {}
        for name, variable in PORT_VARIABLES.items():
            value = os.environ.get(variable)
            if value is None:
                continue
            if not (value.isdigit() and 1 <= int(value) <= 65535):
                raise BadSetting(f"{variable}={value!r} is not a TCP port (1-65535)")
            chosen[name] = int(value)
        return cls(**chosen)


PORT_VARIABLES = {"postgres": "YOUMIN_PG_PORT", "kafka": "YOUMIN_KAFKA_PORT",
                  **{name: f"{name.upper()}_PORT" for name in ("gateway", "registry", "matters", "mediation", "disclosure")}}


class BadSetting(ValueError):
    """An environment variable `youmin up` reads has a value it cannot use."""


async def prepare_databases(server_url: str, *, suffix: str = "") -> dict[str, str]:
    """Creates each database and runs its migrations; returns the database URLs."""
    urls = {}
    for name in MIGRATED:
        url = service_database_url(server_url, name, suffix)
        await ensure_database(url)
        await upgrade_async(name, url)
        urls[name] = url
    return urls


async def prepare(server_url: str, bootstrap: str, *, suffix: str = "") -> dict[str, str]:
    """Creates each database, runs every migration and creates the topics; returns the database URLs."""
    urls = await prepare_databases(server_url, suffix=suffix)
    await ensure_topics(bootstrap)
    return urls


async def seed(server_url: str, *, scale: float, suffix: str = "") -> None:
    """Loads the demo data of every service that has a seed (idempotently)."""
    for name in SERVICES:
        try:
            module = importlib.import_module(f"services.{name}.seed")
        except ModuleNotFoundError:
            continue
        await module.seed_demo(service_database_url(server_url, name, suffix), scale=scale, console=console)


def _uvicorn(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5"],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url}/readyz did not answer ready within {timeout}s")


def up(*, seed_data: bool = True, scale: float = 0.02) -> int:
    """Starts everything, prints the URLs and waits for Ctrl-C; stops all it started."""
    try:
        ports = Ports.from_environment()
    except BadSetting as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    data_dir = Path(os.environ.get("YOUMIN_DATA_DIR", ROOT / ".data"))
    data_dir.mkdir(exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    # One `youmin up` at a time on a data directory: the lock is held while this process lives (the system lets it go
    # when the process ends, however it ends), and children do not inherit it.
    held = open(data_dir / "youmin-up.lock", "a")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        console.print(f"[red]error:[/] another `youmin up` is running on {data_dir}; stop it first (Ctrl-C in its "
                      "terminal), or give this one another YOUMIN_DATA_DIR and other ports.")
        return 2
    # What an earlier run that could not stop them left running (it was killed, or lost its terminal) is stopped
    # first: its PostgreSQL would hold the data directory and every process its port.
    try:
        for name, pid in reap_leftovers(data_dir / RUNNING_FILE):
            console.print(f"[yellow]stopped {name} (pid {pid}), left running by an earlier `youmin up`[/]")
    except RuntimeError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    managed = ManagedProcesses(data_dir / RUNNING_FILE)
    pg: EmbeddedPostgres | None = None
    broker: TansuBroker | None = None
    stop = {"now": False}

    def _on_signal(signum: int, _frame: object) -> None:
        stop["now"] = True
        raise KeyboardInterrupt

    # Installed explicitly: a shell or CI runner may have started us with SIGINT ignored. A closed terminal (SIGHUP)
    # stops everything too: the children run in sessions of their own, and would not hear it.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        for name in ("gateway", *SERVICES):
            if not port_free(getattr(ports, name)):
                raise PortInUse(getattr(ports, name), name, PORT_VARIABLES[name])
        server_url = os.environ.get("DATABASE_URL")
        if server_url:
            console.print("[bold]PostgreSQL[/]: using DATABASE_URL")
        else:
            with console.status(f"starting embedded PostgreSQL on 127.0.0.1:{ports.postgres} (data in {data_dir / 'postgres'})"):
                pg = EmbeddedPostgres(data_dir / "postgres", port=ports.postgres)
                pg.start()
                managed.record("PostgreSQL", pg.proc, signal.SIGINT)  # its fast shutdown
                server_url = pg.url
            console.print(f"[green]✓[/] PostgreSQL on 127.0.0.1:{ports.postgres}")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            console.print(f"[bold]Kafka[/]: using KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
        else:
            with console.status(f"starting the Tansu broker on 127.0.0.1:{ports.kafka}"):
                broker = TansuBroker(port=ports.kafka, log_path=data_dir / "logs" / "tansu.log")
                broker.start()
                managed.record("the Tansu broker", broker.proc)
                bootstrap = broker.bootstrap
            console.print(f"[green]✓[/] Tansu broker (Kafka protocol) on {bootstrap}")
        with console.status("creating databases, running migrations, creating topics"):
            asyncio.run(prepare(server_url, bootstrap))
        console.print("[green]✓[/] databases migrated, topics created")
        if seed_data:
            asyncio.run(seed(server_url, scale=scale))
        env = {
            **os.environ,
            "DATABASE_URL": server_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "YOUMIN_ENVIRONMENT": os.environ.get("YOUMIN_ENVIRONMENT", "development"),
            **{f"{name.upper()}_PORT": str(getattr(ports, name)) for name in ("gateway", *SERVICES)},
            **{f"GATEWAY_{name.upper()}_URL": f"http://127.0.0.1:{getattr(ports, name)}" for name in SERVICES},
        }
        started = []
        with console.status("starting the services and the gateway"):
            for name in SERVICES:
                proc = _uvicorn(f"services.{name}.app:create_app", getattr(ports, name), env, data_dir / "logs" / f"{name}.log")
                managed.add(name, proc)
                started.append((name, proc))
            gw = _uvicorn("gateway.app:create_app", ports.gateway, env, data_dir / "logs" / "gateway.log")
            managed.add("gateway", gw)
            started.append(("gateway", gw))
            for name, proc in started:
                _wait_ready(f"http://127.0.0.1:{getattr(ports, name)}", proc)
        console.print("[green]✓[/] all services ready\n")
        console.print(f"  Gateway (API, portal)  http://127.0.0.1:{ports.gateway}/")
        console.print(f"  API documentation      http://127.0.0.1:{ports.gateway}/docs")
        console.print(f"  Readiness              http://127.0.0.1:{ports.gateway}/readyz")
        for name in SERVICES:
            console.print(f"  {name:<22} http://127.0.0.1:{getattr(ports, name)}/  (metrics at /metrics)")
        console.print(f"  Logs                   {data_dir / 'logs'}")
        console.print("\nPress Ctrl-C to stop everything.")
        while True:
            for name, proc in started:
                if proc.poll() is not None:
                    console.print(f"[red]{name} exited with code {proc.returncode}; see {data_dir / 'logs' / (name + '.log')}[/]")
                    return 1
            time.sleep(0.5)
    except PortInUse as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("\nstopping…")
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    finally:
        # Stopping is not interrupted: a closed terminal sends SIGHUP twice (the shell's and the kernel's), and a
        # second Ctrl-C or kill would otherwise leave PostgreSQL or the broker running.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        managed.stop_all()
        if broker:
            broker.stop()
        if pg:
            pg.stop()
        managed.forget()
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        console.print("stopped.")
