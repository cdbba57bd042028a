"""The area risk-policy schema: SafeLives defaults, local thresholds, errors by field."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields

from services.risk.domain import Band, RiskPolicy, RiskPolicySchema


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
