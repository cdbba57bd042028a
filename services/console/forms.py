"""The referral form as the console shows it: sections of fields, each field naming its place in
the referral service's JSON form (`victim.name.given`, `incidents[0].date`). One place turns a
section's posted fields into the JSON the service takes, its stored form back into field values,
and the service's problem+json field paths into the fields to show each error beside.

The rules stay the referral service's: the console checks only what a browser sends that JSON
cannot (a date given in three boxes, a whole number), and shows the service's answer otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from werkzeug.datastructures import MultiDict

_INDEX = re.compile(r"^(.*)\[(\d+)\]$")


@dataclass(frozen=True)
class Field:
    id: str  # the HTML id and name
    label: str
    path: str  # where it goes in the referral form
    kind: str = "text"  # text | textarea | email | number | date | radios | select | checkboxes | flag
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    keys: tuple[str, ...]  # the top-level parts of the form this section replaces when saved
    fields: tuple[Field, ...] = field(default_factory=tuple)


YES_NO_FLAG = (("yes", "Yes"), ("no", "No"))
GENDERS = (("female", "Female"), ("male", "Male"), ("non_binary", "Non-binary"),
           ("other", "Other"), ("prefer_not_to_say", "Prefer not to say"))
RELATIONSHIPS = (("partner", "Partner"), ("ex_partner", "Ex-partner"),
                 ("family_member", "Family member"), ("other", "Other"))
CRITERIA = (("visible_high_risk", "Visible high risk (the DASH score)"),
            ("professional_judgement", "Professional judgement"),
            ("potential_escalation", "Potential escalation (police call-outs)"),
            ("repeat", "Repeat (referred to a MARAC in the last 12 months)"))
CONSENT = (("given", "Given"), ("not_given", "Not given"),
           ("not_sought_unsafe", "Not sought: unsafe to ask"))
ANSWERS = (("yes", "Yes"), ("no", "No"), ("dont_know", "Don't know"))
ANSWERED_BY = (("victim", "The victim"), ("professional", "A professional"), ("other", "Someone else"))
YES_NO_PNTS = (("yes", "Yes"), ("no", "No"), ("prefer_not_to_say", "Prefer not to say"))
# The ONS 2021 census groups, as the referral form codes them.
ETHNICITIES = (
    ("asian_bangladeshi", "Asian or Asian British: Bangladeshi"),
    ("asian_chinese", "Asian or Asian British: Chinese"),
    ("asian_indian", "Asian or Asian British: Indian"),
    ("asian_pakistani", "Asian or Asian British: Pakistani"),
    ("asian_other", "Asian or Asian British: another Asian background"),
    ("black_african", "Black, Black British, Caribbean or African: African"),
    ("black_caribbean", "Black, Black British, Caribbean or African: Caribbean"),
    ("black_other", "Black, Black British, Caribbean or African: another background"),
    ("mixed_white_asian", "Mixed or multiple: White and Asian"),
    ("mixed_white_black_african", "Mixed or multiple: White and Black African"),
    ("mixed_white_black_caribbean", "Mixed or multiple: White and Black Caribbean"),
    ("mixed_other", "Mixed or multiple: another background"),
    ("white_british", "White: English, Welsh, Scottish, Northern Irish or British"),
    ("white_irish", "White: Irish"), ("white_gypsy_irish_traveller", "White: Gypsy or Irish Traveller"),
    ("white_roma", "White: Roma"), ("white_other", "White: another background"),
    ("other_arab", "Another ethnic group: Arab"), ("other_any", "Another ethnic group"),
    ("prefer_not_to_say", "Prefer not to say"))
AGE_BANDS = (("under_16", "Under 16"), ("16_17", "16 or 17"), ("18_24", "18 to 24"),
             ("25_34", "25 to 34"), ("35_44", "35 to 44"), ("45_54", "45 to 54"),
             ("55_64", "55 to 64"), ("65_74", "65 to 74"), ("75_plus", "75 or over"),
             ("prefer_not_to_say", "Prefer not to say"))
CHILD_RELATIONSHIPS = (("child", "Child"), ("stepchild", "Stepchild"), ("grandchild", "Grandchild"),
                       ("foster_child", "Foster child"), ("sibling", "Sibling"),
                       ("other_relative", "Another relative"), ("other_dependant", "Another dependant"),
                       ("none", "None"), ("not_known", "Not known"))


def _child(index: int) -> tuple[Field, ...]:
    n = index + 1
    return (
        Field(f"children-{index}-name-given", f"Child {n}: given name (optional)",
              f"children[{index}].name.given"),
        Field(f"children-{index}-date_of_birth", f"Child {n}: date of birth (optional)",
              f"children[{index}].date_of_birth", "date"),
        Field(f"children-{index}-relationship_to_victim", f"Child {n}: relationship to the victim",
              f"children[{index}].relationship_to_victim", "select", CHILD_RELATIONSHIPS),
        Field(f"children-{index}-relationship_to_perpetrator",
              f"Child {n}: relationship to the perpetrator",
              f"children[{index}].relationship_to_perpetrator", "select", CHILD_RELATIONSHIPS),
    )

SECTIONS: tuple[Section, ...] = (
    Section("referrer", "About you", ("referrer",), (
        Field("referrer-name", "Your full name", "referrer.name"),
        Field("referrer-role", "Your job title", "referrer.role"),
        Field("referrer-secure_email", "Your secure email address", "referrer.secure_email",
              "email"),
        Field("referrer-phone", "Your phone number (optional)", "referrer.phone"),
    )),
    Section("victim", "The victim", ("victim", "area_chosen_by_referrer"), (
        Field("victim-name-given", "Given name", "victim.name.given"),
        Field("victim-name-family", "Family name", "victim.name.family"),
        Field("victim-dates_of_birth-0", "Date of birth", "victim.dates_of_birth[0]", "date",
              hint="For example, 27 3 1990"),
        Field("victim-age_estimate", "Age, if the date of birth is not known",
              "victim.age_estimate", "number"),
        Field("victim-address-lines-0", "Address line 1", "victim.address.lines[0]"),
        Field("victim-address-lines-1", "Address line 2 (optional)", "victim.address.lines[1]"),
        Field("victim-address-town", "Town or city", "victim.address.town"),
        Field("victim-address-postcode", "Postcode", "victim.address.postcode"),
        Field("victim-address_unknown", "Is the victim's address unknown?",
              "victim.address_unknown", "flag", YES_NO_FLAG),
        Field("victim-phone", "Phone number (optional)", "victim.phone"),
        Field("victim-safe_to_call", "Is it safe to call this number?", "victim.safe_to_call",
              "flag", YES_NO_FLAG),
        Field("victim-gender", "Gender", "victim.gender", "radios", GENDERS),
    )),
    Section("perpetrator", "The perpetrator", ("perpetrators",), (
        Field("perpetrators-0-name-given", "Given name", "perpetrators[0].name.given"),
        Field("perpetrators-0-name-family", "Family name", "perpetrators[0].name.family"),
        Field("perpetrators-0-relationship_to_victim", "Relationship to the victim",
              "perpetrators[0].relationship_to_victim", "radios", RELATIONSHIPS),
    )),
    Section("children", "Children in the household", ("children",), (*_child(0), *_child(1))),
    Section("diversity", "Equality monitoring", ("diversity",), (
        Field("diversity-ethnicity", "The victim's ethnic group", "diversity.ethnicity", "select",
              ETHNICITIES),
        Field("diversity-disability", "Does the victim consider themselves disabled?",
              "diversity.disability", "radios", YES_NO_PNTS),
        Field("diversity-lgbt_plus", "Does the victim identify as LGBT+?", "diversity.lgbt_plus",
              "radios", YES_NO_PNTS),
        Field("diversity-age_band", "The victim's age", "diversity.age_band", "select", AGE_BANDS),
    )),
    Section("incident", "The latest incident", ("incidents",), (
        Field("incidents-0-date", "Date of the incident", "incidents[0].date", "date",
              hint="For example, 27 11 2026"),
        Field("incidents-0-summary", "What happened", "incidents[0].summary", "textarea"),
        Field("incidents-0-police_reference", "Police reference (optional)",
              "incidents[0].police_reference"),
    )),
    Section("dash", "DASH risk checklist", ("dash",)),
    Section("criteria", "Criteria and consent", (
        "criteria_claimed", "professional_judgement_narrative",
        "police_callouts_last_12_months", "consent"), (
        Field("criteria_claimed", "Which MARAC criteria does this referral meet?",
              "criteria_claimed", "checkboxes", CRITERIA, hint="Select all that apply"),
        Field("professional_judgement_narrative", "Why, in your professional judgement "
              "(if you claim it)", "professional_judgement_narrative", "textarea"),
        Field("police_callouts_last_12_months", "Police call-outs in the last 12 months",
              "police_callouts_last_12_months", "number"),
        Field("consent-status", "The victim's consent to the referral", "consent.status",
              "radios", CONSENT),
        Field("consent-reason", "Why consent was not given or sought", "consent.reason",
              "textarea"),
    )),
)
BY_NAME = {section.name: section for section in SECTIONS}


def dash_fields(checklist: Mapping[str, Any]) -> tuple[Field, ...]:
    """The checklist's questions (from risk's checklist API) as fields, then who answered."""
    questions = tuple(
        Field(f"dash-answers-{q['id']}", f"{q['number']}. {q['label']}", f"dash.answers.{q['id']}",
              "radios", ANSWERS)
        for q in checklist.get("questions", []))
    return (*questions, Field("dash-answered_by-who", "Who answered the checklist?",
                              "dash.answered_by.who", "radios", ANSWERED_BY))


def fields_of(section: Section, checklist: Mapping[str, Any] | None) -> tuple[Field, ...]:
    if section.name == "dash":
        return dash_fields(checklist or {})
    return section.fields


# --- JSON paths ----------------------------------------------------------------------------

def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        match = _INDEX.match(part)
        if match:
            steps += [match.group(1), int(match.group(2))]
        else:
            steps.append(part)
    return steps


def get_path(doc: Any, path: str) -> Any:
    for step in _steps(path):
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return None
            doc = doc[step]
        elif isinstance(doc, Mapping):
            doc = doc.get(step)
        else:
            return None
    return doc


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    steps = _steps(path)
    node: Any = doc
    for step, after in pairwise(steps):
        empty: Any = [] if isinstance(after, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if node[step] is None:
                node[step] = empty
            node = node[step]
        else:
            node = node.setdefault(step, empty)
    last = steps[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    else:
        node[last] = value


def _compact(value: Any) -> Any:
    if isinstance(value, list):
        return [_compact(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


# --- posted fields <-> the form --------------------------------------------------------------

def read_date(posted: MultiDict[str, str], field_id: str) -> tuple[str | None, str | None]:
    """(ISO date, None), (None, None) when all three boxes are empty, or (None, the error)."""
    parts = [posted.get(f"{field_id}-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None, None
    if not all(p.isdigit() for p in parts):
        return None, "must be a real date, with a day, month and year in numbers"
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat(), None
    except ValueError:
        return None, "must be a real date"


def to_json(fields: Sequence[Field], posted: MultiDict[str, str],
            base: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The section's part of the form from the posted fields, and the errors the console
    finds itself (field id -> message). Blank fields are left out (a draft needs none)."""
    doc: dict[str, Any] = dict(base or {})
    errors: dict[str, str] = {}
    for item in fields:
        value: Any
        if item.kind == "date":
            value, error = read_date(posted, item.id)
            if error:
                errors[item.id] = f"{item.label} {error}"
                continue
        elif item.kind == "checkboxes":
            value = [v for v in posted.getlist(item.id) if v in dict(item.options)] or None
        elif item.kind == "number":
            raw = posted.get(item.id, "").strip()
            if not raw:
                value = None
            elif not raw.isdigit():
                errors[item.id] = f"{item.label} must be a whole number, like 2"
                continue
            else:
                value = int(raw)
        elif item.kind == "flag":
            raw = posted.get(item.id, "")
            value = {"yes": True, "no": False}.get(raw)
        else:
            raw = posted.get(item.id, "").strip()
            value = raw or None
            if value is not None and item.options and value not in dict(item.options):
                value = None
        if value is not None:
            set_path(doc, item.path, value)
    return _compact(doc), errors


def values_of(fields: Sequence[Field], form: Mapping[str, Any]) -> dict[str, Any]:
    """Field id -> what the stored form holds, to fill the section in again (dates as parts)."""
    values: dict[str, Any] = {}
    for item in fields:
        value = get_path(form, item.path)
        if value is None:
            continue
        if item.kind == "date":
            try:
                day = date.fromisoformat(str(value))
            except ValueError:
                continue
            values[f"{item.id}-day"], values[f"{item.id}-month"] = str(day.day), str(day.month)
            values[f"{item.id}-year"] = str(day.year)
        elif item.kind == "flag":
            values[item.id] = "yes" if value is True else "no"
        else:
            values[item.id] = value
    return values


def values_from_post(fields: Sequence[Field], posted: MultiDict[str, str]) -> dict[str, Any]:
    """What was typed, to show again beside an error (nothing typed is lost)."""
    values: dict[str, Any] = {}
    for item in fields:
        if item.kind == "date":
            for part in ("day", "month", "year"):
                values[f"{item.id}-{part}"] = posted.get(f"{item.id}-{part}", "")
        elif item.kind == "checkboxes":
            values[item.id] = posted.getlist(item.id)
        else:
            values[item.id] = posted.get(item.id, "")
    return values


def started(section: Section, form: Mapping[str, Any]) -> bool:
    if section.name == "dash":  # a draft names its checklist from the start
        return bool(get_path(form, "dash.answers"))
    return any(form.get(key) not in (None, [], {}) for key in section.keys)


# --- the service's errors beside the fields ---------------------------------------------------

def _norm(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _message(item: Field, reason: str) -> str:
    if reason.startswith("Missing data for required field"):
        verb = "Select" if item.kind in ("radios", "checkboxes", "flag") else "Enter"
        return f"{verb} {item.label[0].lower()}{item.label[1:]}".removesuffix(" (optional)")
    return f"{item.label}: {reason}"


# Fields the console sets itself, shown at the field that makes them so.
ALIASES = {"area_chosen_by_referrer": "victim.address_unknown"}


def place_errors(sections: Sequence[tuple[Section, Sequence[Field]]],
                 problem_errors: Mapping[str, str]) -> list[tuple[Section, Field, str]]:
    """Each error of a problem+json (field path -> reason) placed at the field it is about: the
    field with that path, under it, or the first field under the path it names."""
    placed: list[tuple[Section, Field, str]] = []
    for path, reason in problem_errors.items():
        wanted = _norm(ALIASES.get(path, path))
        exact: tuple[Section, Field] | None = None
        under: tuple[Section, Field] | None = None
        for section, fields in sections:
            for item in fields:
                mine = _norm(item.path)
                if wanted == mine or wanted.startswith(mine + "."):
                    exact = (section, item)
                    break
                if under is None and mine.startswith(wanted + "."):
                    under = (section, item)
            if exact is not None:
                break
        best = exact or under
        if best is None:
            top = wanted.split(".")[0]
            best = next(((section, fields[0]) for section, fields in sections
                         if top in section.keys and fields), None)
        if best is not None:
            placed.append((best[0], best[1], _message(best[1], reason)))
    return placed
