"""Figures for the platform's hot paths, in-process: DASH assessment, allocation, the event
envelope and field encryption. Prints operations per second and peak memory; asserts nothing.

    .venv/bin/python bench/hot_paths.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from marac_platform import events
from marac_platform.checklists import get_checklist
from marac_platform.security import crypto
from services.risk import domain as risk
from services.scheduling import domain as scheduling


def measure(name: str, operation: Callable[[], object], seconds: float) -> None:
    operation()  # warm-up
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            operation()
        count += 50
    elapsed = time.perf_counter() - started
    print(f"{name:<44} {count / elapsed:>12,.0f} ops/s   {elapsed / count * 1e6:>9.1f} us/op")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per figure")
    seconds = parser.parse_args().seconds

    checklist = get_checklist("dash-partner-2009-v1")
    answers = {qid: ("yes" if i % 2 else "no") for i, qid in enumerate(checklist.question_ids)}
    policy = risk.RiskPolicy()
    today = date(2026, 11, 25)
    measure("risk.assess (24 answers, 4 criteria)", lambda: risk.assess(
        checklist, answers, policy, referral_date=today,
        police_callout_dates=[today - timedelta(days=d) for d in (10, 40, 90)],
        previous_referrals=[("northshire", today - timedelta(days=200))]), seconds)

    calendar = scheduling.CalendarConfigSchema().load({
        "model": "meeting", "pattern": {"kind": "weekly", "weekdays": ["tue"]},
        "start_time": "10:00", "length_minutes": 360, "slot_minutes": 20,
        "cutoff": {"kind": "working_days_before", "days": 5, "time": "17:00"}})
    meetings = scheduling.meeting_dates(calendar, today, today + timedelta(days=180))
    loads = [scheduling.MeetingLoad(m, m.capacity if i < 10 else 3) for i, m in enumerate(meetings)]
    received = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    measure("scheduling.allocate (26 meetings, 10 full)",
            lambda: scheduling.allocate(calendar, received, loads), seconds)
    measure("scheduling.meeting_dates (6 months)",
            lambda: scheduling.meeting_dates(calendar, today, today + timedelta(days=180)), seconds)

    data = {"case_id": "case-1", "referral_id": "ref-1", "area_id": "northshire",
            "meeting_id": "m-1", "marac_date": "2026-12-08", "outcome": "heard"}
    message = events.new_message("marac.case.heard.v1", source="/bench", subject="case-1",
                                 area="northshire", data=data)
    headers = {k: v.encode() for k, v in message.headers.items()}
    measure("events.new_message (validate + encode)", lambda: events.new_message(
        "marac.case.heard.v1", source="/bench", subject="case-1", area="northshire", data=data),
        seconds)
    measure("events.decode (parse + validate)",
            lambda: events.decode(headers, b"case-1", message.value), seconds)

    dek = crypto.generate_data_key()
    personal = {"victim": {"name": {"given": "Alex", "family": "Example"}},
                "incidents": [{"summary": "x" * 400}]}
    token = crypto.encrypt_value(dek, personal, case_id="case-1", field="referral.personal")
    measure("crypto.encrypt_value (form's personal part)", lambda: crypto.encrypt_value(
        dek, personal, case_id="case-1", field="referral.personal"), seconds)
    measure("crypto.decrypt_value", lambda: crypto.decrypt_value(
        dek, token, case_id="case-1", field="referral.personal"), seconds)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{'peak resident memory':<44} {peak_kib / 1024:>12,.1f} MiB")


if __name__ == "__main__":
    main()
