"""Giving a case its MARAC date: cut-offs, capacity, notice, urgency, targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from services.scheduling.domain import (
    LONDON,
    Allocation,
    CalendarConfig,
    CaseSchedule,
    FixedMonthlyCutoff,
    MeetingLoad,
    MeetingOccurrence,
    MonthlyPattern,
    NoMeetingAvailable,
    TargetRisk,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    allocate,
    at_risk_of_missing_target,
    meeting_dates,
    slot_start,
    target_date_for,
)

TUE, WED, THU = 1, 2, 3


def tuesdays(**overrides: Any) -> CalendarConfig:
    """Tuesdays 10:00, 20-minute slots, 18 cases, cut-off 17:00 five working days before."""
    values: dict[str, Any] = {
        "model": "meeting",
        "pattern": WeeklyPattern((TUE,)),
        "start_time": time(10, 0),
        "length_minutes": 360,
        "slot_minutes": 20,
        "max_cases": 18,
        "cutoff": WorkingDaysBeforeCutoff(days=5, at=time(17, 0)),
    }
    values.update(overrides)
    return CalendarConfig(**values)


def loads(
    cfg: CalendarConfig,
    start: date = date(2026, 2, 11),
    end: date = date(2026, 4, 30),
    booked: dict[date, int] | None = None,
    cancelled: tuple[date, ...] = (),
) -> list[MeetingLoad]:
    booked = booked or {}
    return [
        MeetingLoad(m, booked.get(m.date, 0))
        for m in meeting_dates(cfg, start, end, cancelled=cancelled)
    ]


def at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=LONDON)


def date_of(allocation: Allocation) -> date:
    return allocation.meeting.date


class TestCutoffBoundary:
    # The 17 February meeting's cut-off is 17:00 on Tuesday 10 February.
    @pytest.mark.parametrize(
        ("received", "expected", "reasons"),
        [
            (at(2026, 2, 10, 16, 59), date(2026, 2, 17), ()),
            (at(2026, 2, 10, 17, 0), date(2026, 2, 17), ()),
            (at(2026, 2, 10, 17, 0, 0, 999_999), date(2026, 2, 24), ("after_cutoff:2026-02-17",)),
            (at(2026, 2, 10, 17, 0, 1), date(2026, 2, 24), ("after_cutoff:2026-02-17",)),
            (at(2026, 2, 10, 17, 1), date(2026, 2, 24), ("after_cutoff:2026-02-17",)),
        ],
    )
    def test_arriving_at_the_cutoff_is_in_time_and_a_moment_later_is_late(
        self, received: datetime, expected: date, reasons: tuple[str, ...]
    ) -> None:
        cfg = tuesdays()
        result = allocate(cfg, received, loads(cfg, start=date(2026, 2, 11)))
        assert date_of(result) == expected
        assert result.reasons == reasons

    @pytest.mark.parametrize(
        ("received_utc", "expected"),
        [
            # 9 June is in British Summer Time: 17:00 local is 16:00 UTC.
            (datetime(2026, 6, 9, 15, 59, tzinfo=UTC), date(2026, 6, 16)),
            (datetime(2026, 6, 9, 16, 0, tzinfo=UTC), date(2026, 6, 16)),
            (datetime(2026, 6, 9, 16, 0, 1, tzinfo=UTC), date(2026, 6, 23)),
        ],
    )
    def test_cutoff_in_summer_time_with_utc_input(
        self, received_utc: datetime, expected: date
    ) -> None:
        cfg = tuesdays()
        meetings = loads(cfg, start=date(2026, 6, 10), end=date(2026, 7, 31))
        assert date_of(allocate(cfg, received_utc, meetings)) == expected

    def test_cutoff_across_the_spring_clock_change(self) -> None:
        # Meeting Tuesday 31 March (BST); cut-off Tuesday 24 March 17:00 (GMT, 17:00 UTC).
        cfg = tuesdays()
        meetings = loads(cfg, start=date(2026, 3, 25))
        in_time = datetime(2026, 3, 24, 17, 0, tzinfo=UTC)
        assert date_of(allocate(cfg, in_time, meetings)) == date(2026, 3, 31)
        late = in_time + timedelta(seconds=1)
        assert date_of(allocate(cfg, late, meetings)) == date(2026, 4, 7)


class TestCapacity:
    def test_full_meeting_overflows_to_the_next(self) -> None:
        cfg = tuesdays()
        meetings = loads(cfg, booked={date(2026, 2, 17): 18, date(2026, 2, 24): 3})
        result = allocate(cfg, at(2026, 2, 9, 12), meetings)
        assert date_of(result) == date(2026, 2, 24)
        assert result.reasons == ("full:2026-02-17",)
        assert result.slot_index == 3
        assert result.slot_start == at(2026, 2, 24, 11, 0)

    def test_overbooked_meeting_counts_as_full(self) -> None:
        cfg = tuesdays()
        meetings = loads(cfg, booked={date(2026, 2, 17): 25})
        assert date_of(allocate(cfg, at(2026, 2, 9, 12), meetings)) == date(2026, 2, 24)

    def test_slots_follow_booking_order(self) -> None:
        cfg = tuesdays()
        for booked, expected in ((0, at(2026, 2, 17, 10)), (17, at(2026, 2, 17, 15, 40))):
            meetings = loads(cfg, booked={date(2026, 2, 17): booked})
            result = allocate(cfg, at(2026, 2, 9, 12), meetings)
            assert (result.slot_index, result.slot_start) == (booked, expected)
        meeting = loads(cfg)[0].meeting
        assert slot_start(cfg, meeting, 2) == meeting.start + timedelta(minutes=40)

    def test_cancelled_meeting_is_skipped(self) -> None:
        cfg = tuesdays()
        meetings = loads(cfg, cancelled=(date(2026, 2, 17),))
        result = allocate(cfg, at(2026, 2, 9, 12), meetings)
        assert date_of(result) == date(2026, 2, 24)
        assert result.reasons == ()

    def test_meeting_order_does_not_depend_on_input_order(self) -> None:
        cfg = tuesdays()
        meetings = list(reversed(loads(cfg)))
        assert date_of(allocate(cfg, at(2026, 2, 9, 12), meetings)) == date(2026, 2, 17)


class TestNotice:
    # Cut-off one working day before, so min_notice_days (5) decides.
    def cfg(self) -> CalendarConfig:
        return tuesdays(cutoff=WorkingDaysBeforeCutoff(days=1, at=time(17, 0)))

    def test_exactly_min_notice_is_enough(self) -> None:
        result = allocate(self.cfg(), at(2026, 2, 12, 16), loads(self.cfg()))
        assert date_of(result) == date(2026, 2, 17)

    def test_short_notice_goes_to_the_next_meeting(self) -> None:
        result = allocate(self.cfg(), at(2026, 2, 13, 9), loads(self.cfg()))
        assert date_of(result) == date(2026, 2, 24)
        assert result.reasons == ("short_notice:2026-02-17",)

    def test_notice_counts_local_calendar_days(self) -> None:
        cfg = self.cfg()
        meetings = loads(cfg, start=date(2026, 6, 1), end=date(2026, 7, 31))
        # 23:59 BST on Thursday 11 June: five days before Tuesday 16 June.
        thursday = datetime(2026, 6, 11, 22, 59, tzinfo=UTC)
        assert date_of(allocate(cfg, thursday, meetings)) == date(2026, 6, 16)
        # 00:30 BST on Friday 12 June (still 11 June in UTC): only four days.
        friday = datetime(2026, 6, 11, 23, 30, tzinfo=UTC)
        result = allocate(cfg, friday, meetings)
        assert date_of(result) == date(2026, 6, 23)
        assert result.reasons == ("short_notice:2026-06-16",)

    def test_urgent_case_ignores_min_notice(self) -> None:
        result = allocate(self.cfg(), at(2026, 2, 16, 9), loads(self.cfg()), urgent=True)
        assert date_of(result) == date(2026, 2, 17)
        assert result.reasons == ()

    def test_urgent_case_does_not_ignore_capacity(self) -> None:
        meetings = loads(self.cfg(), booked={date(2026, 2, 17): 18})
        result = allocate(self.cfg(), at(2026, 2, 16, 9), meetings, urgent=True)
        assert (date_of(result), result.reasons) == (date(2026, 2, 24), ("full:2026-02-17",))

    def test_urgent_case_does_not_ignore_the_cutoff(self) -> None:
        result = allocate(self.cfg(), at(2026, 2, 16, 17, 30), loads(self.cfg()), urgent=True)
        assert (date_of(result), result.reasons) == (
            date(2026, 2, 24), ("after_cutoff:2026-02-17",),
        )

    def test_urgent_case_does_not_go_to_a_past_meeting(self) -> None:
        cfg = tuesdays(cutoff=WorkingDaysBeforeCutoff(days=0, at=time(9, 0)))
        # Received during the 17 February meeting: it has started, so it is not offered.
        result = allocate(cfg, at(2026, 2, 17, 10, 30), loads(cfg), urgent=True)
        assert (date_of(result), result.reasons) == (date(2026, 2, 24), ())

    def test_fixed_monthly_cutoff_with_short_notice(self) -> None:
        # Cut-off on the first Wednesday; a first-Thursday meeting gives one day's notice.
        cfg = tuesdays(
            pattern=WeeklyPattern((THU,)),
            cutoff=FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0)),
        )
        meetings = loads(cfg, start=date(2026, 1, 1), end=date(2026, 2, 28))
        result = allocate(cfg, at(2026, 1, 7, 16), meetings)
        assert date_of(result) == date(2026, 1, 15)
        assert result.reasons == ("short_notice:2026-01-08",)
        # After the cut-off every January meeting is closed; February's first (Thursday 5th)
        # has its own cut-off on Wednesday 4 February.
        late = allocate(cfg, at(2026, 1, 7, 17, 1), meetings)
        assert date_of(late) == date(2026, 2, 5)
        assert late.reasons == (
            "after_cutoff:2026-01-08", "after_cutoff:2026-01-15",
            "after_cutoff:2026-01-22", "after_cutoff:2026-01-29",
        )


class TestCoordinationModel:
    def test_no_slots_and_a_cap_per_date(self) -> None:
        cfg = tuesdays(
            model="coordination", slot_minutes=None, length_minutes=0,
            start_time=time(17, 0), max_cases=30,
        )
        meetings = loads(cfg, booked={date(2026, 2, 17): 30, date(2026, 2, 24): 29})
        result = allocate(cfg, at(2026, 2, 9, 12), meetings)
        assert date_of(result) == date(2026, 2, 24)
        assert (result.slot_index, result.slot_start) == (None, None)
        assert result.reasons == ("full:2026-02-17",)
        assert slot_start(cfg, result.meeting, 0) is None


class TestTarget:
    def test_target_date_is_received_date_plus_target_weeks(self) -> None:
        cfg = tuesdays()
        result = allocate(cfg, at(2026, 2, 9, 12), loads(cfg))
        assert result.target_date == date(2026, 3, 9)
        assert not result.beyond_target

    def test_beyond_target_when_every_meeting_until_then_is_full(self) -> None:
        cfg = tuesdays()
        full = {d: 18 for d in (date(2026, 2, 17), date(2026, 2, 24), date(2026, 3, 3))}
        result = allocate(cfg, at(2026, 2, 9, 12), loads(cfg, booked=full))
        assert date_of(result) == date(2026, 3, 10)
        assert result.beyond_target
        assert result.reasons == ("full:2026-02-17", "full:2026-02-24", "full:2026-03-03")

    def test_meeting_on_the_target_date_is_within_target(self) -> None:
        cfg = tuesdays()
        full = {d: 18 for d in (date(2026, 2, 17), date(2026, 2, 24), date(2026, 3, 3))}
        result = allocate(cfg, at(2026, 2, 10, 12), loads(cfg, booked=full))
        assert (date_of(result), result.target_date) == (date(2026, 3, 10), date(2026, 3, 10))
        assert not result.beyond_target

    def test_monthly_target_is_six_weeks(self) -> None:
        cfg = tuesdays(pattern=MonthlyPattern(weekday=WED, nth=3))
        assert target_date_for(cfg, date(2026, 2, 2)) == date(2026, 3, 16)
        assert target_date_for(tuesdays(target_weeks=2), date(2026, 2, 2)) == date(2026, 2, 16)


class TestNoMeetingAvailable:
    def test_every_meeting_full(self) -> None:
        cfg = tuesdays()
        full = {date(2026, 2, 17): 18, date(2026, 2, 24): 18}
        meetings = loads(cfg, end=date(2026, 2, 24), booked=full)
        with pytest.raises(NoMeetingAvailable) as info:
            allocate(cfg, at(2026, 2, 9, 12), meetings)
        assert info.value.reasons == ("full:2026-02-17", "full:2026-02-24")

    def test_reasons_for_each_meeting_passed_over(self) -> None:
        cfg = tuesdays()
        meetings = loads(cfg, end=date(2026, 2, 24), booked={date(2026, 2, 24): 18})
        with pytest.raises(NoMeetingAvailable) as info:
            allocate(cfg, at(2026, 2, 12, 12), meetings)
        assert info.value.reasons == ("after_cutoff:2026-02-17", "full:2026-02-24")
        assert "after_cutoff:2026-02-17" in str(info.value)

    def test_no_future_meetings(self) -> None:
        cfg = tuesdays()
        with pytest.raises(NoMeetingAvailable) as info:
            allocate(cfg, at(2026, 5, 1, 12), loads(cfg))
        assert info.value.reasons == ()
        with pytest.raises(NoMeetingAvailable):
            allocate(cfg, at(2026, 5, 1, 12), [])

    def test_naive_received_at_is_refused(self) -> None:
        cfg = tuesdays()
        with pytest.raises(ValueError, match="timezone-aware"):
            allocate(cfg, datetime(2026, 2, 9, 12), loads(cfg))

    def test_naive_meeting_is_refused(self) -> None:
        naive = datetime(2026, 2, 17, 10)
        with pytest.raises(ValueError, match="timezone-aware"):
            MeetingOccurrence(date(2026, 2, 17), naive, naive, 18)


class TestAtRiskOfMissingTarget:
    def test_lists_dated_cases_beyond_target_and_undated_ones_too_late(self) -> None:
        cfg = tuesdays()  # 4-week target, 5 days' notice
        today = date(2026, 3, 2)
        cases = [
            CaseSchedule("c-on-time", date(2026, 2, 9), date(2026, 3, 3)),
            CaseSchedule("c-on-target", date(2026, 2, 9), date(2026, 3, 9)),
            CaseSchedule("c-late", date(2026, 2, 9), date(2026, 3, 17)),
            CaseSchedule("c-late-early", date(2026, 2, 2), date(2026, 3, 10)),
            CaseSchedule("c-undated-ok", date(2026, 2, 10), None),  # target 10 March
            CaseSchedule("c-undated-late", date(2026, 2, 5), None),  # target 5 March
        ]
        assert at_risk_of_missing_target(cfg, cases, today) == [
            TargetRisk("c-late-early", date(2026, 3, 2), date(2026, 3, 10), 8),
            TargetRisk("c-undated-late", date(2026, 3, 5), None, None),
            TargetRisk("c-late", date(2026, 3, 9), date(2026, 3, 17), 8),
        ]

    def test_nothing_at_risk(self) -> None:
        assert at_risk_of_missing_target(tuesdays(), [], date(2026, 3, 2)) == []
