"""Scheduling rules: giving an accepted case its MARAC date and watching the timeliness target.

Plain Python (no flask, kafka or sqlalchemy). The calendar itself (configuration, meeting
dates, holidays, cut-offs, case-list times) lives in `calendar.py`, the statuses and their
move tables in `states.py`; both are re-exported here. Refusals are `marac_platform.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from marac_platform.errors import Conflict, DomainError, IllegalMove, InvalidInput
from marac_platform.vocabulary import MODELS, OUTCOMES, Model
from services.scheduling.calendar import (
    CUTOFF_SCHEMAS,
    HOLIDAY_POLICIES,
    LONDON,
    MAX_MOVE_DAYS,
    PATTERN_SCHEMAS,
    WEEKDAY_NAMES,
    CalendarConfig,
    CalendarConfigSchema,
    CutoffRule,
    FixedMonthlyCutoff,
    FortnightlyPattern,
    HolidayPolicy,
    InvalidCalendarConfig,
    MeetingOccurrence,
    MonthlyPattern,
    Nth,
    Pattern,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    add_minutes,
    calendar_config_from_area,
    caselist_publish_at,
    cutoff_for,
    is_bank_holiday,
    is_working_day,
    local_date,
    local_datetime,
    meeting_dates,
    next_dates,
    nth_weekday,
    pattern_dates,
    shift_working_days,
)
from services.scheduling.states import (
    ALLOCATION_MOVES,
    MEETING_MOVES,
    AllocationStatus,
    Change,
    MeetingStatus,
)

__all__ = [
    "ALLOCATION_MOVES",
    "CANCEL_REASONS",
    "CUTOFF_SCHEMAS",
    "HOLIDAY_POLICIES",
    "HORIZON_DAYS",
    "JOIN_NEW_DATE",
    "JOIN_NOTHING",
    "JOIN_SAME_DATE",
    "JOIN_WITH_CASE",
    "LONDON",
    "MAX_MOVE_DAYS",
    "MEETING_MOVES",
    "MODELS",
    "MOVE_REASONS",
    "OUTCOMES",
    "OUTCOME_DEFERRED",
    "OUTCOME_HEARD",
    "PATTERN_SCHEMAS",
    "WEEKDAY_NAMES",
    "Allocation",
    "AllocationStatus",
    "CalendarConfig",
    "CalendarConfigSchema",
    "CaseSchedule",
    "Change",
    "CutoffRule",
    "FixedMonthlyCutoff",
    "FortnightlyPattern",
    "HolidayPolicy",
    "InvalidCalendarConfig",
    "MeetingLoad",
    "MeetingOccurrence",
    "MeetingStatus",
    "Model",
    "MonthlyPattern",
    "NoMeetingAvailable",
    "Nth",
    "OpenMeeting",
    "Pattern",
    "Seat",
    "TargetRisk",
    "WeeklyPattern",
    "WorkingDaysBeforeCutoff",
    "ad_hoc_meeting",
    "add_minutes",
    "allocate",
    "allocate_open",
    "at_risk_of_missing_target",
    "calendar_config_from_area",
    "calendar_preview",
    "cancel_refusal",
    "caselist_closed",
    "caselist_publish_at",
    "check_outcome",
    "cutoff_for",
    "displaced_reasons",
    "first_free_slot",
    "free_places",
    "has_begun",
    "is_bank_holiday",
    "is_beyond_target",
    "is_working_day",
    "joining_referral",
    "local_date",
    "local_datetime",
    "may_displace",
    "meeting_dates",
    "meeting_id",
    "moved_allocation",
    "moved_by_coordinator",
    "next_dates",
    "nth_weekday",
    "outcome_status",
    "parse_meeting_id",
    "pattern_dates",
    "places_to_yield",
    "shift_working_days",
    "slot_start",
    "takes_cases",
    "target_date_for",
    "to_displace",
    "withdrawn_on_erasure",
]


# Why a coordinator moves a case or cancels a date: codes, never free text, since reasons travel
# in events and logs, which carry no personal data.
MOVE_REASONS = ("capacity", "agency_availability", "victim_circumstances", "urgency",
                "transfer", "coordinator_decision", "other")
CANCEL_REASONS = ("chair_unavailable", "not_quorate", "venue_unavailable", "closure",
                  "emergency", "other")

# How far ahead an area's calendar dates are written as meetings, listed and offered to cases:
# a case no date within it can take waits (listed as at risk).
HORIZON_DAYS = 180


def meeting_id(area_id: str, day: date) -> str:
    return f"{area_id}-{day.isoformat()}"


def parse_meeting_id(wanted: str) -> tuple[str, date] | None:
    """(area id, date) of a well-formed meeting id (`<area>-YYYY-MM-DD`), else None."""
    area_id, separator, day_text = wanted[:-11], wanted[-11:-10], wanted[-10:]
    if separator != "-" or not area_id:
        return None
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return None
    return (area_id, day) if meeting_id(area_id, day) == wanted else None


@dataclass(frozen=True)
class MeetingLoad:
    """A MARAC date and how many cases are already booked into it."""

    meeting: MeetingOccurrence
    booked: int


@dataclass(frozen=True)
class Allocation:
    """Where a case goes, and why earlier dates were passed over.

    `reasons` holds one code per skipped date, earliest first: "after_cutoff:<date>" (arrived
    after that date's cut-off), "short_notice:<date>" (fewer than min_notice_days before it),
    "full:<date>" (no capacity left). Dates are ISO (YYYY-MM-DD) local dates.
    """

    meeting: MeetingOccurrence
    slot_index: int | None
    slot_start: datetime | None
    target_date: date
    beyond_target: bool
    reasons: tuple[str, ...]


class NoMeetingAvailable(LookupError):
    """None of the MARAC dates offered can take the case; `reasons` says why for each."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons: tuple[str, ...] = tuple(reasons)
        detail = ", ".join(self.reasons) if self.reasons else "no future MARAC dates offered"
        super().__init__(f"no MARAC date available within the horizon: {detail}")


def target_date_for(config: CalendarConfig, received_on: date) -> date:
    """The date by which a case received on `received_on` should be heard."""
    return received_on + timedelta(weeks=config.effective_target_weeks)


def is_beyond_target(day: date, target: date) -> bool:
    """A MARAC date after the target misses it; on the target is in time."""
    return day > target


def slot_start(config: CalendarConfig, meeting: MeetingOccurrence, index: int) -> datetime | None:
    """Start of the index-th (0-based) slot; None in the coordination model (no slots)."""
    if config.model != "meeting" or config.slot_minutes is None:
        return None
    return add_minutes(meeting.start, index * config.slot_minutes)


def _by_start(load: MeetingLoad) -> tuple[datetime, date]:
    return load.meeting.start.astimezone(UTC), load.meeting.date


def allocate(
    config: CalendarConfig,
    received_at: datetime,
    meetings: Sequence[MeetingLoad],
    urgent: bool = False,
) -> Allocation:
    """Give a case received at `received_at` the earliest MARAC date that can take it.

    A date can take the case when it starts after `received_at`, the case arrived by its
    cut-off (inclusive: exactly on the cut-off is in time), it is at least `min_notice_days`
    local calendar days after the day received (urgent cases may skip this rule only) and
    fewer than `capacity` cases are booked. Dates that have already started are ignored
    silently; every other date passed over gets a reason code. In the meeting model the
    case takes the next slot in booking order.

    Raises NoMeetingAvailable when no date offered can take it, and ValueError when
    `received_at` is naive.
    """
    received_on = local_date(received_at)
    # Compare in UTC: aware datetimes sharing a tzinfo compare by wall clock, which is wrong
    # for the repeated hour when the clocks go back.
    received_utc = received_at.astimezone(UTC)
    reasons: list[str] = []
    for load in sorted(meetings, key=_by_start):
        meeting = load.meeting
        if meeting.start.astimezone(UTC) <= received_utc:
            continue
        day = meeting.date.isoformat()
        if received_utc > cutoff_for(config, meeting).astimezone(UTC):
            reasons.append(f"after_cutoff:{day}")
        elif not urgent and (meeting.date - received_on).days < config.min_notice_days:
            reasons.append(f"short_notice:{day}")
        elif load.booked >= meeting.capacity:
            reasons.append(f"full:{day}")
        else:
            index = load.booked if config.model == "meeting" else None
            target = target_date_for(config, received_on)
            return Allocation(
                meeting=meeting,
                slot_index=index,
                slot_start=None if index is None else slot_start(config, meeting, index),
                target_date=target,
                beyond_target=is_beyond_target(meeting.date, target),
                reasons=tuple(reasons),
            )
    raise NoMeetingAvailable(reasons)


@dataclass(frozen=True)
class CaseSchedule:
    """What the timeliness check needs to know of a case: ids and dates only."""

    case_id: str
    received_on: date
    meeting_date: date | None = None


@dataclass(frozen=True)
class TargetRisk:
    """A case that will miss (or has missed) its timeliness target.

    `days_over` is how many days after the target its MARAC date falls; None when it has no
    date yet and can no longer get one in time with the required notice.
    """

    case_id: str
    target_date: date
    meeting_date: date | None
    days_over: int | None


def at_risk_of_missing_target(
    config: CalendarConfig, cases: Iterable[CaseSchedule], today: date
) -> list[TargetRisk]:
    """Cases whose MARAC date is after their target, or that have no date and could not now
    be given one by the target with `min_notice_days` notice; ordered by target date."""
    at_risk: list[TargetRisk] = []
    earliest_possible = today + timedelta(days=config.min_notice_days)
    for case in cases:
        target = target_date_for(config, case.received_on)
        if case.meeting_date is not None:
            if is_beyond_target(case.meeting_date, target):
                days_over = (case.meeting_date - target).days
                at_risk.append(TargetRisk(case.case_id, target, case.meeting_date, days_over))
        elif earliest_possible > target:
            at_risk.append(TargetRisk(case.case_id, target, None, None))
    return sorted(at_risk, key=lambda risk: (risk.target_date, risk.case_id))


@dataclass(frozen=True)
class OpenMeeting:
    """A MARAC date as allocation sees it now: its load, and whether its case list has gone
    out (published, or due to be) so that agencies have had their research time."""

    load: MeetingLoad
    caselist_closed: bool = False


def _reason_date(reason: str) -> str:
    return reason.rsplit(":", 1)[-1]


def allocate_open(
    config: CalendarConfig,
    received_at: datetime,
    now: datetime,
    meetings: Sequence[OpenMeeting],
    urgent: bool = False,
) -> Allocation:
    """`allocate` over the dates still open at `now`.

    Dates that started by `now` are ignored silently (a case accepted late can land neither in
    a meeting under way nor in one already held). A non-urgent case passes over a date whose
    case list has gone out ("caselist_closed:<date>"): agencies would not have their research
    time. An urgent case may take it and goes out on an addendum. Reasons stay earliest first.

    Raises NoMeetingAvailable (with every reason) when no date can take the case.
    """
    now_utc = now.astimezone(UTC)
    skipped: list[str] = []
    offered: list[MeetingLoad] = []
    for candidate in sorted(meetings, key=lambda m: _by_start(m.load)):
        if candidate.load.meeting.start.astimezone(UTC) <= now_utc:
            continue
        if candidate.caselist_closed and not urgent:
            skipped.append(f"caselist_closed:{candidate.load.meeting.date.isoformat()}")
            continue
        offered.append(candidate.load)
    try:
        chosen = allocate(config, received_at, offered, urgent=urgent)
    except NoMeetingAvailable as exc:
        raise NoMeetingAvailable(_merge_reasons(skipped, exc.reasons)) from None
    before = [r for r in skipped if _reason_date(r) < chosen.meeting.date.isoformat()]
    return Allocation(
        meeting=chosen.meeting,
        slot_index=chosen.slot_index,
        slot_start=chosen.slot_start,
        target_date=chosen.target_date,
        beyond_target=chosen.beyond_target,
        reasons=_merge_reasons(before, chosen.reasons),
    )


def _merge_reasons(first: Sequence[str], second: Sequence[str]) -> tuple[str, ...]:
    # Both are in date order; a stable sort on the date keeps that and interleaves them.
    return tuple(sorted([*first, *second], key=_reason_date))


def first_free_slot(used: Iterable[int | None], capacity: int) -> int | None:
    """The lowest slot index (0-based, below `capacity`) no case holds; None when all are held.

    Slots free up when a case moves away, so the next case fills the gap rather than taking
    `booked` as its index (which another case may still hold).
    """
    taken = {index for index in used if index is not None}
    return next((index for index in range(capacity) if index not in taken), None)


# --- first come, first served -----------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """A case as first-come-first-served placement sees it: when it was accepted, whether it
    is urgent, and whether a coordinator put it on its date (their decision stands)."""

    case_id: str
    accepted_at: datetime
    urgent: bool = False
    moved_by_coordinator: bool = False

    @property
    def order(self) -> tuple[datetime, str]:
        # The case id breaks a tie, so the outcome never depends on the order events arrive.
        return self.accepted_at.astimezone(UTC), self.case_id


def may_displace(newcomer: Seat, holder: Seat) -> bool:
    """Whether `newcomer`, accepted earlier, takes `holder`'s place in a full meeting.

    Places go in order of acceptance, whatever order the events arrive in; a coordinator's
    move is not undone, and an urgent case gives way to no case that is not urgent.
    """
    if holder.moved_by_coordinator or (holder.urgent and not newcomer.urgent):
        return False
    return holder.order > newcomer.order


def places_to_yield(newcomer: Seat, holders: Iterable[Seat]) -> int:
    """How many of a meeting's places `newcomer` could take from cases accepted after it."""
    return sum(may_displace(newcomer, holder) for holder in holders)


def to_displace(newcomer: Seat, holders: Iterable[Seat]) -> Seat | None:
    """The case that gives its place to `newcomer`: the last accepted of those that may."""
    candidates = [holder for holder in holders if may_displace(newcomer, holder)]
    return max(candidates, key=lambda holder: holder.order) if candidates else None


def displaced_reasons(day: date, reasons: Sequence[str]) -> tuple[str, ...]:
    """A displaced case's reasons: "displaced:<date>" (its place there went to a case accepted
    earlier) among the reasons for the dates it now passes over, earliest first."""
    return _merge_reasons([f"displaced:{day.isoformat()}"], reasons)


# --- a referral joining a case that has a date ------------------------------------------------

JOIN_SAME_DATE = "same_date"  # the case's date stands: the referral is told it
JOIN_WITH_CASE = "with_case"  # the case waits for a date: the referral is told it with the case
JOIN_NEW_DATE = "new_date"  # the case was heard: the new referral needs a hearing of its own
JOIN_NOTHING = "nothing"  # the case was erased


def joining_referral(status: str) -> str:
    """What a newly accepted referral of a case that already has an allocation gets, by the
    allocation's status (waiting, scheduled, deferred, heard, withdrawn)."""
    if status == AllocationStatus.SCHEDULED:
        return JOIN_SAME_DATE
    if status in (AllocationStatus.WAITING, AllocationStatus.DEFERRED):
        return JOIN_WITH_CASE
    if status == AllocationStatus.HEARD:
        return JOIN_NEW_DATE
    return JOIN_NOTHING


# --- a MARAC date's places --------------------------------------------------------------------


def has_begun(starts_at: datetime, now: datetime) -> bool:
    return starts_at <= now


def takes_cases(status: str, starts_at: datetime, now: datetime) -> bool:
    """A date offers places while it is planned and has not begun (a case accepted late lands
    neither in a meeting under way nor in one held)."""
    return status == MeetingStatus.PLANNED and not has_begun(starts_at, now)


def free_places(status: str, starts_at: datetime, capacity: int, booked: int,
                now: datetime) -> int:
    """Places a case could still take: none once the date is cancelled, held or under way."""
    if not takes_cases(status, starts_at, now):
        return 0
    return max(capacity - booked, 0)


def caselist_closed(published_at: datetime | None, due_at: datetime, now: datetime) -> bool:
    """The date's case list is out, or due: agencies would not have their research time."""
    return published_at is not None or due_at <= now


def ad_hoc_meeting(config: CalendarConfig, day: date, capacity: int | None,
                   now: datetime) -> MeetingOccurrence:
    """The ad hoc MARAC date a coordinator asks for: a future working day, holding at most
    the area's `max_cases` (by default that many)."""
    if not is_working_day(config, day):
        raise InvalidInput("marac_date",
                           "Not a working day (a weekend, bank holiday or closure date).")
    start = local_datetime(day, config.start_time)
    if start <= now:
        raise InvalidInput("marac_date", "Must be in the future.")
    if capacity is not None and capacity > config.max_cases:
        raise InvalidInput("capacity",
                           f"At most {config.max_cases} cases fit in one of this area's dates.")
    return MeetingOccurrence(date=day, start=start, end=add_minutes(start, config.length_minutes),
                             capacity=capacity or config.max_cases, ad_hoc=True)


def cancel_refusal(status: str, starts_at: datetime, now: datetime) -> DomainError:
    """Why a date cannot be cancelled: its status does not allow it (the move table), or it has
    begun. Only a planned date that has not begun can be."""
    current = MeetingStatus(status)
    if not MEETING_MOVES.allows(current, MeetingStatus.CANCELLED):
        return IllegalMove(MEETING_MOVES.what, current, MeetingStatus.CANCELLED)
    return Conflict("Only a planned date that has not begun can be cancelled.",
                    slug="meeting-closed")


def calendar_preview(config: CalendarConfig, now: datetime, count: int, added: Iterable[date],
                     cancelled: Iterable[date]) -> list[MeetingOccurrence]:
    """The next `count` dates from the calendar not yet begun, with coordinators' additions
    and cancellations."""
    dates = next_dates(config, local_date(now), count=count + 1, extra_dates=added,
                       cancelled=cancelled)
    return [o for o in dates if o.start > now][:count]


# --- coordinators' decisions ------------------------------------------------------------------

MOVED = "moved"  # the reason code's prefix on a case a coordinator put on its date


def moved_allocation(config: CalendarConfig, meeting: MeetingOccurrence, received_at: datetime,
                     slot_index: int | None, slot_start: datetime | None,
                     reason: str) -> Allocation:
    """A coordinator's move: their decision overrides cut-off and notice (capacity still holds);
    the target and whether the new date misses it are the case's as ever."""
    target = target_date_for(config, local_date(received_at))
    return Allocation(meeting=meeting, slot_index=slot_index, slot_start=slot_start,
                      target_date=target, beyond_target=is_beyond_target(meeting.date, target),
                      reasons=(f"{MOVED}:{reason}",))


def moved_by_coordinator(reasons: Iterable[str]) -> bool:
    return any(r.startswith(f"{MOVED}:") for r in reasons)


OUTCOME_HEARD, OUTCOME_DEFERRED = OUTCOMES


def outcome_status(outcome: str) -> AllocationStatus:
    """The status a hearing outcome (heard, deferred) gives the case."""
    return AllocationStatus.HEARD if outcome == OUTCOME_HEARD else AllocationStatus.DEFERRED


def check_outcome(model: str, starts_at: datetime, now: datetime) -> None:
    """A coordinator records outcomes in the meeting model only, once the meeting has begun."""
    if model != "meeting":
        raise Conflict("In the co-ordination model cases are heard at the closing date; move "
                       "the case to defer it.", slug="coordination-model")
    if not has_begun(starts_at, now):
        raise Conflict("The meeting has not begun yet.", slug="meeting-not-begun")


def withdrawn_on_erasure(status: str, starts_at: datetime | None, now: datetime) -> bool:
    """An erased case gives up its date (or its wait) unless heard, or its date has begun."""
    return (ALLOCATION_MOVES.allows(AllocationStatus(status), AllocationStatus.WITHDRAWN)
            and (starts_at is None or not has_begun(starts_at, now)))
