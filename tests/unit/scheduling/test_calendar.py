"""Area calendars: loading the configuration, meeting dates, holidays, clock changes, cut-offs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import yaml
from marshmallow import ValidationError

from services.scheduling.domain import (
    LONDON,
    CalendarConfig,
    CalendarConfigSchema,
    FixedMonthlyCutoff,
    FortnightlyPattern,
    InvalidCalendarConfig,
    MonthlyPattern,
    Pattern,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    add_minutes,
    calendar_config_from_area,
    caselist_publish_at,
    cutoff_for,
    is_bank_holiday,
    is_working_day,
    local_datetime,
    meeting_dates,
    next_dates,
    shift_working_days,
)

MON, TUE, WED, THU, FRI = range(5)
HOUR = timedelta(hours=1)


def weekly(*weekdays: int, **overrides: Any) -> CalendarConfig:
    return config(WeeklyPattern(weekdays), **overrides)


def config(pattern: Pattern, **overrides: Any) -> CalendarConfig:
    values: dict[str, Any] = {
        "model": "meeting",
        "pattern": pattern,
        "start_time": time(10, 0),
        "length_minutes": 360,
        "slot_minutes": 20,
        "max_cases": 18,
        "cutoff": WorkingDaysBeforeCutoff(days=5, at=time(17, 0)),
    }
    values.update(overrides)
    return CalendarConfig(**values)


def dates(cfg: CalendarConfig, start: date, end: date, **kwargs: Any) -> list[date]:
    return [m.date for m in meeting_dates(cfg, start, end, **kwargs)]


def only(cfg: CalendarConfig, day: date) -> Any:
    (meeting,) = meeting_dates(cfg, day, day, extra_dates=[day])
    return meeting


RAW: dict[str, Any] = {
    "model": "meeting",
    "pattern": {"kind": "weekly", "weekdays": ["tue"]},
    "start_time": "10:00",
    "length_minutes": 360,
    "slot_minutes": 20,
    "max_cases": 18,
    "cutoff": {"kind": "working_days_before", "days": 5, "time": "17:00"},
}


def load(**changes: Any) -> CalendarConfig:
    data = {**RAW, **changes}
    result: CalendarConfig = CalendarConfigSchema().load(data)
    return result


def load_errors(**changes: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        load(**changes)
    messages = info.value.messages
    assert isinstance(messages, dict)
    return messages


# --- configuration --------------------------------------------------------------------------


class TestCalendarConfigSchema:
    def test_loads_a_meeting_calendar_with_defaults(self) -> None:
        cfg = load()
        assert cfg == CalendarConfig(
            model="meeting",
            pattern=WeeklyPattern((TUE,)),
            start_time=time(10, 0),
            length_minutes=360,
            slot_minutes=20,
            max_cases=18,
            cutoff=WorkingDaysBeforeCutoff(days=5, at=time(17, 0)),
        )
        assert cfg.holiday_policy == "next_working_day"
        assert cfg.min_notice_days == 5
        assert cfg.caselist_days_before == 4
        assert cfg.caselist_time == time(9, 0)
        assert cfg.closure_dates == frozenset()
        assert cfg.effective_target_weeks == 4

    def test_loads_every_pattern_and_cutoff_kind(self) -> None:
        cfg = load(
            pattern={"kind": "monthly", "weekday": "Wednesday", "nth": "last"},
            cutoff={"kind": "fixed_monthly", "weekday": "wed", "nth": 1, "time": "17:00"},
        )
        assert cfg.pattern == MonthlyPattern(weekday=WED, nth="last")
        assert cfg.cutoff == FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0))
        assert cfg.effective_target_weeks == 6
        fortnightly = load(pattern={"kind": "fortnightly", "anchor": "2026-01-07"})
        assert fortnightly.pattern == FortnightlyPattern(anchor=date(2026, 1, 7))
        assert fortnightly.effective_target_weeks == 4
        assert load(pattern={"kind": "weekly", "weekdays": ["wed", "fri"]}).pattern == (
            WeeklyPattern((WED, FRI))
        )

    def test_target_weeks_can_be_overridden(self) -> None:
        assert load(target_weeks=3).effective_target_weeks == 3

    def test_meeting_max_cases_defaults_to_the_slots_that_fit(self) -> None:
        data = {k: v for k, v in RAW.items() if k != "max_cases"}
        cfg = CalendarConfigSchema().load({**data, "length_minutes": 240})
        assert cfg.max_cases == 12

    def test_coordination_model(self) -> None:
        cfg = CalendarConfigSchema().load(
            {
                "model": "coordination",
                "pattern": {"kind": "weekly", "weekdays": ["thu"]},
                "max_cases": 25,
                "cutoff": {"kind": "working_days_before", "days": 3, "time": "12:00"},
            }
        )
        assert cfg.model == "coordination"
        assert cfg.slot_minutes is None
        assert cfg.length_minutes == 0
        assert cfg.start_time == time(17, 0)
        assert cfg.max_cases == 25

    def test_area_yaml_nests_the_calendar_under_scheduling(self) -> None:
        area = yaml.safe_load(
            """
            area: norfolk
            scheduling:
              model: coordination
              max_cases: 30
              pattern: {kind: fortnightly, anchor: 2026-01-08}
              start_time: "12:00"
              cutoff: {kind: fixed_monthly, weekday: wed, nth: 1, time: "17:00"}
              holiday_policy: previous_working_day
              closure_dates: [2026-12-29, 2026-12-30]
              target_weeks: 5
              timezone: Europe/London
            """
        )
        cfg = calendar_config_from_area(area)
        assert cfg.pattern == FortnightlyPattern(anchor=date(2026, 1, 8))
        assert cfg.closure_dates == frozenset({date(2026, 12, 29), date(2026, 12, 30)})
        assert cfg.holiday_policy == "previous_working_day"
        assert cfg.effective_target_weeks == 5

    def test_area_errors_are_nested_under_scheduling(self) -> None:
        with pytest.raises(ValidationError) as info:
            calendar_config_from_area({"scheduling": {**RAW, "min_notice_days": -1}})
        assert info.value.messages == {
            "scheduling": {"min_notice_days": ["Must be greater than or equal to 0."]}
        }
        with pytest.raises(ValidationError) as missing:
            calendar_config_from_area({"area": "x"})
        assert "scheduling" in missing.value.messages

    def test_unquoted_yaml_time_is_explained(self) -> None:
        raw = yaml.safe_load("start_time: 10:00")
        errors = load_errors(start_time=raw["start_time"])
        assert "Quote the time" in errors["start_time"][0]

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            ({"model": "hybrid"}, {"model"}),
            ({"holiday_policy": "whenever"}, {"holiday_policy"}),
            ({"min_notice_days": -1}, {"min_notice_days"}),
            ({"caselist_days_before": -1}, {"caselist_days_before"}),
            ({"target_weeks": 0}, {"target_weeks"}),
            ({"slot_minutes": 0}, {"slot_minutes"}),
            ({"max_cases": 19}, {"max_cases"}),
            ({"length_minutes": 10}, {"length_minutes"}),
            ({"timezone": "Europe/Paris"}, {"timezone"}),
            ({"closure_dates": ["2026-12-29T10:00:00"]}, {"closure_dates"}),
            ({"start_time": "10:00+01:00"}, {"start_time"}),
            ({"extra": 1}, {"extra"}),
            ({"start_time": None}, {"start_time"}),
            ({"pattern": "weekly"}, {"pattern"}),
        ],
    )
    def test_errors_name_the_field(self, changes: dict[str, Any], expected: set[str]) -> None:
        assert set(load_errors(**changes)) == expected

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ({"kind": "daily"}, {"kind": ["Must be one of: weekly, fortnightly, monthly."]}),
            ({"kind": "weekly", "weekdays": []}, {"weekdays"}),
            ({"kind": "weekly", "weekdays": ["sat"]}, {"weekdays"}),
            ({"kind": "weekly", "weekdays": ["tue", "tue"]}, {"weekdays"}),
            ({"kind": "weekly", "weekdays": ["funday"]}, {"weekdays"}),
            ({"kind": "fortnightly", "anchor": "2026-01-10"}, {"anchor"}),  # a Saturday
            ({"kind": "fortnightly"}, {"anchor"}),
            ({"kind": "monthly", "weekday": "wed", "nth": 6}, {"nth"}),
            ({"kind": "monthly", "weekday": "wed", "nth": "first"}, {"nth"}),
            ({"kind": "monthly", "weekday": "sun", "nth": 1}, {"weekday"}),
        ],
    )
    def test_pattern_errors_name_the_nested_field(
        self, pattern: dict[str, Any], expected: Any
    ) -> None:
        errors = load_errors(pattern=pattern)
        assert set(errors) == {"pattern"}
        if isinstance(expected, set):
            assert set(errors["pattern"]) == expected
        else:
            assert errors["pattern"] == expected

    @pytest.mark.parametrize(
        ("cutoff", "expected"),
        [
            ({"kind": "working_days_before", "days": -1, "time": "17:00"}, {"days"}),
            ({"kind": "working_days_before", "days": 2}, {"time"}),
            ({"kind": "working_days_before", "days": 2, "time": "25:00"}, {"time"}),
            ({"kind": "fixed_monthly", "weekday": "wed", "nth": 5, "time": "17:00"}, {"nth"}),
            ({"kind": "fixed_monthly", "weekday": "sat", "nth": 1, "time": "17:00"}, {"weekday"}),
        ],
    )
    def test_cutoff_errors_name_the_nested_field(
        self, cutoff: dict[str, Any], expected: set[str]
    ) -> None:
        errors = load_errors(cutoff=cutoff)
        assert set(errors) == {"cutoff"}
        assert set(errors["cutoff"]) == expected

    def test_same_day_cutoff_must_come_before_the_meeting(self) -> None:
        errors = load_errors(cutoff={"kind": "working_days_before", "days": 0, "time": "10:00"})
        assert set(errors) == {"cutoff"}
        assert load(cutoff={"kind": "working_days_before", "days": 0, "time": "09:00"})

    def test_meeting_model_needs_slots_and_length(self) -> None:
        data = {k: v for k, v in RAW.items() if k not in ("slot_minutes", "length_minutes")}
        with pytest.raises(ValidationError) as info:
            CalendarConfigSchema().load(data)
        assert set(info.value.messages) == {"slot_minutes", "length_minutes"}

    def test_coordination_model_rejects_slots_and_needs_a_cap(self) -> None:
        base = {
            "model": "coordination",
            "pattern": {"kind": "weekly", "weekdays": ["thu"]},
            "cutoff": {"kind": "working_days_before", "days": 3, "time": "12:00"},
        }
        with pytest.raises(ValidationError) as no_cap:
            CalendarConfigSchema().load(base)
        assert set(no_cap.value.messages) == {"max_cases"}
        with pytest.raises(ValidationError) as slots:
            CalendarConfigSchema().load({**base, "max_cases": 20, "slot_minutes": 20})
        assert set(slots.value.messages) == {"slot_minutes"}

    def test_dataclasses_refuse_invalid_values_directly(self) -> None:
        with pytest.raises(InvalidCalendarConfig) as info:
            weekly(TUE, max_cases=0)
        assert set(info.value.problems) == {"max_cases"}
        with pytest.raises(InvalidCalendarConfig):
            MonthlyPattern(weekday=WED, nth=0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            weekly(TUE).max_cases = 3  # type: ignore[misc]

    def test_config_is_hashable_with_closures_given_as_any_collection(self) -> None:
        cfg = weekly(TUE, closure_dates=[date(2026, 12, 29)])
        assert cfg.closure_dates == frozenset({date(2026, 12, 29)})
        assert hash(cfg) == hash(weekly(TUE, closure_dates={date(2026, 12, 29)}))


# --- meeting dates --------------------------------------------------------------------------


class TestPatterns:
    def test_weekly_on_one_weekday(self) -> None:
        assert dates(weekly(TUE), date(2026, 2, 1), date(2026, 2, 28)) == [
            date(2026, 2, 3), date(2026, 2, 10), date(2026, 2, 17), date(2026, 2, 24),
        ]

    def test_weekly_on_two_weekdays(self) -> None:
        assert dates(weekly(WED, FRI), date(2026, 2, 2), date(2026, 2, 13)) == [
            date(2026, 2, 4), date(2026, 2, 6), date(2026, 2, 11), date(2026, 2, 13),
        ]

    def test_fortnightly_counts_from_the_anchor_both_ways(self) -> None:
        cfg = config(FortnightlyPattern(anchor=date(2026, 1, 7)))
        assert dates(cfg, date(2025, 12, 1), date(2026, 2, 28)) == [
            date(2025, 12, 10), date(2025, 12, 24),
            date(2026, 1, 7), date(2026, 1, 21), date(2026, 2, 4), date(2026, 2, 18),
        ]
        # A range that starts between two meetings finds the right phase.
        assert dates(cfg, date(2026, 1, 8), date(2026, 1, 31)) == [date(2026, 1, 21)]

    def test_monthly_third_wednesday(self) -> None:
        cfg = config(MonthlyPattern(weekday=WED, nth=3))
        assert dates(cfg, date(2026, 1, 1), date(2026, 3, 31)) == [
            date(2026, 1, 21), date(2026, 2, 18), date(2026, 3, 18),
        ]

    def test_monthly_last_wednesday(self) -> None:
        cfg = config(MonthlyPattern(weekday=WED, nth="last"))
        assert dates(cfg, date(2026, 1, 1), date(2026, 4, 30)) == [
            date(2026, 1, 28), date(2026, 2, 25), date(2026, 3, 25), date(2026, 4, 29),
        ]

    def test_fifth_wednesday_only_in_months_that_have_one(self) -> None:
        cfg = config(MonthlyPattern(weekday=WED, nth=5))
        assert dates(cfg, date(2026, 1, 1), date(2026, 12, 31)) == [
            date(2026, 4, 29), date(2026, 7, 29), date(2026, 9, 30), date(2026, 12, 30),
        ]

    def test_range_is_inclusive_and_empty_when_reversed(self) -> None:
        cfg = weekly(TUE)
        assert dates(cfg, date(2026, 2, 3), date(2026, 2, 3)) == [date(2026, 2, 3)]
        assert dates(cfg, date(2026, 2, 10), date(2026, 2, 3)) == []

    def test_occurrence_times_and_capacity(self) -> None:
        (meeting,) = meeting_dates(weekly(TUE), date(2026, 2, 3), date(2026, 2, 3))
        assert meeting.start == datetime(2026, 2, 3, 10, 0, tzinfo=LONDON)
        assert meeting.end == datetime(2026, 2, 3, 16, 0, tzinfo=LONDON)
        assert meeting.capacity == 18
        assert meeting.moved_from is None
        assert not meeting.ad_hoc

    def test_coordination_dates_close_at_start_time(self) -> None:
        cfg = weekly(
            THU, model="coordination", slot_minutes=None, length_minutes=0,
            start_time=time(17, 0), max_cases=30,
        )
        (day,) = meeting_dates(cfg, date(2026, 2, 5), date(2026, 2, 5))
        assert day.start == day.end == datetime(2026, 2, 5, 17, 0, tzinfo=LONDON)
        assert day.capacity == 30


class TestAdHocAndCancelled:
    def test_cancelled_meeting_is_skipped(self) -> None:
        got = dates(weekly(TUE), date(2026, 2, 1), date(2026, 2, 28), cancelled=[date(2026, 2, 10)])
        assert got == [date(2026, 2, 3), date(2026, 2, 17), date(2026, 2, 24)]

    def test_ad_hoc_dates_are_added_once(self) -> None:
        meetings = meeting_dates(
            weekly(TUE), date(2026, 2, 1), date(2026, 2, 14),
            extra_dates=[date(2026, 2, 5), date(2026, 2, 10), date(2026, 3, 5)],
        )
        assert [(m.date, m.ad_hoc) for m in meetings] == [
            (date(2026, 2, 3), False), (date(2026, 2, 5), True), (date(2026, 2, 10), False),
        ]

    def test_cancelling_an_ad_hoc_date(self) -> None:
        got = dates(
            weekly(TUE), date(2026, 2, 1), date(2026, 2, 7),
            extra_dates=[date(2026, 2, 5)], cancelled=[date(2026, 2, 5)],
        )
        assert got == [date(2026, 2, 3)]

    def test_a_moved_meeting_can_be_cancelled_by_either_date(self) -> None:
        cfg = weekly(MON)
        easter = date(2026, 4, 6)
        for cancelled in (easter, date(2026, 4, 7)):
            assert dates(cfg, date(2026, 4, 6), date(2026, 4, 12), cancelled=[cancelled]) == []


class TestHolidays:
    def test_bank_holidays_for_england_and_wales(self) -> None:
        assert is_bank_holiday(date(2026, 4, 6))  # Easter Monday
        assert is_bank_holiday(date(2025, 12, 25))
        assert is_bank_holiday(date(2025, 12, 26))
        assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day substitute
        assert not is_bank_holiday(date(2026, 3, 17))  # St Patrick's Day: NI only
        assert not is_bank_holiday(date(2026, 11, 30))  # St Andrew's Day: Scotland only

    def test_working_days_skip_weekends_holidays_and_closures(self) -> None:
        cfg = weekly(TUE, closure_dates=frozenset({date(2026, 4, 8)}))
        assert not is_working_day(cfg, date(2026, 4, 4))  # Saturday
        assert not is_working_day(cfg, date(2026, 4, 6))  # Easter Monday
        assert not is_working_day(cfg, date(2026, 4, 8))  # closure
        assert is_working_day(cfg, date(2026, 4, 7))
        assert shift_working_days(cfg, date(2026, 4, 2), 2) == date(2026, 4, 9)
        assert shift_working_days(cfg, date(2026, 4, 9), -3) == date(2026, 4, 1)
        assert shift_working_days(cfg, date(2026, 4, 9), 0) == date(2026, 4, 9)

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [
            ("next_working_day", [(date(2026, 4, 7), date(2026, 4, 6))]),
            # Good Friday (3 April) is a holiday too, so the previous working day is Thursday.
            ("previous_working_day", [(date(2026, 4, 2), date(2026, 4, 6))]),
            ("skip", []),
        ],
    )
    def test_easter_monday_meeting(
        self, policy: str, expected: list[tuple[date, date]]
    ) -> None:
        cfg = weekly(MON, holiday_policy=policy)
        got = meeting_dates(cfg, date(2026, 3, 31), date(2026, 4, 12))
        assert [(m.date, m.moved_from) for m in got] == expected

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [
            # Both Christmas meetings would land on Monday 29th: the first keeps it.
            ("next_working_day", [(date(2025, 12, 29), date(2025, 12, 25))]),
            ("previous_working_day", [(date(2025, 12, 24), date(2025, 12, 25))]),
            ("skip", []),
        ],
    )
    def test_christmas_and_boxing_day_meetings(
        self, policy: str, expected: list[tuple[date, date]]
    ) -> None:
        cfg = weekly(THU, FRI, holiday_policy=policy)
        got = meeting_dates(cfg, date(2025, 12, 22), date(2025, 12, 30))
        assert [(m.date, m.moved_from) for m in got] == expected

    def test_a_moved_meeting_never_displaces_a_regular_one(self) -> None:
        # Wednesday 24 and Thursday 25 Dec 2025: the Christmas meeting would move back onto
        # the 24th, which already has its own meeting.
        cfg = weekly(WED, THU, holiday_policy="previous_working_day")
        got = meeting_dates(cfg, date(2025, 12, 22), date(2025, 12, 26))
        assert [(m.date, m.moved_from) for m in got] == [(date(2025, 12, 24), None)]

    def test_area_closures_count_as_holidays(self) -> None:
        closures = frozenset({date(2025, 12, 29), date(2025, 12, 30), date(2025, 12, 31)})
        cfg = weekly(MON, closure_dates=closures)
        got = meeting_dates(cfg, date(2025, 12, 27), date(2026, 1, 4))
        # Tuesday 30 to Wednesday 31 closed, 1 January a bank holiday: Friday 2 January.
        assert [(m.date, m.moved_from) for m in got] == [(date(2026, 1, 2), date(2025, 12, 29))]

    def test_moved_meeting_found_from_either_side_of_the_range(self) -> None:
        cfg = weekly(MON)
        # The pattern date (6 April) is outside the range, the moved date is inside.
        assert dates(cfg, date(2026, 4, 7), date(2026, 4, 7)) == [date(2026, 4, 7)]
        assert dates(cfg, date(2026, 4, 6), date(2026, 4, 6)) == []

    def test_monthly_meeting_on_a_holiday(self) -> None:
        cfg = config(MonthlyPattern(weekday=MON, nth="last"))
        got = meeting_dates(cfg, date(2026, 5, 1), date(2026, 5, 31))
        assert [(m.date, m.moved_from) for m in got] == [(date(2026, 5, 26), date(2026, 5, 25))]


class TestClockChanges:
    def test_spring_forward_keeps_local_start_and_changes_offset(self) -> None:
        got = meeting_dates(weekly(TUE), date(2026, 3, 24), date(2026, 3, 31))
        before, after = got
        assert before.start.time() == after.start.time() == time(10, 0)
        assert before.start.utcoffset() == timedelta(0)
        assert after.start.utcoffset() == HOUR
        elapsed = after.start.astimezone(UTC) - before.start.astimezone(UTC)
        assert elapsed == timedelta(days=7) - HOUR

    def test_fall_back_keeps_local_start_and_changes_offset(self) -> None:
        before, after = meeting_dates(weekly(TUE), date(2026, 10, 20), date(2026, 10, 27))
        assert before.start.time() == after.start.time() == time(10, 0)
        assert before.start.utcoffset() == HOUR
        assert after.start.utcoffset() == timedelta(0)

    def test_durations_are_elapsed_time_across_the_change(self) -> None:
        # An ad hoc meeting at 00:30 on the Sunday the clocks go forward.
        cfg = weekly(TUE, start_time=time(0, 30), length_minutes=120, max_cases=6)
        meeting = only(cfg, date(2026, 3, 29))
        assert meeting.end.time() == time(3, 30)
        elapsed = meeting.end.astimezone(UTC) - meeting.start.astimezone(UTC)
        assert elapsed == timedelta(minutes=120)
        assert add_minutes(meeting.start, 60).time() == time(2, 30)

    def test_local_time_in_the_spring_gap_lands_after_it(self) -> None:
        moment = local_datetime(date(2026, 3, 29), time(1, 30))
        assert (moment.time(), moment.utcoffset()) == (time(2, 30), HOUR)

    def test_cutoff_and_caselist_keep_local_times_across_the_change(self) -> None:
        cfg = weekly(TUE, cutoff=WorkingDaysBeforeCutoff(days=3, at=time(17, 0)))
        (meeting,) = meeting_dates(cfg, date(2026, 3, 31), date(2026, 3, 31))
        cutoff = cutoff_for(cfg, meeting)
        assert cutoff == datetime(2026, 3, 26, 17, 0, tzinfo=LONDON)
        assert cutoff.utcoffset() == timedelta(0)  # still GMT on the Thursday
        publish = caselist_publish_at(cfg, meeting)
        assert publish == datetime(2026, 3, 27, 9, 0, tzinfo=LONDON)
        assert publish.utcoffset() == timedelta(0)


# --- cut-offs and case lists ----------------------------------------------------------------


class TestCutoff:
    def test_working_days_before(self) -> None:
        cfg = weekly(TUE, cutoff=WorkingDaysBeforeCutoff(days=5, at=time(17, 0)))
        (meeting,) = meeting_dates(cfg, date(2026, 2, 10), date(2026, 2, 10))
        assert cutoff_for(cfg, meeting) == datetime(2026, 2, 3, 17, 0, tzinfo=LONDON)

    def test_working_days_before_skip_easter(self) -> None:
        cfg = weekly(THU, cutoff=WorkingDaysBeforeCutoff(days=3, at=time(17, 0)))
        (meeting,) = meeting_dates(cfg, date(2026, 4, 9), date(2026, 4, 9))
        # Wed 8, Tue 7, (Easter Monday, weekend, Good Friday), Thu 2 April.
        assert cutoff_for(cfg, meeting) == datetime(2026, 4, 2, 17, 0, tzinfo=LONDON)

    def test_working_days_before_skip_closures(self) -> None:
        cfg = weekly(
            THU,
            cutoff=WorkingDaysBeforeCutoff(days=1, at=time(12, 0)),
            closure_dates=frozenset({date(2026, 2, 11)}),
        )
        (meeting,) = meeting_dates(cfg, date(2026, 2, 12), date(2026, 2, 12))
        assert cutoff_for(cfg, meeting) == datetime(2026, 2, 10, 12, 0, tzinfo=LONDON)

    def test_same_day_cutoff(self) -> None:
        cfg = weekly(TUE, cutoff=WorkingDaysBeforeCutoff(days=0, at=time(9, 0)))
        (meeting,) = meeting_dates(cfg, date(2026, 2, 10), date(2026, 2, 10))
        assert cutoff_for(cfg, meeting) == datetime(2026, 2, 10, 9, 0, tzinfo=LONDON)

    def test_fixed_monthly_first_wednesday(self) -> None:
        cfg = config(
            MonthlyPattern(weekday=WED, nth=3),
            cutoff=FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0)),
        )
        got = meeting_dates(cfg, date(2026, 1, 1), date(2026, 2, 28))
        assert [cutoff_for(cfg, m) for m in got] == [
            datetime(2026, 1, 7, 17, 0, tzinfo=LONDON),
            datetime(2026, 2, 4, 17, 0, tzinfo=LONDON),
        ]

    def test_fixed_monthly_covers_all_of_that_months_meetings(self) -> None:
        cfg = weekly(TUE, cutoff=FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0)))
        got = meeting_dates(cfg, date(2026, 2, 5), date(2026, 2, 28))
        assert len(got) == 3
        assert {cutoff_for(cfg, m) for m in got} == {datetime(2026, 2, 4, 17, 0, tzinfo=LONDON)}

    def test_fixed_monthly_meeting_before_the_cutoff_uses_the_previous_month(self) -> None:
        # Tuesday 3 March comes before the first Wednesday (4 March).
        cfg = weekly(TUE, cutoff=FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0)))
        (meeting,) = meeting_dates(cfg, date(2026, 3, 3), date(2026, 3, 3))
        assert cutoff_for(cfg, meeting) == datetime(2026, 2, 4, 17, 0, tzinfo=LONDON)

    def test_fixed_monthly_cutoff_on_a_bank_holiday_moves_back(self) -> None:
        # The first Wednesday of January 2025 is New Year's Day.
        cfg = config(
            MonthlyPattern(weekday=WED, nth=3),
            cutoff=FixedMonthlyCutoff(weekday=WED, nth=1, at=time(17, 0)),
        )
        (meeting,) = meeting_dates(cfg, date(2025, 1, 1), date(2025, 1, 31))
        assert cutoff_for(cfg, meeting) == datetime(2024, 12, 31, 17, 0, tzinfo=LONDON)

    def test_fixed_monthly_last_weekday(self) -> None:
        cfg = config(
            MonthlyPattern(weekday=WED, nth=3),
            cutoff=FixedMonthlyCutoff(weekday=FRI, nth="last", at=time(12, 0)),
        )
        (meeting,) = meeting_dates(cfg, date(2026, 2, 1), date(2026, 2, 28))
        assert cutoff_for(cfg, meeting) == datetime(2026, 1, 30, 12, 0, tzinfo=LONDON)


class TestCaseList:
    @pytest.mark.parametrize(
        ("meeting_day", "expected"),
        [
            (date(2026, 2, 10), date(2026, 2, 6)),  # Tuesday -> Friday
            (date(2026, 2, 9), date(2026, 2, 5)),  # Monday -> Thursday
            (date(2026, 2, 11), date(2026, 2, 6)),  # Wednesday -> Saturday -> Friday
            (date(2026, 4, 10), date(2026, 4, 2)),  # 6 April is Easter Monday -> Thursday
        ],
    )
    def test_published_at_nine_on_a_working_day(self, meeting_day: date, expected: date) -> None:
        meeting = only(weekly(TUE), meeting_day)
        assert caselist_publish_at(weekly(TUE), meeting) == datetime.combine(
            expected, time(9, 0), tzinfo=LONDON
        )

    def test_configurable_days_and_time(self) -> None:
        cfg = weekly(TUE, caselist_days_before=3, caselist_time=time(14, 0))
        meeting = only(cfg, date(2026, 2, 12))
        assert caselist_publish_at(cfg, meeting) == datetime(2026, 2, 9, 14, 0, tzinfo=LONDON)


class TestNextDates:
    def test_next_twelve_from_today_inclusive(self) -> None:
        got = next_dates(weekly(TUE), date(2026, 2, 3))
        assert len(got) == 12
        assert got[0].date == date(2026, 2, 3)
        assert got[-1].date == date(2026, 4, 21)

    def test_fifth_weekday_pattern_needs_a_long_horizon(self) -> None:
        cfg = config(MonthlyPattern(weekday=WED, nth=5))
        got = next_dates(cfg, date(2026, 1, 1), count=12)
        assert len(got) == 12
        assert got[:4] == meeting_dates(cfg, date(2026, 1, 1), date(2026, 12, 31))

    def test_count_and_horizon_limits(self) -> None:
        assert next_dates(weekly(TUE), date(2026, 2, 3), count=0) == []
        short = next_dates(weekly(TUE), date(2026, 2, 3), count=12, horizon_days=14)
        assert [m.date for m in short] == [date(2026, 2, 3), date(2026, 2, 10), date(2026, 2, 17)]

    def test_includes_extra_and_skips_cancelled(self) -> None:
        got = next_dates(
            weekly(TUE), date(2026, 2, 1), count=3,
            extra_dates=[date(2026, 2, 5)], cancelled=[date(2026, 2, 10)],
        )
        assert [m.date for m in got] == [date(2026, 2, 3), date(2026, 2, 5), date(2026, 2, 17)]
