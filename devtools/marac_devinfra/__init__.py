"""Development tools: a local Kafka broker and PostgreSQL cluster run as plain processes.

Not part of the runtime library (marac_platform) and not in the production image: `pip install
-e ".[dev]"` installs this package from devtools/, and `marac` offers its commands (`marac kafka
...`, `marac postgres ...`, `marac_devinfra.commands`) only where it is importable.

The launchers live in `marac_devinfra.kafka` (LocalKafka, ensure_kafka_jars) and
`marac_devinfra.postgres` (LocalPostgres); `marac_devinfra.processes` manages their processes
(pid files, liveness, waiting, stopping, log tails). This module holds what else both share:
where the cache and data folders are, the error type and status reporting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from marac_platform.settings import repo_root

__all__ = [
    "DevInfraError",
    "Progress",
    "ServiceStatus",
    "cache_dir",
    "checkout_file",
    "data_root",
    "env_int",
    "quiet",
]

Progress = Callable[[str], None]


class DevInfraError(RuntimeError):
    """Local infrastructure could not be fetched, installed, started or stopped; the message
    says what to do about it."""


def quiet(_line: str) -> None:
    """A progress callback that discards everything."""


def checkout_file(relative: str) -> Path:
    """A file of the source checkout (e.g. deploy/kafka/pom.xml), which these tools need."""
    path = repo_root() / relative
    if not path.is_file():
        raise DevInfraError(f"no {relative} in {repo_root()}: local infrastructure needs a source checkout")
    return path


def cache_dir() -> Path:
    """Downloaded artefacts (Kafka jars): $MARAC_CACHE_DIR, else <repo>/.cache."""
    configured = os.environ.get("MARAC_CACHE_DIR")
    return Path(configured).expanduser().resolve() if configured else repo_root() / ".cache"


def data_root() -> Path:
    """Default parent of the broker's and the database's data folders: $MARAC_DATA_DIR (as in
    marac_platform.settings), else <repo>/.data."""
    configured = os.environ.get("MARAC_DATA_DIR")
    return Path(configured).expanduser().resolve() if configured else repo_root() / ".data"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DevInfraError(f"{name} must be a port number, not {raw!r}") from None


@dataclass(frozen=True)
class ServiceStatus:
    """What `status()` reports for a local broker or database cluster."""

    name: str
    running: bool
    pid: int | None
    address: str
    data_dir: Path
    log_file: Path

    def describe(self) -> str:
        if self.running:
            return (
                f"{self.name} is running (pid {self.pid}) at {self.address}; "
                f"data {self.data_dir}, log {self.log_file}"
            )
        return f"{self.name} is not running (data {self.data_dir})"
