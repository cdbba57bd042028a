"""Who may be told, by which channels, and a delivery's life (its statuses, retries).

Plain Python. Notifications carry references, dates, counts and links, never a victim's or
anyone's personal details: the reader follows the link and reads the case behind their login.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final

from marac_platform.areas import Area
from marac_platform.states import MoveTable


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # due now, or at next_attempt_at after a failed attempt
    SENDING = "sending"  # claimed by a worker; its outcome is unknown if the claim is old
    SENT = "sent"
    FAILED = "failed"  # given up: retries spent, or refused for good by the receiver
    REFUSED = "refused"  # never sent: no agreement in force, unknown, opted out, no channel


_D = DeliveryStatus
DELIVERY_MOVES: Final = MoveTable("delivery", {
    _D.QUEUED: frozenset({_D.SENDING}),
    # Retaken when its claim is old (the worker died mid-send), back to queued to retry later;
    # refused at send time when the agency's agreement lapsed while it waited.
    _D.SENDING: frozenset({_D.SENDING, _D.QUEUED, _D.SENT, _D.FAILED, _D.REFUSED}),
    _D.SENT: frozenset(),
    _D.FAILED: frozenset(),
    _D.REFUSED: frozenset(),
})

MAX_ATTEMPTS: Final = 8  # sends begun, crashed ones too
OUTCOME_UNKNOWN: Final = "outcome_unknown"  # the error of a send retaken from a dead worker

# Why a recipient was not sent a notification (the delivery log shows the code).
UNKNOWN_AGENCY: Final = "unknown_agency"
NO_ISA: Final = "no_isa"
ISA_LAPSED: Final = "isa_lapsed"
OPTED_OUT: Final = "opted_out"
NO_CHANNEL: Final = "no_channel"

# The area's MARAC coordinators: told of transfers; not an agency, so no agreement applies.
COORDINATORS: Final = "coordinators"
EMAIL, WEBHOOK, NONE = "email", "webhook", "none"


def retry_delay(attempts: int, base_s: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: base, 2 x base, 4 x base ... at most 10 minutes, each
    drawn from its upper half so replicas retrying one relay do not arrive together."""
    ceiling = min(600.0, base_s * 2 ** (attempts - 1))
    return timedelta(seconds=ceiling * (rng or random).uniform(0.5, 1.0))


@dataclass(frozen=True)
class Recipient:
    id: str  # an agency id, or COORDINATORS
    channel: str  # EMAIL | WEBHOOK


@dataclass(frozen=True)
class Refusal:
    id: str
    reason: str


def refusal(area: Area, agency_id: str, kind: str, today: date) -> str | None:
    """Why the agency may not be told this kind of notification today, or None if it may."""
    agency = area.agency(agency_id)
    if agency is None:
        return UNKNOWN_AGENCY
    if not agency.isa_signed:
        return NO_ISA
    if not agency.isa_in_force(today):
        return ISA_LAPSED
    if kind in agency.opt_out:
        return OPTED_OUT
    if not agency.emails() and not agency.webhook_url:
        return NO_CHANNEL
    return None


def audience(area: Area, ids: list[str], kind: str, today: date,
             coordinators: tuple[str, ...] = ()) -> tuple[list[Recipient], list[Refusal]]:
    """The deliveries for the named recipients (each id once, in order), and the refusals."""
    chosen: list[Recipient] = []
    refused: list[Refusal] = []
    for recipient_id in dict.fromkeys(ids):
        if recipient_id == COORDINATORS:
            if coordinators:
                chosen.append(Recipient(COORDINATORS, EMAIL))
            else:
                refused.append(Refusal(COORDINATORS, NO_CHANNEL))
            continue
        reason = refusal(area, recipient_id, kind, today)
        if reason:
            refused.append(Refusal(recipient_id, reason))
            continue
        agency = area.agency(recipient_id)
        assert agency is not None
        if agency.emails():
            chosen.append(Recipient(agency.id, EMAIL))
        if agency.webhook_url:
            chosen.append(Recipient(agency.id, WEBHOOK))
    return chosen, refused


def permanent_smtp_code(code: int) -> bool:
    """A 5xx reply to a recipient or the message will not change on a retry (RFC 5321 4.2.1);
    an authentication failure (535) may, once the operator fixes the password."""
    return 500 <= code < 600 and code != 535
