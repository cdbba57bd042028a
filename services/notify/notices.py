"""What each event means for the people who must act: the notification kinds, who is told, the
page they must open and the facts the message states. The one table of who hears what.

A notice states references (case, referral, meeting, action ids), dates, counts and reason
codes, never what a person said or who they are: those stay behind the reader's login.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from marac_platform import events
from marac_platform.events import Event
from marac_platform.payloads import (
    ActionCreated,
    ActionReminder,
    ActionStatusChanged,
    CaseListPublished,
    CaseScheduled,
    MeetingCancelled,
    ReferralHeld,
    ReferralReturned,
    ResearchOwed,
    ResearchReminder,
    TransferAnswered,
    TransferFailed,
    TransferRequested,
    UpdatesPublished,
)
from services.notify.domain import COORDINATORS

UK: Final = ZoneInfo("Europe/London")
# Every agency in the area's directory: those without an agreement in force are refused,
# and the refusal is on the record for the coordinator.
EVERY_AGENCY: Final = "*"

KINDS: Final = (
    "case_scheduled", "case_rescheduled", "referral_returned", "updates_published",
    "caselist_published", "caselist_addendum", "meeting_cancelled", "research_owed",
    "research_reminder", "action_assigned", "action_due_soon", "action_overdue",
    "action_escalated", "transfer_requested", "transfer_accepted", "transfer_declined",
    "transfer_failed", "referral_held",
)


@dataclass(frozen=True)
class Notice:
    kind: str  # one of KINDS: its template says it
    area_id: str  # whose directory the recipients come from
    recipients: tuple[str, ...]  # agency ids, EVERY_AGENCY or COORDINATORS
    reference: str  # what the reader looks up: a case, referral, meeting or transfer id
    case_id: str | None
    link: str  # the page to open, below the deployment's public URL
    facts: Mapping[str, Any] = field(default_factory=dict)


def uk_time(instant: datetime) -> str:
    return instant.astimezone(UK).strftime("%H:%M on %d %B %Y")


def case_scheduled(event: Event) -> list[Notice]:
    data = event.payload(CaseScheduled)
    return [Notice(
        "case_rescheduled" if data.rescheduled else "case_scheduled", data.area_id,
        (data.referrer_agency,), data.case_id, data.case_id, f"/cases/{data.case_id}",
        {"referral_id": data.referral_id, "marac_date": data.marac_date.isoformat(),
         "beyond_target": data.beyond_target})]


def referral_returned(event: Event) -> list[Notice]:
    data = event.payload(ReferralReturned)
    # By reference: codes only. The screener's note is free text the referrer reads signed in.
    reasons = [r.reason_code for r in data.reasons]
    return [Notice(
        "referral_returned", data.area_id, (data.referrer_agency,), data.referral_id,
        data.case_id, f"/referrals/{data.referral_id}",
        {"screening_step": data.screening_step or "", "reason_codes": reasons})]


def referral_held(event: Event) -> list[Notice]:
    # The area's coordinators: a referral that met the criteria waits for them to confirm
    # the victim (or separate it) before it is accepted. Grounds as codes, no name.
    data = event.payload(ReferralHeld)
    return [Notice(
        "referral_held", data.area_id, (COORDINATORS,), data.referral_id, data.case_id,
        f"/referrals/{data.referral_id}", {"grounds": list(data.grounds)})]


def updates_published(event: Event) -> list[Notice]:
    data = event.payload(UpdatesPublished)
    told = (*data.agency_ids, *((data.referrer_agency,) if data.referrer_agency else ()))
    return [Notice(
        "updates_published", data.area_id, told, data.case_id, data.case_id,
        f"/updates/{data.updates_id}",
        {"version": data.version, "marac_date": data.marac_date.isoformat()})]


def case_list_published(event: Event) -> list[Notice]:
    data = event.payload(CaseListPublished)
    return [Notice(
        "caselist_published" if data.edition == 0 else "caselist_addendum", data.area_id,
        (EVERY_AGENCY,), data.meeting_id, None, f"/meetings/{data.meeting_id}/case-list",
        {"marac_date": data.marac_date.isoformat(), "edition": data.edition,
         "count": len(data.cases), "confidentiality_statement": data.confidentiality_statement})]


def meeting_cancelled(event: Event) -> list[Notice]:
    data = event.payload(MeetingCancelled)
    return [Notice(
        "meeting_cancelled", data.area_id, (EVERY_AGENCY,), data.meeting_id, None,
        f"/meetings/{data.meeting_id}",
        {"marac_date": data.marac_date.isoformat(), "moved": len(data.moved_case_ids),
         "waiting": len(data.waiting_case_ids)})]


def research_owed(event: Event) -> list[Notice]:
    data = event.payload(ResearchOwed)
    return [Notice(
        "research_owed", data.area_id, (data.agency_id,), data.case_id, data.case_id,
        f"/research/{data.return_id}", {"deadline": uk_time(data.deadline)})]


def research_reminder(event: Event) -> list[Notice]:
    data = event.payload(ResearchReminder)
    return [Notice(
        "research_reminder", data.area_id, (data.agency_id,), data.case_id, data.case_id,
        f"/research/{data.return_id}", {"deadline": uk_time(data.deadline)})]


def action_created(event: Event) -> list[Notice]:
    data = event.payload(ActionCreated)
    return [_assigned(data.action_id, data.case_id, data.area_id, data.owner_agency,
                      data.status, {"due_by": data.due_by.isoformat()})]


def action_status_changed(event: Event) -> list[Notice]:
    data = event.payload(ActionStatusChanged)
    if data.to_status != "agreed":  # a proposal the owner agreed to: now it is theirs to do
        return []
    return [_assigned(data.action_id, data.case_id, data.area_id, data.owner_agency,
                      data.to_status, {"due_by": ""})]  # the date is on the action's page


def _assigned(action_id: str, case_id: str, area_id: str, owner: str, status: str,
              facts: dict[str, Any]) -> Notice:
    return Notice("action_assigned", area_id, (owner,), case_id, case_id,
                  f"/actions/{action_id}", {**facts, "status": status})


def action_reminder(event: Event) -> list[Notice]:
    data = event.payload(ActionReminder)
    kind = {"due_soon": "action_due_soon", "overdue": "action_overdue"}.get(
        data.step, "action_escalated")
    return [Notice(
        kind, data.area_id, (data.owner_agency,), data.case_id, data.case_id,
        f"/actions/{data.action_id}",
        {"due_by": data.due_by.isoformat(), "days_overdue": data.days_overdue,
         "step": data.step})]


def transfer_requested(event: Event) -> list[Notice]:
    data = event.payload(TransferRequested)
    if data.remote:
        return []  # the receiving deployment tells its own coordinators
    return [Notice(
        "transfer_requested", data.to_area, (COORDINATORS,), data.transfer_id, None,
        f"/transfers/{data.transfer_id}", {"from_area": data.from_area, "reason": data.reason})]


def transfer_answered(event: Event) -> list[Notice]:
    data = event.payload(TransferAnswered)
    return [Notice(
        f"transfer_{data.decision}", data.from_area, (COORDINATORS,), data.transfer_id,
        data.case_id, f"/transfers/{data.transfer_id}",
        {"to_area": data.to_area, "decline_reason": data.decline_reason or ""})]


def transfer_failed(event: Event) -> list[Notice]:
    # The sending area's: its package never reached the other deployment, the case is still its.
    data = event.payload(TransferFailed)
    return [Notice(
        "transfer_failed", data.from_area, (COORDINATORS,), data.transfer_id, data.case_id,
        f"/transfers/{data.transfer_id}",
        {"to_area": data.to_area, "attempts": data.attempts, "reason_code": data.reason_code})]


NOTICES: Mapping[str, Callable[[Event], list[Notice]]] = {
    events.CASE_SCHEDULED: case_scheduled,
    events.REFERRAL_RETURNED: referral_returned,
    events.REFERRAL_HELD: referral_held,
    events.UPDATES_PUBLISHED: updates_published,
    events.CASELIST_PUBLISHED: case_list_published,
    events.MEETING_CANCELLED: meeting_cancelled,
    events.RESEARCH_OWED: research_owed,
    events.RESEARCH_REMINDER: research_reminder,
    events.ACTION_CREATED: action_created,
    events.ACTION_STATUS_CHANGED: action_status_changed,
    events.ACTION_DUE_SOON: action_reminder,
    events.ACTION_OVERDUE: action_reminder,
    events.ACTION_ESCALATED: action_reminder,
    events.TRANSFER_REQUESTED: transfer_requested,
    events.TRANSFER_ACCEPTED: transfer_answered,
    events.TRANSFER_DECLINED: transfer_answered,
    events.TRANSFER_FAILED: transfer_failed,
}
