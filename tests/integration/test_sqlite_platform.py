"""The platform as `./dev run` keeps it: SQLite files in the data folder, the real broker.

What an attacker with a copy of the data folder (and the area key file) can recover after an
erasure, who may read the files, what many concurrent referrers are told, a trail whose end
was cut off, and bodies no view can store.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from marac_platform import events, payloads
from marac_platform import kafka as platform_kafka
from marac_platform.checklists import get_checklist
from marac_platform.outbox import OutboxRelay
from marac_platform.security import crypto
from marac_platform.security.tokens import mint_token
from marac_platform.settings import kafka_settings, settings_for
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.support.infra import unique
from tests.support.kafka_tools import read_all

pytestmark = pytest.mark.integration

SERVICES = ("referral", "risk", "scheduling")
CANARY_GIVEN = "Sqlorinda"
CANARY_FAMILY = "Walkeystone"
CANARY_STREET = "41 Ciphergone Row"
CANARY_POLICE_REF = "NS-WALCANARY-77"
PROBLEM = "application/problem+json"


@dataclass
class SqlitePlatform:
    data_dir: Path
    bootstrap: str
    apps: dict[str, Flask]

    def token(self, role: str, subject: str | None = None) -> dict[str, str]:
        key = (self.data_dir / "keys" / "dev_private.pem").read_bytes()
        token = mint_token(key, subject=subject or f"{role}-1", agency="police", role=role,
                           areas=["northshire"], audience="marac", issuer="marac-dev")
        return {"Authorization": f"Bearer {token}"}

    def sqlite(self, name: str) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / f"{name}.db", timeout=30)


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlitePlatform]:
    from marac_platform.commands.migrate import migrate_all
    from services.registry import SERVICES as DECLARED

    data_dir = tmp_path_factory.mktemp("sqlite-platform") / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)  # as `./dev run` finds it: the local broker made it first
    repo = Path(__file__).resolve().parents[2]
    previous_umask = os.umask(0o022)
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name == "DATABASE_URL" or name.endswith("_DATABASE_URL"):
                patch.delenv(name)
        patch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
        patch.setenv("MARAC_TOPIC_PREFIX", f"{unique('sq')}.")
        patch.setenv("MARAC_DATA_DIR", str(data_dir))
        patch.setenv("MARAC_AREAS_FILE", str(repo / "deploy" / "areas.yaml"))
        settings_for.cache_clear()
        try:
            migrate_all([DECLARED[name] for name in SERVICES], create_database=False, quiet=True)
            platform_kafka.create_topics(kafka_settings(dict(os.environ)))
            apps = {service: importlib.import_module(f"services.{service}.app").create_app()
                    for service in SERVICES}
            yield SqlitePlatform(data_dir, kafka_bootstrap, apps)
            for app in apps.values():
                app.extensions["marac_runtime"].db.dispose()
        finally:
            os.umask(previous_umask)
            settings_for.cache_clear()


def referral_form(given: str = CANARY_GIVEN, family: str = CANARY_FAMILY,
                  police_reference: str = CANARY_POLICE_REF) -> dict[str, Any]:
    form = sample_referral(list(get_checklist(PARTNER_CHECKLIST).question_ids),
                           victim_given=given, victim_family=family, address_line=CANARY_STREET)
    form["incidents"][0]["police_reference"] = police_reference
    return form


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app behind a real multi-threaded HTTP server (a thread per request)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def post_json(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def data_files(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.rglob("*")) if path.is_file()]


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return [str(path.relative_to(folder)) for path in data_files(folder) if needle in path.read_bytes()]


# --- erasure ---------------------------------------------------------------------------------


def accept(app: Flask, created: dict[str, Any]) -> None:
    """What the referral worker does when risk says the case meets the criteria."""
    from services.referral.handlers import HANDLERS

    data = {"referral_id": created["id"], "case_id": created["case_id"], "area_id": "northshire",
            "assessment_id": f"assess-{created['id']}", "checklist_version": PARTNER_CHECKLIST,
            "yes_count": 16, "band": "high", "high_weight_factors": [],
            "criteria": [{"criterion": "visible_high_risk", "met": True, "reason_code": "threshold",
                          "detail": "16 yes answers"}],
            "decision": "meets_criteria"}
    message = events.new_message("marac.risk.assessed.v1", source="/test", subject=created["case_id"],
                                 area="northshire", data=data)
    event = events.decode({k: v.encode() for k, v in message.headers.items()},
                          message.key.encode(), message.value)
    with app.extensions["marac_runtime"].unit_of_work() as uow:
        HANDLERS[event.type](uow, event)


def relay(app: Flask) -> int:
    runtime = app.extensions["marac_runtime"]
    producer = platform_kafka.producer(runtime.settings.kafka, client_id="test-sqlite-relay")
    try:
        return OutboxRelay(runtime.db, runtime.tables, producer).run_once()
    finally:
        producer.close()


def encrypted_in_kafka(platform: SqlitePlatform, case_id: str) -> list[tuple[str, str]]:
    """(field, token) of every encrypted value in the case's Kafka records."""
    found: list[tuple[str, str]] = []
    for record in read_all(platform.bootstrap, events.kafka_topic("referral.accepted")):
        if record.key == case_id.encode():
            event = events.decode(events.header_map(record.headers), record.key, record.value)
            accepted = event.payload(payloads.ReferralAccepted)
            found.extend((f"case_list.{name}", token)
                         for name, token in accepted.case_list_entry.items())
    return found


def recoverable_keys(platform: SqlitePlatform) -> list[crypto.DataKey]:
    """Every data key an attacker holding the data folder and the area key file can unwrap."""
    keyring = crypto.AreaKeyRing(json.loads((platform.data_dir / "keys" / "area-keys.json").read_text()))
    # A 12-byte nonce and a 32-byte key with its 16-byte tag, unpadded base64url.
    pattern = re.compile(rb"wk1:[a-z0-9-]{1,64}:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{64}")
    keys: list[crypto.DataKey] = []
    for path in data_files(platform.data_dir):
        for match in pattern.finditer(path.read_bytes()):
            try:
                keys.append(crypto.unwrap(keyring, match.group().decode("ascii")))
            except (crypto.CryptoError, ValueError):
                continue
    return keys


def readable(keys: list[crypto.DataKey], case_id: str, tokens: list[tuple[str, str]]) -> list[Any]:
    opened = []
    for key in keys:
        for field, token in tokens:
            try:
                opened.append(crypto.decrypt_value(key, token, case_id=case_id, field=field))
            except crypto.CryptoError:
                continue
    return opened


def test_erasure_leaves_no_copy_of_the_key_in_the_data_folder(platform: SqlitePlatform) -> None:
    app = platform.apps["referral"]
    client = app.test_client()
    response = client.post("/v1/referrals?submit=true", json=referral_form(),
                           headers=platform.token("referrer", "referrer-erasure"))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    case_id = created["case_id"]
    accept(app, created)
    assert relay(app) >= 2
    with platform.sqlite("keystore") as keystore:
        [wrapped] = keystore.execute("SELECT wrapped FROM case_keys WHERE case_id = ?", (case_id,)).fetchone()
    with platform.sqlite("referral") as referral:
        [personal] = referral.execute("SELECT form_personal FROM referrals WHERE id = ?",
                                      (created["id"],)).fetchone()
    tokens = [("referral.personal", personal), *encrypted_in_kafka(platform, case_id)]
    assert len(tokens) == 3
    parsed = crypto.WrappedKey.parse(wrapped)
    needles = [wrapped.encode(), wrapped.split(":")[-1].encode(), parsed.ciphertext, parsed.nonce]
    # The attack works while the case lives: the scan finds the key, the key opens every copy.
    assert files_holding(platform.data_dir, needles[1])
    opened = readable(recoverable_keys(platform), case_id, tokens)
    assert any(isinstance(value, dict) and value["victim"]["name"]["given"] == CANARY_GIVEN
               for value in opened)
    assert files_holding(platform.data_dir, CANARY_POLICE_REF.encode())  # the form's clear part

    erased = client.delete(f"/v1/cases/{case_id}", headers=platform.token("admin", "admin-erasure"))
    assert erased.status_code == 204

    for needle in needles:
        assert files_holding(platform.data_dir, needle) == [], "a copy of the wrapped key is left"
    # Nothing the area key unwraps opens the name, address, date of birth or case-list details:
    # not the stored form, not the Kafka records.
    assert readable(recoverable_keys(platform), case_id, tokens) == []
    for clear in (CANARY_GIVEN, CANARY_FAMILY, "Ciphergone", CANARY_POLICE_REF):
        assert files_holding(platform.data_dir, clear.encode()) == [], clear


# --- who may read the files ------------------------------------------------------------------


def test_sqlite_files_and_the_data_folder_are_private(platform: SqlitePlatform) -> None:
    client = platform.apps["referral"].test_client()
    client.post("/v1/referrals", json={"area_id": "northshire"}, headers=platform.token("referrer"))
    files = [path for path in data_files(platform.data_dir)
             if re.search(r"\.db(-wal|-shm)?$", path.name)]
    names = {path.name for path in files}
    assert {"keystore.db", "referral.db", "referral.db-wal", "referral.db-shm"} <= names, names
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in files} == {
        path.name: "0o600" for path in files}
    assert oct(platform.data_dir.stat().st_mode & 0o777) == "0o700"


# --- many referrers at once ------------------------------------------------------------------


def get_status(url: str, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_concurrent_submits_are_each_answered_as_they_were_stored(platform: SqlitePlatform) -> None:
    app = platform.apps["referral"]
    count = 96
    headers = platform.token("referrer", "referrer-concurrent")
    first = app.test_client().post("/v1/referrals", json={"area_id": "northshire"}, headers=headers)
    draft = first.get_json()["id"]

    # 8 referrers submit at once while 8 more callers read (each read is audited too).
    with served(app) as base, ThreadPoolExecutor(max_workers=16) as pool:
        reads = [pool.submit(get_status, f"{base}/v1/referrals/{draft}", headers)
                 for _ in range(count)]
        answers = list(pool.map(
            lambda i: post_json(f"{base}/v1/referrals?submit=true",
                                referral_form(f"Conc{i}", f"Family{i}", "NS-0001"), headers),
            range(count)))
        read_statuses = [read.result() for read in reads]

    with platform.sqlite("referral") as referral:
        stored = {row[0] for row in referral.execute(
            "SELECT id FROM referrals WHERE referrer_subject = 'referrer-concurrent' AND id != ?",
            (draft,))}
        created_records = referral.execute(
            "SELECT count(*) FROM audit_log WHERE subject = 'referrer-concurrent' AND action = 'create'"
            " AND outcome = '2xx:201' AND resource != ?", (f"/v1/referrals/{draft}",)).fetchone()[0]
    statuses = [status for status, _ in answers]
    assert statuses == [201] * count, [body for status, body in answers if status != 201][:3]
    assert {body["id"] for _, body in answers} == stored  # told "created" exactly for what is stored
    assert created_records == count
    assert read_statuses == [200] * count
    verify = app.test_client().get("/v1/audit/verify", headers=platform.token("auditor"))
    assert verify.get_json()["ok"] is True


# --- a trail whose end was cut off -----------------------------------------------------------


def test_a_trail_cut_short_or_emptied_does_not_verify_and_seqs_are_not_reused(
    platform: SqlitePlatform,
) -> None:
    client = platform.apps["risk"].test_client()  # a trail of its own in this folder
    auditor = platform.token("auditor")
    for _ in range(4):
        assert client.get("/v1/checklists", headers=platform.token("referrer")).status_code == 200
    assert client.get("/v1/audit/verify", headers=auditor).get_json()["ok"] is True
    with platform.sqlite("risk") as risk:
        [last] = risk.execute("SELECT max(seq) FROM audit_log").fetchone()
        risk.execute("DELETE FROM audit_log WHERE seq > ?", (last - 2,))
    cut = client.get("/v1/audit/verify", headers=auditor).get_json()
    assert cut == {"ok": False, "first_bad_seq": last - 1, "checked": last - 2}
    with platform.sqlite("risk") as risk:
        [after_cut] = risk.execute("SELECT max(seq) FROM audit_log").fetchone()
        risk.execute("DELETE FROM audit_log")
    # The verify call itself was recorded after the anchored head, not in the freed seqs.
    assert after_cut == last + 1
    emptied = client.get("/v1/audit/verify", headers=auditor).get_json()
    assert emptied == {"ok": False, "first_bad_seq": 1, "checked": 0}
    with platform.sqlite("risk") as risk:
        assert risk.execute("SELECT min(seq) FROM audit_log").fetchone()[0] > after_cut


# --- bodies no view can store ----------------------------------------------------------------


def counts(platform: SqlitePlatform) -> tuple[int, int]:
    with platform.sqlite("keystore") as keystore, platform.sqlite("referral") as referral:
        return (keystore.execute("SELECT count(*) FROM case_keys").fetchone()[0],
                referral.execute("SELECT count(*) FROM referrals").fetchone()[0])


def test_deep_nesting_and_lone_surrogates_are_400s_that_store_nothing(platform: SqlitePlatform) -> None:
    referral = platform.apps["referral"].test_client()
    referrer = platform.token("referrer", "referrer-bodies")
    before = counts(platform)
    deep = b"[" * 2000 + b"]" * 2000
    nested = b'{"area_id": "northshire", "victim": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
    surrogate = json.dumps(referral_form()).replace(CANARY_GIVEN, "\\ud800").encode()
    surrogate_key = b'{"area_id": "northshire", "\\udfff": 1}'
    cases = [(deep, "(body)"), (nested, None), (surrogate, "victim.name.given"),
             (surrogate_key, "(key)")]
    for body, field in cases:
        for path in ("/v1/referrals?submit=true", "/v1/referrals"):
            response = referral.post(path, data=body, headers=referrer, content_type="application/json")
            assert response.status_code == 400, (path, body[:40], response.data[:200])
            assert response.mimetype == PROBLEM
            problem = response.get_json()
            assert problem["status"] == 400 and problem["errors"]
            if field is not None:
                assert any(error["field"] == field for error in problem["errors"]), problem
    assert counts(platform) == before  # no referral, and no orphaned case key

    # Every service's JSON POST parses bodies the same way.
    coordinator = platform.token("coordinator")
    for service, path in (("risk", "/v1/assessments/preview"), ("scheduling", "/v1/meetings")):
        client = platform.apps[service].test_client()
        for body, _ in cases:
            response = client.post(path, data=body, headers=coordinator, content_type="application/json")
            assert response.status_code == 400 and response.mimetype == PROBLEM, (service, response.data)
