"""Case keys over their life: retention sweep, area key rotation and re-wrapping, a missing key."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac_platform import events, keystore
from marac_platform.checklists import get_checklist
from marac_platform.db import Database, utcnow
from marac_platform.keystore import KeyStore, KeyUnavailable, keystore_url, load_keyring
from marac_platform.settings import settings_for
from services import registry
from services.referral.app import create_app
from services.referral.forms import key_store
from services.referral.models import TABLES, Case, Referral
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.conftest import PlatformEnv
from tests.support.clock import edge_params

pytestmark = pytest.mark.integration

AREAS = frozenset({"northshire", "southshire"})


@pytest.fixture
def app(platform_env: PlatformEnv) -> Iterator[Flask]:
    built = create_app()
    yield built
    built.extensions["marac_runtime"].db.dispose()


def bearer(platform_env: PlatformEnv, role: str, area: str = "northshire") -> dict[str, str]:
    from marac_platform.security.tokens import mint_token

    key = (Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=f"{role}-k", agency="police", role=role, areas=[area],
                       audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {token}"}


def create(client: FlaskClient, platform_env: PlatformEnv, area: str = "northshire") -> dict[str, Any]:
    # Each its own victim: a referral for a victim with an open case joins that case.
    family = "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()
    body = sample_referral(list(get_checklist(PARTNER_CHECKLIST).question_ids), area,
                           victim_family=family)
    response = client.post("/v1/referrals?submit=true", json=body,
                           headers=bearer(platform_env, "referrer", area))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def marac(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = registry.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def fresh_store() -> KeyStore:
    settings = settings_for("referral")
    return KeyStore(Database(keystore_url(settings)), load_keyring(settings, AREAS))


# Retention counts days back from the clock: stand across a clock change, the turn of the
# year and a leap day.
@pytest.mark.parametrize("clock_start", edge_params(("bst-ends", "new-years-eve", "leap-day")))
def test_retention_sweep_erases_closed_cases_past_their_areas_retention(
    app: Flask, platform_env: PlatformEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app.test_client()
    old_north, recent_north = create(client, platform_env), create(client, platform_env)
    old_south, still_open = create(client, platform_env, "southshire"), create(client, platform_env)
    runtime = app.extensions["marac_runtime"]
    now = utcnow()
    with runtime.unit_of_work() as uow:
        for created, closed_days_ago in ((old_north, 2191), (recent_north, 10), (old_south, 2200)):
            case = uow.session.get(Case, created["case_id"])
            assert case is not None
            case.status, case.closed_at = "closed", now - timedelta(days=closed_days_ago)

    code, out = marac(capsys, "keys", "retention-sweep", "--dry-run")
    assert code == 0, out
    assert "would erase 2 case(s)" in out
    assert f"northshire (retention 2190 days): 1: {old_north['case_id']}" in out
    assert f"southshire (retention 2190 days): 1: {old_south['case_id']}" in out
    store = fresh_store()
    assert store.data_key(old_north["case_id"]) is not None  # a dry run changes nothing

    code, out = marac(capsys, "keys", "retention-sweep")
    assert code == 0, out
    assert "erased 2 case(s)" in out
    store = fresh_store()
    for created, erased in ((old_north, True), (old_south, True), (recent_north, False), (still_open, False)):
        assert (store.data_key(created["case_id"]) is None) is erased, created["case_id"]
    store.db.dispose()
    with runtime.unit_of_work() as uow:
        statuses = dict(uow.session.execute(select(Case.id, Case.status)).all())
        forms = dict(uow.session.execute(select(Referral.case_id, Referral.form_personal)).all())
        queued = uow.session.execute(
            select(TABLES.outbox.c.headers, TABLES.outbox.c.value)
            .where(TABLES.outbox.c.topic == events.kafka_topic("case.erased"))).all()
    assert statuses[old_north["case_id"]] == statuses[old_south["case_id"]] == "erased"
    assert statuses[recent_north["case_id"]] == "closed" and statuses[still_open["case_id"]] == "open"
    assert forms[old_north["case_id"]] is None and forms[recent_north["case_id"]] is not None
    reasons = sorted((json.loads(value)["case_id"], json.loads(value)["reason"]) for _, value in queued)
    assert reasons == sorted([(old_north["case_id"], "retention"), (old_south["case_id"], "retention")])

    code, out = marac(capsys, "keys", "retention-sweep")
    assert code == 0 and "erased 0 case(s)" in out
    # Each erasure is on the audit trail, and the chain still verifies.
    audit_log = TABLES.audit
    with runtime.db.engine.connect() as connection:
        swept = connection.execute(
            select(audit_log.c.case_id, audit_log.c.area_id, audit_log.c.outcome)
            .where(audit_log.c.subject == "marac-retention-sweep")).all()
    assert sorted(swept) == sorted([(old_north["case_id"], "northshire", "erased:retention"),
                                    (old_south["case_id"], "southshire", "erased:retention")])
    check = client.get("/v1/audit/verify", headers=bearer(platform_env, "auditor")).get_json()
    assert check["ok"] is True


def test_area_key_rotation_rewraps_case_keys_and_a_removed_key_fails_clearly(
    app: Flask, platform_env: PlatformEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app.test_client()
    first = create(client, platform_env)
    coordinator = bearer(platform_env, "coordinator")
    keys_file = Path(platform_env.env["MARAC_DATA_DIR"]) / "keys" / "area-keys.json"

    code, out = marac(capsys, "keys", "rotate-area", "northshire")
    assert code == 0 and "new current key k2" in out, out
    assert json.loads(keys_file.read_text())["northshire"]["current"] == "k2"
    code, out = marac(capsys, "keys", "status", "--area", "northshire")
    assert "northshire: current k2; case keys by kid: k1: 1, k2: 0" in out, out

    code, out = marac(capsys, "keys", "rewrap", "--area", "northshire")
    assert code == 0 and "re-wrapped 1 case key(s) under k2" in out, out
    code, out = marac(capsys, "keys", "status", "--area", "northshire")
    assert "case keys by kid: k1: 0, k2: 1" in out, out
    code, out = marac(capsys, "keys", "rewrap", "--area", "northshire")
    assert "re-wrapped 0" in out  # already done: nothing to do

    # The running service loaded k1 only; it reads the file again when it meets k2.
    running = key_store(app.extensions["marac_runtime"])
    running._cache.clear()
    read = client.get(f"/v1/referrals/{first['id']}", headers=coordinator)
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["form"]["victim"]["name"]["given"] == "Alex"
    assert running.keyring.current_kid("northshire") == "k2"

    # Someone removes k2 while case keys still need it: the failure names the case and the kid.
    document = json.loads(keys_file.read_text())
    del document["northshire"]["keys"]["k2"]
    document["northshire"]["current"] = "k1"
    keys_file.write_text(json.dumps(document))
    with pytest.raises(KeyUnavailable) as info:
        fresh_store().data_key(first["case_id"])
    message = str(info.value)
    assert first["case_id"] in message and "northshire/k2" in message and "rewrap" in message
    # The running process still holds k2 and keeps reading; a restarted one cannot.
    running._cache.clear()
    assert client.get(f"/v1/referrals/{first['id']}", headers=coordinator).status_code == 200
    keystore._stores.clear()
    restarted = create_app()
    refused = restarted.test_client().get(f"/v1/referrals/{first['id']}", headers=coordinator)
    restarted.extensions["marac_runtime"].db.dispose()
    assert refused.status_code == 503 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/key-unavailable")
    code, out = marac(capsys, "keys", "status", "--area", "northshire")
    assert "WARNING northshire/k2 wraps 1 case key(s)" in out, out
    code, out = marac(capsys, "keys", "rewrap", "--area", "northshire")
    assert code == 2 and first["case_id"] in out and "northshire/k2" in out, out

    code, out = marac(capsys, "keys", "rotate-area", "nowhere")
    assert code == 2 and "unknown area" in out
