"""A single-node Kafka (KRaft broker+controller) on 127.0.0.1 for dev and tests, run from jars.

The jars come from Maven Central through deploy/kafka/pom.xml (which pins the version) into
<cache>/kafka-<version>/libs; the broker runs as a plain `java` process with its data, config,
log and pid file in one data folder. No Docker, no Kafka distribution tarball.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from marac_devinfra import (
    DevInfraError,
    Progress,
    ServiceStatus,
    cache_dir,
    checkout_file,
    data_root,
    env_int,
    processes,
    quiet,
)
from marac_devinfra.processes import file_size, port_in_use, tail

__all__ = [
    "DEFAULT_HEAP",
    "LocalKafka",
    "broker_command",
    "ensure_java",
    "ensure_kafka_jars",
    "kafka_version",
    "maven_fetch_command",
    "new_cluster_id",
    "parse_java_major",
    "parse_pom_kafka_version",
    "render_server_properties",
    "storage_format_command",
]

DEFAULT_HEAP = "-Xmx512m -Xms256m"
MIN_JAVA = 17
MARKER = "fetched.txt"
NODE_ID = 1
_MAVEN_NS = "{http://maven.apache.org/POM/4.0.0}"


def kafka_file(name: str) -> Path:
    """deploy/kafka/<name> of the checkout: the pom that pins the jars, the log4j2 config."""
    return checkout_file(f"deploy/kafka/{name}")


def parse_pom_kafka_version(pom_text: str) -> str:
    """The `kafka.version` property of deploy/kafka/pom.xml: the one place the version is pinned."""
    root = ET.fromstring(pom_text)
    node = root.find(f"{_MAVEN_NS}properties/{_MAVEN_NS}kafka.version")
    if node is None:
        node = root.find("properties/kafka.version")
    version = (node.text or "").strip() if node is not None else ""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise DevInfraError(f"deploy/kafka/pom.xml pins no usable kafka.version ({version!r})")
    return version


def kafka_version() -> str:
    return parse_pom_kafka_version(kafka_file("pom.xml").read_text(encoding="utf-8"))


def parse_java_major(version_output: str) -> int | None:
    """The major version in `java -version` output: '1.8.0_402' -> 8, '17.0.15' -> 17."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def _java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def ensure_java() -> str:
    """The path of a Java >= 17 runtime, or a DevInfraError saying how to install one."""
    java = _java_executable()
    hint = f"Java {MIN_JAVA} is needed: apt-get install openjdk-{MIN_JAVA}-jre-headless"
    if java is None:
        raise DevInfraError(hint)
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevInfraError(f"{hint} ({java} -version failed: {exc})") from exc
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = "an unknown version" if major is None else f"Java {major}"
        raise DevInfraError(f"{hint} ({java} is {found})")
    return java


def maven_fetch_command(mvn: str, pom: Path, output_dir: Path) -> list[str]:
    return [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
    ]


def _jars_cached(home: Path) -> bool:
    marker = home / MARKER
    libs = home / "libs"
    try:
        names = marker.read_text(encoding="utf-8").split()
    except OSError:
        return False
    return bool(names) and all((libs / name).is_file() for name in names)


def ensure_kafka_jars(progress: Progress = quiet) -> Path:
    """The folder holding the broker's jars, fetching them with Maven unless already cached.

    The cached case touches neither the network nor Java. A lock file keeps concurrent
    callers (parallel test workers) from fetching into the same folder at once.
    """
    version = kafka_version()
    home = cache_dir() / f"kafka-{version}"
    libs = home / "libs"
    if _jars_cached(home):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _jars_cached(home):  # another process fetched them while we waited
            return libs
        ensure_java()
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevInfraError("Maven is needed: apt-get install maven")
        progress(f"fetching Apache Kafka {version} jars from Maven Central ...")
        started = time.monotonic()
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = maven_fetch_command(mvn, kafka_file("pom.xml"), staging)
        processes.run(
            command, f"fetching the Kafka {version} jars ({shlex.join(command)})", timeout=900
        )
        jars = sorted(path.name for path in staging.glob("*.jar"))
        if not any(name.startswith(f"kafka_2.13-{version}") for name in jars):
            raise DevInfraError(f"Maven ran but {staging} holds no kafka_2.13-{version}.jar")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (home / MARKER).write_text("\n".join(jars) + "\n", encoding="utf-8")
        progress(f"fetched {len(jars)} jars into {libs} in {time.monotonic() - started:.1f}s")
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID, base64url without padding (as Kafka's Uuid prints it)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids these too: they read as a CLI option
            return text


def render_server_properties(*, port: int, controller_port: int, log_dirs: Path) -> str:
    """server.properties of a combined broker+controller that listens on 127.0.0.1 only."""
    settings: list[tuple[str, object]] = [
        ("process.roles", "broker,controller"),
        ("node.id", NODE_ID),
        # A static voter set (not a dynamic quorum formatted with --standalone) stores no
        # endpoint in the metadata log, so the ports may differ from one start to the next.
        ("controller.quorum.voters", f"{NODE_ID}@127.0.0.1:{controller_port}"),
        ("controller.listener.names", "CONTROLLER"),
        ("listeners", f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
        ("advertised.listeners", f"PLAINTEXT://127.0.0.1:{port}"),
        ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
        ("inter.broker.listener.name", "PLAINTEXT"),
        ("log.dirs", log_dirs),
        # Topics are created explicitly (marac topics), so a typo fails instead of inventing one.
        ("auto.create.topics.enable", "false"),
        ("num.partitions", 3),
        ("default.replication.factor", 1),
        ("min.insync.replicas", 1),
        ("offsets.topic.replication.factor", 1),
        # The default 50 partitions per internal topic make the first consumer group or
        # transaction take seconds on a small machine.
        ("offsets.topic.num.partitions", 3),
        ("transaction.state.log.replication.factor", 1),
        ("transaction.state.log.min.isr", 1),
        ("transaction.state.log.num.partitions", 3),
        ("share.coordinator.state.topic.replication.factor", 1),
        ("share.coordinator.state.topic.min.isr", 1),
        ("group.initial.rebalance.delay.ms", 0),
        # The broker heartbeats to its own controller; on a starved machine a 9 s gap (the
        # default) fenced it, and every client then saw no leader until it caught up.
        ("broker.session.timeout.ms", 30_000),
        ("num.network.threads", 2),
        ("num.io.threads", 4),
        ("num.recovery.threads.per.data.dir", 1),
        ("log.segment.bytes", 16 * 1024 * 1024),
        ("log.retention.hours", 24),
        # The broker stamps records itself: tests run the platform's clock on other days
        # (marac_platform/clock.py), and a producer's stamp in the past would fall to the
        # 24-hour retention, one in the future be refused (Kafka 4 allows an hour ahead).
        ("log.message.timestamp.type", "LogAppendTime"),
        ("log.retention.bytes", 256 * 1024 * 1024),
        ("log.retention.check.interval.ms", 60_000),
        # The cleaner's default 128 MiB dedupe buffer is a quarter of the dev heap.
        ("log.cleaner.dedupe.buffer.size", 16 * 1024 * 1024),
    ]
    lines = ["# Written by marac_devinfra.kafka at every start; edits are lost."]
    lines += [f"{key}={value}" for key, value in settings]
    return "\n".join(lines) + "\n"


def storage_format_command(java: str, libs: Path, cluster_id: str, config: Path) -> list[str]:
    return [
        java,
        "-cp",
        f"{libs}/*",
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(config),
    ]


def broker_command(
    java: str, libs: Path, heap: str, config: Path, log_config: Path, logs_dir: Path
) -> list[str]:
    return [
        java,
        *shlex.split(heap),
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        # Without this, log4j warns on the console at every stop that it cannot register its
        # hook while the JVM shuts down; the file appender flushes each line anyway.
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dkafka.logs.dir={logs_dir}",
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(config),
    ]


def _broker_answers(bootstrap: str) -> bool:
    """True once the broker serves metadata and lists itself as an alive broker."""
    from kafka import KafkaAdminClient  # imported late: only needed while waiting

    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    # A broker still booting may drop connections, which kafka-python would log as errors.
    kafka_logger.setLevel(logging.CRITICAL)
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="marac-devinfra-ready-check",
            request_timeout_ms=5_000,
            bootstrap_timeout_ms=5_000,
        )
        cluster = admin.describe_cluster()
        brokers = cluster.get("brokers", []) if isinstance(cluster, dict) else []
        return any(
            broker.get("broker_id", broker.get("node_id")) == NODE_ID
            and not broker.get("is_fenced", False)
            for broker in brokers
        )
    except Exception:
        return False
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()
        kafka_logger.setLevel(level)


@dataclass
class LocalKafka:
    """One local broker. `start()` is idempotent; `with LocalKafka(...) as kafka:` starts it and
    stops it afterwards (only if this object started it)."""

    data_dir: Path = field(default_factory=lambda: data_root() / "kafka")
    port: int = field(default_factory=lambda: env_int("MARAC_KAFKA_PORT", 9092))
    controller_port: int | None = None  # None: port + 1
    heap: str = field(default_factory=lambda: os.environ.get("MARAC_KAFKA_HEAP") or DEFAULT_HEAP)
    progress: Progress = quiet
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _started_here: bool = field(default=False, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if self.controller_port is None:
            self.controller_port = self.port + 1

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j)."""
        return self.data_dir / "server.log"

    @property
    def console_file(self) -> Path:
        """The JVM's stdout/stderr: crashes before logging starts end up here."""
        return self.data_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _cport(self) -> int:
        return self.controller_port if self.controller_port is not None else self.port + 1

    def _running_pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is this data folder's broker."""
        config = str(self.config_file)
        return processes.live_pid(
            processes.read_pid(self.pid_file),
            lambda argv: "kafka.Kafka" in argv and config in argv,
            child=self._process,
        )

    def _running_address(self) -> str:
        """The address the running broker advertises (it may have been started on another port)."""
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except OSError:
            return self.bootstrap_servers
        match = re.search(r"^advertised\.listeners=PLAINTEXT://(\S+)$", text, re.MULTILINE)
        return match.group(1) if match else self.bootstrap_servers

    def _configured_ports(self) -> tuple[int, ...]:
        """The ports in the last written server.properties (those of a running broker)."""
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except OSError:
            return (self.port, self._cport())
        match = re.search(r"^listeners=(.*)$", text, re.MULTILINE)
        found = re.findall(r"127\.0\.0\.1:(\d+)", match.group(1)) if match else []
        return tuple(int(port) for port in found) or (self.port, self._cport())

    def status(self) -> ServiceStatus:
        pid = self._running_pid()
        return ServiceStatus(
            name="Kafka broker",
            running=pid is not None,
            pid=pid,
            address=self._running_address() if pid is not None else self.bootstrap_servers,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )

    def start(self, timeout: float = 120.0) -> str:
        """Start the broker (fetching jars and formatting storage if needed), wait until it
        answers, and return its bootstrap address. A no-op if it already runs."""
        pid = self._running_pid()
        if pid is not None:
            ports = self._configured_ports()
            self.port, self.controller_port = ports[0], ports[-1]
            address = self._running_address()
            self.progress(f"Kafka broker already running (pid {pid}) at {address}")
            return address
        self.pid_file.unlink(missing_ok=True)
        for label, port in (("port", self.port), ("controller port", self._cport())):
            if port_in_use(port):
                raise DevInfraError(
                    f"Kafka {label} 127.0.0.1:{port} is already in use by another program; "
                    "stop it or choose another port (MARAC_KAFKA_PORT; the controller takes the "
                    "next one)"
                )
        libs = ensure_kafka_jars(self.progress)
        java = ensure_java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            render_server_properties(
                port=self.port, controller_port=self._cport(), log_dirs=self.storage_dir
            ),
            encoding="utf-8",
        )
        if not (self.storage_dir / "meta.properties").is_file():
            self._format(java, libs)
        log_config = kafka_file("log4j2.properties")
        command = broker_command(java, libs, self.heap, self.config_file, log_config, self.data_dir)
        self.progress(f"starting Kafka broker on {self.bootstrap_servers} (data {self.data_dir})")
        started = time.monotonic()
        self._log_offset = file_size(self.log_file)
        with self.console_file.open("wb") as console:
            self._process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal must not reach the broker
            )
        self.pid_file.write_text(f"{self._process.pid}\n")
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._started_here = True
        self.progress(
            f"Kafka broker ready at {self.bootstrap_servers} "
            f"in {time.monotonic() - started:.1f}s (pid {self._process.pid})"
        )
        return self.bootstrap_servers

    def _format(self, java: str, libs: Path) -> None:
        cluster_id = new_cluster_id()
        self.progress(f"formatting Kafka storage in {self.storage_dir} (cluster id {cluster_id})")
        command = storage_format_command(java, libs, cluster_id, self.config_file)
        processes.run(command, "formatting Kafka storage", timeout=120, cwd=self.data_dir)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Poll until the broker answers a metadata request; raise if it dies or times out."""
        processes.wait_ready(
            lambda: port_in_use(self.port) and _broker_answers(self.bootstrap_servers),
            alive=lambda: self._running_pid() is not None,
            timeout=timeout,
            died=self._death_report,
            timed_out=lambda: (
                f"Kafka broker did not answer on {self.bootstrap_servers} within "
                f"{timeout:.0f}s; last lines of {self.log_file}:\n"
                f"{tail(self.log_file, since=self._log_offset)}"
            ),
            waiting=f"... waiting for the Kafka broker on {self.bootstrap_servers}",
            progress=self.progress,
        )

    def _death_report(self) -> str:
        code = self._process.poll() if self._process is not None else None
        how = f" (exit code {code})" if code is not None else ""
        report = f"Kafka broker exited during start{how}"
        if file_size(self.console_file) > 0:
            report += f"; last lines of {self.console_file}:\n{tail(self.console_file)}"
        if file_size(self.log_file) > self._log_offset:
            report += (
                f"\nlast lines of {self.log_file}:\n{tail(self.log_file, since=self._log_offset)}"
            )
        return report

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker: SIGTERM, then SIGKILL after timeout seconds. False if it was not
        running."""
        pid = self._running_pid()
        was_running = pid is not None
        if pid is not None:
            processes.stop(pid, timeout, name="Kafka broker", progress=self.progress)
            # The next start checks that both ports are free; let the kernel catch up first.
            ports = self._configured_ports()
            processes.wait_until(lambda: not any(port_in_use(port) for port in ports), 10.0)
        if self._process is not None:
            self._process.poll()  # collect the exit status of a broker this process started
            self._process = None
        self.pid_file.unlink(missing_ok=True)
        self._started_here = False
        return was_running

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
