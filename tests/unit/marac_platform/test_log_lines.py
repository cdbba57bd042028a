"""The JSON log line keeps the ids a caller adds with `extra=` and drops anything else."""

from __future__ import annotations

import json
import logging

from marac_platform.telemetry import JsonFormatter


def test_ids_are_kept_and_other_extras_dropped() -> None:
    record = logging.LogRecord("marac", logging.INFO, __file__, 1, "transfer offered", None, None)
    record.__dict__.update({"transfer_id": "trf-1", "case_id": "case-1", "victim": "Alex"})
    line = json.loads(JsonFormatter("referral").format(record))
    assert (line["transfer_id"], line["case_id"]) == ("trf-1", "case-1")
    assert "victim" not in line and "Alex" not in json.dumps(line)
