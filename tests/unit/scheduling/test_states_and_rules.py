"""The meeting and allocation move tables, and the rules the use cases ask the domain: places a
date offers, ad hoc dates, cancelling, outcomes, coordinators' moves, erasure, meeting ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from marac_platform.errors import Conflict, IllegalMove, InvalidInput
from services.scheduling.domain import (
    ALLOCATION_MOVES,
    LONDON,
    MEETING_MOVES,
    AllocationStatus,
    CalendarConfig,
    MeetingOccurrence,
    MeetingStatus,
    WeeklyPattern,
    WorkingDaysBeforeCutoff,
    ad_hoc_meeting,
    cancel_refusal,
    caselist_closed,
    check_outcome,
    free_places,
    is_beyond_target,
    meeting_id,
    moved_allocation,
    moved_by_coordinator,
    outcome_status,
    parse_meeting_id,
    takes_cases,
    withdrawn_on_erasure,
)

M, A = MeetingStatus, AllocationStatus
NOW = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # a Monday
LATER, EARLIER = NOW + timedelta(hours=1), NOW - timedelta(hours=1)
TUESDAYS = CalendarConfig(
    model="meeting", pattern=WeeklyPattern((1,)), start_time=time(10, 0), length_minutes=60,
    slot_minutes=20, max_cases=3, cutoff=WorkingDaysBeforeCutoff(days=0, at=time(9, 0)),
    min_notice_days=0)


class TestMoveTables:
    def test_every_status_has_a_row(self) -> None:
        assert set(MEETING_MOVES.moves) == set(M)
        assert set(ALLOCATION_MOVES.moves) == set(A)

    def test_only_a_planned_date_is_cancelled_or_held(self) -> None:
        assert MEETING_MOVES.sources(M.CANCELLED) == {M.PLANNED}
        assert MEETING_MOVES.sources(M.HELD) == {M.PLANNED}
        for done in (M.CANCELLED, M.HELD):
            assert not MEETING_MOVES.moves[done]

    def test_only_a_scheduled_case_is_heard_or_deferred(self) -> None:
        assert ALLOCATION_MOVES.sources(A.HEARD) == {A.SCHEDULED}
        assert ALLOCATION_MOVES.sources(A.DEFERRED) == {A.SCHEDULED}

    def test_a_coordinator_moves_a_waiting_or_scheduled_case_never_a_heard_one(self) -> None:
        assert ALLOCATION_MOVES.allows(A.WAITING, A.SCHEDULED)
        assert ALLOCATION_MOVES.allows(A.SCHEDULED, A.SCHEDULED)
        with pytest.raises(IllegalMove) as refused:
            ALLOCATION_MOVES.move(A.HEARD, A.SCHEDULED)
        assert (refused.value.current, refused.value.asked) == (A.HEARD, A.SCHEDULED)

    def test_a_withdrawn_case_moves_no_more_and_a_heard_one_only_to_a_new_hearing(self) -> None:
        assert not ALLOCATION_MOVES.moves[A.WITHDRAWN]
        assert ALLOCATION_MOVES.moves[A.HEARD] == {A.WAITING}

    def test_outcomes_name_their_status(self) -> None:
        assert outcome_status("heard") == A.HEARD
        assert outcome_status("deferred") == A.DEFERRED


class TestPlaces:
    def test_a_date_offers_places_while_planned_and_not_begun(self) -> None:
        assert takes_cases(M.PLANNED, LATER, NOW)
        assert not takes_cases(M.PLANNED, NOW, NOW)  # under way from its start
        assert not takes_cases(M.CANCELLED, LATER, NOW)
        assert not takes_cases(M.HELD, LATER, NOW)

    def test_free_places(self) -> None:
        assert free_places(M.PLANNED, LATER, 3, 1, NOW) == 2
        assert free_places(M.PLANNED, LATER, 3, 5, NOW) == 0
        assert free_places(M.PLANNED, EARLIER, 3, 0, NOW) == 0
        assert free_places(M.CANCELLED, LATER, 3, 0, NOW) == 0

    def test_a_case_list_closes_when_out_or_due(self) -> None:
        assert caselist_closed(None, NOW, NOW)
        assert caselist_closed(EARLIER, LATER, NOW)
        assert not caselist_closed(None, LATER, NOW)


class TestCoordinators:
    def test_an_ad_hoc_date_is_a_future_working_day_within_the_cap(self) -> None:
        wednesday = date(2026, 2, 4)
        made = ad_hoc_meeting(TUESDAYS, wednesday, None, NOW)
        assert made.ad_hoc and made.capacity == 3 and made.end - made.start == timedelta(hours=1)
        assert ad_hoc_meeting(TUESDAYS, wednesday, 2, NOW).capacity == 2
        for day, capacity, field in ((date(2026, 2, 7), None, "marac_date"),  # a Saturday
                                     (date(2026, 1, 30), None, "marac_date"),  # past
                                     (wednesday, 4, "capacity")):
            with pytest.raises(InvalidInput) as refused:
                ad_hoc_meeting(TUESDAYS, day, capacity, NOW)
            assert [e["field"] for e in refused.value.errors] == [field]

    def test_why_a_date_cannot_be_cancelled(self) -> None:
        held = cancel_refusal(M.HELD, LATER, NOW)
        assert isinstance(held, IllegalMove) and (held.current, held.asked) == (M.HELD, M.CANCELLED)
        begun = cancel_refusal(M.PLANNED, EARLIER, NOW)
        assert type(begun) is Conflict and begun.slug == "meeting-closed"

    def test_outcomes_are_recorded_in_the_meeting_model_once_begun(self) -> None:
        check_outcome("meeting", EARLIER, NOW)
        with pytest.raises(Conflict, match="not begun"):
            check_outcome("meeting", LATER, NOW)
        with pytest.raises(Conflict) as coordination:
            check_outcome("coordination", EARLIER, NOW)
        assert coordination.value.slug == "coordination-model"

    def test_a_moved_case_keeps_its_target_and_says_whether_it_misses_it(self) -> None:
        start = datetime(2026, 3, 10, 10, 0, tzinfo=LONDON)
        meeting = MeetingOccurrence(date(2026, 3, 10), start, start + timedelta(hours=1), 3)
        chosen = moved_allocation(TUESDAYS, meeting, NOW, 1, start, "urgency")
        assert chosen.target_date == date(2026, 3, 2)  # four weeks from the day received
        assert chosen.beyond_target and chosen.reasons == ("moved:urgency",)
        assert moved_by_coordinator(chosen.reasons)
        assert not moved_by_coordinator(("full:2026-03-03",))

    def test_on_the_target_is_in_time(self) -> None:
        target = date(2026, 3, 2)
        assert not is_beyond_target(target, target)
        assert is_beyond_target(target + timedelta(days=1), target)


class TestErasureAndIds:
    def test_an_erased_case_leaves_its_date_unless_heard_or_begun(self) -> None:
        assert withdrawn_on_erasure(A.SCHEDULED, LATER, NOW)
        assert withdrawn_on_erasure(A.WAITING, None, NOW)
        assert not withdrawn_on_erasure(A.SCHEDULED, EARLIER, NOW)
        assert not withdrawn_on_erasure(A.HEARD, LATER, NOW)
        assert not withdrawn_on_erasure(A.WITHDRAWN, None, NOW)

    def test_meeting_ids_round_trip(self) -> None:
        day = date(2026, 12, 8)
        assert parse_meeting_id(meeting_id("north-shire", day)) == ("north-shire", day)
        for wrong in ("north-shire-2026-13-08", "north-shire_2026-12-08", "-2026-12-08", "x"):
            assert parse_meeting_id(wrong) is None
