"""The SafeLives quarterly return over real Kafka and PostgreSQL, across the Q1/Q2 edge.

Three referrals are submitted through the referral API at 2 March, 31 March 23:59 and 1 April
00:00 (UK time; 1 April is in BST, so its midnight is 23:00 UTC on 31 March). The referral
worker runs as a real process; risk's and scheduling's answers (risk.assessed, case.scheduled,
case.heard) go to it through Kafka as those services would send them. The return then counts
each case on its MARAC date's quarter, its days to hearing from the UK date it was received,
and its categories from the flags kept at submission. The actions part counts actions per
MARAC date in the actions service's own PostgreSQL database.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient

from marac_platform import events
from marac_platform.checklists import get_checklist
from marac_platform.clock import UK
from marac_platform.db import utcnow
from marac_platform.quarters import SUPPRESSED
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import load_settings
from services.actions.app import create_app as create_actions_app
from services.actions.models import Action, CaseRecord, ListedCase
from services.actions.wiring import SERVICE as ACTIONS
from services.referral.app import create_app
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.conftest import PlatformEnv
from tests.support.kafka_tools import produce, wait_for

pytestmark = pytest.mark.integration

QUESTIONS = list(get_checklist(PARTNER_CHECKLIST).question_ids)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UK)
LAST_MINUTE_OF_Q1 = datetime(2026, 3, 31, 23, 59, tzinfo=UK)
FIRST_MINUTE_OF_Q2 = datetime(2026, 4, 1, 0, 0, tzinfo=UK)
TIMEOUT_S = 60.0


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def worker(platform_env: PlatformEnv, tmp_path: Path) -> Iterator[None]:
    log = tmp_path / "referral-worker.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([sys.executable, "-m", "services", "worker", "referral"],
                                   env=platform_env.env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.terminate()
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait(10)
        assert code == 0, log.read_text()[-3000:]


@pytest.fixture
def client(platform_env: PlatformEnv) -> Iterator[FlaskClient]:
    app = create_app()
    with app.test_client() as test_client:
        yield test_client
    app.extensions["marac_runtime"].db.dispose()


def bearer(env: PlatformEnv, role: str, *, agency: str = "police", area: str = "northshire",
           subject: str | None = None) -> dict[str, str]:
    key = (Path(env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=subject or f"{role}-{agency}", agency=agency, role=role,
                       areas=[area], audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {token}"}


def submit(client: FlaskClient, env: PlatformEnv, at: datetime, agency: str,
           **changes: Any) -> dict[str, Any]:
    """A referral submitted at the UK instant `at` by a referrer of `agency`."""
    with time_machine.travel(at, tick=False):
        body = sample_referral(QUESTIONS, "northshire",
                               victim_family="Fam" + uuid.uuid4().hex[:8].translate(
                                   str.maketrans("0123456789", "ghijklmnop")))
        body.update(changes)
        response = client.post("/v1/referrals?submit=true", json=body,
                               headers=bearer(env, "referrer", agency=agency))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def send(env: PlatformEnv, event_type: str, referral: dict[str, Any], data: dict[str, Any]) -> None:
    ids = {"referral_id": referral["id"], "case_id": referral["case_id"], "area_id": "northshire"}
    message = events.new_message(event_type, source="/test", subject=referral["case_id"],
                                 area="northshire", data={**ids, **data})
    produce(env.env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value,
            message.key.encode(), [(k, v.encode()) for k, v in message.headers.items()])


def wait_state(client: FlaskClient, env: PlatformEnv, referral: dict[str, Any], state: str) -> None:
    def reached() -> bool:
        found = client.get(f"/v1/referrals/{referral['id']}", headers=bearer(env, "coordinator"))
        return bool(found.status_code == 200 and found.get_json()["state"] == state)

    wait_for(reached, TIMEOUT_S)


def hear(client: FlaskClient, env: PlatformEnv, referral: dict[str, Any], marac_date: date,
         target: date) -> None:
    """Risk's and scheduling's answers, as those services publish them."""
    send(env, events.RISK_ASSESSED, referral, {
        "assessment_id": f"asmt-{referral['id']}", "checklist_version": PARTNER_CHECKLIST,
        "yes_count": 16, "band": "high", "high_weight_factors": [],
        "criteria": [{"criterion": "visible_high_risk", "met": True, "reason_code": "threshold_met",
                      "detail": "16 of 14"}],
        "decision": "meets_criteria"})
    wait_state(client, env, referral, "accepted")
    start = datetime.combine(marac_date, datetime.min.time().replace(hour=10), tzinfo=UK)
    send(env, events.CASE_SCHEDULED, referral, {
        "meeting_id": f"northshire-{marac_date.isoformat()}", "marac_date": marac_date.isoformat(),
        "meeting_start": start.isoformat(), "model": "meeting", "slot_index": 0,
        "slot_start": start.isoformat(), "target_date": target.isoformat(),
        "beyond_target": marac_date > target, "referrer_agency": "police", "rescheduled": False})
    wait_state(client, env, referral, "scheduled")
    send(env, events.CASE_HEARD, referral, {
        "meeting_id": f"northshire-{marac_date.isoformat()}", "marac_date": marac_date.isoformat(),
        "outcome": "heard"})
    wait_state(client, env, referral, "heard")


def quarter(client: FlaskClient, env: PlatformEnv, which: str, view: str = "full",
            role: str = "coordinator") -> dict[str, Any]:
    response = client.get(f"/v1/areas/northshire/quarterly-return?quarter={which}&view={view}",
                          headers=bearer(env, role))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def test_the_return_counts_each_case_in_its_quarter_across_the_31_march_edge(
    platform_env: PlatformEnv, worker: None, client: FlaskClient
) -> None:
    env = platform_env
    early = submit(client, env, START, "police")
    last_minute = submit(
        client, env, LAST_MINUTE_OF_Q1, "police",
        diversity={"ethnicity": "black_african", "lgbt_plus": "yes", "disability": "yes"},
        children=[{"relationship_to_victim": "child", "relationship_to_perpetrator": "child"},
                  {"relationship_to_victim": "child", "relationship_to_perpetrator": "none"}],
        perpetrators=[{"name": {"given": "Kit"}, "relationship_to_victim": "ex_partner",
                       "date_of_birth": "2009-01-15"}])
    first_minute = submit(
        client, env, FIRST_MINUTE_OF_Q2, "health",
        diversity={"ethnicity": "white_british", "gender": "male", "age_band": "16_17"})
    hear(client, env, early, date(2026, 3, 31), target=date(2026, 3, 30))
    hear(client, env, last_minute, date(2026, 4, 7), target=date(2026, 4, 28))
    hear(client, env, first_minute, date(2026, 4, 7), target=date(2026, 4, 29))

    q1 = quarter(client, env, "2026-Q1")
    assert [r["marac_date"] for r in q1["meeting_dates"]] == ["2026-03-31"]
    assert q1["total"]["cases"] == 1 and q1["total"]["police_referrals"] == 1
    assert q1["total"]["heard_within_target"] == 0  # a day past its target
    assert q1["total"]["median_days_to_hearing"] == 29.0
    # deploy/areas.yaml: 245,000 adult women; 1 case a quarter is 4 a year, 0.16 per 10,000.
    assert q1["adult_female_population"] == 245_000 and q1["cases_per_10k"] == 0.2
    assert (q1["recommended_per_10k"], q1["national_per_10k"]) == (40.0, 47.0)

    q2 = quarter(client, env, "2026-Q2")
    (row,) = q2["meeting_dates"]
    assert row["marac_date"] == "2026-04-07"
    expected = {"cases": 2, "repeats": 0, "police_referrals": 1, "partner_referrals": 1,
                "children": 2, "minoritised": 1, "lgbt_plus": 1, "disabled": 1, "male": 1,
                "aged_16_17": 1, "perpetrator_under_18": 1, "heard_within_target": 2,
                "monitoring_unknown": 0}
    assert {k: row[k] for k in expected} == expected
    assert {k: q2["total"][k] for k in expected} == expected
    # Received on 31 March and on 1 April (UK dates): 7 and 6 days, though both were 31 March
    # in UTC. The median of the two is 6.5.
    assert row["median_days_to_hearing"] == 6.5
    assert q2["cases_per_10k"] == 0.3
    assert quarter(client, env, "2026-Q3")["meeting_dates"] == []  # a quarter with no meeting

    summary = quarter(client, env, "2026-Q2", view="summary")
    assert summary["suppressed"] is True
    assert summary["total"]["cases"] == SUPPRESSED and summary["total"]["male"] == SUPPRESSED
    assert summary["total"]["median_days_to_hearing"] == 6.5
    assert quarter(client, env, "2026-Q2", role="auditor")["total"]["cases"] == 2

    exported = client.get("/v1/areas/northshire/quarterly-return.csv?quarter=2026-Q2",
                          headers=bearer(env, "coordinator"))
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[1][:4] == ["northshire", "2026-Q2", "2026-04-07", "2"]
    assert rows[2][:4] == ["northshire", "2026-Q2", "Total", "2"]
    text = exported.get_data(as_text=True)
    assert "Fam" not in text and "Kit" not in text  # counts, never a name

    drawn = client.get("/v1/areas/northshire/quarterly-return.svg?quarter=2026-Q2",
                       headers=bearer(env, "coordinator"))
    assert drawn.status_code == 200 and drawn.mimetype == "image/svg+xml"
    root = ET.fromstring(drawn.get_data())
    assert "2026-04-07: 2 cases" in (root.findtext("{http://www.w3.org/2000/svg}desc") or "")


def test_who_may_read_the_return(platform_env: PlatformEnv, client: FlaskClient) -> None:
    env = platform_env
    path = "/v1/areas/northshire/quarterly-return?quarter=2026-Q2"
    for role in ("referrer", "agency_rep", "idva", "admin"):
        assert client.get(path, headers=bearer(env, role)).status_code == 403, role
    # Another area's coordinator: the area is not found, as an unknown one is.
    other = client.get(path, headers=bearer(env, "coordinator", area="southshire"))
    assert other.status_code == 404
    assert client.get("/v1/areas/nowhere/quarterly-return?quarter=2026-Q2",
                      headers=bearer(env, "coordinator")).status_code == 404
    bad = client.get("/v1/areas/northshire/quarterly-return?quarter=2026-Q5",
                     headers=bearer(env, "coordinator"))
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "quarter"
    missing = client.get("/v1/areas/northshire/quarterly-return", headers=bearer(env, "coordinator"))
    assert missing.status_code == 422
    # Each read is in the service's audit trail, as every /v1 call is.
    trail = client.get("/v1/audit", headers=bearer(env, "auditor")).get_json()
    reads = [r for r in trail["items"] if r["resource"].startswith("/v1/areas/northshire/quarterly")]
    assert reads and {r["status"] for r in reads} >= {403, 422}
    assert all(r["case_id"] is None for r in reads)  # counts: no case is disclosed


def test_actions_completed_and_outstanding_per_marac_date(platform_env: PlatformEnv) -> None:
    runtime = Runtime(ACTIONS, settings=load_settings("actions"))
    try:
        now = utcnow()
        with runtime.unit_of_work() as uow:
            for case_id, marac_date in (("case-q1", date(2026, 3, 31)), ("case-q2", date(2026, 4, 7))):
                meeting_id = f"northshire-{marac_date.isoformat()}"
                uow.session.add(CaseRecord(case_id=case_id, referral_id=f"ref-{case_id}",
                                           meeting_id=meeting_id, marac_date=marac_date,
                                           status="open", opened_at=now, updated_at=now,
                                           area_id="northshire"))
                uow.session.add(ListedCase(case_id=case_id, meeting_id=meeting_id,
                                           referral_id=f"ref-{case_id}", marac_date=marac_date,
                                           model="meeting", edition=0, yes_count=16, band="high",
                                           criteria_met=["visible_high_risk"], repeat=False,
                                           due_date=marac_date - timedelta(days=1),
                                           deadline=now, status="heard", listed_at=now,
                                           area_id="northshire"))
            statuses = [("case-q1", "completed", date(2026, 4, 1), date(2026, 3, 31)),
                        ("case-q2", "completed", date(2026, 4, 20), date(2026, 4, 10)),
                        ("case-q2", "agreed", date(2026, 3, 20), None),  # overdue by now
                        ("case-q2", "in_progress", date(2026, 6, 1), None),
                        ("case-q2", "not_possible", date(2026, 5, 1), None)]
            for index, (case_id, status, due_by, done_on) in enumerate(statuses):
                uow.session.add(Action(
                    id=f"act-{index}", case_id=case_id,
                    meeting_id=f"northshire-{'2026-03-31' if case_id == 'case-q1' else '2026-04-07'}",
                    owner_agency="police", asked_by_agency="idva", for_whom="victim",
                    due_by=due_by, status=status, done_on=done_on, created_at=now,
                    created_by="coord", updated_at=now, area_id="northshire"))
        app = create_actions_app()
        client = app.test_client()
        with time_machine.travel(datetime(2026, 4, 21, 12, 0, tzinfo=UK), tick=False):
            headers = bearer(platform_env, "coordinator")
            found = client.get("/v1/areas/northshire/quarterly-return/actions?quarter=2026-Q2",
                               headers=headers)
            assert found.status_code == 200, found.get_json()
            report = found.get_json()
            (row,) = report["meeting_dates"]
            assert row["marac_date"] == "2026-04-07"
            assert {k: row[k] for k in ("actions", "completed", "completed_on_time", "outstanding",
                                        "overdue", "not_possible")} == {
                "actions": 4, "completed": 1, "completed_on_time": 1, "outstanding": 2,
                "overdue": 1, "not_possible": 1}
            q1 = client.get("/v1/areas/northshire/quarterly-return/actions?quarter=2026-Q1",
                            headers=headers).get_json()
            assert [r["marac_date"] for r in q1["meeting_dates"]] == ["2026-03-31"]
            shown = client.get("/v1/areas/northshire/quarterly-return/actions?quarter=2026-Q2"
                               "&view=summary", headers=headers).get_json()
            assert shown["total"]["actions"] == SUPPRESSED
            refused = client.get("/v1/areas/northshire/quarterly-return/actions?quarter=2026-Q2",
                                 headers=bearer(platform_env, "agency_rep"))
            assert refused.status_code == 403
        app.extensions["marac_runtime"].db.dispose()
    finally:
        runtime.db.dispose()

