"""The actions service's tables: one case record per scheduled case."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String
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
