"""The shipped DASH checklists, the checklist file schema, and the area risk-policy schema."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields

from services.risk.checklists import (
    ChecklistError,
    UnknownChecklistVersion,
    get_checklist,
    largest_checklist_length,
    load_checklists,
    parse_checklist,
    shipped_checklists,
)
from services.risk.domain import (
    HIGH_WEIGHT_FACTORS,
    Band,
    Checklist,
    Question,
    RiskPolicy,
    RiskPolicySchema,
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


# --------------------------------------------------------------------------- policy schema


def test_policy_defaults_are_safelives() -> None:
    policy = RiskPolicySchema(max_threshold=27).load({})
    assert policy == RiskPolicy()
    assert policy.visible_high_risk_threshold == 14
    assert policy.bands == (Band("standard", 0), Band("medium", 10), Band("high", 14))
    assert (policy.escalation_count, policy.escalation_window_days) == (3, 365)
    assert policy.repeat_window_months == 12


def test_policy_default_maximum_is_the_longest_shipped_checklist() -> None:
    assert (
        RiskPolicySchema().load({"visible_high_risk_threshold": 27}).visible_high_risk_threshold
        == 27
    )
    with pytest.raises(ValidationError) as info:
        RiskPolicySchema().load({"visible_high_risk_threshold": 28})
    assert "visible_high_risk_threshold" in info.value.messages_dict


def test_local_policies_load() -> None:
    cambridgeshire = RiskPolicySchema(max_threshold=27).load({"visible_high_risk_threshold": 17})
    assert cambridgeshire.visible_high_risk_threshold == 17
    kent = RiskPolicySchema(max_threshold=27).load({"escalation_window_days": 183})
    assert kent.escalation_window_days == 183
    custom = RiskPolicySchema(max_threshold=27).load(
        {"bands": [{"name": "standard", "min_yes": 0}, {"name": "high", "min_yes": 17}]}
    )
    assert custom.bands == (Band("standard", 0), Band("high", 17))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"visible_high_risk_threshold": 0}, "visible_high_risk_threshold"),
        ({"visible_high_risk_threshold": 25}, "visible_high_risk_threshold"),
        ({"visible_high_risk_threshold": "14"}, "visible_high_risk_threshold"),
        ({"bands": []}, "bands"),
        ({"bands": [{"name": "standard", "min_yes": 1}]}, "bands"),
        (
            {
                "bands": [
                    {"name": "a", "min_yes": 0},
                    {"name": "b", "min_yes": 10},
                    {"name": "c", "min_yes": 10},
                ]
            },
            "bands",
        ),
        ({"bands": [{"name": "a", "min_yes": 0}, {"name": "a", "min_yes": 5}]}, "bands"),
        ({"bands": [{"name": "a", "min_yes": 0}, {"name": "b", "min_yes": 25}]}, "bands"),
        ({"bands": [{"name": "a", "min_yes": -1}]}, "bands"),
        ({"escalation_count": 0}, "escalation_count"),
        ({"escalation_window_days": 0}, "escalation_window_days"),
        ({"repeat_window_months": 0}, "repeat_window_months"),
        ({"threshold": 14}, "threshold"),
    ],
)
def test_policy_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RiskPolicySchema(max_threshold=24).load(data)
    assert field in info.value.messages_dict


def test_policy_nests_under_risk_in_the_area_configuration() -> None:
    class AreaConfigSchema(Schema):
        risk = fields.Nested(RiskPolicySchema, load_default=RiskPolicy)

    assert AreaConfigSchema().load({})["risk"] == RiskPolicy()
    assert AreaConfigSchema().load({"risk": {"visible_high_risk_threshold": 17}})[
        "risk"
    ] == RiskPolicy(visible_high_risk_threshold=17)
    with pytest.raises(ValidationError) as info:
        AreaConfigSchema().load({"risk": {"visible_high_risk_threshold": 99}})
    assert "visible_high_risk_threshold" in info.value.messages_dict["risk"]


def test_policy_dataclass_guards_its_invariants() -> None:
    with pytest.raises(ValueError):
        RiskPolicy(bands=(Band("a", 0), Band("b", 0)))
    with pytest.raises(ValueError):
        RiskPolicy(visible_high_risk_threshold=0)
    with pytest.raises(ValueError):
        RiskPolicy(escalation_window_days=0)
