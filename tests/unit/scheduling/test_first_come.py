"""Places go first come, first served by acceptance time; a referral joining a case with an
allocation is told its date (or waits with it, or gets a hearing of its own once it was heard)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.scheduling.domain import (
    JOIN_NEW_DATE,
    JOIN_NOTHING,
    JOIN_SAME_DATE,
    JOIN_WITH_CASE,
    LONDON,
    CalendarConfig,
    MeetingLoad,
    NoMeetingAvailable,
    OpenMeeting,
    Seat,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    allocate_open,
    displaced_reasons,
    joining_referral,
    may_displace,
    meeting_dates,
    places_to_yield,
    to_displace,
)

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def seat(case_id: str, seconds: float, **options: Any) -> Seat:
    return Seat(case_id, T0 + timedelta(seconds=seconds), **options)


class TestDisplacing:
    def test_a_case_accepted_earlier_takes_the_place_of_one_accepted_later(self) -> None:
        first, second = seat("case-b", 0.0), seat("case-a", 0.1)
        assert may_displace(first, second)
        assert not may_displace(second, first)
        assert not may_displace(first, first)

    def test_the_same_moment_is_decided_by_the_case_id(self) -> None:
        one, other = seat("case-a", 1), seat("case-b", 1)
        assert may_displace(one, other) and not may_displace(other, one)

    def test_a_coordinators_move_stands(self) -> None:
        assert not may_displace(seat("a", 0), seat("b", 5, moved_by_coordinator=True))

    def test_an_urgent_case_gives_way_only_to_an_urgent_one(self) -> None:
        urgent_later = seat("b", 5, urgent=True)
        assert not may_displace(seat("a", 0), urgent_later)
        assert may_displace(seat("a", 0, urgent=True), urgent_later)
        assert may_displace(seat("a", 0, urgent=True), seat("c", 5))

    def test_the_last_accepted_gives_way(self) -> None:
        newcomer = seat("x", 1)
        holders = [seat("a", 0), seat("b", 3), seat("c", 2), seat("d", 9, urgent=True)]
        assert to_displace(newcomer, holders) == seat("b", 3)
        assert places_to_yield(newcomer, holders) == 2
        assert to_displace(seat("y", 10), holders) is None
        assert places_to_yield(seat("y", 10), holders) == 0

    def test_times_compare_as_instants_whatever_their_zone(self) -> None:
        utc = Seat("a", datetime(2026, 6, 1, 9, 0, 0, 100_000, tzinfo=UTC))
        london = Seat("b", datetime(2026, 6, 1, 10, 0, tzinfo=LONDON))  # 09:00 UTC: earlier
        assert may_displace(london, utc)

    def test_the_displaced_reason_is_kept_in_date_order(self) -> None:
        reasons = displaced_reasons(date(2026, 2, 10), ("full:2026-02-03", "full:2026-02-17"))
        assert reasons == ("full:2026-02-03", "displaced:2026-02-10", "full:2026-02-17")


class TestJoining:
    def test_what_a_joining_referral_gets_by_the_cases_status(self) -> None:
        assert joining_referral("scheduled") == JOIN_SAME_DATE
        assert joining_referral("waiting") == JOIN_WITH_CASE
        assert joining_referral("heard") == JOIN_NEW_DATE
        assert joining_referral("withdrawn") == JOIN_NOTHING


# --- the service's placement, simulated on the rules: any arrival order, one outcome ---------
def weekly(capacity: int) -> CalendarConfig:
    return CalendarConfig(
        model="meeting", pattern=WeeklyPattern((1,)), start_time=time(10, 0),
        length_minutes=360, slot_minutes=20, max_cases=capacity,
        cutoff=WorkingDaysBeforeCutoff(days=0, at=time(9, 0)), min_notice_days=0)


def place_all(order: list[Seat], capacity: int) -> dict[str, date | None]:
    """Place cases as they arrive, as services/scheduling/places.py does: the earliest date
    with a place counting only cases that may not give way; the one displaced is placed again
    (not on the date it left), and so on."""
    config = weekly(capacity)
    dates = list(meeting_dates(config, date(2026, 2, 3), date(2026, 3, 31)))
    holders: dict[date, list[Seat]] = {o.date: [] for o in dates}
    where: dict[str, date | None] = {}

    def place(newcomer: Seat, leaving: date | None) -> None:
        offered = [OpenMeeting(MeetingLoad(o, len(holders[o.date])
                                           - places_to_yield(newcomer, holders[o.date])))
                   for o in dates if o.date != leaving]
        try:
            day = allocate_open(config, T0, T0, offered).meeting.date
        except NoMeetingAvailable:
            where[newcomer.case_id] = None
            return
        here = holders[day]
        displaced = to_displace(newcomer, here) if len(here) >= capacity else None
        if displaced is not None:
            here.remove(displaced)
        here.append(newcomer)
        where[newcomer.case_id] = day
        if displaced is not None:
            place(displaced, day)

    for newcomer in order:
        place(newcomer, None)
    return where


@given(st.permutations(range(7)), st.integers(1, 3))
def test_any_arrival_order_gives_the_order_of_acceptance(order: list[int], capacity: int) -> None:
    cases = [seat(f"case-{i}", i / 10) for i in range(7)]
    where = place_all([cases[i] for i in order], capacity)
    in_acceptance_order = place_all(cases, capacity)
    assert where == in_acceptance_order
    # ...which is: the first `capacity` accepted on the first date, the next on the next.
    days = sorted({d for d in in_acceptance_order.values() if d is not None})
    assert [in_acceptance_order[c.case_id] for c in cases] == [
        days[i // capacity] for i in range(7)]


def test_three_cases_for_two_places_the_last_accepted_moves() -> None:
    a, b, c = seat("case-z", 0.0), seat("case-y", 0.1), seat("case-x", 0.2)
    for order in ([c, b, a], [b, c, a], [a, c, b], [c, a, b]):
        where = place_all(order, 2)
        assert where["case-z"] == where["case-y"] == date(2026, 2, 3)
        assert where["case-x"] == date(2026, 2, 10)
