"""The notify service's use cases: queue deliveries for an event, then deliver them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import or_, select

from marac_platform import telemetry
from marac_platform.db import utcnow
from marac_platform.events import Event
from marac_platform.runtime import Runtime, UnitOfWork
from services.notify import delivery, domain
from services.notify.models import Delivery

SENT = "marac.notification.sent.v1"
FAILED = "marac.notification.failed.v1"
MAX_ATTEMPTS = 8
BATCH = 20
tracer = trace.get_tracer("services.notify")


def queue(uow: UnitOfWork, event: Event, agency_ids: list[str], message: domain.Message,
          case_id: str | None) -> int:
    """One pending delivery per recipient, in the handler's transaction (idempotent by cause)."""
    area = uow.runtime.area(event.area)
    chosen, _left_out = domain.recipients(area, agency_ids)
    context = telemetry.inject_context()
    for recipient in chosen:
        uow.session.add(Delivery(
            id=str(uuid.uuid4()), cause_event_id=event.id, case_id=case_id, area_id=area.id,
            agency_id=recipient.agency_id, channel=recipient.channel, address=recipient.address,
            template=message.template, subject=message.subject, body=message.body,
            status="pending", attempts=0, trace_context=context, created_at=utcnow()))
    return len(chosen)


def on_case_scheduled(uow: UnitOfWork, event: Event) -> None:
    data: Mapping[str, Any] = event.data
    queue(uow, event, [data["referrer_agency"]], domain.case_scheduled_message(data),
          data["case_id"])


def every_isa_agency(uow: UnitOfWork, area_id: str) -> list[str]:
    return [agency.id for agency in uow.runtime.area(area_id).isa_agencies()]


def on_case_list_published(uow: UnitOfWork, event: Event) -> None:
    data: Mapping[str, Any] = event.data
    queue(uow, event, every_isa_agency(uow, event.area), domain.case_list_message(data), None)


def on_meeting_cancelled(uow: UnitOfWork, event: Event) -> None:
    data: Mapping[str, Any] = event.data
    queue(uow, event, every_isa_agency(uow, event.area), domain.meeting_cancelled_message(data),
          None)


def on_referral_returned(uow: UnitOfWork, event: Event) -> None:
    data: Mapping[str, Any] = event.data
    queue(uow, event, [data["referrer_agency"]], domain.referral_returned_message(data),
          data["case_id"])


def retry_delay(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, 40 s ... at most 10 minutes between attempts."""
    return timedelta(seconds=min(600, 5 * 2 ** (attempts - 1)))


def deliver_pending(runtime: Runtime) -> int:
    """The timed job: send what is pending; several replicas never send one delivery twice."""
    with runtime.unit_of_work() as uow:
        now = utcnow()
        query = (select(Delivery)
                 .where(Delivery.status == "pending",
                        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
                 .order_by(Delivery.created_at).limit(BATCH))
        if runtime.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        pending = uow.session.scalars(query).all()
        for item in pending:
            deliver_one(uow, item)
        return len(pending)


def deliver_one(uow: UnitOfWork, item: Delivery) -> None:
    parent = telemetry.extract_context(item.trace_context)
    with tracer.start_as_current_span(
        f"notify {item.channel}", context=parent, kind=SpanKind.CLIENT,
        attributes={"marac.delivery.id": item.id, "marac.delivery.channel": item.channel,
                    "marac.agency.id": item.agency_id},
    ):
        item.attempts += 1
        try:
            if item.channel == "email" and item.address:
                delivery.send_email(uow.runtime.settings, item.address, item.subject, item.body)
            elif item.channel == "webhook" and item.address:
                delivery.send_webhook(item.address, {"subject": item.subject, "body": item.body,
                                                     "case_id": item.case_id or ""})
        except delivery.DeliveryFailed as exc:
            item.error = exc.reason_code
            if item.attempts < MAX_ATTEMPTS:
                # Stays pending; an SMTP server or webhook that is down gets time to recover.
                item.next_attempt_at = utcnow() + retry_delay(item.attempts)
                return
            item.status = "failed"
            publish_result(uow, item, FAILED)
            return
        item.status = "sent"
        item.sent_at = utcnow()
        publish_result(uow, item, SENT)


def publish_result(uow: UnitOfWork, item: Delivery, event_type: str) -> None:
    data: dict[str, Any] = {
        "notification_id": item.id, "case_id": item.case_id, "area_id": item.area_id,
        "channel": item.channel, "agency_id": item.agency_id, "template": item.template,
        "cause_event_id": item.cause_event_id,
    }
    if event_type == FAILED:
        data["reason_code"] = item.error or "unknown"
    uow.publish(event_type, subject=item.case_id or item.id, area=item.area_id, data=data)
