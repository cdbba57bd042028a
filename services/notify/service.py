"""The notify service's use cases: queue deliveries for an event, then deliver them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import ColumnElement, CursorResult, Result, and_, case, or_, select, update

from marac_platform import clock, events, faults, telemetry
from marac_platform.db import utcnow
from marac_platform.events import Event
from marac_platform.payloads import (
    CaseListPublished,
    CaseScheduled,
    MeetingCancelled,
    NotificationFailed,
    NotificationSent,
    ReferralReturned,
)
from marac_platform.runtime import Runtime, UnitOfWork
from services.notify import delivery, domain
from services.notify.domain import DELIVERY_MOVES, MAX_ATTEMPTS, OUTCOME_UNKNOWN
from services.notify.domain import DeliveryStatus as Status
from services.notify.models import Delivery

BATCH = 20
tracer = trace.get_tracer("services.notify")
# Test-only: `MARAC_FAULT=notify.after_send:N` kills the worker right after its N-th send,
# before the delivery is marked sent (marac_platform/faults.py).
AFTER_SEND = "notify.after_send"


def queue(uow: UnitOfWork, event: Event, agency_ids: list[str], message: domain.Message,
          case_id: str | None) -> int:
    """One pending delivery per recipient, in the handler's transaction (idempotent by cause)."""
    area = uow.runtime.area(event.area)
    chosen, _left_out = domain.recipients(area, agency_ids, clock.uk_today())
    context = telemetry.inject_context()
    for recipient in chosen:
        uow.session.add(Delivery(
            id=str(uuid.uuid4()), cause_event_id=event.id, case_id=case_id, area_id=area.id,
            agency_id=recipient.agency_id, channel=recipient.channel, address=recipient.address,
            template=message.template, subject=message.subject, body=message.body,
            status=Status.PENDING, attempts=0, trace_context=context, created_at=utcnow()))
    return len(chosen)


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    data = event.payload(CaseScheduled)
    queue(uow, event, [data.referrer_agency], domain.case_scheduled_message(data),
          data.case_id)


def every_isa_agency(uow: UnitOfWork, area_id: str) -> list[str]:
    return [agency.id for agency in uow.runtime.area(area_id).isa_agencies()]


def on_case_list_published(uow: UnitOfWork, event: Event) -> None:
    data = event.payload(CaseListPublished)
    queue(uow, event, every_isa_agency(uow, event.area), domain.case_list_message(data), None)


def on_meeting_cancelled(uow: UnitOfWork, event: Event) -> None:
    data = event.payload(MeetingCancelled)
    queue(uow, event, every_isa_agency(uow, event.area), domain.meeting_cancelled_message(data),
          None)


def on_referral_returned(uow: UnitOfWork, event: Event) -> None:
    data = event.payload(ReferralReturned)
    queue(uow, event, [data.referrer_agency], domain.referral_returned_message(data),
          data.case_id)


def delivery_log(uow: UnitOfWork, *, case_id: str | None, limit: int) -> Sequence[Delivery]:
    """Deliveries the unit of work's areas see, newest first, optionally for one case."""
    statement = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)
    if case_id:
        statement = statement.where(Delivery.case_id == case_id)
    return uow.session.scalars(statement).all()


def message_id(delivery_id: str) -> str:
    """The e-mail's Message-ID, derived from the delivery: every attempt carries the same one."""
    return f"<{delivery_id}@marac>"


def _claimable(now: datetime, claim_timeout: timedelta) -> ColumnElement[bool]:
    """Pending and due, or claimed so long ago that its worker must have died mid-send."""
    due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
    return or_(and_(Delivery.status == Status.PENDING, due),
               and_(Delivery.status == Status.SENDING, Delivery.claimed_at < now - claim_timeout))


def may_become(status: Status) -> ColumnElement[bool]:
    """The condition of a conditional UPDATE to `status`: a move the delivery may make."""
    return Delivery.status.in_(sorted(DELIVERY_MOVES.sources(status)))


def _changed(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def deliver_pending(runtime: Runtime) -> int:
    """The timed job. Each delivery is claimed, sent and marked in short transactions of its own,
    so a crash leaves at most one delivery with an unknown outcome, never a whole batch."""
    claim_timeout = timedelta(seconds=runtime.settings.delivery_claim_timeout_s)
    with runtime.unit_of_work() as uow:
        ids = uow.session.scalars(
            select(Delivery.id).where(_claimable(utcnow(), claim_timeout))
            .order_by(Delivery.created_at).limit(BATCH)).all()
    attempted = 0
    for delivery_id in ids:
        item = claim(runtime, delivery_id, claim_timeout)
        if item is not None:
            deliver_one(runtime, item)
            attempted += 1
    return attempted


def claim(runtime: Runtime, delivery_id: str, claim_timeout: timedelta) -> Delivery | None:
    """Move one delivery to `sending` with a conditional UPDATE: of several replicas, one wins.

    Retaking an old claim means the earlier attempt's outcome is unknown (the e-mail may have
    left); it is sent again with the same Message-ID, or given up after MAX_ATTEMPTS.
    """
    with runtime.unit_of_work() as uow:
        now = utcnow()
        claimable = _claimable(now, claim_timeout)
        retaken_error = case((Delivery.status == Status.SENDING, OUTCOME_UNKNOWN),
                             else_=Delivery.error)
        taken = _changed(uow.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, claimable, may_become(Status.SENDING),
                   Delivery.attempts < MAX_ATTEMPTS)
            .values(status=Status.SENDING, claimed_at=now, attempts=Delivery.attempts + 1,
                    error=retaken_error)
            .execution_options(synchronize_session=False)))
        if taken:
            return uow.session.get(Delivery, delivery_id)
        exhausted = _changed(uow.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, claimable, Delivery.status == Status.SENDING,
                   may_become(Status.FAILED), Delivery.attempts >= MAX_ATTEMPTS)
            .values(status=Status.FAILED, claimed_at=None, error=OUTCOME_UNKNOWN)
            .execution_options(synchronize_session=False)))
        if exhausted:
            item = uow.session.get(Delivery, delivery_id)
            assert item is not None
            publish_result(uow, item, events.NOTIFICATION_FAILED)
        return None  # another replica has it, or it was given up


def deliver_one(runtime: Runtime, item: Delivery) -> None:
    """Send a claimed delivery (outside any transaction), then record the outcome."""
    parent = telemetry.extract_context(item.trace_context)
    with tracer.start_as_current_span(
        f"notify {item.channel}", context=parent, kind=SpanKind.CLIENT,
        attributes={"marac.delivery.id": item.id, "marac.delivery.channel": item.channel,
                    "marac.agency.id": item.agency_id, "marac.delivery.attempt": item.attempts},
    ):
        try:
            if item.channel == "email" and item.address:
                delivery.send_email(runtime.settings, item.address, item.subject, item.body,
                                    message_id(item.id))
            elif item.channel == "webhook" and item.address:
                delivery.send_webhook(item.address, {"subject": item.subject, "body": item.body,
                                                     "case_id": item.case_id or ""}, item.id)
        except delivery.DeliveryFailed as exc:
            record_failure(runtime, item, exc.reason_code)
            return
        faults.kill_at(AFTER_SEND)
        record_sent(runtime, item)


def record_sent(runtime: Runtime, item: Delivery) -> None:
    with runtime.unit_of_work() as uow:
        # Any claim of this delivery: if a slow send was retaken, the first to finish records it.
        marked = _changed(uow.session.execute(
            update(Delivery).where(Delivery.id == item.id, may_become(Status.SENT))
            .values(status=Status.SENT, sent_at=utcnow(), claimed_at=None)
            .execution_options(synchronize_session=False)))
        if marked:
            publish_result(uow, item, events.NOTIFICATION_SENT)


def record_failure(runtime: Runtime, item: Delivery, reason_code: str) -> None:
    with runtime.unit_of_work() as uow:
        ours = and_(Delivery.id == item.id, Delivery.status == Status.SENDING,
                    Delivery.attempts == item.attempts)  # not retaken since we claimed it
        if item.attempts < MAX_ATTEMPTS:
            # Back to pending; an SMTP server or webhook that is down gets time to recover.
            uow.session.execute(
                update(Delivery).where(ours, may_become(Status.PENDING))
                .values(status=Status.PENDING, claimed_at=None, error=reason_code,
                        next_attempt_at=utcnow() + domain.retry_delay(item.attempts))
                .execution_options(synchronize_session=False))
            return
        failed = _changed(uow.session.execute(
            update(Delivery).where(ours, may_become(Status.FAILED))
            .values(status=Status.FAILED, claimed_at=None, error=reason_code)
            .execution_options(synchronize_session=False)))
        if failed:
            item.error = reason_code
            publish_result(uow, item, events.NOTIFICATION_FAILED)


def publish_result(uow: UnitOfWork, item: Delivery, event_type: str) -> None:
    sent = NotificationSent(
        notification_id=item.id, case_id=item.case_id, area_id=item.area_id,
        channel=item.channel, agency_id=item.agency_id, template=item.template,
        cause_event_id=item.cause_event_id)
    data: NotificationSent = sent
    if event_type == events.NOTIFICATION_FAILED:
        data = NotificationFailed(**asdict(sent), reason_code=item.error or "unknown")
    uow.publish(event_type, subject=item.case_id or item.id, area=item.area_id, data=data)
