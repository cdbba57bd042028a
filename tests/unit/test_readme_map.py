"""The README's map of where the rules live names a file (or folder) for each rule, and each
one exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rule_rows() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where the rules live", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("rule", "---"):
            rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def test_every_rule_names_a_path_and_every_path_exists() -> None:
    rows = rule_rows()
    assert len(rows) >= 15
    assert all(paths for _, paths in rows), [rule for rule, paths in rows if not paths]
    missing = [path for _, paths in rows for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_the_map_names_each_state_machine_the_role_table_and_who_is_told_what() -> None:
    rules = " ".join(rule for rule, _ in rule_rows())
    for needed in ("criteria", "calendars", "cut-offs", "lifecycle", "move table", "role table",
                   "told what"):
        assert needed in rules, needed
