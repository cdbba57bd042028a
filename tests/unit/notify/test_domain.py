"""Who may be told: only agencies whose agreement is in force, by their channels, minus what
they opted out of; a refusal says why. A delivery's life and its retry delays."""

from __future__ import annotations

import random
from datetime import date

from marac_platform.areas import Agency, Area
from services.notify import domain

AREA = Area(
    id="northshire", name="Northshire", confidentiality_statement="Confidential.",
    agencies=(
        Agency("police", "Police", True, email="p@example.org", contacts=("p2@example.org",)),
        Agency("idva", "IDVA", True, webhook_url="https://idva.example.org/hook",
               webhook_secret_env="IDVA_SECRET", email="i@example.org"),
        Agency("health", "Health", True),
        Agency("probation", "Probation", False, email="x@example.org"),
        Agency("housing", "Housing", True, email="h@example.org", isa_expires=date(2026, 12, 31)),
        Agency("education", "Education", True, email="e@example.org",
               opt_out=("caselist_addendum",)),
    ),
)
TODAY = date(2026, 12, 1)


def test_only_agencies_with_an_agreement_in_force_are_chosen_by_their_channels() -> None:
    ids = ["police", "idva", "health", "probation", "nobody", "housing", "police"]
    chosen, refused = domain.audience(AREA, ids, "caselist_published", TODAY)
    assert [(r.id, r.channel) for r in chosen] == [
        ("police", "email"), ("idva", "email"), ("idva", "webhook"), ("housing", "email")]
    assert [(r.id, r.reason) for r in refused] == [
        ("health", domain.NO_CHANNEL), ("probation", domain.NO_ISA),
        ("nobody", domain.UNKNOWN_AGENCY)]


def test_an_agreement_that_has_lapsed_is_refused_from_the_day_after() -> None:
    assert domain.refusal(AREA, "housing", "research_owed", date(2026, 12, 31)) is None
    assert domain.refusal(AREA, "housing", "research_owed", date(2027, 1, 1)) == domain.ISA_LAPSED


def test_an_opt_out_is_per_kind() -> None:
    assert domain.refusal(AREA, "education", "caselist_addendum", TODAY) == domain.OPTED_OUT
    assert domain.refusal(AREA, "education", "caselist_published", TODAY) is None


def test_coordinators_are_told_by_e_mail_when_the_area_names_them() -> None:
    chosen, refused = domain.audience(AREA, [domain.COORDINATORS], "transfer_requested", TODAY,
                                      ("marac@example.org",))
    assert [(r.id, r.channel) for r in chosen] == [(domain.COORDINATORS, "email")]
    assert refused == []
    chosen, refused = domain.audience(AREA, [domain.COORDINATORS], "transfer_requested", TODAY)
    assert chosen == [] and [r.reason for r in refused] == [domain.NO_CHANNEL]


def test_a_delivery_moves_only_through_sending() -> None:
    status = domain.DeliveryStatus
    assert [s.value for s in status] == ["queued", "sending", "sent", "failed", "refused"]
    assert domain.DELIVERY_MOVES.sources(status.SENT) == {status.SENDING}
    assert domain.DELIVERY_MOVES.sources(status.SENDING) == {status.QUEUED, status.SENDING}
    assert domain.DELIVERY_MOVES.sources(status.REFUSED) == {status.SENDING}
    assert not domain.DELIVERY_MOVES.allows(status.QUEUED, status.SENT)
    for end in (status.SENT, status.FAILED, status.REFUSED):
        assert not any(domain.DELIVERY_MOVES.allows(end, s) for s in status)


def test_retries_back_off_exponentially_with_jitter_up_to_ten_minutes() -> None:
    rng = random.Random(7)
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (8, 600), (20, 600)):
        delays = {domain.retry_delay(attempts, 5.0, rng).total_seconds() for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered: two replicas do not retry in step


def test_a_5xx_reply_is_final_except_an_authentication_failure() -> None:
    assert domain.permanent_smtp_code(550) and domain.permanent_smtp_code(554)
    assert not domain.permanent_smtp_code(535)
    assert not domain.permanent_smtp_code(451) and not domain.permanent_smtp_code(421)
