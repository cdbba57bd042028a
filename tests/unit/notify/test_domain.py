"""Who is told what: only agencies that signed the ISA; messages name cases, never people."""

from __future__ import annotations

from datetime import date

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


def test_case_list_message_carries_the_confidentiality_statement_and_counts() -> None:
    message = domain.case_list_message({
        "marac_date": date(2026, 12, 8), "edition": 0, "confidentiality_statement": "Confidential.",
        "cases": [{"case_id": "c1"}, {"case_id": "c2"}]})
    assert message.template == "caselist_published"
    assert "2 case(s)" in message.body
    assert message.body.endswith("Confidential.")
    addendum = domain.case_list_message({
        "marac_date": date(2026, 12, 8), "edition": 1, "confidentiality_statement": "C.",
        "cases": [{"case_id": "c3"}]})
    assert addendum.template == "caselist_addendum"
    assert "addendum 1" in addendum.subject


def test_rescheduled_case_message_says_it_moved() -> None:
    data = {"case_id": "c1", "referral_id": "r1", "marac_date": date(2026, 12, 15),
            "beyond_target": True, "rescheduled": True}
    message = domain.case_scheduled_message(data)
    assert message.template == "case_rescheduled"
    assert "moved to the MARAC of 2026-12-15" in message.body
    assert "later than the time-to-hearing target" in message.body


def test_cancellation_message_counts_moved_and_waiting_cases() -> None:
    message = domain.meeting_cancelled_message({
        "marac_date": date(2026, 12, 8), "moved_case_ids": ["a", "b"], "waiting_case_ids": ["c"]})
    assert "2 case(s) moved" in message.body and "1 wait" in message.body


def test_returned_at_screening_names_the_step_not_the_reason() -> None:
    message = domain.referral_returned_message({
        "referral_id": "r1", "reasons": [], "screening_step": "safeguarding_hub",
        "note": "enc1:abc"})
    assert message.template == "referral_returned_at_screening"
    assert "safeguarding hub" in message.body
    assert "enc1" not in message.body
    below = domain.referral_returned_message({
        "referral_id": "r2", "reasons": [{"detail": "9 yes answers; threshold 14"}]})
    assert "9 yes answers; threshold 14" in below.body
