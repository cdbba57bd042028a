"""The referral service's use cases: create and submit referrals, and follow them through risk
and scheduling. Each opens no transaction of its own: the caller's unit of work is the one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from marac_platform.areas import section
from marac_platform.db import utcnow
from marac_platform.keystore import KeyStore, keystore_for
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.tokens import Principal
from services.referral import domain
from services.referral.models import Case, Referral, StateChange
from services.referral.schemas import ReferralDraftSchema, merge_personal, split_personal

SUBMITTED = "marac.referral.submitted.v1"
ACCEPTED = "marac.referral.accepted.v1"
RETURNED = "marac.referral.returned.v1"
STATUS_CHANGED = "marac.referral.status_changed.v1"
PERSONAL_FIELD = "referral.personal"
CASE_LIST_FIELDS = ("incidents", "safeguarding_in_place")
S = domain.ReferralState


def configure(runtime: Runtime) -> None:
    runtime.config["screening"] = {
        area.id: section(area, "screening", domain.ScreeningConfigSchema(), runtime.areas.source)
        for area in runtime.areas.by_id.values()
    }
    runtime.config["keys"] = keystore_for(runtime.settings, runtime.areas.ids())


def keys(runtime: Runtime) -> KeyStore:
    store: KeyStore = runtime.config["keys"]
    return store


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def move(uow: UnitOfWork, referral: Referral, target: domain.ReferralState, by: str) -> None:
    """The one way a referral changes state: checked against the lifecycle, recorded, published."""
    current = domain.ReferralState(referral.state)
    domain.transition(current, target)
    referral.state = target.value
    referral.updated_at = utcnow()
    uow.session.add(
        StateChange(
            area_id=referral.area_id,
            referral_id=referral.id,
            from_state=current.value,
            to_state=target.value,
            at=referral.updated_at,
            by=by,
        )
    )
    uow.publish(
        STATUS_CHANGED,
        subject=referral.case_id,
        area=referral.area_id,
        data={
            "referral_id": referral.id,
            "case_id": referral.case_id,
            "area_id": referral.area_id,
            "from_state": current.value,
            "to_state": target.value,
        },
    )


def store_form(runtime: Runtime, referral: Referral, form: Mapping[str, Any]) -> None:
    """Keep a loaded form: its personal part as one ciphertext under the case's key."""
    public, personal = split_personal(ReferralDraftSchema().dump(form))
    referral.form_public = public
    referral.form_personal = keys(runtime).encrypt(referral.case_id, PERSONAL_FIELD, personal)


def read_form(runtime: Runtime, referral: Referral) -> dict[str, Any]:
    """The stored form as JSON (raises KeyErased once the case is erased)."""
    personal = (
        keys(runtime).decrypt(referral.case_id, PERSONAL_FIELD, referral.form_personal)
        if referral.form_personal
        else {}
    )
    return merge_personal(referral.form_public, personal)


def create_referral(
    uow: UnitOfWork, who: Principal, form: Mapping[str, Any], *, submit: bool
) -> Referral:
    """A new referral for a new case: a draft, or submitted at once."""
    area_id: str = form["area_id"]
    uow.runtime.area(area_id)
    now = utcnow()
    case = Case(id=new_id("case"), area_id=area_id, status="open", opened_at=now)
    keys(uow.runtime).create(case.id, area_id)
    referral = Referral(
        id=new_id("ref"),
        case_id=case.id,
        area_id=area_id,
        state=S.DRAFT.value,
        referrer_subject=who.subject,
        referrer_agency=who.agency,
        created_at=now,
        updated_at=now,
        form_public={},
        submissions=0,
        urgent=False,
        repeat=False,
    )
    store_form(uow.runtime, referral, form)
    uow.session.add_all([case, referral])
    uow.session.flush()
    if submit:
        submit_referral(uow, referral, form, by=who.subject)
    return referral


def submit_referral(uow: UnitOfWork, referral: Referral, form: Mapping[str, Any], by: str) -> None:
    """Send a complete referral to risk. The event carries no personal data: only what scoring needs."""
    now = utcnow()
    if referral.received_at is None:
        referral.received_at = now  # the first submission starts the time-to-hearing clock
    referral.referral_date = now.date()
    referral.submissions += 1
    previous = form.get("previous_marac_referrals") or []
    referral.repeat = domain.is_repeat(now.date(), [p["date"] for p in previous if p.get("date")])
    move(uow, referral, S.SUBMITTED, by)
    dash = form["dash"]
    uow.publish(
        SUBMITTED,
        subject=referral.case_id,
        area=referral.area_id,
        data={
            "referral_id": referral.id,
            "case_id": referral.case_id,
            "area_id": referral.area_id,
            "received_at": referral.received_at.isoformat(),
            "referral_date": now.date().isoformat(),
            "checklist_version": dash["checklist_version"],
            "dash_answers": dict(dash.get("answers") or {}),
            "criteria_claimed": list(form["criteria_claimed"]),
            "professional_judgement_documented": bool(form.get("professional_judgement_narrative")),
            "police_callout_dates": [d.isoformat() for d in form.get("police_callout_dates") or []],
            "police_callouts_last_12_months": form.get("police_callouts_last_12_months") or 0,
            "previous_referrals": [
                {
                    "area_id": p.get("area_id") or p.get("area_name") or "unknown",
                    "date": p["date"].isoformat(),
                }
                for p in previous
                if p.get("date")
            ],
            "urgent": referral.urgent,
            "resubmission": referral.submissions - 1,
        },
    )


def find(uow: UnitOfWork, referral_id: str) -> Referral | None:
    return uow.session.scalar(select(Referral).where(Referral.id == referral_id))


def on_assessed(uow: UnitOfWork, assessed: Mapping[str, Any]) -> None:
    referral = find(uow, assessed["referral_id"])
    if referral is None or referral.state != S.SUBMITTED.value:
        return  # erased, or an assessment of an earlier submission
    referral.assessment = {
        key: assessed[key]
        for key in (
            "assessment_id",
            "checklist_version",
            "yes_count",
            "band",
            "high_weight_factors",
            "criteria",
            "decision",
        )
    }
    move(uow, referral, S.ASSESSED, "system")
    if assessed["decision"] != "meets_criteria":
        return_to_referrer(uow, referral, [c for c in assessed["criteria"] if not c["met"]])
        return
    steps = uow.runtime.config["screening"].get(referral.area_id)
    if steps is not None and steps.steps:
        move(uow, referral, S.IN_SCREENING, "system")
        return
    accept(uow, referral, by="system")


def return_to_referrer(uow: UnitOfWork, referral: Referral, reasons: list[dict[str, Any]]) -> None:
    referral.return_reasons = reasons
    move(uow, referral, S.RETURNED, "system")
    uow.publish(
        RETURNED,
        subject=referral.case_id,
        area=referral.area_id,
        data={
            "referral_id": referral.id,
            "case_id": referral.case_id,
            "area_id": referral.area_id,
            "referrer_agency": referral.referrer_agency,
            "reasons": reasons,
        },
    )


def case_list_entry(runtime: Runtime, referral: Referral) -> dict[str, str]:
    """What agencies will see on the case list, encrypted with the case's key."""
    form = read_form(runtime, referral)
    store = keys(runtime)
    return {
        name: store.encrypt(referral.case_id, f"case_list.{name}", form[name])
        for name in CASE_LIST_FIELDS
        if form.get(name)
    }


def accept(uow: UnitOfWork, referral: Referral, by: str) -> None:
    move(uow, referral, S.ACCEPTED, by)
    assessment = referral.assessment or {}
    received: datetime = referral.received_at or utcnow()
    uow.publish(
        ACCEPTED,
        subject=referral.case_id,
        area=referral.area_id,
        data={
            "referral_id": referral.id,
            "case_id": referral.case_id,
            "area_id": referral.area_id,
            "received_at": received.isoformat(),
            "accepted_at": utcnow().isoformat(),
            "urgent": referral.urgent,
            "yes_count": assessment.get("yes_count", 0),
            "band": assessment.get("band", "standard"),
            "criteria_met": [c["criterion"] for c in assessment.get("criteria", []) if c["met"]],
            "repeat": referral.repeat,
            "referrer_agency": referral.referrer_agency,
            "case_list_entry": case_list_entry(uow.runtime, referral),
        },
    )


def on_scheduled(uow: UnitOfWork, scheduled: Mapping[str, Any]) -> None:
    referral = find(uow, scheduled["referral_id"])
    if referral is None:
        return
    referral.marac_date = scheduled["marac_date"]
    referral.meeting_id = scheduled["meeting_id"]
    if referral.state == S.SCHEDULED.value:
        referral.updated_at = utcnow()  # rescheduled: same state, new date
        return
    move(uow, referral, S.SCHEDULED, "system")


def on_heard(uow: UnitOfWork, heard: Mapping[str, Any]) -> None:
    referral = find(uow, heard["referral_id"])
    if referral is None or heard["outcome"] != "heard":
        return
    move(uow, referral, S.HEARD, "system")
