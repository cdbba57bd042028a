"""Agency research: who owes a return on each listed case, saving and sending returns, and the
views of who has returned. Use cases take the caller's unit of work; none commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from marac_platform import clock, events
from marac_platform.db import new_id, utcnow
from marac_platform.errors import Gone, InvalidInput, NotFound
from marac_platform.payloads import (
    CaseListPublished,
    CaseRescheduled,
    MeetingCancelled,
    ResearchOwed,
    ResearchSubmitted,
)
from marac_platform.runtime import UnitOfWork
from services.actions import domain, service
from services.actions.domain import Actor, ReturnStatus
from services.actions.models import CaseRecord, ListedCase, ResearchReturn

CONTENT_FIELD = "actions.research_return"
LISTED, MOVED, HEARD, DEFERRED, ERASED = "listed", "moved", "heard", "deferred", "erased"
# A listing whose research is still going on or has been heard: returns may be read and sent.
LIVE = (LISTED, HEARD)


def list_cases(uow: UnitOfWork, published: CaseListPublished) -> int:
    """A case list (or addendum) went out: every agency with its agreement in force that day
    owes a return on each case, due at the area's closing date. Returns how many are owed."""
    runtime = uow.runtime
    area = runtime.area(published.area_id)
    config = service.area_config(runtime, area.id)
    due, deadline = domain.closing_of(config.closing_rule, published.marac_date)
    now = utcnow()
    agencies = area.isa_agencies(clock.uk_today())
    owed = 0
    for case in published.cases:
        if case.transferred_to is not None:
            continue  # an addendum saying the case went to another area: nothing is owed
        listing = uow.session.get(ListedCase, (case.case_id, published.meeting_id))
        if listing is None:
            _supersede(uow, case.case_id, published.meeting_id)
            listing = ListedCase(
                case_id=case.case_id, meeting_id=published.meeting_id, area_id=area.id,
                referral_id=case.referral_id, marac_date=published.marac_date, model=config.model,
                edition=published.edition, yes_count=case.yes_count, band=case.band,
                criteria_met=list(case.criteria_met), repeat=case.repeat, due_date=due,
                deadline=deadline, status=LISTED, listed_at=now)
            uow.session.add(listing)
        for agency in agencies:
            owed += _owe(uow, listing, agency.id, now)
    return owed


def _owe(uow: UnitOfWork, listing: ListedCase, agency_id: str, now: datetime) -> int:
    exists = uow.session.scalar(select(ResearchReturn.id).where(
        ResearchReturn.case_id == listing.case_id, ResearchReturn.meeting_id == listing.meeting_id,
        ResearchReturn.agency_id == agency_id))
    if exists is not None:
        return 0
    owed = ResearchReturn(
        id=new_id("ret"), case_id=listing.case_id, meeting_id=listing.meeting_id,
        area_id=listing.area_id, agency_id=agency_id, status=ReturnStatus.OWED.value,
        due_date=listing.due_date, deadline=listing.deadline, owed_at=now, late=False,
        amendments=0)
    uow.session.add(owed)
    uow.publish(events.RESEARCH_OWED, subject=listing.case_id, area=listing.area_id,
                data=ResearchOwed(return_id=owed.id, case_id=owed.case_id, area_id=owed.area_id,
                                  meeting_id=owed.meeting_id, agency_id=agency_id,
                                  due_date=owed.due_date, deadline=owed.deadline))
    return 1


def _withdraw_listing(uow: UnitOfWork, listing: ListedCase, status: str) -> None:
    """The case left this date's list: returns not yet sent are no longer owed."""
    listing.status = status
    for owed in uow.session.scalars(select(ResearchReturn).where(
            ResearchReturn.case_id == listing.case_id,
            ResearchReturn.meeting_id == listing.meeting_id,
            ResearchReturn.status.in_([s.value for s in domain.OUTSTANDING_RETURNS]))):
        owed.status = domain.RETURN_MOVES.move(ReturnStatus(owed.status), ReturnStatus.WITHDRAWN)


def _supersede(uow: UnitOfWork, case_id: str, meeting_id: str) -> None:
    for earlier in uow.session.scalars(select(ListedCase).where(
            ListedCase.case_id == case_id, ListedCase.meeting_id != meeting_id,
            ListedCase.status == LISTED)):
        _withdraw_listing(uow, earlier, MOVED)


def case_moved(uow: UnitOfWork, moved: CaseRescheduled) -> None:
    listing = uow.session.get(ListedCase, (moved.case_id, moved.previous_meeting_id))
    if listing is not None and listing.status == LISTED:
        _withdraw_listing(uow, listing, DEFERRED if moved.cause == "deferred" else MOVED)


def meeting_cancelled(uow: UnitOfWork, cancelled: MeetingCancelled) -> None:
    for listing in uow.session.scalars(select(ListedCase).where(
            ListedCase.meeting_id == cancelled.meeting_id, ListedCase.status == LISTED)):
        _withdraw_listing(uow, listing, MOVED)


# --- an agency's return ----------------------------------------------------------------------


def current_listing(uow: UnitOfWork, case_id: str) -> ListedCase | None:
    """The date a case is listed on now (its latest listing still live)."""
    return uow.session.scalar(
        select(ListedCase).where(ListedCase.case_id == case_id, ListedCase.status.in_(LIVE))
        .order_by(ListedCase.marac_date.desc(), ListedCase.listed_at.desc()).limit(1))


def known_case(uow: UnitOfWork, case_id: str) -> None:
    """NotFound unless the case is one the caller may see here (its area's, not erased)."""
    record = uow.session.get(CaseRecord, case_id)
    listed = uow.session.scalar(select(ListedCase.case_id).where(ListedCase.case_id == case_id)
                                .limit(1))
    if record is None and listed is None:
        raise NotFound("No such case.")


def submit_return(uow: UnitOfWork, actor: Actor, case_id: str,
                  body: dict[str, Any]) -> tuple[ResearchReturn, bool]:
    """Save (draft) or send the caller's agency's return on a case's current date. The first
    save creates it (True); later ones amend it. After the closing date an unsent return is
    still taken, marked late with the time."""
    known_case(uow, case_id)
    listing = current_listing(uow, case_id)
    found = None if listing is None else uow.session.scalar(
        select(ResearchReturn).where(ResearchReturn.case_id == case_id,
                                     ResearchReturn.meeting_id == listing.meeting_id,
                                     ResearchReturn.agency_id == actor.agency)
        .with_for_update())
    if listing is None or found is None:
        raise InvalidInput("case_id", "Your agency is not owed a return on this case (it is not "
                                      "on a case list sent to your agency).")
    asked = ReturnStatus(body["status"])
    problems = domain.return_problems(body, sending=asked is ReturnStatus.SUBMITTED)
    if problems:
        raise InvalidInput(*problems[0], more=problems[1:])
    now = utcnow()
    current = ReturnStatus(found.status)
    target = domain.save_return(current, asked, now, found.deadline)
    created = found.saved_at is None
    content = {part: body.get(part) for part in (*domain.SUBJECT_PARTS, "proposed_actions")}
    found.content = service.keys(uow.runtime).encrypt(case_id, CONTENT_FIELD, content)
    found.involvement = body["involvement"]
    found.status = target.value
    found.saved_at, found.saved_by = now, actor.subject
    if target is ReturnStatus.SUBMITTED:
        if current is ReturnStatus.SUBMITTED:
            found.amendments += 1
        else:
            found.submitted_at, found.late = now, now > found.deadline
        uow.publish(events.RESEARCH_SUBMITTED, subject=case_id, area=found.area_id,
                    data=ResearchSubmitted(
                        return_id=found.id, case_id=case_id, area_id=found.area_id,
                        meeting_id=found.meeting_id, agency_id=found.agency_id,
                        involvement=found.involvement, submitted_at=now, late=found.late,
                        amendment=found.amendments))
        if listing.compiled_at is not None:  # sent after the document: it gets a new version
            from services.actions import updates

            updates.publish_version(uow, listing, "late_return", actor.subject)
    return found, created


# --- reading returns -----------------------------------------------------------------------


def visible(actor: Actor, found: ResearchReturn) -> bool:
    """An agency reads its own returns only (the document is where it reads the others');
    coordinators and chairs read every return of their areas."""
    return actor.manages or found.agency_id == actor.agency


def content_of(uow: UnitOfWork, actor: Actor, found: ResearchReturn) -> dict[str, Any] | None:
    """What the return says, for its own agency, or once sent (raises KeyErased once erased)."""
    if found.content is None:
        if found.saved_at is not None:  # it was written, and the case has since been erased
            raise Gone("This case has been erased.", slug="case-erased")
        return None
    if actor.manages and found.status != ReturnStatus.SUBMITTED.value:
        return None  # a draft is its agency's until sent (agencies see only their own)
    content: dict[str, Any] = service.keys(uow.runtime).decrypt(
        found.case_id, CONTENT_FIELD, found.content)
    return content


def one_return(uow: UnitOfWork, actor: Actor, return_id: str) -> ResearchReturn:
    found = uow.session.get(ResearchReturn, return_id)
    if found is None or not visible(actor, found):
        raise NotFound("No such return.")
    return found


def agency_filter(actor: Actor, agency_id: str | None) -> list[str] | None:
    """The agencies a list may show: an agency member its own (and only if it asked for that
    one); a coordinator the one asked for, or all (None)."""
    if actor.manages:
        return None if agency_id is None else [agency_id]
    return [actor.agency] if agency_id in (None, actor.agency) else []


def owed_returns(uow: UnitOfWork, actor: Actor, agency_id: str | None, outstanding: bool,
                 limit: int) -> Sequence[ResearchReturn]:
    """What an agency owes (or has sent), soonest closing date first."""
    agencies = agency_filter(actor, agency_id)
    query = select(ResearchReturn).where(ResearchReturn.status != ReturnStatus.WITHDRAWN.value)
    if agencies is not None:
        query = query.where(ResearchReturn.agency_id.in_(agencies))
    if outstanding:
        query = query.where(ResearchReturn.status.in_([s.value for s in domain.OUTSTANDING_RETURNS]))
    return uow.session.scalars(query.order_by(ResearchReturn.deadline, ResearchReturn.case_id,
                                              ResearchReturn.agency_id).limit(limit)).all()


def returns_of_case(uow: UnitOfWork, actor: Actor, case_id: str) -> Sequence[ResearchReturn]:
    known_case(uow, case_id)
    query = select(ResearchReturn).where(ResearchReturn.case_id == case_id)
    if not actor.manages:
        query = query.where(ResearchReturn.agency_id == actor.agency)
    return uow.session.scalars(query.order_by(ResearchReturn.deadline.desc(),
                                              ResearchReturn.agency_id)).all()


def meeting_returns(uow: UnitOfWork, actor: Actor, meeting_id: str) -> list[dict[str, Any]]:
    """Per case listed on a date: each agency's return, sent on time, late, or not yet."""
    listings = uow.session.scalars(select(ListedCase).where(ListedCase.meeting_id == meeting_id)
                                   .order_by(ListedCase.edition, ListedCase.case_id)).all()
    if not listings:
        raise NotFound("No case of that date is known here.")
    query = select(ResearchReturn).where(ResearchReturn.meeting_id == meeting_id)
    if not actor.manages:
        query = query.where(ResearchReturn.agency_id == actor.agency)
    by_case: dict[str, list[ResearchReturn]] = {}
    for found in uow.session.scalars(query.order_by(ResearchReturn.agency_id)):
        by_case.setdefault(found.case_id, []).append(found)
    return [{"case_id": listing.case_id, "area_id": listing.area_id,
             "meeting_id": meeting_id, "status": listing.status, "due_date": listing.due_date,
             "deadline": listing.deadline, "returns": by_case.get(listing.case_id, [])}
            for listing in listings]
