"""Notify end to end: events on real Kafka, two real notify worker processes on PostgreSQL, a
real SMTP relay (aiosmtpd with STARTTLS and AUTH) and a real HTTP webhook receiver.

Each kind reaches exactly its recipients, once, by e-mail and signed webhook; agencies without
an agreement in force get nothing and the refusal is on record; a redelivered event sends
nothing more; a receiver failing twice, and a relay down for a minute, lose nothing and double
nothing.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from marac_platform import events, payloads
from marac_platform.runtime import Runtime
from marac_platform.security.tokens import mint_token
from marac_platform.settings import settings_for
from services.notify.models import Delivery
from tests.conftest import REPO, PlatformEnv
from tests.support.kafka_tools import produce, read_all, wait_for
from tests.support.smtp import SmtpServer, part
from tests.support.webhooks import WebhookReceiver
from tests.support.workers import Workers

pytestmark = pytest.mark.integration

SECRET_ENV = "MARAC_TEST_POLICE_WEBHOOK_SECRET"
COORDINATORS = {"northshire": "marac-team@northshire.example",
                "southshire": "marac-team@southshire.example"}
POLICE = ["marac@police.northshire.example", "duty@police.northshire.example"]
AT = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
DAY = date(2026, 12, 8)


def directory(receiver_url: str) -> dict[str, Any]:
    """deploy/areas.yaml, with what a real directory holds: a webhook, a second contact, a
    lapsed agreement (housing, on the day the tests stand on), an opt-out and coordinators."""
    document: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "areas.yaml").read_text())
    for area in document["areas"]:
        area["notify"] = {"coordinators": [COORDINATORS[area["id"]]]}
        if area["id"] != "northshire":
            continue
        agencies = {agency["id"]: agency for agency in area["agencies"]}
        agencies["police"].update(webhook_url=receiver_url, webhook_secret_env=SECRET_ENV,
                                  contacts=[POLICE[1]], isa_signed_on=date(2025, 4, 1))
        agencies["housing"]["isa_expires"] = date(2026, 11, 30)
        agencies["childrens-services"]["opt_out"] = ["caselist_addendum"]
    return document


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    # The first delivery to reach it is refused twice (a receiver having a bad minute).
    with WebhookReceiver(first_fails_with=(503, 500)) as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def notify_env(platform_env: PlatformEnv, tmp_path: Path, receiver: WebhookReceiver,
               smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    areas = tmp_path / "areas.yaml"
    areas.write_text(yaml.safe_dump(directory(receiver.url), sort_keys=False))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = {**platform_env.env, **smtp.env(), "MARAC_AREAS_FILE": str(areas), SECRET_ENV: secret,
           "MARAC_PUBLIC_URL": "https://marac.example.org", "MARAC_NOTIFY_RETRY_BASE_S": "2"}
    for key in ("MARAC_AREAS_FILE", SECRET_ENV):
        monkeypatch.setenv(key, env[key])
    settings_for.cache_clear()
    return env


@pytest.fixture
def app(notify_env: dict[str, str]) -> Iterator[Flask]:
    from services.notify.app import create_app

    built = create_app()
    yield built
    built.extensions["marac_runtime"].db.dispose()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    found: Runtime = app.extensions["marac_runtime"]
    return found


def bearer(env: dict[str, str], role: str, area: str, agency: str = "idva") -> dict[str, str]:
    key = (Path(env["MARAC_DATA_DIR"]) / "keys" / "dev_private.pem").read_bytes()
    token = mint_token(key, subject=f"{role}-{area}", agency=agency, role=role, areas=[area],
                       audience="marac", issuer="marac-dev", ttl_s=3600)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def workers(notify_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    running = Workers("notify", notify_env, tmp_path)
    running.start()
    running.start()  # two replicas share the consumer group and the delivery table
    yield running
    running.stop_all()


def publish(env: dict[str, str], event_type: str, subject: str, area: str,
            data: payloads.Payload) -> bytes:
    """An event as the service that owns it would publish it; returns its bytes to resend."""
    message = events.new_message(event_type, source="/test", subject=subject, area=area,
                                 data=data)
    headers = [(k, v.encode()) for k, v in message.headers.items()]
    produce(env["KAFKA_BOOTSTRAP_SERVERS"], message.topic, message.value,
            message.key.encode(), headers)
    return message.event_id.encode()


def rows(runtime: Runtime) -> list[Delivery]:
    with runtime.unit_of_work() as uow:
        found = list(uow.session.scalars(select(Delivery).order_by(Delivery.created_at)))
        uow.session.expunge_all()
        return found


def settled(runtime: Runtime, count: int) -> list[Delivery]:
    found = rows(runtime)
    done = len(found) >= count and all(d.status in ("sent", "failed", "refused") for d in found)
    return found if done else []


def by_cause(found: list[Delivery], cause: str) -> set[tuple[str, str, str, str | None]]:
    return {(d.agency_id, d.channel, d.status, d.error if d.status != "sent" else None)
            for d in found if d.cause_event_id == cause}


def scheduled(case_id: str) -> payloads.CaseScheduled:
    start = datetime(2026, 12, 8, 10, tzinfo=UTC)
    return payloads.CaseScheduled(
        case_id=case_id, referral_id=f"ref-{case_id}", area_id="northshire",
        meeting_id="northshire-2026-12-08", marac_date=DAY, meeting_start=start, model="meeting",
        slot_index=0, slot_start=start, target_date=DAY, beyond_target=False, rescheduled=False,
        referrer_agency="police")


def test_each_kind_reaches_exactly_its_recipients_once(
    notify_env: dict[str, str], app: Flask, runtime: Runtime, workers: Workers, smtp: SmtpServer,
    receiver: WebhookReceiver,
) -> None:
    env = notify_env
    cases = [payloads.CaseListCase(case_id=f"case-{n}", referral_id=f"ref-{n}", yes_count=15,
                                   band="high", criteria_met=["visible_high_risk"],
                                   repeat=False, case_list_entry={}) for n in (1, 2)]
    sent: dict[str, str] = {}
    sent["scheduled"] = publish(env, events.CASE_SCHEDULED, "case-1", "northshire",
                                scheduled("case-1")).decode()
    sent["list"] = publish(env, events.CASELIST_PUBLISHED, "northshire-2026-12-08", "northshire",
                           payloads.CaseListPublished(
                               meeting_id="northshire-2026-12-08", area_id="northshire",
                               marac_date=DAY, edition=0, cases=cases,
                               confidentiality_statement="Confidential to ISA signatories.")
                           ).decode()
    sent["addendum"] = publish(env, events.CASELIST_PUBLISHED, "northshire-2026-12-08",
                               "northshire", payloads.CaseListPublished(
                                   meeting_id="northshire-2026-12-08", area_id="northshire",
                                   marac_date=DAY, edition=1, cases=cases[:1],
                                   confidentiality_statement="Confidential.")).decode()
    sent["owed"] = publish(env, events.RESEARCH_OWED, "case-1", "northshire",
                           payloads.ResearchOwed(
                               return_id="ret-1", case_id="case-1", area_id="northshire",
                               meeting_id="northshire-2026-12-08", agency_id="health",
                               due_date=date(2026, 12, 7),
                               deadline=datetime(2026, 12, 7, 17, tzinfo=UTC))).decode()
    sent["owed_lapsed"] = publish(env, events.RESEARCH_OWED, "case-1", "northshire",
                                  payloads.ResearchOwed(
                                      return_id="ret-2", case_id="case-1", area_id="northshire",
                                      meeting_id="northshire-2026-12-08", agency_id="housing",
                                      due_date=date(2026, 12, 7),
                                      deadline=datetime(2026, 12, 7, 17, tzinfo=UTC))).decode()
    sent["overdue"] = publish(env, events.ACTION_OVERDUE, "case-1", "northshire",
                              payloads.ActionOverdue(
                                  action_id="act-1", case_id="case-1", area_id="northshire",
                                  owner_agency="idva", due_by=date(2026, 12, 1), step="overdue",
                                  days_overdue=1)).decode()
    sent["transfer"] = publish(env, events.TRANSFER_REQUESTED, "case-1", "northshire",
                               payloads.TransferRequested(
                                   transfer_id="trf-1", case_id="case-1", from_area="northshire",
                                   to_area="southshire", reason="moved_permanently",
                                   remote=False, requested_at=AT)).decode()
    sent["declined"] = publish(env, events.TRANSFER_DECLINED, "case-1", "southshire",
                               payloads.TransferDeclined(
                                   transfer_id="trf-1", case_id="case-1", from_area="northshire",
                                   to_area="southshire", decision="declined", new_case_id=None,
                                   decline_reason="not_resident", answered_at=AT)).decode()
    sent["failed"] = publish(env, events.TRANSFER_FAILED, "case-2", "northshire",
                             payloads.TransferFailed(
                                 transfer_id="trf-2", case_id="case-2", from_area="northshire",
                                 to_area="westshire", attempts=8, reason_code="unreachable",
                                 failed_at=AT)).decode()
    sent["held"] = publish(env, events.REFERRAL_HELD, "case-3", "northshire",
                           payloads.ReferralHeld(referral_id="ref-3", case_id="case-3",
                                                 area_id="northshire",
                                                 grounds=["name:initial", "dob:exact"])).decode()

    isa = {"police", "idva", "health", "childrens-services"}
    expected: dict[str, set[tuple[str, str, str, str | None]]] = {
        # The referrer's agency, by both its channels (the webhook after two refusals).
        "scheduled": {("police", "email", "sent", None), ("police", "webhook", "sent", None)},
        # Every agency of the directory: those in force told, the others refused with why.
        "list": {*((a, "email", "sent", None) for a in isa),
                 ("police", "webhook", "sent", None),
                 ("housing", "none", "refused", "isa_lapsed"),
                 ("probation", "none", "refused", "no_isa")},
        "addendum": {*((a, "email", "sent", None) for a in isa - {"childrens-services"}),
                     ("police", "webhook", "sent", None),
                     ("childrens-services", "none", "refused", "opted_out"),
                     ("housing", "none", "refused", "isa_lapsed"),
                     ("probation", "none", "refused", "no_isa")},
        "owed": {("health", "email", "sent", None)},
        "owed_lapsed": {("housing", "none", "refused", "isa_lapsed")},
        "overdue": {("idva", "email", "sent", None)},
        "transfer": {("coordinators", "email", "sent", None)},
        "declined": {("coordinators", "email", "sent", None)},
        "failed": {("coordinators", "email", "sent", None)},
        "held": {("coordinators", "email", "sent", None)},
    }
    total = sum(len(v) for v in expected.values())
    found = wait_for(lambda: settled(runtime, total), timeout_s=90, interval_s=0.5)
    assert len(found) == total, workers.logs()
    for name, cause in sent.items():
        assert by_cause(found, cause) == expected[name], name
    # The transfer request is the receiving area's to see, the answer the sending area's.
    assert {d.area_id for d in found if d.cause_event_id == sent["transfer"]} == {"southshire"}
    assert {d.area_id for d in found if d.cause_event_id == sent["declined"]} == {"northshire"}
    # A package finally not delivered to another deployment: the sending area's to hear.
    [failed] = [d for d in found if d.cause_event_id == sent["failed"]]
    assert (failed.area_id, failed.template, failed.reference) == (
        "northshire", "transfer_failed", "trf-2")
    # A joined referral waiting for the coordinators to confirm the victim.
    [held] = [d for d in found if d.cause_event_id == sent["held"]]
    assert (held.area_id, held.template, held.reference) == ("northshire", "referral_held", "ref-3")

    # The delivery log: each coordinator sees their own area's, refusals with the reason.
    client = app.test_client()
    north = client.get("/v1/deliveries?status=refused&limit=200",
                       headers=bearer(env, "coordinator", "northshire"))
    assert north.status_code == 200
    assert {(d["agency_id"], d["error"]) for d in north.json} == {
        ("housing", "isa_lapsed"), ("probation", "no_isa"), ("childrens-services", "opted_out")}
    assert all(d["area_id"] == "northshire" and d["status"] == "refused" for d in north.json)
    south = client.get("/v1/deliveries", headers=bearer(env, "coordinator", "southshire"))
    assert [(d["kind"], d["reference"]) for d in south.json] == [("transfer_requested", "trf-1")]
    assert client.get("/v1/deliveries", headers=bearer(
        env, "agency_rep", "northshire")).status_code == 403
    assert client.get("/v1/deliveries?status=lost", headers=bearer(
        env, "coordinator", "northshire")).status_code == 422

    directory = client.get("/v1/areas/northshire/directory",
                           headers=bearer(env, "coordinator", "northshire"))
    listed = {a["id"]: a for a in directory.json}
    assert (listed["police"]["channels"], listed["police"]["email_addresses"],
            listed["police"]["isa_signed_on"]) == (["email", "webhook"], 2, "2025-04-01")
    assert (listed["housing"]["isa_in_force"], listed["housing"]["refusal"]) == (
        False, "isa_lapsed")
    assert listed["childrens-services"]["opt_out"] == ["caselist_addendum"]
    assert "secret" not in directory.get_data(as_text=True).lower()
    assert client.get("/v1/areas/southshire/directory", headers=bearer(
        env, "coordinator", "northshire")).status_code == 404

    # The e-mails: one per delivery (both police addresses on one), STARTTLS and AUTH each time.
    mails = list(smtp.inbox.messages)
    assert len(mails) == sum(1 for d in found if d.channel == "email")
    assert Counter(m["Message-ID"] for m in mails) == {f"<{d.id}@marac>": 1 for d in found
                                                       if d.channel == "email"}
    assert set(smtp.inbox.sessions) == {(True, True)}
    police = [m for m in mails if "marac@police" in m["To"]]
    assert {m["To"] for m in police} == {", ".join(POLICE)}
    for mail in mails:
        text, html = part(mail, "plain"), part(mail, "html")
        assert "https://marac.example.org/" in text and "https://marac.example.org/" in html
    [to_southshire] = [m for m in mails if m["To"] == COORDINATORS["southshire"]]
    assert "https://marac.example.org/transfers/trf-1" in part(to_southshire, "plain")

    # The webhooks: three accepted (scheduled, list, addendum), each signed so the receiver's
    # Standard Webhooks library verifies it; the first after two refusals, with one webhook-id.
    accepted = receiver.accepted()
    assert len(accepted) == 3 and len(receiver.received) == 5
    secret = notify_env[SECRET_ENV]
    bodies = [Webhook(secret).verify(r.body, r.headers) for r in accepted]
    assert {b["id"] for b in bodies} == {sent["scheduled"], sent["list"], sent["addendum"]}
    assert all(b["link"].startswith("https://marac.example.org/") for b in bodies)
    ids = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sorted(ids.values()) == [1, 1, 3]  # the retried one kept its id
    retried = next(d for d in found if d.channel == "webhook" and d.attempts == 3)
    assert ids[retried.id] == 3
    tampered = accepted[0].body.replace(b'"area":"northshire"', b'"area":"southshire"')
    assert tampered != accepted[0].body
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(secret).verify(tampered, accepted[0].headers)

    # A redelivered event (the same event id again) sends nothing more.
    before_mail, before_hooks = len(smtp.inbox.messages), len(receiver.received)
    publish_again = events.new_message(events.CASE_SCHEDULED, source="/test", subject="case-1",
                                       area="northshire", data=scheduled("case-1"))
    headers = {**publish_again.headers, "ce_id": sent["scheduled"]}
    produce(env["KAFKA_BOOTSTRAP_SERVERS"], publish_again.topic, publish_again.value,
            publish_again.key.encode(), [(k, v.encode()) for k, v in headers.items()])
    marker = publish(env, events.RESEARCH_OWED, "case-9", "northshire", payloads.ResearchOwed(
        return_id="ret-9", case_id="case-9", area_id="northshire",
        meeting_id="northshire-2026-12-08", agency_id="idva", due_date=date(2026, 12, 7),
        deadline=datetime(2026, 12, 7, 17, tzinfo=UTC))).decode()
    wait_for(lambda: any(d.cause_event_id == marker and d.status == "sent"
                         for d in rows(runtime)), timeout_s=60)
    time.sleep(1)  # the marker went out: anything the duplicate caused would be here too
    assert len(smtp.inbox.messages) == before_mail + 1
    assert len(receiver.received) == before_hooks
    assert len(rows(runtime)) == total + 1

    # notification.sent once per sent delivery (consumers dedupe a relay's repeat by event id).
    topic = events.kafka_topic("notification.sent")
    outcomes = {events.decode(events.header_map(r.headers), r.key, r.value).payload(
        payloads.NotificationSent).notification_id
        for r in read_all(env["KAFKA_BOOTSTRAP_SERVERS"], topic)}
    assert outcomes == {d.id for d in rows(runtime) if d.status == "sent"}


def test_a_relay_down_for_a_minute_loses_and_doubles_nothing(
    notify_env: dict[str, str], runtime: Runtime, workers: Workers, smtp: SmtpServer,
) -> None:
    smtp.stop()
    causes = [publish(notify_env, events.CASE_SCHEDULED, f"case-{n}", "northshire",
                      scheduled(f"case-{n}")).decode() for n in range(8)]
    emails = 8
    wait_for(lambda: sum(1 for d in rows(runtime) if d.channel == "email") == emails, 60)
    down_until = time.monotonic() + 60
    while time.monotonic() < down_until:
        time.sleep(2)
    failing = [d for d in rows(runtime) if d.channel == "email"]
    assert all(d.status in ("queued", "sending") for d in failing), [d.status for d in failing]
    assert all(d.attempts >= 2 and (d.error or "").startswith("smtp_") for d in failing
               if d.status == "queued")
    smtp.start()

    def all_sent() -> list[Delivery]:
        found = [d for d in rows(runtime) if d.channel == "email"]
        return found if all(d.status == "sent" for d in found) else []

    done = wait_for(all_sent, timeout_s=120, interval_s=1)
    assert {d.cause_event_id for d in done} == set(causes)
    received = Counter(m["Message-ID"] for m in smtp.inbox.messages)
    assert received == {f"<{d.id}@marac>": 1 for d in done}  # none lost, none doubled
    # Backed off, not hammered: a handful of attempts over the minute.
    assert all(3 <= d.attempts <= 8 for d in done), [d.attempts for d in done]
    assert all(d.sent_at is not None and d.sent_at - d.created_at > timedelta(seconds=55)
               for d in done)
