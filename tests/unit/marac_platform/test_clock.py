"""The one clock: tests stand on any instant; processes start shifted only in test mode; no
rule reads the time any other way."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from marac_platform import clock
from marac_platform.settings import SettingsError, clock_start, load_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def wall_clock() -> Iterator[None]:
    yield
    clock.start_at(None)


def test_the_clock_follows_time_machine() -> None:
    instant = datetime(2028, 2, 29, 23, 30, tzinfo=UTC)  # 29 Feb in London (GMT)
    with time_machine.travel(instant, tick=False):
        assert clock.now() == instant
        assert str(clock.uk_today()) == "2028-02-29"


def test_uk_today_is_london_not_utc() -> None:
    with time_machine.travel(datetime(2026, 6, 30, 23, 30, tzinfo=UTC), tick=False):
        assert str(clock.uk_today()) == "2026-07-01"  # 00:30 BST


def test_a_started_clock_runs_on_from_its_instant() -> None:
    start = datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
    clock.start_at(start)
    assert timedelta(0) <= clock.now() - start < timedelta(seconds=5)
    clock.start_at(start)  # a second runtime in the process does not wind it back
    assert clock.now() >= start
    clock.start_at(None)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    with pytest.raises(ValueError, match="time zone"):
        clock.start_at(datetime(2027, 1, 1))


def test_clock_start_is_refused_outside_test_mode() -> None:
    with pytest.raises(SettingsError, match="MARAC_CLOCK_START: only allowed with MARAC_TEST_MODE=1"):
        load_settings("risk", {"MARAC_CLOCK_START": "2026-12-01T09:00:00+00:00"})
    assert clock_start({"MARAC_CLOCK_START": "2026-12-01T09:00:00+00:00", "MARAC_TEST_MODE": "1"}) \
        == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert clock_start({}) is None
    for bad, reason in (("tuesday", "ISO 8601"), ("2026-12-01T09:00:00", "UTC offset")):
        with pytest.raises(SettingsError, match=reason):
            clock_start({"MARAC_CLOCK_START": bad, "MARAC_TEST_MODE": "1"})


# Calls that read the time behind the clock's back. Tokens keep to the wall clock on purpose
# (their expiry is security, not a MARAC rule): PyJWT checks them against time.time().
FORBIDDEN = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("datetime", "today")}
ALLOWED = {Path("shared/marac_platform/clock.py"), Path("shared/marac_platform/security/tokens.py")}


def _time_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, node.func.attr) in FORBIDDEN or (name, node.func.attr) == ("time", "time"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_no_rule_reads_the_time_but_through_the_clock() -> None:
    sources = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]
    offenders = [hit for path in sources if path.relative_to(ROOT) not in ALLOWED
                 and "migrations" not in path.parts for hit in _time_reads(path)]
    assert offenders == []
