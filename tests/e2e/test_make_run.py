"""`youmin up` (what `make run` calls) as a new user meets it: up, ready, Ctrl-C, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from youmin.infra import free_port

ROOT = Path(__file__).resolve().parents[2]


def up_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in ("YOUMIN_PG_PORT", "YOUMIN_KAFKA_PORT", "GATEWAY_PORT", "REGISTRY_PORT",
                                             "MATTERS_PORT", "MEDIATION_PORT", "DISCLOSURE_PORT")}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({k: str(v) for k, v in ports.items()})
    env["YOUMIN_DATA_DIR"] = str(tmp_path / "data")
    return env, ports


class Up:
    """A `youmin up` process whose output is read as it comes, as a person at the terminal would."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "youmin.cli", "up", "--no-seed"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, marker: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            assert self.proc.poll() is None, f"youmin up exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"no {marker!r} within {timeout}s:\n{self.output}"
            time.sleep(0.2)


def start(env: dict[str, str]) -> Up:
    return Up(env)


def wait_ready(url: str, up: Up) -> dict:
    """Waits until `youmin up` says it is ready, then asks the gateway."""
    up.wait_for_output("Press Ctrl-C")
    resp = httpx.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def interrupt_and_collect(up: Up, children: list[psutil.Process]) -> str:
    up.proc.send_signal(signal.SIGINT)
    up.proc.wait(timeout=120)
    up.reader.join(10)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    return up.output


@pytest.fixture
def started():
    """Every `youmin up` a test starts; whatever is still running when the test ends is killed."""
    procs: list[Up] = []
    yield procs
    for up in procs:
        proc = up.proc
        if proc.poll() is None:
            leftovers = descendants(proc.pid)
            proc.kill()
            for child in leftovers:
                child.kill()
            proc.wait(10)


async def test_up_is_ready_stops_on_ctrl_c_leaves_nothing_and_keeps_data_across_runs(tmp_path, started):
    env, ports = up_env(tmp_path)
    up = start(env)
    started.append(up)
    ready = wait_ready(f"http://127.0.0.1:{ports['GATEWAY_PORT']}/readyz", up)
    assert ready["status"] == "ready" and set(ready["checks"]) >= {"registry", "matters", "mediation", "disclosure"}
    children = descendants(up.proc.pid)
    assert len(children) >= 7  # postgres, broker, four services, gateway (and postgres' own workers)
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{ports['YOUMIN_PG_PORT']}/youmin_gateway")
    await conn.execute("INSERT INTO api_key (key_id, department_code, key_hash) VALUES ('persisted1', 'D1', 'h')")
    await conn.close()
    out = interrupt_and_collect(up, children)
    assert up.proc.returncode == 0 and "stopped." in out and "Traceback" not in out, out

    up = start(env)  # the second run finds the same data
    started.append(up)
    wait_ready(f"http://127.0.0.1:{ports['GATEWAY_PORT']}/readyz", up)
    orphans = descendants(up.proc.pid)
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{ports['YOUMIN_PG_PORT']}/youmin_gateway")
    assert await conn.fetchval("SELECT department_code FROM api_key WHERE key_id = 'persisted1'") == "D1"
    await conn.close()
    # Killed outright, it stops nothing: its children run on, holding the ports and the data directory...
    up.proc.kill()
    up.proc.wait(10)
    assert all(child.is_running() for child in orphans)

    up = start(env)  # ... until the next run stops them, and starts as usual.
    started.append(up)
    wait_ready(f"http://127.0.0.1:{ports['GATEWAY_PORT']}/readyz", up)
    assert "left running by an earlier `youmin up`" in up.output, up.output
    gone, alive = psutil.wait_procs(orphans, timeout=5)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    # A second `youmin up` on the same data meanwhile says one is running, and leaves it alone.
    second = subprocess.run([sys.executable, "-m", "youmin.cli", "up", "--no-seed"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another `youmin up` is running" in second.stdout + second.stderr
    assert httpx.get(f"http://127.0.0.1:{ports['GATEWAY_PORT']}/readyz", timeout=10).status_code == 200
    # A closed terminal (SIGHUP, from the shell and again from the kernel) stops everything, as Ctrl-C does.
    children = descendants(up.proc.pid)
    up.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    up.proc.send_signal(signal.SIGHUP)
    up.proc.wait(timeout=120)
    up.reader.join(10)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    assert "stopped." in up.output and "Traceback" not in up.output, up.output
    assert not (tmp_path / "data" / "running.json").exists()


def test_a_port_in_use_gives_a_clear_message_not_a_traceback(tmp_path):
    env, ports = up_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["GATEWAY_PORT"]))
        busy.listen()
        result = subprocess.run([sys.executable, "-m", "youmin.cli", "up", "--no-seed"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f"port {ports['GATEWAY_PORT']}" in output and "already in use" in output and "GATEWAY_PORT" in output
    assert "Traceback" not in output
    result = subprocess.run([sys.executable, "-m", "youmin.cli", "up", "--no-seed"], cwd=ROOT,
                            env={**env, "MATTERS_PORT": "eighty"}, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "MATTERS_PORT='eighty' is not a TCP port" in output and "Traceback" not in output


@pytest.mark.parametrize("environment", ["production", "test"])
def test_token_command_refuses_outside_development(environment):
    env = {**os.environ, "YOUMIN_ENVIRONMENT": environment}
    result = subprocess.run([sys.executable, "-m", "youmin.cli", "token", "--role", "street_staff", "--scope", "370705001"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "refused" in result.stdout


def test_token_command_mints_a_verifiable_development_token():
    from youmin.kit.auth import decode_token
    from youmin.kit.settings import CommonSettings

    env = {**os.environ, "YOUMIN_ENVIRONMENT": "development"}
    env.pop("YOUMIN_SIGNING_KEY", None)
    result = subprocess.run([sys.executable, "-m", "youmin.cli", "token", "--role", "grid_manager", "--scope",
                             "370705001001001", "--sub", "p-1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    principal = decode_token(CommonSettings(), result.stdout.strip())
    assert principal.sub == "p-1" and principal.covers("370705001001001001") and not principal.covers("370705001002")
