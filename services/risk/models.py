"""The risk service's tables: assessments and the referral history that repeats are judged on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class Assessment(AreaScoped, Base):
    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    checklist_version: Mapped[str] = mapped_column(String(100))
    yes_count: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(50))
    high_weight_factors: Mapped[list[str]] = mapped_column(JSON)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(30))
    repeat_of: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReferralHistory(AreaScoped, Base):
    """Every known referral of a case's victim to any MARAC: here (those that met the criteria
    and were not sent back at screening), transferred in, or declared on a form."""

    __tablename__ = "referral_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    referral_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # domain.HistorySource
    # The MARAC the referral was made to when it is not this row's area (`area_id`, whose case
    # it is kept for): a declared one's, or the sending area of a transferred-in one.
    referral_area: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the MARAC heard it (from case.heard). Repeats count from the referral, not the
    # hearing; the hearing date is kept for time-to-hearing and the case's history.
    heard_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # A declared or transferred-in one: the referral whose form (or transfer) brought it, so it
    # follows that referral if a coordinator separates it onto a case of its own.
    declared_in: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
