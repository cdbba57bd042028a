"""Inter-MARAC transfers inside one deployment (northshire to southshire), over real Kafka and
PostgreSQL: the referral, risk, scheduling and actions workers run as real processes; the
referral, scheduling and actions web apps run in this process (and the console's transfer
pages, calling that referral app through an httpx WSGI transport).

The module stands on Saturday 12 December 2026: northshire's 15 December case list is out
(a case moved onto that date goes out in an addendum), new cases go to 22 December.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from marac_platform import clock, events
from marac_platform.checklists import get_checklist
from marac_platform.clock import UK
from marac_platform.payloads import TransferAccepted, TransferPacked
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import settings_for
from services.actions import updates
from services.console import backend
from services.console.app import create_app as console_app
from services.console.config import load_console_settings
from services.referral import transfers
from services.referral.models import Case, Referral, TransferIn, TransferOut
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from tests.conftest import PlatformEnv, in_process, make_platform_env
from tests.support.infra import PostgresServer
from tests.support.kafka_tools import read_all, wait_for
from tests.support.workers import Workers

pytestmark = pytest.mark.integration

INSTANT = datetime(2026, 12, 12, 12, 0, tzinfo=UK)
QUESTIONS = list(get_checklist(PARTNER_CHECKLIST).question_ids)
A, B = "northshire", "southshire"
LISTED_DATE = "northshire-2026-12-15"  # its case list went out on 11 December
ADDRESS = "14 Canary Wharf Road, Southshire"
SAFEGUARDING = "Panic alarm fitted; Clare's Law disclosure made; sister's address flagged."
IDVA = {"name": "Jo Whitfield", "agency": "Northshire IDVA Service",
        "contact": "jo.whitfield@idva.example.gov.uk"}
TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def env(kafka_bootstrap: str, postgres: PostgresServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformEnv]:
    with time_machine.travel(INSTANT, tick=True):
        created = make_platform_env(kafka_bootstrap, postgres, tmp_path_factory.mktemp("trf"),
                                    services=("referral", "risk", "scheduling", "actions"),
                                    clock_start=INSTANT)
        patch = pytest.MonkeyPatch()
        for key, value in in_process(created.env).items():
            patch.setenv(key, value)
        settings_for.cache_clear()
        yield created
        patch.undo()
        settings_for.cache_clear()


@pytest.fixture(scope="module")
def workers(env: PlatformEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = tmp_path_factory.mktemp("trf-logs")
    started = []
    for service in ("referral", "risk", "scheduling", "actions"):
        (folder / service).mkdir()
        group = Workers(service, env.env, folder / service)
        group.start()
        started.append(group)
    yield
    for group in started:
        group.stop_all()


@dataclasses.dataclass
class Apps:
    referral: FlaskClient
    scheduling: FlaskClient
    actions: FlaskClient

    @property
    def referral_runtime(self) -> Runtime:
        runtime: Runtime = self.referral.application.extensions["marac_runtime"]
        return runtime


@pytest.fixture(scope="module")
def apps(env: PlatformEnv, workers: None) -> Iterator[Apps]:
    from services.actions.app import create_app as actions_app
    from services.referral.app import create_app as referral_app
    from services.scheduling.app import create_app as scheduling_app

    built = [referral_app(), scheduling_app(), actions_app()]
    clients = [app.test_client() for app in built]
    yield Apps(*clients)
    for app in built:
        app.extensions["marac_runtime"].db.dispose()


# --- helpers -------------------------------------------------------------------------------
def token(env: PlatformEnv, role: str, area: str, agency: str = "police",
          subject: str | None = None) -> dict[str, str]:
    key = (Path(env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    minted = mint_token(key, subject=subject or f"{role}-{area}", agency=agency, role=role,
                        areas=[area], audience="marac", issuer="marac-dev")
    return {"Authorization": f"Bearer {minted}"}


def coordinator(env: PlatformEnv, area: str) -> dict[str, str]:
    return token(env, "coordinator", area)


def unique_family() -> str:
    return "Fam" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def victim_form(family: str, area: str, yes: int = 16) -> dict[str, Any]:
    body = sample_referral(QUESTIONS, area, yes_answers=yes, victim_given="Robin",
                           victim_family=family, today=clock.uk_today())
    body["victim"]["dates_of_birth"] = ["1985-02-03"]
    return body


def submit(apps: Apps, env: PlatformEnv, body: dict[str, Any]) -> dict[str, Any]:
    response = apps.referral.post("/v1/referrals?submit=true", json=body,
                                  headers=token(env, "referrer", body["area_id"]))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def read(apps: Apps, env: PlatformEnv, referral_id: str, area: str) -> dict[str, Any]:
    response = apps.referral.get(f"/v1/referrals/{referral_id}",
                                 headers=coordinator(env, area))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def wait_state(apps: Apps, env: PlatformEnv, referral_id: str, state: str,
               area: str = A) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = read(apps, env, referral_id, area)
        return found if found["state"] == state else None

    try:
        result: dict[str, Any] = wait_for(reached, TIMEOUT_S)
    except AssertionError:
        raise AssertionError(f"referral {referral_id} is "
                             f"{read(apps, env, referral_id, area)['state']}, not {state}") from None
    return result


def scheduled_in_a(apps: Apps, env: PlatformEnv, family: str) -> dict[str, Any]:
    created = submit(apps, env, victim_form(family, A))
    return wait_state(apps, env, created["id"], "scheduled")


def ask(apps: Apps, env: PlatformEnv, case_id: str, **extra: Any) -> Any:
    body = {"to_area": B, "reason": "moved_permanently", "address": ADDRESS,
            "heard_in_origin": False, "named_on_case_list": False, **extra}
    return apps.referral.post(f"/v1/cases/{case_id}/transfers", json=body,
                              headers=coordinator(env, A))


def offered(apps: Apps, env: PlatformEnv, transfer_id: str) -> dict[str, Any]:
    def listed() -> dict[str, Any] | None:
        response = apps.referral.get("/v1/transfers/incoming", headers=coordinator(env, B))
        assert response.status_code == 200, response.get_json()
        return next((t for t in response.get_json() if t["id"] == transfer_id), None)

    found: dict[str, Any] = wait_for(listed, TIMEOUT_S)
    return found


def outgoing(apps: Apps, env: PlatformEnv, transfer_id: str) -> dict[str, Any]:
    response = apps.referral.get(f"/v1/transfers/outgoing/{transfer_id}",
                                 headers=coordinator(env, A))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def wait_outgoing(apps: Apps, env: PlatformEnv, transfer_id: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (t := outgoing(apps, env, transfer_id))["status"] == status and t, TIMEOUT_S)
    return found


def accept(apps: Apps, env: PlatformEnv, transfer_id: str, **body: Any) -> dict[str, Any]:
    offered(apps, env, transfer_id)
    response = apps.referral.post(f"/v1/transfers/incoming/{transfer_id}/accept",
                                  json={"action_owner_agency": "idva", **body},
                                  headers=coordinator(env, B))
    assert response.status_code == 200, response.get_json()
    answered: dict[str, Any] = response.get_json()
    return answered


def events_of(env: PlatformEnv, family: str, transfer_id: str) -> list[dict[str, Any]]:
    found = []
    for record in read_all(env.env["KAFKA_BOOTSTRAP_SERVERS"], events.kafka_topic(family)):
        event = events.decode(events.header_map(record.headers), record.key, record.value)
        data = dataclasses.asdict(event.data)
        if data.get("transfer_id") == transfer_id:
            found.append(data)
    return found


def get_json(client: FlaskClient, path: str, headers: dict[str, str]) -> Any:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.get_json())
    return response.get_json()


# --- inside one deployment -------------------------------------------------------------------
def test_accepted_transfer_opens_the_case_in_b_and_hands_over(apps: Apps,
                                                              env: PlatformEnv) -> None:
    family = unique_family()
    referral = scheduled_in_a(apps, env, family)
    case_a = referral["case_id"]
    a_coord = coordinator(env, A)

    # The case is named on a case list already sent: moved onto 15 December, whose list is
    # out, it goes out in an addendum.
    wait_for(lambda: get_json(apps.scheduling, f"/v1/meetings/{LISTED_DATE}/case-lists",
                              a_coord), TIMEOUT_S)
    moved = apps.scheduling.post(f"/v1/allocations/{case_a}/move", headers=a_coord,
                                 json={"meeting_id": LISTED_DATE,
                                       "reason": "coordinator_decision"})
    assert moved.status_code == 200, moved.get_json()
    wait_for(lambda: any(c["case_id"] == case_a
                         for doc in get_json(apps.scheduling,
                                             f"/v1/meetings/{LISTED_DATE}/case-lists", a_coord)
                         if doc["edition"] > 0 for c in doc["cases"]), TIMEOUT_S)
    wait_state(apps, env, referral["id"], "scheduled")

    # Two open actions: one to hand over, one to close; and one done already (it goes in the
    # package, not to B's case).
    wait_for(lambda: apps.actions.get(f"/v1/cases/{case_a}", headers=a_coord).status_code == 200,
             TIMEOUT_S)
    made = {}
    for code, owner in (("alarm", "police"), ("housing_options", "housing"),
                        ("police_flag", "police")):
        response = apps.actions.post(f"/v1/cases/{case_a}/actions", headers=a_coord, json={
            "catalogue_code": code, "owner_agency": owner, "asked_by_agency": "idva",
            "for_whom": "victim", "due_by": (clock.uk_today() + timedelta(days=20)).isoformat(),
            "status": "agreed"})
        assert response.status_code == 201, response.get_json()
        made[code] = response.get_json()["id"]
    done_action = apps.actions.post(f"/v1/actions/{made['police_flag']}/status", headers=a_coord,
                                    json={"status": "completed", "note": "Flag placed."})
    assert done_action.status_code == 200, done_action.get_json()
    # Its information-and-updates document (compiled as the outcome would compile it, once the
    # actions service has the case list's listing).
    actions_runtime: Runtime = apps.actions.application.extensions["marac_runtime"]

    def compiled() -> bool:
        with actions_runtime.unit_of_work() as uow:
            return updates.compile_first(uow, case_a, LISTED_DATE) is not None

    wait_for(compiled, TIMEOUT_S)

    # A's IDVA's contact malformed: a 422 naming the field, nothing asked.
    refused = ask(apps, env, case_a, idva={"name": "Jo Whitfield"})
    assert refused.status_code == 422, refused.get_json()
    assert [e["field"] for e in refused.get_json()["errors"]] == ["idva.agency"]
    asked = ask(apps, env, case_a, named_on_case_list=True, note="She moved to her sister's.",
                safeguarding_in_place=SAFEGUARDING, idva=IDVA,
                open_actions={"default": "hand_over",
                              "actions": {made["housing_options"]: "close"}})
    assert asked.status_code == 201, asked.get_json()
    transfer = asked.get_json()
    assert transfer["status"] == "requested"
    assert transfer["address"] == ADDRESS
    assert (transfer["safeguarding_in_place"], transfer["idva"]) == (SAFEGUARDING, IDVA)
    with apps.referral_runtime.unit_of_work() as uow:  # kept encrypted under A's case key
        row = uow.session.get(TransferOut, transfer["id"])
        assert row is not None and row.handover is not None
        assert row.handover.startswith("enc1:") and "Whitfield" not in row.handover

    # B sees the offer with its origin and package; A keeps the case and its date meanwhile.
    offer = offered(apps, env, transfer["id"])
    assert offer["from_area"] == A and offer["named_on_case_list"] is True
    full = get_json(apps.referral, f"/v1/transfers/incoming/{transfer['id']}",
                    coordinator(env, B))
    assert full["package"]["address"] == ADDRESS
    assert full["package"]["referral_form"]["victim"]["name"]["family"] == family
    assert full["package"]["referrals"][0]["assessment"]["checklist_version"] == PARTNER_CHECKLIST
    # The information-and-updates documents and the actions, open and closed, came too
    # (re-encrypted under B's key with the rest of the package).
    (document,) = full["package"]["updates"]
    assert (document["version"], document["marac_date"]) == (1, "2026-12-15")
    assert document["content"]
    packed = {a["action_id"]: a for a in full["package"]["actions"]}
    assert {k: (a["status"], a["open"]) for k, a in packed.items()} == {
        made["alarm"]: ("agreed", True), made["housing_options"]: ("agreed", True),
        made["police_flag"]: ("completed", False)}
    assert packed[made["alarm"]]["what"] == "Personal or panic alarm installed"
    assert packed[made["police_flag"]]["history"][-1]["note"] == "Flag placed."
    assert len(events_of(env, "transfer.packed", transfer["id"])) == 1
    assert full["actions_part"] == "included"
    # What A's coordinator handed over: the safeguarding in place and A's IDVA, re-wrapped
    # for B with the rest of the package; never in clear on a topic.
    assert (full["safeguarding_in_place"], full["idva"]) == (SAFEGUARDING, IDVA)
    assert (full["package"]["safeguarding_in_place"], full["package"]["idva"]) == (
        SAFEGUARDING, IDVA)
    for family_name in ("transfer.requested", "transfer.packed"):
        for record in read_all(env.env["KAFKA_BOOTSTRAP_SERVERS"],
                               events.kafka_topic(family_name)):
            assert b"Whitfield" not in record.value and b"Clare's Law" not in record.value
    still = read(apps, env, referral["id"], A)
    assert (still["state"], still["marac_date"]) == ("scheduled", "2026-12-15")
    assert apps.referral.get(f"/v1/transfers/incoming/{transfer['id']}",
                             headers=a_coord).status_code == 404

    answered = accept(apps, env, transfer["id"])
    assert answered["status"] == "accepted"
    case_b, referral_b = answered["new_case_id"], answered["referral_id"]
    assert case_b != case_a

    # Reassessed under B's rules (threshold 17), allocated by B's calendar, shown as
    # transferred from A.
    in_b = wait_state(apps, env, referral_b, "scheduled", area=B)
    assert in_b["area_id"] == B and in_b["case_id"] == case_b
    visible = {c["criterion"]: c for c in in_b["assessment"]["criteria"]}["visible_high_risk"]
    assert (visible["met"], visible["detail"]) == (False, "16 yes answers; threshold 17")
    assert in_b["repeat"] is False
    agenda = get_json(apps.scheduling, f"/v1/meetings/{in_b['meeting_id']}",
                      coordinator(env, B))
    (on_agenda,) = [c for c in agenda["cases"] if c["case_id"] == case_b]
    assert on_agenda["transferred_from"] == A

    # A: transferred out, linked to B's case; its date given up; the addendum says so.
    wait_state(apps, env, referral["id"], "transferred")
    done = wait_outgoing(apps, env, transfer["id"], "completed")
    assert done["new_case_id"] == case_b
    with apps.referral_runtime.unit_of_work() as uow:
        row = uow.session.get(Case, case_a)
        assert row is not None
        assert (row.status, row.transferred_to_area, row.transferred_to_case) == (
            "transferred_out", B, case_b)
    allocation = wait_for(lambda: (found := get_json(
        apps.scheduling, f"/v1/allocations/{case_a}", a_coord))["status"] == "withdrawn"
        and found, TIMEOUT_S)
    assert allocation["meeting_id"] is None
    documents = get_json(apps.scheduling, f"/v1/meetings/{LISTED_DATE}/case-lists", a_coord)
    last = documents[-1]
    assert last["edition"] >= 2
    assert [(c["case_id"], c["transferred_to"]) for c in last["cases"]] == [(case_a, B)]

    # Actions: the alarm handed over to B (owned by B's idva), housing closed.
    def settled() -> dict[str, str] | None:
        listed = get_json(apps.actions, f"/v1/cases/{case_a}/actions", a_coord)
        statuses = {a["id"]: a["status"] for a in listed}
        return statuses if "agreed" not in statuses.values() else None

    statuses = wait_for(settled, TIMEOUT_S)
    assert statuses == {made["alarm"]: "not_possible", made["housing_options"]: "not_possible",
                        made["police_flag"]: "completed"}
    handed = wait_for(lambda: get_json(apps.actions, f"/v1/cases/{case_b}/actions",
                                       coordinator(env, B)), TIMEOUT_S)
    assert [(a["owner_agency"], a["status"], a["catalogue_code"]) for a in handed] == [
        ("idva", "agreed", "alarm")]
    assert handed[0]["what"] == "Personal or panic alarm installed"

    # Notes between the coordinators: each sees both.
    reply = apps.referral.post(f"/v1/transfers/{transfer['id']}/notes", headers=coordinator(
        env, B), json={"text": "Received; IDVA allocated."})
    assert reply.status_code == 201, reply.get_json()
    for area in (A, B):
        texts = [n["text"] for n in get_json(apps.referral, f"/v1/transfers/{transfer['id']}/notes",
                                             coordinator(env, area))]
        assert texts == ["She moved to her sister's.", "Received; IDVA allocated."]

    # Events: one of each for the transfer.
    for family_name in ("transfer.requested", "transfer.accepted", "transfer.completed"):
        assert len(wait_for(lambda f=family_name: events_of(env, f, transfer["id"]),
                            TIMEOUT_S)) == 1, family_name


def test_declined_transfer_leaves_the_case_with_a(apps: Apps, env: PlatformEnv) -> None:
    referral = scheduled_in_a(apps, env, unique_family())
    asked = ask(apps, env, referral["case_id"])
    assert asked.status_code == 201, asked.get_json()
    transfer_id = asked.get_json()["id"]
    offered(apps, env, transfer_id)
    declined = apps.referral.post(f"/v1/transfers/incoming/{transfer_id}/decline",
                                  headers=coordinator(env, B),
                                  json={"reason": "not_in_area", "note": "Not known there."})
    assert declined.status_code == 200, declined.get_json()
    assert declined.get_json()["status"] == "declined"
    again = apps.referral.post(f"/v1/transfers/incoming/{transfer_id}/accept",
                               headers=coordinator(env, B), json={"action_owner_agency": "idva"})
    assert again.status_code == 409

    done = wait_outgoing(apps, env, transfer_id, "declined")
    assert done["decline_reason"] == "not_in_area"
    kept = read(apps, env, referral["id"], A)
    assert (kept["state"], kept["marac_date"]) == ("scheduled", referral["marac_date"])
    # B keeps nothing of the package; A reads B's note.
    full = get_json(apps.referral, f"/v1/transfers/incoming/{transfer_id}", coordinator(env, B))
    assert full["package"] is None
    notes = get_json(apps.referral, f"/v1/transfers/{transfer_id}/notes", coordinator(env, A))
    assert [(n["from_area"], n["text"]) for n in notes] == [(B, "Not known there.")]
    assert len(wait_for(lambda: events_of(env, "transfer.declined", transfer_id), TIMEOUT_S)) == 1
    # Answered, the case may be offered again.
    assert ask(apps, env, referral["case_id"]).status_code == 201


def test_repeat_clock_follows_the_victim(apps: Apps, env: PlatformEnv) -> None:
    family = unique_family()
    referral = scheduled_in_a(apps, env, family)
    first_date = clock.uk_today() - timedelta(days=200)
    with apps.referral_runtime.unit_of_work() as uow:  # A's referral was made 200 days ago
        uow.session.execute(update(Referral).where(Referral.id == referral["id"])
                            .values(referral_date=first_date))
    asked = ask(apps, env, referral["case_id"])
    assert asked.status_code == 201, asked.get_json()
    answered = accept(apps, env, asked.get_json()["id"])
    wait_state(apps, env, answered["referral_id"], "scheduled", area=B)

    # A new referral in B, below B's threshold and declaring no earlier referral: a repeat.
    body = victim_form(family, B, yes=10)
    assert not body.get("previous_marac_referrals")
    created = submit(apps, env, body)
    # It joined the case the transfer opened: held until B's coordinator confirms the victim.
    held = wait_state(apps, env, created["id"], "assessed", area=B)
    assert held["held_for_confirmation"] is True
    confirmed = apps.referral.post(f"/v1/referrals/{created['id']}/link-confirmation",
                                   headers=coordinator(env, B))
    assert confirmed.status_code == 200, confirmed.get_json()
    screened = wait_state(apps, env, created["id"], "in_screening", area=B)
    assert screened["case_id"] == answered["new_case_id"]
    assert screened["repeat"] is True
    repeat = {c["criterion"]: c for c in screened["assessment"]["criteria"]}["repeat"]
    assert repeat["met"] is True
    assert repeat["detail"].startswith("last previous referral 200 days before")


def test_transfer_to_an_unknown_area_is_refused_naming_the_field(apps: Apps,
                                                                 env: PlatformEnv) -> None:
    referral = scheduled_in_a(apps, env, unique_family())
    for area in ("atlantis", A):
        refused = ask(apps, env, referral["case_id"], to_area=area)
        assert refused.status_code == 422, refused.get_json()
        assert refused.mimetype == "application/problem+json"
        assert [e["field"] for e in refused.get_json()["errors"]] == ["to_area"]
    with apps.referral_runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TransferOut).where(
            TransferOut.case_id == referral["case_id"])) == 0


def test_events_are_idempotent_by_transfer_id(apps: Apps, env: PlatformEnv) -> None:
    referral = scheduled_in_a(apps, env, unique_family())
    asked = ask(apps, env, referral["case_id"])
    transfer_id = asked.get_json()["id"]
    offered(apps, env, transfer_id)
    runtime = apps.referral_runtime
    packed = TransferPacked(transfer_id=transfer_id, case_id=referral["case_id"], from_area=A,
                            to_area=B, record="enc1:another", packed_at=clock.now())
    with runtime.unit_of_work() as uow:  # the package completed again, as a second event would
        transfers.on_packed(uow, packed)
    with runtime.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TransferIn).where(
            TransferIn.id == transfer_id)) == 1
    answered = accept(apps, env, transfer_id)
    wait_outgoing(apps, env, transfer_id, "completed")
    with runtime.unit_of_work() as uow:  # the acceptance again: nothing more happens
        transfers.on_answered(uow, TransferAccepted(
            transfer_id=transfer_id, case_id=referral["case_id"], from_area=A, to_area=B,
            decision="accepted", new_case_id=answered["new_case_id"], decline_reason=None,
            answered_at=clock.now()))
    assert len(wait_for(lambda: events_of(env, "transfer.completed", transfer_id),
                        TIMEOUT_S)) == 1


def test_a_package_whose_actions_part_never_comes_goes_without_it(apps: Apps,
                                                                  env: PlatformEnv) -> None:
    referral = scheduled_in_a(apps, env, unique_family())
    runtime = apps.referral_runtime
    transfer_id = f"trf-{uuid.uuid4().hex[:16]}"
    with runtime.unit_of_work() as uow:  # as a request leaves it, its transfer.requested unheard
        uow.session.add(TransferOut(
            id=transfer_id, area_id=A, case_id=referral["case_id"], to_area=B, remote=False,
            reason="moved_permanently", heard_in_origin=False, named_on_case_list=False,
            action_plan={"default": "hand_over", "actions": {}}, status="requested",
            requested_by="coordinator-northshire", requested_at=clock.now(), attempts=0))

    # Within the timeout (15 minutes by default) it waits for the actions service.
    with time_machine.travel(clock.now() + timedelta(minutes=14), tick=False):
        assert transfers.packing_overdue(runtime) == 0
        assert outgoing(apps, env, transfer_id)["actions_part"] is None
    # Past it, the package goes without that part, marked so for both coordinators.
    with time_machine.travel(clock.now() + timedelta(minutes=16), tick=False):
        assert transfers.packing_overdue(runtime) == 1
        assert transfers.packing_overdue(runtime) == 0  # once
        assert outgoing(apps, env, transfer_id)["actions_part"] == "missing"
    offered(apps, env, transfer_id)
    full = get_json(apps.referral, f"/v1/transfers/incoming/{transfer_id}", coordinator(env, B))
    assert full["actions_part"] == full["package"]["actions_part"] == "missing"
    assert (full["package"]["updates"], full["package"]["actions"]) == ([], [])
    # The part arriving late changes nothing: the package B holds says it went without.
    with runtime.unit_of_work() as uow:
        transfers.on_packed(uow, TransferPacked(
            transfer_id=transfer_id, case_id=referral["case_id"], from_area=A, to_area=B,
            record="enc1:late", packed_at=clock.now()))
    assert outgoing(apps, env, transfer_id)["actions_part"] == "missing"
    again = get_json(apps.referral, f"/v1/transfers/incoming/{transfer_id}", coordinator(env, B))
    assert again["package"]["actions_part"] == "missing"


def test_erasure_in_a_after_transfer_leaves_b_readable(apps: Apps, env: PlatformEnv) -> None:
    family = unique_family()
    referral = scheduled_in_a(apps, env, family)
    asked = ask(apps, env, referral["case_id"])
    transfer_id = asked.get_json()["id"]
    answered = accept(apps, env, transfer_id)
    wait_outgoing(apps, env, transfer_id, "completed")

    erased = apps.referral.delete(f"/v1/cases/{referral['case_id']}",
                                  headers=token(env, "admin", A))
    assert erased.status_code == 204, erased.get_json()
    in_b = read(apps, env, answered["referral_id"], B)
    assert in_b["form"]["victim"]["name"]["family"] == family  # B owns its copy now
    in_a = apps.referral.get(f"/v1/referrals/{referral['id']}", headers=coordinator(env, A))
    assert in_a.status_code in (200, 410)
    assert "victim" not in (in_a.get_json().get("form") or {})
    assert outgoing(apps, env, transfer_id)["address"] is None


# --- in the console ----------------------------------------------------------------------------
def console_as(apps: Apps, area: str, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """The console signed in as the area's coordinator, calling the in-process referral app."""
    config = load_console_settings({**os.environ, "MARAC_CONSOLE_DEV_SIGN_IN": "1"})
    wsgi = httpx.Client(transport=httpx.WSGITransport(app=apps.referral.application))
    monkeypatch.setitem(backend._clients, config.service_timeout_s, wsgi)
    client = console_app(config).test_client()
    signed = client.post("/sign-in", data={
        "csrf_token": form_token(client.get("/sign-in").get_data(True)), "role": "coordinator",
        "area": area, "agency": "marac"})
    assert signed.status_code == 302
    return client


def form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_console_shows_a_transfer_both_ways_and_the_receiver_declines_it(
        apps: Apps, env: PlatformEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    referral = scheduled_in_a(apps, env, unique_family())
    asked = ask(apps, env, referral["case_id"])
    assert asked.status_code == 201, asked.get_json()
    transfer_id = asked.get_json()["id"]
    offered(apps, env, transfer_id)

    b = console_as(apps, B, monkeypatch)
    listing = b.get("/transfers").get_data(True)
    assert transfer_id in listing and "The victim moved permanently" in listing
    page = b.get(f"/transfers/{transfer_id}")
    text = page.get_data(True)
    assert page.status_code == 200 and ADDRESS in text and "Will this area take the case over?" in text
    # Declining needs a reason: the console's own error, beside the field.
    refused = b.post(f"/transfers/{transfer_id}/answer",
                     data={"csrf_token": form_token(text), "decision": "decline"})
    assert refused.status_code == 422
    assert 'href="#answer-decline_reason"' in refused.get_data(True)
    noted = b.post(f"/transfers/{transfer_id}/notes",
                   data={"csrf_token": form_token(text), "text": "Is she still at the refuge?"})
    assert noted.status_code == 302
    answered = b.post(f"/transfers/{transfer_id}/answer",
                      data={"csrf_token": form_token(text), "decision": "decline",
                            "decline_reason": "not_in_area", "note": "Not known here."})
    assert answered.status_code == 302, answered.get_data(True)
    after = b.get(f"/transfers/{transfer_id}").get_data(True)
    assert "The victim does not live in this area" in after
    assert "Will this area take the case over?" not in after  # answered once

    a = console_as(apps, A, monkeypatch)
    sent = a.get(f"/transfers/{transfer_id}").get_data(True)
    assert f"Asked for by {A}" in sent and "declined" in sent
    assert "Is she still at the refuge?" in sent and "Not known here." in sent
    assert transfer_id in a.get("/transfers").get_data(True)
