"""Who hears what, for every event notify reads, and every kind's template renders: a subject
on one line, a plain-text and an HTML part, the link, the reference, and nothing personal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from marac_platform import events, payloads
from marac_platform.events import Event
from services.notify import notices, templates
from services.notify.domain import COORDINATORS
from services.notify.notices import EVERY_AGENCY, KINDS, NOTICES

AT = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
DAY = date(2026, 12, 8)
START = datetime(2026, 12, 8, 10, tzinfo=UTC)


def placement(rescheduled: bool) -> payloads.CaseScheduled:
    return payloads.CaseScheduled(
        case_id="case-1", referral_id="ref-1", area_id="northshire", meeting_id="m1",
        marac_date=DAY, meeting_start=START, model="meeting", slot_index=0, slot_start=START,
        target_date=DAY, beyond_target=True, rescheduled=rescheduled, referrer_agency="police")


def reminder(kind: type[payloads.ActionReminder], step: str) -> payloads.ActionReminder:
    return kind(action_id="act-1", case_id="case-1", area_id="northshire",
                owner_agency="housing", due_by=DAY, step=step, days_overdue=7)


def answered(kind: type[payloads.TransferAnswered], decision: str) -> payloads.TransferAnswered:
    return kind(transfer_id="trf-1", case_id="case-1", from_area="northshire",
                to_area="southshire", decision=decision,
                new_case_id="case-9" if decision == "accepted" else None,
                decline_reason=None if decision == "accepted" else "not_resident",
                answered_at=AT)


SAMPLES: dict[str, list[tuple[payloads.Payload, str, tuple[str, ...], str]]] = {
    # event type: [(data, kind, recipients, link)]
    events.CASE_SCHEDULED: [
        (placement(False), "case_scheduled", ("police",), "/cases/case-1"),
        (placement(True), "case_rescheduled", ("police",), "/cases/case-1")],
    events.REFERRAL_RETURNED: [(payloads.ReferralReturned(
        referral_id="ref-1", case_id="case-1", area_id="northshire", referrer_agency="police",
        reasons=[payloads.CriterionResult(criterion="visible_high_risk", met=False,
                                          reason_code="below_threshold", detail="9 of 24")],
        screening_step=None, note="enc1:secret"), "referral_returned", ("police",),
        "/referrals/ref-1")],
    events.REFERRAL_HELD: [(payloads.ReferralHeld(
        referral_id="ref-1", case_id="case-1", area_id="northshire",
        grounds=["name:initial", "dob:exact"]), "referral_held", (COORDINATORS,),
        "/referrals/ref-1")],
    events.UPDATES_PUBLISHED: [(payloads.UpdatesPublished(
        updates_id="upd-1", case_id="case-1", area_id="northshire", meeting_id="m1",
        marac_date=DAY, version=2, reason="heard", agency_ids=["police", "health"],
        referrer_agency="idva", published_at=AT), "updates_published",
        ("police", "health", "idva"), "/updates/upd-1")],
    events.CASELIST_PUBLISHED: [
        (payloads.CaseListPublished(meeting_id="m1", area_id="northshire", marac_date=DAY,
                                    edition=edition, cases=[], confidentiality_statement="Conf."),
         kind, (EVERY_AGENCY,), "/meetings/m1/case-list")
        for edition, kind in ((0, "caselist_published"), (1, "caselist_addendum"))],
    events.MEETING_CANCELLED: [(payloads.MeetingCancelled(
        meeting_id="m1", area_id="northshire", marac_date=DAY, model="meeting", reason="closure",
        caselist_published=True, moved_case_ids=["a", "b"], waiting_case_ids=["c"]),
        "meeting_cancelled", (EVERY_AGENCY,), "/meetings/m1")],
    events.RESEARCH_OWED: [(payloads.ResearchOwed(
        return_id="ret-1", case_id="case-1", area_id="northshire", meeting_id="m1",
        agency_id="health", due_date=date(2026, 12, 7), deadline=AT), "research_owed",
        ("health",), "/research/ret-1")],
    events.RESEARCH_REMINDER: [(payloads.ResearchReminder(
        return_id="ret-1", case_id="case-1", area_id="northshire", meeting_id="m1",
        agency_id="health", deadline=AT), "research_reminder", ("health",), "/research/ret-1")],
    events.ACTION_CREATED: [(payloads.ActionCreated(
        action_id="act-1", case_id="case-1", area_id="northshire", meeting_id="m1",
        owner_agency="housing", asked_by_agency="police", catalogue_code="alarm",
        for_whom="victim", due_by=DAY, status="agreed", by="u1", at=AT), "action_assigned",
        ("housing",), "/actions/act-1")],
    events.ACTION_STATUS_CHANGED: [(payloads.ActionStatusChanged(
        action_id="act-1", case_id="case-1", area_id="northshire", owner_agency="housing",
        asked_by_agency="police", from_status="proposed", to_status="agreed", by="u1", at=AT),
        "action_assigned", ("housing",), "/actions/act-1")],
    events.ACTION_DUE_SOON: [(reminder(payloads.ActionDueSoon, "due_soon"), "action_due_soon",
                              ("housing",), "/actions/act-1")],
    events.ACTION_OVERDUE: [(reminder(payloads.ActionOverdue, "overdue"), "action_overdue",
                             ("housing",), "/actions/act-1")],
    events.ACTION_ESCALATED: [(reminder(payloads.ActionEscalated, "escalated_7"),
                               "action_escalated", ("housing",), "/actions/act-1")],
    events.TRANSFER_REQUESTED: [(payloads.TransferRequested(
        transfer_id="trf-1", case_id="case-1", from_area="northshire", to_area="southshire",
        reason="fled_to_refuge", remote=False, requested_at=AT), "transfer_requested",
        (COORDINATORS,), "/transfers/trf-1")],
    events.TRANSFER_ACCEPTED: [(answered(payloads.TransferAccepted, "accepted"),
                                "transfer_accepted", (COORDINATORS,), "/transfers/trf-1")],
    events.TRANSFER_DECLINED: [(answered(payloads.TransferDeclined, "declined"),
                                "transfer_declined", (COORDINATORS,), "/transfers/trf-1")],
    events.TRANSFER_FAILED: [(payloads.TransferFailed(
        transfer_id="trf-1", case_id="case-1", from_area="northshire", to_area="westshire",
        attempts=8, reason_code="unreachable", failed_at=AT), "transfer_failed",
        (COORDINATORS,), "/transfers/trf-1")],
}


def event(event_type: str, data: payloads.Payload) -> Event:
    return Event(id="evt-1", type=event_type, source="/test", subject="case-1",
                 area="northshire", time=AT, data=data)


CASES = [(t, *sample) for t, samples in SAMPLES.items() for sample in samples]


def test_every_event_notify_reads_and_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(NOTICES)
    assert {kind for _, _, kind, _, _ in CASES} == set(KINDS)


@pytest.mark.parametrize(("event_type", "data", "kind", "recipients", "link"), CASES,
                         ids=[f"{c[2]}" for c in CASES])
def test_who_hears_what_and_it_renders(event_type: str, data: payloads.Payload, kind: str,
                                       recipients: tuple[str, ...], link: str) -> None:
    [notice] = NOTICES[event_type](event(event_type, data))
    assert (notice.kind, notice.recipients, notice.link) == (kind, recipients, link)
    # The start-up check renders with SAMPLE_FACTS: they must be what the builder gives.
    assert set(notice.facts) == set(templates.SAMPLE_FACTS[kind])
    url = f"https://marac.example.org{notice.link}"
    rendered = templates.render(templates.environment(), kind, {
        **notice.facts, "reference": notice.reference, "case_id": notice.case_id or "",
        "link": url, "area_name": "Northshire MARAC"})
    assert rendered.subject and "\n" not in rendered.subject
    for part in (rendered.text, rendered.html):
        assert url in part and notice.reference in part
        assert "enc1" not in part  # a screener's note (ciphertext or not) never goes out
    assert rendered.html.startswith("<!DOCTYPE html>")


def test_a_remote_transfer_is_told_by_the_other_deployment() -> None:
    data = payloads.TransferRequested(
        transfer_id="trf-1", case_id="case-1", from_area="northshire", to_area="elsewhere",
        reason="moved_permanently", remote=True, requested_at=AT)
    assert notices.transfer_requested(event(events.TRANSFER_REQUESTED, data)) == []


def test_only_an_agreed_action_is_assigned_by_a_status_change() -> None:
    data = payloads.ActionStatusChanged(
        action_id="act-1", case_id="case-1", area_id="northshire", owner_agency="housing",
        asked_by_agency="police", from_status="agreed", to_status="completed", by="u1", at=AT)
    assert notices.action_status_changed(event(events.ACTION_STATUS_CHANGED, data)) == []


def test_html_escapes_what_it_is_given() -> None:
    rendered = templates.render(templates.environment(), "caselist_published", {
        **templates.SAMPLE_FACTS["caselist_published"], "confidentiality_statement": "<b>x</b>",
        "reference": "m1", "case_id": "", "link": "https://m/x", "area_name": "A & B"})
    assert "<b>x</b>" in rendered.text and "&lt;b&gt;x&lt;/b&gt;" in rendered.html
    assert "A &amp; B" in rendered.html


def test_an_area_overrides_one_template_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "research_owed.j2").write_text(
        "{% block subject %}Southshire: research {{ reference }}{% endblock %}"
        "{% block body %}Due {{ deadline }}.{% endblock %}")
    env = templates.environment(tmp_path)
    templates.check(env, "test")
    facts = {**templates.SAMPLE_FACTS["research_owed"], "reference": "c1", "case_id": "c1",
             "link": "https://m/r", "area_name": "Southshire"}
    assert templates.render(env, "research_owed", facts).subject == "Southshire: research c1"
    assert templates.render(env, "research_reminder", facts).subject.startswith("Reminder")


@pytest.mark.parametrize("text", [
    "{% block subject %}x{% endblock %}",  # no body block
    "{% block subject %}{{ nobody_knows }}{% endblock %}{% block body %}b{% endblock %}",
    "{% block subject %}{% if %}{% endblock %}",
])
def test_a_broken_override_stops_the_start_naming_the_template(tmp_path: Path, text: str) -> None:
    (tmp_path / "meeting_cancelled.j2").write_text(text)
    with pytest.raises(templates.TemplateProblem, match=r"areas\[x\]: meeting_cancelled.j2"):
        templates.check(templates.environment(tmp_path), "areas[x]")
