"""Referral form schemas: submit and draft rules, error paths, limits, the personal-data split."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from marac_platform import payloads
from marac_platform.problems import flatten_messages
from services.referral import schemas
from services.referral.schemas import (
    PERSONAL_FIELDS,
    ReferralDraftSchema,
    ReferralSubmitSchema,
    merge_personal,
    split_personal,
)

TODAY = schemas._today()
FUTURE = (TODAY + dt.timedelta(days=2)).isoformat()


def full_form() -> dict[str, Any]:
    """A complete referral; every personal string contains "PII" so leaks are easy to spot."""
    return {
        "referrer": {
            "name": "PII referrer name",
            "agency_id": "police-norfolk",
            "role": "Response officer",
            "secure_email": "pii.referrer@police.example.gov.uk",
            "phone": "01603 000000",
        },
        "area_id": "norfolk-central",
        "area_chosen_by_referrer": False,
        "victim": {
            "name": {"given": "PII Zoë", "family": "PII Smith-Jones"},
            "aliases": [{"given": "PII Zoe"}, {"family": "PII Jones"}],
            "dates_of_birth": ["1990-04-01", "1990-01-04"],
            "age_estimate": 34,
            "address": {
                "lines": ["PII 1 Some Street"],
                "town": "PII Norwich",
                "postcode": "NR1 1AA",
            },
            "address_unknown": False,
            "phone": "+44 7700 900000",
            "safe_to_call": True,
            "safe_times": "PII weekdays 10-12",
            "language": "English",
            "interpreter_needed": False,
            "gender": "female",
        },
        "diversity": {
            "ethnicity": "white_british",
            "disability": "prefer_not_to_say",
            "lgbt_plus": "no",
            "gender": "female",
            "age_band": "25_34",
        },
        "perpetrators": [
            {
                "name": {"given": "PII Dave"},
                "aliases": [{"given": "PII Davey", "family": "PII Brown"}],
                "date_of_birth": "1985-02-03",
                "relationship_to_victim": "ex_partner",
                "address": {"town": "PII Ipswich"},
            }
        ],
        "children": [
            {
                "name": {"given": "PII Kid"},
                "date_of_birth": "2018-06-07",
                "relationship_to_victim": "child",
                "relationship_to_perpetrator": "none",
                "school": "PII Primary School",
                "address": {"postcode": "NR2 2BB"},
            }
        ],
        "incidents": [
            {"date": "2024-10-01", "summary": "PII pushed down stairs", "police_reference": "NC-1"}
        ],
        "criteria_claimed": ["visible_high_risk", "professional_judgement", "repeat"],
        "professional_judgement_narrative": "PII strangulation and separation",
        "police_callouts_last_12_months": 2,
        "police_callout_dates": ["2024-09-01", "2024-10-01"],
        "consent": {"status": "not_sought_unsafe", "reason": "PII he reads her messages"},
        "victim_fears": "PII being killed",
        "safe_contacts": [{"name": "PII Mum", "relationship": "mother", "note": "PII call"}],
        "unsafe_contacts": [{"name": "PII Brother"}],
        "safeguarding_in_place": "PII police marker on address",
        "previous_marac_referrals": [{"area_name": "Suffolk", "date": "2024-01-15"}],
        "dash": {
            "checklist_version": "safelives-2015-partner",
            "answers": {"1": "yes", "2": "no", "3": "dont_know"},
            "comments": {"1": "PII bruises"},
            "answered_by": {"who": "victim", "note": "PII in person"},
        },
    }


def dotted_errors(messages: dict[Any, Any]) -> dict[str, list[str]]:
    """The reasons by marshmallow's own dotted path (`incidents.0.date`, `x._schema`)."""
    flat: dict[str, list[str]] = {}
    for error in flatten_messages(messages, dotted=True):
        flat.setdefault(error["field"], []).append(error["reason"])
    return flat


def submit_errors(form: dict[str, Any]) -> dict[str, list[str]]:
    return dotted_errors(ReferralSubmitSchema().validate(form))


def draft_errors(form: dict[str, Any]) -> dict[str, list[str]]:
    return dotted_errors(ReferralDraftSchema().validate(form))


def _key(node: Any, part: str) -> str | int:
    return int(part) if isinstance(node, list) else part


def _parent(form: Any, path: str) -> tuple[Any, str | int]:
    *parts, last = path.split(".")
    node = form
    for part in parts:
        node = node[_key(node, part)]
    return node, _key(node, last)


def without(path: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    form = full_form() if form is None else form
    node, key = _parent(form, path)
    del node[key]
    return form


def with_value(path: str, value: Any, form: dict[str, Any] | None = None) -> dict[str, Any]:
    form = full_form() if form is None else form
    node, key = _parent(form, path)
    node[key] = value
    return form


# --- whole form ------------------------------------------------------------------------
def test_full_form_is_valid_for_submit_and_draft() -> None:
    assert submit_errors(full_form()) == {}
    assert draft_errors(full_form()) == {}


def test_load_then_dump_gives_back_the_form() -> None:
    schema = ReferralSubmitSchema()
    assert schema.dump(schema.load(full_form())) == full_form()


def test_empty_draft_is_valid() -> None:
    assert draft_errors({}) == {}


@pytest.mark.parametrize(
    "form",
    [
        {"victim": {"name": {"given": "Ann"}}},
        {"referrer": {"secure_email": "a@b.example"}, "area_id": "x1"},
        {"perpetrators": [{"relationship_to_victim": "partner"}], "incidents": [{}]},
        {"consent": {"status": "not_given"}},
        {"criteria_claimed": ["professional_judgement"]},
        {"victim": {"address": {}}, "perpetrators": [{"name": {}}]},
        {"previous_marac_referrals": [{"date": "2024-01-01"}]},
        {"dash": {"checklist_version": "v1", "answers": {"1": "yes"}}},
    ],
)
def test_partial_draft_is_valid(form: dict[str, Any]) -> None:
    assert draft_errors(form) == {}


def test_draft_still_checks_what_is_present() -> None:
    errors = draft_errors(
        {
            "victim": {"gender": "unknown-code", "dates_of_birth": [FUTURE]},
            "criteria_claimed": ["hunch"],
            "incidents": [{"date": FUTURE}],
        }
    )
    assert set(errors) == {
        "victim.gender",
        "victim.dates_of_birth.0",
        "criteria_claimed.0",
        "incidents.0.date",
    }


# --- required on submit ----------------------------------------------------------------
REQUIRED_ON_SUBMIT = [
    "referrer",
    "referrer.name",
    "referrer.agency_id",
    "referrer.role",
    "referrer.secure_email",
    "area_id",
    "victim",
    "victim.name",
    "victim.name.given",
    "victim.name.family",
    "perpetrators",
    "perpetrators.0.name",
    "perpetrators.0.relationship_to_victim",
    "children.0.relationship_to_victim",
    "children.0.relationship_to_perpetrator",
    "incidents",
    "incidents.0.date",
    "incidents.0.summary",
    "criteria_claimed",
    "consent",
    "consent.status",
    "safe_contacts.0.name",
    "unsafe_contacts.0.name",
    "previous_marac_referrals.0.date",
    "dash",
    "dash.checklist_version",
    "dash.answers",
    "dash.answered_by",
    "dash.answered_by.who",
]


@pytest.mark.parametrize("path", REQUIRED_ON_SUBMIT)
def test_required_field_missing_on_submit_is_reported_at_its_path(path: str) -> None:
    assert submit_errors(without(path)) == {path: ["Missing data for required field."]}


@pytest.mark.parametrize("path", [p for p in REQUIRED_ON_SUBMIT if not p.startswith("dash.")])
def test_required_field_missing_is_fine_in_a_draft(path: str) -> None:
    assert draft_errors(without(path)) == {}


def test_dash_needs_its_checklist_version_even_in_a_draft() -> None:
    assert set(draft_errors(without("dash.checklist_version"))) == {"dash.checklist_version"}


@pytest.mark.parametrize("path", ["perpetrators", "incidents", "criteria_claimed"])
def test_empty_list_is_rejected_on_submit_only(path: str) -> None:
    assert submit_errors(with_value(path, [])) == {path: ["At least one is required."]}
    assert draft_errors(with_value(path, [])) == {}


def test_victim_needs_a_date_of_birth_or_an_age_estimate() -> None:
    form = without("victim.dates_of_birth", without("victim.age_estimate"))
    assert set(submit_errors(form)) == {"victim.dates_of_birth"}
    form = with_value("victim.dates_of_birth", [], without("victim.age_estimate"))
    assert set(submit_errors(form)) == {"victim.dates_of_birth"}


def test_age_estimate_alone_is_enough() -> None:
    assert submit_errors(without("victim.dates_of_birth")) == {}


def test_one_date_of_birth_alone_is_enough() -> None:
    form = with_value("victim.dates_of_birth", ["1990-04-01"], without("victim.age_estimate"))
    assert submit_errors(form) == {}


def test_victim_address_or_address_unknown_on_submit() -> None:
    assert set(submit_errors(without("victim.address"))) == {"victim.address"}
    form = with_value("victim.address_unknown", True, without("victim.address"))
    form["area_chosen_by_referrer"] = True
    assert submit_errors(form) == {}


def test_unknown_address_means_the_referrer_chose_the_area() -> None:
    form = with_value("victim.address_unknown", True, without("victim.address"))
    assert set(submit_errors(form)) == {"area_chosen_by_referrer"}


def test_address_and_address_unknown_contradict_even_in_a_draft() -> None:
    form = {"victim": {"address": {"town": "X"}, "address_unknown": True}}
    assert set(draft_errors(form)) == {"victim.address_unknown"}


def test_phone_needs_safe_to_call_on_submit() -> None:
    assert set(submit_errors(without("victim.safe_to_call"))) == {"victim.safe_to_call"}
    assert submit_errors(without("victim.phone", without("victim.safe_to_call"))) == {}


def test_empty_name_and_address_objects_are_rejected_on_submit() -> None:
    form = with_value("perpetrators.0.name", {}, with_value("victim.address", {}))
    assert set(submit_errors(form)) == {"perpetrators.0.name._schema", "victim.address._schema"}


def test_previous_referral_needs_an_area_on_submit() -> None:
    form = without("previous_marac_referrals.0.area_name")
    assert set(submit_errors(form)) == {"previous_marac_referrals.0.area_id"}
    form["previous_marac_referrals"][0]["area_id"] = "suffolk"
    assert submit_errors(form) == {}


# --- criteria rules --------------------------------------------------------------------
def test_professional_judgement_needs_its_narrative() -> None:
    errors = submit_errors(without("professional_judgement_narrative"))
    assert errors == {
        "professional_judgement_narrative": ["Required when professional_judgement is claimed."]
    }


def test_narrative_not_needed_without_professional_judgement() -> None:
    form = without("professional_judgement_narrative")
    form["criteria_claimed"] = ["visible_high_risk"]
    assert submit_errors(form) == {}


def test_professional_judgement_rule_is_reported_alongside_field_errors() -> None:
    form = without("professional_judgement_narrative", without("area_id"))
    assert set(submit_errors(form)) == {"area_id", "professional_judgement_narrative"}


def test_draft_may_claim_professional_judgement_before_writing_it() -> None:
    assert draft_errors(without("professional_judgement_narrative")) == {}


def test_dash_may_be_submitted_without_answers() -> None:
    form = with_value("dash.answers", {})
    form["dash"]["answered_by"] = {"who": "professional", "note": "victim declined"}
    assert submit_errors(form) == {}


def test_potential_escalation_needs_the_callout_count() -> None:
    form = without("police_callouts_last_12_months")
    assert submit_errors(form) == {}
    form["criteria_claimed"] = ["potential_escalation"]
    assert set(submit_errors(form)) == {"police_callouts_last_12_months"}


def test_repeat_needs_a_previous_referral() -> None:
    assert set(submit_errors(without("previous_marac_referrals"))) == {"previous_marac_referrals"}


def test_criteria_must_be_known_and_unique() -> None:
    assert set(submit_errors(with_value("criteria_claimed", ["gut_feeling"]))) == {
        "criteria_claimed.0"
    }
    assert set(submit_errors(with_value("criteria_claimed", ["repeat", "repeat"]))) == {
        "criteria_claimed"
    }


# --- consent ---------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["not_given", "not_sought_unsafe"])
def test_consent_reason_required_unless_given(status: str) -> None:
    form = with_value("consent", {"status": status})
    assert submit_errors(form) == {"consent.reason": ["Required unless consent is given."]}
    assert draft_errors(form) == {}


def test_consent_given_needs_no_reason() -> None:
    assert submit_errors(with_value("consent", {"status": "given"})) == {}


def test_consent_status_must_be_known() -> None:
    form = with_value("consent", {"status": "maybe", "reason": "x"})
    assert set(submit_errors(form)) == {"consent.status"}


# --- dates -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "incidents.0.date",
        "victim.dates_of_birth.0",
        "perpetrators.0.date_of_birth",
        "children.0.date_of_birth",
        "police_callout_dates.1",
        "previous_marac_referrals.0.date",
    ],
)
def test_future_dates_are_rejected(path: str) -> None:
    errors = submit_errors(with_value(path, FUTURE))
    assert errors == {path: ["Must not be in the future."]}
    assert draft_errors(with_value(path, FUTURE)) == errors


def test_incident_today_is_accepted() -> None:
    assert submit_errors(with_value("incidents.0.date", TODAY.isoformat())) == {}


def test_dates_before_1900_and_malformed_dates_are_rejected() -> None:
    assert set(submit_errors(with_value("incidents.0.date", "1899-12-31"))) == {"incidents.0.date"}
    assert set(submit_errors(with_value("incidents.0.date", "01/10/2024"))) == {"incidents.0.date"}


# --- unknown fields, types, sizes ------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["nickname", "victim.nickname", "victim.name.middle", "incidents.0.weapon", "dash.score"],
)
def test_unknown_field_is_rejected(path: str) -> None:
    form = with_value(path, "x")
    assert submit_errors(form) == {path: ["Unknown field."]}
    assert draft_errors(form) == {path: ["Unknown field."]}


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("victim.name.given", 200),
        ("referrer.name", 200),
        ("victim.address.lines.0", 200),
        ("incidents.0.summary", 10_000),
        ("professional_judgement_narrative", 10_000),
        ("victim_fears", 10_000),
        ("safeguarding_in_place", 10_000),
        ("consent.reason", 2_000),
        ("dash.comments.1", 2_000),
        ("safe_contacts.0.note", 2_000),
        ("children.0.school", 200),
    ],
)
def test_oversized_string_is_rejected(path: str, limit: int) -> None:
    assert submit_errors(with_value(path, "a" * limit)) == {}
    errors = submit_errors(with_value(path, "a" * (limit + 1)))
    assert list(errors) in ([path], [f"{path}.value"])


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("perpetrators", 50),
        ("incidents", 50),
        ("safe_contacts", 50),
        ("victim.aliases", 20),
        ("victim.address.lines", 6),
    ],
)
def test_oversized_list_is_rejected(path: str, limit: int) -> None:
    node, key = _parent(full_form(), path)
    item = node[key][0]
    assert submit_errors(with_value(path, [copy.deepcopy(item)] * limit)) == {}
    assert set(submit_errors(with_value(path, [copy.deepcopy(item)] * (limit + 1)))) == {path}


def test_too_many_dates_of_birth() -> None:
    dates = [f"1990-01-{day:02d}" for day in range(1, 12)]
    assert set(submit_errors(with_value("victim.dates_of_birth", dates))) == {
        "victim.dates_of_birth"
    }


@pytest.mark.parametrize("path", ["victim.name.given", "incidents.0.summary", "area_id"])
@pytest.mark.parametrize("value", ["", "   "])
def test_blank_strings_are_rejected(path: str, value: str) -> None:
    assert set(draft_errors(with_value(path, value))) == {path}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("victim.safe_to_call", "yes"),
        ("victim.safe_to_call", "true"),
        ("police_callouts_last_12_months", -1),
        ("police_callouts_last_12_months", "3"),
        ("police_callouts_last_12_months", 2.5),
        ("victim.age_estimate", 121),
        ("victim.address.postcode", "not a postcode"),
        ("victim.phone", "call me maybe"),
        ("referrer.secure_email", "not-an-email"),
        ("area_id", "has spaces"),
        ("diversity.ethnicity", "martian"),
        ("diversity.age_band", "16-17"),
        ("perpetrators.0.relationship_to_victim", "neighbour"),
        ("dash.answered_by.who", "robot"),
        ("victim.name", "Zoe Smith"),
        ("incidents", {"date": "2024-01-01"}),
    ],
)
def test_wrong_values_are_rejected_at_their_path(path: str, value: Any) -> None:
    errors = draft_errors(with_value(path, value))
    # A non-object where an object belongs is reported at the object's "_schema".
    assert set(errors) in ({path}, {f"{path}._schema"})


def test_dash_answers_and_question_ids_are_checked() -> None:
    errors = draft_errors(with_value("dash.answers", {"1": "maybe", "bad id!": "yes"}))
    assert set(errors) == {"dash.answers.1.value", "dash.answers.bad id!.key"}


@pytest.mark.parametrize("path", ["ethnicity", "disability", "lgbt_plus", "gender", "age_band"])
def test_every_diversity_field_allows_prefer_not_to_say(path: str) -> None:
    assert submit_errors(with_value(f"diversity.{path}", "prefer_not_to_say")) == {}


def test_postcode_forms_accepted() -> None:
    for postcode in ["nr1 1aa", "NR11AA", "EC1A 1BB", "W1A 0AX", "GIR 0AA", "M1 1AE"]:
        assert submit_errors(with_value("victim.address.postcode", postcode)) == {}, postcode


def test_error_messages_never_echo_values() -> None:
    secret = "PII-SECRET-VALUE"
    form = with_value("victim.address.postcode", secret)
    form = with_value("victim.phone", secret, form)
    form = with_value("consent.status", secret, form)
    form = with_value("victim.name.given", secret * 20, form)
    with pytest.raises(ValidationError) as caught:
        ReferralSubmitSchema().load(form)
    assert secret not in json.dumps(caught.value.messages)


def test_dotted_error_paths() -> None:
    nested = {"a": ["x"], "b": {0: {"c": ["y", "z"]}, "_schema": ["w"]}}
    assert dotted_errors(nested) == {"a": ["x"], "b.0.c": ["y", "z"], "b._schema": ["w"]}


def test_variants_have_distinct_component_names() -> None:
    assert ReferralDraftSchema.__name__ != ReferralSubmitSchema.__name__
    draft_victim = ReferralDraftSchema().fields["victim"]
    submit_victim = ReferralSubmitSchema().fields["victim"]
    assert isinstance(draft_victim, fields.Nested)
    assert isinstance(submit_victim, fields.Nested)
    assert type(draft_victim.schema).__name__ != type(submit_victim.schema).__name__


# --- personal data ---------------------------------------------------------------------
def _leaf_paths(schema: Schema, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in schema.fields.items():
        path = f"{prefix}.{name}" if prefix else name
        inner: Any = field
        suffix = ""
        if isinstance(field, fields.List):
            inner, suffix = field.inner, "[*]"
        if isinstance(inner, fields.Nested):
            nested = inner.schema
            assert isinstance(nested, Schema)
            paths |= _leaf_paths(nested, path + suffix)
        else:
            paths.add(path)  # a list of plain values is one leaf
    return paths


def _covered(path: str) -> bool:
    return any(
        path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in PERSONAL_FIELDS
    )


# Every leaf of the form that stays in the clear, and why it may. A new field fails
# test_every_field_is_classified until it is added here or to PERSONAL_FIELDS.
NOT_PERSONAL = {
    "referrer.agency_id",  # agency code
    "referrer.role",  # job title
    "area_id",
    "area_chosen_by_referrer",
    "victim.address_unknown",
    "victim.safe_to_call",
    "victim.language",  # operational: interpreters
    "victim.interpreter_needed",
    "victim.gender",
    "diversity.ethnicity",  # equality monitoring, counted per meeting
    "diversity.disability",
    "diversity.lgbt_plus",
    "diversity.gender",
    "diversity.age_band",
    "perpetrators[*].relationship_to_victim",
    "children[*].relationship_to_victim",
    "children[*].relationship_to_perpetrator",
    "incidents[*].date",  # timeliness is measured from it
    "incidents[*].police_reference",  # a police record id
    "criteria_claimed",
    "police_callouts_last_12_months",
    "police_callout_dates",
    "consent.status",
    "previous_marac_referrals[*].area_id",
    "previous_marac_referrals[*].date",  # the repeat clock
    "dash.checklist_version",
    "dash.answers",  # scored by the risk service
    "dash.answered_by.who",
}


def test_every_personal_path_is_a_form_field() -> None:
    leaves = _leaf_paths(ReferralSubmitSchema())
    for path in PERSONAL_FIELDS:
        assert any(
            leaf == path or leaf.startswith(path + ".") or leaf.startswith(path + "[")
            for leaf in leaves
        ), path


def test_every_field_is_classified() -> None:
    leaves = _leaf_paths(ReferralSubmitSchema())
    assert {leaf for leaf in leaves if not _covered(leaf)} == NOT_PERSONAL


def test_split_keeps_personal_values_out_of_the_clear_part() -> None:
    form = ReferralSubmitSchema().load(full_form())
    clear, personal = split_personal(form)
    clear_json = json.dumps(clear, default=str)
    assert "PII" not in clear_json
    assert "+44" not in clear_json and "NR1" not in clear_json
    for dob in ["1990-04-01", "1985-02-03", "2018-06-07"]:
        assert dob not in clear_json
    # ...and the personal part holds nothing else.
    assert "white_british" not in json.dumps(personal, default=str)
    assert personal["perpetrators"][0]["name"] == {"given": "PII Dave"}
    assert clear["perpetrators"][0] == {"relationship_to_victim": "ex_partner"}
    assert merge_personal(clear, personal) == form


def test_a_previous_referrals_area_name_is_personal_and_its_area_id_is_not() -> None:
    form = ReferralSubmitSchema().load(with_value(
        "previous_marac_referrals",
        [{"area_name": "PII Lowestoft refuge MARAC", "date": "2024-01-15"},
         {"area_id": "suffolk", "date": "2023-05-02"}], full_form()))
    clear, personal = split_personal(form)
    assert "PII" not in json.dumps(clear, default=str)
    assert clear["previous_marac_referrals"] == [{"date": dt.date(2024, 1, 15)},
                                                 {"area_id": "suffolk",
                                                  "date": dt.date(2023, 5, 2)}]
    assert personal["previous_marac_referrals"] == [{"area_name": "PII Lowestoft refuge MARAC"},
                                                    {}]
    assert merge_personal(clear, personal) == form


@pytest.mark.parametrize("area", ["Elsewhere MARAC", "suffolk town", "", "x" * 65, "-kent"])
def test_events_carry_an_area_id_never_free_text(area: str) -> None:
    previous = payloads.PreviousReferralSchema()
    assert "area_id" in previous.validate({"area_id": area, "date": "2024-01-15"})
    assert previous.validate({"area_id": "suffolk", "date": "2024-01-15"}) == {}
    assert previous.validate({"area_id": payloads.UNKNOWN_AREA, "date": "2024-01-15"}) == {}


def test_split_does_not_change_its_input() -> None:
    form = full_form()
    clear, personal = split_personal(form)
    assert form == full_form()
    clear["victim"]["gender"] = "male"
    personal["victim"]["name"]["given"] = "changed"
    assert merge_personal(clear, personal) != form
    assert form == full_form()


def test_list_items_without_personal_data_keep_their_place() -> None:
    form = {"children": [{"relationship_to_victim": "child"}, {"school": "S"}]}
    clear, personal = split_personal(form)
    assert personal == {"children": [{}, {"school": "S"}]}
    assert clear == {"children": [{"relationship_to_victim": "child"}, {}]}
    assert merge_personal(clear, personal) == form


def test_split_of_a_form_without_personal_data() -> None:
    form = {"area_id": "a", "criteria_claimed": ["repeat"], "victim": {}, "children": []}
    assert split_personal(form) == (form, {})
    assert merge_personal(form, {}) == form


def test_split_rejects_a_shape_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="perpetrators"):
        split_personal({"perpetrators": {"name": "x"}})


def test_merge_rejects_parts_that_do_not_fit() -> None:
    with pytest.raises(ValueError):
        merge_personal({"children": [{}]}, {"children": [{}, {}]})
    with pytest.raises(ValueError):
        merge_personal({"victim_fears": "a"}, {"victim_fears": "b"})


def _shape(field: fields.Field[Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Forms shaped like the schema (split/merge do not validate, so leaves are anything)."""
    if isinstance(field, fields.Nested):
        nested = field.schema
        assert isinstance(nested, Schema)
        return _object(nested)
    if isinstance(field, fields.List):
        return st.lists(_shape(field.inner), max_size=3)
    if isinstance(field, fields.Dict):
        return st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)
    return st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.dates(), st.none())


def _object(schema: Schema) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _shape(f) for k, f in schema.fields.items()})


def _clear_holds_no_personal_key(clear: Any, path: str) -> bool:
    head, _, rest = path.partition(".")
    each = head.endswith("[*]")
    key = head.removesuffix("[*]")
    if not isinstance(clear, dict) or key not in clear:
        return True
    if not rest and not each:
        return False
    items = clear[key] if each else [clear[key]]
    return all(_clear_holds_no_personal_key(item, rest) for item in items) if rest else False


@settings(max_examples=300, deadline=None)
@given(_object(ReferralSubmitSchema()))
def test_merge_is_the_exact_inverse_of_split(form: dict[str, Any]) -> None:
    clear, personal = split_personal(form)
    assert merge_personal(clear, personal) == form
    for path in PERSONAL_FIELDS:
        assert _clear_holds_no_personal_key(clear, path), path
