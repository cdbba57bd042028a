"""Start, watch and stop the platform's processes (web and worker of each service) as one group.

A child that exits once it is running is restarted (after a short, growing delay), so one crash
does not stop the platform; one that keeps exiting stops it, with a line saying which and why.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from marac_platform.settings import SERVICES, service_port

PR_SET_PDEATHSIG = 1
# Looked up here, in the parent: the child runs as little Python as possible between fork and
# exec (no dlopen there), since the parent has threads.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PDEATHSIG_ARGS = (ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM))


def _stop_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the launching process dies (Linux), so a
    launcher that is killed (a test's timeout, `kill -9` of `marac run`) leaves no orphans
    retrying against a broker and database that went with it."""
    if _PRCTL is not None:
        _PRCTL(*_PDEATHSIG_ARGS)


@dataclass
class Process:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    exits: list[float] = field(default_factory=list)  # monotonic times, within the window
    restart_at: float | None = None  # set while it waits to be restarted
    log_offset: int = 0  # where this run's lines begin in the (appended) log

    def last_words(self) -> str:
        """The last line this run of the child wrote (its JSON message, or a plain one such as
        the CLI's one-line error): the reason to show, not only the log's path."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                tail = log.read()[-8192:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        if not lines:
            return ""
        last = lines[-1]
        try:
            entry = json.loads(last)
        except ValueError:
            return last[:300]
        if isinstance(entry, dict) and "message" in entry:
            code = entry.get("reason_code") or entry.get("error_type")
            return f"{entry['message']}" + (f" ({code})" if code else "")
        return last[:300]

    def said(self) -> str:
        words = self.last_words()
        return f": {words}" if words else ""


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"


@dataclass
class Platform:
    """Processes of the services, their logs in `log_dir`; stop() ends them all."""

    env: Mapping[str, str]
    log_dir: Path
    services: Sequence[str] = SERVICES
    # Web front ends (the console): a web process each, no worker; started after the services.
    apps: Sequence[str] = ()
    # The `marac` command, as a child process runs it (given by the composition that knows
    # the services: services/registry.py PROGRAM).
    program: Sequence[str] = ()
    progress: Callable[[str], None] = lambda _line: None
    processes: list[Process] = field(default_factory=list)
    max_restarts: int = 5  # restarts of one child within restart_window_s before giving up
    restart_window_s: float = 600.0
    restart_delay_s: float = 1.0  # before the first restart; doubles each time, at most 30 s

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{service_port(service, dict(self.env))}"

    def _popen(self, log_path: Path, argv: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            return subprocess.Popen(
                argv, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_stop_with_parent)

    def spawn(self, name: str, argv: list[str]) -> Process:
        log_path = self.log_dir / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        process = Process(name, argv, self._popen(log_path, argv), log_path, log_offset=offset)
        self.processes.append(process)
        return process

    def start(self, timeout_s: float = 90.0) -> None:
        if not self.program:
            raise RuntimeError("no program to start the services with (Platform.program)")
        marac = list(self.program)
        for service in self.services:
            self.spawn(f"{service}-worker", [*marac, "worker", service])
            self.spawn(f"{service}-web", [*marac, "web", service])
        for app in self.apps:
            self.spawn(f"{app}-web", [*marac, "web", app])
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = [*self.services, *self.apps]
        while pending:
            self.check_alive()
            pending = [s for s in pending if not _answers(self.url(s) + "/readyz")]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)} "
                                   f"(logs in {self.log_dir})")
            time.sleep(0.3)
        self.progress("all services ready")

    def check_alive(self) -> None:
        """While starting: a child that cannot even start is a configuration error, not a crash."""
        for process in self.processes:
            code = process.popen.poll()
            if code is not None:
                raise RuntimeError(f"{process.name} {exit_reason(code)}{process.said()}; "
                                   f"see {process.log_path}")

    def supervise(self) -> None:
        """Call every second or so once running: restarts children that exited; RuntimeError
        (naming the child and its exit) when one exited more than max_restarts times within
        restart_window_s."""
        now = time.monotonic()
        for process in self.processes:
            if process.restart_at is not None:
                if now >= process.restart_at:
                    process.log_offset = process.log_path.stat().st_size if process.log_path.exists() else 0
                    process.popen = self._popen(process.log_path, process.argv)
                    process.restart_at = None
                    self.progress(f"{process.name} restarted (pid {process.popen.pid})")
                continue
            code = process.popen.poll()
            if code is None:
                continue
            window = self.restart_window_s
            process.exits = [t for t in process.exits if now - t < window] + [now]
            exits = len(process.exits)
            if exits > self.max_restarts:
                raise RuntimeError(
                    f"{process.name} {exit_reason(code)}{process.said()}; it exited {exits} times within "
                    f"{_minutes(window)}, giving up; see {process.log_path}")
            delay = min(30.0, self.restart_delay_s * 2 ** (exits - 1))
            process.restart_at = now + delay
            self.progress(
                f"{process.name} {exit_reason(code)}{process.said()}; restarting it in {delay:g}s "
                f"(restart {exits} of at most {self.max_restarts} within {_minutes(window)}); "
                f"see {process.log_path}")

    def stop(self, timeout_s: float = 20.0) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.popen.wait(remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(5)
        self.processes.clear()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
