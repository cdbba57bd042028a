"""The blind identity index: keyed digests of names and dates of birth, and the candidate rule."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.referral.domain import (
    INDEX_DOB,
    INDEX_INITIAL,
    INDEX_NAME,
    PersonName,
    VictimIdentity,
    cases_sharing_name_and_dob,
    identity_digests,
    match_victim,
    merge_draft,
)
from services.referral.domain import (
    ExistingCase as Case,
)

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
DOB = dt.date(1990, 4, 1)


def person(given: str, family: str, *dobs: dt.date,
           aliases: tuple[tuple[str, str], ...] = ()) -> VictimIdentity:
    return VictimIdentity(PersonName(given, family),
                          tuple(PersonName(g, f) for g, f in aliases), frozenset(dobs))


def digests(identity: VictimIdentity, secret: bytes = SECRET) -> set[str]:
    return {d for _, d in identity_digests(identity, secret)}


def test_one_name_and_one_date_give_a_name_an_initial_and_a_dob_digest() -> None:
    pairs = identity_digests(person("Alex", "Example", DOB), SECRET)
    assert sorted(kind for kind, _ in pairs) == [INDEX_DOB, INDEX_INITIAL, INDEX_NAME]
    assert all(len(d) == 64 and int(d, 16) >= 0 for _, d in pairs)


def test_digests_hold_nothing_readable() -> None:
    text = " ".join(d for _, d in identity_digests(person("Alex", "Example", DOB), SECRET))
    assert "alex" not in text.lower() and "example" not in text.lower() and "1990" not in text


def test_folding_makes_spellings_equal() -> None:
    assert digests(person("ZOË", "O'Brien-Smith", DOB)) == digests(person("zoe", "obrien smith", DOB))


def test_the_secret_matters() -> None:
    identity = person("Alex", "Example", DOB)
    assert digests(identity).isdisjoint(digests(identity, OTHER_SECRET))


def test_aliases_and_every_date_of_birth_are_indexed() -> None:
    other = dt.date(1991, 4, 1)
    identity = person("Alex", "Example", DOB, other, aliases=(("Sasha", "Other"),))
    assert digests(person("Sasha", "Other", other)) <= digests(identity)


def test_a_name_without_both_parts_gives_no_name_digest() -> None:
    pairs = identity_digests(person("", "Example", DOB), SECRET)
    assert [kind for kind, _ in pairs] == [INDEX_DOB]


def test_initial_digest_finds_a_name_given_by_initial() -> None:
    full = identity_digests(person("Jane", "Smith", DOB), SECRET)
    initial = identity_digests(person("J", "Smith", DOB), SECRET)
    assert {kind for kind, _ in full & initial} == {INDEX_INITIAL, INDEX_DOB}


def test_candidates_need_a_name_and_a_date_of_birth_in_common() -> None:
    hits = [
        ("case-both", INDEX_NAME), ("case-both", INDEX_DOB),
        ("case-initial", INDEX_INITIAL), ("case-initial", INDEX_DOB),
        ("case-name-only", INDEX_NAME), ("case-name-only", INDEX_INITIAL),
        ("case-dob-only", INDEX_DOB),
    ]
    assert cases_sharing_name_and_dob(hits) == {"case-both", "case-initial"}


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20),
       st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 1, 1)),
       st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 1, 1)),
       st.booleans(), st.booleans())
def test_the_index_never_misses_what_match_victim_would_match(
    given_name: str, family: str, dob: dt.date, other_dob: dt.date, initial: bool, alias: bool
) -> None:
    """Every case `match_victim` matches is also an index candidate (the index only narrows)."""
    existing = person(given_name, family, dob)
    written = given_name.strip()[:1] if initial else given_name.upper()
    candidate = (person("Someone", "Else", dob, other_dob, aliases=((written, family),))
                 if alias else person(written, family, dob, other_dob))
    if not match_victim(candidate, [Case("c", existing)]):
        return
    hits = [("c", kind) for kind, d in identity_digests(existing, SECRET)
            if (kind, d) in identity_digests(candidate, SECRET)]
    assert cases_sharing_name_and_dob(hits) == {"c"}


def test_merge_draft_replaces_whole_sections_and_keeps_the_rest() -> None:
    stored = {"area_id": "northshire", "victim": {"name": {"given": "A", "family": "B"},
                                                  "phone": "0"},
              "incidents": [{"summary": "one"}, {"summary": "two"}]}
    merged = merge_draft(stored, {"victim": {"name": {"given": "C", "family": "D"}},
                                  "incidents": [{"summary": "two"}]})
    assert merged == {"area_id": "northshire", "victim": {"name": {"given": "C", "family": "D"}},
                      "incidents": [{"summary": "two"}]}
    assert stored["incidents"] == [{"summary": "one"}, {"summary": "two"}]
    assert merge_draft(stored, {}) == stored
