"""Transfers between two deployments over real HTTP on 127.0.0.1: each deployment is its own
set of service processes (referral web and workers, risk, actions on the sending side, and
scheduling on the receiving side) with its own databases, data folder, keys and areas file,
on one Kafka cluster (its own topic prefix) and one PostgreSQL server (its own databases).

Deployment A serves northshire, whose partner westshire is served by deployment B; B also
serves eastshire, which has no partner. Messages are JWS-signed and carry personal data as a
JWE to the receiving area (services/referral/partners.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from jwcrypto import jwe, jwk, jws
from sqlalchemy import create_engine, func, select, update

from marac_platform import clock
from marac_platform.checklists import get_checklist
from marac_platform.ports import free_port
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import load_settings, settings_for
from services.actions import service as actions_service
from services.actions.models import Action
from services.actions.smart import DETAILS_FIELD
from services.actions.wiring import SERVICE as ACTIONS
from services.referral import transfers
from services.referral.models import TransferIn, TransferOut
from services.referral.sample import PARTNER_CHECKLIST, sample_referral
from services.referral.wiring import SERVICE as REFERRAL
from tests.conftest import REPO, PlatformEnv, in_process, make_platform_env
from tests.support.clock import DEFAULT_INSTANT
from tests.support.infra import PostgresServer
from tests.support.kafka_tools import read_all, wait_for
from tests.support.workers import Workers

pytestmark = pytest.mark.integration

QUESTIONS = list(get_checklist(PARTNER_CHECKLIST).question_ids)
TIMEOUT_S = 90.0
INBOUND = "/v1/transfers/inbound"
SAFEGUARDING = "Refuge warden checks in daily; police marker on the refuge."
IDVA = {"name": "Sam Okafor", "agency": "Northshire IDVA Service", "contact": "0161 496 0000"}


def ec_key(kid: str, use: str) -> jwk.JWK:
    return jwk.JWK.generate(kty="EC", crv="P-256", kid=kid, use=use)


def key_set(*keys: jwk.JWK, private: bool) -> dict[str, Any]:
    found = jwk.JWKSet()
    for key in keys:
        found.add(key)
    exported: dict[str, Any] = json.loads(found.export(private_keys=private))
    return exported


@dataclass
class Deployment:
    env: PlatformEnv
    port: int
    folder: Path
    processes: list[subprocess.Popen[bytes]]
    workers: list[Workers]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, role: str, area: str) -> str:
        key = (Path(self.env.env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
        # The web process checks a token's times against the wall clock.
        return mint_token(key, subject=f"{role}-{area}", agency="police", role=role,
                          areas=[area], audience="marac", issuer="marac-dev",
                          issued_at=int(time_machine.escape_hatch.time.time()))

    def referral_db(self) -> Any:
        return create_engine(self.env.database_url("referral"))


def call(method: str, url: str, bearer: str | None = None, body: Any = None,
         raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def areas_file(folder: Path, served: dict[str, dict[str, Any]]) -> Path:
    """The example areas, re-keyed: each served area is a copy of `base` with its partners."""
    document = yaml.safe_load((REPO / "deploy" / "areas.yaml").read_text(encoding="utf-8"))
    by_id = {area["id"]: area for area in document["areas"]}
    areas = []
    for area_id, spec in served.items():
        area = dict(by_id[spec["base"]], id=area_id, name=f"{area_id.title()} MARAC")
        area["partners"] = spec["partners"]
        areas.append(area)
    path = folder / "areas.yaml"
    path.write_text(yaml.safe_dump({"areas": areas}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def keys() -> dict[str, jwk.JWK]:
    return {name: ec_key(name, use) for name, use in (
        ("north-sig", "sig"), ("north-enc", "enc"), ("west-sig", "sig"), ("west-enc", "enc"))}


@pytest.fixture(scope="module")
def deployments(kafka_bootstrap: str, postgres: PostgresServer, keys: dict[str, jwk.JWK],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Deployment]]:
    with time_machine.travel(DEFAULT_INSTANT, tick=True):
        ports = {"a": free_port(), "b": free_port()}
        nobody = free_port()  # no one listens: a partner that cannot be reached
        folders = {name: tmp_path_factory.mktemp(f"deploy-{name}") for name in ports}
        (folders["a"] / "transfer-keys.json").write_text(json.dumps(key_set(
            keys["north-sig"], keys["north-enc"], private=True)))
        (folders["b"] / "transfer-keys.json").write_text(json.dumps(key_set(
            keys["west-sig"], keys["west-enc"], private=True)))
        files = {
            "a": areas_file(folders["a"], {
                "northshire": {"base": "northshire", "partners": [{
                    "id": "westshire", "name": "Westshire MARAC", "issuer": "marac-westshire",
                    "base_url": f"http://127.0.0.1:{ports['b']}",
                    "jwk": key_set(keys["west-sig"], keys["west-enc"], private=False),
                    "keys_file": "transfer-keys.json"}, {
                    "id": "deadshire", "name": "Deadshire MARAC", "issuer": "marac-deadshire",
                    "base_url": f"http://127.0.0.1:{nobody}",
                    "jwk": key_set(keys["west-sig"], keys["west-enc"], private=False),
                    "keys_file": "transfer-keys.json"}]},
                "southshire": {"base": "southshire", "partners": []}}),
            "b": areas_file(folders["b"], {
                "westshire": {"base": "southshire", "partners": [{
                    "id": "northshire", "name": "Northshire MARAC", "issuer": "marac-northshire",
                    "base_url": f"http://127.0.0.1:{ports['a']}",
                    "jwk": key_set(keys["north-sig"], keys["north-enc"], private=False),
                    "keys_file": "transfer-keys.json"}]},
                "eastshire": {"base": "southshire", "partners": []}}),
        }
        started: dict[str, Deployment] = {}
        # A's actions service packs the case's documents and actions for the package.
        services = {"a": ("referral", "risk", "actions"), "b": ("referral", "risk", "scheduling")}
        try:
            for name in ("a", "b"):
                platform = make_platform_env(kafka_bootstrap, postgres, folders[name] / "data",
                                             services=services[name],
                                             clock_start=DEFAULT_INSTANT)
                platform.env.update({"MARAC_AREAS_FILE": str(files[name]),
                                     "MARAC_TRANSFER_RETRY_S": "0.5",
                                     "MARAC_TRANSFER_MAX_ATTEMPTS": "3"})
                log = (folders[name] / "web.log").open("wb")
                web = subprocess.Popen([sys.executable, "-m", "services", "web", "referral",
                                        "--port", str(ports[name])], env=platform.env,
                                       stdout=log, stderr=log)
                groups = []
                for service in services[name]:
                    (folders[name] / service).mkdir()
                    group = Workers(service, platform.env, folders[name] / service)
                    group.start()
                    groups.append(group)
                started[name] = Deployment(platform, ports[name], folders[name], [web], groups)
            for deployment in started.values():
                wait_for(lambda d=deployment: _healthy(d.url), 60)
            yield started
        finally:
            for deployment in started.values():
                for group in deployment.workers:
                    group.stop_all()
                for process in deployment.processes:
                    process.terminate()
                    process.wait(30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def runtime_of(deployment: Deployment, service: Any) -> Iterator[Runtime]:
    """A runtime of one of the deployment's services in this process (its databases, keys)."""
    patch = pytest.MonkeyPatch()
    for key, value in in_process(deployment.env.env).items():
        patch.setenv(key, value)
    settings_for.cache_clear()
    runtime = Runtime(service, settings=load_settings(service.name))
    try:
        yield runtime
    finally:
        runtime.db.dispose()
        patch.undo()
        settings_for.cache_clear()


def seed_action(deployment: Deployment, case_id: str) -> str:
    """An open action on the case in the deployment's actions database, its details under the
    case's key, as its actions service keeps one (its API is not served in these tests)."""
    action_id = f"act-{uuid.uuid4().hex[:12]}"
    with runtime_of(deployment, ACTIONS) as runtime, runtime.unit_of_work() as uow:
        now = clock.now()
        uow.session.add(Action(
            id=action_id, case_id=case_id, area_id="northshire", meeting_id=None,
            owner_agency="police", asked_by_agency="idva", catalogue_code="alarm",
            details=actions_service.keys(runtime).encrypt(
                case_id, DETAILS_FIELD, {"what": "Alarm fitted", "risk": "Ex-partner"}),
            for_whom="victim", due_by=clock.uk_today() + timedelta(days=14),
            status="agreed", created_at=now, created_by="test", updated_at=now))
    return action_id


def count_offers(deployment: Deployment) -> int:
    engine = deployment.referral_db()
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(TransferIn)) or 0)
    finally:
        engine.dispose()


def signed(key: jwk.JWK, *, iss: str = "northshire", aud: str = "westshire",
           iat: float | None = None, body: dict[str, Any] | None = None) -> bytes:
    """A message as a partner would sign it (the test holds the partners' keys)."""
    payload = body or {"kind": "package", "version": 1, "from_area": iss, "to_area": aud,
                       "transfer_id": f"trf-{uuid.uuid4().hex}", "personal": None}
    message = jws.JWS(json.dumps(payload).encode())
    message.add_signature(key, None, json.dumps({
        "alg": "ES256", "kid": key.get("kid"), "iss": iss, "aud": aud,
        "iat": int(iat if iat is not None else clock.now().timestamp())}))
    sealed: str = message.serialize()
    return sealed.encode()


def refused_audited(deployment: Deployment, status: int) -> bool:
    code, page = call("GET", f"{deployment.url}/v1/audit?subject=unverified-partner",
                      deployment.token("auditor", "westshire"))
    assert code == 200, page
    return any(r["outcome"] == f"4xx:{status}" and r["resource"] == INBOUND
               for r in page["items"])


# --- the tests -------------------------------------------------------------------------------
def test_package_sent_resent_accepted_and_answered(deployments: dict[str, Deployment]) -> None:
    a, b = deployments["a"], deployments["b"]
    family = "Fam" + uuid.uuid4().hex[:8]
    form = sample_referral(QUESTIONS, "northshire", yes_answers=16, victim_given="Robin",
                           victim_family=family, today=clock.uk_today())
    status, created = call("POST", f"{a.url}/v1/referrals?submit=true",
                           a.token("referrer", "northshire"), form)
    assert status == 201, created
    coordinator_a = a.token("coordinator", "northshire")

    def state_in_a() -> str:
        code, found = call("GET", f"{a.url}/v1/referrals/{created['id']}", coordinator_a)
        assert code == 200, found
        return str(found["state"])

    wait_for(lambda: state_in_a() == "accepted", TIMEOUT_S)
    action_id = seed_action(a, created["case_id"])
    status, transfer = call("POST", f"{a.url}/v1/cases/{created['case_id']}/transfers",
                            coordinator_a, {"to_area": "westshire", "reason": "fled_to_refuge",
                                            "address": "Refuge, Westshire",
                                            "heard_in_origin": False,
                                            "named_on_case_list": False,
                                            "note": "She left at night.",
                                            "safeguarding_in_place": SAFEGUARDING,
                                            "idva": IDVA,
                                            "open_actions": {"default": "close"}})
    assert status == 201, transfer
    assert (transfer["safeguarding_in_place"], transfer["idva"]) == (SAFEGUARDING, IDVA)
    # Waiting for A's actions service's part (transfer.packed), then sent.
    assert (transfer["remote"], transfer["delivery"]) == (True, "packing")

    def outgoing() -> dict[str, Any]:
        code, found = call("GET", f"{a.url}/v1/transfers/outgoing/{transfer['id']}",
                           coordinator_a)
        assert code == 200, found
        return dict(found)

    wait_for(lambda: outgoing()["delivery"] == "delivered", TIMEOUT_S)
    coordinator_b = b.token("coordinator", "westshire")
    code, offers = call("GET", f"{b.url}/v1/transfers/incoming", coordinator_b)
    assert code == 200, offers
    (offer,) = [o for o in offers if o["id"] == transfer["id"]]
    assert (offer["from_area"], offer["remote"], offer["status"]) == (
        "northshire", True, "requested")
    code, full = call("GET", f"{b.url}/v1/transfers/incoming/{transfer['id']}", coordinator_b)
    assert code == 200, full
    assert full["package"]["referral_form"]["victim"]["name"]["family"] == family
    assert full["package"]["address"] == "Refuge, Westshire"
    # A's actions (open and closed) and information-and-updates documents came, encrypted to B.
    (packed,) = full["package"]["actions"]
    assert (packed["action_id"], packed["what"], packed["open"]) == (action_id, "Alarm fitted",
                                                                     True)
    assert full["package"]["updates"] == []  # never heard in A: no document yet
    assert full["actions_part"] == "included"
    # What A's coordinator handed over, inside the JWE to B: the safeguarding and A's IDVA.
    assert (full["safeguarding_in_place"], full["idva"]) == (SAFEGUARDING, IDVA)
    assert (full["package"]["safeguarding_in_place"], full["package"]["idva"]) == (
        SAFEGUARDING, IDVA)
    # The partner's calls are on B's audit trail under B's area (the one they were for).
    code, trail = call("GET", f"{b.url}/v1/audit?subject=partner:northshire",
                       b.token("auditor", "westshire"))
    assert code == 200, trail
    assert {(r["area_id"], r["outcome"]) for r in trail["items"]
            if r["resource"] == INBOUND} == {("westshire", "2xx:200")}

    # B's own deployment says a transfer was requested (for its notify to tell its coordinators).
    requested = wait_for(lambda: [
        r for r in read_all(b.env.env["KAFKA_BOOTSTRAP_SERVERS"],
                            f"{b.env.prefix}transfer.requested")
        if json.loads(r.value).get("transfer_id") == transfer["id"]], TIMEOUT_S)
    assert len(requested) == 1
    # Never in clear on a topic of either deployment, nor in their logs.
    for deployment in (a, b):
        for topic in ("transfer.requested", "transfer.packed"):
            for record in read_all(deployment.env.env["KAFKA_BOOTSTRAP_SERVERS"],
                                   f"{deployment.env.prefix}{topic}"):
                assert IDVA["name"].encode() not in record.value
                assert b"Refuge warden" not in record.value
        for log_file in deployment.folder.rglob("*.log"):
            assert IDVA["name"] not in log_file.read_text(errors="replace")

    # Sent again (as after a lost response): still one offer.
    before = count_offers(b)
    engine = a.referral_db()
    with engine.begin() as connection:
        connection.execute(update(TransferOut).where(TransferOut.id == transfer["id"])
                           # Due on the deployments' clock (the platform's, not the
                           # database's now(), which is the wall clock: hours away from it).
                           .values(delivery="pending",
                                   next_attempt_at=DEFAULT_INSTANT - timedelta(days=1)))
    engine.dispose()
    wait_for(lambda: outgoing()["delivery"] == "delivered" and outgoing()["attempts"] == 2,
             TIMEOUT_S)
    assert count_offers(b) == before
    assert len([r for r in read_all(b.env.env["KAFKA_BOOTSTRAP_SERVERS"],
                                    f"{b.env.prefix}transfer.requested")
                if json.loads(r.value).get("transfer_id") == transfer["id"]]) == 1

    # Notes between the coordinators cross too (signed, encrypted): the first came with the
    # package, later ones each way.
    def notes(deployment: Deployment, bearer: str) -> list[str]:
        found_code, found = call("GET", f"{deployment.url}/v1/transfers/{transfer['id']}/notes",
                                 bearer)
        assert found_code == 200, found
        return [n["text"] for n in found]

    assert notes(b, coordinator_b) == ["She left at night."]
    code, _ = call("POST", f"{b.url}/v1/transfers/{transfer['id']}/notes", coordinator_b,
                   {"text": "A refuge place is held."})
    assert code == 201
    # (In order of writing within a deployment; the two test deployments' clocks started
    # apart, so across them only the set is compared.)
    wait_for(lambda: sorted(notes(a, coordinator_a)) == ["A refuge place is held.",
                                                         "She left at night."], TIMEOUT_S)
    code, _ = call("POST", f"{a.url}/v1/transfers/{transfer['id']}/notes", coordinator_a,
                   {"text": "Her IDVA will call yours."})
    assert code == 201
    wait_for(lambda: "Her IDVA will call yours." in notes(b, coordinator_b), TIMEOUT_S)
    assert len(notes(b, coordinator_b)) == 3  # each note once on each side

    code, answered = call("POST", f"{b.url}/v1/transfers/incoming/{transfer['id']}/accept",
                          coordinator_b, {})
    assert code == 200, answered
    referral_b = answered["referral_id"]

    def state_in_b() -> str:
        found_code, found = call("GET", f"{b.url}/v1/referrals/{referral_b}", coordinator_b)
        assert found_code == 200, found
        return str(found["state"])

    wait_for(lambda: state_in_b() == "scheduled", TIMEOUT_S)
    # The answer came back signed: A's case is transferred out, linked to B's.
    done = wait_for(lambda: (found := outgoing())["status"] == "completed" and found, TIMEOUT_S)
    assert done["new_case_id"] == answered["new_case_id"]
    wait_for(lambda: state_in_a() == "transferred", TIMEOUT_S)
    # B's answer is on A's trail under A's area, naming A's case.
    code, trail = call("GET", f"{a.url}/v1/audit?subject=partner:westshire",
                       a.token("auditor", "northshire"))
    assert code == 200, trail
    assert {(r["area_id"], r["case_id"]) for r in trail["items"]
            if r["resource"] == INBOUND and r["case_id"]} == {("northshire", created["case_id"])}


def test_unknown_signing_key_is_refused_and_nothing_stored(
        deployments: dict[str, Deployment]) -> None:
    b = deployments["b"]
    before = count_offers(b)
    status, problem = call("POST", f"{b.url}{INBOUND}", raw=signed(ec_key("stranger", "sig")),
                           content_type="application/jose+json")
    assert status == 401, problem
    assert problem["errors"] == [{"field": "(signature)", "reason": "unknown-signing-key"}]
    assert count_offers(b) == before
    assert wait_for(lambda: refused_audited(b, 401), 30)


def test_partner_sending_for_an_area_it_is_not_a_partner_of_is_refused(
        deployments: dict[str, Deployment], keys: dict[str, jwk.JWK]) -> None:
    b = deployments["b"]
    before = count_offers(b)
    body = {"kind": "package", "version": 1, "from_area": "northshire", "to_area": "eastshire",
            "transfer_id": "trf-x", "personal": None}
    status, problem = call("POST", f"{b.url}{INBOUND}",
                           raw=signed(keys["north-sig"], aud="eastshire", body=body),
                           content_type="application/jose+json")
    assert status == 403, problem
    assert problem["errors"][0]["reason"] == "not-a-partner"
    assert count_offers(b) == before
    assert wait_for(lambda: refused_audited(b, 403), 30)


def test_replayed_request_outside_the_window_is_refused(
        deployments: dict[str, Deployment], keys: dict[str, jwk.JWK]) -> None:
    b = deployments["b"]
    before = count_offers(b)
    old = clock.now().timestamp() - 3600
    status, problem = call("POST", f"{b.url}{INBOUND}", raw=signed(keys["north-sig"], iat=old),
                           content_type="application/jose+json")
    assert status == 401, problem
    assert problem["errors"][0]["reason"] == "outside-time-window"
    assert count_offers(b) == before


def test_unknown_package_version_is_refused_clearly(
        deployments: dict[str, Deployment], keys: dict[str, jwk.JWK]) -> None:
    b = deployments["b"]
    before = count_offers(b)
    secret = jwe.JWE(b'{"version": 2}', json.dumps({"alg": "ECDH-ES", "enc": "A256GCM"}))
    secret.add_recipient(keys["west-enc"])
    body = {"kind": "package", "version": 2, "from_area": "northshire", "to_area": "westshire",
            "transfer_id": "trf-v2", "personal": secret.serialize(compact=True)}
    status, problem = call("POST", f"{b.url}{INBOUND}", raw=signed(keys["north-sig"], body=body),
                           content_type="application/jose+json")
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["version"]
    assert count_offers(b) == before


def test_a_partner_never_reached_finally_fails_visibly(deployments: dict[str, Deployment]) -> None:
    a = deployments["a"]
    form = sample_referral(QUESTIONS, "northshire", yes_answers=16, victim_given="Robin",
                           victim_family="Fam" + uuid.uuid4().hex[:8], today=clock.uk_today())
    status, created = call("POST", f"{a.url}/v1/referrals?submit=true",
                           a.token("referrer", "northshire"), form)
    assert status == 201, created
    coordinator_a = a.token("coordinator", "northshire")
    status, transfer = call("POST", f"{a.url}/v1/cases/{created['case_id']}/transfers",
                            coordinator_a, {"to_area": "deadshire", "reason": "moved_permanently",
                                            "heard_in_origin": False,
                                            "named_on_case_list": False,
                                            "open_actions": {"default": "close"}})
    assert status == 201, transfer

    def failed() -> dict[str, Any] | None:
        code, found = call("GET", f"{a.url}/v1/transfers/outgoing/{transfer['id']}",
                           coordinator_a)
        assert code == 200, found
        return dict(found) if found["status"] == "failed" else None

    found = wait_for(failed, TIMEOUT_S)
    assert (found["delivery"], found["attempts"], found["last_error"]) == (
        "failed", 3, "unreachable")
    # transfer.failed, once, for notify to tell A's coordinators (tests/integration/test_notify.py).
    told = [json.loads(r.value) for r in read_all(a.env.env["KAFKA_BOOTSTRAP_SERVERS"],
                                                  f"{a.env.prefix}transfer.failed")]
    assert [(t["case_id"], t["to_area"], t["attempts"], t["reason_code"]) for t in told
            if t["transfer_id"] == transfer["id"]] == [
        (created["case_id"], "deadshire", 3, "unreachable")]


def test_a_package_whose_actions_part_never_comes_is_sent_without_it(
        deployments: dict[str, Deployment]) -> None:
    a, b = deployments["a"], deployments["b"]
    form = sample_referral(QUESTIONS, "northshire", yes_answers=16, victim_given="Robin",
                           victim_family="Fam" + uuid.uuid4().hex[:8], today=clock.uk_today())
    status, created = call("POST", f"{a.url}/v1/referrals?submit=true",
                           a.token("referrer", "northshire"), form)
    assert status == 201, created
    transfer_id = f"trf-{uuid.uuid4().hex[:16]}"
    with runtime_of(a, REFERRAL) as runtime:
        with runtime.unit_of_work() as uow:  # as a request leaves it, its transfer.requested unheard
            uow.session.add(TransferOut(
                id=transfer_id, area_id="northshire", case_id=created["case_id"],
                to_area="westshire", remote=True, reason="moved_permanently",
                heard_in_origin=False, named_on_case_list=False,
                action_plan={"default": "close", "actions": {}}, status="requested",
                requested_by="coordinator-northshire", requested_at=clock.now(), attempts=0,
                delivery="packing"))
        # The referral worker's job, as it runs past the timeout (the clock given, not waited).
        assert transfers.packing_overdue(runtime, clock.now() + timedelta(minutes=5)) == 0
        assert transfers.packing_overdue(runtime, clock.now() + timedelta(minutes=16)) == 1

    coordinator_a = a.token("coordinator", "northshire")

    def outgoing() -> dict[str, Any]:
        code, found = call("GET", f"{a.url}/v1/transfers/outgoing/{transfer_id}", coordinator_a)
        assert code == 200, found
        return dict(found)

    sent = wait_for(lambda: (found := outgoing())["delivery"] == "delivered" and found, TIMEOUT_S)
    assert sent["actions_part"] == "missing"
    code, full = call("GET", f"{b.url}/v1/transfers/incoming/{transfer_id}",
                      b.token("coordinator", "westshire"))
    assert code == 200, full
    assert full["actions_part"] == full["package"]["actions_part"] == "missing"
    assert (full["package"]["updates"], full["package"]["actions"]) == ([], [])
