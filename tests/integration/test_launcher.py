"""`marac run`'s supervision, with tiny real child processes: restart a child that exits, and
give up with a clear line when it keeps exiting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marac_platform.launcher import Platform, exit_reason
from tests.support.kafka_tools import wait_for

pytestmark = pytest.mark.integration

# Exits with 3 on its first run (no marker file yet), then stays up as a healthy child would.
CRASH_ONCE = """
import pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.write_text("ran")
    sys.exit(3)
time.sleep(60)
"""


def platform(tmp_path: Path, lines: list[str], max_restarts: int = 5,
             restart_window_s: float = 600.0) -> Platform:
    return Platform(env={}, log_dir=tmp_path / "logs", services=(), progress=lines.append,
                    max_restarts=max_restarts, restart_window_s=restart_window_s,
                    restart_delay_s=0.05)


def supervise_until(running: Platform, condition: object, timeout_s: float = 20.0) -> None:
    def check() -> bool:
        running.supervise()
        return bool(condition() if callable(condition) else condition)

    wait_for(check, timeout_s, interval_s=0.05)


def test_a_child_that_exits_is_restarted_and_the_platform_goes_on(tmp_path: Path) -> None:
    lines: list[str] = []
    running = platform(tmp_path, lines)
    child = running.spawn("risk-worker", [sys.executable, "-c", CRASH_ONCE,
                                          str(tmp_path / "marker")])
    first_pid = child.popen.pid
    try:
        supervise_until(running, lambda: child.popen.pid != first_pid and child.restart_at is None)
        for _ in range(10):  # the restarted child stays up; nothing more happens
            running.supervise()
        assert child.popen.poll() is None
        assert lines[0].startswith("risk-worker exited with code 3; restarting it in ")
        assert "(restart 1 of at most 5 within 10 min)" in lines[0]
        assert str(child.log_path) in lines[0]
        assert lines[1] == f"risk-worker restarted (pid {child.popen.pid})"
        assert len(lines) == 2
    finally:
        running.stop()
    assert child.popen.poll() is not None


def test_a_child_that_keeps_exiting_is_given_up_with_a_clear_line(tmp_path: Path) -> None:
    lines: list[str] = []
    running = platform(tmp_path, lines, max_restarts=2, restart_window_s=60.0)
    running.spawn("scheduling-worker", [sys.executable, "-c", "import sys; sys.exit(7)"])
    try:
        with pytest.raises(RuntimeError) as raised:
            supervise_until(running, False)
    finally:
        running.stop()
    message = str(raised.value)
    assert message.startswith("scheduling-worker exited with code 7; it exited 3 times within "
                              "1 min, giving up; see ")
    assert len(lines) == 4
    assert lines[0].startswith("scheduling-worker exited with code 7; restarting it in 0.05s "
                               "(restart 1 of at most 2 within 1 min)")
    assert lines[1].startswith("scheduling-worker restarted (pid ")
    assert lines[2].startswith("scheduling-worker exited with code 7; restarting it in 0.1s "
                               "(restart 2 of at most 2 within 1 min)")
    assert lines[3].startswith("scheduling-worker restarted (pid ")


def test_exit_reasons_name_the_code_or_the_signal() -> None:
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-9) == "was killed by SIGKILL"


def test_a_child_that_cannot_start_is_shown_with_its_reason(tmp_path: Path) -> None:
    lines: list[str] = []
    running = platform(tmp_path, lines)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "risk-web.log").write_text("an earlier run's last line\n")
    said = "marac web: areas.yaml: areas[northshire].risk.visible_high_risk_threshold: Not a valid integer."
    child = running.spawn("risk-web", [sys.executable, "-c",
                                       f"import sys; print({said!r}, file=sys.stderr); sys.exit(2)"])
    child.popen.wait(20)
    try:
        with pytest.raises(RuntimeError) as raised:
            running.check_alive()
    finally:
        running.stop()
    assert str(raised.value) == f"risk-web exited with code 2: {said}; see {child.log_path}"


def test_a_restart_line_carries_the_childs_last_logged_message(tmp_path: Path) -> None:
    lines: list[str] = []
    running = platform(tmp_path, lines, max_restarts=1)
    logged = ('import json, sys; print(json.dumps({"level": "ERROR", "message": "timed job failed", '
              '"reason_code": "OperationalError"}), file=sys.stderr); sys.exit(1)')
    running.spawn("actions-worker", [sys.executable, "-c", logged])
    try:
        supervise_until(running, lambda: lines)
    finally:
        running.stop()
    assert lines[0].startswith("actions-worker exited with code 1: timed job failed (OperationalError); "
                               "restarting it in ")


# A launcher that spawns a long-lived child, prints its pid, then waits to be killed.
LAUNCHER = """
import sys, time
from pathlib import Path
from marac_platform.launcher import Platform
platform = Platform(env={}, log_dir=Path(sys.argv[1]), services=())
child = platform.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
print(child.popen.pid, flush=True)
time.sleep(120)
"""


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for its (dead) parent's reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_children_end_when_the_launcher_is_killed(tmp_path: Path) -> None:
    """A launcher killed outright (a test's timeout, `kill -9` of `marac run`) leaves no child
    running on against a broker and database that went with it."""
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path / "logs")],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert launcher.stdout is not None
        child = int(launcher.stdout.readline())
        launcher.kill()
        launcher.wait(10)
        wait_for(lambda: ended(child), 10)
    finally:
        launcher.kill()
