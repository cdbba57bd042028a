"""The notify service's tables: one delivery per cause (event), recipient and channel; refused
ones are on record too, with their reason in `error`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class Delivery(AreaScoped, Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("cause_event_id", "agency_id", "channel",
                                       name="uq_deliveries_cause"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cause_event_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    # Unused since addresses come from the directory at send time (kept for older rows).
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    template: Mapped[str] = mapped_column(String(50))  # the notification kind
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # the plain-text part, rendered when queued
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # domain.DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # sends begun, crashed ones too
    error: Mapped[str | None] = mapped_column(String(100), nullable=True)  # last error or refusal
    trace_context: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
