"""The one event envelope (CloudEvents 1.0, Kafka binary mode) and the catalog of event types."""

from __future__ import annotations

import builtins
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from marshmallow import Schema, ValidationError

from marac_platform import clock, payloads

AREA_ATTRIBUTE = "maracarea"  # CloudEvents extension: the MARAC area the event belongs to
CONTENT_TYPE = "application/json"


class MalformedEvent(Exception):
    """A message that is not a valid event of a known type; names headers or fields, never values."""


@dataclass(frozen=True)
class EventSpec:
    type: str
    topic: str
    schema: builtins.type[Schema]

    @property
    def version(self) -> int:
        return int(self.type.rsplit(".v", 1)[1])


def _spec(name: str, schema: type[Schema], version: int = 1) -> EventSpec:
    return EventSpec(type=f"marac.{name}.v{version}", topic=name, schema=schema)


# Every event the platform publishes. The topic is the name without version, so a v2 of a type
# shares the topic and partitioning of v1 while both are published during a migration.
CATALOG: Mapping[str, EventSpec] = {
    spec.type: spec
    for spec in (
        _spec("referral.submitted", payloads.ReferralSubmitted),
        _spec("referral.accepted", payloads.ReferralAccepted),
        _spec("referral.returned", payloads.ReferralReturned),
        _spec("referral.status_changed", payloads.ReferralStatusChanged),
        _spec("risk.assessed", payloads.RiskAssessed),
        _spec("case.scheduled", payloads.CaseScheduled),
        _spec("case.heard", payloads.CaseHeard),
        _spec("caselist.published", payloads.CaseListPublished),
        _spec("action.case_opened", payloads.ActionCaseOpened),
        _spec("notification.sent", payloads.NotificationSent),
        _spec("notification.failed", payloads.NotificationFailed),
        _spec("case.erased", payloads.CaseErased),
        _spec("case.rescheduled", payloads.CaseRescheduled),
        _spec("meeting.cancelled", payloads.MeetingCancelled),
        _spec("referral.screened", payloads.ReferralScreened),
        _spec("referral.urgency_changed", payloads.ReferralUrgencyChanged),
    )
}


def spec_for(event_type: str) -> EventSpec:
    try:
        return CATALOG[event_type]
    except KeyError:
        raise MalformedEvent(f"unknown event type {event_type!r}") from None


def topics() -> list[str]:
    """The event families, e.g. `referral.submitted` (without any deployment prefix)."""
    return sorted({spec.topic for spec in CATALOG.values()})


def kafka_topic(family: str) -> str:
    """The Kafka topic of an event family: MARAC_TOPIC_PREFIX lets several deployments (or test
    runs) share one cluster without reading each other's events."""
    return os.environ.get("MARAC_TOPIC_PREFIX", "") + family


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class Event:
    """An event as handlers see it: attributes plus the loaded (validated) data."""

    id: str
    type: str
    source: str
    subject: str  # the case id: also the Kafka key, so one case's events stay in order
    area: str
    time: datetime
    data: dict[str, Any]
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return spec_for(self.type).topic


@dataclass(frozen=True)
class Message:
    """A Kafka record to produce: topic, key, headers, value."""

    topic: str
    key: str
    headers: dict[str, str]
    value: bytes
    event_id: str


def new_message(
    event_type: str, *, source: str, subject: str, area: str, data: Mapping[str, Any]
) -> Message:
    """Validate `data` against the type's schema and encode it in binary mode."""
    spec = spec_for(event_type)
    schema = spec.schema()
    try:
        loaded = schema.load(dict(data))
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
        data = spec.schema().load(raw)
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
