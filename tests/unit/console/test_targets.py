"""The coordinator's home: breaches of the time-to-hearing target told from cases at risk."""

from __future__ import annotations

from datetime import date

from services.console import targets

TODAY = date(2026, 12, 2)


def test_a_date_after_the_target_or_a_wait_past_it_is_a_breach() -> None:
    late = {"case_id": "case-late", "received_at": "2026-10-20T09:00:00+00:00",
            "target_date": "2026-12-01", "marac_date": "2026-12-08", "days_over": 7}
    waiting_past = {"case_id": "case-wait", "received_at": "2026-10-01T23:30:00+00:00",
                    "target_date": "2026-11-12", "marac_date": None, "days_over": None}
    waiting = {"case_id": "case-soon", "received_at": "2026-11-24T10:00:00+00:00",
               "target_date": "2026-12-22", "marac_date": None, "days_over": None}
    breaches, rest = targets.split([late, waiting_past, waiting], TODAY)
    assert [b["case_id"] for b in breaches] == ["case-late", "case-wait"]
    assert [r["case_id"] for r in rest] == ["case-soon"]
    assert [b["days_past"] for b in breaches] == [7, 20]
    assert rest[0]["days_past"] is None
    # 6 weeks; an urgent case's 4; received at 23:30 UTC on 1 Oct is 2 Oct in the UK (BST).
    assert breaches[0]["target_weeks"] == 6
    assert rest[0]["target_weeks"] == 4
    assert targets.target_weeks(waiting_past) == 6


def test_the_target_day_itself_is_not_past_it() -> None:
    on_target = {"target_date": "2026-12-02", "marac_date": None, "days_over": None}
    assert not targets.is_breach(on_target, TODAY)
    assert targets.is_breach(on_target, date(2026, 12, 3))
    assert targets.target_weeks({"target_date": "2026-12-02"}) is None
