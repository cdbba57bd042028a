"""The one event envelope (CloudEvents 1.0, Kafka binary mode) and the catalog of event types."""

from __future__ import annotations

import builtins
import functools
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from marshmallow import ValidationError

from marac_platform import clock, payloads

AREA_ATTRIBUTE = "maracarea"  # CloudEvents extension: the MARAC area the event belongs to
CONTENT_TYPE = "application/json"


class MalformedEvent(Exception):
    """A message that is not a valid event of a known type; names headers or fields, never values."""


@dataclass(frozen=True)
class EventSpec:
    type: str
    topic: str
    schema: builtins.type[payloads.PayloadSchema]
    summary: str

    @property
    def version(self) -> int:
        return int(self.type.rsplit(".v", 1)[1])

    @property
    def payload(self) -> builtins.type[payloads.Payload]:
        return self.schema.payload


# The event types: producers and HANDLERS tables name them by these constants only.
REFERRAL_SUBMITTED: Final = "marac.referral.submitted.v1"
REFERRAL_ACCEPTED: Final = "marac.referral.accepted.v1"
REFERRAL_RETURNED: Final = "marac.referral.returned.v1"
REFERRAL_STATUS_CHANGED: Final = "marac.referral.status_changed.v1"
REFERRAL_SCREENED: Final = "marac.referral.screened.v1"
REFERRAL_URGENCY_CHANGED: Final = "marac.referral.urgency_changed.v1"
REFERRAL_HELD: Final = "marac.referral.held.v1"
RISK_ASSESSED: Final = "marac.risk.assessed.v1"
CASE_SCHEDULED: Final = "marac.case.scheduled.v1"
CASE_RESCHEDULED: Final = "marac.case.rescheduled.v1"
CASE_HEARD: Final = "marac.case.heard.v1"
CASE_ERASED: Final = "marac.case.erased.v1"
CASELIST_PUBLISHED: Final = "marac.caselist.published.v1"
MEETING_CANCELLED: Final = "marac.meeting.cancelled.v1"
ACTION_CASE_OPENED: Final = "marac.action.case_opened.v1"
RESEARCH_OWED: Final = "marac.research.owed.v1"
RESEARCH_SUBMITTED: Final = "marac.research.submitted.v1"
ACTION_CREATED: Final = "marac.action.created.v1"
ACTION_STATUS_CHANGED: Final = "marac.action.status_changed.v1"
ACTION_DUE_SOON: Final = "marac.action.due_soon.v1"
ACTION_OVERDUE: Final = "marac.action.overdue.v1"
ACTION_ESCALATED: Final = "marac.action.escalated.v1"
UPDATES_PUBLISHED: Final = "marac.updates.published.v1"
RESEARCH_REMINDER: Final = "marac.research.reminder.v1"
TRANSFER_REQUESTED: Final = "marac.transfer.requested.v1"
TRANSFER_ACCEPTED: Final = "marac.transfer.accepted.v1"
TRANSFER_DECLINED: Final = "marac.transfer.declined.v1"
TRANSFER_COMPLETED: Final = "marac.transfer.completed.v1"
TRANSFER_FAILED: Final = "marac.transfer.failed.v1"
TRANSFER_PACKED: Final = "marac.transfer.packed.v1"
NOTIFICATION_SENT: Final = "marac.notification.sent.v1"
NOTIFICATION_FAILED: Final = "marac.notification.failed.v1"


def _spec(event_type: str, schema: type[payloads.PayloadSchema], summary: str) -> EventSpec:
    topic = event_type.removeprefix("marac.").rsplit(".v", 1)[0]
    return EventSpec(type=event_type, topic=topic, schema=schema, summary=summary)


# Every event the platform publishes. The topic is the name without version, so a v2 of a type
# shares the topic and partitioning of v1 while both are published during a migration.
CATALOG: Mapping[str, EventSpec] = {
    spec.type: spec
    for spec in (
        _spec(REFERRAL_SUBMITTED, payloads.ReferralSubmittedSchema,
              "A referral was submitted (or resubmitted) with its DASH answers, for risk."),
        _spec(REFERRAL_ACCEPTED, payloads.ReferralAcceptedSchema,
              "A referral met the criteria and passed screening: scheduling gives it a date."),
        _spec(REFERRAL_RETURNED, payloads.ReferralReturnedSchema,
              "A referral went back to its referrer, with the reasons (risk or a screening step)."),
        _spec(REFERRAL_STATUS_CHANGED, payloads.ReferralStatusChangedSchema,
              "A referral moved from one state of its lifecycle to another."),
        _spec(REFERRAL_SCREENED, payloads.ReferralScreenedSchema,
              "One screening step decided on a referral."),
        _spec(REFERRAL_URGENCY_CHANGED, payloads.ReferralUrgencyChangedSchema,
              "The coordinator marked a referral urgent, or took the mark off."),
        _spec(REFERRAL_HELD, payloads.ReferralHeldSchema,
              "A referral that joined the victim's open case met the criteria and waits for a "
              "coordinator to confirm it is the same victim, or separate it."),
        _spec(RISK_ASSESSED, payloads.RiskAssessedSchema,
              "The DASH score and the four criteria, each with its reason."),
        _spec(CASE_SCHEDULED, payloads.CaseScheduledSchema,
              "A referral's case has its MARAC date (first given, or moved)."),
        _spec(CASE_RESCHEDULED, payloads.CaseRescheduledSchema,
              "A case's MARAC date changed: where it is now, where it was, and why."),
        _spec(CASE_HEARD, payloads.CaseHeardSchema,
              "A case was heard at its MARAC, or deferred."),
        _spec(CASE_ERASED, payloads.CaseErasedSchema,
              "A case was erased (its key destroyed): drop what is kept of it."),
        _spec(CASELIST_PUBLISHED, payloads.CaseListPublishedSchema,
              "A MARAC date's case list (edition 0) or an addendum went out."),
        _spec(MEETING_CANCELLED, payloads.MeetingCancelledSchema,
              "A MARAC date was cancelled; its cases moved or wait."),
        _spec(ACTION_CASE_OPENED, payloads.ActionCaseOpenedSchema,
              "The actions service opened the case record actions hang on."),
        _spec(RESEARCH_OWED, payloads.ResearchOwedSchema,
              "An agency that signed the ISA owes its research return on a listed case, by the "
              "closing date."),
        _spec(RESEARCH_SUBMITTED, payloads.ResearchSubmittedSchema,
              "An agency sent (or amended) its research return; late says it came after the "
              "closing date."),
        _spec(ACTION_CREATED, payloads.ActionCreatedSchema,
              "A SMART action was proposed or agreed: owner, asking agency, for whom, by when."),
        _spec(ACTION_STATUS_CHANGED, payloads.ActionStatusChangedSchema,
              "A SMART action moved from one status to another: who moved it, and when."),
        _spec(ACTION_DUE_SOON, payloads.ActionDueSoonSchema,
              "An open action falls due within the area's due-soon days (once per action)."),
        _spec(ACTION_OVERDUE, payloads.ActionOverdueSchema,
              "An open action was not done by its date (the day after; once per action)."),
        _spec(ACTION_ESCALATED, payloads.ActionEscalatedSchema,
              "An open action is an escalation step (e.g. 7 or 14 days) over (once per step)."),
        _spec(UPDATES_PUBLISHED, payloads.UpdatesPublishedSchema,
              "A version of a case's information-and-updates document, for the ISA agencies and "
              "the referrer to read by reference."),
        _spec(RESEARCH_REMINDER, payloads.ResearchReminderSchema,
              "An agency has not returned its research on a listed case and the closing time is "
              "near (once per return)."),
        _spec(TRANSFER_REQUESTED, payloads.TransferRequestedSchema,
              "An area asked another to take a case over (the victim moved)."),
        _spec(TRANSFER_ACCEPTED, payloads.TransferAcceptedSchema,
              "The receiving area accepted a transfer and opened its own case."),
        _spec(TRANSFER_DECLINED, payloads.TransferDeclinedSchema,
              "The receiving area declined a transfer; the case stays with the sending area."),
        _spec(TRANSFER_COMPLETED, payloads.TransferCompletedSchema,
              "The sending area handed the case over and marked it transferred out."),
        _spec(TRANSFER_FAILED, payloads.TransferFailedSchema,
              "A transfer package to another deployment was finally not delivered (after its "
              "retries, or refused); the case stays with the sending area."),
        _spec(TRANSFER_PACKED, payloads.TransferPackedSchema,
              "The actions service's part of a transfer package (the case's information-and-"
              "updates documents and actions), compressed then encrypted under the case's "
              "key; over 900 KB even so, only a marker saying it was too large."),
        _spec(NOTIFICATION_SENT, payloads.NotificationSentSchema,
              "A notification reached its channel (e-mail, webhook, record)."),
        _spec(NOTIFICATION_FAILED, payloads.NotificationFailedSchema,
              "A notification could not be delivered after its retries."),
    )
}


def spec_for(event_type: str) -> EventSpec:
    try:
        return CATALOG[event_type]
    except KeyError:
        raise MalformedEvent(f"unknown event type {event_type!r}") from None


@functools.cache
def _schema(kind: builtins.type[payloads.PayloadSchema]) -> payloads.PayloadSchema:
    return kind()


def schema_of(spec: EventSpec) -> payloads.PayloadSchema:
    """The payload schema's one instance: building a marshmallow schema per event (it deep-
    copies its declared fields) cost more than loading the event."""
    return _schema(spec.schema)


def topics() -> list[str]:
    """The event families, e.g. `referral.submitted` (without any deployment prefix)."""
    return sorted({spec.topic for spec in CATALOG.values()})


def kafka_topic(family: str) -> str:
    """The Kafka topic of an event family: MARAC_TOPIC_PREFIX lets several deployments (or test
    runs) share one cluster without reading each other's events."""
    return os.environ.get("MARAC_TOPIC_PREFIX", "") + family


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


P = TypeVar("P", bound=payloads.Payload)


@dataclass(frozen=True)
class Event:
    """An event as handlers see it: attributes plus the loaded (validated) data."""

    id: str
    type: str
    source: str
    subject: str  # the case id: also the Kafka key, so one case's events stay in order
    area: str
    time: datetime
    data: payloads.Payload
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return spec_for(self.type).topic

    def payload(self, kind: builtins.type[P]) -> P:
        """The data as the dataclass its handler expects (a wiring mistake fails loudly)."""
        if not isinstance(self.data, kind):
            raise TypeError(f"{self.type} carries {type(self.data).__name__}, not {kind.__name__}")
        return self.data


@dataclass(frozen=True)
class Message:
    """A Kafka record to produce: topic, key, headers, value."""

    topic: str
    key: str
    headers: dict[str, str]
    value: bytes
    event_id: str


def new_message(
    event_type: str, *, source: str, subject: str, area: str,
    data: Mapping[str, Any] | payloads.Payload,
) -> Message:
    """Validate `data` (its dataclass, or a mapping of its fields) against the type's schema
    and encode it in binary mode."""
    spec = spec_for(event_type)
    schema = schema_of(spec)
    raw = schema.dump(data) if isinstance(data, payloads.Payload) else dict(data)
    try:
        loaded = schema.load(raw)
    except ValidationError as exc:
        # A producer bug, not user input: name the fields only.
        raise ValueError(f"{event_type}: invalid payload fields {sorted(exc.messages)}") from None
    body = schema.dump(loaded)
    event_id = str(uuid.uuid4())
    cloud_event = CloudEvent(
        attributes={
            "id": event_id,
            "source": source,
            "type": event_type,
            "specversion": "1.0",
            "time": clock.now(),
            "subject": subject,
            "datacontenttype": CONTENT_TYPE,
            AREA_ATTRIBUTE: area,
        },
        data=body,
    )
    encoded = ce_kafka.to_binary(cloud_event, JSONFormat(), key_mapper=lambda _e: subject)
    return Message(
        topic=kafka_topic(spec.topic),
        key=subject,
        headers={name: value.decode("utf-8") for name, value in encoded.headers.items()},
        value=encoded.value,
        event_id=event_id,
    )


def header_map(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    return {name: value for name, value in (headers or []) if value is not None}


def decode(headers: Mapping[str, bytes], key: bytes | None, value: bytes | None) -> Event:
    """Parse and validate one Kafka record; MalformedEvent says what is wrong without values."""
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion", "ce_subject"):
        if required not in headers:
            raise MalformedEvent(f"missing header {required}")
    if f"ce_{AREA_ATTRIBUTE}" not in headers:
        raise MalformedEvent(f"missing header ce_{AREA_ATTRIBUTE}")
    spec = spec_for(headers["ce_type"].decode("utf-8", "replace"))
    if value is None:
        raise MalformedEvent("empty value")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedEvent("value is not JSON") from None
    if not isinstance(raw, dict):
        raise MalformedEvent("value is not a JSON object")
    try:
        message = ce_kafka.KafkaMessage(headers=dict(headers), key=key, value=value)
        cloud_event = ce_kafka.from_binary(message, JSONFormat(), CloudEvent)
    except Exception as exc:  # the SDK raises several types for bad attributes
        raise MalformedEvent(f"invalid CloudEvents attributes ({type(exc).__name__})") from None
    try:
        data = schema_of(spec).load(raw)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid data fields {sorted(exc.messages)}") from None
    time = cloud_event.get_time() or clock.now()
    return Event(
        id=cloud_event.get_id(),
        type=cloud_event.get_type(),
        source=cloud_event.get_source(),
        subject=cloud_event.get_subject() or "",
        area=str(cloud_event.get_extension(AREA_ATTRIBUTE)),
        time=time,
        data=data,
        headers=headers,
    )
