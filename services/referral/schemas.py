"""The referral form as marshmallow schemas (draft and submit variants) and its personal-data map.

One definition builds both variants: `ReferralDraftSchema` (every field optional, but whatever
is present must be valid, so a draft can be saved as the referrer goes) and
`ReferralSubmitSchema` (required fields and cross-field rules enforced). Errors come back in
marshmallow's nested shape, so each one sits under its field path (list items under their
index); `marac_platform.problems.flatten_messages` turns that into field paths.

`PERSONAL_FIELDS` lists the paths holding personal data; `split_personal` and `merge_personal`
separate a validated form into its non-personal and personal parts and put it back together.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from marac_platform import clock
from marac_platform.vocabulary import CRITERIA

__all__ = [
    "AGE_BANDS",
    "ANSWERED_BY",
    "CHILD_RELATIONSHIPS",
    "CONSENT_STATUSES",
    "CRITERIA",
    "DASH_ANSWERS",
    "DRAFT",
    "ETHNICITIES",
    "GENDERS",
    "PERSONAL_FIELDS",
    "PREFER_NOT_TO_SAY",
    "RELATIONSHIPS_TO_VICTIM",
    "SUBMIT",
    "YES_NO",
    "ReferralDraftSchema",
    "ReferralSubmitSchema",
    "merge_personal",
    "split_personal",
]

# --- size limits -------------------------------------------------------------------------
NAME_MAX: Final = 200
SHORT_TEXT_MAX: Final = 100
ID_MAX: Final = 64
PHONE_MAX: Final = 30
EMAIL_MAX: Final = 254
POSTCODE_MAX: Final = 10
ADDRESS_LINE_MAX: Final = 200
ADDRESS_LINES_MAX: Final = 6
NOTE_MAX: Final = 2_000
NARRATIVE_MAX: Final = 10_000
LIST_MAX: Final = 50
ALIASES_MAX: Final = 20
DATES_OF_BIRTH_MAX: Final = 10
CALLOUT_DATES_MAX: Final = 100
CALLOUTS_MAX: Final = 1_000
DASH_QUESTIONS_MAX: Final = 100
AGE_MAX: Final = 120
EARLIEST_DATE: Final = dt.date(1900, 1, 1)

# --- enumerations ------------------------------------------------------------------------
PREFER_NOT_TO_SAY: Final = "prefer_not_to_say"
RELATIONSHIPS_TO_VICTIM: Final = ("partner", "ex_partner", "family_member", "other")
# Used both ways for children and other dependants: "none" covers a child who is not the
# perpetrator's (the police DASH asks about exactly that).
CHILD_RELATIONSHIPS: Final = (
    "child",
    "stepchild",
    "grandchild",
    "foster_child",
    "sibling",
    "other_relative",
    "other_dependant",
    "none",
    "not_known",
)
CONSENT_STATUSES: Final = ("given", "not_given", "not_sought_unsafe")
DASH_ANSWERS: Final = ("yes", "no", "dont_know")
ANSWERED_BY: Final = ("victim", "professional", "other")
GENDERS: Final = ("female", "male", "non_binary", "other", PREFER_NOT_TO_SAY)
YES_NO: Final = ("yes", "no", PREFER_NOT_TO_SAY)
# ONS 2021 census ethnic groups (England and Wales), as codes.
ETHNICITIES: Final = (
    "asian_bangladeshi",
    "asian_chinese",
    "asian_indian",
    "asian_pakistani",
    "asian_other",
    "black_african",
    "black_caribbean",
    "black_other",
    "mixed_white_asian",
    "mixed_white_black_african",
    "mixed_white_black_caribbean",
    "mixed_other",
    "white_british",
    "white_irish",
    "white_gypsy_irish_traveller",
    "white_roma",
    "white_other",
    "other_arab",
    "other_any",
    PREFER_NOT_TO_SAY,
)
# 16-17 is its own band because SafeLives reports victims of that age separately.
AGE_BANDS: Final = (
    "under_16",
    "16_17",
    "18_24",
    "25_34",
    "35_44",
    "45_54",
    "55_64",
    "65_74",
    "75_plus",
    PREFER_NOT_TO_SAY,
)

_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_QUESTION_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
_PHONE_PATTERN: Final = r"^\+?[0-9][0-9 ()-]*[0-9]$"
_UK_POSTCODE_PATTERN: Final = r"^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$"

# Messages name the rule, never the value: validation errors may end up in logs.
_MSG_REQUIRED: Final = "Missing data for required field."
_MSG_AT_LEAST_ONE: Final = "At least one is required."


def _today() -> dt.date:
    """Today's date in the UK, where every MARAC is."""
    return clock.uk_today()


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _not_in_future(value: dt.date) -> None:
    if value > _today():
        raise ValidationError("Must not be in the future.")


def _unique(values: list[Any]) -> None:
    if len(values) != len(set(values)):
        raise ValidationError("Must not contain duplicates.")


def _text(
    max_len: int, *, required: bool = False, pattern: str | None = None, message: str = ""
) -> fields.Str:
    validators: list[Callable[[Any], Any]] = [validate.Length(min=1, max=max_len), _not_blank]
    if pattern is not None:
        validators.append(
            validate.Regexp(pattern, flags=re.IGNORECASE, error=message or "Invalid format.")
        )
    return fields.Str(required=required, validate=validators)


def _identifier(*, required: bool = False) -> fields.Str:
    return _text(ID_MAX, required=required, pattern=_ID_PATTERN, message="Not a valid identifier.")


def _phone(*, required: bool = False) -> fields.Str:
    return _text(PHONE_MAX, required=required, pattern=_PHONE_PATTERN, message="Not a valid phone.")


def _date(*, required: bool = False) -> fields.Date:
    return fields.Date(
        required=required,
        validate=[
            validate.Range(min=EARLIEST_DATE, error="Must not be before 1900-01-01."),
            _not_in_future,
        ],
    )


def _choice(choices: Iterable[str], *, required: bool = False) -> fields.Str:
    return fields.Str(required=required, validate=validate.OneOf(tuple(choices)))


def _flag() -> fields.Boolean:
    # JSON booleans only: "yes" or "0" for safe_to_call is too easy to get wrong.
    return fields.Boolean(truthy={True}, falsy={False})


def _list(
    inner: fields.Field[Any],
    *,
    required: bool = False,
    max_len: int = LIST_MAX,
    at_least_one: bool = False,
    unique: bool = False,
) -> fields.List[Any]:
    validators: list[Callable[[Any], Any]] = [validate.Length(max=max_len)]
    if at_least_one:
        validators.append(validate.Length(min=1, error=_MSG_AT_LEAST_ONE))
    if unique:
        validators.append(_unique)
    return fields.List(inner, required=required, validate=validators)


class _FormSchema(Schema):
    class Meta:
        unknown = RAISE


_S = TypeVar("_S", bound=type[Schema])


def _build(submit: bool, prefix: str) -> type[Schema]:
    """Build the whole form; `submit` switches on required fields and completeness rules."""

    r = submit

    def named(cls: _S) -> _S:
        # Distinct names per variant so OpenAPI components do not collide.
        cls.__name__ = f"{prefix}{cls.__name__}"
        cls.__qualname__ = cls.__name__
        return cls

    @named
    class FullName(_FormSchema):
        given = _text(NAME_MAX, required=r)
        family = _text(NAME_MAX, required=r)

    @named
    class PartialName(_FormSchema):
        """A name where only part may be known (an alias, a perpetrator known by first name)."""

        given = _text(NAME_MAX)
        family = _text(NAME_MAX)

        @validates_schema(skip_on_field_errors=False)
        def _some_part(self, data: dict[str, Any], **_: Any) -> None:
            if r and "given" not in data and "family" not in data:
                raise ValidationError("Give a given name, a family name or both.")

    @named
    class Address(_FormSchema):
        lines = _list(_text(ADDRESS_LINE_MAX), max_len=ADDRESS_LINES_MAX)
        town = _text(SHORT_TEXT_MAX)
        postcode = _text(
            POSTCODE_MAX, pattern=_UK_POSTCODE_PATTERN, message="Not a valid UK postcode."
        )

        @validates_schema(skip_on_field_errors=False)
        def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
            if r and not (data.get("lines") or "town" in data or "postcode" in data):
                raise ValidationError("Give at least one of lines, town or postcode.")

    @named
    class Referrer(_FormSchema):
        name = _text(NAME_MAX, required=r)
        agency_id = _identifier(required=r)
        role = _text(SHORT_TEXT_MAX, required=r)
        secure_email = fields.Email(required=r, validate=validate.Length(max=EMAIL_MAX))
        phone = _phone()

    @named
    class Victim(_FormSchema):
        name = fields.Nested(FullName, required=r)
        aliases = _list(fields.Nested(PartialName), max_len=ALIASES_MAX)
        dates_of_birth = _list(_date(), max_len=DATES_OF_BIRTH_MAX, unique=True)
        age_estimate = fields.Integer(strict=True, validate=validate.Range(min=0, max=AGE_MAX))
        address = fields.Nested(Address)
        address_unknown = _flag()
        phone = _phone()
        safe_to_call = _flag()
        safe_times = _text(NOTE_MAX)
        language = _text(SHORT_TEXT_MAX)
        interpreter_needed = _flag()
        gender = _choice(GENDERS)

        @validates_schema(skip_on_field_errors=False)
        def _rules(self, data: dict[str, Any], **_: Any) -> None:
            errors: dict[str, list[str]] = {}
            if data.get("address_unknown") is True and "address" in data:
                errors["address_unknown"] = ["Cannot be true when an address is given."]
            if r:
                if not data.get("dates_of_birth") and "age_estimate" not in data:
                    errors["dates_of_birth"] = [
                        "Give at least one date of birth or an age_estimate."
                    ]
                if "address" not in data and data.get("address_unknown") is not True:
                    errors["address"] = ["Give the address or set address_unknown."]
                if "phone" in data and "safe_to_call" not in data:
                    errors["safe_to_call"] = ["Required when a phone is given."]
            if errors:
                raise ValidationError(errors)

    @named
    class Diversity(_FormSchema):
        ethnicity = _choice(ETHNICITIES)
        disability = _choice(YES_NO)
        lgbt_plus = _choice(YES_NO)
        gender = _choice(GENDERS)
        age_band = _choice(AGE_BANDS)

    @named
    class Perpetrator(_FormSchema):
        name = fields.Nested(PartialName, required=r)
        aliases = _list(fields.Nested(PartialName), max_len=ALIASES_MAX)
        date_of_birth = _date()
        relationship_to_victim = _choice(RELATIONSHIPS_TO_VICTIM, required=r)
        address = fields.Nested(Address)

    @named
    class Child(_FormSchema):
        """A child or other dependant in the household."""

        name = fields.Nested(PartialName)
        date_of_birth = _date()
        relationship_to_victim = _choice(CHILD_RELATIONSHIPS, required=r)
        relationship_to_perpetrator = _choice(CHILD_RELATIONSHIPS, required=r)
        school = _text(NAME_MAX)
        address = fields.Nested(Address)

    @named
    class Incident(_FormSchema):
        date = _date(required=r)
        summary = _text(NARRATIVE_MAX, required=r)
        police_reference = _text(ID_MAX)

    @named
    class Consent(_FormSchema):
        status = _choice(CONSENT_STATUSES, required=r)
        reason = _text(NOTE_MAX)

        @validates_schema(skip_on_field_errors=False)
        def _reason(self, data: dict[str, Any], **_: Any) -> None:
            status = data.get("status")
            if r and status is not None and status != "given" and "reason" not in data:
                raise ValidationError("Required unless consent is given.", field_name="reason")

    @named
    class Contact(_FormSchema):
        name = _text(NAME_MAX, required=r)
        relationship = _text(SHORT_TEXT_MAX)
        note = _text(NOTE_MAX)

    @named
    class PreviousReferral(_FormSchema):
        area_id = _identifier()
        area_name = _text(NAME_MAX)
        date = _date(required=r)

        @validates_schema(skip_on_field_errors=False)
        def _area(self, data: dict[str, Any], **_: Any) -> None:
            if r and "area_id" not in data and "area_name" not in data:
                raise ValidationError("Give area_id or area_name.", field_name="area_id")

    @named
    class AnsweredBy(_FormSchema):
        who = _choice(ANSWERED_BY, required=r)
        note = _text(NOTE_MAX)

    def question_id() -> fields.Str:
        return fields.Str(
            validate=validate.Regexp(_QUESTION_ID_PATTERN, error="Not a valid question id.")
        )

    @named
    class Dash(_FormSchema):
        # Required even in a draft: answers mean nothing without the checklist they answer.
        checklist_version = _identifier(required=True)
        answers = fields.Dict(
            keys=question_id(),
            values=_choice(DASH_ANSWERS),
            required=r,
            validate=validate.Length(max=DASH_QUESTIONS_MAX),
        )
        comments = fields.Dict(
            keys=question_id(),
            values=_text(NOTE_MAX),
            validate=validate.Length(max=DASH_QUESTIONS_MAX),
        )
        answered_by = fields.Nested(AnsweredBy, required=r)

    @named
    class Referral(_FormSchema):
        referrer = fields.Nested(Referrer, required=r)
        area_id = _identifier(required=r)
        area_chosen_by_referrer = _flag()
        victim = fields.Nested(Victim, required=r)
        diversity = fields.Nested(Diversity)
        perpetrators = _list(fields.Nested(Perpetrator), required=r, at_least_one=r)
        children = _list(fields.Nested(Child))
        incidents = _list(fields.Nested(Incident), required=r, at_least_one=r)
        criteria_claimed = _list(
            _choice(CRITERIA), required=r, at_least_one=r, unique=True, max_len=len(CRITERIA)
        )
        professional_judgement_narrative = _text(NARRATIVE_MAX)
        police_callouts_last_12_months = fields.Integer(
            strict=True, validate=validate.Range(min=0, max=CALLOUTS_MAX)
        )
        police_callout_dates = _list(_date(), max_len=CALLOUT_DATES_MAX)
        consent = fields.Nested(Consent, required=r)
        victim_fears = _text(NARRATIVE_MAX)
        safe_contacts = _list(fields.Nested(Contact))
        unsafe_contacts = _list(fields.Nested(Contact))
        safeguarding_in_place = _text(NARRATIVE_MAX)
        previous_marac_referrals = _list(fields.Nested(PreviousReferral))
        # Required on submit whatever is claimed: the referral goes to risk with its DASH. A
        # checklist the victim would not answer is sent with no answers and a note saying so.
        dash = fields.Nested(Dash, required=r)

        @validates_schema(skip_on_field_errors=False)
        def _claims(self, data: dict[str, Any], **_: Any) -> None:
            if not r:
                return
            claimed = set(data.get("criteria_claimed", ()))
            errors: dict[str, list[str]] = {}
            if (
                "professional_judgement" in claimed
                and "professional_judgement_narrative" not in data
            ):
                errors["professional_judgement_narrative"] = [
                    "Required when professional_judgement is claimed."
                ]
            if "potential_escalation" in claimed and "police_callouts_last_12_months" not in data:
                errors["police_callouts_last_12_months"] = [
                    "Required when potential_escalation is claimed."
                ]
            if "repeat" in claimed and not data.get("previous_marac_referrals"):
                errors["previous_marac_referrals"] = ["Required when repeat is claimed."]
            victim = data.get("victim") or {}
            if (
                victim.get("address_unknown") is True
                and data.get("area_chosen_by_referrer") is not True
            ):
                errors["area_chosen_by_referrer"] = [
                    "Must be true when the victim's address is unknown."
                ]
            if errors:
                raise ValidationError(errors)

    return Referral


ReferralDraftSchema: Final[type[Schema]] = _build(submit=False, prefix="Draft")
ReferralSubmitSchema: Final[type[Schema]] = _build(submit=True, prefix="Submit")

# One instance of each, shared: building one deep-copies every declared field, which cost a
# referral request more than loading its form (marshmallow 4 schemas hold no per-call state).
DRAFT: Final[Schema] = ReferralDraftSchema()
SUBMIT: Final[Schema] = ReferralSubmitSchema()


# --- personal data -----------------------------------------------------------------------
# A path names a whole subtree; "[*]" means every item of a list. Anything not listed here
# stays in the clear: codes, flags, ids, dates of incidents and callouts (needed for
# timeliness), criteria, DASH answers (needed for scoring) and diversity (needed for
# equality monitoring, and meaningless without the names it is split from).
PERSONAL_FIELDS: Final[tuple[str, ...]] = (
    "referrer.name",
    "referrer.secure_email",
    "referrer.phone",
    "victim.name",
    "victim.aliases",
    "victim.dates_of_birth",
    "victim.age_estimate",
    "victim.address",
    "victim.phone",
    "victim.safe_times",
    "perpetrators[*].name",
    "perpetrators[*].aliases",
    "perpetrators[*].date_of_birth",
    "perpetrators[*].address",
    "children[*].name",
    "children[*].date_of_birth",
    "children[*].school",
    "children[*].address",
    "incidents[*].summary",
    "professional_judgement_narrative",
    "consent.reason",
    "victim_fears",
    "safe_contacts",
    "unsafe_contacts",
    "safeguarding_in_place",
    # Free text (the event carries only an area id): it could name a place the victim lived.
    "previous_marac_referrals[*].area_name",
    "dash.comments",
    "dash.answered_by.note",
)

_EACH: Final = "[*]"


class _Node:
    """One step of the personal-data path tree: a leaf is personal as a whole."""

    __slots__ = ("children", "leaf")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.leaf = False


def _path_tree(paths: Iterable[str]) -> _Node:
    root = _Node()
    for path in paths:
        node = root
        for part in path.split("."):
            name, each = (part[: -len(_EACH)], True) if part.endswith(_EACH) else (part, False)
            node = node.children.setdefault(name, _Node())
            if each:
                node = node.children.setdefault(_EACH, _Node())
        node.leaf = True
    return root


_PERSONAL_TREE: Final = _path_tree(PERSONAL_FIELDS)
_ABSENT: Final = object()


def _copy(value: Any) -> Any:
    """A copy of a loaded form's value: its dicts and lists new, the rest (strings, numbers,
    dates, None) shared, being immutable. With `copy.deepcopy` (a memo and a dispatch per
    object) splitting a form took 37 us instead of 26."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copy(item) for item in value)
    return value


def _split(value: Any, node: _Node, path: str) -> tuple[Any, Any]:
    each = node.children.get(_EACH)
    if each is not None:
        if not isinstance(value, list):
            raise ValueError(f"expected a list at {path}")
        pairs = [_split(item, each, f"{path}[*]") for item in value]
        clear = [c for c, _ in pairs]
        # Keep every index so merge can zip the two lists back together.
        if all(p is _ABSENT for _, p in pairs):
            return clear, _ABSENT
        return clear, [{} if p is _ABSENT else p for _, p in pairs]
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object at {path or '(root)'}")
    clear_part: dict[str, Any] = {}
    personal_part: dict[str, Any] = {}
    for key, item in value.items():
        child = node.children.get(key)
        if child is None:
            clear_part[key] = _copy(item)
        elif child.leaf:
            personal_part[key] = _copy(item)
        else:
            clear, personal = _split(item, child, f"{path}.{key}" if path else key)
            clear_part[key] = clear
            if personal is not _ABSENT:
                personal_part[key] = personal
    return clear_part, (personal_part if personal_part else _ABSENT)


def split_personal(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a validated form into (non_personal, personal) parts along `PERSONAL_FIELDS`.

    Both parts keep the form's shape: the non-personal part keeps every object and list
    (minus the personal keys); the personal part holds only what is personal, with lists
    kept index for index (``{}`` for an item with nothing personal). Raises ValueError if the
    form's shape does not fit the paths (only path names in the message, never values).
    """
    clear, personal = _split(form, _PERSONAL_TREE, "")
    assert isinstance(clear, dict)
    return clear, ({} if personal is _ABSENT else personal)


def _merge(clear: Any, personal: Any, path: str) -> Any:
    if isinstance(personal, Mapping):
        if not isinstance(clear, Mapping):
            raise ValueError(f"expected an object at {path or '(root)'}")
        merged = dict(clear)
        for key, item in personal.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in merged:
                merged[key] = _copy(item)
            elif isinstance(item, Mapping | list):
                merged[key] = _merge(merged[key], item, sub)
            else:
                raise ValueError(f"both parts hold {sub}")
        return merged
    if isinstance(personal, list):
        if not isinstance(clear, list) or len(clear) != len(personal):
            raise ValueError(f"lists differ in length at {path}")
        return [_merge(c, p, f"{path}[*]") for c, p in zip(clear, personal, strict=True)]
    raise ValueError(f"both parts hold {path}")


def merge_personal(non_personal: Mapping[str, Any], personal: Mapping[str, Any]) -> dict[str, Any]:
    """Put a form split by `split_personal` back together (its exact inverse)."""
    merged = _merge(_copy(dict(non_personal)), personal, "")
    assert isinstance(merged, dict)
    return merged
