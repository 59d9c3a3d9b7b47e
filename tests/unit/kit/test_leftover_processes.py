"""What a killed `youmin up` left running is stopped by the next one; a pid since taken by another process is not,
and nothing is touched while the `youmin up` that recorded it still runs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from youmin.infra import ManagedProcesses, process_started, reap_leftovers


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def _record_owned_by(running, owner: dict) -> None:
    record = json.loads(running.read_text())
    record["owner"] = owner
    running.write_text(json.dumps(record))


def _dead_owner() -> dict:
    gone = subprocess.Popen(["true"])
    started = process_started(gone.pid)
    gone.wait()
    return {"pid": gone.pid, "started": started}


def test_recorded_children_are_stopped_and_a_reused_pid_is_left_alone(tmp_path):
    running = tmp_path / "running.json"
    left, stranger = _sleeper(), _sleeper()
    try:
        managed = ManagedProcesses(running)
        managed.add("matters", left)
        record = json.loads(running.read_text())
        assert record["owner"] == {"pid": os.getpid(), "started": process_started(os.getpid())}
        assert record["children"][0]["started"] == process_started(left.pid)
        # The stranger took a recorded pid: its start time is not the recorded one.
        record["children"].append({"name": "gateway", "pid": stranger.pid, "started": "0", "signal": 15})
        running.write_text(json.dumps(record))

        # While the `youmin up` that recorded them runs (here: this process), nothing is stopped.
        assert reap_leftovers(running, timeout=5) == [] and left.poll() is None and running.exists()
        _record_owned_by(running, _dead_owner())
        assert reap_leftovers(running, timeout=5) == [("matters", left.pid)]
        assert left.wait(5) == -15
        assert stranger.poll() is None
        assert not running.exists()
        assert reap_leftovers(running) == []  # nothing recorded: nothing to do
    finally:
        for proc in (left, stranger):
            proc.kill()
            proc.wait()


def test_forget_removes_only_its_own_record(tmp_path):
    running = tmp_path / "running.json"
    child = _sleeper()
    try:
        managed = ManagedProcesses(running)
        managed.record("PostgreSQL", child, 2)
        assert json.loads(running.read_text())["children"] == [
            {"name": "PostgreSQL", "pid": child.pid, "started": process_started(child.pid), "signal": 2}]
        managed.forget()
        assert not running.exists()
        # A record another `youmin up` wrote since is left to it.
        managed.record("PostgreSQL", child, 2)
        _record_owned_by(running, {"pid": os.getpid() + 1, "started": "1"})
        managed.forget()
        assert running.exists()
    finally:
        child.kill()
        child.wait()
    assert process_started(child.pid) is None


def test_a_record_of_an_older_run_without_an_owner_is_reaped_and_an_unreadable_one_is_refused(tmp_path):
    running = tmp_path / "running.json"
    left = _sleeper()
    try:
        running.write_text(json.dumps([{"name": "broker", "pid": left.pid, "started": process_started(left.pid),
                                        "signal": 15}]))
        assert reap_leftovers(running, timeout=5) == [("broker", left.pid)] and left.wait(5) == -15
        running.write_text("{not json")
        with pytest.raises(RuntimeError, match="not a record"):
            reap_leftovers(running)
    finally:
        left.kill()
        left.wait()
