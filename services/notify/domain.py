"""Who is told what: recipients by event, only agencies that signed the information-sharing
agreement; and a delivery's life (its statuses, retries).

Plain Python. Messages carry ids, dates and links, never a victim's or perpetrator's details:
the person follows the link and reads the case behind their own login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final

from marac_platform.areas import Area
from marac_platform.payloads import CaseListPublished, CaseScheduled, MeetingCancelled, ReferralReturned
from marac_platform.states import MoveTable


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued; due now, or at next_attempt_at after a failed attempt
    SENDING = "sending"  # claimed by a worker; its outcome is unknown if the claim is old
    SENT = "sent"
    FAILED = "failed"  # given up after MAX_ATTEMPTS


_D = DeliveryStatus
DELIVERY_MOVES: Final = MoveTable("delivery", {
    _D.PENDING: frozenset({_D.SENDING}),
    # Retaken when its claim is old (the worker died mid-send), back to pending to retry later.
    _D.SENDING: frozenset({_D.SENDING, _D.PENDING, _D.SENT, _D.FAILED}),
    _D.SENT: frozenset(),
    _D.FAILED: frozenset(),
})
MAX_ATTEMPTS: Final = 8  # sends begun, crashed ones too
OUTCOME_UNKNOWN: Final = "outcome_unknown"  # the error of a send retaken from a dead worker


def retry_delay(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, 40 s ... at most 10 minutes between attempts."""
    return timedelta(seconds=min(600, 5 * 2 ** (attempts - 1)))


@dataclass(frozen=True)
class Recipient:
    agency_id: str
    channel: str  # email | webhook | record
    address: str | None


@dataclass(frozen=True)
class Message:
    template: str
    subject: str
    body: str


def recipients(area: Area, agency_ids: list[str],
               today: date) -> tuple[list[Recipient], list[str]]:
    """Deliveries for the named agencies, and the ids left out (unknown, or no agreement in
    force today: never signed, or lapsed)."""
    chosen: list[Recipient] = []
    left_out: list[str] = []
    for agency_id in agency_ids:
        agency = area.agency(agency_id)
        if agency is None or not agency.isa_in_force(today):
            left_out.append(agency_id)
            continue
        if agency.email:
            chosen.append(Recipient(agency.id, "email", agency.email))
        if agency.webhook_url:
            chosen.append(Recipient(agency.id, "webhook", agency.webhook_url))
        if not agency.email and not agency.webhook_url:
            chosen.append(Recipient(agency.id, "record", None))
    return chosen, left_out


def case_scheduled_message(data: CaseScheduled) -> Message:
    when = data.marac_date.isoformat()
    note = " This is later than the time-to-hearing target." if data.beyond_target else ""
    if data.rescheduled:
        return Message(
            template="case_rescheduled",
            subject=f"MARAC date changed for case {data.case_id}",
            body=(f"Case {data.case_id} (referral {data.referral_id}) has moved to the "
                  f"MARAC of {when}.{note} Sign in to the MARAC platform for the details."),
        )
    return Message(
        template="case_scheduled",
        subject=f"MARAC date set for case {data.case_id}",
        body=(f"Case {data.case_id} (referral {data.referral_id}) will be heard at the "
              f"MARAC of {when}.{note} Sign in to the MARAC platform for the details."),
    )


def case_list_message(data: CaseListPublished) -> Message:
    when = data.marac_date.isoformat()
    edition = data.edition
    kind = "case list" if edition == 0 else f"case list addendum {edition}"
    count = len(data.cases)
    return Message(
        template="caselist_published" if edition == 0 else "caselist_addendum",
        subject=f"MARAC {kind} for {when}",
        body=(f"The {kind} for the MARAC of {when} is ready: {count} case(s). Please research "
              f"your agency's records and return your information by the date. Sign in to "
              f"the MARAC platform to read it.\n\n{data.confidentiality_statement}"),
    )


def meeting_cancelled_message(data: MeetingCancelled) -> Message:
    when = data.marac_date.isoformat()
    moved, waiting = len(data.moved_case_ids), len(data.waiting_case_ids)
    return Message(
        template="meeting_cancelled",
        subject=f"MARAC of {when} cancelled",
        body=(f"The MARAC of {when} is cancelled. {moved} case(s) moved to other dates and "
              f"{waiting} wait for one. Sign in to the MARAC platform for the new dates."),
    )


def referral_returned_message(data: ReferralReturned) -> Message:
    step = data.screening_step
    if step:
        # The screener's reason is personal free text: the referrer reads it after signing in.
        return Message(
            template="referral_returned_at_screening",
            subject=f"Referral {data.referral_id} returned",
            body=(f"Referral {data.referral_id} was returned at screening "
                  f"({step.replace('_', ' ')}). Sign in to the MARAC platform to read the reason, "
                  "amend and resubmit it."),
        )
    reasons = "; ".join(r.detail for r in data.reasons) or "criteria not met"
    return Message(
        template="referral_returned",
        subject=f"Referral {data.referral_id} returned",
        body=(f"Referral {data.referral_id} does not meet the MARAC criteria ({reasons}). "
              "Sign in to the MARAC platform to review, amend and resubmit it."),
    )
