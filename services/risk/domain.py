"""Risk rules: DASH scoring and SafeLives' four MARAC referral criteria, as plain functions.

Nothing here does I/O or keeps state: every function is a pure function of its arguments,
so an assessment can be recomputed later from what was recorded (checklist version,
answers, policy, dates) and give the same result.

Checklists are shared reference data (see `marac_platform.checklists`, which also checks
answers); the rules only rely on the shape defined by `Checklist` and `Question`. The
checklist names are re-exported here so risk code can keep saying `domain.Checklist`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Any, Final, Literal, NamedTuple

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from marac_platform.checklists import (
    ANSWERS,
    AUDIENCES,
    HIGH_WEIGHT_FACTORS,
    INVALID_ANSWER,
    UNKNOWN_QUESTION,
    Answer,
    AnswerProblem,
    Audience,
    Checklist,
    ChecklistAnswersError,
    IncompleteChecklist,
    InvalidAnswers,
    Question,
    largest_checklist_length,
    validate_answers,
)
from marac_platform.vocabulary import CRITERIA, CriterionName, add_months

# Answer vocabulary, Checklist, Question, validate_answers and the answer errors are
# re-exported from marac_platform.checklists.
__all__ = [
    "ANSWERS",
    "AUDIENCES",
    "CRITERIA",
    "DECLARED_COUNT_DAYS",
    "DEFAULT_BANDS",
    "ESCALATION_BELOW_COUNT",
    "ESCALATION_COUNT_REACHED",
    "HIGH_WEIGHT_FACTORS",
    "INVALID_ANSWER",
    "JUDGEMENT_DOCUMENTED",
    "JUDGEMENT_NOT_CLAIMED",
    "JUDGEMENT_NOT_DOCUMENTED",
    "REPEAT_NO_PREVIOUS_REFERRAL",
    "REPEAT_OUTSIDE_WINDOW",
    "REPEAT_WITHIN_WINDOW",
    "UNKNOWN_QUESTION",
    "VISIBLE_BELOW_THRESHOLD",
    "VISIBLE_THRESHOLD_REACHED",
    "Answer",
    "AnswerProblem",
    "Assessment",
    "Audience",
    "Band",
    "BandSchema",
    "Checklist",
    "CriterionName",
    "CriterionResult",
    "DashScore",
    "Decision",
    "EscalationCount",
    "HistorySource",
    "IncompleteChecklist",
    "InvalidAnswers",
    "KnownReferral",
    "PreviousReferral",
    "Question",
    "RiskDomainError",
    "RiskPolicy",
    "RiskPolicySchema",
    "add_months",
    "assess",
    "count_incidents_in_window",
    "earlier_referrals",
    "escalation_count",
    "last_previous_referral",
    "potential_escalation",
    "professional_judgement",
    "repeat",
    "score",
    "scoring_checklist",
    "validate_answers",
    "visible_high_risk",
]

# --------------------------------------------------------------------------- vocabulary


Decision = Literal["meets_criteria", "below_threshold"]

# Reason codes, one set per criterion; stable identifiers for APIs, events and reports.
VISIBLE_THRESHOLD_REACHED: Final = "threshold_reached"
VISIBLE_BELOW_THRESHOLD: Final = "below_threshold"
JUDGEMENT_DOCUMENTED: Final = "documented"
JUDGEMENT_NOT_DOCUMENTED: Final = "not_documented"
JUDGEMENT_NOT_CLAIMED: Final = "not_claimed"
ESCALATION_COUNT_REACHED: Final = "count_reached"
ESCALATION_BELOW_COUNT: Final = "below_count"
REPEAT_WITHIN_WINDOW: Final = "within_window"
REPEAT_OUTSIDE_WINDOW: Final = "outside_window"
REPEAT_NO_PREVIOUS_REFERRAL: Final = "no_previous_referral"


# --------------------------------------------------------------------------- errors

# The risk rules raise only the checklist's answer errors (IncompleteChecklist,
# InvalidAnswers); one name for their base keeps `except domain.RiskDomainError` working.
RiskDomainError = ChecklistAnswersError


# --------------------------------------------------------------------------- policy


class Band(NamedTuple):
    """A named risk band reached from `min_yes` "yes" answers upwards."""

    name: str
    min_yes: int


DEFAULT_BANDS: Final[tuple[Band, ...]] = (
    Band("standard", 0),
    Band("medium", 10),
    Band("high", 14),
)


@dataclass(frozen=True)
class RiskPolicy:
    """An area's local thresholds (docs/DOMAIN.md: "thresholds are each area's").

    - `visible_high_risk_threshold`: "yes" answers needed for visible high risk
      (SafeLives 14; Cambridgeshire 17).
    - `bands`: (name, min_yes) from low to high; the first starts at 0 and `min_yes` strictly
      increases, so every score falls in exactly one band. Bands are descriptive and
      independent of the threshold (an area may keep the 14+ "high" band and refer at 17).
    - `escalation_count` incidents within `escalation_window_days` make potential escalation.
      The window is a count of DAYS, inclusive at both ends: an incident counts when it is
      0..escalation_window_days days before the referral date. "3 in 12 months" is 365;
      Kent's "3 in 6 months" is 183 (six calendar months span 181-184 days).
    - `repeat_window_months`: CALENDAR months, inclusive: a referral exactly N calendar
      months after the last one is a repeat, one day later is not (SafeLives: 12).
    """

    visible_high_risk_threshold: int = 14
    bands: tuple[Band, ...] = DEFAULT_BANDS
    escalation_count: int = 3
    escalation_window_days: int = 365
    repeat_window_months: int = 12

    def __post_init__(self) -> None:
        bands = tuple(Band(str(name), int(min_yes)) for name, min_yes in self.bands)
        object.__setattr__(self, "bands", bands)
        problems = _band_problems(bands)
        if self.visible_high_risk_threshold < 1:
            problems.append("visible_high_risk_threshold must be at least 1")
        if self.escalation_count < 1:
            problems.append("escalation_count must be at least 1")
        if self.escalation_window_days < 1:
            problems.append("escalation_window_days must be at least 1")
        if self.repeat_window_months < 1:
            problems.append("repeat_window_months must be at least 1")
        if problems:
            raise ValueError("invalid risk policy: " + "; ".join(problems))

    def band_for(self, yes_count: int) -> str:
        """The name of the highest band whose `min_yes` the count reaches."""
        name = self.bands[0].name
        for band in self.bands:
            if yes_count >= band.min_yes:
                name = band.name
            else:
                break
        return name


def _band_problems(bands: Sequence[Band]) -> list[str]:
    if not bands:
        return ["bands must not be empty"]
    problems: list[str] = []
    if bands[0].min_yes != 0:
        problems.append("the first band must start at 0")
    if any(b.min_yes <= a.min_yes for a, b in pairwise(bands)):
        problems.append("band min_yes values must strictly increase")
    if len({b.name for b in bands}) != len(bands):
        problems.append("band names must be unique")
    return problems


class BandSchema(Schema):
    """One band in the area configuration: `{name: high, min_yes: 14}`."""

    name = fields.Str(
        required=True,
        validate=[validate.Length(min=1, max=32), validate.Regexp(r"^[a-z][a-z0-9_-]*$")],
    )
    min_yes = fields.Int(required=True, strict=True, validate=validate.Range(min=0))

    @post_load
    def make_band(self, data: dict[str, Any], **_: Any) -> Band:
        return Band(data["name"], data["min_yes"])


class RiskPolicySchema(Schema):
    """Loads an area's `risk:` configuration block into a `RiskPolicy`.

    Every key is optional (SafeLives' figures apply). `max_threshold` caps the visible high
    risk threshold and the band starts; by default it is the length of the longest shipped
    checklist, because a threshold above it could never be met.
    """

    visible_high_risk_threshold = fields.Int(load_default=14, strict=True)
    bands = fields.List(fields.Nested(BandSchema), load_default=lambda: list(DEFAULT_BANDS))
    escalation_count = fields.Int(
        load_default=3, strict=True, validate=validate.Range(min=1, max=100)
    )
    escalation_window_days = fields.Int(
        load_default=365, strict=True, validate=validate.Range(min=1, max=3660)
    )
    repeat_window_months = fields.Int(
        load_default=12, strict=True, validate=validate.Range(min=1, max=120)
    )

    def __init__(self, *, max_threshold: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_threshold = max_threshold

    @property
    def max_threshold(self) -> int:
        if self._max_threshold is None:
            # Read lazily: the shipped files are only loaded when a policy is loaded without
            # saying the maximum.
            self._max_threshold = largest_checklist_length()
        return self._max_threshold

    @validates("visible_high_risk_threshold")
    def check_threshold(self, value: int, **_: Any) -> None:
        if not 1 <= value <= self.max_threshold:
            raise ValidationError(
                f"Must be between 1 and {self.max_threshold} (the longest checklist)."
            )

    @validates("bands")
    def check_bands(self, value: list[Band], **_: Any) -> None:
        if not all(isinstance(b, Band) for b in value):
            return  # an invalid band is already reported by BandSchema
        problems = _band_problems(value)
        if value and value[-1].min_yes > self.max_threshold:
            problems.append(f"band min_yes values must not exceed {self.max_threshold}")
        if problems:
            raise ValidationError([p[0].upper() + p[1:] + "." for p in problems])

    @post_load
    def make_policy(self, data: dict[str, Any], **_: Any) -> RiskPolicy:
        return RiskPolicy(
            visible_high_risk_threshold=data["visible_high_risk_threshold"],
            bands=tuple(data["bands"]),
            escalation_count=data["escalation_count"],
            escalation_window_days=data["escalation_window_days"],
            repeat_window_months=data["repeat_window_months"],
        )


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class DashScore:
    """The actuarial result of one completed checklist."""

    checklist_version: str
    yes_count: int
    band: str
    high_weight_factors: tuple[str, ...]
    answered_count: int
    unanswered_count: int
    unanswered_question_ids: tuple[str, ...] = ()


def score(
    checklist: Checklist, answers: Mapping[str, str], policy: RiskPolicy | None = None
) -> DashScore:
    """Count the "yes" answers (only "yes" counts), band them and list high-weight factors.

    `policy` supplies the bands (SafeLives' defaults when omitted).
    """
    policy = policy if policy is not None else RiskPolicy()
    missing = validate_answers(checklist, answers)
    yes = [q for q in checklist.questions if answers.get(q.id) == "yes"]
    factors = sorted({q.high_weight_factor for q in yes if q.high_weight_factor is not None})
    return DashScore(
        checklist_version=checklist.version,
        yes_count=len(yes),
        band=policy.band_for(len(yes)),
        high_weight_factors=tuple(factors),
        answered_count=len(checklist.questions) - len(missing),
        unanswered_count=len(missing),
        unanswered_question_ids=missing,
    )


# --------------------------------------------------------------------------- criteria


@dataclass(frozen=True)
class CriterionResult:
    """One of the four referral criteria: met or not, a reason code, and a short detail.

    `detail` is generated from numbers only (never from anything a person wrote).
    """

    criterion: CriterionName
    met: bool
    reason_code: str
    detail: str


class PreviousReferral(NamedTuple):
    """A victim's earlier referral to any MARAC: which area, on which date."""

    area_id: str
    referral_date: date


def visible_high_risk(yes_count: int, policy: RiskPolicy) -> CriterionResult:
    threshold = policy.visible_high_risk_threshold
    met = yes_count >= threshold
    return CriterionResult(
        criterion="visible_high_risk",
        met=met,
        reason_code=VISIBLE_THRESHOLD_REACHED if met else VISIBLE_BELOW_THRESHOLD,
        detail=f"{yes_count} yes answers; threshold {threshold}",
    )


def professional_judgement(*, claimed: bool, documented: bool) -> CriterionResult:
    """Met only when claimed and written down; the narrative itself never reaches this code."""
    if not claimed:
        met, reason, detail = False, JUDGEMENT_NOT_CLAIMED, "not claimed"
    elif not documented:
        met, reason, detail = False, JUDGEMENT_NOT_DOCUMENTED, "claimed; no documented reasons"
    else:
        met, reason, detail = True, JUDGEMENT_DOCUMENTED, "claimed; reasons documented"
    return CriterionResult("professional_judgement", met, reason, detail)


def count_incidents_in_window(
    referral_date: date,
    police_callout_dates: Iterable[date],
    incident_dates: Iterable[date],
    window_days: int,
) -> int:
    """Incidents 0..window_days days before the referral date (both ends inclusive).

    Police call-outs and incidents known to other agencies are merged per day by taking the
    larger count of the two sources for that day: one incident known to the police and to
    another agency is not counted twice, while several call-outs on one day all count.
    Dates after the referral date are outside the window.
    """

    def in_window(day: date) -> bool:
        return 0 <= (referral_date - day).days <= window_days

    police = Counter(d for d in police_callout_dates if in_window(d))
    others = Counter(d for d in incident_dates if in_window(d))
    return sum(max(police[d], others[d]) for d in police.keys() | others.keys())


# The form's declared count is of police call-outs "in the last 12 months": it can stand for
# the window only when the window spans those 12 months (the policy counts them as 365 days).
DECLARED_COUNT_DAYS: Final = 365

EscalationSource = Literal["dated", "declared", "none"]


@dataclass(frozen=True)
class EscalationCount:
    """How many incidents the escalation window holds, and what the number was taken from.

    `dated` is the merged count of dated call-outs and incidents; `declared` the form's count
    of call-outs in the last 12 months when it applies to the window (None when not given or
    when the window is shorter than 12 months). The count is the larger of the two: the
    declared count is a floor (the dated events are among the call-outs it counts), never
    added to them.
    """

    count: int
    dated: int
    declared: int | None
    source: EscalationSource


def escalation_count(
    referral_date: date,
    policy: RiskPolicy,
    *,
    police_callout_dates: Iterable[date] = (),
    incident_dates: Iterable[date] = (),
    declared_callouts: int | None = None,
) -> EscalationCount:
    window = policy.escalation_window_days
    dated = count_incidents_in_window(referral_date, police_callout_dates, incident_dates, window)
    declared = declared_callouts if declared_callouts and window >= DECLARED_COUNT_DAYS else None
    if declared is not None and declared > dated:
        return EscalationCount(declared, dated, declared, "declared")
    return EscalationCount(dated, dated, declared, "dated" if dated else "none")


def _escalation_source(counted: EscalationCount, declared_callouts: int | None,
                       window: int) -> str:
    """The part of the detail saying where the count came from (numbers only)."""
    if counted.source == "declared":
        return (f"from the declared count of police call-outs in the last 12 months; "
                f"{counted.dated} dated")
    text = "from dated call-outs and incidents" if counted.source == "dated" else "none recorded"
    if declared_callouts and counted.declared is None:
        text += (f"; the declared 12-month count of {declared_callouts} "
                 f"does not fit the {window}-day window")
    elif counted.declared is not None:
        text += f"; declared count {counted.declared}"
    return text


def potential_escalation(
    referral_date: date,
    policy: RiskPolicy,
    *,
    police_callout_dates: Iterable[date] = (),
    incident_dates: Iterable[date] = (),
    declared_callouts: int | None = None,
) -> CriterionResult:
    """Met when the window holds `escalation_count` incidents: dated call-outs and incidents
    (one event once), or the declared call-out count when it is the larger; see
    `escalation_count`."""
    window = policy.escalation_window_days
    counted = escalation_count(
        referral_date, policy, police_callout_dates=police_callout_dates,
        incident_dates=incident_dates, declared_callouts=declared_callouts,
    )
    met = counted.count >= policy.escalation_count
    return CriterionResult(
        criterion="potential_escalation",
        met=met,
        reason_code=ESCALATION_COUNT_REACHED if met else ESCALATION_BELOW_COUNT,
        detail=(
            f"{counted.count} incidents in the {window} days to referral "
            f"({_escalation_source(counted, declared_callouts, window)}); "
            f"threshold {policy.escalation_count}"
        ),
    )


def last_previous_referral(
    referral_date: date, previous_referrals: Iterable[tuple[str, date]]
) -> PreviousReferral | None:
    """The most recent earlier referral on or before `referral_date`, from any area.

    Referrals dated after `referral_date` are not "previous" and are ignored. Ties on the
    date are broken by area id so the answer never depends on the input order.
    """
    earlier = [PreviousReferral(a, d) for a, d in previous_referrals if d <= referral_date]
    return max(earlier, key=lambda p: (p.referral_date, p.area_id)) if earlier else None


def repeat(
    referral_date: date, policy: RiskPolicy, previous_referrals: Iterable[tuple[str, date]] = ()
) -> tuple[CriterionResult, PreviousReferral | None]:
    """Repeat: within `repeat_window_months` calendar months of the LAST previous referral.

    Measured from the last referral to any MARAC (the clock follows the victim across areas),
    not from a hearing. Inclusive: exactly N calendar months later is still a repeat.
    Returns the criterion and, when met, the referral it repeats.
    """
    months = policy.repeat_window_months
    last = last_previous_referral(referral_date, previous_referrals)
    if last is None:
        none = CriterionResult("repeat", False, REPEAT_NO_PREVIOUS_REFERRAL, "no previous referral")
        return none, None
    days = (referral_date - last.referral_date).days
    met = referral_date <= add_months(last.referral_date, months)
    result = CriterionResult(
        criterion="repeat",
        met=met,
        reason_code=REPEAT_WITHIN_WINDOW if met else REPEAT_OUTSIDE_WINDOW,
        detail=f"last previous referral {days} days before; window {months} months",
    )
    return result, (last if met else None)


# --------------------------------------------------------------------------- history


class HistorySource(StrEnum):
    """Where the risk service learnt of a victim's referral to a MARAC."""

    MARAC = "marac"  # this platform's own (referral.submitted), one that met the criteria
    DECLARED = "declared"  # named on a referral form
    TRANSFER = "transfer"  # from another area's MARAC, brought by an inter-MARAC transfer


class KnownReferral(NamedTuple):
    source: HistorySource
    area_id: str
    referral_date: date


def earlier_referrals(referral_date: date,
                      known: Iterable[KnownReferral]) -> list[tuple[str, date]]:
    """(area id, date) of the known referrals that count as previous for `repeat`.

    The platform's own count when made before the referral's day: two agencies referring the
    same victim on the same day made one referral, not a repeat. Declared and transferred
    ones count as given (`last_previous_referral` drops any dated after the referral).
    """
    return [(item.area_id, item.referral_date) for item in known
            if item.source is not HistorySource.MARAC or item.referral_date < referral_date]


def scoring_checklist(checklist: Checklist, answers: Mapping[str, str]) -> Checklist:
    """The checklist to score `answers` with.

    A checklist the victim declined arrives with no answers at all (referral lets that through
    only when visible high risk is not claimed, with a note saying why). It is scored as if the
    version allowed missing answers: 0 "yes", so visible high risk is not met and professional
    judgement, escalation or repeat decide. Partly answered checklists keep the version's rule.
    """
    if not answers and not checklist.allow_missing:
        return replace(checklist, allow_missing=True)
    return checklist


# --------------------------------------------------------------------------- assessment


@dataclass(frozen=True)
class Assessment:
    """The outcome of screening one referral against the four criteria."""

    checklist_version: str
    yes_count: int
    band: str
    high_weight_factors: tuple[str, ...]
    answered_count: int
    unanswered_count: int
    criteria: tuple[CriterionResult, ...]
    decision: Decision
    repeat_of: PreviousReferral | None = None

    def criterion(self, name: CriterionName) -> CriterionResult:
        return next(c for c in self.criteria if c.criterion == name)

    @property
    def criteria_met(self) -> tuple[CriterionName, ...]:
        return tuple(c.criterion for c in self.criteria if c.met)


def assess(
    checklist: Checklist,
    answers: Mapping[str, str],
    policy: RiskPolicy,
    *,
    referral_date: date,
    professional_judgement_claimed: bool = False,
    professional_judgement_documented: bool = False,
    police_callout_dates: Sequence[date] = (),
    incident_dates: Sequence[date] = (),
    declared_callouts: int | None = None,
    previous_referrals: Sequence[tuple[str, date]] = (),
) -> Assessment:
    """Score the checklist and evaluate the four criteria; any one met means refer.

    - `professional_judgement_*`: whether the referrer claims it and whether the reasons are
      written down (pass presence only, never the narrative). It can only add a criterion.
    - `police_callout_dates` / `incident_dates`: dates of incidents known to the police and
      to any other agency (or declared on the form); see `count_incidents_in_window`.
    - `declared_callouts`: the form's count of police call-outs in the last 12 months, a
      floor for the window's count; see `escalation_count`.
    - `previous_referrals`: (area id, referral date) of this victim's earlier referrals to
      any MARAC (this area, other areas via transfer, or declared on the form).
    Raises `InvalidAnswers` / `IncompleteChecklist` as `score` does.
    """
    dash = score(checklist, answers, policy)
    repeat_result, repeat_of = repeat(referral_date, policy, previous_referrals)
    criteria = (
        visible_high_risk(dash.yes_count, policy),
        professional_judgement(
            claimed=professional_judgement_claimed, documented=professional_judgement_documented
        ),
        potential_escalation(
            referral_date,
            policy,
            police_callout_dates=police_callout_dates,
            incident_dates=incident_dates,
            declared_callouts=declared_callouts,
        ),
        repeat_result,
    )
    decision: Decision = "meets_criteria" if any(c.met for c in criteria) else "below_threshold"
    return Assessment(
        checklist_version=checklist.version,
        yes_count=dash.yes_count,
        band=dash.band,
        high_weight_factors=dash.high_weight_factors,
        answered_count=dash.answered_count,
        unanswered_count=dash.unanswered_count,
        criteria=criteria,
        decision=decision,
        repeat_of=repeat_of,
    )
