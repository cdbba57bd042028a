"""The repository stands on its own: code cites the project's own docs, and those exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|ARCHITECTURE\.md|STYLE\.md|MARAC\.md")
CITED = re.compile(r"\b(docs/[A-Za-z_]+\.(?:md|yaml))")


def sources() -> list[Path]:
    return [path for folder in ("shared", "services", "tests", "bench")
            for path in (ROOT / folder).rglob("*.py") if "migrations" not in path.parts]


def test_code_cites_no_file_outside_the_repository() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in sources()
                 if path.name != "test_repository.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert offenders == []


def test_every_doc_the_code_cites_exists() -> None:
    cited = {match for path in sources()
             for match in CITED.findall(path.read_text(encoding="utf-8"))}
    assert cited, "the code cites its docs"
    assert sorted(doc for doc in cited if not (ROOT / doc).is_file()) == []
