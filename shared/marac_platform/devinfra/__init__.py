"""Local dev/test infrastructure (a Kafka broker, a PostgreSQL cluster) run as plain processes.

The classes live in `marac_platform.devinfra.kafka` (LocalKafka, ensure_kafka_jars) and
`marac_platform.devinfra.postgres` (LocalPostgres); this module holds what both share:
where the cache and data folders are, the error type, status reporting and process helpers.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DevInfraError",
    "Progress",
    "ServiceStatus",
    "cache_dir",
    "data_root",
    "env_int",
    "file_size",
    "free_port",
    "pid_alive",
    "port_in_use",
    "process_cmdline",
    "quiet",
    "repo_root",
    "tail",
    "wait_until",
]

Progress = Callable[[str], None]


class DevInfraError(RuntimeError):
    """Local infrastructure could not be fetched, installed, started or stopped; the message
    says what to do about it."""


def quiet(_line: str) -> None:
    """A progress callback that discards everything."""


def repo_root() -> Path:
    """The checkout's root: the nearest folder above this file that holds pyproject.toml."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise DevInfraError(
        f"no pyproject.toml above {here}: local infrastructure needs a source checkout"
    )


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def file_size(path: Path) -> int:
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


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll condition until it holds (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
