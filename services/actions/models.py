"""The actions service's tables: one case record per scheduled case."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class CaseRecord(AreaScoped, Base):
    __tablename__ = "case_records"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str] = mapped_column(String(64), index=True)
    marac_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # domain.RecordStatus
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The referrer's agency (from case.scheduled): it is sent the updates document too.
    referrer_agency: Mapped[str | None] = mapped_column(String(200), nullable=True)


# --- research, actions, the document (what agencies wrote is ciphertext under the case's key) --


class ListedCase(AreaScoped, Base):
    """A case on one MARAC date's case list (edition 0 or an addendum): what its research
    returns and its information-and-updates document hang on."""

    __tablename__ = "listed_cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(64))
    marac_date: Mapped[date] = mapped_column(Date)
    model: Mapped[str] = mapped_column(String(20))
    edition: Mapped[int] = mapped_column(Integer)
    yes_count: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(20))
    criteria_met: Mapped[list[str]] = mapped_column(JSON)
    repeat: Mapped[bool] = mapped_column(Boolean)
    due_date: Mapped[date] = mapped_column(Date)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(20))  # listed | moved | heard | deferred | erased
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once, by whoever compiles version 1 first (a conditional UPDATE claims it).
    compiled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_listed_cases_meeting", "meeting_id", "status"),)


class ResearchReturn(AreaScoped, Base):
    """One agency's information and updates on one listed case."""

    __tablename__ = "research_returns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str] = mapped_column(String(64), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date] = mapped_column(Date)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    involvement: Mapped[str | None] = mapped_column(String(20), nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext; NULL once erased
    owed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    amendments: Mapped[int] = mapped_column(Integer, default=0)
    saved_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # Set once, by whoever sends its research.reminder first (a conditional UPDATE claims it).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("case_id", "meeting_id", "agency_id",
                                       name="uq_research_returns_case_meeting_agency"),)


class Action(AreaScoped, Base):
    """A SMART action: what (ciphertext), the agency that owns it, the one that asked, the risk
    it addresses (ciphertext), by when, for whom."""

    __tablename__ = "actions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    owner_agency: Mapped[str] = mapped_column(String(64), index=True)
    asked_by_agency: Mapped[str] = mapped_column(String(64), index=True)
    catalogue_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # what, risk: ciphertext
    for_whom: Mapped[str] = mapped_column(String(20))
    due_by: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ActionChange(AreaScoped, Base):
    """Every status an action took: who, when, and their note (ciphertext)."""

    __tablename__ = "action_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[str] = mapped_column(String(64), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(256))
    by_agency: Mapped[str] = mapped_column(String(256))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class ActionReminder(AreaScoped, Base):
    """One reminder step sent for one action: the key makes it once, whoever sweeps."""

    __tablename__ = "action_reminders"

    action_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[str] = mapped_column(String(36))


class ChairRecord(AreaScoped, Base):
    """Meeting model: the chair's record of one case's hearing."""

    __tablename__ = "chair_records"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agencies_present: Mapped[list[str]] = mapped_column(JSON)
    briefed: Mapped[list[str]] = mapped_column(JSON)  # agencies whose representative was briefed
    deferred: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # risks agreed, reason: ciphertext
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(256))


class UpdatesVersion(AreaScoped, Base):
    """One numbered version of a case's information-and-updates document; never rewritten."""

    __tablename__ = "updates_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    meeting_id: Mapped[str] = mapped_column(String(64))
    marac_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
    compiled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    compiled_by: Mapped[str] = mapped_column(String(256))
    content: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext; NULL once erased
    event_id: Mapped[str] = mapped_column(String(36))

    __table_args__ = (UniqueConstraint("case_id", "meeting_id", "version",
                                       name="uq_updates_versions_case_meeting_version"),)
