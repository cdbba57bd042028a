"""The scheduling service's tables: MARAC meetings (dates) per area and each case's allocation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class Meeting(AreaScoped, Base):
    """One MARAC date of an area: a meeting, or a closing date in the co-ordination model."""

    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("area_id", "marac_date", name="uq_meetings_area_date"),
        # The database, not the code, has the last word on capacity.
        CheckConstraint("booked >= 0 AND booked <= capacity", name="capacity"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    marac_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))  # planned | cancelled | held
    ad_hoc: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    caselist_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    caselist_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Allocation(AreaScoped, Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("meeting_id", "slot_index", name="uq_allocations_slot"),)

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str] = mapped_column(String(64), index=True)
    slot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    target_date: Mapped[date] = mapped_column(Date)
    beyond_target: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))  # scheduled | heard | deferred
    reasons: Mapped[list[str]] = mapped_column(JSON)
    referrer_agency: Mapped[str] = mapped_column(String(256))
    # What the case list shows: scores and the encrypted case-list entry.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
