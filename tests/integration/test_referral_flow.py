"""Referrals through their lifecycle over real Kafka and PostgreSQL.

The referral and risk workers run as real processes (consumers, outbox relays); the referral
web app runs in this process. One platform and one pair of workers serve the whole module, so
every test uses its own victim (distinct names), or the referrals would join one case. The
last test also runs the scheduling and notify workers (so that no earlier test's referral moves
on from `accepted` while it waits for that state).
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from marshmallow import Schema, fields
from sqlalchemy import func, select, update

from marac_platform import clock, events
from marac_platform.checklists import get_checklist
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import load_settings, settings_for
from services.notify.models import Delivery
from services.notify.wiring import SERVICE as NOTIFY
from services.referral.app import create_app
from services.referral.forms import key_store
from services.referral.models import Case, CaseIdentity, Referral, ScreeningDecision
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.referral.schemas import ReferralSubmitSchema
from services.risk.models import ReferralHistory
from services.risk.wiring import SERVICE as RISK
from tests.conftest import PlatformEnv, in_process, make_platform_env
from tests.support.clock import DEFAULT_INSTANT
from tests.support.infra import PostgresServer
from tests.support.kafka_tools import produce, read_all, wait_for

pytestmark = pytest.mark.integration

QUESTIONS = list(get_checklist(PARTNER_CHECKLIST).question_ids)
FLOW_TIMEOUT_S = 60.0


# --- one platform, two workers, one web app per module ------------------------------------
@pytest.fixture(scope="module")
def env(kafka_bootstrap: str, postgres: PostgresServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformEnv]:
    # The module stands at one instant: this process travels there, the workers start there.
    with time_machine.travel(DEFAULT_INSTANT, tick=True):
        created = make_platform_env(kafka_bootstrap, postgres, tmp_path_factory.mktemp("flow"),
                                    services=("referral", "risk", "scheduling", "notify"),
                                    clock_start=DEFAULT_INSTANT)
        patch = pytest.MonkeyPatch()
        for key, value in in_process(created.env).items():
            patch.setenv(key, value)
        settings_for.cache_clear()
        yield created
        patch.undo()
        settings_for.cache_clear()


def run_workers(env: PlatformEnv, logs: Path, services: tuple[str, ...]) -> Iterator[None]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    for service in services:
        log = logs / f"{service}.log"
        with log.open("wb") as handle:
            started.append((subprocess.Popen(
                [sys.executable, "-m", "services", "worker", service], env=env.env,
                stdout=handle, stderr=subprocess.STDOUT), log))
    try:
        yield
    finally:
        for process, _ in started:
            process.terminate()
        for process, log in started:
            try:
                code = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait(10)
            assert code == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def workers(env: PlatformEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield from run_workers(env, tmp_path_factory.mktemp("worker-logs"), ("referral", "risk"))


@pytest.fixture
def scheduling_workers(env: PlatformEnv, workers: None, tmp_path: Path) -> Iterator[None]:
    yield from run_workers(env, tmp_path, ("scheduling", "notify"))


@pytest.fixture(scope="module")
def client(env: PlatformEnv, workers: None) -> Iterator[FlaskClient]:
    app = create_app()
    with app.test_client() as test_client:
        yield test_client
    app.extensions["marac_runtime"].db.dispose()


@pytest.fixture(scope="module")
def risk_runtime(env: PlatformEnv) -> Iterator[Runtime]:
    runtime = Runtime(RISK, settings=load_settings("risk"))
    yield runtime
    runtime.db.dispose()


# --- helpers -------------------------------------------------------------------------------
def bearer(env: PlatformEnv, role: str = "referrer", area: str = "northshire",
           subject: str = "ref-1", agency: str = "police") -> dict[str, str]:
    key = (Path(env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=subject, agency=agency, role=role, areas=[area],
                       audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {token}"}


def coordinator(env: PlatformEnv, area: str = "northshire") -> dict[str, str]:
    return bearer(env, role="coordinator", area=area, subject=f"coord-{area}")


def victim_form(family: str, *, area: str = "northshire", yes: int = 16,
                given: str = "Robin", dob: str = "1985-02-03") -> dict[str, Any]:
    body = sample_referral(QUESTIONS, area, yes_answers=yes, victim_given=given,
                           victim_family=family)
    body["victim"]["dates_of_birth"] = [dob]
    return body


def unique_family() -> str:
    # Letters only: the name folds to itself, and no two tests share a victim.
    return "Fam" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def create(client: FlaskClient, env: PlatformEnv, body: dict[str, Any], *, submit: bool,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/v1/referrals" + ("?submit=true" if submit else ""), json=body,
                           headers=headers or bearer(env, area=body.get("area_id", "northshire")))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def read(client: FlaskClient, env: PlatformEnv, referral_id: str,
         headers: dict[str, str] | None = None, area: str = "northshire") -> dict[str, Any]:
    response = client.get(f"/v1/referrals/{referral_id}", headers=headers or coordinator(env, area))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def wait_state(client: FlaskClient, env: PlatformEnv, referral_id: str, state: str,
               area: str = "northshire") -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = read(client, env, referral_id, area=area)
        return found if found["state"] == state else None

    try:
        result: dict[str, Any] = wait_for(reached, FLOW_TIMEOUT_S, interval_s=0.2)
    except AssertionError:
        now = read(client, env, referral_id, area=area)["state"]
        raise AssertionError(f"referral {referral_id} is {now}, not {state}") from None
    return result


def confirm(client: FlaskClient, env: PlatformEnv, referral_id: str) -> dict[str, Any]:
    """The coordinator confirms a joined referral is the same victim (it was held for that)."""
    response = client.post(f"/v1/referrals/{referral_id}/link-confirmation",
                           headers=coordinator(env))
    assert response.status_code == 200, response.get_json()
    confirmed: dict[str, Any] = response.get_json()
    return confirmed


def event_data(env: PlatformEnv, family: str, referral_id: str) -> list[dict[str, Any]]:
    """The data of every event of `family` (e.g. referral.accepted) about one referral."""
    records = read_all(env.env["KAFKA_BOOTSTRAP_SERVERS"], events.kafka_topic(family))
    found = []
    for record in records:
        event = events.decode(events.header_map(record.headers), record.key, record.value)
        data = dataclasses.asdict(event.data)
        if data.get("referral_id") == referral_id:
            found.append(data)
    return found


def referral_db(client: FlaskClient) -> Runtime:
    runtime: Runtime = client.application.extensions["marac_runtime"]
    return runtime


def count_referrals(client: FlaskClient) -> int:
    with referral_db(client).unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(Referral)) or 0


def problem_fields(response: Any) -> list[str]:
    assert response.mimetype == "application/problem+json", response.data[:300]
    return [error["field"] for error in response.get_json().get("errors", [])]


# --- the flows -----------------------------------------------------------------------------
def test_high_risk_referral_is_assessed_and_accepted(client: FlaskClient, env: PlatformEnv) -> None:
    created = create(client, env, victim_form(unique_family()), submit=True)
    assert created["state"] == "submitted"
    accepted = wait_state(client, env, created["id"], "accepted")
    assert accepted["assessment"]["decision"] == "meets_criteria"
    assert accepted["assessment"]["yes_count"] == 16
    assert accepted["linked_case_grounds"] is None
    assert accepted["repeat"] is False

    published = wait_for(lambda: event_data(env, "referral.accepted", created["id"]), 30)
    assert len(published) == 1
    assert published[0]["criteria_met"] == ["visible_high_risk"]
    assert published[0]["case_id"] == created["case_id"]
    assert all(v.startswith("enc1:") for v in published[0]["case_list_entry"].values())
    moves = wait_for(lambda: (found := event_data(env, "referral.status_changed", created["id"]))
                     and len(found) >= 3 and found, 30)
    assert [(e["from_state"], e["to_state"]) for e in moves] == [
        ("draft", "submitted"), ("submitted", "assessed"), ("assessed", "accepted")]


def test_low_risk_is_returned_with_reasons_then_amended_and_accepted(
    client: FlaskClient, env: PlatformEnv
) -> None:
    referrer = bearer(env)
    body = victim_form(unique_family(), yes=5)
    draft = create(client, env, body, submit=False, headers=referrer)
    assert draft["state"] == "draft"
    first = client.post(f"/v1/referrals/{draft['id']}/submit", headers=referrer)
    assert first.status_code == 200, first.get_json()
    received_at = first.get_json()["received_at"]

    returned = wait_state(client, env, draft["id"], "returned")
    reasons = {r["criterion"]: r for r in returned["return_reasons"]}
    assert reasons["visible_high_risk"]["reason_code"] == "below_threshold"
    assert reasons["visible_high_risk"]["detail"] == "5 yes answers; threshold 14"
    assert returned["returned_at_step"] is None
    (event,) = wait_for(lambda: event_data(env, "referral.returned", draft["id"]), 30)
    assert {r["criterion"] for r in event["reasons"]} == set(reasons)

    # The referrer sees the reasons, amends the DASH (another conversation with the victim)
    # and sends it again.
    mine = read(client, env, draft["id"], headers=referrer)
    assert mine["return_reasons"] == returned["return_reasons"]
    amended = copy.deepcopy(body["dash"])
    amended["answers"] = {q: "yes" for q in QUESTIONS[:15]} | {q: "no" for q in QUESTIONS[15:]}
    patched = client.patch(f"/v1/referrals/{draft['id']}", json={"dash": amended},
                           headers=referrer)
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["form"]["victim"] == body["victim"]  # other sections kept
    again = client.post(f"/v1/referrals/{draft['id']}/submit", headers=referrer)
    assert again.status_code == 200, again.get_json()

    accepted = wait_state(client, env, draft["id"], "accepted")
    assert accepted["submissions"] == 2
    assert accepted["assessment"]["yes_count"] == 15
    assert accepted["received_at"] == received_at  # the clock runs from the first submission
    (event,) = wait_for(lambda: event_data(env, "referral.accepted", draft["id"]), 30)
    assert event["received_at"] == datetime.fromisoformat(received_at)
    late = client.patch(f"/v1/referrals/{draft['id']}", json={"victim_fears": "x"},
                        headers=referrer)
    assert late.status_code == 409


def test_screening_steps_record_who_decided_what_and_when(
    client: FlaskClient, env: PlatformEnv
) -> None:
    south = coordinator(env, "southshire")
    created = create(client, env, victim_form(unique_family(), area="southshire", yes=18),
                     submit=True)
    screening = wait_state(client, env, created["id"], "in_screening", area="southshire")
    assert screening["screening"] == {"steps": ["information_unit", "safeguarding_hub"],
                                      "pending_step": "information_unit", "decisions": []}
    path = f"/v1/referrals/{created['id']}"

    out_of_order = client.post(f"{path}/screening", headers=south,
                               json={"step": "safeguarding_hub", "decision": "accept"})
    assert out_of_order.status_code == 409
    no_reason = client.post(f"{path}/screening", headers=south,
                            json={"step": "information_unit", "decision": "return"})
    assert no_reason.status_code == 422
    assert problem_fields(no_reason) == ["reason"]
    referrer_may_not = client.post(f"{path}/screening", headers=bearer(env, area="southshire"),
                                   json={"step": "information_unit", "decision": "accept"})
    assert referrer_may_not.status_code == 403
    other_area = client.post(f"{path}/screening", headers=coordinator(env, "northshire"),
                             json={"step": "information_unit", "decision": "accept"})
    assert other_area.status_code == 404

    first = client.post(f"{path}/screening", headers=south,
                        json={"step": "information_unit", "decision": "accept"})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["state"] == "in_screening"
    urgent = client.post(f"{path}/urgent", headers=south, json={"urgent": True})
    assert urgent.status_code == 200 and urgent.get_json()["urgent"] is True
    second = client.post(f"{path}/screening", headers=south,
                         json={"step": "safeguarding_hub", "decision": "accept"})
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["state"] == "accepted"

    seen = read(client, env, created["id"], area="southshire")
    decisions = seen["screening"]["decisions"]
    assert [(d["step"], d["decision"], d["by"], d["round"]) for d in decisions] == [
        ("information_unit", "accept", "coord-southshire", 1),
        ("safeguarding_hub", "accept", "coord-southshire", 1)]
    assert all(d["at"] for d in decisions)
    assert seen["screening"]["pending_step"] is None
    too_late = client.post(f"{path}/urgent", headers=south, json={"urgent": False})
    assert too_late.status_code == 409

    (accepted,) = wait_for(lambda: event_data(env, "referral.accepted", created["id"]), 30)
    assert accepted["urgent"] is True
    screened = wait_for(lambda: (found := event_data(env, "referral.screened", created["id"]))
                        and len(found) == 2 and found, 30)
    assert [(e["step"], e["pending_step"], e["outcome"]) for e in screened] == [
        ("information_unit", "safeguarding_hub", None), ("safeguarding_hub", None, "accepted")]
    (flagged,) = event_data(env, "referral.urgency_changed", created["id"])
    assert flagged["urgent"] is True


def test_a_screening_step_returns_the_referral_with_its_reason(
    client: FlaskClient, env: PlatformEnv
) -> None:
    south = coordinator(env, "southshire")
    referrer = bearer(env, area="southshire")
    created = create(client, env, victim_form(unique_family(), area="southshire", yes=18),
                     submit=True, headers=referrer)
    wait_state(client, env, created["id"], "in_screening", area="southshire")
    reason = "Already open to the safeguarding hub under another reference."
    returned = client.post(f"/v1/referrals/{created['id']}/screening", headers=south,
                           json={"step": "information_unit", "decision": "return",
                                 "reason": reason})
    assert returned.status_code == 200, returned.get_json()
    assert returned.get_json()["state"] == "returned"

    mine = read(client, env, created["id"], headers=referrer)
    assert (mine["returned_at_step"], mine["return_note"]) == ("information_unit", reason)
    assert "screening" not in mine and "linked_case_grounds" not in mine
    (event,) = wait_for(lambda: event_data(env, "referral.returned", created["id"]), 30)
    assert event["screening_step"] == "information_unit"
    assert event["note"].startswith("enc1:") and reason not in str(event)


def test_duplicate_victim_joins_the_open_case_with_the_grounds(
    client: FlaskClient, env: PlatformEnv
) -> None:
    family = unique_family()
    first = create(client, env, victim_form(family, given="Jordan"), submit=True)
    wait_state(client, env, first["id"], "accepted")
    with referral_db(client).unit_of_work() as uow:
        cases_before = uow.session.scalar(select(func.count()).select_from(Case))

    # Another agency, another spelling, an alias and a second date of birth: a draft first.
    alias_family = unique_family()
    body = victim_form(family.upper(), given="JORDAN")
    body["victim"]["aliases"] = [{"given": "Jo", "family": alias_family}]
    body["victim"]["dates_of_birth"] = ["1985-02-03", "1985-03-02"]
    other = bearer(env, subject="ref-health")
    draft = create(client, env, body, submit=False, headers=other)
    assert draft["case_id"] != first["case_id"]  # provisional, until it is submitted
    submitted = client.post(f"/v1/referrals/{draft['id']}/submit", headers=other)
    assert submitted.status_code == 200, submitted.get_json()

    linked = read(client, env, draft["id"])
    assert linked["case_id"] == first["case_id"]
    assert linked["linked_case_grounds"] == ["name:exact", "dob:exact"]
    assert linked["form"]["victim"]["aliases"] == [{"given": "Jo", "family": alias_family}]
    assert "linked_case_grounds" not in read(client, env, draft["id"], headers=other)
    with referral_db(client).unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Case)) == cases_before
        assert uow.session.get(Case, draft["case_id"]) is None
        digests = uow.session.scalars(
            select(CaseIdentity.digest).where(CaseIdentity.case_id == first["case_id"])).all()
    assert digests and not any(family.lower() in d or "1985" in d for d in digests)
    assert key_store(referral_db(client)).data_key(draft["case_id"]) is None  # provisional key gone
    # It met the criteria, and waits for a coordinator to confirm the join before acceptance.
    held = wait_state(client, env, draft["id"], "assessed")
    assert held["held_for_confirmation"] is True
    assert "held_for_confirmation" not in read(client, env, draft["id"], headers=other)

    # Submitted at once, under the alias and the second date of birth: still the same case.
    by_alias = victim_form(alias_family, given="Jo", dob="1985-03-02")
    third = create(client, env, by_alias, submit=True)
    assert third["case_id"] == first["case_id"]
    assert read(client, env, third["id"])["linked_case_grounds"] == ["name:alias", "dob:exact"]
    # By an initial only ("J"), with the first date of birth.
    initial = create(client, env, victim_form(family, given="J"), submit=True)
    assert initial["case_id"] == first["case_id"]
    assert read(client, env, initial["id"])["linked_case_grounds"] == ["name:initial", "dob:exact"]

    # Never on one field: the same name with another date of birth is another victim.
    namesake = create(client, env, victim_form(family, given="Jordan", dob="1970-07-07"),
                      submit=True)
    assert namesake["case_id"] != first["case_id"]
    assert read(client, env, namesake["id"])["linked_case_grounds"] is None

    # The coordinator's list of possible duplicates to confirm: the linked ones, never the rest.
    listed = client.get("/v1/referrals?linked=true&limit=200", headers=coordinator(env))
    assert listed.status_code == 200, listed.get_json()
    ids = {item["id"] for item in listed.get_json()["items"]}
    assert {draft["id"], third["id"], initial["id"]} <= ids
    assert not ids & {first["id"], namesake["id"]}
    assert all(item["linked_case_grounds"] for item in listed.get_json()["items"])
    assert client.get("/v1/referrals?linked=true", headers=other).status_code == 403

    # The coordinator confirms one is the same victim: it leaves the list, and says who and when.
    confirm = f"/v1/referrals/{draft['id']}/link-confirmation"
    confirmed = client.post(confirm, headers=coordinator(env))
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert body["case_id"] == first["case_id"]
    assert body["link_confirmed_by"] and body["link_confirmed_at"]
    again = client.post(confirm, headers=coordinator(env)).get_json()
    assert again["link_confirmed_at"] == body["link_confirmed_at"]  # the first confirmation stands
    # Confirmed, it goes on. Two agencies referring on the same day made one referral, not a
    # repeat.
    accepted = wait_state(client, env, draft["id"], "accepted")
    assert accepted["repeat"] is False and accepted["held_for_confirmation"] is False
    listed = client.get("/v1/referrals?linked=true&limit=200", headers=coordinator(env))
    still = {item["id"] for item in listed.get_json()["items"]}
    assert draft["id"] not in still and {third["id"], initial["id"]} <= still
    # Nothing to confirm on a referral that joined no case; a referrer may not confirm at all.
    unlinked = client.post(f"/v1/referrals/{namesake['id']}/link-confirmation",
                           headers=coordinator(env))
    assert unlinked.status_code == 409, unlinked.get_json()
    assert unlinked.headers["Content-Type"].startswith("application/problem+json")
    refused = client.post(f"/v1/referrals/{third['id']}/link-confirmation", headers=other)
    assert refused.status_code == 403
    assert "link_confirmed_at" not in read(client, env, draft["id"], headers=other)


def test_a_wrong_join_waits_for_the_coordinator_who_gives_it_a_case_of_its_own(
    client: FlaskClient, env: PlatformEnv, risk_runtime: Runtime
) -> None:
    family, alias_family = unique_family(), unique_family()
    first = create(client, env, victim_form(family, given="Avery"), submit=True)
    wait_state(client, env, first["id"], "accepted")
    # Health refers "A <family>", born the same day, also known by an alias: by the initial
    # she joins Avery's case. She is another woman.
    body = victim_form(family, given="A")
    body["victim"]["aliases"] = [{"given": "Sam", "family": alias_family}]
    declared = clock.uk_today() - timedelta(days=90)  # her own earlier referral, elsewhere
    body["previous_marac_referrals"] = [{"area_id": "southshire", "date": declared.isoformat()}]
    health = bearer(env, subject="ref-health-sep", agency="health")
    joined = create(client, env, body, submit=True, headers=health)
    assert joined["case_id"] == first["case_id"]
    held = wait_state(client, env, joined["id"], "assessed")
    assert held["held_for_confirmation"] is True and held["assessment"]["decision"] == "meets_criteria"
    listed = client.get("/v1/referrals?linked=true&limit=200", headers=coordinator(env))
    (item,) = [i for i in listed.get_json()["items"] if i["id"] == joined["id"]]
    assert item["held_for_confirmation"] is True
    assert not event_data(env, "referral.accepted", joined["id"])  # not accepted unchecked
    (told,) = wait_for(lambda: event_data(env, "referral.held", joined["id"]), 30)
    assert (told["case_id"], told["grounds"]) == (first["case_id"], ["name:initial", "dob:exact"])

    # A referrer may not separate; the coordinator does.
    separation = f"/v1/referrals/{joined['id']}/separation"
    assert client.post(separation, headers=health).status_code == 403
    response = client.post(separation, headers=coordinator(env))
    assert response.status_code == 200, response.get_json()
    separated = response.get_json()
    case_id = separated["case_id"]
    assert case_id not in (first["case_id"], joined["case_id"])
    assert (separated["separated_from"], separated["state"]) == (first["case_id"], "submitted")
    assert separated["separated_by"] and separated["separated_at"]
    assert separated["linked_case_grounds"] is None and separated["held_for_confirmation"] is False
    again = client.post(separation, headers=coordinator(env))  # separating again: no change
    assert again.status_code == 200 and again.get_json()["case_id"] == case_id

    # Assessed again on its own case, then accepted (this area screens nothing).
    accepted = wait_state(client, env, joined["id"], "accepted")
    assert accepted["case_id"] == case_id and accepted["repeat"] is True  # her declared one
    (event,) = wait_for(lambda: event_data(env, "referral.accepted", joined["id"]), 30)
    assert event["case_id"] == case_id
    # Its form is encrypted under the new case's key, and reads back whole.
    assert accepted["form"]["victim"]["aliases"] == [{"given": "Sam", "family": alias_family}]
    store = key_store(referral_db(client))
    assert store.data_key(case_id) is not None
    with referral_db(client).unit_of_work() as uow:
        assert uow.session.get(Case, case_id).status == "open"  # type: ignore[union-attr]
        row = uow.session.get(Referral, joined["id"])
        assert row is not None and row.form_personal
        assert store.decrypt(case_id, "referral.personal", row.form_personal)
    with risk_runtime.unit_of_work() as uow:
        history = uow.session.scalars(select(ReferralHistory.case_id).where(
            ReferralHistory.referral_id == joined["id"])).all()
        rows = uow.session.execute(select(ReferralHistory.case_id, ReferralHistory.source)
                                   .where(ReferralHistory.referral_date == declared,
                                          ReferralHistory.referral_area == "southshire",
                                          ReferralHistory.case_id.in_([case_id,
                                                                       first["case_id"]]))).all()
    assert history == [case_id]  # risk followed it to its case
    assert [tuple(r) for r in rows] == [(case_id, "declared")]  # her declaration went with her

    # The next referral under her alias finds her case, no longer Avery's; Avery's stays hers.
    by_alias = create(client, env, victim_form(alias_family, given="Sam"), submit=True)
    assert by_alias["case_id"] == case_id
    avery = create(client, env, victim_form(family, given="Avery"), submit=True)
    assert avery["case_id"] == first["case_id"]

    # Nothing to separate on a referral that joined no case; none once accepted on the case.
    refused = client.post(f"/v1/referrals/{first['id']}/separation", headers=coordinator(env))
    assert refused.status_code == 409, refused.get_json()
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    wait_state(client, env, avery["id"], "assessed")
    confirm(client, env, avery["id"])
    wait_state(client, env, avery["id"], "accepted")
    late = client.post(f"/v1/referrals/{avery['id']}/separation", headers=coordinator(env))
    assert late.status_code == 409, late.get_json()
    assert "accepted" in late.get_json()["detail"]


def test_repeat_within_12_months_of_the_cases_last_referral_is_flagged(
    client: FlaskClient, env: PlatformEnv, risk_runtime: Runtime
) -> None:
    family = unique_family()
    first = create(client, env, victim_form(family), submit=True)
    wait_state(client, env, first["id"], "accepted")

    def backdate(days: int) -> None:
        """Time passes: the first referral was made `days` ago (here and in risk's history)."""
        when = clock.uk_today() - timedelta(days=days)
        with referral_db(client).unit_of_work() as uow:
            uow.session.execute(update(Referral).where(Referral.id == first["id"])
                                .values(referral_date=when))
        with risk_runtime.unit_of_work() as uow:
            changed = uow.session.execute(
                update(ReferralHistory).where(ReferralHistory.referral_id == first["id"])
                .values(referral_date=when))
            assert changed.rowcount == 1  # type: ignore[attr-defined]

    backdate(400)
    stale = create(client, env, victim_form(family, yes=3), submit=True)
    assert stale["case_id"] == first["case_id"]
    returned = wait_state(client, env, stale["id"], "returned")
    repeat = next(r for r in returned["return_reasons"] if r["criterion"] == "repeat")
    assert repeat["reason_code"] == "outside_window"
    assert returned["repeat"] is False

    backdate(100)
    again = create(client, env, victim_form(family, yes=3), submit=True)
    assert again["case_id"] == first["case_id"]
    assert again["repeat"] is True  # referral's own view at submission
    wait_state(client, env, again["id"], "assessed")
    confirm(client, env, again["id"])  # the same victim: it was held for the coordinator
    accepted = wait_state(client, env, again["id"], "accepted")
    met = {c["criterion"] for c in accepted["assessment"]["criteria"] if c["met"]}
    assert met == {"repeat"}
    assert accepted["repeat"] is True
    (event,) = wait_for(lambda: event_data(env, "referral.accepted", again["id"]), 30)
    assert event["repeat"] is True and event["criteria_met"] == ["repeat"]


def test_declined_checklist_is_accepted_on_professional_judgement(
    client: FlaskClient, env: PlatformEnv
) -> None:
    body = victim_form(unique_family())
    body["criteria_claimed"] = ["professional_judgement"]
    body["professional_judgement_narrative"] = "Non-fatal strangulation last week; very afraid."
    body["dash"]["answers"] = {}
    body["dash"]["answered_by"] = {"who": "professional", "note": "The victim declined."}
    created = create(client, env, body, submit=True)
    accepted = wait_state(client, env, created["id"], "accepted")
    assert accepted["assessment"]["yes_count"] == 0
    met = {c["criterion"] for c in accepted["assessment"]["criteria"] if c["met"]}
    assert met == {"professional_judgement"}


def test_a_retried_submit_with_the_same_idempotency_key_submits_once(
    client: FlaskClient, env: PlatformEnv
) -> None:
    referrer = {**bearer(env), "Idempotency-Key": f"submit-{uuid.uuid4()}"}
    draft = create(client, env, victim_form(unique_family()), submit=False)
    path = f"/v1/referrals/{draft['id']}/submit"
    first = client.post(path, headers=referrer)
    assert first.status_code == 200, first.get_json()
    retried = client.post(path, headers=referrer)
    assert retried.status_code == 200
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.get_json() == first.get_json()
    without_key = client.post(path, headers=bearer(env))
    assert without_key.status_code == 409

    accepted = wait_state(client, env, draft["id"], "accepted")
    assert accepted["submissions"] == 1
    assert len(event_data(env, "referral.submitted", draft["id"])) == 1
    assert len(event_data(env, "risk.assessed", draft["id"])) == 1


def test_retried_create_with_the_same_idempotency_key_returns_the_first_referral(
    client: FlaskClient, env: PlatformEnv
) -> None:
    headers = {**bearer(env), "Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = victim_form(unique_family())
    before = count_referrals(client)
    first = client.post("/v1/referrals?submit=true", json=body, headers=headers)
    second = client.post("/v1/referrals?submit=true", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json()["id"] == first.get_json()["id"]
    assert count_referrals(client) == before + 1


def test_erasure_drops_the_blind_index_and_screening_reasons(
    client: FlaskClient, env: PlatformEnv
) -> None:
    created = create(client, env, victim_form(unique_family(), area="southshire", yes=18),
                     submit=True)
    wait_state(client, env, created["id"], "in_screening", area="southshire")
    returned = client.post(f"/v1/referrals/{created['id']}/screening",
                           headers=coordinator(env, "southshire"),
                           json={"step": "information_unit", "decision": "return",
                                 "reason": "Not for this MARAC."})
    assert returned.status_code == 200, returned.get_json()
    case_id = created["case_id"]
    with referral_db(client).unit_of_work() as uow:
        assert uow.session.scalars(select(CaseIdentity).where(CaseIdentity.case_id == case_id)).all()
    # What erasure (admin.py) publishes once it has shredded the case's key.
    message = events.new_message(events.CASE_ERASED, source="/test", subject=case_id,
                                 area="southshire", data={"case_id": case_id,
                                                          "area_id": "southshire",
                                                          "reason": "request"})
    produce(env.env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value, message.key.encode(),
            [(k, v.encode()) for k, v in message.headers.items()])

    def dropped() -> bool:
        with referral_db(client).unit_of_work() as uow:
            index = uow.session.scalar(select(func.count()).select_from(CaseIdentity)
                                       .where(CaseIdentity.case_id == case_id))
            reasons = uow.session.scalars(select(ScreeningDecision.reason).where(
                ScreeningDecision.referral_id == created["id"])).all()
        return index == 0 and reasons == [None]

    wait_for(dropped, FLOW_TIMEOUT_S)


def test_potential_escalation_counts_the_declared_call_outs_and_dated_incidents(
    client: FlaskClient, env: PlatformEnv
) -> None:
    today = clock.uk_today()
    declared = victim_form(unique_family(), yes=3)
    declared["criteria_claimed"] = ["potential_escalation"]
    declared["police_callouts_last_12_months"] = 3  # and no call-out dates
    dated = victim_form(unique_family(), yes=3)
    dated["criteria_claimed"] = ["potential_escalation"]
    dated["police_callouts_last_12_months"] = 0
    dated["incidents"] = [{"date": (today - timedelta(days=days)).isoformat(),
                           "summary": "Incident reported to the IDVA service."}
                          for days in (5, 60, 200)]
    for body, source in ((declared, "declared count"), (dated, "dated call-outs and incidents")):
        created = create(client, env, body, submit=True)
        accepted = wait_state(client, env, created["id"], "accepted")
        escalation = next(c for c in accepted["assessment"]["criteria"]
                          if c["criterion"] == "potential_escalation")
        assert escalation["met"] is True, escalation
        assert escalation["detail"].startswith("3 incidents in the 365 days to referral")
        assert source in escalation["detail"]
    (sent,) = event_data(env, "referral.submitted", created["id"])
    assert sorted(sent["incident_dates"]) == sorted(
        today - timedelta(days=days) for days in (5, 60, 200))


def test_a_previous_referrals_area_goes_as_an_id_and_a_typed_name_stays_encrypted(
    client: FlaskClient, env: PlatformEnv
) -> None:
    today = clock.uk_today()
    typed = "Canaryvale Refuge MARAC"
    body = victim_form(unique_family(), yes=3)
    body["criteria_claimed"] = ["repeat"]
    body["previous_marac_referrals"] = [
        {"area_name": typed, "date": (today - timedelta(days=100)).isoformat()},
        {"area_id": "southshire", "date": (today - timedelta(days=30)).isoformat()},
    ]
    created = create(client, env, body, submit=True)
    accepted = wait_state(client, env, created["id"], "accepted")
    assert {c["criterion"] for c in accepted["assessment"]["criteria"] if c["met"]} == {"repeat"}
    assert accepted["form"]["previous_marac_referrals"][0]["area_name"] == typed  # for readers

    (sent,) = event_data(env, "referral.submitted", created["id"])
    assert sent["previous_referrals"] == [
        {"area_id": "unknown", "date": today - timedelta(days=100)},
        {"area_id": "southshire", "date": today - timedelta(days=30)}]
    (assessed,) = wait_for(lambda: event_data(env, "risk.assessed", created["id"]), 30)
    assert assessed["repeat_of"] == {"area_id": "southshire", "date": today - timedelta(days=30)}
    bootstrap = env.env["KAFKA_BOOTSTRAP_SERVERS"]
    for family in ("referral.submitted", "risk.assessed"):
        assert not any(typed.encode() in (r.value or b"")
                       for r in read_all(bootstrap, events.kafka_topic(family)))
    with referral_db(client).unit_of_work() as uow:
        stored = uow.session.get(Referral, created["id"])
        assert stored is not None
        assert typed not in str(stored.form_public)


# --- drafts: nothing typed is lost -----------------------------------------------------------
def test_a_submit_that_fails_keeps_the_draft_and_the_draft_can_be_completed(
    client: FlaskClient, env: PlatformEnv
) -> None:
    referrer = bearer(env)
    full = victim_form(unique_family())
    partial = {"area_id": "northshire", "referrer": full["referrer"], "victim": full["victim"],
               "victim_fears": "That he will find her new address."}
    draft = create(client, env, partial, submit=False, headers=referrer)
    saved = read(client, env, draft["id"], headers=referrer)["form"]

    failed = client.post(f"/v1/referrals/{draft['id']}/submit", headers=referrer)
    assert failed.status_code == 422
    assert set(problem_fields(failed)) == {"perpetrators", "incidents", "criteria_claimed",
                                           "consent", "dash"}
    assert read(client, env, draft["id"], headers=referrer)["form"] == saved
    assert read(client, env, draft["id"], headers=referrer)["state"] == "draft"

    bad = client.patch(f"/v1/referrals/{draft['id']}", headers=referrer,
                       json={"incidents": [{"date": "2999-01-01"}]})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["incidents[0].date"]
    assert read(client, env, draft["id"], headers=referrer)["form"] == saved

    rest = {k: full[k] for k in ("perpetrators", "incidents", "criteria_claimed", "consent",
                                 "dash")}
    for key, value in rest.items():  # one section at a time, as a form is filled in
        saved_step = client.patch(f"/v1/referrals/{draft['id']}", json={key: value},
                                  headers=referrer)
        assert saved_step.status_code == 200, saved_step.get_json()
    moved = client.patch(f"/v1/referrals/{draft['id']}", json={"area_id": "southshire"},
                         headers=referrer)
    assert moved.status_code == 422 and problem_fields(moved) == ["area_id"]
    assert client.patch(f"/v1/referrals/{draft['id']}", json={},
                        headers=bearer(env, subject="someone-else")).status_code == 404
    assert client.get(f"/v1/referrals/{draft['id']}",
                      headers=coordinator(env)).status_code == 404  # a draft is the referrer's
    done = client.post(f"/v1/referrals/{draft['id']}/submit", headers=referrer)
    assert done.status_code == 200, done.get_json()
    form = read(client, env, draft["id"], headers=referrer)["form"]
    assert form["victim_fears"] == partial["victim_fears"]
    wait_state(client, env, draft["id"], "accepted")


# --- validation errors, field by field -------------------------------------------------------
def complete_form() -> dict[str, Any]:
    """A complete form that also has every optional list, so every required field is in it."""
    body = victim_form("Validation")
    body["children"] = [{"relationship_to_victim": "child",
                         "relationship_to_perpetrator": "child"}]
    body["safe_contacts"] = [{"name": "A Friend"}]
    body["unsafe_contacts"] = [{"name": "A Cousin"}]
    body["previous_marac_referrals"] = [{"area_name": "Elsewhere MARAC",
                                         "date": (clock.uk_today() - timedelta(days=900)).isoformat()}]
    return body


def required_paths(schema: Schema, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = []
    for name, field in schema.fields.items():
        path = (*prefix, name)
        if field.required:
            found.append(path)
        inner: Any = field
        if isinstance(field, fields.List):
            inner, path = field.inner, (*path, 0)
        if isinstance(inner, fields.Nested):
            found += required_paths(inner.schema, path)
    return found


REQUIRED = required_paths(ReferralSubmitSchema())


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def without(body: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    node: Any = copied
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return copied


# Required only in some situations (cross-field rules): (change, field named).
CONDITIONAL = [
    ({"victim": {"name": {"given": "A", "family": "B"}, "address_unknown": True}},
     "victim.dates_of_birth"),
    ({"victim": {"name": {"given": "A", "family": "B"}, "dates_of_birth": ["1980-01-01"]}},
     "victim.address"),
    ({"consent": {"status": "not_given"}}, "consent.reason"),
    ({"criteria_claimed": ["professional_judgement"]}, "professional_judgement_narrative"),
    ({"criteria_claimed": ["repeat"], "previous_marac_referrals": []}, "previous_marac_referrals"),
    ({"dash": {"checklist_version": PARTNER_CHECKLIST, "answers": {},
               "answered_by": {"who": "victim"}}}, "dash.answers.q01-injury"),
]


def test_every_required_field_of_the_schema_is_in_the_test_form() -> None:
    body = complete_form()
    for path in REQUIRED:
        without(body, path)  # raises if the form lacks the field
    assert len(REQUIRED) > 20


@pytest.mark.parametrize("path", REQUIRED, ids=dotted)
def test_each_missing_required_field_is_named_and_nothing_is_lost(
    client: FlaskClient, env: PlatformEnv, path: tuple[str | int, ...]
) -> None:
    body = without(complete_form(), path)
    before = count_referrals(client)
    at_once = client.post("/v1/referrals?submit=true", json=body, headers=bearer(env))
    assert at_once.status_code == 422
    assert dotted(path) in problem_fields(at_once)
    assert count_referrals(client) == before  # all or nothing

    if path in (("area_id",), ("dash", "checklist_version")):
        return  # a draft needs these too
    draft = create(client, env, body, submit=False)
    saved = read(client, env, draft["id"], headers=bearer(env))["form"]
    failed = client.post(f"/v1/referrals/{draft['id']}/submit", headers=bearer(env))
    assert failed.status_code == 422
    assert dotted(path) in problem_fields(failed)
    kept = read(client, env, draft["id"], headers=bearer(env))
    assert (kept["state"], kept["form"]) == ("draft", saved)


@pytest.mark.parametrize(("change", "field"), CONDITIONAL, ids=[f for _, f in CONDITIONAL])
def test_each_conditionally_required_field_is_named(
    client: FlaskClient, env: PlatformEnv, change: dict[str, Any], field: str
) -> None:
    body = complete_form() | change
    response = client.post("/v1/referrals?submit=true", json=body, headers=bearer(env))
    assert response.status_code == 422
    assert field in problem_fields(response)


# --- with scheduling: a referral that joins an open case gets the case's date ---------------
def test_a_referral_joining_an_open_case_is_scheduled_on_its_date_and_its_referrer_told(
    client: FlaskClient, env: PlatformEnv, scheduling_workers: None
) -> None:
    family = unique_family()
    first = create(client, env, victim_form(family, given="Casey"), submit=True)
    scheduled = wait_state(client, env, first["id"], "scheduled")
    assert scheduled["marac_date"] is not None

    # Another agency refers the same victim, under an alias, with the same date of birth.
    body = victim_form(unique_family(), given="Kay")
    body["victim"]["aliases"] = [{"given": "Casey", "family": family}]
    health = bearer(env, subject="ref-health-1", agency="health")
    joined = create(client, env, body, submit=True, headers=health)
    assert joined["case_id"] == first["case_id"]
    wait_state(client, env, joined["id"], "assessed")
    confirm(client, env, joined["id"])
    later = wait_state(client, env, joined["id"], "scheduled")
    assert (later["marac_date"], later["meeting_id"]) == (scheduled["marac_date"],
                                                          scheduled["meeting_id"])

    (told,) = wait_for(lambda: event_data(env, "case.scheduled", joined["id"]), 30)
    assert (told["referrer_agency"], told["case_id"]) == ("health", first["case_id"])
    # Notify sends the joined referral's notice to its own referrer's agency.
    notify = Runtime(NOTIFY, settings=load_settings("notify"))
    try:
        def notices() -> list[tuple[str, str]] | None:
            with notify.unit_of_work() as uow:
                rows = uow.session.scalars(select(Delivery).where(
                    Delivery.case_id == first["case_id"],
                    Delivery.template == "case_scheduled")).all()
                found = [(row.agency_id, row.body) for row in rows]
            return found if len(found) == 2 else None

        sent = wait_for(notices, FLOW_TIMEOUT_S)
    finally:
        notify.db.dispose()
    by_referral = {agency: body for agency, body in sent}
    assert set(by_referral) == {"police", "health"}
    assert f"(referral {joined['id']})" in by_referral["health"]
    assert f"(referral {first['id']})" in by_referral["police"]
