"""What a killed `youmin up` left running is stopped by the next one; a pid since taken by another process is not."""

from __future__ import annotations

import json
import subprocess

from youmin.infra import ManagedProcesses, process_started, reap_leftovers


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def test_recorded_children_are_stopped_and_a_reused_pid_is_left_alone(tmp_path):
    running = tmp_path / "running.json"
    left, stranger = _sleeper(), _sleeper()
    try:
        managed = ManagedProcesses(running)
        managed.add("matters", left)
        assert json.loads(running.read_text())[0]["started"] == process_started(left.pid)
        # The stranger took a recorded pid: its start time is not the recorded one.
        recorded = json.loads(running.read_text())
        recorded.append({"name": "gateway", "pid": stranger.pid, "started": "0", "signal": 15})
        running.write_text(json.dumps(recorded))

        assert reap_leftovers(running, timeout=5) == [("matters", left.pid)]
        assert left.wait(5) == -15
        assert stranger.poll() is None
        assert not running.exists()
        assert reap_leftovers(running) == []  # nothing recorded: nothing to do
    finally:
        for proc in (left, stranger):
            proc.kill()
            proc.wait()


def test_forget_removes_the_record_once_everything_is_stopped(tmp_path):
    running = tmp_path / "running.json"
    child = _sleeper()
    try:
        managed = ManagedProcesses(running)
        managed.record("PostgreSQL", child, 2)
        assert json.loads(running.read_text()) == [
            {"name": "PostgreSQL", "pid": child.pid, "started": process_started(child.pid), "signal": 2}]
        managed.forget()
        assert not running.exists()
    finally:
        child.kill()
        child.wait()
    assert process_started(child.pid) is None
