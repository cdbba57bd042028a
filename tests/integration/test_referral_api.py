"""The referral POST against real PostgreSQL: clear errors, nothing half-written, idempotent."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac_platform import payloads
from marac_platform.checklists import get_checklist
from marac_platform.security.tokens import mint_token
from services.referral.app import create_app
from services.referral.models import TABLES, Case, Referral
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.conftest import PlatformEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def client(platform_env: PlatformEnv) -> Iterator[FlaskClient]:
    app = create_app()
    with app.test_client() as test_client:
        yield test_client
    app.extensions["marac_runtime"].db.dispose()


def bearer(platform_env: PlatformEnv, role: str = "referrer", areas: tuple[str, ...] = ("northshire",),
           subject: str = "ref-1") -> dict[str, str]:
    key = (Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=subject, agency="police", role=role, areas=list(areas),
                       audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {token}"}


def form() -> dict[str, Any]:
    return sample_referral(list(get_checklist(PARTNER_CHECKLIST).question_ids))


def counts(client: FlaskClient) -> tuple[int, int, int]:
    runtime = client.application.extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        return (uow.session.scalar(select(func.count()).select_from(Referral)) or 0,
                uow.session.scalar(select(func.count()).select_from(Case)) or 0,
                uow.session.scalar(select(func.count()).select_from(TABLES.outbox)) or 0)


def problem_fields(response: Any) -> list[str]:
    assert response.mimetype == "application/problem+json", response.data[:300]
    return [error["field"] for error in response.get_json().get("errors", [])]


@pytest.mark.parametrize(("path", "expected_field"), [
    (("victim", "name", "given"), "victim.name.given"),
    (("area_id",), "area_id"),
    (("consent",), "consent"),
    (("dash", "checklist_version"), "dash.checklist_version"),
    (("referrer", "secure_email"), "referrer.secure_email"),
])
def test_missing_required_field_is_422_naming_it_and_nothing_is_stored(
    client: FlaskClient, platform_env: PlatformEnv, path: tuple[str, ...], expected_field: str
) -> None:
    body = form()
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    response = client.post("/v1/referrals?submit=true", json=body, headers=bearer(platform_env))
    assert response.status_code == 422
    assert expected_field in problem_fields(response)
    assert counts(client) == (0, 0, 0)


def test_professional_judgement_without_narrative_names_the_field(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    body = form()
    body["criteria_claimed"] = ["professional_judgement"]
    response = client.post("/v1/referrals?submit=true", json=body, headers=bearer(platform_env))
    assert response.status_code == 422
    assert "professional_judgement_narrative" in problem_fields(response)
    assert counts(client) == (0, 0, 0)


def test_malformed_json_wrong_type_and_unknown_field_are_clear_4xx(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    headers = bearer(platform_env)
    broken = client.post("/v1/referrals", data=b'{"area_id": ', headers=headers,
                         content_type="application/json")
    assert broken.status_code == 400
    assert broken.mimetype == "application/problem+json"
    text = client.post("/v1/referrals", data=b"area_id=x", headers=headers,
                       content_type="application/x-www-form-urlencoded")
    assert text.status_code == 415
    body = form()
    body["victim"]["favourite_colour"] = "blue"
    unknown = client.post("/v1/referrals?submit=true", json=body, headers=headers)
    assert unknown.status_code == 422
    assert "victim.favourite_colour" in problem_fields(unknown)
    assert counts(client) == (0, 0, 0)


def test_problem_bodies_do_not_echo_personal_data(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    body = form()
    body["victim"]["name"]["given"] = "Zyxwanda" * 40  # over the length limit
    body["victim"]["dates_of_birth"] = ["not-a-date"]
    response = client.post("/v1/referrals?submit=true", json=body, headers=bearer(platform_env))
    assert response.status_code == 422
    assert b"Zyxwanda" not in response.data
    assert b"not-a-date" not in response.data


def test_retried_create_with_the_same_idempotency_key_returns_the_first_referral(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    headers = {**bearer(platform_env), "Idempotency-Key": "retry-123"}
    body = form()
    first = client.post("/v1/referrals?submit=true", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    second = client.post("/v1/referrals?submit=true", json=copy.deepcopy(body), headers=headers)
    assert second.status_code == 201
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert counts(client)[0] == 1
    changed = copy.deepcopy(body)
    changed["victim_fears"] = "something else"
    reused = client.post("/v1/referrals?submit=true", json=changed, headers=headers)
    assert reused.status_code == 422
    assert problem_fields(reused) == ["Idempotency-Key"]
    # Another person's identical key is theirs alone.
    other = client.post("/v1/referrals?submit=true", json=body,
                        headers={**bearer(platform_env, subject="ref-2"), "Idempotency-Key": "retry-123"})
    assert other.status_code == 201
    assert other.get_json()["id"] != first.get_json()["id"]


def test_stored_form_is_encrypted_and_events_carry_no_personal_fields(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    body = form()
    created = client.post("/v1/referrals?submit=true", json=body, headers=bearer(platform_env))
    assert created.status_code == 201
    runtime = client.application.extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        referral = uow.session.scalars(select(Referral)).one()
        rows = uow.session.execute(select(TABLES.outbox.c.value)).scalars().all()
    assert referral.form_personal and referral.form_personal.startswith("enc1:")
    assert "victim" not in referral.form_public or "name" not in referral.form_public["victim"]
    for value in rows:
        assert b"Example" not in value and b"Sample Street" not in value
    read = client.get(f"/v1/referrals/{created.get_json()['id']}",
                      headers=bearer(platform_env, role="coordinator", subject="coord"))
    assert read.status_code == 200
    assert read.get_json()["form"]["victim"]["name"]["family"] == "Example"


def test_a_late_assessment_of_an_erased_case_moves_nothing(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:
    from services.referral import service

    created = client.post("/v1/referrals?submit=true", json=form(), headers=bearer(platform_env))
    assert created.status_code == 201
    referral_id, case_id = created.get_json()["id"], created.get_json()["case_id"]
    erased = client.delete(f"/v1/cases/{case_id}",
                           headers=bearer(platform_env, role="admin", subject="admin-1"))
    assert erased.status_code == 204
    runtime = client.application.extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        before = uow.session.scalar(select(func.count()).select_from(TABLES.outbox))
        service.on_assessed(uow, payloads.RiskAssessedSchema().load({
            "referral_id": referral_id, "case_id": case_id, "area_id": "northshire",
            "assessment_id": "a-1", "checklist_version": PARTNER_CHECKLIST, "yes_count": 16,
            "band": "high", "high_weight_factors": [], "decision": "meets_criteria",
            "criteria": [{"criterion": "visible_high_risk", "met": True,
                          "reason_code": "threshold_reached", "detail": "16 yes answers"}]}))
    with runtime.unit_of_work() as uow:
        referral = uow.session.get(Referral, referral_id)
        assert referral is not None and referral.state == "submitted"
        assert uow.session.scalar(select(func.count()).select_from(TABLES.outbox)) == before


def test_closing_a_heard_referral_closes_its_case(
    client: FlaskClient, platform_env: PlatformEnv
) -> None:

    from services.referral import service

    created = client.post("/v1/referrals?submit=true", json=form(), headers=bearer(platform_env))
    referral_id, case_id = created.get_json()["id"], created.get_json()["case_id"]
    coordinator = bearer(platform_env, role="coordinator", subject="coord")
    early = client.post(f"/v1/referrals/{referral_id}/close", headers=coordinator)
    assert early.status_code == 409  # only a heard referral closes
    runtime = client.application.extensions["marac_runtime"]
    ids = {"referral_id": referral_id, "case_id": case_id, "area_id": "northshire"}
    with runtime.unit_of_work() as uow:
        service.on_assessed(uow, payloads.RiskAssessedSchema().load({
            **ids, "assessment_id": "a-1", "checklist_version": PARTNER_CHECKLIST, "yes_count": 16,
            "band": "high", "high_weight_factors": [], "decision": "meets_criteria",
            "criteria": [{"criterion": "visible_high_risk", "met": True,
                          "reason_code": "threshold_reached", "detail": "16 yes answers"}]}))
        start = "2026-12-08T10:00:00+00:00"
        service.on_scheduled(uow, payloads.CaseScheduledSchema().load({
            **ids, "meeting_id": "m-1", "marac_date": "2026-12-08", "meeting_start": start,
            "model": "meeting", "target_date": "2026-12-08", "beyond_target": False,
            "referrer_agency": "police"}))
        service.on_heard(uow, payloads.CaseHeardSchema().load({
            **ids, "meeting_id": "m-1", "marac_date": "2026-12-08", "outcome": "heard"}))
    closed = client.post(f"/v1/referrals/{referral_id}/close", headers=coordinator)
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["state"] == "closed"
    with runtime.unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        assert case is not None and case.status == "closed" and case.closed_at is not None
    referrer = client.post(f"/v1/referrals/{referral_id}/close", headers=bearer(platform_env))
    assert referrer.status_code == 403
