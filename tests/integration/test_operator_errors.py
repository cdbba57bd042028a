"""The README's exit-code table, case by case, with the real `marac` command: an operator's
mistake is one line and exit 2 before anything starts; a failure while running is one line
and exit 1; `--debug` shows the traceback. No broker or database is needed: nothing gets
that far."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from marac_platform import cli
from marac_platform.ports import free_port
from marac_platform.service_spec import Command, ServiceSpec
from services.registry import PROGRAM
from services.registry import SERVICES as DECLARED
from tests.support.kafka_tools import PATIENCE

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AREAS = REPO / "deploy" / "areas.yaml"


def marac(*argv: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROGRAM, *argv], env=env, capture_output=True, text=True,
                          timeout=timeout * PATIENCE, cwd=REPO, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh data folder, the example areas, a broker address nothing answers on (so no
    command can reach a real one), and no configuration inherited from the caller."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("MARAC_", "KAFKA_", "DATABASE_URL", "OTEL_"))}
    return {**clean, "MARAC_DATA_DIR": str(tmp_path / "data"), "MARAC_AREAS_FILE": str(AREAS),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}


def quiet_ports(env: dict[str, str]) -> dict[str, str]:
    """`marac run --services risk` on ports nothing else here uses (others may run a platform)."""
    return {**env, "MARAC_RISK_PORT": str(free_port()), "MARAC_SMTP_PORT": str(free_port()),
            "MARAC_TRACES_PORT": str(free_port())}


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def areas_with(tmp_path: Path, old: str, new: str) -> str:
    text = AREAS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "areas.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_0_a_good_configuration_checks_out(env: dict[str, str]) -> None:
    result = marac("check", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration ok: referral, risk, scheduling, actions, notify; "
                                    "areas northshire, southshire")


@pytest.mark.parametrize(("command", "setting", "value", "expected"), [
    (("check",), "MARAC_CONSUMER_MAX_ATTEMPTS", "abc",
     "MARAC_CONSUMER_MAX_ATTEMPTS: expected a whole number, got 'abc'"),
    (("migrate",), "KAFKA_SSL_CAFILE", "/nonexistent/ca.pem",
     "KAFKA_SSL_CAFILE: no such file /nonexistent/ca.pem"),
    (("worker", "risk"), "MARAC_AREA_KEYS_FILE", "/nonexistent/area-keys.json",
     "MARAC_AREA_KEYS_FILE: no such file /nonexistent/area-keys.json"),
    (("web", "risk"), "MARAC_LOG_LEVEL", "LOUD", "MARAC_LOG_LEVEL: must be DEBUG, INFO, WARNING or ERROR"),
    (("run",), "MARAC_TOPIC_PARTITIONS", "0", "MARAC_TOPIC_PARTITIONS: must be at least 1"),
])
def test_2_a_bad_setting_is_one_line_naming_it(env: dict[str, str], command: tuple[str, ...],
                                               setting: str, value: str, expected: str) -> None:
    result = marac(*command, env={**env, setting: value})
    assert result.returncode == 2
    assert one_line(result) == f"marac {command[0]}: {expected}"
    assert not Path(env["MARAC_DATA_DIR"]).exists()  # nothing made: no database, no key


def service_databases(env: dict[str, str]) -> list[Path]:
    return [path for path in Path(env["MARAC_DATA_DIR"]).glob("*.db") if path.stem in DECLARED]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("retention_days: 2190", "retention_day: 2190", "areas.0.retention_day: Unknown field."),
    ("model: meeting", "model: weekly",
     "areas[northshire].scheduling.model: Must be one of: meeting, coordination."),
    ("visible_high_risk_threshold: 14", "visible_high_risk_threshold: many",
     "areas[northshire].risk.visible_high_risk_threshold: Not a valid integer."),
    ("areas:\n", "areas: [\n", "not valid YAML (ParserError)"),
])
def test_2_a_wrong_areas_file_stops_migrate_before_any_database(
        env: dict[str, str], tmp_path: Path, old: str, new: str, expected: str) -> None:
    # A Kubernetes migration Job that passed would mean pods that crash-loop on the same file.
    areas = areas_with(tmp_path, old, new)
    result = marac("migrate", env={**env, "MARAC_AREAS_FILE": areas})
    assert result.returncode == 2
    assert one_line(result) == f"marac migrate: {areas}: {expected}"
    assert service_databases(env) == []


def test_2_a_taken_web_port_is_named_before_anything_starts(env: dict[str, str], taken_port: int) -> None:
    result = marac("run", "--services", "risk", env={**quiet_ports(env), "MARAC_RISK_PORT": str(taken_port)})
    assert result.returncode == 2
    assert one_line(result) == (f"marac run: risk web port 127.0.0.1:{taken_port}: already in use "
                                f"(choose another with --port, MARAC_RISK_PORT or MARAC_PORT_OFFSET)")
    data = Path(env["MARAC_DATA_DIR"])
    assert not (data / "logs").exists() and service_databases(env) == []  # no process, no database
    assert "topics ready" not in result.stdout

    web = marac("web", "risk", "--port", str(taken_port), env=env)
    assert web.returncode == 2
    assert one_line(web).startswith(f"marac web: risk web port 127.0.0.1:{taken_port}: already in use")


def test_2_a_taken_mail_catcher_port_is_named(env: dict[str, str], taken_port: int) -> None:
    result = marac("run", "--services", "risk", env={**quiet_ports(env), "MARAC_SMTP_PORT": str(taken_port)})
    assert result.returncode == 2
    assert one_line(result) == (f"marac run: local mail catcher (SMTP) port 127.0.0.1:{taken_port}: "
                                f"already in use (choose another with MARAC_SMTP_PORT)")


@pytest.mark.parametrize("which", ["port", "controller port"])
def test_2_a_taken_kafka_port_is_named_before_anything_starts(
        env: dict[str, str], taken_port: int, which: str) -> None:
    kafka_port = taken_port if which == "port" else taken_port - 1
    local = {key: value for key, value in quiet_ports(env).items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
    result = marac("run", "--services", "risk", env={**local, "MARAC_KAFKA_PORT": str(kafka_port)})
    assert result.returncode == 2
    assert one_line(result) == (
        f"marac run: Kafka {which} 127.0.0.1:{taken_port} is already in use by another program; stop it "
        "or choose another port (MARAC_KAFKA_PORT; the controller takes the next one)")
    assert service_databases(env) == [] and "topics ready" not in result.stdout


def test_1_a_failure_while_running_is_one_line_and_debug_shows_the_traceback(env: dict[str, str]) -> None:
    unreachable = {**env, "DATABASE_URL": f"postgresql+psycopg://marac:x@127.0.0.1:{free_port()}/m_{{service}}"}
    result = marac("migrate", "risk", env=unreachable)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("marac migrate: failed: OperationalError: connection failed")
    assert line.endswith("(`marac --debug migrate ...` shows the traceback)")
    debug = marac("--debug", "migrate", "risk", env=unreachable)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_2_debug_shows_an_operator_error_with_its_traceback(env: dict[str, str]) -> None:
    result = marac("--debug", "check", env={**env, "MARAC_CONSUMER_MAX_ATTEMPTS": "abc"})
    assert result.returncode == 2 and "Traceback" in result.stderr and "SettingsError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("marac check: MARAC_CONSUMER_MAX_ATTEMPTS")


def test_3_a_status_of_a_local_server_that_is_not_running(env: dict[str, str], tmp_path: Path) -> None:
    result = marac("kafka", "status", "--data-dir", str(tmp_path / "kafka"), env=env)
    assert result.returncode == 3
    assert "not running" in result.stdout


def test_130_interrupted(capsys: pytest.CaptureFixture[str]) -> None:
    def register(subparsers: cli.argparse._SubParsersAction[cli.argparse.ArgumentParser]) -> None:
        def interrupted(_args: object) -> int:
            raise KeyboardInterrupt

        subparsers.add_parser("wait").set_defaults(func=interrupted)

    risk = DECLARED["risk"]
    spec = ServiceSpec(name=risk.name, title=risk.title, tables=risk.tables, migrations=risk.migrations,
                       app_factory=risk.app_factory, commands=[Command(register)])
    assert cli.main(["wait"], services={"risk": spec}, program=PROGRAM) == 130
    assert capsys.readouterr().err == ""


def test_the_readme_table_lists_these_codes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| exit code |"):].split("\n\n")[0]  # that table alone
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| `")]
    assert rows == ["`0`", "`1`", "`2`", "`3`", "`130`"]
    assert sys.executable  # the commands above ran with this interpreter (PROGRAM)


def test_marac_debug_in_the_environment_is_debug(env: dict[str, str]) -> None:
    result = marac("check", env={**env, "MARAC_DEBUG": "1", "MARAC_CONSUMER_MAX_ATTEMPTS": "abc"})
    assert result.returncode == 2 and "Traceback" in result.stderr
