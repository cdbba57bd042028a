"""Allocation at a moment in time: dates under way, case lists already out, free slots."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scheduling.domain import (
    LONDON,
    CalendarConfig,
    MeetingLoad,
    NoMeetingAvailable,
    OpenMeeting,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    allocate,
    allocate_open,
    first_free_slot,
    meeting_dates,
)

TUE = 1


def tuesdays(**overrides: Any) -> CalendarConfig:
    values: dict[str, Any] = {
        "model": "meeting", "pattern": WeeklyPattern((TUE,)), "start_time": time(10, 0),
        "length_minutes": 360, "slot_minutes": 20, "max_cases": 18,
        "cutoff": WorkingDaysBeforeCutoff(days=5, at=time(17, 0)),
    }
    values.update(overrides)
    return CalendarConfig(**values)


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON)


def open_meetings(cfg: CalendarConfig, closed: tuple[date, ...] = (),
                  booked: dict[date, int] | None = None) -> list[OpenMeeting]:
    booked = booked or {}
    return [OpenMeeting(MeetingLoad(m, booked.get(m.date, 0)), caselist_closed=m.date in closed)
            for m in meeting_dates(cfg, date(2026, 2, 1), date(2026, 4, 30))]


class TestAllocateOpen:
    def test_same_as_allocate_when_nothing_is_closed_or_under_way(self) -> None:
        cfg = tuesdays()
        received = at(2026, 2, 3, 12)
        offered = open_meetings(cfg)
        assert allocate_open(cfg, received, received, offered) == allocate(
            cfg, received, [m.load for m in offered])

    def test_non_urgent_case_passes_over_a_date_whose_list_is_out(self) -> None:
        cfg = tuesdays()
        received = at(2026, 2, 3, 12)  # in time for 10 February, which has begun by `now`
        chosen = allocate_open(cfg, received, at(2026, 2, 14, 9), open_meetings(
            cfg, closed=(date(2026, 2, 17),)))
        assert chosen.meeting.date == date(2026, 2, 24)
        assert chosen.reasons == ("caselist_closed:2026-02-17",)

    def test_urgent_case_takes_a_date_whose_list_is_out(self) -> None:
        cfg = tuesdays()
        received = at(2026, 2, 3, 12)
        chosen = allocate_open(cfg, received, at(2026, 2, 14, 9), open_meetings(
            cfg, closed=(date(2026, 2, 17),)), urgent=True)
        assert chosen.meeting.date == date(2026, 2, 17)

    def test_dates_already_under_way_are_ignored_silently(self) -> None:
        cfg = tuesdays()
        received = at(2026, 1, 20, 12)  # long ago: screening took weeks
        now = at(2026, 2, 17, 11)  # the 17 February meeting began at 10:00
        chosen = allocate_open(cfg, received, now, open_meetings(cfg))
        assert chosen.meeting.date == date(2026, 2, 24)
        assert chosen.reasons == ()

    def test_reasons_from_both_rules_stay_in_date_order(self) -> None:
        cfg = tuesdays(max_cases=2, length_minutes=40)
        received = at(2026, 2, 4, 12)  # after the 10 February cut-off
        chosen = allocate_open(cfg, received, at(2026, 2, 5, 9), open_meetings(
            cfg, closed=(date(2026, 2, 24),), booked={date(2026, 2, 17): 2}))
        assert chosen.meeting.date == date(2026, 3, 3)
        assert chosen.reasons == ("after_cutoff:2026-02-10", "full:2026-02-17",
                                  "caselist_closed:2026-02-24")

    def test_no_date_left_lists_every_reason(self) -> None:
        cfg = tuesdays()
        received = at(2026, 2, 3, 12)
        every = open_meetings(cfg)
        closed = tuple(m.load.meeting.date for m in every)
        with pytest.raises(NoMeetingAvailable) as caught:
            allocate_open(cfg, received, received, open_meetings(cfg, closed=closed))
        ahead = [m for m in every if m.load.meeting.start > received]
        assert len(caught.value.reasons) == len(ahead)
        assert all(r.startswith("caselist_closed:") for r in caught.value.reasons)

    @given(st.integers(min_value=0, max_value=40), st.booleans())
    def test_never_a_closed_date_unless_urgent_never_one_under_way(
            self, offset_days: int, urgent: bool) -> None:
        cfg = tuesdays()
        received = at(2026, 2, 2, 9)
        now = received + timedelta(days=offset_days)
        every = open_meetings(cfg)
        closed = tuple(m.load.meeting.date for m in every
                       if m.load.meeting.date <= (now + timedelta(days=4)).date())
        try:
            chosen = allocate_open(cfg, received, now, open_meetings(cfg, closed=closed),
                                   urgent=urgent)
        except NoMeetingAvailable:
            return
        assert chosen.meeting.start > now
        assert urgent or chosen.meeting.date not in closed


class TestFirstFreeSlot:
    def test_empty_meeting_starts_at_zero(self) -> None:
        assert first_free_slot([], 3) == 0

    def test_fills_the_gap_a_moved_case_left(self) -> None:
        assert first_free_slot([0, 2], 3) == 1

    def test_full_meeting_has_none(self) -> None:
        assert first_free_slot([0, 1, 2], 3) is None

    def test_coordination_cases_without_slots_are_ignored(self) -> None:
        assert first_free_slot([None, None], 2) == 0

    @given(st.sets(st.integers(min_value=0, max_value=19)), st.integers(min_value=1, max_value=20))
    def test_is_the_lowest_unused_index_below_capacity(self, used: set[int], capacity: int) -> None:
        found = first_free_slot(used, capacity)
        free = [i for i in range(capacity) if i not in used]
        assert found == (free[0] if free else None)
