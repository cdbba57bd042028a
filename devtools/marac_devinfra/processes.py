"""The background processes of the local broker and cluster: commands run to completion, pid
files, liveness, waiting until ready, stopping with a timeout, and log tails.

A server here is detached (its own session, so Ctrl-C in the terminal does not reach it) and
found again by its pid file, possibly by another `marac` process than the one that started it;
so liveness is judged from the pid, not from a Popen object.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from marac_devinfra import DevInfraError, Progress, quiet

__all__ = [
    "file_size",
    "kill",
    "live_pid",
    "pid_alive",
    "port_in_use",
    "process_cmdline",
    "read_pid",
    "run",
    "signal_group",
    "stop",
    "tail",
    "wait_ready",
    "wait_until",
]


def run(
    command: Sequence[str], what: str, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure or a timeout is a DevInfraError naming `what`,
    with the last lines of its output."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        result = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise DevInfraError(f"{what} did not finish within {timeout:.0f}s") from exc
    except OSError as exc:
        raise DevInfraError(f"{what} could not run: {exc}") from exc
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise DevInfraError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result


def read_pid(path: Path) -> int | None:
    """The pid in a pid file (its first line), or None when there is no usable one."""
    try:
        return int(path.read_text().splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True until the process has fully exited (all its threads, so its ports and file locks
    are released too). Reaps it if it is a child of this process."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: look at it from the outside
    else:
        # Our child (tests start and stop in one interpreter): alive until it can be reaped.
        return done != pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3 is the state; the command name in field 2 may contain spaces, hence rpartition.
    if stat.rpartition(")")[2].split()[0] != "Z":
        return True
    # A zombie leader whose other threads still run (a JVM mid-exit) still holds its sockets.
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def process_cmdline(pid: int) -> list[str]:
    """The process's argv, or [] when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def live_pid(
    pid: int | None,
    looks_right: Callable[[list[str]], bool],
    child: subprocess.Popen[bytes] | None = None,
) -> int | None:
    """pid, if that process runs and (when its argv can be read) looks_right(argv); None for a
    stale pid file whose process is gone or whose pid now belongs to another program.

    `child` is the Popen of a server this process started: when it is that pid, its poll()
    decides, since pid_alive's reaping would lose the exit code a death report quotes."""
    if pid is None:
        return None
    if child is not None and child.pid == pid:
        if child.poll() is not None:
            return None
    elif not pid_alive(pid):
        return None
    argv = process_cmdline(pid)
    if argv and not looks_right(argv):
        return None
    return pid


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll condition until it holds (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_ready(
    ready: Callable[[], bool],
    *,
    alive: Callable[[], bool],
    timeout: float,
    died: Callable[[], str],
    timed_out: Callable[[], str],
    waiting: str,
    progress: Progress = quiet,
    interval: float = 0.3,
) -> None:
    """Poll until ready() holds; a DevInfraError with died() once alive() fails, or with
    timed_out() after timeout seconds. Says `waiting` every 5 s meanwhile."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5.0
    while True:
        if not alive():
            raise DevInfraError(died())
        if ready():
            return
        now = time.monotonic()
        if now >= deadline:
            raise DevInfraError(timed_out())
        if now >= next_note:
            progress(waiting)
            next_note = now + 5.0
        time.sleep(interval)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a detached server's whole process group (it leads one: start_new_session), or
    the process alone when it leads none; nothing when it has gone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return


def kill(pid: int, wait: float = 10.0) -> bool:
    """SIGKILL the process (and its group); True once it has gone, within `wait` seconds."""
    signal_group(pid, signal.SIGKILL)
    return wait_until(lambda: not pid_alive(pid), wait)


def stop(pid: int, timeout: float, *, name: str, progress: Progress = quiet) -> None:
    """SIGTERM, then SIGKILL after timeout seconds; returns once the process has gone (or 10 s
    after the SIGKILL)."""
    progress(f"stopping {name} (pid {pid})")
    signal_group(pid, signal.SIGTERM)
    if not wait_until(lambda: not pid_alive(pid), timeout):
        progress(f"{name} still running after {timeout:.0f}s: killing it")
        kill(pid)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def file_size(path: Path) -> int:
    """The log's size now: the offset after which a later tail() quotes only this start."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail(path: Path, lines: int = 20, since: int = 0) -> str:
    """The last lines of a log file written after byte offset `since`, or a note that there
    are none (so a report about this start does not quote an earlier one)."""
    try:
        with path.open("rb") as handle:
            handle.seek(since if since <= path.stat().st_size else 0)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) or f"(nothing new in {path})"
