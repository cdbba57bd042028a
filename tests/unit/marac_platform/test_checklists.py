"""The shipped DASH checklists, the checklist file schema and answer validation."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marac_platform.checklists import (
    HIGH_WEIGHT_FACTORS,
    INVALID_ANSWER,
    UNKNOWN_QUESTION,
    AnswerProblem,
    Checklist,
    ChecklistAnswersError,
    ChecklistError,
    IncompleteChecklist,
    InvalidAnswers,
    Question,
    UnknownChecklistVersion,
    get_checklist,
    largest_checklist_length,
    load_checklists,
    parse_checklist,
    shipped_checklists,
    validate_answers,
)

PARTNER = "dash-partner-2009-v1"
POLICE = "dash-police-v1"


def topic(question: Question) -> str:
    """The part of an id after "qNN-", shared by the same question in both versions."""
    return question.id.split("-", 1)[1]


# --------------------------------------------------------------------------- shipped files


def test_both_shipped_checklists_load() -> None:
    checklists = shipped_checklists()
    assert set(checklists) >= {PARTNER, POLICE}
    assert len(checklists[PARTNER].questions) == 24
    assert len(checklists[POLICE].questions) == 27
    assert checklists[PARTNER].audience == "partner"
    assert checklists[POLICE].audience == "police"


@pytest.mark.parametrize("version", [PARTNER, POLICE])
def test_ids_unique_and_numbers_one_to_n(version: str) -> None:
    checklist = get_checklist(version)
    ids = [q.id for q in checklist.questions]
    assert len(ids) == len(set(ids))
    assert [q.number for q in checklist.questions] == list(range(1, len(checklist) + 1))
    assert checklist.version == version
    assert not checklist.allow_missing


@pytest.mark.parametrize("version", [PARTNER, POLICE])
def test_question_ids_carry_their_number(version: str) -> None:
    for question in get_checklist(version).questions:
        assert question.id.startswith(f"q{question.number:02d}-")


def test_police_version_inserts_three_children_questions_after_nine() -> None:
    partner = get_checklist(PARTNER).questions
    police = get_checklist(POLICE).questions
    assert police[:9] == partner[:9]
    assert [q.group for q in police[9:12]] == ["children-dependants"] * 3
    assert all(q.group != "children-dependants" for q in partner)
    # partner 10-24 become police 13-27: same topic, label, group and factor.
    for p, q in zip(partner[9:], police[12:], strict=True):
        assert q.number == p.number + 3
        assert (topic(q), q.label, q.group, q.high_weight_factor) == (
            topic(p),
            p.label,
            p.group,
            p.high_weight_factor,
        )


def test_every_high_weight_factor_code_is_tagged_somewhere() -> None:
    partner = get_checklist(PARTNER)
    tagged = {q.high_weight_factor for q in partner.questions} - {None}
    assert tagged == HIGH_WEIGHT_FACTORS
    # escalation is asked twice (more often; getting worse)
    assert [q.number for q in partner.questions if q.high_weight_factor == "escalation"] == [10, 11]


def test_unknown_version_is_an_error() -> None:
    with pytest.raises(UnknownChecklistVersion):
        get_checklist("dash-nonexistent-v9")


def test_largest_checklist_length() -> None:
    assert largest_checklist_length() == 27
    assert largest_checklist_length({PARTNER: get_checklist(PARTNER)}) == 24


# --------------------------------------------------------------------------- file schema


def minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "dash-young-person-v1",
        "title": "Young person variant",
        "audience": "partner",
        "questions": [
            {"id": "q01-injury", "number": 1, "label": "Injury", "group": "current-situation"},
            {
                "id": "q02-strangulation",
                "number": 2,
                "label": "Strangled",
                "group": "abuse-history",
                "high_weight_factor": "strangulation",
            },
        ],
    }
    data.update(overrides)
    return data


def test_parse_minimal_checklist() -> None:
    checklist = parse_checklist(minimal())
    assert checklist == Checklist(
        version="dash-young-person-v1",
        title="Young person variant",
        audience="partner",
        questions=(
            Question("q01-injury", 1, "Injury", "current-situation"),
            Question("q02-strangulation", 2, "Strangled", "abuse-history", "strangulation"),
        ),
        allow_missing=False,
    )


def messages(data: dict[str, Any]) -> str:
    with pytest.raises(ChecklistError) as info:
        parse_checklist(data, source="x.yaml")
    assert str(info.value).startswith("x.yaml: ")
    return str(info.value)


def test_duplicate_ids_rejected() -> None:
    data = minimal()
    data["questions"][1]["id"] = "q01-injury"
    assert "Duplicate question ids: q01-injury" in messages(data)


@pytest.mark.parametrize("numbers", [(1, 3), (2, 1), (0, 1), (1, 1)])
def test_numbers_must_be_one_to_n_in_order(numbers: tuple[int, int]) -> None:
    data = minimal()
    for question, number in zip(data["questions"], numbers, strict=True):
        question["number"] = number
    assert "questions" in messages(data)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("audience",), "victim", "audience"),
        (("questions", 1, "high_weight_factor"), "guns", "high_weight_factor"),
        (("questions", 0, "answer"), "yes", "answer"),  # unknown key
        (("questions",), [], "questions"),
        (("version",), "DASH v1", "version"),
        (("questions", 0, "label"), "", "label"),
    ],
)
def test_invalid_checklists_name_the_field(path: tuple[Any, ...], value: Any, field: str) -> None:
    data = copy.deepcopy(minimal())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert field in messages(data)


def test_a_file_must_hold_a_mapping() -> None:
    with pytest.raises(ChecklistError):
        parse_checklist(["not", "a", "mapping"])  # type: ignore[arg-type]


class MemoryFile:
    """An in-memory stand-in for a Traversable file, so folder loading needs no disk."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._text = text

    def is_file(self) -> bool:
        return True

    def read_text(self, encoding: str = "utf-8") -> str:
        return self._text


class MemoryFolder:
    def __init__(self, *files: MemoryFile) -> None:
        self.name = "checklists"
        self._files = files

    def iterdir(self) -> Iterator[MemoryFile]:
        return iter(self._files)


YOUNG_PERSON_YAML = """
version: dash-young-person-v1
title: Young person variant
audience: partner
allow_missing: true
questions:
  - {id: q01-injury, number: 1, label: Injury, group: current-situation}
"""


def test_adding_a_version_is_adding_a_file() -> None:
    folder = MemoryFolder(
        MemoryFile("dash-young-person-v1.yaml", YOUNG_PERSON_YAML),
        MemoryFile("README.txt", "not a checklist"),
    )
    loaded = load_checklists(folder)  # type: ignore[arg-type]
    assert list(loaded) == ["dash-young-person-v1"]
    assert loaded["dash-young-person-v1"].allow_missing


def test_file_name_must_be_the_version() -> None:
    folder = MemoryFolder(MemoryFile("young.yaml", YOUNG_PERSON_YAML))
    with pytest.raises(ChecklistError, match=r"file name must be dash-young-person-v1\.yaml"):
        load_checklists(folder)  # type: ignore[arg-type]


def test_unparseable_yaml_is_a_checklist_error() -> None:
    folder = MemoryFolder(MemoryFile("broken.yaml", "questions: [unclosed"))
    with pytest.raises(ChecklistError, match=r"broken\.yaml"):
        load_checklists(folder)  # type: ignore[arg-type]


def test_empty_folder_is_an_error() -> None:
    with pytest.raises(ChecklistError):
        load_checklists(MemoryFolder())  # type: ignore[arg-type]


def test_checklist_dataclass_guards_its_invariants() -> None:
    q = Question("q01-injury", 1, "Injury", "current-situation")
    with pytest.raises(ValueError):
        Checklist("v", "t", "partner", (q, q))
    with pytest.raises(ValueError):
        Checklist("v", "t", "partner", (Question("a", 2, "A", "g"),))
    with pytest.raises(ValueError):
        Checklist("v", "t", "both", (q,))
    with pytest.raises(ValueError):
        Question("a", 1, "A", "g", high_weight_factor="guns")


# --------------------------------------------------------------------------- answers


def all_answered(checklist: Checklist, value: str = "no") -> dict[str, str]:
    return {q.id: value for q in checklist.questions}


@pytest.mark.parametrize("version", [PARTNER, POLICE])
def test_complete_answers_have_nothing_missing(version: str) -> None:
    checklist = get_checklist(version)
    assert validate_answers(checklist, all_answered(checklist)) == ()


def test_missing_answers_are_listed_in_question_order() -> None:
    checklist = get_checklist(PARTNER)
    answers = all_answered(checklist)
    del answers["q15-strangulation"], answers["q02-very-frightened"]
    with pytest.raises(IncompleteChecklist) as info:
        validate_answers(checklist, answers)
    assert info.value.missing_question_ids == ("q02-very-frightened", "q15-strangulation")


def test_a_version_may_allow_missing_answers() -> None:
    checklist = parse_checklist({**minimal(), "allow_missing": True})
    assert validate_answers(checklist, {"q01-injury": "yes"}) == ("q02-strangulation",)


def test_invalid_answers_come_before_missing_ones() -> None:
    checklist = get_checklist(PARTNER)
    answers = {"q01-injury": "maybe", "zz-unknown": "yes", "aa-unknown": "no"}
    with pytest.raises(InvalidAnswers) as info:
        validate_answers(checklist, answers)
    assert info.value.problems == (
        AnswerProblem("q01-injury", INVALID_ANSWER),
        AnswerProblem("aa-unknown", UNKNOWN_QUESTION),
        AnswerProblem("zz-unknown", UNKNOWN_QUESTION),
    )
    # the caller's unknown ids may be personal data: counted in the message, never named
    assert "zz-unknown" not in str(info.value)
    assert "q01-injury" in str(info.value)


def test_answer_errors_share_one_base() -> None:
    assert issubclass(IncompleteChecklist, ChecklistAnswersError)
    assert issubclass(InvalidAnswers, ChecklistAnswersError)


@given(
    st.dictionaries(
        st.sampled_from(get_checklist(POLICE).question_ids),
        st.sampled_from(["yes", "no", "dont_know"]),
    )
)
def test_valid_values_are_never_invalid(answers: dict[str, str]) -> None:
    checklist = get_checklist(POLICE)
    try:
        missing = validate_answers(checklist, answers)
    except IncompleteChecklist as exc:
        missing = exc.missing_question_ids
    assert set(missing) == set(checklist.question_ids) - set(answers)
