"""The case record's statuses: opened when scheduled, heard once its MARAC hears it."""

from __future__ import annotations

import pytest

from marac_platform.errors import IllegalMove
from services.actions.domain import RECORD_MOVES, RecordStatus, status_after_hearing


def test_a_record_is_heard_once_heard_and_a_deferral_changes_nothing() -> None:
    assert status_after_hearing(RecordStatus.OPEN, "heard") is RecordStatus.HEARD
    assert status_after_hearing(RecordStatus.OPEN, "deferred") is RecordStatus.OPEN
    assert status_after_hearing(RecordStatus.HEARD, "heard") is RecordStatus.HEARD
    assert status_after_hearing(RecordStatus.HEARD, "deferred") is RecordStatus.HEARD


def test_a_heard_record_does_not_reopen() -> None:
    assert [s.value for s in RecordStatus] == ["open", "heard"]
    with pytest.raises(IllegalMove) as caught:
        RECORD_MOVES.move(RecordStatus.HEARD, RecordStatus.OPEN)
    assert caught.value.detail == "A case record that is heard cannot become open."
