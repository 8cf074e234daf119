"""The daemon manager on its own, with plain shell commands as daemons."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from insitu.errors import StackError
from insitu.stack.process import Daemon, ProcessState, process_start_ticks


def test_start_records_pid_start_time_and_stop_removes_it(tmp_path: Path) -> None:
    daemon = Daemon("sleeper", tmp_path)
    record = daemon.start(["sleep", "30"], "none://sleeper")

    on_disk = json.loads(daemon.pid_path.read_text())
    assert on_disk["pid"] == record.pid
    assert on_disk["start_ticks"] == process_start_ticks(record.pid)
    assert on_disk["command"] == ["sleep", "30"]
    assert daemon.state() == (ProcessState.RUNNING, record)
    # Own session: a Ctrl-C to our process group does not reach the daemon.
    assert os.getsid(record.pid) == record.pid != os.getsid(0)

    assert daemon.stop() is True
    assert process_start_ticks(record.pid) is None
    assert not daemon.pid_path.exists()
    assert daemon.state() == (ProcessState.STOPPED, None)
    assert daemon.stop() is False


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    daemon = Daemon("stubborn", tmp_path)
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    record = daemon.start([sys.executable, "-c", script], "none://stubborn")
    daemon.wait_ready(record, lambda: True, 1)

    assert daemon.stop(timeout=0.5) is True
    assert process_start_ticks(record.pid) is None


def test_recycled_pid_is_stale_and_never_signalled(tmp_path: Path) -> None:
    daemon = Daemon("ghost", tmp_path)
    # A pid file pointing at a live process (this test runner) that started at another time:
    # exactly what a recycled pid looks like.
    fake = {
        "name": "ghost",
        "pid": os.getpid(),
        "start_ticks": (process_start_ticks(os.getpid()) or 0) + 1,
        "command": ["ghost"],
        "endpoint": "none://ghost",
        "started_at": 0.0,
    }
    daemon.pid_path.write_text(json.dumps(fake))

    assert daemon.state()[0] is ProcessState.STALE
    assert daemon.stop() is False  # would have SIGTERMed pytest itself otherwise
    assert not daemon.pid_path.exists()


def test_corrupt_pid_file_is_stale_and_cleaned(tmp_path: Path) -> None:
    daemon = Daemon("torn", tmp_path)
    daemon.pid_path.write_text('{"pid": 12')
    assert daemon.state() == (ProcessState.STALE, None)
    daemon.clean_stale()
    assert daemon.state() == (ProcessState.STOPPED, None)


def test_exit_before_ready_quotes_exit_code_and_log(tmp_path: Path) -> None:
    daemon = Daemon("crasher", tmp_path)
    command = ["sh", "-c", "echo 'fatal: bad config line 7' >&2; exit 3"]
    # The shell may already be gone when start() looks; both paths must give the same error.
    with pytest.raises(StackError, match="exit code 3") as info:
        record = daemon.start(command, "x://")
        daemon.wait_ready(record, lambda: False, 5)
    assert "fatal: bad config line 7" in str(info.value)
    assert not daemon.pid_path.exists()


def test_ready_timeout_names_endpoint_and_quotes_log(tmp_path: Path) -> None:
    daemon = Daemon("slowpoke", tmp_path)
    record = daemon.start(["sh", "-c", "echo warming up; exec sleep 30"], "tcp://127.0.0.1:1")
    try:
        with pytest.raises(StackError, match=r"did not answer at tcp://127\.0\.0\.1:1") as info:
            daemon.wait_ready(record, lambda: False, 0.3)
        assert "warming up" in str(info.value)
    finally:
        daemon.stop()


def test_previous_log_is_kept_after_restart(tmp_path: Path) -> None:
    daemon = Daemon("echo", tmp_path)
    first = daemon.start(["sh", "-c", "echo first run; exec sleep 30"], "x://")
    daemon.wait_ready(first, lambda: "first run" in daemon.log_path.read_text(), 5)
    daemon.stop()
    second = daemon.start(["sh", "-c", "echo second run; exec sleep 30"], "x://")
    daemon.wait_ready(second, lambda: "second run" in daemon.log_path.read_text(), 5)
    daemon.stop()
    assert "first run" in (tmp_path / "echo.log.1").read_text()
