"""Victim identity matching: name folding and the two-field (name and date of birth) rule."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.referral.domain import (
    ExistingCase,
    IdentityMatch,
    PersonName,
    VictimIdentity,
    match_victim,
    normalise_name,
)

DOB = dt.date(1990, 4, 1)
OTHER_DOB = dt.date(1990, 1, 4)


def person(
    given: str,
    family: str,
    dobs: tuple[dt.date, ...] = (DOB,),
    aliases: tuple[tuple[str, str], ...] = (),
) -> VictimIdentity:
    return VictimIdentity(
        name=PersonName(given, family),
        aliases=tuple(PersonName(g, f) for g, f in aliases),
        dates_of_birth=frozenset(dobs),
    )


def case(case_id: str, victim: VictimIdentity) -> ExistingCase:
    return ExistingCase(case_id=case_id, victim=victim)


# --- normalise_name --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zoë", "zoe"),
        ("ZOË", "zoe"),
        ("Zoe\u0308", "zoe"),  # combining diaeresis, already decomposed
        ("José María", "jose maria"),
        ("Smith-Jones", "smith jones"),
        ("Smith \u2013 Jones", "smith jones"),  # en dash with spaces
        ("Smith\u2011Jones", "smith jones"),  # non-breaking hyphen
        ("O'Brien", "obrien"),
        ("O\u2019Brien", "obrien"),  # typographic apostrophe
        ("  Anne   Marie\tSmith \n", "anne marie smith"),
        ("Dr. J. Smith", "dr j smith"),
        ("Straße", "strasse"),  # casefold, not lower
        ("\uff2a\uff4f\uff48\uff4e", "john"),  # full-width letters (NFKD)
        ("Øyvind", "øyvind"),  # no decomposition: kept as it is
        ("Ann\u200bSmith", "annsmith"),  # zero-width space is a format character
        ("", ""),
        ("-'.", ""),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


@given(st.text())
def test_normalise_name_is_idempotent(raw: str) -> None:
    once = normalise_name(raw)
    assert normalise_name(once) == once
    assert once == once.strip()
    assert "  " not in once


# --- match_victim ----------------------------------------------------------------------
def test_same_name_and_dob_match() -> None:
    matches = match_victim(person("Zoe", "Smith"), [case("c1", person("Zoe", "Smith"))])
    assert matches == [IdentityMatch("c1", ("name:exact", "dob:exact"))]


def test_accents_case_and_hyphens_do_not_matter() -> None:
    candidate = person("ZOË", "Smith-Jones")
    existing = case("c1", person("zoe", "Smith Jones"))
    assert match_victim(candidate, [existing]) == [IdentityMatch("c1", ("name:exact", "dob:exact"))]


def test_match_through_an_alias_on_either_side() -> None:
    married = person("Zoe", "Brown", aliases=(("Zoe", "Smith"),))
    maiden = person("Zoe", "Smith")
    expected = [IdentityMatch("c1", ("name:alias", "dob:exact"))]
    assert match_victim(maiden, [case("c1", married)]) == expected
    assert match_victim(married, [case("c1", maiden)]) == expected


def test_match_through_any_of_several_dates_of_birth() -> None:
    candidate = person("Zoe", "Smith", dobs=(OTHER_DOB,))
    existing = person("Zoe", "Smith", dobs=(DOB, OTHER_DOB))
    assert len(match_victim(candidate, [case("c1", existing)])) == 1


def test_initial_matches_the_full_given_name() -> None:
    matches = match_victim(person("Z.", "Smith"), [case("c1", person("Zoe Ann", "Smith"))])
    assert matches == [IdentityMatch("c1", ("name:initial", "dob:exact"))]
    matches = match_victim(person("Zoe Ann", "Smith"), [case("c1", person("Z A", "Smith"))])
    assert matches == [IdentityMatch("c1", ("name:initial", "dob:exact"))]


@pytest.mark.parametrize(
    ("candidate", "existing"),
    [
        (person("Zoe", "Smith"), person("Zoe", "Smith", dobs=(OTHER_DOB,))),  # different DOB
        (person("Zoe", "Smith"), person("Zoe", "Smith", dobs=())),  # DOB unknown
        (person("Zoe", "Smith", dobs=()), person("Zoe", "Smith")),
        (person("Zoe", "Smith"), person("Amy", "Jones")),  # same DOB, different name
        (person("Zoe", "Smith"), person("Zara", "Smith")),  # same family, different given
        (person("Zoe", "Smith"), person("Zoe", "Smyth")),  # no fuzzy spelling
        (person("Zoe", "Smith"), person("Smith", "Zoe")),  # no swapping of parts
        (person("Zoe", "Smith"), person("Zoe", "")),  # a name part missing is too weak
        (person("Zoe", ""), person("Zoe", "")),
        (person("Zoe Ann", "Smith"), person("Zoe", "Smith")),  # middle name on one side only
        (person("Z", "Smith"), person("Amy", "Smith")),  # initial differs
        (person("Zoe", "Smith"), person("Amy", "Jones", aliases=(("Zoe", "Smyth"),))),
    ],
)
def test_no_match(candidate: VictimIdentity, existing: VictimIdentity) -> None:
    assert match_victim(candidate, [case("c1", existing)]) == []


@pytest.mark.parametrize(
    "existing",
    [
        person("Zoe", "Smith", dobs=(OTHER_DOB,)),  # name alone
        person("Amy", "Jones"),  # date of birth alone
        person("Amy", "Jones", dobs=(OTHER_DOB,), aliases=(("Zoe", "Smith"),)),  # alias alone
    ],
)
def test_a_single_field_never_matches(existing: VictimIdentity) -> None:
    assert match_victim(person("Zoe", "Smith"), [case("c1", existing)]) == []


def test_name_and_dob_may_come_from_different_records_only_within_one_case() -> None:
    # Name from one case and DOB from another must not combine into a match.
    cases = [
        case("name-only", person("Zoe", "Smith", dobs=(OTHER_DOB,))),
        case("dob-only", person("Amy", "Jones")),
    ]
    assert match_victim(person("Zoe", "Smith"), cases) == []


def test_grounds_are_codes_not_names() -> None:
    candidate = person("Zoë", "Smith", aliases=(("Z", "Brown"),))
    existing = person("Zoe", "Smith", aliases=(("Zoe", "Brown"),))
    [match] = match_victim(candidate, [case("c1", existing)])
    assert match.grounds == ("name:exact", "name:initial", "dob:exact")
    for ground in match.grounds:
        assert ground.split(":")[0] in {"name", "dob"}
        assert "zo" not in ground.casefold()
        assert "smith" not in ground.casefold()


def test_results_are_ordered_strongest_first_then_by_case_id() -> None:
    candidate = person("Zoe", "Smith", aliases=(("Zoe", "Brown"),))
    cases = [
        case("c3", person("Z", "Smith")),
        case("c2", person("Zoe", "Brown")),
        case("c9", person("Amy", "Jones")),
        case("c1", person("Zoe", "Smith")),
        case("c0", person("Zoe", "Brown")),
    ]
    assert [m.case_id for m in match_victim(candidate, cases)] == ["c1", "c0", "c2", "c3"]


def test_from_form_reads_a_loaded_victim() -> None:
    victim = {
        "name": {"given": "Zoë", "family": "Smith"},
        "aliases": [{"given": "Zoe"}, {"given": "Zoe", "family": "Brown"}],
        "dates_of_birth": [DOB, OTHER_DOB],
    }
    identity = VictimIdentity.from_form(victim)
    assert identity.name == PersonName("Zoë", "Smith")
    assert identity.aliases == (PersonName("Zoe", ""), PersonName("Zoe", "Brown"))
    assert identity.dates_of_birth == {DOB, OTHER_DOB}
    assert VictimIdentity.from_form({}) == VictimIdentity(PersonName())
    existing = case("c1", person("Zoe", "Brown", dobs=(OTHER_DOB,)))
    assert match_victim(identity, [existing]) == [IdentityMatch("c1", ("name:alias", "dob:exact"))]


def test_from_form_reads_a_stored_victim_too() -> None:
    stored = {"name": {"given": "Zoë", "family": "Smith"}, "aliases": None,
              "dates_of_birth": [DOB.isoformat()]}
    assert VictimIdentity.from_form(stored) == VictimIdentity(
        PersonName("Zoë", "Smith"), (), frozenset({DOB}))
    assert VictimIdentity.from_form({"name": None}) == VictimIdentity(PersonName())
