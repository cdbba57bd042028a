"""The referral service's tables: cases, referrals (personal part encrypted), state history,
screening decisions and the blind identity index that finds a victim's open case."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marac_platform.db import AreaScoped, PlatformTables, UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


TABLES = PlatformTables(Base.metadata)


class Case(AreaScoped, Base):
    """One victim's case in one area; referrals for the same victim link to it."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # domain.CaseStatus
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Transferred out: the area that took the case over and its case there.
    transferred_to_area: Mapped[str | None] = mapped_column(String(64), nullable=True)
    transferred_to_case: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Referral(AreaScoped, Base):
    __tablename__ = "referrals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    referrer_subject: Mapped[str] = mapped_column(String(256), index=True)
    referrer_agency: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    referral_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The form split in two: what is not personal in clear, the rest one ciphertext.
    form_public: Mapped[dict[str, Any]] = mapped_column(JSON)
    form_personal: Mapped[str | None] = mapped_column(Text, nullable=True)
    assessment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    return_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    marac_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    meeting_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set when the referral joined a victim's existing open case: the match's grounds codes
    # (e.g. ["name:exact", "dob:exact"]) for the coordinator to check. None: a case of its own.
    linked_case_grounds: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # A coordinator confirmed the join (the same victim): it leaves the list to confirm.
    link_confirmed_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    link_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A coordinator found it was not the same victim: it left that case for one of its own.
    separated_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    separated_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    separated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The screening step that returned it (None when risk returned it, or it was not returned).
    returned_at_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The SafeLives return's categories, worked out from the form at each submission (flags and
    # a count, services/referral/quarterly.py): counting never decrypts a form. None: unknown
    # (submitted before they were kept, or erased).
    monitoring: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The time-to-hearing target scheduling set (case.scheduled): 6 or 4 weeks, or the area's.
    target_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # A referral opened by accepting a transfer: the transfer, the area it came from, and the
    # victim's earlier MARAC referrals it brought ([{area_id, date}]: the repeat clock).
    transfer_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    transferred_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    transferred_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class StateChange(AreaScoped, Base):
    __tablename__ = "referral_state_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(256))  # a subject, or "system"


class ScreeningDecision(AreaScoped, Base):
    """Who decided what at one screening step, and when; one round per submission."""

    __tablename__ = "screening_decisions"
    __table_args__ = (UniqueConstraint("referral_id", "round", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer)  # the referral's submission number
    step: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(20))  # accept | return
    # Free text a person wrote: encrypted with the case's key like the form.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    by: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseIdentity(AreaScoped, Base):
    """Blind index of a case's victim: keyed HMACs of folded names and dates of birth.

    No name or date is stored in clear; the key is derived from the area key `kid`, so rows
    written before a rotation are still found (lookups digest under every kid the area holds).
    """

    __tablename__ = "case_identity"
    __table_args__ = (UniqueConstraint("case_id", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # name | initial | dob
    kid: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64), index=True)


class TransferOut(AreaScoped, Base):
    """A transfer the sending area asked for (area_id: the sending area). Until it is
    answered the case stays the sending area's, with its date."""

    __tablename__ = "transfers_out"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the transfer id
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    to_area: Mapped[str] = mapped_column(String(64))
    remote: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    heard_in_origin: Mapped[bool] = mapped_column(Boolean)
    named_on_case_list: Mapped[bool] = mapped_column(Boolean)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext (A's case key)
    # What A's coordinator hands over: the safeguarding in place and A's IDVA (name, agency,
    # contact), one ciphertext under A's case key.
    handover: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A's coordinator's decision for the open actions: {"default": d, "actions": {id: d}}.
    action_plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)  # domain.TransferStatus
    requested_by: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    new_case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The actions service's part of the package (transfer.packed: the information-and-updates
    # documents and the actions), ciphertext under A's case key; the package waits for it.
    record: Mapped[str | None] = mapped_column(Text, nullable=True)
    packed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The package's actions part: None while waiting for it, then included, too_large (the
    # actions service could not put it on one event) or missing (it never answered in time).
    actions_part: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Another deployment: the package's delivery (packing | pending | delivered | answered |
    # failed) and retries.
    delivery: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a code
    outbound: Mapped[str | None] = mapped_column(Text, nullable=True)  # the signed body to send


class TransferIn(AreaScoped, Base):
    """A transfer offered to this area (area_id: the receiving area), with its package
    encrypted under the key of the case it will open here (`new_case_id`, reserved)."""

    __tablename__ = "transfers_in"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the transfer id
    from_area: Mapped[str] = mapped_column(String(64))
    origin_case_id: Mapped[str] = mapped_column(String(64))
    remote: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    heard_in_origin: Mapped[bool] = mapped_column(Boolean)
    named_on_case_list: Mapped[bool] = mapped_column(Boolean)
    package: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext (new case key)
    new_case_id: Mapped[str] = mapped_column(String(64))  # the reserved case (its key)
    # B's case once accepted: the reserved one, or the victim's case already open here.
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action_plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)  # domain.TransferStatus
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Another deployment: the signed answer still to send back (and its retries).
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_delivery: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    answer_attempts: Mapped[int] = mapped_column(Integer, default=0)
    answer_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TransferNote(AreaScoped, Base):
    """A note between the two coordinators on a transfer: one copy per side, each encrypted
    under that side's case key (area_id: the side's area)."""

    __tablename__ = "transfer_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(8))  # out | in
    from_area: Mapped[str] = mapped_column(String(64))  # the area whose coordinator wrote it
    author: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # ciphertext
    # Written here on a transfer with another deployment: still to be sent to it.
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
