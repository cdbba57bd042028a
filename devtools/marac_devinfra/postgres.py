"""A private PostgreSQL cluster on 127.0.0.1 for dev and tests (not the Debian system cluster).

The cluster lives in one data folder (<repo>/.data/postgres by default): `pgdata/` made by
initdb, the server log, and the unix socket folder. PostgreSQL refuses to run as root, so when
this runs as root every server command runs as the `postgres` OS user through runuser.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from marac_devinfra import DevInfraError, Progress, ServiceStatus, data_root, env_int, processes, quiet
from marac_devinfra.processes import file_size, port_in_use, tail

__all__ = [
    "OS_USER",
    "LocalPostgres",
    "ensure_postgres_installed",
    "find_postgres_bin",
    "initdb_command",
    "pg_ctl_start_command",
    "pg_ctl_stop_command",
    "render_postgres_conf",
    "run_as_prefix",
]

OS_USER = "postgres"  # runs the server when we are root
BOOTSTRAP_ROLE = "postgres"  # superuser made by initdb; reachable only over the unix socket
ROLE = "marac"
PASSWORD = "marac"
CONF_NAME = "marac_dev.conf"
# sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107


def _has_server_binaries(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)


def find_postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/*/bin
    (Debian keeps them off PATH)."""
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found and _has_server_binaries(Path(found).resolve().parent):
            return Path(found).resolve().parent
    candidates = [
        folder
        for folder in Path("/usr/lib/postgresql").glob("*/bin")
        if _has_server_binaries(folder)
    ]
    return max(candidates, key=_version_key) if candidates else None


def ensure_postgres_installed(progress: Progress = quiet) -> Path:
    """The PostgreSQL server binaries folder, installing the Debian package when they are
    missing and we are root on Debian; otherwise a DevInfraError saying what to install."""
    found = find_postgres_bin()
    if found is not None:
        return found
    can_install = (
        os.geteuid() == 0
        and Path("/etc/debian_version").is_file()
        and shutil.which("apt-get") is not None
    )
    if not can_install:
        raise DevInfraError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
            "(Debian/Ubuntu: sudo apt-get install postgresql) or put their folder on PATH"
        )
    progress("PostgreSQL is not installed: running apt-get update ...")
    processes.run(["apt-get", "update"], "apt-get update", timeout=900)
    progress("installing PostgreSQL: apt-get install -y postgresql (a minute or two) ...")
    processes.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
        "apt-get install postgresql",
        timeout=1800,
    )
    found = find_postgres_bin()
    if found is None:
        raise DevInfraError("apt-get installed postgresql but no initdb/pg_ctl was found")
    progress(f"PostgreSQL installed in {found}")
    return found


def run_as_prefix(euid: int, os_user: str = OS_USER) -> list[str]:
    """What to put before a server command so it does not run as root."""
    return ["runuser", "-u", os_user, "--"] if euid == 0 else []


def initdb_command(prefix: Sequence[str], bin_dir: Path, pgdata: Path) -> list[str]:
    return [
        *prefix,
        str(bin_dir / "initdb"),
        "-D",
        str(pgdata),
        "-U",
        BOOTSTRAP_ROLE,
        # The socket lives in the data folder and is trusted; TCP (127.0.0.1) needs a password.
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
    ]


def pg_ctl_start_command(
    prefix: Sequence[str], bin_dir: Path, pgdata: Path, log_file: Path, timeout: float
) -> list[str]:
    return [
        *prefix,
        str(bin_dir / "pg_ctl"),
        "start",
        "-D",
        str(pgdata),
        "-l",
        str(log_file),
        "-w",
        "-t",
        str(max(1, int(timeout))),
    ]


def pg_ctl_stop_command(
    prefix: Sequence[str], bin_dir: Path, pgdata: Path, mode: str, timeout: float
) -> list[str]:
    return [
        *prefix,
        str(bin_dir / "pg_ctl"),
        "stop",
        "-D",
        str(pgdata),
        "-m",
        mode,
        "-w",
        "-t",
        str(max(1, int(timeout))),
    ]


def render_postgres_conf(*, port: int, socket_dir: Path, fast: bool) -> str:
    """Settings included from postgresql.conf; rewritten at every start."""
    settings: list[tuple[str, str]] = [
        ("listen_addresses", "'127.0.0.1'"),
        ("port", str(port)),
        ("unix_socket_directories", f"'{socket_dir}'"),
        # Each test platform opens a pool per service and the key store: room for a busy run.
        ("max_connections", "300"),
        ("timezone", "'UTC'"),
        ("log_timezone", "'UTC'"),
    ]
    if fast:
        # Test databases are thrown away: durability only costs time here.
        settings += [
            ("shared_buffers", "'32MB'"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
        ]
    else:
        settings += [("shared_buffers", "'128MB'")]
    lines = ["# Written by marac_devinfra.postgres at every start; edits are lost."]
    lines += [f"{key} = {value}" for key, value in settings]
    return "\n".join(lines) + "\n"


@dataclass
class LocalPostgres:
    """One private cluster. `start()` is idempotent; `with LocalPostgres(...) as pg:` starts it
    and stops it afterwards (only if this object started it). `fast` turns off fsync and keeps
    shared_buffers small: for throw-away test clusters."""

    data_dir: Path = field(default_factory=lambda: data_root() / "postgres")
    port: int = field(default_factory=lambda: env_int("MARAC_PG_PORT", 5433))
    fast: bool = False
    progress: Progress = quiet
    _started_here: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of a database in this cluster, as the marac superuser."""
        return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) of the running server from postmaster.pid, if it is alive."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        if processes.live_pid(pid, lambda argv: Path(argv[0]).name.startswith("postgres")) is None:
            return None  # gone, or a stale file whose pid now belongs to another program
        return pid, port

    def status(self) -> ServiceStatus:
        running = self._postmaster()
        return ServiceStatus(
            name="PostgreSQL",
            running=running is not None,
            pid=running[0] if running else None,
            address=f"127.0.0.1:{running[1]}" if running else self.address,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    def start(self, timeout: float = 60.0) -> str:
        """Install if needed, initdb once, start, make sure the marac role exists; return
        host:port. A no-op if the cluster already runs."""
        running = self._postmaster()
        if running is not None:
            self.port = running[1]
            self.progress(f"PostgreSQL already running (pid {running[0]}) at {self.address}")
            return self.address
        if port_in_use(self.port):
            raise DevInfraError(
                f"PostgreSQL port 127.0.0.1:{self.port} is already in use by another program; "
                "stop it or choose another port (MARAC_PG_PORT)"
            )
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise DevInfraError(
                f"the data folder path is too long for a unix socket ({socket_path}); "
                "choose a shorter data folder"
            )
        bin_dir = ensure_postgres_installed(self.progress)
        prefix = self._prepare_data_dir()
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initdb(prefix, bin_dir)
        self._check_major_version(bin_dir)
        self._write_conf()
        self.progress(f"starting PostgreSQL on {self.address} (data {self.data_dir})")
        started = time.monotonic()
        log_offset = file_size(self.log_file)
        command = pg_ctl_start_command(prefix, bin_dir, self.pgdata, self.log_file, timeout)
        try:
            processes.run(command, "pg_ctl start", timeout=timeout + 15, cwd=self.data_dir)
        except DevInfraError as exc:
            self._stop_quietly(prefix, bin_dir)
            raise DevInfraError(
                f"PostgreSQL did not start: {exc}\nlast lines of {self.log_file}:\n"
                f"{tail(self.log_file, since=log_offset)}"
            ) from exc
        try:
            self._ensure_role()
        except BaseException:
            self._stop_quietly(prefix, bin_dir)
            raise
        self._started_here = True
        self.progress(f"PostgreSQL ready at {self.address} in {time.monotonic() - started:.1f}s")
        return self.address

    def _os_user(self) -> pwd.struct_passwd | None:
        """The account the server runs as when we are root (created if missing)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(OS_USER)
        except KeyError:
            pass
        self.progress(f"creating the {OS_USER} OS user to run PostgreSQL (it refuses root)")
        processes.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/var/lib/postgresql",
                "--shell",
                "/bin/sh",
                OS_USER,
            ],
            f"useradd {OS_USER}",
            timeout=60,
        )
        return pwd.getpwnam(OS_USER)

    def _prepare_data_dir(self) -> list[str]:
        """Create the data folder (owned by the server's user) and return the command prefix."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        user = self._os_user()
        if user is None:
            return []
        if self.data_dir.stat().st_uid != user.pw_uid:
            for folder, _dirs, files in os.walk(self.data_dir):
                os.chown(folder, user.pw_uid, user.pw_gid)
                for name in files:
                    os.chown(Path(folder) / name, user.pw_uid, user.pw_gid)
        os.chown(self.socket_dir, user.pw_uid, user.pw_gid)
        prefix = run_as_prefix(0, user.pw_name)
        reachable = subprocess.run(
            [*prefix, "test", "-w", str(self.data_dir)], check=False, timeout=30
        )
        if reachable.returncode != 0:
            raise DevInfraError(
                f"the {OS_USER} OS user cannot write {self.data_dir}: every folder above it "
                "must be searchable by others (chmod o+x), or choose another data folder"
            )
        return prefix

    def _initdb(self, prefix: list[str], bin_dir: Path) -> None:
        self.progress(f"creating a PostgreSQL cluster in {self.pgdata} (initdb)")
        processes.run(initdb_command(prefix, bin_dir, self.pgdata), "initdb", 180, cwd=self.data_dir)
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n# Local dev/test settings (marac postgres start)\ninclude '{CONF_NAME}'\n"
            )

    def _check_major_version(self, bin_dir: Path) -> None:
        made_by = (self.pgdata / "PG_VERSION").read_text().strip()
        result = processes.run([str(bin_dir / "postgres"), "--version"], "postgres --version", 30)
        match = re.search(r"(\d+)(?:\.\d+)?", result.stdout)
        running = match.group(1) if match else ""
        if running and running != made_by:
            raise DevInfraError(
                f"{self.pgdata} was made by PostgreSQL {made_by} but {bin_dir} is "
                f"PostgreSQL {running}: remove {self.data_dir} or install version {made_by}"
            )

    def _write_conf(self) -> None:
        path = self.pgdata / CONF_NAME
        path.write_text(
            render_postgres_conf(port=self.port, socket_dir=self.socket_dir, fast=self.fast),
            encoding="utf-8",
        )
        user = self._os_user()
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _ensure_role(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=BOOTSTRAP_ROLE,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
            if exists is None:
                self.progress(f"creating superuser role {ROLE}")
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                        sql.Identifier(ROLE), sql.Literal(PASSWORD)
                    )
                )

    def create_databases(self, names: Sequence[str]) -> list[str]:
        """Create each database that does not exist yet; return the names created."""
        import psycopg
        from psycopg import errors, sql

        created: list[str] = []
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=ROLE,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            for name in names:
                found = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if found is not None:
                    continue
                try:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(name), sql.Identifier(ROLE)
                        )
                    )
                except errors.DuplicateDatabase:
                    continue  # created concurrently by another process
                created.append(name)
                self.progress(f"created database {name}")
        return created

    def stop(self, timeout: float = 60.0, *, discard: bool = False) -> bool:
        """Stop the cluster (fast shutdown, then immediate). False if it was not running.
        `discard`: its data is thrown away next, so immediate at once (no shutdown checkpoint,
        no wait for backends to finish)."""
        running = self._postmaster()
        self._started_here = False
        if running is None:
            return False
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise DevInfraError("PostgreSQL is running but pg_ctl was not found to stop it")
        prefix = run_as_prefix(os.geteuid(), OS_USER)
        self.progress(f"stopping PostgreSQL (pid {running[0]})")
        if discard:
            self._stop_quietly(prefix, bin_dir)
            if self._postmaster() is not None:
                processes.kill(running[0])
            return True
        try:
            processes.run(
                pg_ctl_stop_command(prefix, bin_dir, self.pgdata, "fast", timeout),
                "pg_ctl stop",
                timeout=timeout + 15,
                cwd=self.data_dir,
            )
        except DevInfraError:
            self.progress("fast shutdown failed: stopping PostgreSQL in immediate mode")
            self._stop_quietly(prefix, bin_dir)
            if self._postmaster() is not None:
                # Under pg_ctl the postmaster leads its own session, so this ends its backends
                # too; otherwise they notice its death and exit on their own.
                processes.kill(running[0])
        return True

    def _stop_quietly(self, prefix: list[str], bin_dir: Path) -> None:
        with contextlib.suppress(DevInfraError):
            processes.run(
                pg_ctl_stop_command(prefix, bin_dir, self.pgdata, "immediate", 30),
                "pg_ctl stop",
                timeout=45,
                cwd=self.data_dir,
            )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._started_here:
            self.stop()
