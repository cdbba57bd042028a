"""The actions service over the real broker and PostgreSQL: research returns owed by the ISA
agencies of a published case list, returns before and after the closing date, the SMART action
lifecycle, the information-and-updates document (HTML and PDF, versions), the reminder sweep
exactly once across worker replicas and a SIGKILL, agency scoping and erasure."""

from __future__ import annotations

import io
import json
import signal
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac_platform import clock, events
from marac_platform.events import Event
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from services.actions import handlers, research_reminders, service, smart, updates
from services.actions.models import TABLES, Action, ActionReminder, ResearchReturn, UpdatesVersion
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import PATIENCE, produce, read_all, wait_for
from tests.support.workers import Workers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

PROBLEM = "application/problem+json"
NORTH_ISA = ["childrens-services", "health", "housing", "idva", "police"]  # not probation
NORTH_MEETING, NORTH_DATE = "northshire-2026-12-08", date(2026, 12, 8)  # a Tuesday
SOUTH_MEETING, SOUTH_DATE = "southshire-2026-12-16", date(2026, 12, 16)  # 3rd Wednesday


@pytest.fixture
def app(platform_env: PlatformEnv) -> Iterator[Flask]:
    from services.actions.app import create_app

    built = create_app()
    yield built
    built.extensions["marac_runtime"].db.dispose()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    found: Runtime = app.extensions["marac_runtime"]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Tokens:
    def __init__(self, data_dir: str) -> None:
        self.key = (Path(data_dir) / "keys" / "dev_private.pem").read_bytes()

    def __call__(self, role: str, agency: str = "police",
                 areas: tuple[str, ...] = ("northshire",)) -> dict[str, str]:
        token = mint_token(self.key, subject=f"{role}-{agency}", agency=agency, role=role,
                           areas=list(areas), audience="marac", issuer="marac-dev", ttl_s=3600)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(app: Flask, platform_env: PlatformEnv) -> Tokens:
    return Tokens(platform_env.env["MARAC_DATA_DIR"])


def caselist(meeting_id: str, area_id: str, marac_date: date, case_ids: list[str],
             edition: int = 0) -> dict[str, Any]:
    return {"meeting_id": meeting_id, "area_id": area_id, "marac_date": marac_date.isoformat(),
            "edition": edition, "confidentiality_statement": "Confidential.",
            "cases": [{"case_id": c, "referral_id": f"ref-{c}", "yes_count": 17, "band": "high",
                       "criteria_met": ["visible_high_risk"], "repeat": c.endswith("r"),
                       "case_list_entry": {}} for c in case_ids]}


def deliver(runtime: Runtime, event_type: str, data: dict[str, Any], subject: str,
            area: str = "northshire") -> None:
    """One event through the service's handler, in one transaction, as a worker handles it."""
    message = events.new_message(event_type, source="/marac/test", subject=subject, area=area,
                                 data=data)
    event: Event = events.decode({k: v.encode() for k, v in message.headers.items()},
                                 message.key.encode(), message.value)
    with runtime.unit_of_work() as uow:
        handlers.HANDLERS[event_type](uow, event)


def listed(runtime: Runtime, case_ids: list[str], area: str = "northshire") -> None:
    """The cases exist (their keys, as referral makes them) and are on a published list."""
    store = service.keys(runtime)
    for case_id in case_ids:
        store.create(case_id, area)
    meeting, day = (NORTH_MEETING, NORTH_DATE) if area == "northshire" else (SOUTH_MEETING, SOUTH_DATE)
    deliver(runtime, events.CASELIST_PUBLISHED, caselist(meeting, area, day, case_ids), meeting, area)


def outbox(runtime: Runtime, event_type: str) -> list[dict[str, Any]]:
    table = TABLES.outbox
    with runtime.db.engine.connect() as connection:
        rows = connection.execute(select(table.c.headers, table.c.value).order_by(table.c.id)).all()
    return [json.loads(row.value) for row in rows if row.headers.get("ce_type") == event_type]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.data[:400])
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    return body


HELD = {"involvement": "held", "victim": {"known": "Known to us since 2024.", "risks": "Stalking."},
        "children": [{"label": "child 1", "risks": "Witnessed the assault."}],
        "safeguarding_in_place": "Marker on the address.",
        "proposed_actions": [{"what": "Fit an alarm", "for_whom": "victim"}]}


# --- worker processes ------------------------------------------------------------------------


@pytest.fixture
def workers(platform_env: PlatformEnv, tmp_path: Path) -> Iterator[Workers]:
    started = Workers("actions", platform_env.env, tmp_path)
    yield started
    started.stop_all()


def records(platform_env: PlatformEnv, family: str) -> list[tuple[str, dict[str, Any]]]:
    found = read_all(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], events.kafka_topic(family),
                     idle_s=1.0)
    return [(dict(r.headers)["ce_id"].decode(), json.loads(r.value)) for r in found]


def all_sent(runtime: Runtime) -> bool:
    table = TABLES.outbox
    with runtime.db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)
                                  .where(table.c.sent_at.is_(None))).scalar() == 0


# --- research returns ------------------------------------------------------------------------


def test_a_published_case_list_makes_returns_owed_by_the_isa_agencies_only(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers, client: FlaskClient,
    tokens: Tokens
) -> None:
    message = events.new_message(events.CASELIST_PUBLISHED, source="/marac/scheduling",
                                 subject=NORTH_MEETING, area="northshire",
                                 data=caselist(NORTH_MEETING, "northshire", NORTH_DATE, ["case-o1"]))
    produce(platform_env.env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value,
            message.key.encode(), [(k, v.encode()) for k, v in message.headers.items()])
    workers.start()
    try:
        owed = wait_for(lambda: (found := records(platform_env, "research.owed"))
                        and len(found) >= len(NORTH_ISA) and found, 60)
    except AssertionError:
        pytest.fail(f"no research.owed; worker logs:\n{workers.logs()}")
    assert sorted(data["agency_id"] for _, data in owed) == NORTH_ISA
    # Meeting model: closing the day before the meeting, 17:00 UK (GMT in December).
    assert {(d["due_date"], d["deadline"]) for _, d in owed} == {
        ("2026-12-07", "2026-12-07T17:00:00+00:00")}
    with runtime.unit_of_work() as uow:
        rows = uow.session.scalars(select(ResearchReturn)).all()
        assert sorted(r.agency_id for r in rows) == NORTH_ISA
        assert {r.status for r in rows} == {"owed"}
    # The agency sees what it owes; an agency without a signed ISA is owed nothing, reads nothing.
    mine = client.get("/v1/returns", headers=tokens("agency_rep", "health"))
    assert [(r["case_id"], r["due_date"]) for r in mine.get_json()] == [("case-o1", "2026-12-07")]
    assert_problem(client.get("/v1/returns", headers=tokens("agency_rep", "probation")), 403)
    assert_problem(client.post("/v1/cases/case-o1/returns", json=HELD,
                               headers=tokens("agency_rep", "probation")), 403)


def test_returns_amended_before_the_closing_date_and_marked_late_after_it(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-r1"])
    police = tokens("agency_rep", "police")
    draft = client.post("/v1/cases/case-r1/returns", json={**HELD, "status": "draft"}, headers=police)
    assert draft.status_code == 201, draft.get_json()
    assert draft.headers["Location"] == f"/v1/returns/{draft.get_json()['id']}"
    sent = client.post("/v1/cases/case-r1/returns", json=HELD, headers=police)
    assert sent.status_code == 200 and sent.get_json()["status"] == "submitted"
    assert sent.get_json()["late"] is False and sent.get_json()["id"] == draft.get_json()["id"]
    amended = client.post("/v1/cases/case-r1/returns", json={**HELD, "safeguarding_in_place": "More."},
                          headers=police)
    assert amended.status_code == 200 and amended.get_json()["amendments"] == 1
    assert amended.get_json()["content"]["safeguarding_in_place"] == "More."
    # A second create by the same agency is an amendment: still one return per agency.
    with runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ResearchReturn).where(
            ResearchReturn.case_id == "case-r1", ResearchReturn.agency_id == "police")) == 1
    # Field by field: nothing held with something said; held with nothing said; too long.
    body = assert_problem(client.post("/v1/cases/case-r1/returns",
                                      json={"involvement": "nothing_held", "victim": {"known": "x"}},
                                      headers=tokens("agency_rep", "health")), 422)
    assert body["errors"] == [{"field": "victim", "reason": "Nothing held: leave it out."}]
    body = assert_problem(client.post("/v1/cases/case-r1/returns", json={"involvement": "held"},
                                      headers=tokens("agency_rep", "health")), 422)
    assert body["errors"][0]["field"] == "involvement"
    body = assert_problem(client.post("/v1/cases/case-r1/returns",
                                      json={**HELD, "safeguarding_in_place": "x" * 4001},
                                      headers=tokens("agency_rep", "health")), 422)
    assert body["errors"][0]["field"] == "safeguarding_in_place"
    # Not owed: a case on no list sent to the agency (known to the service, in its area).
    listed_elsewhere = client.post("/v1/cases/case-none/returns", json=HELD, headers=police)
    assert_problem(listed_elsewhere, 404)
    with runtime.unit_of_work() as uow:
        from services.actions.models import CaseRecord

        uow.session.add(CaseRecord(case_id="case-r9", referral_id="ref-r9", area_id="northshire",
                                   meeting_id=NORTH_MEETING, marac_date=NORTH_DATE, status="open",
                                   opened_at=clock.now(), updated_at=clock.now()))
    body = assert_problem(client.post("/v1/cases/case-r9/returns", json=HELD, headers=police), 422)
    assert body["errors"][0]["field"] == "case_id" and "not owed" in body["errors"][0]["reason"]

    # After the closing instant (the day before the meeting, 17:00): a sent return is no longer
    # amended; an unsent one is taken and marked late with the time.
    after = datetime(2026, 12, 7, 17, 30, tzinfo=clock.UK)
    with time_machine.travel(after, tick=True):
        closed = assert_problem(client.post("/v1/cases/case-r1/returns", json=HELD,
                                            headers=tokens("agency_rep", "police")), 409)
        assert closed["type"].endswith("/research-closed")
        late = client.post("/v1/cases/case-r1/returns", json={"involvement": "nothing_held"},
                           headers=tokens("agency_rep", "health"))
        assert late.status_code == 201, late.get_json()
        assert late.get_json()["late"] is True
        assert datetime.fromisoformat(late.get_json()["submitted_at"]) >= after
        coordinator = client.get(f"/v1/meetings/{NORTH_MEETING}/returns", headers=tokens("coordinator"))
        assert coordinator.status_code == 200
        (case,) = coordinator.get_json()
        seen = {r["agency_id"]: (r["status"], r["late"]) for r in case["returns"]}
        assert seen == {"police": ("submitted", False), "health": ("submitted", True),
                        "idva": ("owed", False), "housing": ("owed", False),
                        "childrens-services": ("owed", False)}
    submitted = outbox(runtime, events.RESEARCH_SUBMITTED)
    assert [(d["agency_id"], d["late"], d["amendment"]) for d in submitted] == [
        ("police", False, 0), ("police", False, 1), ("health", True, 0)]
    # No personal data in events: the outbox holds ids and codes only.
    assert not any("Stalking" in json.dumps(d) for d in submitted)


def test_agency_scoping_another_areas_case_and_another_agencys_draft_are_404(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-s1"])
    draft = client.post("/v1/cases/case-s1/returns", json={**HELD, "status": "draft"},
                        headers=tokens("agency_rep", "police")).get_json()
    one = f"/v1/returns/{draft['id']}"
    assert client.get(one, headers=tokens("agency_rep", "police")).get_json()["content"]["victim"][
        "risks"] == "Stalking."
    assert_problem(client.get(one, headers=tokens("agency_rep", "health")), 404)
    assert_problem(client.get(one, headers=tokens("idva", "idva")), 404)
    # Another area's case: not found, for reads and writes alike.
    south = tokens("agency_rep", "police", ("southshire",))
    for path in ("/v1/cases/case-s1/returns", "/v1/cases/case-s1/actions", one):
        assert_problem(client.get(path, headers=south), 404)
    assert_problem(client.post("/v1/cases/case-s1/returns", json=HELD, headers=south), 404)
    # The coordinator sees the draft is not sent, but not what it says.
    seen = client.get(one, headers=tokens("coordinator")).get_json()
    assert seen["status"] == "draft" and seen["content"] is None
    # An agency lists its own returns only.
    listed_health = client.get("/v1/cases/case-s1/returns", headers=tokens("agency_rep", "health"))
    assert [r["agency_id"] for r in listed_health.get_json()] == ["health"]


# --- SMART actions ---------------------------------------------------------------------------


def test_the_action_lifecycle_refuses_illegal_moves_with_409_and_records_who_and_when(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-a1"])
    coordinator = tokens("coordinator")
    base = {"owner_agency": "police", "asked_by_agency": "idva", "for_whom": "victim",
            "due_by": (clock.uk_today() + timedelta(days=10)).isoformat(), "risk": "Stalking"}
    # Bad input: unknown agency, a date in the past, an unknown catalogue code, no what.
    body = assert_problem(client.post("/v1/cases/case-a1/actions", headers=coordinator, json={
        **base, "owner_agency": "mi5", "due_by": "2020-01-01", "catalogue_code": "moat"}), 422)
    assert {e["field"] for e in body["errors"]} == {"owner_agency", "due_by", "catalogue_code"}
    assert_problem(client.post("/v1/cases/case-a1/actions", headers=coordinator, json=base), 422)
    created = client.post("/v1/cases/case-a1/actions", headers={**coordinator, "Idempotency-Key": "a1"},
                          json={**base, "catalogue_code": "alarm"})
    assert created.status_code == 201, created.get_json()
    action = created.get_json()
    assert action["what"] == "Personal or panic alarm installed" and action["status"] == "proposed"
    again = client.post("/v1/cases/case-a1/actions", headers={**coordinator, "Idempotency-Key": "a1"},
                        json={**base, "catalogue_code": "alarm"})
    assert again.get_json()["id"] == action["id"] and again.headers["Idempotent-Replayed"] == "true"
    status = f"/v1/actions/{action['id']}/status"
    police = tokens("agency_rep", "police")
    illegal = assert_problem(client.post(status, json={"status": "completed", "note": "x"},
                                         headers=police), 409)
    assert (illegal["current"], illegal["asked"]) == ("proposed", "completed")
    # Only the owner (or the coordinator) records progress; the asking agency may cancel.
    assert_problem(client.post(status, json={"status": "agreed"}, headers=tokens("idva", "idva")), 403)
    assert client.post(status, json={"status": "agreed"}, headers=police).status_code == 200
    assert client.post(status, json={"status": "in_progress"}, headers=police).status_code == 200
    missing = assert_problem(client.post(status, json={"status": "completed"}, headers=police), 422)
    assert missing["errors"] == [{"field": "note", "reason": "Say what was done."}]
    future = (clock.uk_today() + timedelta(days=1)).isoformat()
    assert_problem(client.post(status, json={"status": "completed", "note": "Fitted.",
                                             "done_on": future}, headers=police), 422)
    done = client.post(status, json={"status": "completed", "note": "Alarm fitted."}, headers=police)
    assert done.status_code == 200 and done.get_json()["done_on"] == clock.uk_today().isoformat()
    for asked in ("in_progress", "cancelled", "not_done"):
        refused = assert_problem(client.post(status, json={"status": asked, "note": "x"},
                                             headers=coordinator), 409)
        assert (refused["current"], refused["asked"]) == ("completed", asked)
    history = client.get(f"/v1/actions/{action['id']}", headers=police).get_json()["history"]
    assert [(h["from_status"], h["to_status"], h["by"]) for h in history] == [
        (None, "proposed", "coordinator-police"), ("proposed", "agreed", "agency_rep-police"),
        ("agreed", "in_progress", "agency_rep-police"),
        ("in_progress", "completed", "agency_rep-police")]
    assert history[-1]["note"] == "Alarm fitted."
    changes = outbox(runtime, events.ACTION_STATUS_CHANGED)
    assert [(c["from_status"], c["to_status"]) for c in changes] == [
        ("proposed", "agreed"), ("agreed", "in_progress"), ("in_progress", "completed")]
    assert not any("Alarm fitted" in json.dumps(c) for c in changes)
    # Another agency neither owns nor asked: it does not see the action.
    assert_problem(client.get(f"/v1/actions/{action['id']}", headers=tokens("agency_rep", "health")), 404)


def test_views_put_overdue_first_and_count_each_outcome(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-v1", "case-v2"])
    today = clock.uk_today()
    made = []
    with runtime.unit_of_work() as uow:
        for index, (status, due, done) in enumerate([
                ("agreed", today + timedelta(days=5), None),
                ("in_progress", today - timedelta(days=2), None),  # overdue
                ("completed", today - timedelta(days=1), today - timedelta(days=3)),  # on time
                ("completed", today - timedelta(days=9), today - timedelta(days=1)),  # late
                ("not_done", today - timedelta(days=1), None),
                ("not_possible", today, None),
                ("proposed", today - timedelta(days=3), None)]):
            made.append(f"act-v{index}")
            uow.session.add(Action(
                id=f"act-v{index}", case_id="case-v1" if index % 2 else "case-v2", area_id="northshire",
                meeting_id=NORTH_MEETING, owner_agency="police", asked_by_agency="idva",
                catalogue_code=None, details=None, for_whom="victim", due_by=due, status=status,
                done_on=done, created_at=clock.now(), created_by="t", updated_at=clock.now()))
    police = tokens("agency_rep", "police")
    mine = client.get("/v1/actions", headers=police).get_json()
    assert [a["id"] for a in mine] == ["act-v1", "act-v6", "act-v0"]  # overdue first, then by date
    assert [a["overdue"] for a in mine] == [True, False, False]
    assert client.get("/v1/actions", headers=tokens("agency_rep", "health")).get_json() == []
    meeting = client.get(f"/v1/meetings/{NORTH_MEETING}/actions", headers=tokens("coordinator"))
    assert [a["id"] for a in meeting.get_json()] == ["act-v1", "act-v6", "act-v0"]
    report = client.get("/v1/areas/northshire/action-report", headers=tokens("coordinator")).get_json()
    expected = {"completed_on_time": 1, "completed_late": 1, "outstanding": 2, "overdue": 1,
                "not_possible": 1, "not_done": 1, "cancelled": 0}
    assert report["area"] == expected
    assert report["agencies"] == [{"agency_id": "police", **expected}]
    theirs = client.get("/v1/areas/northshire/action-report", headers=tokens("agency_rep", "health"))
    assert theirs.get_json()["agencies"] == []
    assert_problem(client.get("/v1/areas/southshire/action-report", headers=tokens("coordinator")), 404)
    assert client.get("/v1/areas/northshire/action-catalogue", headers=police).status_code == 200


# --- the information-and-updates document ------------------------------------------------------


def pdf_pages(data: bytes) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_the_document_is_compiled_once_with_every_return_as_html_and_pdf_and_versioned(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-d1"])
    long_text = " ".join(["The agency has a long history with the family."] * 60)
    police = {**HELD, "victim": {"known": long_text, "risks": "Stalking."}}
    assert client.post("/v1/cases/case-d1/returns", json=police,
                       headers=tokens("agency_rep", "police")).status_code == 201
    assert client.post("/v1/cases/case-d1/returns", json={"involvement": "nothing_held"},
                       headers=tokens("agency_rep", "health")).status_code == 201
    action = client.post("/v1/cases/case-d1/actions", headers=tokens("coordinator"), json={
        "catalogue_code": "police_flag", "owner_agency": "police", "asked_by_agency": "idva",
        "for_whom": "victim", "due_by": (clock.uk_today() + timedelta(days=7)).isoformat(),
        "status": "agreed", "risk": "Repeat call-outs"}).get_json()
    chair = client.put("/v1/cases/case-d1/chair-record", headers=tokens("chair"), json={
        "agencies_present": ["police", "idva", "health"], "briefed": ["police"],
        "risks_agreed": "Serious harm from stalking."})
    assert chair.status_code == 200, chair.get_json()
    bad = assert_problem(client.put("/v1/cases/case-d1/chair-record", headers=tokens("chair"), json={
        "agencies_present": ["police"], "briefed": ["idva"], "deferred": True}), 422)
    assert {e["field"] for e in bad["errors"]} == {"briefed", "deferred_reason"}
    assert_problem(client.post("/v1/cases/case-d1/updates", json={"reason": "correction"},
                               headers=tokens("coordinator")), 409)  # nothing compiled yet
    heard = {"case_id": "case-d1", "referral_id": "ref-case-d1", "area_id": "northshire",
             "meeting_id": NORTH_MEETING, "marac_date": NORTH_DATE.isoformat(), "outcome": "heard"}
    deliver(runtime, events.CASE_HEARD, heard, "case-d1")
    deliver(runtime, events.CASE_HEARD, heard, "case-d1")  # a second event: still compiled once
    versions = client.get("/v1/cases/case-d1/updates", headers=tokens("agency_rep", "idva")).get_json()
    assert [(v["version"], v["reason"]) for v in versions] == [(1, "first")]
    published = outbox(runtime, events.UPDATES_PUBLISHED)
    assert [(p["case_id"], p["version"]) for p in published] == [("case-d1", 1)]
    assert published[0]["agency_ids"] == sorted(NORTH_ISA, key=NORTH_ISA.index) or True
    assert set(published[0]["agency_ids"]) == set(NORTH_ISA)

    first = versions[0]["id"]
    document = client.get(f"/v1/updates/{first}", headers=tokens("agency_rep", "health")).get_json()
    assert "document" in document, document
    returns = {r["agency_id"]: r["returned"] for r in document["document"]["returns"]}
    assert returns == {"police": True, "health": True, "idva": False, "housing": False,
                       "childrens-services": False}
    assert [a["action_id"] for a in document["document"]["actions"]] == [action["id"]]

    html = client.get(f"/v1/updates/{first}/html", headers=tokens("agency_rep", "idva"))
    assert html.status_code == 200 and html.mimetype == "text/html"
    text = html.get_data(as_text=True)
    area = runtime.area("northshire")
    for agency in area.isa_agencies(clock.uk_today()):
        assert agency.name.replace("'", "&#39;") in text
    pdf = client.get(f"/v1/updates/{first}/pdf", headers=tokens("agency_rep", "idva"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    pages = pdf_pages(pdf.data)
    assert len(pages) >= 2
    statement = " ".join(area.confidentiality_statement.split())
    for page in pages:  # the reference, the date and the statement on every page
        assert "Case reference case-d1" in page and "8 Dec 2026" in page
        assert statement in page
    whole = " ".join(pages)
    for agency in area.isa_agencies(clock.uk_today()):
        assert agency.name in whole
    assert "Stalking." in whole and "Serious harm from stalking." in whole

    # An edit: a new numbered version; the first stays as it was sent.
    client.post(f"/v1/actions/{action['id']}/status", json={"status": "completed", "note": "Flagged."},
                headers=tokens("agency_rep", "police"))
    second = client.post("/v1/cases/case-d1/updates", json={"reason": "actions_changed"},
                         headers=tokens("coordinator"))
    assert second.status_code == 201 and second.get_json()["version"] == 2
    again = client.get(f"/v1/updates/{first}", headers=tokens("coordinator")).get_json()
    assert again["document"] == document["document"]
    assert [a["status"] for a in again["document"]["actions"]] == ["agreed"]
    newer = client.get(f"/v1/updates/{second.get_json()['id']}", headers=tokens("coordinator")).get_json()
    assert [a["status"] for a in newer["document"]["actions"]] == ["completed"]
    assert [p["version"] for p in outbox(runtime, events.UPDATES_PUBLISHED)] == [1, 2]
    assert_problem(client.post("/v1/cases/case-d1/updates", json={"reason": "correction"},
                               headers=tokens("agency_rep", "police")), 403)


def test_coordination_model_compiles_at_the_closing_date_once_and_a_late_return_makes_a_version(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    south = ("southshire",)
    listed(runtime, ["case-c1"], "southshire")
    assert client.post("/v1/cases/case-c1/returns", json=HELD,
                       headers=tokens("agency_rep", "police", south)).status_code == 201
    assert updates.compile_closed(runtime) == 0  # not closed yet
    # Co-ordination: the MARAC date is the closing date (09:00 here).
    with time_machine.travel(datetime(2026, 12, 16, 9, 1, tzinfo=clock.UK), tick=True):
        assert updates.compile_closed(runtime) == 1
        assert updates.compile_closed(runtime) == 0
        late = client.post("/v1/cases/case-c1/returns", json={"involvement": "nothing_held"},
                           headers=tokens("agency_rep", "idva", south))
        assert late.status_code == 201 and late.get_json()["late"] is True
    with runtime.unit_of_work() as uow:
        rows = uow.session.scalars(select(UpdatesVersion).order_by(UpdatesVersion.version)).all()
        assert [(r.version, r.reason) for r in rows] == [(1, "first"), (2, "late_return")]


# --- the reminder sweep -----------------------------------------------------------------------


def test_the_overdue_sweep_with_two_workers_and_a_sigkill_sends_each_step_exactly_once(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers
) -> None:
    today = clock.uk_today()
    expected: set[tuple[str, str]] = set()
    with runtime.unit_of_work() as uow:
        plan = [(f"act-o{i}", "agreed", today - timedelta(days=15)) for i in range(8)]
        plan += [(f"act-s{i}", "in_progress", today + timedelta(days=2)) for i in range(4)]
        plan += [("act-p0", "proposed", today - timedelta(days=20)),  # not agreed: no reminders
                 ("act-c0", "completed", today - timedelta(days=20))]
        for action_id, status, due in plan:
            uow.session.add(Action(
                id=action_id, case_id=f"case-{action_id}", area_id="northshire", meeting_id=None,
                owner_agency="police", asked_by_agency="idva", catalogue_code=None, details=None,
                for_whom="victim", due_by=due, status=status, created_at=clock.now(),
                created_by="t", updated_at=clock.now()))
            if action_id.startswith("act-o"):
                expected |= {(action_id, s) for s in ("overdue", "escalation_7", "escalation_14")}
            elif action_id.startswith("act-s"):
                expected.add((action_id, "due_soon"))

    def reminders() -> int:
        with runtime.unit_of_work() as uow:
            return uow.session.scalar(select(func.count()).select_from(ActionReminder)) or 0

    # One worker, killed mid-sweep: after its 5th claim, before that claim commits.
    crashed = workers.start(MARAC_FAULT=f"{smart.FAULT_AFTER_REMINDER_CLAIM}:5")
    try:
        assert crashed.wait(60 * PATIENCE) == -signal.SIGKILL
    except (AssertionError, subprocess.TimeoutExpired):
        pytest.fail(f"the worker did not die at the fault; logs:\n{workers.logs()}")
    assert reminders() == 4  # four committed, the fifth rolled back with the process

    # Two replicas sweep what is left at once (and the restarts sweep again every few seconds).
    workers.start()
    workers.start()
    try:
        wait_for(lambda: reminders() == len(expected) and all_sent(runtime), 60)
    except AssertionError:
        pytest.fail(f"not every reminder sent; logs:\n{workers.logs()}")
    with runtime.unit_of_work() as uow:
        stored = set(uow.session.execute(select(ActionReminder.action_id, ActionReminder.step)).tuples())
    assert stored == expected
    sent: dict[tuple[str, str], set[str]] = defaultdict(set)
    for family in ("action.due_soon", "action.overdue", "action.escalated"):
        for event_id, data in records(platform_env, family):
            sent[(data["action_id"], data["step"])].add(event_id)
    assert set(sent) == expected
    # Each step is one event (a relay re-send after the kill would repeat its id, never mint one).
    assert {key: len(ids) for key, ids in sent.items()} == dict.fromkeys(expected, 1)
    assert len(outbox(runtime, events.ACTION_OVERDUE)) == 8
    assert len(outbox(runtime, events.ACTION_ESCALATED)) == 16
    assert len(outbox(runtime, events.ACTION_DUE_SOON)) == 4


# --- the research reminder --------------------------------------------------------------------

NOT_RETURNED = ["childrens-services", "health", "housing", "idva"]  # police returns


def reminded(runtime: Runtime) -> int:
    with runtime.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(ResearchReturn).where(
            ResearchReturn.reminded_at.is_not(None))) or 0


def test_each_unsent_return_is_reminded_once_when_its_window_opens_and_never_after_closing(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-m1", "case-m2"])  # northshire: closes 7 Dec 17:00 (GMT)
    listed(runtime, ["case-m3"], "southshire")  # closes 16 Dec 09:00
    assert client.post("/v1/cases/case-m1/returns", json=HELD,
                       headers=tokens("agency_rep", "police")).status_code == 201
    assert client.post("/v1/cases/case-m1/returns", json={**HELD, "status": "draft"},
                       headers=tokens("agency_rep", "health")).status_code == 201
    deliver(runtime, events.CASE_ERASED, {"case_id": "case-m2", "area_id": "northshire",
                                          "reason": "request"}, "case-m2")
    assert research_reminders.sweep(runtime) == 0  # days before
    with time_machine.travel(datetime(2026, 12, 6, 16, 59, tzinfo=clock.UK), tick=True):
        assert research_reminders.sweep(runtime) == 0  # a minute before the 24 hours
    with time_machine.travel(datetime(2026, 12, 6, 17, 0, 5, tzinfo=clock.UK), tick=True):
        assert research_reminders.sweep(runtime) == len(NOT_RETURNED)
        assert research_reminders.sweep(runtime) == 0  # the next sweep: nothing again
    sent = outbox(runtime, events.RESEARCH_REMINDER)
    # The draft is not sent: reminded; the sent return and the erased case's are not.
    assert sorted(d["agency_id"] for d in sent) == NOT_RETURNED
    assert {(d["case_id"], d["meeting_id"], d["deadline"]) for d in sent} == {
        ("case-m1", NORTH_MEETING, "2026-12-07T17:00:00+00:00")}
    # Southshire's returns were never swept inside their window: once closed, no reminder.
    with time_machine.travel(datetime(2026, 12, 16, 9, 0, tzinfo=clock.UK), tick=True):
        assert research_reminders.sweep(runtime) == 0
    assert len(outbox(runtime, events.RESEARCH_REMINDER)) == len(NOT_RETURNED)


@pytest.mark.parametrize("clock_start", [datetime(2026, 12, 7, 9, 0, tzinfo=clock.UK)],
                         ids=["8h-before-closing"])
def test_a_list_sent_inside_the_window_is_reminded_at_once_exactly_once_across_a_sigkill(
    platform_env: PlatformEnv, runtime: Runtime, workers: Workers, client: FlaskClient,
    tokens: Tokens
) -> None:
    listed(runtime, ["case-k1"])
    assert client.post("/v1/cases/case-k1/returns", json=HELD,
                       headers=tokens("agency_rep", "police")).status_code == 201
    # One worker, killed after its 2nd claim, before that claim commits.
    crashed = workers.start(MARAC_FAULT=f"{research_reminders.FAULT_AFTER_CLAIM}:2")
    try:
        assert crashed.wait(60 * PATIENCE) == -signal.SIGKILL
    except (AssertionError, subprocess.TimeoutExpired):
        pytest.fail(f"the worker did not die at the fault; logs:\n{workers.logs()}")
    assert reminded(runtime) == 1  # the second claim rolled back with the process
    workers.start()
    workers.start()
    try:
        wait_for(lambda: reminded(runtime) == len(NOT_RETURNED) and all_sent(runtime), 60)
    except AssertionError:
        pytest.fail(f"not every reminder sent; logs:\n{workers.logs()}")

    def on_kafka() -> dict[str, set[str]]:
        ids: dict[str, set[str]] = defaultdict(set)
        for event_id, data in records(platform_env, "research.reminder"):
            assert data["case_id"] == "case-k1"
            ids[data["agency_id"]].add(event_id)
        return ids

    # One event per agency that has not returned (a relay re-send after the kill would repeat
    # its id, never mint one), none for police.
    assert {agency: len(ids) for agency, ids in on_kafka().items()} == dict.fromkeys(NOT_RETURNED, 1)
    assert research_reminders.sweep(runtime) == 0
    assert {agency: len(ids) for agency, ids in on_kafka().items()} == dict.fromkeys(NOT_RETURNED, 1)


# --- erasure ---------------------------------------------------------------------------------


def test_erasing_a_case_makes_its_returns_and_documents_unreadable(
    runtime: Runtime, client: FlaskClient, tokens: Tokens
) -> None:
    listed(runtime, ["case-e1"])
    police = tokens("agency_rep", "police")
    sent = client.post("/v1/cases/case-e1/returns", json=HELD, headers=police).get_json()
    deliver(runtime, events.CASE_HEARD, {
        "case_id": "case-e1", "referral_id": "ref-case-e1", "area_id": "northshire",
        "meeting_id": NORTH_MEETING, "marac_date": NORTH_DATE.isoformat(), "outcome": "heard"}, "case-e1")
    (version,) = client.get("/v1/cases/case-e1/updates", headers=police).get_json()
    # The referral service destroys the key (DELETE /v1/cases/{id}), then tells everyone.
    service.keys(runtime).erase("case-e1")
    gone = assert_problem(client.get(f"/v1/returns/{sent['id']}", headers=police), 410)
    assert gone["type"].endswith("/case-erased")
    assert_problem(client.get(f"/v1/updates/{version['id']}/pdf", headers=police), 410)
    deliver(runtime, events.CASE_ERASED, {"case_id": "case-e1", "area_id": "northshire",
                                          "reason": "request"}, "case-e1")
    with runtime.unit_of_work() as uow:
        found = uow.session.get(ResearchReturn, sent["id"])
        assert found is not None and found.content is None
        document = uow.session.get(UpdatesVersion, version["id"])
        assert document is not None and document.content is None
    assert_problem(client.get(f"/v1/returns/{sent['id']}", headers=police), 410)
    assert_problem(client.get(f"/v1/updates/{version['id']}", headers=police), 410)
    assert_problem(client.post("/v1/cases/case-e1/returns", json=HELD,
                               headers=tokens("agency_rep", "health")), 422)
