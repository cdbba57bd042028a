"""The information-and-updates document: compiled once per listed case when its research
closes (co-ordination model) or its hearing's outcome is recorded (meeting model), then a new
numbered version for each later change; a version once made is never rewritten. Also the
chair's record of a hearing (meeting model), which feeds it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import func, select, update

from marac_platform import clock, events
from marac_platform.db import new_id, utcnow
from marac_platform.errors import Conflict, InvalidInput, NotFound
from marac_platform.payloads import CaseHeard, UpdatesPublished
from marac_platform.runtime import Runtime, UnitOfWork
from services.actions import research, service, smart
from services.actions.domain import ActionStatus, Actor, ReturnStatus
from services.actions.models import (
    Action,
    CaseRecord,
    ChairRecord,
    ListedCase,
    ResearchReturn,
    UpdatesVersion,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer("services.actions")

CONTENT_FIELD = "actions.updates_document"
CHAIR_FIELD = "actions.chair_record"
SYSTEM = "system"
FIRST = "first"
# Why a later version was made (codes: the document says what it holds).
EDIT_REASONS = ("late_return", "actions_changed", "chair_record_changed", "correction")
# Agreed actions, whatever became of them since; proposed and cancelled ones are not agreed.
NOT_AGREED = frozenset({ActionStatus.PROPOSED, ActionStatus.CANCELLED})


# --- the chair's record ----------------------------------------------------------------------


def record_chair(uow: UnitOfWork, actor: Actor, case_id: str, body: dict[str, Any]) -> ChairRecord:
    """The chair's record of a case's hearing on its current date (replaced when re-sent)."""
    research.known_case(uow, case_id)
    listing = research.current_listing(uow, case_id)
    if listing is None:
        raise InvalidInput("case_id", "The case is on no case list: there is no hearing to record.")
    area = uow.runtime.area(listing.area_id)
    problems: list[tuple[str, str]] = []
    for name in ("agencies_present", "briefed"):
        # Which ones by position, not by value: an error never repeats free text back.
        unknown = [str(i) for i, a in enumerate(body[name]) if area.agency(a) is None]
        if unknown:
            problems.append((name, f"Not agencies of this area (items {', '.join(unknown)})."))
    if not set(body["briefed"]) <= set(body["agencies_present"]):
        problems.append(("briefed", "Only a representative present can have been briefed."))
    if body["deferred"] and not (body.get("deferred_reason") or "").strip():
        problems.append(("deferred_reason", "Say why the case was deferred."))
    if not body["deferred"] and body.get("deferred_reason"):
        problems.append(("deferred_reason", "Only a deferred case has a reason for it."))
    if problems:
        raise InvalidInput(*problems[0], more=problems[1:])
    details = {"risks_agreed": body.get("risks_agreed") or "",
               "deferred_reason": body.get("deferred_reason") or ""}
    found = uow.session.get(ChairRecord, (case_id, listing.meeting_id))
    if found is None:
        found = ChairRecord(case_id=case_id, meeting_id=listing.meeting_id, area_id=listing.area_id)
        uow.session.add(found)
    found.agencies_present = sorted(set(body["agencies_present"]))
    found.briefed = sorted(set(body["briefed"]))
    found.deferred = body["deferred"]
    found.details = service.keys(uow.runtime).encrypt(case_id, CHAIR_FIELD, details)
    found.recorded_at, found.recorded_by = utcnow(), actor.subject
    return found


def chair_record_of(uow: UnitOfWork, case_id: str) -> dict[str, Any]:
    research.known_case(uow, case_id)
    found = uow.session.scalar(select(ChairRecord).where(ChairRecord.case_id == case_id)
                               .order_by(ChairRecord.recorded_at.desc()).limit(1))
    if found is None:
        raise NotFound("No chair's record for this case.")
    return {**_chair(uow, found), "case_id": case_id, "meeting_id": found.meeting_id,
            "area_id": found.area_id, "recorded_at": found.recorded_at,
            "recorded_by": found.recorded_by}


def _chair(uow: UnitOfWork, found: ChairRecord) -> dict[str, Any]:
    details = (service.keys(uow.runtime).decrypt(found.case_id, CHAIR_FIELD, found.details)
               if found.details else {})
    return {"agencies_present": found.agencies_present, "briefed": found.briefed,
            "deferred": found.deferred, "risks_agreed": details.get("risks_agreed"),
            "deferred_reason": details.get("deferred_reason") or None}


# --- compiling -------------------------------------------------------------------------------


def compile_content(uow: UnitOfWork, listing: ListedCase, version: int,
                    now: datetime) -> dict[str, Any]:
    """Everything the document says, as JSON: the case summary, every agency's return (and who
    sent nothing), the risks identified, the agreed actions, the chair's record, the statement."""
    runtime = uow.runtime
    area = runtime.area(listing.area_id)
    store = service.keys(runtime)

    def name_of(agency_id: str) -> str:
        agency = area.agency(agency_id)
        return agency.name if agency else agency_id

    sections: list[dict[str, Any]] = []
    risks: list[dict[str, Any]] = []
    for found in uow.session.scalars(select(ResearchReturn).where(
            ResearchReturn.case_id == listing.case_id,
            ResearchReturn.meeting_id == listing.meeting_id,
            ResearchReturn.status != ReturnStatus.WITHDRAWN.value)):
        sent = found.status == ReturnStatus.SUBMITTED.value
        content = (store.decrypt(found.case_id, research.CONTENT_FIELD, found.content)
                   if sent and found.content else None)
        sections.append({
            "agency_id": found.agency_id, "agency": name_of(found.agency_id),
            "returned": sent, "late": found.late,
            "submitted_at": found.submitted_at.isoformat() if found.submitted_at else None,
            "involvement": found.involvement if sent else None, "content": content})
        for about, part in (("victim", "victim"), ("perpetrator", "perpetrator")):
            risk = ((content or {}).get(part) or {}).get("risks")
            if risk:
                risks.append({"agency": name_of(found.agency_id), "about": about, "risk": risk})
        for child in (content or {}).get("children") or []:
            if child.get("risks"):
                risks.append({"agency": name_of(found.agency_id),
                              "about": child.get("label") or "child", "risk": child["risks"]})
    sections.sort(key=lambda s: s["agency"])
    actions = []
    for action in uow.session.scalars(select(Action).where(
            Action.case_id == listing.case_id, Action.erased_at.is_(None))
            .order_by(Action.due_by, Action.id)):
        if ActionStatus(action.status) in NOT_AGREED:
            continue
        details = smart.details_of(uow, action)
        actions.append({
            "action_id": action.id, "what": details["what"], "risk": details["risk"],
            "owner": name_of(action.owner_agency), "asked_by": name_of(action.asked_by_agency),
            "for_whom": action.for_whom, "due_by": action.due_by.isoformat(),
            "status": action.status})
    chair = uow.session.get(ChairRecord, (listing.case_id, listing.meeting_id))
    chair_out = None
    if chair is not None:
        chair_out = _chair(uow, chair)
        chair_out["agencies_present"] = [name_of(a) for a in chair_out["agencies_present"]]
        chair_out["briefed"] = [name_of(a) for a in chair_out["briefed"]]
        if chair_out["risks_agreed"]:
            risks.append({"agency": "MARAC (agreed)", "about": "case", "risk": chair_out["risks_agreed"]})
    return {
        "case_id": listing.case_id, "referral_id": listing.referral_id, "area": area.name,
        "area_id": area.id, "meeting_id": listing.meeting_id,
        "marac_date": listing.marac_date.isoformat(), "model": listing.model, "version": version,
        "compiled_at": now.isoformat(),
        "summary": {"yes_count": listing.yes_count, "band": listing.band,
                    "criteria_met": list(listing.criteria_met), "repeat": listing.repeat},
        "returns": sections, "risks": risks, "actions": actions, "chair_record": chair_out,
        "confidentiality_statement": area.confidentiality_statement,
    }


def publish_version(uow: UnitOfWork, listing: ListedCase, reason: str, by: str) -> UpdatesVersion:
    """The next numbered version of a listed case's document, and `updates.published` for the
    agencies with the agreement in force and the referrer. The listing's row lock numbers
    versions without a race."""
    uow.session.execute(select(ListedCase.case_id).where(
        ListedCase.case_id == listing.case_id, ListedCase.meeting_id == listing.meeting_id)
        .with_for_update())
    last = uow.session.scalar(select(func.max(UpdatesVersion.version)).where(
        UpdatesVersion.case_id == listing.case_id, UpdatesVersion.meeting_id == listing.meeting_id))
    version = (last or 0) + 1
    now = utcnow()
    content = compile_content(uow, listing, version, now)
    row = UpdatesVersion(
        id=new_id("upd"), case_id=listing.case_id, meeting_id=listing.meeting_id,
        area_id=listing.area_id, marac_date=listing.marac_date, version=version, reason=reason,
        compiled_at=now, compiled_by=by,
        content=service.keys(uow.runtime).encrypt(listing.case_id, CONTENT_FIELD, content),
        event_id="")
    record = uow.session.get(CaseRecord, listing.case_id)
    area = uow.runtime.area(listing.area_id)
    row.event_id = uow.publish(events.UPDATES_PUBLISHED, subject=listing.case_id,
                               area=listing.area_id, data=UpdatesPublished(
        updates_id=row.id, case_id=row.case_id, area_id=row.area_id, meeting_id=row.meeting_id,
        marac_date=row.marac_date, version=version, reason=reason,
        agency_ids=[a.id for a in area.isa_agencies(clock.uk_today())],
        referrer_agency=record.referrer_agency if record else None, published_at=now))
    uow.session.add(row)
    log.info("updates document published", extra={"case_id": row.case_id, "count": version})
    return row


def compile_first(uow: UnitOfWork, case_id: str, meeting_id: str) -> UpdatesVersion | None:
    """Version 1, once: the conditional UPDATE claims the listing (a second replica, or a
    redelivered event, matches nothing); the version and its event commit with the claim."""
    now = utcnow()
    claimed = uow.session.execute(
        update(ListedCase).where(ListedCase.case_id == case_id, ListedCase.meeting_id == meeting_id,
                                 ListedCase.compiled_at.is_(None),
                                 ListedCase.status.in_(research.LIVE))
        .values(compiled_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    listing = uow.session.scalar(select(ListedCase).where(
        ListedCase.case_id == case_id, ListedCase.meeting_id == meeting_id)
        .execution_options(populate_existing=True))
    assert listing is not None
    return publish_version(uow, listing, FIRST, SYSTEM)


def case_heard(uow: UnitOfWork, heard: CaseHeard) -> None:
    """Meeting model: the outcome recorded compiles the document; deferred, it waits for the
    case's next date. (Co-ordination: the closing date compiled it, see `compile_closed`.)"""
    listing = uow.session.get(ListedCase, (heard.case_id, heard.meeting_id))
    if listing is None or listing.status not in research.LIVE:
        return
    if heard.outcome != "heard":
        research._withdraw_listing(uow, listing, research.DEFERRED)
        return
    listing.status = research.HEARD
    if listing.model == "meeting":
        compile_first(uow, heard.case_id, heard.meeting_id)


def compile_closed(runtime: Runtime, limit: int = 50) -> int:
    """The timed job: co-ordination model listings whose closing instant has passed."""
    now = utcnow()
    with runtime.unit_of_work() as uow:
        due = uow.session.execute(select(ListedCase.case_id, ListedCase.meeting_id).where(
            ListedCase.model == "coordination", ListedCase.compiled_at.is_(None),
            ListedCase.status.in_(research.LIVE), ListedCase.deadline <= now)
            .order_by(ListedCase.deadline).limit(limit)).all()
    compiled = 0
    for case_id, meeting_id in due:
        try:
            with tracer.start_as_current_span("actions compile updates",
                                              attributes={"marac.meeting_id": meeting_id}), \
                    runtime.unit_of_work() as uow:
                compiled += compile_first(uow, case_id, meeting_id) is not None
        except Exception as exc:
            log.error("updates document not compiled; retried on the next run",
                      extra={"case_id": case_id, "reason_code": type(exc).__name__})
    return compiled


def new_version(uow: UnitOfWork, actor: Actor, case_id: str, reason: str) -> UpdatesVersion:
    """A coordinator's or chair's later edit: the case's latest document gets a new version."""
    research.known_case(uow, case_id)
    latest = uow.session.scalar(select(UpdatesVersion).where(UpdatesVersion.case_id == case_id)
                                .order_by(UpdatesVersion.compiled_at.desc(),
                                          UpdatesVersion.version.desc()).limit(1))
    if latest is None:
        raise Conflict("No document yet: it is compiled when the closing date passes "
                       "(co-ordination) or the outcome is recorded (meeting model).",
                       slug="updates-not-compiled")
    listing = uow.session.get(ListedCase, (case_id, latest.meeting_id))
    assert listing is not None
    return publish_version(uow, listing, reason, actor.subject)


# --- reading -----------------------------------------------------------------------------------


def versions_of(uow: UnitOfWork, case_id: str) -> Sequence[UpdatesVersion]:
    research.known_case(uow, case_id)
    return uow.session.scalars(select(UpdatesVersion).where(UpdatesVersion.case_id == case_id)
                               .order_by(UpdatesVersion.marac_date, UpdatesVersion.version)).all()


def one_version(uow: UnitOfWork, updates_id: str) -> tuple[UpdatesVersion, dict[str, Any]]:
    """A version and what it says (raises KeyErased once the case is erased)."""
    found = uow.session.get(UpdatesVersion, updates_id)
    if found is None:
        raise NotFound("No such document.")
    if found.content is None:
        from marac_platform.errors import Gone

        raise Gone("This case has been erased.", slug="case-erased")
    content: dict[str, Any] = service.keys(uow.runtime).decrypt(
        found.case_id, CONTENT_FIELD, found.content)
    return found, content
