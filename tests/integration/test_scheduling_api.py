"""The scheduling API and coordinators' use cases against real PostgreSQL: meetings, agendas,
moves, cancellations, outcomes, the at-risk list, case-list documents and addenda."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from marac_platform import events, payloads
from marac_platform.db import utcnow
from marac_platform.errors import DomainError
from marac_platform.keystore import keystore_for
from marac_platform.problems import domain_problem
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import load_settings, settings_for
from services.scheduling import domain, service
from services.scheduling.app import create_app
from services.scheduling.models import TABLES, Allocation, Meeting
from services.scheduling.wiring import SERVICE as SCHEDULING
from tests.conftest import PlatformEnv
from tests.support.clock import EDGE_SAMPLE, edge_params

# Calendars, cut-offs, case lists and targets read the clock: the suite stands at one
# instant of each kind of edge (platform_env travels there).
pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("clock_start", edge_params(EDGE_SAMPLE))]

AREAS_YAML = """
areas:
  - id: tueshire
    name: Tueshire MARAC
    confidentiality_statement: "Confidential: Tueshire MARAC. ISA signatories only."
    agencies:
      - {id: police, name: Tueshire Police, isa_signed: true}
      - {id: idva, name: Tueshire IDVA, isa_signed: true}
      - {id: probation, name: Tueshire Probation, isa_signed: false}
      - {id: housing, name: Tueshire Housing, isa_signed: true, isa_expires: 2020-03-31}
    scheduling:
      model: meeting
      pattern: {kind: weekly, weekdays: [tue]}
      start_time: "10:00"
      length_minutes: 60
      slot_minutes: 20
      max_cases: 3
      cutoff: {kind: working_days_before, days: 0, time: "09:00"}
      min_notice_days: 0
      caselist_days_before: 1
  - id: coordshire
    name: Coordshire MARAC
    confidentiality_statement: "Confidential: Coordshire MARAC information and updates."
    agencies:
      - {id: police, name: Coordshire Police, isa_signed: true}
      - {id: idva, name: Coordshire IDVA, isa_signed: true}
      - {id: probation, name: Coordshire Probation, isa_signed: true}
    scheduling:
      model: coordination
      pattern: {kind: weekly, weekdays: [wed]}
      max_cases: 5
      cutoff: {kind: working_days_before, days: 0, time: "09:00"}
      min_notice_days: 0
      caselist_days_before: 1
"""


@pytest.fixture
def areas_file(platform_env: PlatformEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "areas.yaml"
    path.write_text(AREAS_YAML, encoding="utf-8")
    monkeypatch.setenv("MARAC_AREAS_FILE", str(path))
    settings_for.cache_clear()
    return path


@pytest.fixture
def runtime(areas_file: Path) -> Iterator[Runtime]:
    built = Runtime(SCHEDULING, settings=load_settings("scheduling"))
    yield built
    built.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[FlaskClient]:
    app = create_app()
    with app.test_client() as test_client:
        yield test_client
    app.extensions["marac_runtime"].db.dispose()


def bearer(platform_env: PlatformEnv, role: str = "coordinator",
           areas: tuple[str, ...] = ("tueshire", "coordshire"), agency: str = "idva") -> dict[str, str]:
    key = (Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=f"{role}-1", agency=agency, role=role, areas=list(areas),
                       audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {token}"}


def accepted(case_id: str, area: str = "tueshire", *, urgent: bool = False,
             received_at: datetime | None = None,
             entry: dict[str, str] | None = None) -> payloads.ReferralAccepted:
    now = utcnow()
    loaded: payloads.ReferralAccepted = payloads.ReferralAcceptedSchema().load({
        "referral_id": f"ref-{case_id}", "case_id": case_id, "area_id": area,
        "received_at": (received_at or now).isoformat(), "accepted_at": now.isoformat(),
        "urgent": urgent, "yes_count": 15, "band": "high", "criteria_met": ["visible_high_risk"],
        "repeat": False, "referrer_agency": "police", "case_list_entry": entry or {},
    })
    return loaded


def allocate(runtime: Runtime, case_id: str, **kwargs: Any) -> Allocation:
    with runtime.unit_of_work() as uow:
        return service.allocate_case(uow, accepted(case_id, **kwargs))


def outbox_events(runtime: Runtime, event_type: str) -> list[dict[str, Any]]:
    outbox = TABLES.outbox
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.headers, outbox.c.value).order_by(outbox.c.id)).all()
    return [json.loads(row.value) for row in rows if row.headers.get("ce_type") == event_type]


def meeting(runtime: Runtime, meeting_id: str) -> Meeting:
    with runtime.unit_of_work() as uow:
        found = uow.session.get(Meeting, meeting_id)
        assert found is not None
        return found


def allocation(runtime: Runtime, case_id: str) -> Allocation:
    with runtime.unit_of_work() as uow:
        found = uow.session.get(Allocation, case_id)
        assert found is not None
        return found


def next_free_weekday(runtime: Runtime, area_id: str, after: date) -> date:
    """A working day after `after` that is not already one of the area's dates."""
    config = service.calendar(runtime, area_id)
    taken = {m.date for m in domain.meeting_dates(config, after, after + timedelta(days=60))}
    day = after + timedelta(days=1)
    while not domain.is_working_day(config, day) or day in taken:
        day += timedelta(days=1)
    return day


def on_tuesday_or_moved_from_one(listed: dict[str, Any]) -> bool:
    """Tueshire meets on Tuesdays; a Tuesday bank holiday's date moves to the next working day."""
    moved_from = listed["moved_from"]
    if moved_from is None:
        return date.fromisoformat(listed["marac_date"]).weekday() == 1
    return date.fromisoformat(moved_from).weekday() == 1 and domain.is_bank_holiday(
        date.fromisoformat(moved_from))


def next_open_weekday(runtime: Runtime, area_id: str) -> date:
    """A free working day whose case list is not yet due, so it can still take cases."""
    config = service.calendar(runtime, area_id)
    day = service.local_today()
    while True:
        day = next_free_weekday(runtime, area_id, day)
        start = domain.local_datetime(day, config.start_time)
        occurrence = domain.MeetingOccurrence(date=day, start=start, end=start, capacity=1)
        if domain.caselist_publish_at(config, occurrence) > utcnow():
            return day


def test_meetings_list_capacity_and_agenda_and_permissions(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    listed = client.get("/v1/meetings?area_id=tueshire&limit=5", headers=bearer(platform_env))
    assert listed.status_code == 200, listed.data
    meetings = listed.get_json()
    assert len(meetings) == 5
    assert all(m["capacity"] == 3 and m["status"] == "planned" for m in meetings)
    assert all(on_tuesday_or_moved_from_one(m) for m in meetings)
    first = allocate(runtime, "case-a1")
    agenda = client.get(f"/v1/meetings/{first.meeting_id}",
                        headers=bearer(platform_env, "agency_rep")).get_json()
    assert agenda["booked"] == 1 and agenda["free"] == 2
    assert [c["case_id"] for c in agenda["cases"]] == ["case-a1"]
    assert agenda["cases"][0]["slot_index"] == 0

    outsider = bearer(platform_env, areas=("coordshire",))
    assert client.get("/v1/meetings?area_id=tueshire", headers=outsider).status_code == 404
    assert client.get(f"/v1/meetings/{first.meeting_id}", headers=outsider).status_code == 404
    assert client.get("/v1/allocations/case-a1", headers=outsider).status_code == 404
    rep = bearer(platform_env, "agency_rep")
    assert client.post(f"/v1/meetings/{first.meeting_id}/cancel", json={"reason": "closure"},
                       headers=rep).status_code == 403
    assert client.get("/v1/allocations/case-a1", headers=rep).status_code == 403

    found = client.get("/v1/allocations/case-a1", headers=bearer(platform_env)).get_json()
    assert found["meeting_id"] == first.meeting_id and found["status"] == "scheduled"
    assert [h["change"] for h in found["history"]] == ["scheduled"]


def test_calendar_preview_counts_added_and_cancelled_dates(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    headers = bearer(platform_env)
    preview = client.get("/v1/areas/tueshire/calendar", headers=headers).get_json()
    assert len(preview) == 12
    assert all(on_tuesday_or_moved_from_one(p) for p in preview)
    second = preview[1]["marac_date"]
    extra = next_free_weekday(runtime, "tueshire", date.fromisoformat(preview[0]["marac_date"]))
    added = client.post("/v1/meetings", json={"area_id": "tueshire", "marac_date": extra.isoformat()},
                        headers=headers)
    assert added.status_code == 201, added.data
    cancelled = client.post(f"/v1/meetings/tueshire-{second}/cancel", json={"reason": "closure"},
                            headers=headers)
    assert cancelled.status_code == 200, cancelled.data
    again = client.get("/v1/areas/tueshire/calendar?count=12", headers=headers).get_json()
    dates = [p["marac_date"] for p in again]
    assert extra.isoformat() in dates and second not in dates and len(dates) == 12
    assert next(p for p in again if p["marac_date"] == extra.isoformat())["ad_hoc"] is True


def test_add_meeting_rules_and_idempotency(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    headers = {**bearer(platform_env), "Idempotency-Key": "add-1"}
    today = service.local_today()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    weekend = client.post("/v1/meetings", json={"area_id": "tueshire",
                                                "marac_date": saturday.isoformat()},
                          headers=bearer(platform_env))
    assert weekend.status_code == 422
    assert [e["field"] for e in weekend.get_json()["errors"]] == ["marac_date"]
    day = next_free_weekday(runtime, "tueshire", today + timedelta(days=7))
    body = {"area_id": "tueshire", "marac_date": day.isoformat(), "capacity": 2}
    first = client.post("/v1/meetings", json=body, headers=headers)
    assert first.status_code == 201, first.data
    assert first.headers["Location"] == f"/v1/meetings/tueshire-{day.isoformat()}"
    assert first.get_json()["ad_hoc"] is True and first.get_json()["capacity"] == 2
    replay = client.post("/v1/meetings", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    duplicate = client.post("/v1/meetings", json=body, headers=bearer(platform_env))
    assert duplicate.status_code == 409
    regular = client.get("/v1/meetings?area_id=tueshire&limit=1", headers=headers).get_json()[0]
    clash = client.post("/v1/meetings", json={"area_id": "tueshire",
                                              "marac_date": regular["marac_date"]},
                        headers=bearer(platform_env))
    assert clash.status_code == 409
    too_big = client.post("/v1/meetings", json={**body, "capacity": 4,
                                                "marac_date": (day + timedelta(days=1)).isoformat()},
                          headers=bearer(platform_env))
    assert too_big.status_code == 422


def test_overflow_move_and_cancel_tell_everyone(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    headers = bearer(platform_env)
    placed = [allocate(runtime, f"case-m{i}") for i in range(4)]
    first, second = placed[0].meeting_id, placed[3].meeting_id
    assert [p.meeting_id for p in placed[:3]] == [first] * 3 and second != first
    assert placed[3].reasons[-1].startswith("full:")  # overflow says why
    assert sorted(p.slot_index or 0 for p in placed[:3]) == [0, 1, 2]

    full = client.post("/v1/allocations/case-m3/move", json={"meeting_id": first,
                                                             "reason": "urgency"}, headers=headers)
    assert full.status_code == 409
    bad = client.post("/v1/allocations/case-m3/move", json={"meeting_id": first,
                                                            "reason": "she is in hospital"},
                      headers=headers)
    assert bad.status_code == 422
    moved = client.post("/v1/allocations/case-m1/move", json={"meeting_id": second,
                                                              "reason": "agency_availability"},
                        headers=headers)
    assert moved.status_code == 200, moved.data
    assert moved.get_json()["meeting_id"] == second and moved.get_json()["slot_index"] == 1
    assert meeting(runtime, first).booked == 2 and meeting(runtime, second).booked == 2
    rescheduled = outbox_events(runtime, events.CASE_RESCHEDULED)
    assert [(r["case_id"], r["previous_meeting_id"], r["meeting_id"], r["cause"], r["reason"])
            for r in rescheduled] == [("case-m1", first, second, "moved", "agency_availability")]
    scheduled = outbox_events(runtime, events.CASE_SCHEDULED)
    assert scheduled[-1]["case_id"] == "case-m1" and scheduled[-1]["rescheduled"] is True

    # The gap case-m1 left is filled by the next case.
    back = client.post("/v1/allocations/case-m3/move", json={"meeting_id": first,
                                                             "reason": "urgency"}, headers=headers)
    assert back.status_code == 200 and back.get_json()["slot_index"] == 1

    cancelled = client.post(f"/v1/meetings/{first}/cancel", json={"reason": "chair_unavailable"},
                            headers={**headers, "Idempotency-Key": "cancel-1"})
    assert cancelled.status_code == 200, cancelled.data
    body = cancelled.get_json()
    assert body["meeting"]["status"] == "cancelled" and body["meeting"]["booked"] == 0
    assert sorted(c["case_id"] for c in body["moved"]) == ["case-m0", "case-m2", "case-m3"]
    assert body["waiting"] == []
    assert all(c["meeting_id"] != first for c in body["moved"])
    notice = outbox_events(runtime, events.MEETING_CANCELLED)
    assert len(notice) == 1 and notice[0]["reason"] == "chair_unavailable"
    assert sorted(notice[0]["moved_case_ids"]) == ["case-m0", "case-m2", "case-m3"]
    causes = [r["cause"] for r in outbox_events(runtime, events.CASE_RESCHEDULED)]
    assert causes.count("meeting_cancelled") == 3
    replay = client.post(f"/v1/meetings/{first}/cancel", json={"reason": "chair_unavailable"},
                         headers={**headers, "Idempotency-Key": "cancel-1"})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert client.post(f"/v1/meetings/{first}/cancel", json={"reason": "closure"},
                       headers=headers).status_code == 409
    with runtime.unit_of_work() as uow:
        for m in uow.session.scalars(select(Meeting).where(Meeting.booked > 0)):
            count = len(uow.session.scalars(
                select(Allocation).where(Allocation.meeting_id == m.id)).all())
            assert m.booked == count <= m.capacity
    upcoming = client.get("/v1/meetings?area_id=tueshire", headers=headers).get_json()
    assert first not in [m["id"] for m in upcoming]


def test_outcomes_heard_and_deferred_in_the_meeting_model(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    heard, deferred = allocate(runtime, "case-o1"), allocate(runtime, "case-o2")
    early = client.post("/v1/allocations/case-o1/outcome", json={"outcome": "heard"},
                        headers=bearer(platform_env))
    assert early.status_code == 409
    during = meeting(runtime, heard.meeting_id or "").starts_at + timedelta(minutes=30)
    with runtime.unit_of_work() as uow:
        service.record_outcome(uow, "case-o1", "heard", "coordinator-1", now=during)
    with runtime.unit_of_work() as uow:
        later = service.record_outcome(uow, "case-o2", "deferred", "coordinator-1", now=during)
        assert later.status == "scheduled" and later.meeting_id != deferred.meeting_id
    outcomes = [(e["case_id"], e["outcome"]) for e in outbox_events(runtime, events.CASE_HEARD)]
    assert outcomes == [("case-o1", "heard"), ("case-o2", "deferred")]
    moved = outbox_events(runtime, events.CASE_RESCHEDULED)
    assert [(r["case_id"], r["cause"]) for r in moved] == [("case-o2", "deferred")]
    assert allocation(runtime, "case-o1").status == "heard"
    with runtime.unit_of_work() as uow, pytest.raises(DomainError) as again:
        service.record_outcome(uow, "case-o1", "heard", "coordinator-1", now=during)
    assert domain_problem(again.value).code == 409
    history = client.get("/v1/allocations/case-o2", headers=bearer(platform_env)).get_json()
    assert [h["change"] for h in history["history"]] == ["scheduled", "deferred", "rescheduled"]


def test_coordination_model_cases_are_heard_at_the_closing_date_once(
    runtime: Runtime,
) -> None:
    placed = [allocate(runtime, f"case-c{i}", area="coordshire") for i in range(2)]
    closing = meeting(runtime, placed[0].meeting_id or "")
    assert closing.model == "coordination" and placed[0].slot_index is None
    after = closing.starts_at + timedelta(minutes=1)
    assert service.close_past_dates(runtime, now=after) == 2
    assert service.close_past_dates(runtime, now=after) == 0
    heard = outbox_events(runtime, events.CASE_HEARD)
    assert sorted(e["case_id"] for e in heard) == ["case-c0", "case-c1"]
    assert {e["outcome"] for e in heard} == {"heard"}
    assert meeting(runtime, closing.id).status == "held"


def test_a_move_the_status_tables_forbid_is_a_409_naming_the_current_and_asked_status(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    headers = bearer(platform_env)
    # A held closing date cannot be cancelled.
    closing = meeting(runtime, allocate(runtime, "case-x0", area="coordshire").meeting_id or "")
    assert service.close_past_dates(runtime, now=closing.starts_at + timedelta(minutes=1)) == 1
    refused = client.post(f"/v1/meetings/{closing.id}/cancel", json={"reason": "closure"},
                          headers=headers)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert (body["current"], body["asked"]) == ("held", "cancelled")
    assert body["type"].endswith("/illegal-move")
    assert body["detail"] == "A meeting that is held cannot become cancelled."
    assert meeting(runtime, closing.id).status == "held"

    # A heard case can be neither moved nor heard again.
    heard = allocate(runtime, "case-x1")
    listed = client.get("/v1/meetings?area_id=tueshire&limit=3", headers=headers).get_json()
    other = next(m["id"] for m in listed if m["id"] != heard.meeting_id)
    during = meeting(runtime, heard.meeting_id or "").starts_at + timedelta(minutes=30)
    with runtime.unit_of_work() as uow:
        service.record_outcome(uow, "case-x1", "heard", "coordinator-1", now=during)
    moved = client.post("/v1/allocations/case-x1/move",
                        json={"meeting_id": other, "reason": "urgency"}, headers=headers)
    assert moved.status_code == 409
    assert (moved.get_json()["current"], moved.get_json()["asked"]) == ("heard", "scheduled")
    again = client.post("/v1/allocations/case-x1/outcome", json={"outcome": "heard"},
                        headers=headers)
    assert again.status_code == 409
    assert (again.get_json()["current"], again.get_json()["asked"]) == ("heard", "heard")
    assert allocation(runtime, "case-x1").meeting_id == heard.meeting_id


def test_at_risk_lists_late_and_waiting_cases(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    allocate(runtime, "case-r0", received_at=utcnow() - timedelta(days=40))  # target passed
    allocate(runtime, "case-r1")
    # Only the meeting already booked stays in reach: once it is full the rest must wait.
    monkeypatch.setattr(domain, "HORIZON_DAYS", 0)
    with runtime.unit_of_work() as uow:
        uow.session.execute(delete(Meeting).where(Meeting.booked == 0))
    for index in range(2, 6):
        allocate(runtime, f"case-r{index}")
    waiting = [c for c in (f"case-r{i}" for i in range(6)) if allocation(runtime, c).status == "waiting"]
    assert waiting, "the single meeting in reach should have filled"
    listed = client.get("/v1/areas/tueshire/at-risk", headers=bearer(platform_env))
    assert listed.status_code == 200, listed.data
    rows = {r["case_id"]: r for r in listed.get_json()}
    assert rows["case-r0"]["days_over"] > 0 and rows["case-r0"]["status"] == "scheduled"
    assert "case-r1" not in rows
    assert all(rows[c]["status"] == "waiting" and rows[c]["days_over"] is None for c in waiting)

    # An added date takes the waiting cases at once.
    day = next_open_weekday(runtime, "tueshire")
    added = client.post("/v1/meetings", json={"area_id": "tueshire", "marac_date": day.isoformat()},
                        headers=bearer(platform_env))
    assert added.status_code == 201, added.data
    assert added.get_json()["booked"] == min(len(waiting), 3)
    still = [c for c in waiting if allocation(runtime, c).status == "waiting"]
    assert len(still) == max(len(waiting) - 3, 0)


def test_case_lists_published_with_addendum_and_read_decrypted(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    store = keystore_for(runtime.settings, runtime.areas.ids())

    def entry(case_id: str) -> dict[str, str]:
        store.create(case_id, "tueshire")
        return {"incidents": store.encrypt(case_id, "case_list.incidents", f"incidents of {case_id}"),
                "safeguarding_in_place": store.encrypt(case_id, "case_list.safeguarding_in_place",
                                                       ["police marker"])}

    first = allocate(runtime, "case-l0", entry=entry("case-l0"))
    target = meeting(runtime, first.meeting_id or "")
    # Every list up to this meeting's goes out (as the timed job would at its time).
    assert service.publish_due_case_lists(runtime, now=target.caselist_due_at) >= 1
    assert service.publish_due_case_lists(runtime, now=target.caselist_due_at) == 0
    late = allocate(runtime, "case-l1", urgent=True, entry=entry("case-l1"))
    assert late.caselist_edition == 1  # its date's list is out: it went on an addendum
    ordinary = allocate(runtime, "case-l2", entry=entry("case-l2"))
    assert ordinary.meeting_id != late.meeting_id
    assert any(r.startswith("caselist_closed:") for r in ordinary.reasons)

    lists = client.get(f"/v1/meetings/{late.meeting_id}/case-lists",
                       headers=bearer(platform_env, "agency_rep"))
    assert lists.status_code == 200, lists.data
    editions = lists.get_json()
    assert [e["edition"] for e in editions] == [0, 1]
    assert [c["case_id"] for c in editions[1]["cases"]] == ["case-l1"]
    addendum = editions[1]["cases"][0]
    assert addendum["details_status"] == "available"
    assert addendum["details"] == {"incidents": "incidents of case-l1",
                                   "safeguarding_in_place": ["police marker"]}
    assert editions[0]["confidentiality_statement"].startswith("Confidential: Tueshire")
    published = outbox_events(runtime, events.CASELIST_PUBLISHED)
    assert [(p["meeting_id"], p["edition"]) for p in published].count((late.meeting_id, 1)) == 1
    assert all(v.startswith("enc1:") for p in published for c in p["cases"]
               for v in c["case_list_entry"].values())

    store.erase("case-l1")
    erased = client.get(f"/v1/meetings/{late.meeting_id}/case-lists",
                        headers=bearer(platform_env, "agency_rep")).get_json()
    assert erased[1]["cases"][0]["details_status"] == "erased"
    assert erased[1]["cases"][0]["details"] is None


def test_each_case_a_case_list_or_an_agenda_shows_is_on_the_audit_trail(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    store = keystore_for(runtime.settings, runtime.areas.ids())

    def entry(case_id: str) -> dict[str, str]:
        store.create(case_id, "tueshire")
        return {"incidents": store.encrypt(case_id, "case_list.incidents", f"incidents of {case_id}")}

    cases = ["case-d0", "case-d1"]
    first, second = (allocate(runtime, case_id, entry=entry(case_id)) for case_id in cases)
    assert first.meeting_id == second.meeting_id
    meeting_id = first.meeting_id or ""
    assert service.publish_due_case_lists(runtime, now=meeting(runtime, meeting_id).caselist_due_at)
    rep = bearer(platform_env, "agency_rep")
    assert client.get(f"/v1/meetings/{meeting_id}/case-lists", headers=rep).status_code == 200
    assert client.get(f"/v1/meetings/{meeting_id}", headers=rep).status_code == 200

    auditor = bearer(platform_env, "auditor", areas=("tueshire",))
    for case_id in cases:
        found = client.get(f"/v1/audit?case_id={case_id}", headers=auditor)
        assert found.status_code == 200, found.data
        reads = {(item["resource"], item["subject"], item["area_id"])
                 for item in found.get_json()["items"] if item["action"] == "read"}
        assert reads == {(f"/v1/meetings/{meeting_id}/case-lists", "agency_rep-1", "tueshire"),
                         (f"/v1/meetings/{meeting_id}", "agency_rep-1", "tueshire")}, case_id


def test_erased_case_leaves_its_date_and_its_case_list_entry(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    kept = allocate(runtime, "case-e0", entry={"incidents": "enc1:AAAAAAAA"})
    gone = allocate(runtime, "case-e1", entry={"incidents": "enc1:BBBBBBBB"})
    assert kept.meeting_id == gone.meeting_id
    with runtime.unit_of_work() as uow:
        assert service.publish_case_list(uow, kept.meeting_id or "", utcnow())
    with runtime.unit_of_work() as uow:
        service.erase_case(uow, payloads.CaseErased(case_id="case-e1", area_id="tueshire",
                                                    reason="request"))
    erased = allocation(runtime, "case-e1")
    assert erased.status == "withdrawn" and erased.meeting_id is None
    assert erased.summary["case_list_entry"] == {}
    assert meeting(runtime, kept.meeting_id or "").booked == 1
    documents = client.get(f"/v1/meetings/{kept.meeting_id}/case-lists",
                           headers=bearer(platform_env)).get_json()
    statuses = {c["case_id"]: c["details_status"] for c in documents[0]["cases"]}
    assert statuses["case-e1"] == "erased"


def test_case_lists_are_read_only_by_agencies_whose_agreement_is_in_force(
    client: FlaskClient, platform_env: PlatformEnv, runtime: Runtime
) -> None:
    store = keystore_for(runtime.settings, runtime.areas.ids())
    store.create("case-isa1", "tueshire")
    listed = allocate(runtime, "case-isa1", entry={
        "incidents": store.encrypt("case-isa1", "case_list.incidents", "incidents of case-isa1")})
    with runtime.unit_of_work() as uow:
        assert service.publish_case_list(uow, listed.meeting_id or "", utcnow())
    lists = f"/v1/meetings/{listed.meeting_id}/case-lists"

    def rep(agency: str, areas: tuple[str, ...] = ("tueshire",), role: str = "agency_rep") -> dict[str, str]:
        return bearer(platform_env, role, areas, agency=agency)

    read = client.get(lists, headers=rep("idva"))
    assert read.status_code == 200, read.data
    assert read.get_json()[0]["cases"][0]["details"]["incidents"] == "incidents of case-isa1"
    # Not signed, lapsed (ended 2020-03-31), not in the area's directory: one refusal for all,
    # before anything is looked up, for agency reps and IDVAs alike.
    refusals = []
    for agency in ("probation", "housing", "stranger-agency"):
        for role in ("agency_rep", "idva"):
            for path in (lists, f"/v1/meetings/{listed.meeting_id}", "/v1/meetings/no-such-meeting",
                         "/v1/meetings?area_id=tueshire"):
                refused = client.get(path, headers=rep(agency, role=role))
                assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
                assert b"incidents of" not in refused.data
                refusals.append(refused.get_json()["detail"])
    assert len(set(refusals)) == 1  # nothing says which of the three it was
    # Signed in its other area (coordshire) does not open this one: 404, as any other area's.
    assert client.get(lists, headers=rep("probation", ("tueshire", "coordshire"))).status_code == 404
    assert client.get(lists, headers=rep("stranger-agency", ("coordshire",))).status_code == 403
    # Coordinators act for the MARAC, whatever agency employs them.
    assert client.get(lists, headers=rep("stranger-agency", role="coordinator")).status_code == 200

    # Every refusal is on the audit trail, with the agency and the status.
    audit = runtime.tables.audit
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(select(audit).where(audit.c.resource == lists)).all()
    refused_rows = {(row.agency, row.role, row.outcome, row.area_id) for row in rows
                    if row.outcome.startswith("4xx")}
    assert refused_rows == {(agency, role, "4xx:403", "tueshire")
                            for agency in ("probation", "housing", "stranger-agency")
                            for role in ("agency_rep", "idva")} | {
        ("probation", "agency_rep", "4xx:404", None),
        ("stranger-agency", "agency_rep", "4xx:403", "coordshire")}
