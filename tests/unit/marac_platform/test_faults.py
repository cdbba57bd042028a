"""Fault injection kills only at the named point, and only at its N-th passing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

SCRIPT = ("from marac_platform import faults\n"
          "for n in range(1, 6):\n"
          "    faults.kill_at('elsewhere')\n"
          "    print(n, flush=True)\n"
          "    faults.kill_at('test.point')\n")


def run(fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MARAC_FAULT"}
    if fault is not None:
        env["MARAC_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_unset_kills_nothing() -> None:
    done = run(None)
    assert done.returncode == 0 and done.stdout.split() == ["1", "2", "3", "4", "5"]


def test_the_nth_passing_of_the_named_point_is_a_sigkill() -> None:
    done = run("test.point:3")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["1", "2", "3"]
    assert run("test.point").stdout.split() == ["1"]
