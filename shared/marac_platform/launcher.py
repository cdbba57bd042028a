"""Start and stop the platform's processes (web and worker of each service) as one group."""

from __future__ import annotations

import contextlib
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


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Platform:
    """Processes of the services, their logs in `log_dir`; stop() ends them all."""

    env: Mapping[str, str]
    log_dir: Path
    services: Sequence[str] = SERVICES
    progress: Callable[[str], None] = lambda _line: None
    processes: list[Process] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{service_port(service, dict(self.env))}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                argv, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.processes.append(Process(name, popen, log_path))

    def start(self, timeout_s: float = 90.0) -> None:
        marac = [sys.executable, "-m", "marac_platform"]
        for service in self.services:
            self._spawn(f"{service}-worker", [*marac, "worker", service])
            self._spawn(f"{service}-web", [*marac, "web", service])
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.services)
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
        for process in self.processes:
            code = process.popen.poll()
            if code is not None:
                raise RuntimeError(f"{process.name} exited with {code}; see {process.log_path}")

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
