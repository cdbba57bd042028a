"""The scheduling service's tables: MARAC meetings (dates) per area, each case's allocation and its
history, and the case-list documents sent to agencies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class Meeting(AreaScoped, Base):
    """One MARAC date of an area: a meeting, or a closing date in the co-ordination model.

    `booked` always equals the number of allocations pointing at the meeting; it is changed only
    by conditional UPDATEs, so the row lock they take serialises every allocation into it.
    """

    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("area_id", "marac_date", name="uq_meetings_area_date"),
        # The database, not the code, has the last word on capacity.
        CheckConstraint("booked >= 0 AND booked <= capacity", name="capacity"),
        Index("ix_meetings_caselist_due", "caselist_published_at", "caselist_due_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    marac_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))  # a domain.MeetingStatus
    ad_hoc: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    caselist_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    caselist_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Allocation(AreaScoped, Base):
    """Where a case is: `waiting` (no date could take it), `scheduled`, `heard`, `withdrawn`
    (erased before it was heard).

    A deferred or moved case keeps its row (one per case) and points at its new meeting; the
    history of where it has been is in `allocation_changes`.
    """

    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("meeting_id", "slot_index", name="uq_allocations_slot"),)

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    marac_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    slot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the referral was accepted: places in a meeting go first come, first served by it
    # (NULL on rows written before it was kept: their allocated_at stands in).
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    target_date: Mapped[date] = mapped_column(Date)
    beyond_target: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))  # a domain.AllocationStatus
    reasons: Mapped[list[str]] = mapped_column(JSON)
    referrer_agency: Mapped[str] = mapped_column(String(256))
    # The meeting the case last left (moved, cancelled, deferred): it has been scheduled before.
    previous_meeting_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The case-list edition it went out in at its current meeting (0 the list, 1.. addenda).
    caselist_edition: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the case list shows: scores and the encrypted case-list entry.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)

    @property
    def repeat(self) -> bool:
        return bool((self.summary or {}).get("repeat"))

    @property
    def transferred_from(self) -> str | None:
        """The area a transferred case came from (None: referred here)."""
        found = (self.summary or {}).get("transferred_from")
        return str(found) if found else None


class AllocationReferral(AreaScoped, Base):
    """Another referral of the victim that joined the case (and so its hearing) after the one
    the allocation was made for: it is told the case's date, and heard with it."""

    __tablename__ = "allocation_referrals"

    referral_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    referrer_agency: Mapped[str] = mapped_column(String(256))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AllocationChange(AreaScoped, Base):
    """One change of a case's date: scheduled, moved, rescheduled, deferred, heard, waiting, or
    a referral joining the case (`joined`)."""

    __tablename__ = "allocation_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    change: Mapped[str] = mapped_column(String(20))  # a domain.Change
    from_meeting_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_meeting_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a code, never text
    actor: Mapped[str] = mapped_column(String(256))  # "system" or the coordinator's subject id


class CaseList(AreaScoped, Base):
    """A published case-list document: edition 0 is the list, 1.. are addenda of late cases."""

    __tablename__ = "case_lists"
    __table_args__ = (UniqueConstraint("meeting_id", "edition", name="uq_case_lists_edition"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(String(64))
    edition: Mapped[int] = mapped_column(Integer)
    marac_date: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(String(36))
    # The caselist.published event's data: personal fields stay ciphertext at rest.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
