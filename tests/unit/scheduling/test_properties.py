"""Properties of allocation over random calendars, loads and arrival times (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scheduling.domain import (
    LONDON,
    Allocation,
    CalendarConfig,
    CutoffRule,
    FixedMonthlyCutoff,
    FortnightlyPattern,
    MeetingLoad,
    MonthlyPattern,
    NoMeetingAvailable,
    Nth,
    Pattern,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    allocate,
    cutoff_for,
    local_date,
    meeting_dates,
)

SETTINGS = settings(max_examples=200, deadline=None)
HORIZON_DAYS = 120

weekdays = st.integers(min_value=0, max_value=4)
nths_with_fifth: st.SearchStrategy[Nth] = st.sampled_from([1, 2, 3, 4, 5, "last"])
nths: st.SearchStrategy[Nth] = st.sampled_from([1, 2, 3, 4, "last"])
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 6, 30))
clock = st.builds(time, st.integers(min_value=7, max_value=19), st.sampled_from([0, 15, 30, 59]))


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    kind = draw(st.sampled_from(["weekly", "fortnightly", "monthly"]))
    if kind == "weekly":
        chosen = draw(st.sets(weekdays, min_size=1, max_size=3))
        return WeeklyPattern(tuple(sorted(chosen)))
    if kind == "fortnightly":
        anchor = draw(days)
        return FortnightlyPattern(anchor - timedelta(days=anchor.weekday()) + timedelta(
            days=draw(weekdays)
        ))
    return MonthlyPattern(weekday=draw(weekdays), nth=draw(nths_with_fifth))


@st.composite
def configs(draw: st.DrawFn) -> CalendarConfig:
    model = draw(st.sampled_from(["meeting", "coordination"]))
    start_time = draw(clock)
    cutoff: CutoffRule
    if draw(st.booleans()):
        n = draw(st.integers(min_value=0, max_value=10))
        at = draw(clock)
        if n == 0:
            at = time(6, 0)  # a same-day cut-off must come before the start
        cutoff = WorkingDaysBeforeCutoff(days=n, at=at)
    else:
        cutoff = FixedMonthlyCutoff(weekday=draw(weekdays), nth=draw(nths), at=draw(clock))
    max_cases = draw(st.integers(min_value=1, max_value=6))
    slot = draw(st.sampled_from([10, 15, 20, 30])) if model == "meeting" else None
    return CalendarConfig(
        model=model,  # type: ignore[arg-type]
        pattern=draw(patterns()),
        start_time=start_time,
        cutoff=cutoff,
        max_cases=max_cases,
        slot_minutes=slot,
        length_minutes=0 if slot is None else slot * max_cases,
        holiday_policy=draw(st.sampled_from(["next_working_day", "previous_working_day", "skip"])),
        closure_dates=frozenset(draw(st.lists(days, max_size=3))),
        min_notice_days=draw(st.integers(min_value=0, max_value=10)),
        target_weeks=draw(st.none() | st.integers(min_value=1, max_value=8)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[CalendarConfig, date, list[MeetingLoad], bool]:
    cfg = draw(configs())
    start = draw(days)
    end = start + timedelta(days=HORIZON_DAYS)
    extra = draw(st.lists(st.dates(min_value=start, max_value=end), max_size=2))
    cancelled = draw(st.lists(st.dates(min_value=start, max_value=end), max_size=2))
    meetings = meeting_dates(cfg, start, end, extra_dates=extra, cancelled=cancelled)
    booked = draw(
        st.lists(
            st.integers(min_value=0, max_value=cfg.max_cases + 1),
            min_size=len(meetings),
            max_size=len(meetings),
        )
    )
    loads = [MeetingLoad(m, b) for m, b in zip(meetings, booked, strict=True)]
    return cfg, start, loads, draw(st.booleans())


@st.composite
def arrivals(
    draw: st.DrawFn, start: date, loads: list[MeetingLoad], cfg: CalendarConfig
) -> datetime:
    """Any moment around the horizon, or one within a second of some meeting's cut-off."""
    near_a_cutoff = draw(st.booleans())
    if loads and near_a_cutoff:
        meeting = draw(st.sampled_from(loads)).meeting
        base = cutoff_for(cfg, meeting)
        moment = base + timedelta(microseconds=draw(st.integers(-1_000_000, 1_000_000)))
    else:
        origin = datetime.combine(start, time(0), tzinfo=UTC) - timedelta(days=10)
        seconds = draw(st.integers(min_value=0, max_value=(HORIZON_DAYS + 10) * 86_400))
        moment = origin + timedelta(seconds=seconds)
    return moment.astimezone(draw(st.sampled_from([UTC, LONDON])))


def try_allocate(
    cfg: CalendarConfig, received: datetime, loads: list[MeetingLoad], urgent: bool
) -> Allocation | None:
    try:
        return allocate(cfg, received, loads, urgent=urgent)
    except NoMeetingAvailable:
        return None


def booked_for(loads: list[MeetingLoad], allocation: Allocation) -> int:
    (booked,) = [load.booked for load in loads if load.meeting == allocation.meeting]
    return booked


@SETTINGS
@given(st.data(), scenarios())
def test_allocation_respects_capacity_cutoff_and_time(
    data: st.DataObject, scenario: tuple[CalendarConfig, date, list[MeetingLoad], bool]
) -> None:
    cfg, start, loads, urgent = scenario
    received = data.draw(arrivals(start, loads, cfg))
    result = try_allocate(cfg, received, loads, urgent)
    if result is None:
        return
    booked = booked_for(loads, result)
    assert booked < result.meeting.capacity
    assert cutoff_for(cfg, result.meeting) >= received
    assert result.meeting.start > received
    if not urgent:
        assert (result.meeting.date - local_date(received)).days >= cfg.min_notice_days
    if cfg.model == "meeting":
        assert result.slot_index == booked
        assert result.slot_start is not None and result.slot_start >= result.meeting.start
        assert result.slot_start < result.meeting.end
    else:
        assert result.slot_index is None and result.slot_start is None
    assert result.beyond_target == (result.meeting.date > result.target_date)
    # Every date passed over is earlier than the one chosen and has a reason.
    skipped = {code.split(":", 1)[1] for code in result.reasons}
    assert all(day < result.meeting.date.isoformat() for day in skipped)


@SETTINGS
@given(st.data(), scenarios())
def test_a_later_arrival_never_gets_an_earlier_meeting(
    data: st.DataObject, scenario: tuple[CalendarConfig, date, list[MeetingLoad], bool]
) -> None:
    cfg, start, loads, urgent = scenario
    first = data.draw(arrivals(start, loads, cfg))
    second = data.draw(arrivals(start, loads, cfg))
    earlier, later = sorted((first, second))
    early_result = try_allocate(cfg, earlier, loads, urgent)
    late_result = try_allocate(cfg, later, loads, urgent)
    if late_result is None:
        return
    assert early_result is not None
    assert early_result.meeting.start <= late_result.meeting.start


@SETTINGS
@given(scenarios())
def test_meeting_dates_are_ordered_unique_and_on_working_days_unless_ad_hoc(
    scenario: tuple[CalendarConfig, date, list[MeetingLoad], bool],
) -> None:
    cfg, _, loads, _ = scenario
    meeting_days = [load.meeting.date for load in loads]
    assert meeting_days == sorted(set(meeting_days))
    for load in loads:
        meeting = load.meeting
        assert meeting.start.tzinfo is LONDON
        assert meeting.start.date() == meeting.date
        assert meeting.start.time() == cfg.start_time
        if not meeting.ad_hoc:
            assert meeting.date.weekday() < 5
            assert meeting.date not in cfg.closure_dates
        assert cutoff_for(cfg, meeting) < meeting.start
