"""The scheduling rules at instants that cross the calendar's edges (tests/support/clock.py),
for both example areas: every weekday either side of a meeting and a cut-off, a Tuesday
bank holiday, both clock changes, the turn of the year and a leap day. The expected values
come from the rules' definitions at that instant, never from the day the suite runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from marac_platform import clock
from marac_platform.areas import load_areas
from services.scheduling import domain
from tests.support.clock import EDGE_INSTANTS, edge_params

AREAS = load_areas(Path(__file__).resolve().parents[3] / "deploy" / "areas.yaml")
CALENDARS = {area.id: domain.calendar_config_from_area(area.sections)
             for area in AREAS.by_id.values()}

pytestmark = pytest.mark.parametrize("area_id", sorted(CALENDARS))


def loads(config: domain.CalendarConfig, now: datetime, booked: int = 0) -> list[domain.MeetingLoad]:
    dates = domain.next_dates(config, domain.local_date(now) - timedelta(days=1), count=20)
    return [domain.MeetingLoad(meeting, booked) for meeting in dates]


@pytest.mark.parametrize("now", edge_params())
def test_the_clock_is_where_the_test_stands(now: datetime, area_id: str) -> None:
    with time_machine.travel(now, tick=False):
        assert clock.now() == now.astimezone(UTC)
        assert clock.uk_today() == now.astimezone(clock.UK).date()
        assert domain.local_date(clock.now()) == clock.uk_today()


@pytest.mark.parametrize("now", edge_params())
def test_a_case_received_now_gets_the_earliest_date_that_can_take_it(now: datetime,
                                                                     area_id: str) -> None:
    config = CALENDARS[area_id]
    offered = loads(config, now)
    chosen = domain.allocate(config, now, offered)
    meeting = chosen.meeting
    received_on = domain.local_date(now)
    assert meeting.start > now
    assert now <= domain.cutoff_for(config, meeting)
    assert (meeting.date - received_on).days >= config.min_notice_days
    assert domain.is_working_day(config, meeting.date)
    assert chosen.target_date == received_on + timedelta(weeks=config.effective_target_weeks)
    assert chosen.beyond_target == (meeting.date > chosen.target_date)
    # Every date before it was begun, past its cut-off or too soon, and said so.
    for load in offered:
        earlier = load.meeting
        if earlier.start >= meeting.start:
            break
        if earlier.start <= now:
            continue
        day = earlier.date.isoformat()
        assert {f"after_cutoff:{day}", f"short_notice:{day}"} & set(chosen.reasons)


@pytest.mark.parametrize("now", edge_params())
def test_an_urgent_case_skips_only_the_notice_rule(now: datetime, area_id: str) -> None:
    config = CALENDARS[area_id]
    urgent = domain.allocate(config, now, loads(config, now), urgent=True)
    ordinary = domain.allocate(config, now, loads(config, now))
    assert urgent.meeting.start <= ordinary.meeting.start
    assert now <= domain.cutoff_for(config, urgent.meeting)


@pytest.mark.parametrize("now", edge_params())
def test_a_full_date_passes_the_case_on_with_its_reason(now: datetime, area_id: str) -> None:
    config = CALENDARS[area_id]
    first = domain.allocate(config, now, loads(config, now)).meeting
    offered = [domain.MeetingLoad(m.meeting, m.meeting.capacity if m.meeting == first else 0)
               for m in loads(config, now)]
    moved = domain.allocate(config, now, offered)
    assert moved.meeting.start > first.start
    assert f"full:{first.date.isoformat()}" in moved.reasons


@pytest.mark.parametrize("now", edge_params())
def test_cutoffs_and_case_lists_come_before_their_date_in_local_time(now: datetime,
                                                                     area_id: str) -> None:
    config = CALENDARS[area_id]
    for load in loads(config, now):
        meeting = load.meeting
        cutoff = domain.cutoff_for(config, meeting)
        caselist = domain.caselist_publish_at(config, meeting)
        assert cutoff <= meeting.start and caselist < meeting.start
        assert meeting.start.astimezone(clock.UK).time() == config.start_time
        assert domain.is_working_day(config, meeting.date) or meeting.ad_hoc


@pytest.mark.parametrize("now", edge_params())
def test_the_target_watch_flags_exactly_the_cases_past_their_target(now: datetime,
                                                                   area_id: str) -> None:
    config = CALENDARS[area_id]
    today = domain.local_date(now)
    weeks = config.effective_target_weeks
    cases = [
        domain.CaseSchedule("on-time", today, today + timedelta(weeks=weeks)),
        domain.CaseSchedule("a-day-late", today, today + timedelta(weeks=weeks, days=1)),
        domain.CaseSchedule("no-date-in-time", today - timedelta(weeks=weeks), None),
        domain.CaseSchedule("no-date-yet", today, None),
    ]
    flagged = {risk.case_id: risk.days_over for risk in
               domain.at_risk_of_missing_target(config, cases, today)}
    assert flagged == {"a-day-late": 1, "no-date-in-time": None}


def test_the_edges_cover_every_weekday_and_both_clock_changes(area_id: str) -> None:
    local = [instant.astimezone(clock.UK) for instant in EDGE_INSTANTS.values()]
    assert {moment.weekday() for moment in local} == set(range(7))
    assert any(moment.month == 2 and moment.day == 29 for moment in local)
    assert any((moment.month, moment.day) == (12, 31) for moment in local)
    assert any(domain.is_bank_holiday(moment.date()) for moment in local)
    offsets = {moment.date(): moment.utcoffset() for moment in local}
    assert {offsets[d] for d in offsets if d.month in (3, 10) and d.day >= 25} == {
        timedelta(0), timedelta(hours=1)}
