"""A worker's heartbeats: a loop that has not gone round within the limit is named stalled."""

from __future__ import annotations

import time_machine

from marac_platform.metrics import Heartbeats


def test_a_loop_is_stalled_only_past_its_limit_and_until_it_beats_again() -> None:
    with time_machine.travel(0, tick=False) as traveller:
        beats = Heartbeats(limit_s=10)
        beats.beat("consumer")
        beats.beat("relay")
        traveller.shift(9)
        beats.beat("relay")
        assert beats.stalled() == []
        traveller.shift(2)
        assert beats.stalled() == ["consumer"]
        beats.beat("consumer")
        assert beats.stalled() == []
