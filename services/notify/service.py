"""The notify service's use cases: queue the deliveries an event calls for (and the refusals),
then deliver them, each exactly once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, cast

import httpx
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import ColumnElement, CursorResult, Result, Table, and_, bindparam, case, or_, select, update

from marac_platform import clock, events, faults, metrics, telemetry
from marac_platform.areas import Area
from marac_platform.db import new_id, utcnow
from marac_platform.events import Event
from marac_platform.payloads import NotificationFailed, NotificationSent
from marac_platform.runtime import Runtime, UnitOfWork
from services.notify import delivery, domain, templates
from services.notify.config import NotifyConfig
from services.notify.domain import COORDINATORS, DELIVERY_MOVES, MAX_ATTEMPTS, OUTCOME_UNKNOWN
from services.notify.domain import DeliveryStatus as Status
from services.notify.models import Delivery
from services.notify.notices import EVERY_AGENCY, NOTICES, Notice

BATCH = 20
DELIVER_JOB = "deliver"  # the timed job (services/notify/handlers.py) that sends queued rows
log = logging.getLogger(__name__)
tracer = trace.get_tracer("services.notify")

# Test-only: `MARAC_FAULT=notify.after_send:N` kills the worker right after its N-th send,
# before the delivery is marked sent (marac_platform/faults.py).
AFTER_SEND = "notify.after_send"


def config(runtime: Runtime) -> NotifyConfig:
    return runtime.config_as(NotifyConfig)


# --- queueing: in the handler's transaction, so the inbox makes it once per event ------------

def on_event(uow: UnitOfWork, event: Event) -> None:
    for notice in NOTICES[event.type](event):
        queue(uow, event, notice)


def queue(uow: UnitOfWork, event: Event, notice: Notice) -> int:
    """One queued delivery per recipient and channel, and one refused row per recipient that
    may not be told (the coordinator sees why). Returns how many will be sent."""
    area = uow.runtime.areas.get(notice.area_id)
    if area is None:
        return 0  # an area another deployment serves: it tells its own people
    settings = config(uow.runtime)
    ids = [a.id for a in area.agencies] if notice.recipients == (EVERY_AGENCY,) else list(
        notice.recipients)
    chosen, refused = domain.audience(area, ids, notice.kind, clock.uk_today(),
                                      settings.area(area.id).coordinators)
    link = settings.public_url + notice.link
    rendered = templates.render(settings.area(area.id).templates, notice.kind, {
        **notice.facts, "reference": notice.reference, "case_id": notice.case_id or "",
        "link": link, "area_name": area.name})
    context = telemetry.inject_context()
    now = utcnow()

    def row(recipient_id: str, channel: str, status: Status, error: str | None) -> Delivery:
        return Delivery(
            id=new_id("dlv"), cause_event_id=event.id, case_id=notice.case_id, area_id=area.id,
            agency_id=recipient_id, channel=channel, template=notice.kind,
            reference=notice.reference, link=link, subject=rendered.subject, body=rendered.text,
            html=rendered.html, status=status, attempts=0, error=error, trace_context=context,
            created_at=now)

    for recipient in chosen:
        uow.session.add(row(recipient.id, recipient.channel, Status.QUEUED, None))
    if chosen:
        # The delivery job sends them once this commits, not at its next half-second round.
        runtime = uow.runtime
        uow.after_commit(lambda: runtime.wake_job(DELIVER_JOB))
    for refusal in refused:
        uow.session.add(row(refusal.id, domain.NONE, Status.REFUSED, refusal.reason))
        metrics.DELIVERIES.add(1, {"channel": domain.NONE, "outcome": "refused"})
        log.warning("notification refused", extra={
            "agency_id": refusal.id, "reason_code": refusal.reason, "kind": notice.kind})
    return len(chosen)


def delivery_log(uow: UnitOfWork, *, case_id: str | None, status: str | None,
                 limit: int) -> Sequence[Delivery]:
    """Deliveries the unit of work's areas see, newest first, optionally for one case or status."""
    statement = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)
    if case_id:
        statement = statement.where(Delivery.case_id == case_id)
    if status:
        statement = statement.where(Delivery.status == status)
    return uow.session.scalars(statement).all()


def directory(area: Area, today: date) -> list[dict[str, Any]]:
    """The agency directory as a coordinator checks it: agreements, channels, opt-outs."""
    return [{
        "id": agency.id, "name": agency.name, "isa_signed": agency.isa_signed,
        "isa_signed_on": agency.isa_signed_on, "isa_expires": agency.isa_expires,
        "isa_in_force": agency.isa_in_force(today),
        "channels": [c for c, on in ((domain.EMAIL, agency.emails()),
                                     (domain.WEBHOOK, agency.webhook_url)) if on],
        "email_addresses": len(agency.emails()), "opt_out": list(agency.opt_out),
        "refusal": domain.refusal(area, agency.id, "", today),
    } for agency in area.agencies]


# --- delivering: each delivery claimed, sent and marked in short transactions of its own ------

def _claimable() -> ColumnElement[bool]:
    """Queued and due (`now`), or claimed before `stale_before` (the claim timeout ago), so
    long ago that its worker must have died mid-send. Both are bound as the statement runs."""
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= bindparam("now"))
    return or_(and_(Delivery.status == Status.QUEUED, due),
               and_(Delivery.status == Status.SENDING,
                    Delivery.claimed_at < bindparam("stale_before")))


def _when(claim_timeout: timedelta) -> dict[str, datetime]:
    now = utcnow()
    return {"now": now, "stale_before": now - claim_timeout}


def may_become(status: Status) -> ColumnElement[bool]:
    """The condition of a conditional UPDATE to `status`: a move the delivery may make."""
    return Delivery.status.in_(sorted(DELIVERY_MOVES.sources(status)))


# The statements of every e-mail, built once: building the claim took longer than running it
# (its cache key as well), about a third of a millisecond per e-mail.
_DUE = (select(Delivery.id).where(_claimable())
        .order_by(Delivery.created_at, Delivery.id).limit(BATCH))
_CLAIM = (
    update(Delivery)
    .where(Delivery.id == bindparam("delivery_id"), _claimable(), may_become(Status.SENDING),
           Delivery.attempts < MAX_ATTEMPTS)
    .values(status=Status.SENDING, claimed_at=bindparam("now"), attempts=Delivery.attempts + 1,
            error=case((Delivery.status == Status.SENDING, OUTCOME_UNKNOWN),
                       else_=Delivery.error))
    .returning(Delivery)  # the claimed row in the same round trip
    .execution_options(synchronize_session=False))
_GIVE_UP = (
    update(Delivery)
    .where(Delivery.id == bindparam("delivery_id"), _claimable(),
           Delivery.status == Status.SENDING, may_become(Status.FAILED),
           Delivery.attempts >= MAX_ATTEMPTS)
    .values(status=Status.FAILED, claimed_at=None, error=OUTCOME_UNKNOWN)
    .execution_options(synchronize_session=False))
# Any claim of it: if a slow send was retaken, the first to finish records it. On the table,
# not the mapped class: the ORM's bulk UPDATE machinery was a tenth of the worker's CPU.
_DELIVERIES = cast(Table, Delivery.__table__)
_MARK_SENT = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery_id"),
           _DELIVERIES.c.status.in_(sorted(DELIVERY_MOVES.sources(Status.SENT))))
    .values(status=Status.SENT, sent_at=bindparam("now"), claimed_at=None))


def _changed(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


@cache
def _http() -> httpx.Client:
    return delivery.http_client()


def deliver_due(runtime: Runtime) -> int:
    """The timed job: a crash leaves at most one delivery with an unknown outcome, never a
    whole batch. One SMTP session serves the batch's e-mails (and the next batches').

    A delivery's outcome is recorded in the transaction that claims the next one, so an e-mail
    costs one transaction instead of two; still only the one just sent can be unrecorded.
    """
    claim_timeout = timedelta(seconds=runtime.settings.delivery_claim_timeout_s)
    with runtime.unit_of_work() as uow:
        ids = uow.session.scalars(_DUE, _when(claim_timeout)).all()
    if not ids:
        return 0
    attempted = 0
    mailer = _mailer(runtime).begin()
    done: Outcome | None = None  # sent (or refused, or failed), not yet recorded
    try:
        for delivery_id in ids:
            with runtime.unit_of_work() as uow:
                if done is not None:
                    done.record(uow)
                item = claim(uow, delivery_id, claim_timeout)
            if done is not None:
                done.report()
                done = None
            if item is not None:
                done = deliver_one(runtime, item, mailer)
                attempted += 1
    finally:
        if done is not None:  # the batch's last, or the claim it went with failed: on its own
            with runtime.unit_of_work() as uow:
                done.record(uow)
            done.report()
    return attempted


@cache
def _mailer(runtime: Runtime) -> delivery.Mailer:
    """The worker's SMTP session, kept between batches (closed when idle: Mailer.begin)."""
    return delivery.Mailer(runtime.settings.mail)


def claim(uow: UnitOfWork, delivery_id: str, claim_timeout: timedelta) -> Delivery | None:
    """Move one delivery to `sending` with a conditional UPDATE: of several replicas, one wins.
    Retaking an old claim means the earlier attempt's outcome is unknown (the e-mail may have
    left); it is sent again with the same Message-ID, or given up after MAX_ATTEMPTS.
    """
    when = {"delivery_id": delivery_id, **_when(claim_timeout)}
    taken = uow.session.scalars(_CLAIM, when).first()
    if taken is not None:
        return taken
    if _changed(uow.session.execute(_GIVE_UP, when)):
        item = uow.session.get(Delivery, delivery_id)
        assert item is not None
        publish_result(uow, item, events.NOTIFICATION_FAILED)
    return None  # another replica has it, or it was given up


@dataclass
class Outcome:
    """What became of one attempt: recorded in the next transaction (`record`), then counted
    and logged once that has committed (`report`)."""

    item: Delivery
    status: Status  # SENT, REFUSED, or FAILED: a failed send (queued again while it may be)
    reason: str | None = None
    permanent: bool = False
    counted: str = ""  # the deliveries metric's outcome, once recorded
    # The send's span: the result event published while recording continues its trace (the
    # case's), not the delivery job's that happens to be current then.
    context: otel_context.Context = field(default_factory=otel_context.get_current)

    def record(self, uow: UnitOfWork) -> None:
        token = otel_context.attach(self.context)
        try:
            self._record(uow)
        finally:
            otel_context.detach(token)

    def _record(self, uow: UnitOfWork) -> None:
        item = self.item
        if self.status is Status.SENT:
            if _changed(uow.session.execute(_MARK_SENT, {"delivery_id": item.id,
                                                         "now": utcnow()})):
                publish_result(uow, item, events.NOTIFICATION_SENT)
            self.counted = "sent"
        elif self.status is Status.REFUSED:
            uow.session.execute(
                update(Delivery).where(_ours(item), may_become(Status.REFUSED))
                .values(status=Status.REFUSED, claimed_at=None, error=self.reason)
                .execution_options(synchronize_session=False))
            self.counted = "refused"
        elif item.attempts < MAX_ATTEMPTS and not self.permanent:
            # Back to queued; an SMTP relay or webhook that is down gets time to recover.
            delay = domain.retry_delay(item.attempts, uow.runtime.settings.delivery_retry_base_s)
            uow.session.execute(
                update(Delivery).where(_ours(item), may_become(Status.QUEUED))
                .values(status=Status.QUEUED, claimed_at=None, error=self.reason,
                        next_attempt_at=utcnow() + delay)
                .execution_options(synchronize_session=False))
            self.counted = "retry"
        else:
            if _changed(uow.session.execute(
                    update(Delivery).where(_ours(item), may_become(Status.FAILED))
                    .values(status=Status.FAILED, claimed_at=None, error=self.reason)
                    .execution_options(synchronize_session=False))):
                item.error = self.reason
                publish_result(uow, item, events.NOTIFICATION_FAILED)
            self.counted = "failed"

    def report(self) -> None:
        item = self.item
        metrics.DELIVERIES.add(1, {"channel": item.channel, "outcome": self.counted})
        if self.counted == "refused":
            log.warning("notification refused at send time", extra={
                "agency_id": item.agency_id, "reason_code": self.reason, "kind": item.template})
        elif self.counted == "failed":
            log.error("notification failed", extra={
                "agency_id": item.agency_id, "reason_code": self.reason, "kind": item.template})


def deliver_one(runtime: Runtime, item: Delivery, mailer: delivery.Mailer) -> Outcome:
    """Send a claimed delivery (outside any transaction); its outcome, for the caller to record.
    Addresses and the agreement come from the directory as it is now: an agreement that lapsed
    while the delivery waited stops it."""
    parent = telemetry.extract_context(item.trace_context)
    with tracer.start_as_current_span(
        f"notify {item.channel}", context=parent, kind=SpanKind.CLIENT,
        attributes={"marac.delivery.id": item.id, "marac.delivery.channel": item.channel,
                    "marac.agency.id": item.agency_id, "marac.delivery.attempt": item.attempts},
    ):
        try:
            send(runtime, item, mailer)
        except Refused as exc:
            return Outcome(item, Status.REFUSED, exc.reason)
        except delivery.DeliveryFailed as exc:
            return Outcome(item, Status.FAILED, exc.reason_code, permanent=exc.permanent)
        faults.kill_at(AFTER_SEND)
        return Outcome(item, Status.SENT)


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def send(runtime: Runtime, item: Delivery, mailer: delivery.Mailer) -> None:
    area = runtime.area(item.area_id)
    settings = config(runtime).area(area.id)
    if item.agency_id == COORDINATORS:
        addresses = settings.coordinators
        url = None
    else:
        reason = domain.refusal(area, item.agency_id, item.template, clock.uk_today())
        if reason:
            raise Refused(reason)
        agency = area.agency(item.agency_id)
        assert agency is not None
        addresses, url = agency.emails(), agency.webhook_url
    if item.channel == domain.EMAIL:
        if not addresses:
            raise Refused(domain.NO_CHANNEL)
        mailer.send(delivery.email(runtime.settings.mail, addresses, item.subject, item.body,
                                   item.html or "", item.id))
    elif item.channel == domain.WEBHOOK:
        secret = settings.webhook_secrets.get(item.agency_id)
        if not url or not secret:
            raise Refused(domain.NO_CHANNEL)
        body = delivery.webhook_body(item.cause_event_id, item.template, item.reference or "",
                                     item.case_id, item.area_id, item.link or "")
        delivery.post_webhook(_http(), url, secret, body, item.id, clock.now().astimezone(UTC))


def _ours(item: Delivery) -> ColumnElement[bool]:
    """Still this worker's claim: not retaken since (a retaken one is the new claim's to mark)."""
    return and_(Delivery.id == item.id, Delivery.status == Status.SENDING,
                Delivery.attempts == item.attempts)


def publish_result(uow: UnitOfWork, item: Delivery, event_type: str) -> None:
    sent = NotificationSent(
        notification_id=item.id, case_id=item.case_id, area_id=item.area_id,
        channel=item.channel, agency_id=item.agency_id, template=item.template,
        cause_event_id=item.cause_event_id)
    data: NotificationSent = sent
    if event_type == events.NOTIFICATION_FAILED:
        data = NotificationFailed(**asdict(sent), reason_code=item.error or "unknown")
    uow.publish(event_type, subject=item.case_id or item.id, area=item.area_id, data=data)
