"""Who may call what, the audit trail, and erasure, against the real broker and PostgreSQL.

The services' Flask apps run in-process on one platform per module (creating one costs
seconds); each test makes its own referrals so they do not depend on each other.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from marac_platform import events, payloads
from marac_platform import kafka as platform_kafka
from marac_platform.checklists import get_checklist
from marac_platform.db import utcnow
from marac_platform.keystore import KeyStore, keystore_url, load_keyring
from marac_platform.outbox import OutboxRelay
from marac_platform.security import crypto
from marac_platform.security.tokens import ensure_dev_keypair, key_id, mint_token
from marac_platform.settings import SERVICES, settings_for
from services.actions.models import CaseRecord
from services.referral.models import TABLES, Case, Referral
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.conftest import PlatformEnv, in_process, make_platform_env
from tests.support.infra import PostgresServer
from tests.support.kafka_tools import read_all

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
# Planted in the referral form: none of it may reach an audit record.
CANARY_GIVEN = "Wrenfoldia"
CANARY_STREET = "12 Audithollow Road"


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, postgres: PostgresServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformEnv]:
    created = make_platform_env(kafka_bootstrap, postgres, tmp_path_factory.mktemp("security"))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in in_process(created.env).items():  # the clock stays this process's
            patch.setenv(key, value)
        settings_for.cache_clear()
        yield created
    settings_for.cache_clear()


@pytest.fixture(scope="module")
def apps(platform: PlatformEnv) -> Iterator[dict[str, Flask]]:
    import importlib

    built = {service: importlib.import_module(f"services.{service}.app").create_app()
             for service in SERVICES}
    yield built
    for app in built.values():
        app.extensions["marac_runtime"].db.dispose()


@pytest.fixture(scope="module")
def referral_client(apps: dict[str, Flask]) -> FlaskClient:
    return apps["referral"].test_client()


class Tokens:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.key = (data_dir / "keys" / "dev_private.pem").read_bytes()

    def __call__(self, role: str, areas: tuple[str, ...] = ("northshire",), subject: str | None = None,
                 agency: str = "police", **options: Any) -> dict[str, str]:
        token = mint_token(self.key, subject=subject or f"{role}-1", agency=agency, role=role,
                           areas=list(areas), audience=options.pop("audience", "marac"),
                           issuer="marac-dev", **options)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def tokens(platform: PlatformEnv) -> Tokens:
    return Tokens(Path(platform.env["MARAC_DATA_DIR"]))


def form(area: str = "northshire") -> dict[str, Any]:
    """A referral for a victim of their own: a victim who has an open case joins it."""
    family = "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()
    return sample_referral(list(get_checklist(PARTNER_CHECKLIST).question_ids), area,
                           victim_given=CANARY_GIVEN, victim_family=family, address_line=CANARY_STREET)


def create_referral(client: FlaskClient, tokens: Tokens, subject: str = "referrer-1",
                    area: str = "northshire") -> dict[str, Any]:
    response = client.post("/v1/referrals?submit=true", json=form(area),
                           headers=tokens("referrer", (area,), subject=subject))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


def concrete(rule: str) -> str:
    """A route with each <argument> replaced by an id-shaped value."""
    import re

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                  lambda m: "northshire" if m.group(1) == "area_id" else f"{m.group(1)}-x1", rule)


def get_routes(app: Flask) -> list[str]:
    return sorted(concrete(rule.rule) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/v1/") and "GET" in (rule.methods or ()))


def all_routes(app: Flask) -> list[tuple[str, str]]:
    return sorted((method, concrete(rule.rule)) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/v1/")
                  for method in (rule.methods or ()) - {"HEAD", "OPTIONS"})


# --- 401: no valid token, no access, on every endpoint of every service --------------------


def refused_tokens(tokens: Tokens, tmp_path: Path) -> dict[str, dict[str, str]]:
    stranger, _ = ensure_dev_keypair(tmp_path / "stranger")
    ours = (Path(tokens.data_dir) / "keys" / "dev_public.pem").read_bytes()
    # Signed by another key while claiming ours (same kid, issuer, audience).
    forged = mint_token(stranger.read_bytes(), subject="mallory", agency="police", role="admin",
                        areas=["northshire"], audience="marac", issuer="marac-dev", kid=key_id(ours))
    return {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "expired": tokens("coordinator", issued_at=int(time.time()) - 7200, ttl_s=3600),
        "wrong audience": tokens("coordinator", audience="someone-else"),
        "wrongly signed": {"Authorization": f"Bearer {forged}"},
    }


def test_every_endpoint_of_every_service_refuses_a_missing_or_bad_token_with_401(
    apps: dict[str, Flask], tokens: Tokens, tmp_path: Path
) -> None:
    refused = refused_tokens(tokens, tmp_path)
    checked = 0
    for service, app in apps.items():
        client = app.test_client()
        routes = all_routes(app)
        assert ("GET", "/v1/audit") in routes, service  # every service answers auditors
        for method, path in routes:
            for case, headers in refused.items():
                response = client.open(path, method=method, headers=headers,
                                       json={} if method in ("POST", "PUT", "PATCH") else None)
                body = assert_problem(response, 401)
                assert body["type"].endswith("/unauthenticated"), (service, path, case)
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), (service, path)
                assert body["trace_id"] == response.headers["X-Trace-Id"]  # traced though refused
                checked += 1
    assert checked >= 6 * 12


# --- 403: a role without the permission ------------------------------------------------------


def test_a_role_without_the_permission_gets_403_on_every_endpoint_of_every_service(
    apps: dict[str, Flask], tokens: Tokens
) -> None:
    # An auditor may read audit records and the quarterly return's counts, and nothing else; an
    # agency rep neither of those.
    for service, app in apps.items():
        client = app.test_client()
        for method, path in all_routes(app):
            role = ("agency_rep" if path.startswith("/v1/audit") or "/quarterly-return" in path
                    else "auditor")
            response = client.open(path, method=method, headers=tokens(role),
                                   json={} if method in ("POST", "PUT", "PATCH") else None)
            body = assert_problem(response, 403)
            assert body["type"].endswith("/forbidden"), (service, method, path)


@pytest.mark.parametrize(("method", "path", "roles"), [
    ("POST", "/v1/referrals", ("agency_rep", "auditor", "admin")),
    ("GET", "/v1/referrals", ("agency_rep", "auditor", "admin")),
    ("GET", "/v1/referrals/{referral_id}", ("agency_rep", "auditor", "admin")),
    ("DELETE", "/v1/cases/{case_id}", ("referrer", "agency_rep", "idva", "coordinator", "chair",
                                       "auditor")),
    ("GET", "/v1/audit", ("referrer", "agency_rep", "idva", "coordinator", "chair")),
    ("GET", "/v1/audit/verify", ("referrer", "coordinator")),
])
def test_referral_service_role_matrix_forbids(
    referral_client: FlaskClient, tokens: Tokens, method: str, path: str, roles: tuple[str, ...]
) -> None:
    created = create_referral(referral_client, tokens)
    url = path.format(referral_id=created["id"], case_id=created["case_id"])
    for role in roles:
        response = referral_client.open(url, method=method, headers=tokens(role),
                                        json=form() if method == "POST" else None)
        assert_problem(response, 403)
    # Nothing was erased by the refused DELETEs.
    after = referral_client.get(f"/v1/referrals/{created['id']}", headers=tokens("coordinator"))
    assert after.status_code == 200
    assert after.get_json()["form"]["victim"]["name"]["given"] == CANARY_GIVEN


# --- 404: another area's case, someone else's referral -------------------------------------


def test_out_of_area_and_other_peoples_referrals_are_404(
    referral_client: FlaskClient, tokens: Tokens
) -> None:
    created = create_referral(referral_client, tokens, subject="referrer-a")
    one = f"/v1/referrals/{created['id']}"
    south = ("southshire",)
    for role in ("coordinator", "chair", "idva"):
        assert_problem(referral_client.get(one, headers=tokens(role, south)), 404)
        assert referral_client.get(one, headers=tokens(role)).status_code == 200
    # Listed for the area, not for the other area.
    listed = referral_client.get("/v1/referrals?limit=200", headers=tokens("coordinator", south))
    assert created["id"] not in [item["id"] for item in listed.get_json()["items"]]
    # A referrer sees their own referral only.
    assert referral_client.get(one, headers=tokens("referrer", subject="referrer-a")).status_code == 200
    assert_problem(referral_client.get(one, headers=tokens("referrer", subject="referrer-b")), 404)
    mine = referral_client.get("/v1/referrals?limit=200", headers=tokens("referrer", subject="referrer-b"))
    assert created["id"] not in [item["id"] for item in mine.get_json()["items"]]
    # An admin of another area cannot erase it, nor learn that it exists.
    erase = f"/v1/cases/{created['case_id']}"
    assert_problem(referral_client.delete(erase, headers=tokens("admin", south)), 404)
    assert_problem(referral_client.delete("/v1/cases/case-nonexistent", headers=tokens("admin")), 404)
    # A referrer may not refer into an area outside their token.
    refused = referral_client.post("/v1/referrals?submit=true", json=form("southshire"),
                                   headers=tokens("referrer", subject="referrer-a"))
    assert refused.status_code in (403, 404)
    assert refused.mimetype == PROBLEM


def test_other_services_hide_another_areas_case(
    apps: dict[str, Flask], tokens: Tokens
) -> None:
    runtime = apps["actions"].extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        uow.session.add(CaseRecord(
            case_id="case-sec-actions", referral_id="ref-sec-actions", meeting_id="northshire-m1",
            marac_date=utcnow().date(), status="open", opened_at=utcnow(), updated_at=utcnow(),
            area_id="northshire"))
    client = apps["actions"].test_client()
    assert client.get("/v1/cases/case-sec-actions", headers=tokens("agency_rep")).status_code == 200
    assert_problem(client.get("/v1/cases/case-sec-actions",
                              headers=tokens("agency_rep", ("southshire",))), 404)
    # Lists and unknown ids in the other services answer without leaking: 200 with nothing, or 404.
    notify = apps["notify"].test_client()
    listed = notify.get("/v1/deliveries?case_id=case-sec-actions",
                        headers=tokens("coordinator", ("southshire",)))
    assert listed.status_code == 200 and listed.get_json() == []
    risk = apps["risk"].test_client()
    assert_problem(risk.get("/v1/assessments/ref-sec-actions", headers=tokens("coordinator")), 404)


# --- the audit trail ---------------------------------------------------------------------------


def audit_rows(app: Flask, case_id: str | None = None) -> list[Any]:
    table = app.extensions["marac_runtime"].tables.audit
    statement = select(table).order_by(table.c.seq)
    if case_id is not None:
        statement = statement.where(table.c.case_id == case_id)
    with app.extensions["marac_runtime"].db.engine.connect() as connection:
        return list(connection.execute(statement).all())


def test_reads_and_writes_are_audited_with_ids_only_and_the_chain_verifies(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens
) -> None:
    app = apps["referral"]
    response = referral_client.post("/v1/referrals?submit=true", json=form(),
                                     headers=tokens("referrer", subject="referrer-audit"))
    created = response.get_json()
    trace_id = response.headers["X-Trace-Id"]
    read = referral_client.get(f"/v1/referrals/{created['id']}",
                               headers={**tokens("coordinator", subject="coord-audit", agency="idva")},
                               environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert read.status_code == 200
    denied = referral_client.get(f"/v1/referrals/{created['id']}",
                                 headers=tokens("coordinator", ("southshire",), subject="coord-south"))
    assert denied.status_code == 404

    rows = audit_rows(app, created["case_id"])
    create_row, read_row = rows[0], rows[1]
    assert (create_row.subject, create_row.agency, create_row.role, create_row.action) == (
        "referrer-audit", "police", "referrer", "create")
    assert create_row.resource == f"/v1/referrals/{created['id']}"
    assert (create_row.outcome, create_row.area_id, create_row.trace_id) == (
        "2xx:201", "northshire", trace_id)
    assert (read_row.subject, read_row.agency, read_row.role, read_row.action) == (
        "coord-audit", "idva", "coordinator", "read")
    assert (read_row.outcome, read_row.source_ip) == ("2xx:200", "10.1.2.3")
    assert read_row.trace_id == read.headers["X-Trace-Id"]
    # The refused read is on record too, under the caller's area and the referral's path.
    refused = [row for row in audit_rows(app) if row.subject == "coord-south"]
    assert [(r.outcome, r.area_id, r.resource) for r in refused] == [
        ("4xx:404", "southshire", f"/v1/referrals/{created['id']}")]
    # Ids and codes only: nothing of the form reached the trail.
    everything = repr([tuple(row) for row in audit_rows(app)])
    for canary in (CANARY_GIVEN, "Audithollow", "Example", "Threats"):
        assert canary not in everything

    # Auditors query it, limited to their areas; the chain verifies.
    auditor = tokens("auditor", subject="auditor-1")
    found = referral_client.get(f"/v1/audit?case_id={created['case_id']}", headers=auditor).get_json()
    assert [(i["action"], i["subject"], i["referral_id"]) for i in found["items"]] == [
        ("read", "coord-audit", created["id"]), ("create", "referrer-audit", created["id"])]
    assert found["items"][0]["service"] == "referral" and found["items"][0]["status"] == 200
    by_subject = referral_client.get("/v1/audit?subject=coord-audit&agency=idva", headers=auditor)
    assert {i["subject"] for i in by_subject.get_json()["items"]} == {"coord-audit"}
    south_auditor = tokens("auditor", ("southshire",), subject="auditor-2")
    hidden = referral_client.get(f"/v1/audit?case_id={created['case_id']}", headers=south_auditor)
    assert hidden.get_json()["items"] == []
    verified = referral_client.get("/v1/audit/verify", headers=tokens("admin"))
    assert verified.status_code == 200
    assert verified.get_json()["ok"] is True and verified.get_json()["first_bad_seq"] is None
    # Auditors' own reads are on record.
    assert any(row.subject == "auditor-2" and row.resource == "/v1/audit" for row in audit_rows(app))

    # Every service has the same trail.
    for service in ("risk", "scheduling", "actions", "notify"):
        client = apps[service].test_client()
        client.get("/v1/audit", headers=auditor)
        check = client.get("/v1/audit/verify", headers=auditor)
        assert check.status_code == 200 and check.get_json()["ok"] is True, service
        assert audit_rows(apps[service]), service


def test_altering_one_audit_row_makes_verify_name_its_seq(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens
) -> None:
    app = apps["referral"]
    created = create_referral(referral_client, tokens, subject="referrer-tamper")
    target = audit_rows(app, created["case_id"])[0]
    table = app.extensions["marac_runtime"].tables.audit
    engine = app.extensions["marac_runtime"].db.engine
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.seq == target.seq).values(action="read"))
    try:
        check = referral_client.get("/v1/audit/verify", headers=tokens("auditor")).get_json()
        assert check == {"ok": False, "first_bad_seq": target.seq, "checked": target.seq - 1}
    finally:
        with engine.begin() as connection:
            connection.execute(update(table).where(table.c.seq == target.seq).values(action="create"))
    assert referral_client.get("/v1/audit/verify", headers=tokens("auditor")).get_json()["ok"] is True


def test_concurrent_calls_append_one_unbroken_chain(
    apps: dict[str, Flask], referral_client: FlaskClient, tokens: Tokens
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    app = apps["referral"]
    created = create_referral(referral_client, tokens)
    before = len(audit_rows(app))
    headers = tokens("coordinator", subject="coord-concurrent")

    def read(_: int) -> int:
        with app.test_client() as client:
            return client.get(f"/v1/referrals/{created['id']}", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(read, range(40)))
    assert statuses == [200] * 40
    rows = audit_rows(app)
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert len(rows) - before == 40
    assert referral_client.get("/v1/audit/verify", headers=tokens("auditor")).get_json()["ok"] is True


def test_a_read_that_cannot_be_audited_is_not_served(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens
) -> None:
    created = create_referral(referral_client, tokens)
    engine = apps["referral"].extensions["marac_runtime"].db.engine
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        response = referral_client.get(f"/v1/referrals/{created['id']}", headers=tokens("coordinator"))
        body = assert_problem(response, 503)
        assert body["type"].endswith("/audit-unavailable")
        assert CANARY_GIVEN.encode() not in response.data and created["case_id"].encode() not in response.data
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert referral_client.get(f"/v1/referrals/{created['id']}",
                               headers=tokens("coordinator")).status_code == 200


# --- erasure -----------------------------------------------------------------------------------


def relay_once(app: Flask) -> int:
    runtime = app.extensions["marac_runtime"]
    producer = platform_kafka.producer(runtime.settings.kafka, client_id="test-security-relay")
    try:
        return OutboxRelay(runtime.db, runtime.tables, producer).run_once()
    finally:
        producer.close()


def fresh_keystore(platform: PlatformEnv) -> KeyStore:
    """A key store with no cache: what any other process would see."""
    from marac_platform.db import Database

    settings = settings_for("referral")
    return KeyStore(Database(keystore_url(settings)), load_keyring(settings, frozenset({"northshire",
                                                                                      "southshire"})))


def accept(app: Flask, created: dict[str, Any]) -> None:
    """What the referral worker does when risk says the case meets the criteria."""
    from services.referral.handlers import HANDLERS

    data = {"referral_id": created["id"], "case_id": created["case_id"], "area_id": "northshire",
            "assessment_id": "assess-sec-1", "checklist_version": PARTNER_CHECKLIST,
            "yes_count": 16, "band": "high", "high_weight_factors": [],
            "criteria": [{"criterion": "visible_high_risk", "met": True, "reason_code": "threshold",
                          "detail": "16 yes answers"}],
            "decision": "meets_criteria"}
    message = events.new_message(events.RISK_ASSESSED, source="/test", subject=created["case_id"],
                                 area="northshire", data=data)
    event = events.decode({k: v.encode() for k, v in message.headers.items()},
                          message.key.encode(), message.value)
    runtime = app.extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        HANDLERS[event.type](uow, event)


def test_erasure_shreds_the_case_everywhere_and_keeps_its_ids(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens, platform: PlatformEnv
) -> None:
    app = apps["referral"]
    bootstrap = platform.env["KAFKA_BOOTSTRAP_SERVERS"]
    created = create_referral(referral_client, tokens, subject="referrer-erase")
    case_id = created["case_id"]
    accept(app, created)
    assert relay_once(app) >= 3
    runtime = app.extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        stored = uow.session.scalars(select(Referral).where(Referral.id == created["id"])).one()
        ciphertext = stored.form_personal
    assert ciphertext and ciphertext.startswith("enc1:")

    def accepted_entry() -> dict[str, str]:
        for record in read_all(bootstrap, events.kafka_topic("referral.accepted")):
            if record.key == case_id.encode():
                event = events.decode(events.header_map(record.headers), record.key, record.value)
                entry: dict[str, str] = event.payload(payloads.ReferralAccepted).case_list_entry
                return entry
        raise AssertionError("no accepted event for the case in Kafka")

    entry = accepted_entry()
    assert set(entry) == {"incidents", "safeguarding_in_place"}
    before = fresh_keystore(platform)
    assert before.decrypt(case_id, "case_list.safeguarding_in_place", entry["safeguarding_in_place"])
    assert before.decrypt(case_id, "referral.personal", ciphertext)["victim"]["name"]["given"] == CANARY_GIVEN

    erased = referral_client.delete(f"/v1/cases/{case_id}", headers=tokens("admin", subject="admin-1"))
    assert erased.status_code == 204 and erased.data == b""
    assert referral_client.delete(f"/v1/cases/{case_id}", headers=tokens("admin")).status_code == 204

    # Every copy is unreadable: the event re-read from the start of its topic, the stored form.
    after = fresh_keystore(platform)
    for token, field in ((accepted_entry()["safeguarding_in_place"], "case_list.safeguarding_in_place"),
                         (accepted_entry()["incidents"], "case_list.incidents"),
                         (ciphertext, "referral.personal")):
        with pytest.raises(crypto.KeyErased):
            after.decrypt(case_id, field, token)
    before.db.dispose()
    after.db.dispose()

    # Ids, states and non-personal counts survive; the form does not.
    with runtime.unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        referral = uow.session.scalars(select(Referral).where(Referral.id == created["id"])).one()
        assert case is not None and case.status == "erased"
        assert referral.form_personal is None and referral.form_public == {}
        assert (referral.state, referral.submissions) == ("accepted", 1)
        assert referral.assessment is not None and referral.assessment["yes_count"] == 16
    read = referral_client.get(f"/v1/referrals/{created['id']}", headers=tokens("coordinator"))
    assert read.status_code == 200
    body = read.get_json()
    assert (body["id"], body["case_id"], body["state"], body["form"]) == (
        created["id"], case_id, "accepted", {})

    # The other services are told, once, through the outbox.
    assert relay_once(app) >= 1
    erasures = [events.decode(events.header_map(r.headers), r.key, r.value)
                for r in read_all(bootstrap, events.kafka_topic("case.erased"))]
    mine = [e for e in erasures if e.subject == case_id]
    erased = [e.payload(payloads.CaseErased) for e in mine]
    assert [(e.case_id, e.area_id, e.reason) for e in erased] == [
        (case_id, "northshire", "request")]
    # The erasure is on the audit trail, attributed to the admin.
    rows = [r for r in audit_rows(app, case_id) if r.action == "delete"]
    assert [(r.subject, r.outcome, r.area_id) for r in rows] == [
        ("admin-1", "2xx:204", "northshire"), ("admin-1", "2xx:204", "northshire")]


# --- request hygiene -----------------------------------------------------------------------------


def test_oversized_wrong_type_malformed_and_unknown_bodies_are_clear_problems(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens
) -> None:
    headers = tokens("referrer")
    big = b'{"area_id": "' + b"x" * 1_100_000 + b'"}'
    assert_problem(referral_client.post("/v1/referrals", data=big, headers=headers,
                                        content_type="application/json"), 413)
    assert_problem(referral_client.post("/v1/referrals", data=b"<referral/>", headers=headers,
                                        content_type="application/xml"), 415)
    assert_problem(referral_client.post("/v1/referrals", data=b'{"area_id": ', headers=headers,
                                        content_type="application/json"), 400)
    body = form()
    body["victim"]["shoe_size"] = 9
    unknown = assert_problem(referral_client.post("/v1/referrals?submit=true", json=body,
                                                  headers=headers), 422)
    assert "victim.shoe_size" in [error["field"] for error in unknown["errors"]]
    # The same through flask-smorest's argument parsing (the risk preview).
    risk = apps["risk"].test_client()
    preview = risk.post("/v1/assessments/preview", headers=headers, json={
        "area_id": "northshire", "checklist_version": PARTNER_CHECKLIST, "answers": {},
        "favourite_colour": "blue"})
    problem = assert_problem(preview, 422)
    assert "favourite_colour" in [error["field"] for error in problem["errors"]]
    assert_problem(risk.post("/v1/assessments/preview", headers=headers, data=b"{nope",
                             content_type="application/json"), 400)
    # An anonymous caller learns nothing, not even that the body is wrong.
    assert_problem(referral_client.post("/v1/referrals", data=b"<x/>", content_type="application/xml"), 401)


def test_outbox_has_no_personal_data_of_erased_or_live_cases(
    referral_client: FlaskClient, apps: dict[str, Flask], tokens: Tokens
) -> None:
    create_referral(referral_client, tokens, subject="referrer-outbox")
    runtime = apps["referral"].extensions["marac_runtime"]
    with runtime.unit_of_work() as uow:
        values = uow.session.execute(select(TABLES.outbox.c.value)).scalars().all()
    assert values
    for value in values:
        assert CANARY_GIVEN.encode() not in value and b"Audithollow" not in value


# --- agencies read cases only under an information-sharing agreement in force --------------


@pytest.mark.parametrize("agency", ["probation", "no-such-agency"])
def test_an_agency_without_an_agreement_in_force_reads_no_case_data_anywhere(
    apps: dict[str, Flask], referral_client: FlaskClient, tokens: Tokens, agency: str
) -> None:
    # deploy/areas.yaml: probation is in Northshire's directory without a signed agreement;
    # the other agency is in no directory at all. Police has signed.
    created = create_referral(referral_client, tokens)
    runtime = apps["actions"].extensions["marac_runtime"]
    case_id = created["case_id"]
    with runtime.unit_of_work() as uow:
        uow.session.add(CaseRecord(
            case_id=case_id, referral_id=created["id"], meeting_id="northshire-m1",
            marac_date=utcnow().date(), status="open", opened_at=utcnow(), updated_at=utcnow(),
            area_id="northshire"))
    one = f"/v1/referrals/{created['id']}"
    signed = [
        ("referral", "idva", one, 200), ("referral", "idva", "/v1/referrals", 200),
        ("actions", "agency_rep", f"/v1/cases/{case_id}", 200),
        ("scheduling", "agency_rep", "/v1/meetings?area_id=northshire", 200),
        ("scheduling", "agency_rep", "/v1/meetings/northshire-2000-01-04/case-lists", 404),
    ]
    for service, role, path, status in signed:
        assert apps[service].test_client().get(path, headers=tokens(role)).status_code == status, path
    # The same reads, and every other GET of every service but the checklists, for either
    # agency role: 403, the same answer whether the agency is unknown or has not signed.
    for service, role, path, _ in signed:
        body = assert_problem(apps[service].test_client().get(
            path, headers=tokens(role, agency=agency, subject=f"{agency}-{role}")), 403)
        assert body["detail"] == ("Your agency has no information-sharing agreement in force "
                                  "with the MARAC of your areas."), path
    for service, app in apps.items():
        client = app.test_client()
        for path in get_routes(app):
            if path.startswith("/v1/checklists"):
                continue
            for role in ("agency_rep", "idva"):
                response = client.get(path, headers=tokens(role, agency=agency))
                assert assert_problem(response, 403)["type"].endswith("/forbidden"), (service, path)
                assert CANARY_GIVEN.encode() not in response.data
    # The refused reads of case data are on the audit trail, with the agency and the status.
    refused = [row for row in audit_rows(apps["referral"]) if row.subject == f"{agency}-idva"]
    assert (f"/v1/referrals/{created['id']}", "4xx:403", agency, "northshire") in {
        (row.resource, row.outcome, row.agency, row.area_id) for row in refused}
    # Coordinators act for the MARAC, whichever agency employs them.
    assert referral_client.get(one, headers=tokens("coordinator", agency=agency)).status_code == 200


# --- an area id: one answer for an unknown area and another's ------------------------------


def test_an_unknown_area_and_another_served_area_get_the_same_answer_everywhere(
    apps: dict[str, Flask], tokens: Tokens
) -> None:
    day = "2030-01-08"

    def calls(area: str) -> list[tuple[str, str, str, Any]]:
        return [
            ("scheduling", "GET", f"/v1/meetings?area_id={area}", None),
            ("scheduling", "POST", "/v1/meetings", {"area_id": area, "marac_date": day}),
            ("scheduling", "GET", f"/v1/areas/{area}/calendar", None),
            ("scheduling", "GET", f"/v1/areas/{area}/at-risk", None),
            ("risk", "POST", "/v1/assessments/preview",
             {"area_id": area, "checklist_version": PARTNER_CHECKLIST, "answers": {}}),
            ("referral", "POST", "/v1/referrals", {"area_id": area}),
            ("referral", "POST", "/v1/referrals?submit=true", form(area)),
        ]

    def answer(area: str, headers: dict[str, str], first: int = 0) -> list[tuple[int, Any]]:
        answers = []
        for service, method, path, body in calls(area)[first:]:
            response = apps[service].test_client().open(path, method=method, json=body, headers=headers)
            problem = assert_problem(response, 404)
            problem.pop("trace_id")
            answers.append((response.status_code, problem))
        return answers

    # A coordinator of Northshire: Southshire is served here, Westshire is not.
    north = tokens("coordinator")
    assert answer("southshire", north) == answer("westshire", north)
    # Naming an area in the token does not make the deployment serve it.
    both = tokens("coordinator", ("northshire", "westshire"))
    assert answer("westshire", both) == answer("southshire", north)
    assert answer("southshire", north)[0][1]["errors"] == [
        {"field": "area_id", "reason": "Not an area you may use."}]
    referrer = tokens("referrer")
    assert answer("southshire", referrer, 4) == answer("westshire", referrer, 4)  # preview, referrals


# --- referrals: one read rule for the list and for one -------------------------------------


def test_whoever_reads_one_referral_finds_it_in_the_list_and_the_other_way_round(
    referral_client: FlaskClient, tokens: Tokens
) -> None:
    submitted = create_referral(referral_client, tokens, subject="referrer-rule")
    draft_response = referral_client.post("/v1/referrals", json={"area_id": "northshire"},
                                          headers=tokens("idva", subject="idva-rule"))
    assert draft_response.status_code == 201, draft_response.get_json()
    draft = draft_response.get_json()

    def reads(headers: dict[str, str]) -> dict[str, tuple[bool, bool]]:
        listed = referral_client.get("/v1/referrals?limit=200", headers=headers)
        assert listed.status_code == 200, listed.get_json()
        ids = {item["id"] for item in listed.get_json()["items"]}
        alone = {found["id"]: referral_client.get(f"/v1/referrals/{found['id']}", headers=headers)
                 for found in (submitted, draft)}
        return {name: (found["id"] in ids, alone[found["id"]].status_code == 200)
                for name, found in (("submitted", submitted), ("draft", draft))}

    # (in the list, readable alone) for each referral.
    assert reads(tokens("idva", subject="idva-rule")) == {"submitted": (True, True), "draft": (True, True)}
    assert reads(tokens("idva", subject="idva-other")) == {"submitted": (True, True),
                                                           "draft": (False, False)}
    assert reads(tokens("coordinator")) == {"submitted": (True, True), "draft": (False, False)}
    assert reads(tokens("referrer", subject="referrer-rule")) == {"submitted": (True, True),
                                                                  "draft": (False, False)}
    assert reads(tokens("referrer", subject="referrer-else")) == {"submitted": (False, False),
                                                                  "draft": (False, False)}
    # The IDVA saves more of its own draft.
    saved = referral_client.patch(f"/v1/referrals/{draft['id']}", json={"victim_fears": "Unknown."},
                                  headers=tokens("idva", subject="idva-rule"))
    assert saved.status_code == 200, saved.get_json()
