"""The console's referral form: posted fields to the referral service's JSON and back, dates
typed in three boxes, and the service's field paths placed beside the fields they are about."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from services.console import forms

VICTIM = forms.BY_NAME["victim"]
CHECKLIST = {"questions": [{"id": "q1", "number": 1, "label": "Injured?"},
                           {"id": "q2", "number": 2, "label": "Frightened?"}]}


def test_posted_fields_become_the_sections_json_leaving_blanks_out() -> None:
    posted = MultiDict({
        "victim-name-given": " Alex ", "victim-name-family": "",
        "victim-dates_of_birth-0-day": "1", "victim-dates_of_birth-0-month": "4",
        "victim-dates_of_birth-0-year": "1990", "victim-address-lines-1": "Flat 2",
        "victim-safe_to_call": "no", "victim-gender": "not-a-choice", "victim-age_estimate": "",
    })
    doc, errors = forms.to_json(VICTIM.fields, posted)
    assert errors == {}
    assert doc == {"victim": {"name": {"given": "Alex"}, "dates_of_birth": ["1990-04-01"],
                              "address": {"lines": ["Flat 2"]}, "safe_to_call": False}}


def test_a_date_or_number_a_browser_cannot_send_as_json_is_the_consoles_own_error() -> None:
    posted = MultiDict({"victim-dates_of_birth-0-day": "31", "victim-dates_of_birth-0-month": "2",
                        "victim-dates_of_birth-0-year": "1990", "victim-age_estimate": "forty"})
    _, errors = forms.to_json(VICTIM.fields, posted)
    assert errors == {"victim-dates_of_birth-0": "Date of birth must be a real date",
                      "victim-age_estimate": "Age, if the date of birth is not known must be a "
                                             "whole number, like 2"}
    posted = MultiDict({"victim-dates_of_birth-0-day": "1", "victim-dates_of_birth-0-year": "1990"})
    _, errors = forms.to_json(VICTIM.fields, posted)
    assert "with a day, month and year" in errors["victim-dates_of_birth-0"]


def test_a_stored_form_fills_its_section_in_again() -> None:
    stored = {"victim": {"name": {"given": "Alex"}, "dates_of_birth": ["1990-04-01"],
                         "address_unknown": True}}
    values = forms.values_of(VICTIM.fields, stored)
    assert values == {"victim-name-given": "Alex", "victim-dates_of_birth-0-day": "1",
                      "victim-dates_of_birth-0-month": "4", "victim-dates_of_birth-0-year": "1990",
                      "victim-address_unknown": "yes"}


def test_the_dash_section_is_the_checklists_questions_and_who_answered() -> None:
    fields = forms.fields_of(forms.BY_NAME["dash"], CHECKLIST)
    assert [f.path for f in fields] == ["dash.answers.q1", "dash.answers.q2", "dash.answered_by.who"]
    doc, _ = forms.to_json(fields, MultiDict({"dash-answers-q1": "yes", "dash-answers-q2": "maybe"}),
                           {"dash": {"checklist_version": "v1"}})
    assert doc == {"dash": {"checklist_version": "v1", "answers": {"q1": "yes"}}}
    assert not forms.started(forms.BY_NAME["dash"], {"dash": {"checklist_version": "v1"}})
    assert forms.started(forms.BY_NAME["dash"], doc)


def test_the_services_errors_land_beside_their_fields() -> None:
    sections = [(s, forms.fields_of(s, CHECKLIST)) for s in forms.SECTIONS]
    placed = forms.place_errors(sections, {
        "victim.name.given": "Missing data for required field.",
        "incidents[0].date": "Must not be in the future.",
        "victim.dates_of_birth": "Give at least one date of birth or an age_estimate.",
        "dash.answers.q2.value": "Must be one of: yes, no, dont_know.",
        "perpetrators": "At least one is required.",
        "area_chosen_by_referrer": "Must be true when the victim's address is unknown.",
    })
    assert [(s.name, f.id, message) for s, f, message in placed] == [
        ("victim", "victim-name-given", "Enter given name"),
        ("incident", "incidents-0-date", "Date of the incident: Must not be in the future."),
        ("victim", "victim-dates_of_birth-0",
         "Date of birth: Give at least one date of birth or an age_estimate."),
        ("dash", "dash-answers-q2", "2. Frightened?: Must be one of: yes, no, dont_know."),
        # An error about a whole list: the first field under it.
        ("perpetrator", "perpetrators-0-name-given", "Given name: At least one is required."),
        ("victim", "victim-address_unknown",
         "Is the victim's address unknown?: Must be true when the victim's address is unknown."),
    ]


def test_the_consoles_choices_are_the_referral_forms_codes() -> None:
    from services.referral import schemas

    assert [c for c, _ in forms.ETHNICITIES] == list(schemas.ETHNICITIES)
    assert [c for c, _ in forms.AGE_BANDS] == list(schemas.AGE_BANDS)
    assert [c for c, _ in forms.YES_NO_PNTS] == list(schemas.YES_NO)
    assert [c for c, _ in forms.GENDERS] == list(schemas.GENDERS)
    assert [c for c, _ in forms.CHILD_RELATIONSHIPS] == list(schemas.CHILD_RELATIONSHIPS)
    assert [c for c, _ in forms.RELATIONSHIPS] == list(schemas.RELATIONSHIPS_TO_VICTIM)
    assert [c for c, _ in forms.CONSENT] == list(schemas.CONSENT_STATUSES)
    assert [c for c, _ in forms.ANSWERS] == list(schemas.DASH_ANSWERS)
    assert [c for c, _ in forms.ANSWERED_BY] == list(schemas.ANSWERED_BY)
    assert [c for c, _ in forms.CRITERIA] == list(schemas.CRITERIA)


def test_a_child_given_second_comes_first_in_the_list() -> None:
    fields = forms.BY_NAME["children"].fields
    doc, errors = forms.to_json(fields, MultiDict({"children-1-relationship_to_victim": "child"}))
    assert errors == {} and doc == {"children": [{"relationship_to_victim": "child"}]}
