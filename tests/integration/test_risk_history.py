"""Risk's referral history on real PostgreSQL: case.heard records the hearing date."""

from __future__ import annotations

from datetime import date

import pytest

from marac_platform.runtime import Runtime
from marac_platform.settings import load_settings
from services.risk import service
from services.risk.models import TABLES, ReferralHistory
from tests.conftest import PlatformEnv

pytestmark = pytest.mark.integration


def test_case_heard_records_the_hearing_and_a_deferral_does_not(platform_env: PlatformEnv) -> None:
    runtime = Runtime("risk", TABLES, settings=load_settings("risk"))
    try:
        with runtime.unit_of_work() as uow:
            uow.session.add(ReferralHistory(area_id="northshire", case_id="case-1",
                                            referral_id="ref-1", referral_date=date(2026, 11, 2),
                                            source="marac"))
        heard = {"case_id": "case-1", "referral_id": "ref-1", "area_id": "northshire",
                 "meeting_id": "m-1", "marac_date": date(2026, 11, 24)}
        with runtime.unit_of_work() as uow:
            service.on_case_heard(uow, {**heard, "outcome": "deferred"})
        with runtime.unit_of_work() as uow:
            assert uow.session.get(ReferralHistory, 1).heard_on is None  # type: ignore[union-attr]
            service.on_case_heard(uow, {**heard, "outcome": "heard"})
            service.on_case_heard(uow, {**heard, "referral_id": "ref-unknown", "outcome": "heard"})
        with runtime.unit_of_work() as uow:
            row = uow.session.get(ReferralHistory, 1)
            assert row is not None and row.heard_on == date(2026, 11, 24)
    finally:
        runtime.db.dispose()
