"""The pipeline benchmark: the whole platform as real processes (every service's web and
worker) on a private Kafka broker, on SQLite (the embedded default) and on PostgreSQL, next to
the stack's own limit measured on the same broker in the same run. Prints figures and ratios;
asserts nothing. Everything listens on 127.0.0.1 only and every phase is bounded in count and
time.

    .venv/bin/python bench/pipeline.py                       # 2,000 referrals, both databases
    .venv/bin/python bench/pipeline.py -n 300 --db sqlite    # smaller, one database
    .venv/bin/python bench/pipeline.py --year                # and a year of a region (4,100)

Per database: the burst (N referrals, `--concurrency` clients): throughput submitted ->
notified, latency from the intake's acceptance (referrals.received_at) to the e-mail sent
(deliveries.sent_at), CPU seconds per referral of each process, the time per hop from the
records' own timestamps (relay wait: outbox created -> sent; queue wait: sent -> the next
service's inbox; handler: inbox -> the event it wrote, or the delivery); latency one at a time
(`--single`); the intake POST against a hello-world Flask under the same gunicorn settings.
Then the bare kafka-python chain (bench/bare_chain.py) with the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.append(str(REPO))  # tests.support: the STARTTLS and AUTH relay the tests use
# aiosmtpd warns at every login about an attribute it sets itself.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")

from bare_chain import percentile, run_chain  # noqa: E402

from marac_devinfra.kafka import LocalKafka, ensure_kafka_jars  # noqa: E402
from marac_devinfra.postgres import LocalPostgres  # noqa: E402
from marac_platform.checklists import get_checklist  # noqa: E402
from marac_platform.launcher import Platform  # noqa: E402
from marac_platform.ports import free_port  # noqa: E402
from marac_platform.security.tokens import mint_token  # noqa: E402
from marac_platform.settings import SERVICES  # noqa: E402
from services.notify.models import Delivery  # noqa: E402
from services.referral.models import Referral  # noqa: E402
from services.referral.sample import PARTNER_CHECKLIST, sample_referral  # noqa: E402
from services.registry import PROGRAM  # noqa: E402
from services.registry import SERVICES as DECLARED  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The chain, hop by hop: (event type, service that writes it, service that consumes it).
CHAIN = [
    ("marac.referral.submitted.v1", "referral", "risk"),
    ("marac.risk.assessed.v1", "risk", "referral"),
    ("marac.referral.accepted.v1", "referral", "scheduling"),
    ("marac.case.scheduled.v1", "scheduling", "notify"),
]


# --- processes: CPU and memory from /proc -------------------------------------------------


def group_pids(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid:
                    found.append(int(entry))
    return found


def cpu_s(pgid: int) -> float:
    """CPU seconds of a process group: its live processes and the children they reaped."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a server outside the platform (the broker's JVM, PostgreSQL's
    postmaster): the process, the children it reaped, and its live children (the backends)."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(entry) == pid or int(fields[1]) == pid:
                    total += sum(int(v) for v in fields[11:15])
    return total / CLK_TCK


def memory_kib(pgid: int, key: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process group, summed over its processes."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total


# --- the client ---------------------------------------------------------------------------


@dataclass
class Client:
    """Keep-alive HTTP clients, `concurrency` at once, each request timed."""

    host: str
    port: int
    headers: dict[str, str]
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, path: str, bodies: list[bytes], concurrency: int,
            keys: list[str] | None = None) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        work = list(enumerate(bodies))
        work.reverse()

        def worker() -> None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            while True:
                with self._lock:
                    if not work:
                        break
                    index, body = work.pop()
                headers = dict(self.headers)
                if keys:
                    headers["Idempotency-Key"] = keys[index]
                started = time.perf_counter()
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    ok = response.status in (200, 201)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                    ok, data = False, b""
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.latencies.append(elapsed)
                    if ok:
                        answers.append(json.loads(data))
                    else:
                        self.failures += 1
            connection.close()

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers


# --- one platform -------------------------------------------------------------------------


@dataclass
class Stack:
    platform: Platform
    env: dict[str, str]
    servers: dict[str, int]  # the broker's and PostgreSQL's pids: CPU outside the platform
    engines: dict[str, Engine] = field(default_factory=dict)

    def engine(self, service: str) -> Engine:
        if service not in self.engines:
            url = self.env.get("DATABASE_URL")
            if url:
                url = url.replace("{service}", service)
            else:
                url = f"sqlite:///{self.env['MARAC_DATA_DIR']}/{service}.db"
            self.engines[service] = create_engine(url)
        return self.engines[service]

    def areas(self) -> list[str]:
        return [a["id"] for a in yaml.safe_load(Path(self.env["MARAC_AREAS_FILE"]).read_text())["areas"]]

    def token(self) -> str:
        private = (Path(self.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
        return mint_token(private, subject="bench-referrer", agency="police", role="referrer",
                          areas=self.areas(), audience="marac", issuer="marac-dev",
                          issued_at=int(time.time()), ttl_s=7200)

    def client(self) -> Client:
        port = int(self.platform.url("referral").rsplit(":", 1)[1])
        return Client("127.0.0.1", port, {"Authorization": f"Bearer {self.token()}",
                                          "Content-Type": "application/json"})

    def cpu(self) -> dict[str, float]:
        return {p.name: cpu_s(p.popen.pid) for p in self.platform.processes}

    def server_cpu(self) -> dict[str, float]:
        return {name: tree_cpu_s(pid) for name, pid in self.servers.items()}

    def sent(self) -> int:
        with self.engine("notify").connect() as connection:
            return len(connection.execute(select(Delivery.id).where(
                Delivery.status == "sent", Delivery.template == "case_scheduled")).all())

    def states(self) -> dict[str, int]:
        with self.engine("referral").connect() as connection:
            rows = connection.execute(select(Referral.state)).all()
        counts: dict[str, int] = {}
        for (state,) in rows:
            counts[state] = counts.get(state, 0) + 1
        return counts


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    print(f"  ! {what}: not reached within {timeout_s:.0f}s")
    return False


@contextlib.contextmanager
def platform(db: str, bootstrap: str, pg: LocalPostgres | None, areas_file: Path,
             folder: Path, servers: dict[str, int]) -> Iterator[Stack]:
    env = {
        **os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MARAC_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}.", "MARAC_DATA_DIR": str(folder),
        "MARAC_AREAS_FILE": str(areas_file), "MARAC_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if db == "postgres":
        assert pg is not None
        env["DATABASE_URL"] = pg.url(f"bench{uuid.uuid4().hex[:6]}_{{service}}")
    smtp = start_smtp(env)
    for service in SERVICES:
        env[f"MARAC_{service.upper()}_PORT"] = str(free_port())
    for command in (["topics", "create"], ["migrate", "--create-database"]):
        subprocess.run([*PROGRAM, *command], env=env, check=True, stdout=subprocess.DEVNULL)
    launched = Platform(env=env, log_dir=folder / "logs", program=PROGRAM)
    stack = Stack(launched, env, {name: pid for name, pid in servers.items()
                                  if name == "Kafka broker" or db == "postgres"})
    try:
        launched.start(timeout_s=180)
        yield stack
    finally:
        launched.stop()
        smtp.stop()
        for engine in stack.engines.values():
            engine.dispose()


def start_smtp(env: dict[str, str]) -> Any:
    """A relay as a deployment's: STARTTLS and AUTH (notify refuses plain SMTP by default)."""
    from tests.support.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    env.update(server.env())
    return server


def forms(count: int, areas: list[str], repeats: float = 0.0,
          seed_names: list[tuple[str, str]] | None = None) -> list[bytes]:
    ids = list(get_checklist(PARTNER_CHECKLIST).question_ids)
    made: list[bytes] = []
    names: list[tuple[str, str, str]] = []
    for n in range(count):
        area = areas[n % len(areas)]
        if repeats and names and (n * 7919 % 100) < repeats * 100:
            given, family, area = names[(n * 104729) % len(names)]  # a victim referred before
        else:
            tag = uuid.uuid4().hex[:10]
            given, family = f"Given{tag}", f"Family{tag}"
            names.append((given, family, area))
        made.append(json.dumps(sample_referral(ids, area, yes_answers=16, victim_given=given,
                                               victim_family=family)).encode())
    return made


# --- the measurements ---------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def hops(stack: Stack, since: datetime) -> dict[tuple[int, int, str], list[float]]:
    """Per hop, from the records: relay wait, queue wait and handler, and notify's delivery."""
    outboxes: dict[str, dict[tuple[str, str], tuple[datetime, datetime | None, str]]] = {}
    inboxes: dict[str, dict[str, datetime]] = {}
    for service in ("referral", "risk", "scheduling", "notify"):
        tables = DECLARED[service].tables
        with stack.engine(service).connect() as connection:
            if service != "notify":
                rows = connection.execute(select(
                    tables.outbox.c.message_key, tables.outbox.c.headers, tables.outbox.c.created_at,
                    tables.outbox.c.sent_at, tables.outbox.c.event_id).where(
                    tables.outbox.c.created_at >= since)).all()
                outboxes[service] = {}
                for key, headers, created, sent, event_id in rows:
                    kind = (headers if isinstance(headers, dict) else json.loads(headers))["ce_type"]
                    outboxes[service].setdefault((key, kind), (created, sent, event_id))
            inboxes[service] = {event_id: at for event_id, at in connection.execute(select(
                tables.inbox.c.event_id, tables.inbox.c.received_at).where(
                tables.inbox.c.received_at >= since)).all()}
    with stack.engine("notify").connect() as connection:
        deliveries = {case: (created, sent) for case, created, sent in connection.execute(select(
            Delivery.case_id, Delivery.created_at, Delivery.sent_at).where(
            Delivery.created_at >= since, Delivery.template == "case_scheduled")).all()}
    figures: dict[tuple[int, int, str], list[float]] = {}

    def add(name: tuple[int, int, str], value: float) -> None:
        figures.setdefault(name, []).append(value)

    for (key, kind), (created, sent, event_id) in outboxes["referral"].items():
        if kind != CHAIN[0][0]:
            continue
        case = key
        for index, (event_type, writer, reader) in enumerate(CHAIN):
            row = outboxes[writer].get((case, event_type))
            if row is None or row[1] is None:
                break
            created, sent, event_id = row
            received = inboxes[reader].get(event_id)
            if received is None or sent is None:
                break
            family = ".".join(event_type.split(".")[1:3])
            add((index + 1, 0, f"{family} relay wait ({writer})"), (sent - created).total_seconds())
            add((index + 1, 1, f"{family} queue wait ({reader})"), (received - sent).total_seconds())
            if index + 1 < len(CHAIN):
                following = outboxes[reader].get((case, CHAIN[index + 1][0]))
                if following is not None:
                    add((index + 1, 2, f"{family} handler ({reader})"),
                        (following[0] - received).total_seconds())
            elif case in deliveries:
                add((index + 1, 2, f"{family} handler ({reader})"),
                    (deliveries[case][0] - received).total_seconds())
                if deliveries[case][1] is not None:
                    add((index + 2, 0, "delivery job wait + send (notify)"),
                        (deliveries[case][1] - deliveries[case][0]).total_seconds())
    return figures


def latencies(stack: Stack, since: datetime) -> list[float]:
    with stack.engine("referral").connect() as connection:
        received: dict[str, datetime | None] = {
            case: at for case, at in connection.execute(select(
                Referral.case_id, Referral.received_at).where(Referral.received_at >= since)).all()}
    with stack.engine("notify").connect() as connection:
        sent: dict[str | None, datetime | None] = {
            case: at for case, at in connection.execute(select(
                Delivery.case_id, Delivery.sent_at).where(
                Delivery.template == "case_scheduled", Delivery.sent_at.is_not(None))).all()}
    return [(out - at).total_seconds() for case, at in received.items()
            if at is not None and (out := sent.get(case)) is not None]


def bounds(stack: Stack, since: datetime) -> tuple[datetime, datetime, datetime]:
    """The first and the last acceptance since `since`, and the last e-mail sent after it."""
    with stack.engine("referral").connect() as connection:
        accepted = [r for (r,) in connection.execute(select(Referral.received_at).where(
            Referral.received_at >= since)).all()]
    with stack.engine("notify").connect() as connection:
        last_out = max(s for (s,) in connection.execute(select(Delivery.sent_at).where(
            Delivery.sent_at.is_not(None), Delivery.created_at >= since)).all())
    return min(accepted), max(accepted), last_out


def span_of(stack: Stack, since: datetime) -> float:
    """From the first acceptance since `since` to the last e-mail."""
    first, _, last = bounds(stack, since)
    return (last - first).total_seconds()


def drain_of(stack: Stack, since: datetime) -> float:
    """From the last acceptance since `since` to the last e-mail sent after it."""
    _, last_in, last_out = bounds(stack, since)
    return (last_out - last_in).total_seconds()


def pipeline(stack: Stack, count: int, concurrency: int, timeout_s: float) -> dict[str, Any]:
    from marac_platform.clock import now

    bodies = forms(count, stack.areas())
    client = stack.client()
    before_cpu, before_servers = stack.cpu(), stack.server_cpu()
    since = now()
    baseline = stack.sent()
    started = time.monotonic()
    answers = client.run("/v1/referrals?submit=true", bodies, concurrency,
                         keys=[str(uuid.uuid4()) for _ in bodies])
    submitted_s = time.monotonic() - started
    wait(lambda: stack.sent() - baseline >= len(answers), timeout_s, "every referral notified")
    wall = time.monotonic() - started
    after_cpu, after_servers = stack.cpu(), stack.server_cpu()
    lat = latencies(stack, since)
    span = span_of(stack, since)
    cpu = {name: (after_cpu[name] - before_cpu.get(name, 0.0)) / max(1, len(answers))
           for name in after_cpu}
    print(f"  burst: {len(answers)} referrals submitted in {submitted_s:.1f}s "
          f"({len(answers) / submitted_s:.1f}/s, {client.failures} failed), all notified in "
          f"{wall:.1f}s")
    print(f"  sustained throughput submitted -> notified: {len(lat) / span:.1f} referrals/s "
          f"(first acceptance to last e-mail, {span:.1f}s)")
    print(f"  latency acceptance -> e-mail sent: p50 {ms(statistics.median(lat))}, p95 "
          f"{ms(percentile(lat, 0.95))}, p99 {ms(percentile(lat, 0.99))}")
    print("  CPU per referral, per process: " + ", ".join(
        f"{name} {value * 1000:.1f} ms" for name, value in sorted(cpu.items())))
    total_cpu = sum(cpu.values())
    print(f"  CPU per referral, all processes: {total_cpu * 1000:.1f} ms")
    # Not the platform's, nor counted in the ratios (the bare chain's exclude the broker too),
    # but on the same two cores: what is left for the platform under load.
    print("  CPU per referral outside the platform: " + ", ".join(
        f"{name} {(after_servers[name] - before_servers[name]) * 1000 / max(1, len(answers)):.1f} ms"
        for name in sorted(after_servers)))
    print("  where the time goes (mean, p95):")
    for (hop, _, name), values in sorted(hops(stack, since).items()):
        print(f"    {hop} {name:<50} {ms(statistics.mean(values)):>10} {ms(percentile(values, 0.95)):>10}")
    rss = {p.name: memory_kib(p.popen.pid, "VmRSS") for p in stack.platform.processes}
    print(f"  RSS after load, all processes: {sum(rss.values()) / 1024 / 1024:.2f} GiB")
    return {"per_s": len(lat) / span, "cpu_s": total_cpu, "p50": statistics.median(lat)}


def notified_past(stack: Stack, baseline: int) -> bool:
    return stack.sent() > baseline


def one_at_a_time(stack: Stack, count: int) -> None:
    from marac_platform.clock import now

    client = stack.client()
    since = now()
    for body in forms(count, stack.areas()):
        baseline = stack.sent()
        client.run("/v1/referrals?submit=true", [body], 1, keys=[str(uuid.uuid4())])
        if not wait(functools.partial(notified_past, stack, baseline), 30, "notified"):
            break
    lat = latencies(stack, since)
    if lat:
        print(f"  latency one at a time ({len(lat)}): p50 {ms(statistics.median(lat))}, "
              f"p99 {ms(percentile(lat, 0.99))}; per hop (mean):")
        print("    " + ", ".join(f"{hop} {name} {ms(statistics.mean(values))}" for (hop, _, name), values
                                 in sorted(hops(stack, since).items())))


def paced(stack: Stack, rate: float, seconds: float, timeout_s: float) -> None:
    """Referrals submitted at a steady `rate` for `seconds` (open loop: each is sent at its
    slot, whatever the answers before it took), then the latency acceptance -> e-mail sent,
    and whether the queues keep up: the backlog (accepted, not yet notified), sampled once a
    second, in the first and the second half of the phase, and the time the last e-mail came
    after the last submission."""
    from marac_platform.clock import now

    client = stack.client()
    count = max(1, round(rate * seconds))
    bodies = forms(count, stack.areas())
    keys = [str(uuid.uuid4()) for _ in bodies]
    since, baseline = now(), stack.sent()
    accepted = [0]
    lateness: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def submit(index: int) -> None:
        due = started + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with lock:
            lateness.append(max(0.0, -delay))
        if client.run("/v1/referrals?submit=true", [bodies[index]], 1, keys=[keys[index]]):
            with lock:
                accepted[0] += 1

    # Enough senders that a slow answer does not hold back the next slot (Little's law).
    senders = max(4, int(rate * 2))
    slots = iter(range(count))
    slot_lock = threading.Lock()

    def sender() -> None:
        while True:
            with slot_lock:
                index = next(slots, None)
            if index is None:
                return
            submit(index)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    backlog: list[tuple[float, int]] = []
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        backlog.append((time.monotonic() - started, accepted[0] - (stack.sent() - baseline)))
    submitted_s = time.monotonic() - started
    wait(lambda: stack.sent() - baseline >= accepted[0], timeout_s, "every paced referral notified")
    lat = latencies(stack, since)
    drained_s = drain_of(stack, since)
    half = [b for t, b in backlog if t <= seconds / 2], [b for t, b in backlog if t > seconds / 2]
    means = [statistics.mean(h) if h else 0.0 for h in half]
    print(f"  paced {rate:g}/s for {seconds:g}s: {accepted[0]} of {count} accepted in "
          f"{submitted_s:.1f}s ({client.failures} failed, slots late by p99 "
          f"{ms(percentile(lateness, 0.99))}); latency acceptance -> e-mail sent: p50 "
          f"{ms(statistics.median(lat)) if lat else '-'}, p95 "
          f"{ms(percentile(lat, 0.95)) if lat else '-'}, p99 {ms(percentile(lat, 0.99)) if lat else '-'}")
    print(f"    backlog (accepted, not yet notified), mean: first half {means[0]:.1f}, second "
          f"half {means[1]:.1f}, max {max((b for _, b in backlog), default=0)}; the last e-mail "
          f"{ms(drained_s)} after the last acceptance")


def intake(stack: Stack, requests: int, concurrency: int, folder: Path) -> None:
    """The referral POST (?submit=true: validation, encryption, audit, outbox) against a
    hello-world Flask under the same gunicorn settings; the workers are stopped first, so the
    pipeline does not share the CPU with the intake."""
    import signal

    for process in stack.platform.processes:
        if process.name.endswith("-worker"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
    web = next(p for p in stack.platform.processes if p.name == "referral-web")
    client = stack.client()
    bodies = forms(requests, stack.areas())
    cpu_before = cpu_s(web.popen.pid)
    started = time.monotonic()
    client.run("/v1/referrals?submit=true", bodies, concurrency,
               keys=[str(uuid.uuid4()) for _ in bodies])
    elapsed = time.monotonic() - started
    platform_cpu = (cpu_s(web.popen.pid) - cpu_before) / requests
    platform_rate = requests / elapsed
    platform_p99 = percentile(client.latencies, 0.99)

    port = free_port()
    hello = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:marac_platform.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--pythonpath", str(REPO / "bench"),
         "hello_app:app"], env={**stack.env, "MARAC_SERVICE": "hello"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def answers() -> bool:
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("POST", "/hello", body=b"{}")
                return connection.getresponse().status == 201
            return False

        wait(answers, 30, "hello-world answers")
        other = Client("127.0.0.1", port, {"Content-Type": "application/json"})
        cpu_before = cpu_s(hello.pid)
        started = time.monotonic()
        other.run("/hello", [b"{}"] * (requests * 4), concurrency)
        elapsed = time.monotonic() - started
        hello_cpu = (cpu_s(hello.pid) - cpu_before) / (requests * 4)
        hello_rate = requests * 4 / elapsed
        hello_p99 = percentile(other.latencies, 0.99)
    finally:
        os.killpg(hello.pid, signal.SIGTERM)
        hello.wait(20)
    print(f"  intake POST ?submit=true, {concurrency} clients, {requests} requests: "
          f"{platform_rate:.1f} req/s, p99 {ms(platform_p99)}, {platform_cpu * 1000:.1f} ms CPU "
          f"(failed {client.failures})")
    print(f"  hello-world Flask, same gunicorn settings: {hello_rate:.1f} req/s, p99 "
          f"{ms(hello_p99)}, {hello_cpu * 1000:.2f} ms CPU")
    print(f"  intake / hello-world: {platform_rate / hello_rate:.3f} of the requests/s, "
          f"{platform_cpu / hello_cpu:.0f}x the CPU per request")


def year_areas(folder: Path, count: int = 10) -> Path:
    """The example areas file with `count` copies of northshire (a region of `count` areas)."""
    areas = yaml.safe_load((REPO / "deploy" / "areas.yaml").read_text())
    north = next(a for a in areas["areas"] if a["id"] == "northshire")
    region = []
    for n in range(count):
        copy = json.loads(json.dumps(north))
        copy["id"], copy["name"] = f"area{n:02d}", f"Area {n:02d} MARAC"
        copy["partners"] = []
        # The year's repeats are the same victims: no coordinator is played confirming each
        # join, so joins go on unchecked here (a deployment's default holds them).
        copy["screening"] = {**copy.get("screening", {}), "confirm_matches": False}
        region.append(copy)
    target = folder / "region.yaml"
    target.write_text(yaml.safe_dump({"areas": region}))
    return target


def year(stack: Stack, concurrency: int, timeout_s: float, total: int) -> None:
    """About a year of a region's referrals: 10 areas, ~28% repeats of a victim referred before
    (they join the open case), ~3% sent twice by the client (the same Idempotency-Key)."""
    areas = [f"area{n:02d}" for n in range(10)]
    bodies = forms(total, areas, repeats=0.28)
    keys = [str(uuid.uuid4()) for _ in bodies]
    retried = [i for i in range(len(bodies)) if i % 33 == 0]
    bodies += [bodies[i] for i in retried]
    keys += [keys[i] for i in retried]
    client = stack.client()
    started = time.monotonic()
    answers = client.run("/v1/referrals?submit=true", bodies, concurrency, keys=keys)
    unique = {a["id"] for a in answers}

    def done() -> bool:
        states = stack.states()
        return states.get("scheduled", 0) >= len(unique) or sum(states.values()) < len(unique)

    wait(done, timeout_s, "every referral of the year scheduled")
    wait(lambda: stack.sent() >= len({a["case_id"] for a in answers}), 120, "every case notified")
    wall = time.monotonic() - started
    print(f"  a year of a region: {len(bodies)} submissions ({len(retried)} client retries), "
          f"{len(unique)} referrals, {len({a['case_id'] for a in answers})} cases over "
          f"{len(areas)} areas; states {stack.states()}; wall {wall:.1f}s")
    peaks = {p.name: memory_kib(p.popen.pid, "VmHWM") for p in stack.platform.processes}
    print("  peak RSS per process: " + ", ".join(
        f"{name} {kib / 1024:.0f} MiB" for name, kib in sorted(peaks.items())))
    print(f"  peak RSS, all processes: {sum(peaks.values()) / 1024 / 1024:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--referrals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--single", type=int, default=20, help="referrals one at a time")
    parser.add_argument("--intake", type=int, default=300, help="intake POSTs")
    parser.add_argument("--rates", default="5,20",
                        help="referrals/s, each sustained for --rate-seconds ('' for none)")
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--year", action="store_true", help="and a year of a region (4,100)")
    parser.add_argument("--year-referrals", type=int, default=4100)
    parser.add_argument("--timeout", type=float, default=900.0, help="bound per phase, seconds")
    args = parser.parse_args()
    args.referrals = max(1, min(args.referrals, 20_000))
    args.concurrency = max(1, min(args.concurrency, 64))
    rates = [min(100.0, max(0.1, float(r))) for r in args.rates.split(",") if r.strip()]
    args.rate_seconds = max(1.0, min(args.rate_seconds, 600.0))

    print(f"machine: {os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}, "
          f"Python {sys.version.split()[0]}")
    root = Path(tempfile.mkdtemp(prefix="marac-bench-"))
    ensure_kafka_jars()
    broker = LocalKafka(data_dir=root / "kafka", port=free_port(), controller_port=free_port())
    pg: LocalPostgres | None = None
    results: dict[str, dict[str, Any]] = {}
    try:
        bootstrap = broker.start()
        servers = {"Kafka broker": int(broker.pid_file.read_text().split()[0])}
        databases = [d.strip() for d in args.db.split(",") if d.strip()]
        if "postgres" in databases:
            (root / "pg").mkdir()
            (root / "pg").chmod(0o755)
            root.chmod(0o755)
            pg = LocalPostgres(data_dir=root / "pg", port=free_port(), fast=False)
            pg.start()
            postmaster = pg._postmaster()
            if postmaster is not None:
                servers["PostgreSQL server"] = postmaster[0]
        for db in databases:
            print(f"\n== pipeline on {db}: {args.referrals} referrals, {args.concurrency} clients")
            folder = root / db
            folder.mkdir()
            # Ten areas: a burst must find dates (18 places a week an area, 180 days ahead).
            with platform(db, bootstrap, pg, year_areas(folder), folder, servers) as stack:
                one_at_a_time(stack, args.single)
                for rate in rates:
                    paced(stack, rate, args.rate_seconds, args.timeout)
                results[db] = pipeline(stack, args.referrals, args.concurrency, args.timeout)
                intake(stack, args.intake, args.concurrency, folder)
            if args.year:
                print(f"\n== a year of a region on {db}")
                yfolder = root / f"{db}-year"
                yfolder.mkdir()
                with platform(db, bootstrap, pg, year_areas(yfolder), yfolder, servers) as stack:
                    year(stack, args.concurrency, args.timeout, args.year_referrals)
        print(f"\n== bare kafka-python chain, same broker: {args.referrals} messages, 4 hops, "
              "3 partitions, acks=all, idempotent")
        for commit in ("batch", "record"):
            bare = run_chain(bootstrap, args.referrals, commit=commit)
            print(f"  commit per {commit}: {bare['per_s']:.1f} messages/s, "
                  f"{bare['cpu_ms_per_message']:.2f} ms CPU per message, latency p50 "
                  f"{ms(bare['p50_s'])}, p99 {ms(bare['p99_s'])}")
            if commit == "batch":
                for db, figures in results.items():
                    print(f"  {db}: throughput {figures['per_s'] / bare['per_s']:.3f} of the bare "
                          f"chain's; CPU per referral "
                          f"{figures['cpu_s'] * 1000 / bare['cpu_ms_per_message']:.1f}x its CPU "
                          f"per message")
    finally:
        if pg is not None:
            pg.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
