"""Erasing a case (crypto-shredding), on request by an admin or when its retention period ends.

Erasure destroys the case's data key in the key store, so every copy of its personal fields
(these rows, events already in Kafka, backups) becomes unreadable for good. The referral rows
then drop their form altogether: the encrypted personal part is NULL and the clear part is
emptied too, since it holds incident dates and police references that could re-identify the
victim. What survives is ids, states, dates of the process and the non-personal assessment
counts. `marac.case.erased.v1` tells the other services to drop what they hold for the case.

GET of an erased referral therefore answers 200 with its ids, state and assessment and an empty
`form`; nothing is left to decrypt, so no 410 is needed (a read racing the erasure that still
finds ciphertext gets 410 from the platform's KeyErased handler).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from marac_platform import audit, events, payloads
from marac_platform.auth import requires
from marac_platform.db import utcnow
from marac_platform.errors import NotFound
from marac_platform.http import request_unit_of_work
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.roles import Permission
from services.referral.domain import CASE_MOVES, RETAINED_STATUSES, CaseStatus
from services.referral.forms import key_store
from services.referral.models import Case, Referral

blp = Blueprint("admin", __name__, url_prefix="/v1", description="Erasure of cases")


@dataclass(frozen=True)
class Erasure:
    case_id: str
    area_id: str
    referrals: int
    key_destroyed: bool
    already_erased: bool


def erase_case(uow: UnitOfWork, case: Case, reason: str) -> Erasure:
    """Shred one case in the caller's unit of work; safe to repeat (a retry finishes the job).

    The key goes first, in its own store (which keeps no copy of it after this call): if this
    transaction then fails, the rows still say open and a retry finds them, while the data is
    already unreadable. Once the cleared rows commit, the old pages holding the form go too.
    """
    already = case.status == CaseStatus.ERASED
    referrals = uow.session.scalars(select(Referral).where(Referral.case_id == case.id)).all()
    now = utcnow()
    for referral in referrals:
        if referral.form_personal is not None or referral.form_public or referral.monitoring:
            referral.form_personal = None
            referral.form_public = {}
            # The return's category flags came from that form (diversity, ages): they go too.
            referral.monitoring = None
            referral.updated_at = now
    destroyed = key_store(uow.runtime).erase(case.id)
    uow.after_commit(uow.runtime.db.purge_deleted)
    if not already:
        case.status = CASE_MOVES.move(CaseStatus(case.status), CaseStatus.ERASED)
        uow.publish(events.CASE_ERASED, subject=case.id, area=case.area_id,
                    data=payloads.CaseErased(case_id=case.id, area_id=case.area_id,
                                             reason=reason))
    return Erasure(case_id=case.id, area_id=case.area_id, referrals=len(referrals),
                   key_destroyed=destroyed, already_erased=already)


def find_case(uow: UnitOfWork, case_id: str) -> Case:
    """The case, if the unit of work's areas see it (erased ones too: erasure may repeat)."""
    case = uow.session.scalar(select(Case).where(Case.id == case_id))
    if case is None:
        raise NotFound("No such case.")
    return case


@blp.route("/cases/<case_id>")
class OneCase(MethodView):
    @requires(Permission.REFERRAL_ERASE)
    @blp.response(204)  # type: ignore[untyped-decorator]
    def delete(self, case_id: str) -> Response:
        """Erase a case: its key is destroyed, so its personal data is unreadable everywhere.

        Repeating it answers 204 again; a case outside the caller's areas is 404.
        """
        with request_unit_of_work() as uow:
            case = find_case(uow, case_id)
            audit.note(case.id, case.area_id)
            erase_case(uow, case, "request")
        return Response(status=204)


# --- retention ------------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What a retention sweep erased (or, on a dry run, would erase), by area."""

    dry_run: bool
    by_area: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # case id -> error type

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.by_area.values())


def due_for_erasure(runtime: Runtime, now: datetime) -> Iterator[tuple[str, str]]:
    """(area, case id) of closed cases whose area's retention period has passed."""
    with runtime.unit_of_work() as uow:
        for area in runtime.areas.by_id.values():
            cutoff = now - timedelta(days=area.retention_days)
            rows = uow.session.execute(
                select(Case.id).where(Case.area_id == area.id, Case.status.in_(sorted(RETAINED_STATUSES)),
                                      Case.closed_at.is_not(None), Case.closed_at < cutoff)
                .order_by(Case.closed_at, Case.id)).scalars().all()
            for case_id in rows:
                yield area.id, case_id


SWEEPER = "marac-retention-sweep"


def retention_sweep(runtime: Runtime, *, dry_run: bool, now: datetime | None = None) -> SweepReport:
    """Erase every closed case past its area's retention; one transaction per case.

    Safe to run on several hosts at once: each case is locked (skipped if another run holds
    it) and its state checked again inside the transaction that erases it. Each erasure is
    on the service's audit trail, committed with it.
    """
    now = now or utcnow()
    report = SweepReport(dry_run=dry_run)
    trail = audit.trail_for(runtime)
    for area_id, case_id in list(due_for_erasure(runtime, now)):
        if dry_run:
            report.by_area.setdefault(area_id, []).append(case_id)
            continue
        try:
            with runtime.unit_of_work() as uow:
                statement: Any = select(Case).where(Case.id == case_id,
                                                    Case.status.in_(sorted(RETAINED_STATUSES)))
                if runtime.db.is_postgres:
                    statement = statement.with_for_update(skip_locked=True)
                case = uow.session.scalar(statement)
                if case is None:
                    continue  # erased or reopened meanwhile, or another sweep has it
                erased = erase_case(uow, case, "retention")
                records = trail.append_in(uow.session.connection(), [audit.Entry(
                    subject=SWEEPER, agency="system", role="system",
                    resource=f"/v1/cases/{case_id}", action="delete", outcome="erased:retention",
                    case_id=case_id, area_id=erased.area_id)])
                uow.after_commit(functools.partial(trail.anchor, records))
        except Exception as exc:  # one case's failure must not stop the sweep
            report.failed[case_id] = type(exc).__name__
            continue
        report.by_area.setdefault(area_id, []).append(case_id)
    return report
