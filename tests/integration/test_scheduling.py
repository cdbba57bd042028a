"""Scheduling over the real broker and PostgreSQL: allocation by a worker process, capacity under
parallel allocators, case lists published exactly once across replicas and restarts."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from marac_platform import events, payloads
from marac_platform.consumer import group_id
from marac_platform.db import utcnow
from marac_platform.runtime import Runtime
from marac_platform.settings import load_settings, settings_for
from services.scheduling import service
from services.scheduling.models import TABLES, Allocation, AllocationChange, CaseList, Meeting
from services.scheduling.wiring import SERVICE as SCHEDULING
from tests.conftest import PlatformEnv
from tests.support.clock import edge_params
from tests.support.kafka_tools import produce, read_all, wait_for
from tests.support.workers import Workers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

# Small meetings every working day, so overflow shows within a few days of any test run.
AREAS_YAML = """
areas:
  - id: weekshire
    name: Weekshire MARAC
    confidentiality_statement: >-
      Confidential: Weekshire MARAC case list, for signatories of the Weekshire
      information-sharing agreement only.
    agencies:
      - {id: police, name: Weekshire Police, isa_signed: true}
      - {id: idva, name: Weekshire IDVA, isa_signed: true}
    scheduling:
      model: meeting
      pattern: {kind: weekly, weekdays: [mon, tue, wed, thu, fri]}
      start_time: "10:00"
      length_minutes: 60
      slot_minutes: 20
      max_cases: 3
      cutoff: {kind: working_days_before, days: 0, time: "09:00"}
      min_notice_days: 0
      caselist_days_before: 1
"""


def write_areas(folder: Path) -> Path:
    path = folder / "areas.yaml"
    path.write_text(AREAS_YAML, encoding="utf-8")
    return path


@pytest.fixture
def areas_file(platform_env: PlatformEnv, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_areas(tmp_path)
    monkeypatch.setenv("MARAC_AREAS_FILE", str(path))
    platform_env.env["MARAC_AREAS_FILE"] = str(path)
    settings_for.cache_clear()
    return path


@pytest.fixture
def runtime(areas_file: Path) -> Iterator[Runtime]:
    built = Runtime(SCHEDULING, settings=load_settings("scheduling"))
    yield built
    built.db.dispose()


def accepted_data(case_id: str, received_at: datetime | None = None,
                  urgent: bool = False) -> dict[str, Any]:
    now = utcnow()
    return {
        "referral_id": f"ref-{case_id}", "case_id": case_id, "area_id": "weekshire",
        "received_at": (received_at or now).isoformat(), "accepted_at": now.isoformat(),
        "urgent": urgent, "yes_count": 16, "band": "high", "criteria_met": ["visible_high_risk"],
        "repeat": False, "referrer_agency": "police",
        "case_list_entry": {"incidents": "enc1:AAAAAAAAAAAAAAAA",
                            "safeguarding_in_place": "enc1:BBBBBBBBBBBBBBBB"},
    }


def send_accepted(platform_env: PlatformEnv, case_id: str) -> None:
    message = events.new_message(events.REFERRAL_ACCEPTED, source="/marac/referral",
                                 subject=case_id, area="weekshire", data=accepted_data(case_id))
    produce(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value,
            message.key.encode(), [(k, v.encode()) for k, v in message.headers.items()])


def allocate_here(runtime: Runtime, case_id: str) -> Allocation:
    """The handler's use case in this process, as a worker would run it for the event."""
    data = payloads.ReferralAcceptedSchema().load(accepted_data(case_id))
    with runtime.unit_of_work() as uow:
        return service.allocate_case(uow, data)


def records(platform_env: PlatformEnv, family: str) -> list[tuple[str, dict[str, Any]]]:
    """(event id, data) of every record on the family's topic."""
    found = read_all(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], events.kafka_topic(family),
                     idle_s=1.0)
    return [(dict(r.headers)["ce_id"].decode(), json.loads(r.value)) for r in found]


@pytest.fixture
def workers(platform_env: PlatformEnv, areas_file: Path, tmp_path: Path) -> Iterator[Workers]:
    started = Workers("scheduling", platform_env.env, tmp_path)
    yield started
    started.stop_all()


def group_size(platform_env: PlatformEnv) -> int:
    """Members of the scheduling consumer group with partitions assigned (0 while rebalancing)."""
    client = KafkaAdminClient(bootstrap_servers=platform_env.env["KAFKA_BOOTSTRAP_SERVERS"])
    try:
        name = group_id("scheduling")  # the workers' group, under this test's topic prefix
        described = client.describe_groups([name])[name]
    finally:
        client.close()
    if described.get("group_state") != "Stable":
        return 0
    return len(described.get("members") or [])


def meeting_counts(runtime: Runtime) -> list[tuple[str, int, int, int]]:
    """(meeting id, capacity, booked, allocations) of every meeting with a case."""
    with runtime.unit_of_work() as uow:
        counted = dict(uow.session.execute(
            select(Allocation.meeting_id, func.count()).group_by(Allocation.meeting_id)).all())
        return [(m.id, m.capacity, m.booked, counted.get(m.id, 0))
                for m in uow.session.scalars(select(Meeting).order_by(Meeting.starts_at))
                if m.booked or m.id in counted]


# The worker process gives the date: it starts on the platform's clock at each instant.
@pytest.mark.parametrize("clock_start", edge_params(("tue-evening", "fri-after-cutoff", "bst-starts")))
def test_accepted_referral_is_scheduled_by_the_worker(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers
) -> None:
    send_accepted(platform_env, "case-w1")
    workers.start()
    try:
        scheduled = wait_for(lambda: records(platform_env, "case.scheduled"), 45)
    except AssertionError:
        pytest.fail(f"no case.scheduled; worker logs:\n{workers.logs()}")
    assert len(scheduled) == 1
    data = scheduled[0][1]
    assert data["case_id"] == "case-w1" and data["area_id"] == "weekshire"
    assert data["rescheduled"] is False and data["model"] == "meeting"
    assert data["slot_index"] == 0
    assert datetime.fromisoformat(data["slot_start"]) == datetime.fromisoformat(data["meeting_start"])
    with runtime.unit_of_work() as uow:
        allocation = uow.session.get(Allocation, "case-w1")
        assert allocation is not None and allocation.status == "scheduled"
        assert allocation.meeting_id == data["meeting_id"]
        meeting = uow.session.get(Meeting, data["meeting_id"])
        assert meeting is not None and meeting.booked == 1
        # Earliest date: nothing earlier and open was passed over without a reason.
        assert meeting.starts_at > utcnow()


def test_threads_allocating_at_once_never_exceed_capacity(runtime: Runtime) -> None:
    cases = [f"case-t{i}" for i in range(10)]
    start = threading.Barrier(len(cases))
    failures: list[BaseException] = []

    def allocate(case_id: str) -> None:
        start.wait()
        for _attempt in range(5):  # as the consumer retries an event
            try:
                allocate_here(runtime, case_id)
                return
            except (service.CapacityTaken, IntegrityError):
                continue
            except BaseException as exc:
                failures.append(exc)
                return
        failures.append(AssertionError(f"{case_id}: not allocated after retries"))

    threads = [threading.Thread(target=allocate, args=(c,)) for c in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert_capacity_held(runtime, cases)


def assert_capacity_held(runtime: Runtime, cases: list[str]) -> None:
    counts = meeting_counts(runtime)
    for meeting_id, capacity, booked, allocated in counts:
        assert booked <= capacity, meeting_id
        assert booked == allocated, meeting_id
    used = [c for c in counts if c[3]]
    # Earliest first: every meeting used but the last is full, and there is no gap.
    assert all(allocated == capacity for _, capacity, _, allocated in used[:-1])
    assert sum(allocated for *_, allocated in used) == len(cases)
    with runtime.unit_of_work() as uow:
        rows = uow.session.scalars(select(Allocation)).all()
        assert sorted(r.case_id for r in rows) == sorted(cases)
        assert all(r.status == "scheduled" for r in rows)
        slots = Counter((r.meeting_id, r.slot_index) for r in rows)
        assert max(slots.values()) == 1
        assert all(r.slot_index is not None and 0 <= r.slot_index < 3 for r in rows)


def test_two_worker_processes_never_exceed_capacity(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers
) -> None:
    workers.start()
    workers.start()
    try:
        wait_for(lambda: group_size(platform_env) == 2, 45, interval_s=0.5)
    except AssertionError:
        pytest.fail(f"workers did not both join; logs:\n{workers.logs()}")
    cases = [f"case-p{i}" for i in range(12)]
    for case_id in cases:
        send_accepted(platform_env, case_id)

    def all_allocated() -> bool:
        with runtime.unit_of_work() as uow:
            return (uow.session.scalar(
                select(func.count()).select_from(Allocation)
                .where(Allocation.status == "scheduled")) or 0) == len(cases)

    try:
        wait_for(all_allocated, 45)
    except AssertionError:
        pytest.fail(f"not all allocated; logs:\n{workers.logs()}")
    assert_capacity_held(runtime, cases)
    scheduled = wait_for(lambda: (found := records(platform_env, "case.scheduled"))
                         and len({d["case_id"] for _, d in found}) == len(cases) and found, 30)
    by_case = {d["case_id"]: d["meeting_id"] for _, d in scheduled}
    with runtime.unit_of_work() as uow:
        for row in uow.session.scalars(select(Allocation)):
            assert by_case[row.case_id] == row.meeting_id
    # The group shared the partitions between the two; each event was handled exactly once.
    with runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TABLES.inbox)) == len(cases)


def make_lists_due(runtime: Runtime, how_many: int) -> list[str]:
    """Book cases into the next meetings, then bring their case lists due now."""
    for index in range(how_many * 3 - 1):  # capacity 3: the last meeting part-full
        allocate_here(runtime, f"case-l{index}")
    with runtime.unit_of_work() as uow:
        ids = list(uow.session.scalars(
            select(Meeting.id).where(Meeting.booked > 0).order_by(Meeting.starts_at)))[:how_many]
        uow.session.execute(update(Meeting).where(Meeting.id.in_(ids))
                            .values(caselist_due_at=utcnow() - timedelta(minutes=1)))
    return ids


def edition_zero_records(platform_env: PlatformEnv) -> list[tuple[str, dict[str, Any]]]:
    return [(event_id, data) for event_id, data in records(platform_env, "caselist.published")
            if data["edition"] == 0]


def all_sent(runtime: Runtime) -> bool:
    outbox = TABLES.outbox
    with runtime.db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.sent_at.is_(None))).scalar() == 0


def test_case_list_is_published_once_with_two_workers(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers
) -> None:
    due = make_lists_due(runtime, 3)
    workers.start()
    workers.start()

    def published() -> bool:
        with runtime.unit_of_work() as uow:
            waiting = uow.session.scalar(
                select(func.count()).select_from(Meeting)
                .where(Meeting.id.in_(due), Meeting.caselist_published_at.is_(None)))
        return waiting == 0 and all_sent(runtime)

    try:
        wait_for(published, 45)
    except AssertionError:
        pytest.fail(f"case lists not published; logs:\n{workers.logs()}")
    lists = edition_zero_records(platform_env)
    # Every list that went out (those made due, and any whose natural time has come) went once.
    per_meeting = Counter(data["meeting_id"] for _, data in lists)
    assert set(due) <= set(per_meeting)
    assert set(per_meeting.values()) == {1}
    assert len({event_id for event_id, _ in lists}) == len(lists)
    with runtime.unit_of_work() as uow:
        stored = uow.session.scalars(select(CaseList)).all()
        assert sorted((c.meeting_id, c.edition) for c in stored) == sorted(
            (m, 0) for m in per_meeting)
        for _, data in lists:
            allocated = uow.session.scalars(select(Allocation.case_id).where(
                Allocation.meeting_id == data["meeting_id"]).order_by(Allocation.slot_index)).all()
            assert [case["case_id"] for case in data["cases"]] == list(allocated)
            assert data["confidentiality_statement"].startswith("Confidential: Weekshire")
            for case in data["cases"]:
                assert set(case["case_list_entry"]) == {"incidents", "safeguarding_in_place"}
                assert all(v.startswith("enc1:") for v in case["case_list_entry"].values())
                assert case["criteria_met"] == ["visible_high_risk"] and case["band"] == "high"


def test_worker_killed_mid_publication_publishes_no_duplicate_after_restart(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers
) -> None:
    due = make_lists_due(runtime, 1)
    crashed = workers.start(MARAC_FAULT=service.FAULT_AFTER_CASELIST_CLAIM)
    try:
        assert crashed.wait(45) == service.FAULT_EXIT_CODE
    except (AssertionError, subprocess.TimeoutExpired):
        pytest.fail(f"the worker did not stop at the fault; logs:\n{workers.logs()}")
    with runtime.unit_of_work() as uow:
        meeting = uow.session.get(Meeting, due[0])
        assert meeting is not None and meeting.caselist_published_at is None
        assert uow.session.scalar(select(func.count()).select_from(CaseList)) == 0
    assert edition_zero_records(platform_env) == []

    workers.start()

    def published() -> bool:
        with runtime.unit_of_work() as uow:
            meeting = uow.session.get(Meeting, due[0])
            return meeting is not None and meeting.caselist_published_at is not None \
                and all_sent(runtime)

    try:
        wait_for(published, 45)
    except AssertionError:
        pytest.fail(f"not published after the restart; logs:\n{workers.logs()}")
    per_meeting = Counter(data["meeting_id"] for _, data in edition_zero_records(platform_env))
    assert per_meeting[due[0]] == 1
    assert set(per_meeting.values()) == {1}


# --- first come, first served; referrals joining a case -------------------------------------
def outbox_events(runtime: Runtime, event_type: str) -> list[dict[str, Any]]:
    outbox = TABLES.outbox
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.headers, outbox.c.value)
                                  .order_by(outbox.c.id)).all()
    return [json.loads(row.value) for row in rows if row.headers.get("ce_type") == event_type]


def accepted_event(case_id: str, referral_id: str, accepted_at: datetime, *,
                   received_at: datetime | None = None,
                   agency: str = "police") -> payloads.ReferralAccepted:
    data = {**accepted_data(case_id, received_at), "referral_id": referral_id,
            "accepted_at": accepted_at.isoformat(), "referrer_agency": agency}
    loaded: payloads.ReferralAccepted = payloads.ReferralAcceptedSchema().load(data)
    return loaded


def test_places_go_in_order_of_acceptance_whatever_order_the_events_arrive_in(
    runtime: Runtime,
) -> None:
    received = utcnow()
    cases = [f"case-f{i}" for i in range(4)]  # accepted 0.1 s apart; 3 places a date
    accepted = {c: received + timedelta(seconds=0.1 * i) for i, c in enumerate(cases)}
    for case_id in reversed(cases):  # the last accepted arrives first
        with runtime.unit_of_work() as uow:
            service.allocate_case(uow, accepted_event(case_id, f"ref-{case_id}",
                                                      accepted[case_id], received_at=received))
    with runtime.unit_of_work() as uow:
        rows = {r.case_id: r for r in uow.session.scalars(select(Allocation))}
        first = rows[cases[0]]
        assert first.marac_date is not None
        assert [rows[c].meeting_id for c in cases[:3]] == [first.meeting_id] * 3
        pushed = rows[cases[3]]
        assert pushed.status == "scheduled" and pushed.marac_date is not None
        assert pushed.marac_date > first.marac_date
        assert f"displaced:{first.marac_date.isoformat()}" in pushed.reasons
        assert pushed.previous_meeting_id == first.meeting_id
    for meeting_id, capacity, booked, allocated in meeting_counts(runtime):
        assert booked == allocated <= capacity, meeting_id
    (moved,) = outbox_events(runtime, events.CASE_RESCHEDULED)
    assert (moved["case_id"], moved["cause"], moved["previous_meeting_id"]) == (
        cases[3], "displaced", first.meeting_id)
    told = [(e["case_id"], e["meeting_id"], e["rescheduled"])
            for e in outbox_events(runtime, events.CASE_SCHEDULED) if e["case_id"] == cases[3]]
    assert told == [(cases[3], first.meeting_id, False), (cases[3], pushed.meeting_id, True)]

    with runtime.unit_of_work() as uow:
        history = uow.session.scalars(select(AllocationChange.change).where(
            AllocationChange.case_id == cases[3]).order_by(AllocationChange.id)).all()
    assert list(history) == ["scheduled", "rescheduled"]


def test_a_referral_joining_a_case_is_told_its_date_heard_with_it_then_given_its_own(
    runtime: Runtime,
) -> None:
    start = utcnow()
    case_id = "case-join"
    with runtime.unit_of_work() as uow:
        service.allocate_case(uow, accepted_event(case_id, "ref-a", start))
    with runtime.unit_of_work() as uow:
        service.allocate_case(uow, accepted_event(case_id, "ref-b", start + timedelta(minutes=5),
                                                  agency="idva"))
        # The same referral accepted again (a resubmission) changes nothing.
        service.allocate_case(uow, accepted_event(case_id, "ref-b", start + timedelta(minutes=6),
                                                  agency="idva"))
    with runtime.unit_of_work() as uow:
        record = uow.session.get(Allocation, case_id)
        assert record is not None and record.status == "scheduled"
        meeting = uow.session.get(Meeting, record.meeting_id)
        assert meeting is not None and meeting.booked == 1  # one case, one place
        heard_from = meeting.starts_at + timedelta(minutes=30)
    told = [(e["referral_id"], e["referrer_agency"], e["meeting_id"], e["rescheduled"])
            for e in outbox_events(runtime, events.CASE_SCHEDULED)]
    assert told == [("ref-a", "police", meeting.id, False), ("ref-b", "idva", meeting.id, False)]

    # Both referrals are heard with the case.
    with runtime.unit_of_work() as uow:
        service.record_outcome(uow, case_id, "heard", "coord-1", now=heard_from)
    heard = [(e["referral_id"], e["outcome"]) for e in outbox_events(runtime, events.CASE_HEARD)]
    assert heard == [("ref-a", "heard"), ("ref-b", "heard")]

    # A referral accepted after the hearing gets a date of its own, and is the one told.
    later = heard_from + timedelta(hours=1)
    with runtime.unit_of_work() as uow:
        service.allocate_case(uow, accepted_event(case_id, "ref-c", later, received_at=later,
                                                  agency="idva"), now=later)
    with runtime.unit_of_work() as uow:
        record = uow.session.get(Allocation, case_id)
        assert record is not None and record.status == "scheduled"
        assert record.referral_id == "ref-c" and record.marac_date is not None
        assert record.marac_date > meeting.marac_date
        assert record.previous_meeting_id == meeting.id
        held = uow.session.get(Meeting, meeting.id)
        assert held is not None and held.booked == 0
        assert service.referrals_of(uow, record) == [("ref-c", "idva")]
    last = outbox_events(runtime, events.CASE_SCHEDULED)[-1]
    assert (last["referral_id"], last["referrer_agency"], last["rescheduled"]) == (
        "ref-c", "idva", False)
    assert last["meeting_id"] == record.meeting_id
