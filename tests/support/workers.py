"""One service's worker processes (`python -m services worker <service>`), started, killed and
stopped by tests, each with its own log file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class Workers:
    def __init__(self, service: str, env: dict[str, str], folder: Path) -> None:
        self.service = service
        self.env = env
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{len(self.running)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "services", "worker", self.service],
                                   env={**self.env, **extra_env}, stdout=log, stderr=log)
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.folder.glob("worker-*.log")))
