"""Who is told what: only agencies that signed the ISA; messages name cases, never people."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marac_platform import payloads
from marac_platform.areas import Agency, Area
from services.notify import domain

AREA = Area(
    id="northshire", name="Northshire", confidentiality_statement="Confidential.",
    agencies=(
        Agency("police", "Police", True, email="p@example.org"),
        Agency("idva", "IDVA", True, webhook_url="https://idva.example.org/hook"),
        Agency("health", "Health", True),
        Agency("probation", "Probation", False, email="x@example.org"),
    ),
)


def test_only_isa_signatories_are_chosen_by_their_channels() -> None:
    chosen, left_out = domain.recipients(AREA, ["police", "idva", "health", "probation", "nobody"],
                                         date(2026, 12, 1))
    assert [(r.agency_id, r.channel) for r in chosen] == [
        ("police", "email"), ("idva", "webhook"), ("health", "record")]
    assert left_out == ["probation", "nobody"]


def test_an_agreement_that_has_lapsed_is_told_nothing_from_the_day_after() -> None:
    area = Area(id="a", name="A", confidentiality_statement="C.", agencies=(
        Agency("housing", "Housing", True, email="h@example.org", isa_expires=date(2026, 12, 31)),))
    assert [r.agency_id for r in domain.recipients(area, ["housing"], date(2026, 12, 31))[0]] == [
        "housing"]
    assert domain.recipients(area, ["housing"], date(2027, 1, 1)) == ([], ["housing"])


def case_list(marac_date: date, edition: int, confidentiality_statement: str,
              cases: list[dict[str, str]]) -> payloads.CaseListPublished:
    return payloads.CaseListPublished(
        meeting_id="m1", area_id="northshire", marac_date=marac_date, edition=edition,
        confidentiality_statement=confidentiality_statement,
        cases=[payloads.CaseListCase(case_id=c["case_id"], referral_id="r", yes_count=15,
                                     band="high", criteria_met=[], repeat=False,
                                     case_list_entry={}) for c in cases])


def scheduled(case_id: str, referral_id: str, marac_date: date, beyond_target: bool,
              rescheduled: bool) -> payloads.CaseScheduled:
    start = datetime(2026, 12, 15, 10, tzinfo=UTC)
    return payloads.CaseScheduled(
        case_id=case_id, referral_id=referral_id, area_id="northshire", meeting_id="m1",
        marac_date=marac_date, meeting_start=start, model="meeting", slot_index=0,
        slot_start=start, target_date=marac_date, beyond_target=beyond_target,
        rescheduled=rescheduled, referrer_agency="police")


def cancelled(marac_date: date, moved_case_ids: list[str],
              waiting_case_ids: list[str]) -> payloads.MeetingCancelled:
    return payloads.MeetingCancelled(
        meeting_id="m1", area_id="northshire", marac_date=marac_date, model="meeting",
        reason="closure", caselist_published=False, moved_case_ids=moved_case_ids,
        waiting_case_ids=waiting_case_ids)


def returned(referral_id: str, reasons: list[dict[str, str]], screening_step: str | None = None,
             note: str | None = None) -> payloads.ReferralReturned:
    return payloads.ReferralReturned(
        referral_id=referral_id, case_id="c1", area_id="northshire", referrer_agency="police",
        reasons=[payloads.CriterionResult(criterion="visible_high_risk", met=False,
                                          reason_code="below", detail=r["detail"])
                 for r in reasons],
        screening_step=screening_step, note=note)


def test_case_list_message_carries_the_confidentiality_statement_and_counts() -> None:
    message = domain.case_list_message(case_list(**{
        "marac_date": date(2026, 12, 8), "edition": 0, "confidentiality_statement": "Confidential.",
        "cases": [{"case_id": "c1"}, {"case_id": "c2"}]}))
    assert message.template == "caselist_published"
    assert "2 case(s)" in message.body
    assert message.body.endswith("Confidential.")
    addendum = domain.case_list_message(case_list(**{
        "marac_date": date(2026, 12, 8), "edition": 1, "confidentiality_statement": "C.",
        "cases": [{"case_id": "c3"}]}))
    assert addendum.template == "caselist_addendum"
    assert "addendum 1" in addendum.subject


def test_rescheduled_case_message_says_it_moved() -> None:
    data: dict[str, Any] = {"case_id": "c1", "referral_id": "r1", "marac_date": date(2026, 12, 15),
            "beyond_target": True, "rescheduled": True}
    message = domain.case_scheduled_message(scheduled(**data))
    assert message.template == "case_rescheduled"
    assert "moved to the MARAC of 2026-12-15" in message.body
    assert "later than the time-to-hearing target" in message.body


def test_cancellation_message_counts_moved_and_waiting_cases() -> None:
    message = domain.meeting_cancelled_message(cancelled(**{
        "marac_date": date(2026, 12, 8), "moved_case_ids": ["a", "b"], "waiting_case_ids": ["c"]}))
    assert "2 case(s) moved" in message.body and "1 wait" in message.body


def test_returned_at_screening_names_the_step_not_the_reason() -> None:
    message = domain.referral_returned_message(returned(**{
        "referral_id": "r1", "reasons": [], "screening_step": "safeguarding_hub",
        "note": "enc1:abc"}))
    assert message.template == "referral_returned_at_screening"
    assert "safeguarding hub" in message.body
    assert "enc1" not in message.body
    below = domain.referral_returned_message(returned(**{
        "referral_id": "r2", "reasons": [{"detail": "9 yes answers; threshold 14"}]}))
    assert "9 yes answers; threshold 14" in below.body


def test_a_delivery_moves_only_through_sending() -> None:
    status = domain.DeliveryStatus
    assert [s.value for s in status] == ["pending", "sending", "sent", "failed"]
    assert domain.DELIVERY_MOVES.sources(status.SENT) == {status.SENDING}
    assert domain.DELIVERY_MOVES.sources(status.SENDING) == {status.PENDING, status.SENDING}
    assert not domain.DELIVERY_MOVES.allows(status.PENDING, status.SENT)
    for end in (status.SENT, status.FAILED):
        assert not any(domain.DELIVERY_MOVES.allows(end, s) for s in status)


def test_retries_back_off_to_ten_minutes() -> None:
    assert [domain.retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        5, 10, 20, 600, 600]
