"""Referral rules: the lifecycle of referrals and of their cases, screening, victim identity
matching (and the blind index's digests), the repeat flag, DASH answers, draft merging.

Plain Python (and marshmallow for the screening configuration): no flask, kafka or sqlalchemy.
Exceptions carry state names, step names and codes only, never personal data.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from marac_platform.checklists import (
    Checklist,
    IncompleteChecklist,
    InvalidAnswers,
    validate_answers,
)
from marac_platform.errors import Conflict, IllegalMove
from marac_platform.states import MoveTable
from marac_platform.vocabulary import REPEAT_WINDOW_MONTHS, add_months

__all__ = [
    "ACTION_DECISIONS",
    "ALLOWED_TRANSITIONS",
    "CASE_MOVES",
    "CLOSE",
    "COUNTED_STATES",
    "DASH_DECLINED_NOTE",
    "DASH_MISSING_ANSWER",
    "DASH_UNKNOWN_VERSION",
    "DECLINE_REASONS",
    "EDITABLE_STATES",
    "GROUND_DOB_EXACT",
    "GROUND_NAME_ALIAS",
    "GROUND_NAME_EXACT",
    "GROUND_NAME_INITIAL",
    "HAND_OVER",
    "INDEX_DOB",
    "INDEX_INITIAL",
    "INDEX_NAME",
    "MAX_SCREENING_STEPS",
    "OPEN_STATES",
    "PACKAGE_VERSION",
    "REFERRAL_MOVES",
    "REPEAT_WINDOW_MONTHS",
    "RETAINED_STATUSES",
    "SEPARABLE_STATES",
    "TERMINAL_STATES",
    "TRANSFER_MOVES",
    "URGENT_STATES",
    "CaseStatus",
    "ExistingCase",
    "IdentityMatch",
    "InvalidTransition",
    "PersonName",
    "ReferralState",
    "ReferralStateConflict",
    "ScreeningConfig",
    "ScreeningConfigSchema",
    "ScreeningDecision",
    "ScreeningError",
    "ScreeningOutcome",
    "ScreeningProgress",
    "StepDecision",
    "TransferStatus",
    "VictimIdentity",
    "add_months",
    "can_transition",
    "cases_sharing_name_and_dob",
    "checklist_declined",
    "closes_case",
    "dash_errors",
    "ensure_state",
    "identity_digests",
    "is_repeat",
    "match_victim",
    "merge_draft",
    "needs_owner_agency",
    "normalise_name",
    "record_step_decision",
    "repeat_clock",
    "screening_progress",
    "transition",
]


# --- lifecycle ---------------------------------------------------------------------------
class ReferralState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSESSED = "assessed"
    IN_SCREENING = "in_screening"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    SCHEDULED = "scheduled"
    HEARD = "heard"
    CLOSED = "closed"
    TRANSFERRED = "transferred"


_S = ReferralState

TERMINAL_STATES: Final = frozenset({_S.CLOSED, _S.TRANSFERRED})
# A draft is still the referrer's and names its own area, so there is nothing to transfer yet.
# A returned case may be transferred: the new area's thresholds may differ.
OPEN_STATES: Final = frozenset(set(_S) - TERMINAL_STATES - {_S.DRAFT})
# The coordinator may mark urgency until the referral is accepted (it travels in
# referral.accepted, which is what scheduling reads).
URGENT_STATES: Final = frozenset({_S.SUBMITTED, _S.ASSESSED, _S.IN_SCREENING, _S.RETURNED})
EDITABLE_STATES: Final = frozenset({_S.DRAFT, _S.RETURNED})
# A referral that joined a case by mistake can be given a case of its own until it is accepted
# (after that scheduling, actions and notify hold it under the joined case).
SEPARABLE_STATES: Final = frozenset({_S.SUBMITTED, _S.ASSESSED, _S.IN_SCREENING, _S.RETURNED})
# Referrals that met the criteria and were not sent back: earlier MARAC referrals of the case.
COUNTED_STATES: Final = frozenset(
    {_S.IN_SCREENING, _S.ACCEPTED, _S.SCHEDULED, _S.HEARD, _S.CLOSED, _S.TRANSFERRED})

_MOVES: dict[ReferralState, frozenset[ReferralState]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED}),
    _S.SUBMITTED: frozenset({_S.ASSESSED}),
    # Back to submitted: separated from a case it joined by mistake, assessed again on its own.
    _S.ASSESSED: frozenset({_S.IN_SCREENING, _S.ACCEPTED, _S.RETURNED, _S.SUBMITTED}),
    _S.IN_SCREENING: frozenset({_S.ACCEPTED, _S.RETURNED, _S.SUBMITTED}),
    _S.RETURNED: frozenset({_S.SUBMITTED}),  # amended and resubmitted
    _S.ACCEPTED: frozenset({_S.SCHEDULED}),
    _S.SCHEDULED: frozenset({_S.HEARD, _S.SCHEDULED}),  # heard, or rescheduled
    _S.HEARD: frozenset({_S.CLOSED, _S.SCHEDULED}),  # closed, or deferred to another date
    _S.CLOSED: frozenset(),
    _S.TRANSFERRED: frozenset(),
}


class ReferralStateConflict(Conflict):
    """The referral is not in a state that allows this; the detail names states or steps only."""

    slug = "referral-state"


class InvalidTransition(IllegalMove):
    """A move the lifecycle does not allow; the message names the two states only."""

    def __init__(self, current: ReferralState, target: ReferralState) -> None:
        super().__init__("referral", current, target)
        self.detail = f"cannot move a referral from {current.value} to {target.value}"
        self.args = (self.detail,)
        self.target = target


class _Lifecycle(MoveTable[ReferralState]):
    def move(self, current: ReferralState, asked: ReferralState) -> ReferralState:
        if not self.allows(current, asked):
            raise InvalidTransition(current, asked)
        return asked


#: The one table of allowed moves (read-only): state -> states it may move to.
REFERRAL_MOVES: Final = _Lifecycle("referral", {
    state: targets | ({_S.TRANSFERRED} if state in OPEN_STATES else frozenset())
    for state, targets in _MOVES.items()
})
ALLOWED_TRANSITIONS: Final[Mapping[ReferralState, frozenset[ReferralState]]] = REFERRAL_MOVES.moves


def can_transition(current: ReferralState, target: ReferralState) -> bool:
    return REFERRAL_MOVES.allows(current, target)


def transition(current: ReferralState, target: ReferralState) -> ReferralState:
    """Return `target` if the lifecycle allows moving there from `current`, else raise."""
    return REFERRAL_MOVES.move(current, target)


def ensure_state(state: str, allowed: frozenset[ReferralState], refusal: str) -> ReferralState:
    """The referral's state if it is one of `allowed`; else a 409 "a referral in state <state>
    <refusal>" (a use case's guard, checked before anything changes)."""
    current = ReferralState(state)
    if current not in allowed:
        raise ReferralStateConflict(f"a referral in state {current.value} {refusal}")
    return current


# --- cases -------------------------------------------------------------------------------
class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    # Another area accepted it (inter-MARAC transfer): closed here, linked to that area's case.
    TRANSFERRED_OUT = "transferred_out"
    ERASED = "erased"  # its key destroyed by an admin or at the end of retention


# An erased case goes nowhere: nothing reopens it, whatever arrives late.
CASE_MOVES: Final = MoveTable("case", {
    CaseStatus.OPEN: frozenset({CaseStatus.CLOSED, CaseStatus.TRANSFERRED_OUT,
                                CaseStatus.ERASED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.ERASED}),
    CaseStatus.TRANSFERRED_OUT: frozenset({CaseStatus.ERASED}),
    CaseStatus.ERASED: frozenset(),
})
# Cases whose retention period runs (closed here, or handed to another area).
RETAINED_STATUSES: Final = frozenset({CaseStatus.CLOSED, CaseStatus.TRANSFERRED_OUT})


def closes_case(case: CaseStatus, referral_states: Iterable[str]) -> bool:
    """Whether an open case closes now: it closes with its last open referral (every one of its
    referrals closed or transferred), which starts the area's retention period."""
    return (case is CaseStatus.OPEN
            and all(ReferralState(state) in TERMINAL_STATES for state in referral_states))


# --- inter-MARAC transfers ----------------------------------------------------------------
class TransferStatus(enum.StrEnum):
    """One transfer, as the sending area's and the receiving area's records see it."""

    REQUESTED = "requested"  # the receiving area has not answered: the case is still A's
    ACCEPTED = "accepted"  # B opened its case (receiving side: final)
    DECLINED = "declined"  # the case stays with A
    COMPLETED = "completed"  # A handed over: its case is transferred out, linked to B's
    FAILED = "failed"  # another deployment could not be reached after every retry


_T = TransferStatus
TRANSFER_MOVES: Final = MoveTable("transfer", {
    _T.REQUESTED: frozenset({_T.ACCEPTED, _T.DECLINED, _T.FAILED}),
    _T.ACCEPTED: frozenset({_T.COMPLETED}),
    _T.DECLINED: frozenset(),
    _T.COMPLETED: frozenset(),
    _T.FAILED: frozenset(),
})

# What A's coordinator decides for each of the case's open actions.
HAND_OVER: Final = "hand_over"  # to B, owned by an agency B's coordinator names
CLOSE: Final = "close"  # closed as "circumstances changed"
ACTION_DECISIONS: Final = (HAND_OVER, CLOSE)
# Why B declines: codes (they travel in events); any words go in an encrypted note.
DECLINE_REASONS: Final = ("not_in_area", "already_known", "insufficient_information", "other")
# The version of the package a transfer carries (the same inside a deployment and between two).
PACKAGE_VERSION: Final = 1


def needs_owner_agency(default: str, decisions: Mapping[str, str]) -> bool:
    """Whether B's coordinator must name the agency that takes A's handed-over actions."""
    return default == HAND_OVER or HAND_OVER in decisions.values()


def repeat_clock(own_area: str, referrals: Iterable[tuple[dt.date | None, bool]],
                 declared: Iterable[tuple[str, dt.date]],
                 inherited: Iterable[tuple[str, dt.date]]) -> list[tuple[str, dt.date]]:
    """The victim's earlier MARAC referrals that go with a transfer, oldest first, once each:
    the case's own referrals that were MARAC cases (date, counted), the ones declared on its
    forms, and those an earlier transfer brought in."""
    found = {(own_area, day) for day, counted in referrals if counted and day is not None}
    found |= set(declared) | set(inherited)
    return sorted(found, key=lambda item: (item[1], item[0]))


# --- screening ---------------------------------------------------------------------------
_STEP_NAME: Final = r"^[a-z][a-z0-9_]{0,63}$"
MAX_SCREENING_STEPS: Final = 10


@dataclass(frozen=True)
class ScreeningConfig:
    """One area's screening steps, in the order they happen; empty when the area has none.

    `confirm_matches`: a referral that joined the victim's open case on a name-and-date-of-birth
    match, once it meets the criteria, waits for a coordinator to confirm it is the same victim
    (or give it a case of its own) before it is accepted; a join is never acted on unchecked.
    """

    steps: tuple[str, ...] = ()
    confirm_matches: bool = True

    def __post_init__(self) -> None:
        if len(set(self.steps)) != len(self.steps):
            raise ValueError("screening steps must be unique")
        for step in self.steps:
            if not re.fullmatch(_STEP_NAME, step):
                raise ValueError("screening step names are lower-case codes")

    @property
    def required(self) -> bool:
        return bool(self.steps)


def _unique_steps(values: list[str]) -> None:
    if len(values) != len(set(values)):
        raise ValidationError("Must not contain duplicates.")


class ScreeningConfigSchema(Schema):
    """Loads ``{"steps": ["information_unit", "safeguarding_hub"]}`` into a ScreeningConfig."""

    class Meta:
        unknown = RAISE

    steps = fields.List(
        fields.Str(validate=validate.Regexp(_STEP_NAME, error="Not a valid step name.")),
        load_default=list,
        validate=[validate.Length(max=MAX_SCREENING_STEPS), _unique_steps],
    )
    confirm_matches = fields.Bool(load_default=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ScreeningConfig:
        return ScreeningConfig(steps=tuple(data["steps"]),
                               confirm_matches=data["confirm_matches"])


class ScreeningDecision(enum.StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


class ScreeningOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    RETURNED = "returned"

    @property
    def state(self) -> ReferralState:
        """The lifecycle state this outcome moves the referral to."""
        return ReferralState(self.value)


@dataclass(frozen=True)
class StepDecision:
    step: str
    decision: ScreeningDecision
    by: str  # user id
    at: dt.datetime


@dataclass(frozen=True)
class ScreeningProgress:
    """Either the step now waiting for a decision, or the outcome (never both)."""

    pending_step: str | None
    outcome: ScreeningOutcome | None
    decided_at_step: str | None = None  # the step that returned it, or the last that accepted

    @property
    def finished(self) -> bool:
        return self.outcome is not None


class ScreeningError(ReferralStateConflict):
    """Decisions that do not fit the area's steps (409); the message names steps only."""


def screening_progress(
    config: ScreeningConfig, decisions: Iterable[StepDecision]
) -> ScreeningProgress:
    """Where one round of screening stands, given the decisions recorded in it.

    Steps run in the configured order; a "return" at any step ends screening, and acceptance
    needs every step to accept. With no steps configured the outcome is trivially accepted
    (callers skip the in_screening state for such areas). A resubmitted referral starts a new
    round: pass only that round's decisions.
    """
    by_step: dict[str, StepDecision] = {}
    for recorded in decisions:
        if recorded.step not in config.steps:
            raise ScreeningError(f"step {recorded.step!r} is not configured for this area")
        if recorded.step in by_step:
            raise ScreeningError(f"step {recorded.step!r} decided twice")
        by_step[recorded.step] = recorded

    for index, step in enumerate(config.steps):
        decision = by_step.get(step)
        if decision is None:
            later = [s for s in config.steps[index + 1 :] if s in by_step]
            if later:
                raise ScreeningError(f"step {later[0]!r} decided before step {step!r}")
            return ScreeningProgress(pending_step=step, outcome=None)
        if decision.decision is ScreeningDecision.RETURN:
            later = [s for s in config.steps[index + 1 :] if s in by_step]
            if later:
                raise ScreeningError(f"step {later[0]!r} decided after a return at {step!r}")
            return ScreeningProgress(None, ScreeningOutcome.RETURNED, decided_at_step=step)
    last = config.steps[-1] if config.steps else None
    return ScreeningProgress(None, ScreeningOutcome.ACCEPTED, decided_at_step=last)


def record_step_decision(
    config: ScreeningConfig, decisions: Sequence[StepDecision], new: StepDecision
) -> ScreeningProgress:
    """Check that `new` decides the pending step, and return the progress that follows."""
    progress = screening_progress(config, decisions)
    if progress.pending_step is None:
        raise ScreeningError("screening already finished")
    if new.step != progress.pending_step:
        raise ScreeningError(f"step {progress.pending_step!r} is pending, not {new.step!r}")
    return screening_progress(config, [*decisions, new])


# --- identity ----------------------------------------------------------------------------
_WHITESPACE: Final = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Fold a name for comparison: case, accents, punctuation and spacing do not count.

    Hyphens (any dash) become spaces, so "Smith-Jones" equals "Smith Jones"; other
    punctuation goes, so "O'Brien" equals "OBrien". Letters without a decomposition
    (ø, ł, æ) are kept as they are.
    """
    # Decompose on both sides of casefold: each can produce what the other must then fold
    # ("℃" decomposes to an upper-case C; "İ" casefolds to i plus a combining dot).
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    out: list[str] = []
    for char in decomposed:
        category = unicodedata.category(char)
        if unicodedata.combining(char):
            continue
        if category == "Pd" or category.startswith("Z") or char.isspace():
            out.append(" ")
        elif category[0] in "PSC":
            continue
        else:
            out.append(char)
    return _WHITESPACE.sub(" ", "".join(out)).strip()


@dataclass(frozen=True)
class PersonName:
    given: str = ""
    family: str = ""

    @classmethod
    def from_form(cls, name: Mapping[str, Any]) -> PersonName:
        return cls(given=str(name.get("given", "")), family=str(name.get("family", "")))


@dataclass(frozen=True)
class VictimIdentity:
    name: PersonName
    aliases: tuple[PersonName, ...] = ()
    dates_of_birth: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def from_form(cls, victim: Mapping[str, Any]) -> VictimIdentity:
        """From a form's ``victim`` part, loaded (dates as `date`s) or as stored (ISO strings)."""
        return cls(
            name=PersonName.from_form(victim.get("name") or {}),
            aliases=tuple(PersonName.from_form(a) for a in victim.get("aliases") or ()),
            dates_of_birth=frozenset(
                d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
                for d in victim.get("dates_of_birth") or ()),
        )


@dataclass(frozen=True)
class ExistingCase:
    case_id: str
    victim: VictimIdentity


GROUND_NAME_EXACT: Final = "name:exact"  # main name equals main name
GROUND_NAME_ALIAS: Final = "name:alias"  # full name equal, an alias on at least one side
GROUND_NAME_INITIAL: Final = "name:initial"  # same family name, initials only on one side
GROUND_DOB_EXACT: Final = "dob:exact"
_NAME_GROUND_ORDER: Final = (GROUND_NAME_EXACT, GROUND_NAME_ALIAS, GROUND_NAME_INITIAL)


@dataclass(frozen=True)
class IdentityMatch:
    """A possible match for a person to confirm: the case id and grounds codes, no names."""

    case_id: str
    grounds: tuple[str, ...]


@dataclass(frozen=True)
class _Folded:
    given: tuple[str, ...]
    family: str
    alias: bool


def _fold(name: PersonName, alias: bool) -> _Folded | None:
    given = tuple(normalise_name(name.given).split())
    family = normalise_name(name.family)
    # A name with a part missing is too weak to match on.
    if not given or not family:
        return None
    return _Folded(given, family, alias)


def _names(identity: VictimIdentity) -> list[_Folded]:
    folded = [_fold(identity.name, alias=False)]
    folded += [_fold(alias, alias=True) for alias in identity.aliases]
    return [f for f in folded if f is not None]


def _initials_only(given: tuple[str, ...]) -> bool:
    return all(len(part) == 1 for part in given)


def _name_ground(a: _Folded, b: _Folded) -> str | None:
    if a.family != b.family:
        return None
    if a.given == b.given:
        return GROUND_NAME_ALIAS if a.alias or b.alias else GROUND_NAME_EXACT
    # "J Smith" may be "Jane Smith"; "Jane Smith" is never "John Smith".
    if (_initials_only(a.given) or _initials_only(b.given)) and a.given[0][0] == b.given[0][0]:
        return GROUND_NAME_INITIAL
    return None


def match_victim(
    candidate: VictimIdentity, existing_cases: Iterable[ExistingCase]
) -> list[IdentityMatch]:
    """Existing cases that may be the same victim: a name match AND an equal date of birth.

    Never on one field alone. Results are ordered strongest first (exact name, then alias,
    then initial), then by case id.
    """
    candidate_names = _names(candidate)
    if not candidate_names or not candidate.dates_of_birth:
        return []
    matches: list[IdentityMatch] = []
    for case in existing_cases:
        if not candidate.dates_of_birth & case.victim.dates_of_birth:
            continue
        found = {
            ground
            for a in candidate_names
            for b in _names(case.victim)
            if (ground := _name_ground(a, b)) is not None
        }
        if not found:
            continue
        grounds = (*(g for g in _NAME_GROUND_ORDER if g in found), GROUND_DOB_EXACT)
        matches.append(IdentityMatch(case.case_id, grounds))
    matches.sort(key=lambda m: (_NAME_GROUND_ORDER.index(m.grounds[0]), m.case_id))
    return matches


# --- identity: blind index ------------------------------------------------------------
# The referral service finds a victim's open case without keeping names or dates of birth in
# clear: it stores keyed HMACs of them. The index only narrows the search (to cases sharing a
# name AND a date of birth); `match_victim` on the decrypted forms decides and gives the grounds.
INDEX_NAME: Final = "name"  # folded given names and family name, main name and every alias
INDEX_INITIAL: Final = "initial"  # first initial and family name, so "J Smith" finds "Jane Smith"
INDEX_DOB: Final = "dob"
_NAME_KINDS: Final = frozenset({INDEX_NAME, INDEX_INITIAL})
_SEPARATOR: Final = "\x1f"  # cannot occur in a folded name


def _digest(secret: bytes, kind: str, value: str) -> str:
    message = f"{kind}{_SEPARATOR}{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def identity_digests(identity: VictimIdentity, secret: bytes) -> frozenset[tuple[str, str]]:
    """(kind, digest) pairs of a victim's names, initials and dates of birth under `secret`.

    Names are folded as `match_victim` folds them (a name without both parts is too weak and
    gives nothing); equal identities give equal digests under the same secret, and nothing
    about them can be read back without it.
    """
    pairs: set[tuple[str, str]] = set()
    for folded in _names(identity):
        family = folded.family
        pairs.add((INDEX_NAME, _digest(secret, INDEX_NAME,
                                       " ".join(folded.given) + _SEPARATOR + family)))
        pairs.add((INDEX_INITIAL, _digest(secret, INDEX_INITIAL,
                                          folded.given[0][0] + _SEPARATOR + family)))
    for day in identity.dates_of_birth:
        pairs.add((INDEX_DOB, _digest(secret, INDEX_DOB, day.isoformat())))
    return frozenset(pairs)


def cases_sharing_name_and_dob(hits: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Case ids among index hits (case id, kind) with a name AND a date of birth in common.

    Never one field alone: a shared name, or a shared date of birth, is not a candidate.
    """
    kinds: dict[str, set[str]] = {}
    for case_id, kind in hits:
        kinds.setdefault(case_id, set()).add(kind)
    return frozenset(
        case_id for case_id, found in kinds.items() if found & _NAME_KINDS and INDEX_DOB in found
    )


# --- drafts ------------------------------------------------------------------------------
def merge_draft(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A draft after a save: each top-level section sent replaces the stored one whole.

    Whole sections, not a deep merge: a list (incidents, perpetrators) sent again is the list,
    so an item removed on the form is removed here too.
    """
    merged = dict(stored)
    merged.update(changes)
    return merged


# --- repeat ------------------------------------------------------------------------------
def is_repeat(referral_date: dt.date, previous_referral_dates: Iterable[dt.date]) -> bool:
    """Whether a referral is a repeat: within 12 calendar months of the last earlier one.

    Measured from the last previous referral to any MARAC (not the last hearing), up to and
    including the same date 12 months on. Only dates strictly before `referral_date` count as
    previous, so the referral itself or a same-day duplicate never makes it a repeat. Whether
    it is the same victim and perpetrator is the caller's question.
    """
    earlier = [d for d in previous_referral_dates if d < referral_date]
    if not earlier:
        return False
    return referral_date <= add_months(max(earlier), REPEAT_WINDOW_MONTHS)


# --- DASH answers ------------------------------------------------------------------------
DASH_UNKNOWN_VERSION: Final = "Unknown checklist version."
DASH_MISSING_ANSWER: Final = "Missing answer."
DASH_DECLINED_NOTE: Final = "Required when the checklist has no answers."
_VISIBLE_HIGH_RISK: Final = "visible_high_risk"


def checklist_declined(form: Mapping[str, Any]) -> bool:
    """Whether the form sends its DASH with no answers at all (the victim would not answer).

    Such a referral can stand on professional judgement, escalation or repeat; risk scores it
    as yes_count 0. Claiming visible high risk needs the answers, so then it is not "declined"
    but incomplete.
    """
    dash = form.get("dash") or {}
    return (
        "answers" in dash
        and not dash["answers"]
        and _VISIBLE_HIGH_RISK not in (form.get("criteria_claimed") or ())
    )


def dash_errors(
    form: Mapping[str, Any], checklists: Mapping[str, Checklist], *, submit: bool
) -> list[dict[str, str]]:
    """Field errors of the form's DASH answers against its checklist version (none: valid).

    Checked at the referrer's request so a bad answer is their 422, not a failure later in
    risk scoring, which applies the same `validate_answers`. Unknown question ids and invalid
    values are rejected in drafts too; unanswered questions only on submit (a draft is
    expected to be incomplete). `form` is the loaded referral form; without a `dash` section
    (allowed in a draft) there is nothing to check.

    A checklist the victim declined (no answers at all, visible high risk not claimed, see
    `checklist_declined`) is complete on submit, provided `answered_by.note` says so.
    """
    dash = form.get("dash")
    if not dash:
        return []
    checklist = checklists.get(dash["checklist_version"])
    if checklist is None:
        return [{"field": "dash.checklist_version", "reason": DASH_UNKNOWN_VERSION}]
    if submit and checklist_declined(form):
        if not (dash.get("answered_by") or {}).get("note"):
            return [{"field": "dash.answered_by.note", "reason": DASH_DECLINED_NOTE}]
        return []
    try:
        validate_answers(checklist, dash.get("answers", {}))
    except InvalidAnswers as exc:
        return [
            {"field": f"dash.answers.{p.question_id}", "reason": p.reason} for p in exc.problems
        ]
    except IncompleteChecklist as exc:
        if not submit:
            return []
        return [
            {"field": f"dash.answers.{qid}", "reason": DASH_MISSING_ANSWER}
            for qid in exc.missing_question_ids
        ]
    return []
