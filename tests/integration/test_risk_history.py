"""Risk on real PostgreSQL: case.heard records the hearing date; what a submitted referral
holds (or a preview is given) reaches the potential-escalation rule."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from marac_platform import clock, payloads
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import load_settings
from services.referral.sample import PARTNER_CHECKLIST
from services.risk import service
from services.risk.app import create_app
from services.risk.models import ReferralHistory
from services.risk.wiring import SERVICE as RISK
from tests.conftest import PlatformEnv

pytestmark = pytest.mark.integration


def test_case_heard_records_the_hearing_and_a_deferral_does_not(platform_env: PlatformEnv) -> None:
    runtime = Runtime(RISK, settings=load_settings("risk"))
    try:
        with runtime.unit_of_work() as uow:
            uow.session.add(ReferralHistory(area_id="northshire", case_id="case-1",
                                            referral_id="ref-1", referral_date=date(2026, 11, 2),
                                            source="marac"))
        heard = {"case_id": "case-1", "referral_id": "ref-1", "area_id": "northshire",
                 "meeting_id": "m-1", "marac_date": date(2026, 11, 24)}
        with runtime.unit_of_work() as uow:
            service.on_case_heard(uow, payloads.CaseHeard(**{**heard, "outcome": "deferred"}))
        with runtime.unit_of_work() as uow:
            assert uow.session.get(ReferralHistory, 1).heard_on is None  # type: ignore[union-attr]
            service.on_case_heard(uow, payloads.CaseHeard(**{**heard, "outcome": "heard"}))
            service.on_case_heard(uow, payloads.CaseHeard(
                **{**heard, "referral_id": "ref-unknown", "outcome": "heard"}))
        with runtime.unit_of_work() as uow:
            row = uow.session.get(ReferralHistory, 1)
            assert row is not None and row.heard_on == date(2026, 11, 24)
    finally:
        runtime.db.dispose()


# --- potential escalation: what the form holds reaches the rule --------------------------------
ESCALATION_ONLY = {"criteria_claimed": ["potential_escalation"],
                   "professional_judgement_documented": False}


def submitted(referral_id: str, **fields: object) -> payloads.ReferralSubmitted:
    today = clock.uk_today()
    loaded: payloads.ReferralSubmitted = payloads.ReferralSubmittedSchema().load({
        "referral_id": referral_id, "case_id": f"case-{referral_id}", "area_id": "northshire",
        "received_at": clock.now().isoformat(), "referral_date": today.isoformat(),
        "checklist_version": PARTNER_CHECKLIST, "dash_answers": {}, **ESCALATION_ONLY,
        **fields})
    return loaded


def escalation(runtime: Runtime, referral_id: str) -> dict[str, Any]:
    with runtime.unit_of_work() as uow:
        found = service.latest_assessment(uow, referral_id)
        assert found is not None
        return next(c for c in found.criteria if c["criterion"] == "potential_escalation")


def test_the_declared_call_out_count_and_incident_dates_reach_the_escalation_rule(
    platform_env: PlatformEnv,
) -> None:
    runtime = Runtime(RISK, settings=load_settings("risk"))
    today = clock.uk_today()
    try:
        with runtime.unit_of_work() as uow:
            service.assess_referral(uow, submitted("ref-declared", police_callouts_last_12_months=3))
            service.assess_referral(uow, submitted("ref-incidents", incident_dates=[
                (today - timedelta(days=d)).isoformat() for d in (3, 90, 300)]))
        declared = escalation(runtime, "ref-declared")
        assert declared["met"] is True
        assert "declared count of police call-outs" in declared["detail"]
        dated = escalation(runtime, "ref-incidents")
        assert dated["met"] is True
        assert dated["detail"].startswith("3 incidents in the 365 days")
    finally:
        runtime.db.dispose()


def test_the_preview_counts_the_declared_count_and_incident_dates(platform_env: PlatformEnv) -> None:
    app = create_app()
    key = (Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject="ref-1", agency="police", role="referrer",
                       areas=["northshire"], audience="marac", issuer="marac-dev")
    headers = {"Authorization": f"Bearer {token}"}
    today = clock.uk_today()
    body = {"area_id": "northshire", "checklist_version": PARTNER_CHECKLIST, "answers": {}}
    try:
        client = app.test_client()
        for extra in ({"police_callouts_last_12_months": 3},
                      {"incident_dates": [(today - timedelta(days=d)).isoformat()
                                          for d in (3, 90, 300)]}):
            response = client.post("/v1/assessments/preview", json=body | extra, headers=headers)
            assert response.status_code == 200, response.get_json()
            found = next(c for c in response.get_json()["criteria"]
                         if c["criterion"] == "potential_escalation")
            assert found["met"] is True, found
        wrong = client.post("/v1/assessments/preview", headers=headers,
                            json=body | {"police_callouts_last_12_months": "3"})
        assert wrong.status_code == 422
        assert "police_callouts_last_12_months" in [e["field"] for e in wrong.get_json()["errors"]]
    finally:
        app.extensions["marac_runtime"].db.dispose()


# --- declared and transferred-in referrals: kept once, under the area they were made to -------
def test_a_resubmitted_transferred_referral_keeps_each_earlier_referral_once(
    platform_env: PlatformEnv,
) -> None:
    runtime = Runtime(RISK, settings=load_settings("risk"))
    today = clock.uk_today()
    in_a, declared = today - timedelta(days=200), today - timedelta(days=300)
    body = {"area_id": "southshire", "case_id": "case-moved", "transferred_from": "northshire",
            "referral_date": in_a.isoformat(),
            "previous_referrals": [{"area_id": "eastshire", "date": declared.isoformat()}],
            "transferred_history": [{"area_id": "northshire",
                                     "date": (in_a - timedelta(days=30)).isoformat()},
                                    {"area_id": "eastshire", "date": declared.isoformat()}]}
    try:
        for resubmission in (0, 1):  # the same referral sent again, declaring the same
            with runtime.unit_of_work() as uow:
                service.assess_referral(uow, submitted(
                    "ref-moved", **body, resubmission=resubmission))
        with runtime.unit_of_work() as uow:
            rows = uow.session.scalars(select(ReferralHistory).where(
                ReferralHistory.case_id == "case-moved")).all()
            kept = sorted((row.source, service.area_of(row), row.referral_date) for row in rows)
        assert kept == sorted([
            ("marac", "northshire", in_a),  # the transferred referral: made in northshire
            ("declared", "eastshire", declared),
            ("transfer", "northshire", in_a - timedelta(days=30))])
        assert all(row.area_id == "southshire" for row in rows)  # the receiving area's case

        # A new referral in B: its repeat names the area the last referral was made to.
        with runtime.unit_of_work() as uow:
            service.assess_referral(uow, submitted("ref-new", **{
                **body, "referral_date": today.isoformat(), "transferred_from": None,
                "previous_referrals": [], "transferred_history": []}))
            found = service.latest_assessment(uow, "ref-new")
            assert found is not None
            assert found.repeat_of == {"area_id": "northshire", "date": in_a.isoformat()}
    finally:
        runtime.db.dispose()
