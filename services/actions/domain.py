"""Rules of the case record: its statuses and the one table of their moves. Plain Python."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from marac_platform.errors import Conflict, DomainError
from marac_platform.states import MoveTable

HEARD_OUTCOME: Final = "heard"  # of case.heard (the other is "deferred")


class RecordStatus(StrEnum):
    OPEN = "open"  # the case is scheduled (or rescheduled) for a MARAC
    HEARD = "heard"


RECORD_MOVES: Final = MoveTable("case record", {
    RecordStatus.OPEN: frozenset({RecordStatus.HEARD}),
    RecordStatus.HEARD: frozenset(),
})


def status_after_hearing(current: RecordStatus, outcome: str) -> RecordStatus:
    """A case record is marked heard once its MARAC hears it; a deferral changes nothing, nor
    does the same hearing told again."""
    if outcome != HEARD_OUTCOME or current is RecordStatus.HEARD:
        return current
    return RECORD_MOVES.move(current, RecordStatus.HEARD)


def days_until(marac_date: date, today: date) -> int:
    return (marac_date - today).days


# --- the area's actions settings (deploy/areas.yaml, `actions:`), validated at start-up -------
# Further rules: research returns, SMART actions and their reminders (docs/DOMAIN.md, step 5).

UK = ZoneInfo("Europe/London")
FOR_WHOM = ("victim", "child", "perpetrator")
CODE = r"^[a-z0-9][a-z0-9_]{0,63}$"

# The common actions of a MARAC, offered when an area lists none of its own.
DEFAULT_CATALOGUE: tuple[tuple[str, str], ...] = (
    ("alarm", "Personal or panic alarm installed"),
    ("cctv", "CCTV installed at the victim's home"),
    ("target_hardening", "Target hardening of the victim's home (locks, doors, windows)"),
    ("clares_law", "Clare's Law disclosure to the victim"),
    ("childrens_services_referral", "Referral to children's services"),
    ("childrens_services_assessment", "Children's services assessment"),
    ("child_contact_plan", "Child contact or care plan reviewed"),
    ("perpetrator_management", "Perpetrator management plan"),
    ("joint_visit", "Joint visit to the victim"),
    ("idva_support", "IDVA support offered and engaged"),
    ("police_flag", "Flag on police systems (address and people)"),
    ("housing_options", "Housing options or move to safe accommodation"),
    ("civil_orders", "Civil orders (non-molestation, occupation) sought"),
    ("school_awareness", "School made aware (designated safeguarding lead)"),
    ("health_visitor", "Health visitor involvement"),
)


@dataclass(frozen=True)
class ClosingRule:
    """When research returns close: `days_before` the MARAC date, at `time` (UK)."""

    days_before: int
    at: time


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    title: str
    for_whom: tuple[str, ...] = FOR_WHOM


@dataclass(frozen=True)
class ActionsConfig:
    model: str = "meeting"  # the area's MARAC model (its scheduling section says which)
    # Co-ordination model: the MARAC date is the closing date. Meeting model: the day before.
    closing: Mapping[str, ClosingRule] = field(default_factory=lambda: {
        "coordination": ClosingRule(0, time(9, 0)), "meeting": ClosingRule(1, time(17, 0))})
    due_soon_days: int = 3
    escalation_days: tuple[int, ...] = (7, 14)
    # research.reminder this many hours before a return's closing instant, if not sent (0: none).
    research_reminder_hours: int = 24
    catalogue: tuple[CatalogueItem, ...] = tuple(CatalogueItem(c, t) for c, t in DEFAULT_CATALOGUE)

    @property
    def closing_rule(self) -> ClosingRule:
        return self.closing[self.model]

    def item(self, code: str) -> CatalogueItem | None:
        return next((item for item in self.catalogue if item.code == code), None)


def _clock_time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class ClosingRuleSchema(Schema):
    days_before = fields.Int(required=True, validate=validate.Range(0, 14))
    time = fields.Str(required=True, validate=validate.Regexp(
        r"^([01]\d|2[0-3]):[0-5]\d$", error="Must be HH:MM (24-hour clock)."))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ClosingRule:
        return ClosingRule(data["days_before"], _clock_time(data["time"]))


class ClosingSchema(Schema):
    coordination = fields.Nested(ClosingRuleSchema, load_default=None)
    meeting = fields.Nested(ClosingRuleSchema, load_default=None)


class CatalogueItemSchema(Schema):
    code = fields.Str(required=True, validate=validate.Regexp(CODE, error="Not an action code."))
    title = fields.Str(required=True, validate=validate.Length(1, 200))
    for_whom = fields.List(fields.Str(validate=validate.OneOf(FOR_WHOM)), load_default=list(FOR_WHOM),
                           validate=validate.Length(1, 3))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> CatalogueItem:
        return CatalogueItem(data["code"], data["title"], tuple(data["for_whom"]))


class ActionsConfigSchema(Schema):
    """An area's `actions:` section. Every key is optional; the defaults are ActionsConfig's."""

    research_closing = fields.Nested(ClosingSchema, load_default=dict)
    due_soon_days = fields.Int(load_default=3, validate=validate.Range(0, 60))
    escalation_days = fields.List(fields.Int(validate=validate.Range(1, 365)), load_default=[7, 14],
                                  validate=validate.Length(0, 5))
    # Up to a fortnight: research closes at most 14 days before the MARAC date.
    research_reminder_hours = fields.Int(load_default=24, validate=validate.Range(0, 336))
    catalogue = fields.List(fields.Nested(CatalogueItemSchema), load_default=None,
                            validate=validate.Length(1, 200))

    @validates_schema
    def _coherent(self, data: dict[str, Any], **_: Any) -> None:
        steps = data.get("escalation_days") or []
        if list(steps) != sorted(set(steps)):
            raise ValidationError("Give the steps once each, smallest first.", "escalation_days")
        codes = [item.code for item in data.get("catalogue") or []]
        if len(codes) != len(set(codes)):
            raise ValidationError("Each action code once.", "catalogue")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ActionsConfig:
        defaults = ActionsConfig()
        closing = dict(defaults.closing)
        closing.update({model: rule for model, rule in data["research_closing"].items() if rule})
        return ActionsConfig(
            closing=closing, due_soon_days=data["due_soon_days"],
            escalation_days=tuple(data["escalation_days"]),
            research_reminder_hours=data["research_reminder_hours"],
            catalogue=tuple(data["catalogue"]) if data["catalogue"] else defaults.catalogue)


# --- research returns ----------------------------------------------------------------------


class ReturnStatus(StrEnum):
    OWED = "owed"
    DRAFT = "draft"  # saved by its agency, not sent: only that agency sees it
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"  # the case left that date's list (moved, erased) before it was sent


R = ReturnStatus
RETURN_MOVES: MoveTable[ReturnStatus] = MoveTable("research return", {
    R.OWED: frozenset({R.DRAFT, R.SUBMITTED, R.WITHDRAWN}),
    R.DRAFT: frozenset({R.DRAFT, R.SUBMITTED, R.WITHDRAWN}),
    R.SUBMITTED: frozenset({R.SUBMITTED}),  # an amendment, until the closing date
})
OUTSTANDING_RETURNS = frozenset({R.OWED, R.DRAFT})


def closing_of(rule: ClosingRule, marac_date: date) -> tuple[date, datetime]:
    """The closing date of a MARAC date's research, and the instant it closes (UTC)."""
    due = marac_date - timedelta(days=rule.days_before)
    return due, datetime.combine(due, rule.at, tzinfo=UK).astimezone(UTC)


def research_reminder_due(deadline: datetime, now: datetime, hours: int) -> bool:
    """Whether an unsent return is reminded now: from `hours` before its closing instant until
    that instant (a return sent then is still on time, but a reminder then is too late to act
    on; afterwards it is late, another matter). 0 hours: the area sends no reminders."""
    return hours > 0 and deadline - timedelta(hours=hours) <= now < deadline


def save_return(current: ReturnStatus, asked: ReturnStatus, now: datetime,
                deadline: datetime) -> ReturnStatus:
    """Save a return: before the closing instant anything the table allows; after it, an
    unsent return is still taken (and marked late), a sent one is no longer amended."""
    target = RETURN_MOVES.move(current, asked)
    if now > deadline and current is R.SUBMITTED:
        raise Conflict("The closing date has passed: a sent return is no longer amended; "
                       "ask the coordinator to add to the information-and-updates document.",
                       slug="research-closed")
    return target


SUBJECT_PARTS = ("victim", "perpetrator", "children", "safeguarding_in_place")


def said(value: Any) -> bool:
    """Whether a part of a return says anything: blank text and empty sections do not."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Mapping):
        return any(said(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(said(v) for v in value)
    return False


def return_problems(content: Mapping[str, Any], sending: bool) -> list[tuple[str, str]]:
    """What is wrong with a return's content: (field, reason), nothing personal in either."""
    found: list[tuple[str, str]] = []
    held = content.get("involvement") == "held"
    given = [part for part in SUBJECT_PARTS if said(content.get(part))]
    if not held:
        found += [(part, "Nothing held: leave it out.") for part in given]
    elif sending and not given:
        found.append(("involvement", "Involvement held: say what for the victim, the "
                                     "perpetrator or a child, or the safeguarding in place."))
    return found


# --- SMART actions -------------------------------------------------------------------------


class ActionStatus(StrEnum):
    PROPOSED = "proposed"
    AGREED = "agreed"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"  # what was done, when
    NOT_POSSIBLE = "not_possible"  # circumstances changed: why
    NOT_DONE = "not_done"  # the agency did not do it: why
    CANCELLED = "cancelled"


A = ActionStatus
ACTION_MOVES: MoveTable[ActionStatus] = MoveTable("action", {
    A.PROPOSED: frozenset({A.AGREED, A.CANCELLED}),
    A.AGREED: frozenset({A.IN_PROGRESS, A.COMPLETED, A.NOT_POSSIBLE, A.NOT_DONE, A.CANCELLED}),
    A.IN_PROGRESS: frozenset({A.COMPLETED, A.NOT_POSSIBLE, A.NOT_DONE, A.CANCELLED}),
})
OPEN_ACTIONS = frozenset({A.PROPOSED, A.AGREED, A.IN_PROGRESS})
# What an agency has taken on: reminders and overdue counts are about these.
COMMITTED = frozenset({A.AGREED, A.IN_PROGRESS})
NOTE_NEEDED: Mapping[ActionStatus, str] = {
    A.COMPLETED: "Say what was done.",
    A.NOT_POSSIBLE: "Say why it is no longer possible.",
    A.NOT_DONE: "Say why it was not done.",
}


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: their subject, agency, and whether they run the MARAC."""

    subject: str
    agency: str
    manages: bool  # a coordinator or chair of the area


class NotYours(DomainError):
    """The caller may see the action but not make this move (answered 403)."""


def check_move(actor: Actor, owner: str, asker: str, asked: ActionStatus) -> None:
    """Who may move an action: the coordinator or chair any way; the owning agency agrees and
    records progress and outcomes; the asking agency may withdraw its request."""
    if actor.manages:
        return
    if asked is A.CANCELLED and actor.agency in (owner, asker):
        return
    if asked is not A.CANCELLED and actor.agency == owner:
        return
    raise NotYours(f"Only the owning agency, or the coordinator, may make an action {asked.value}.")


def move_problems(asked: ActionStatus, note: str | None, done_on: date | None,
                  today: date) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if asked in NOTE_NEEDED and not (note or "").strip():
        found.append(("note", NOTE_NEEDED[asked]))
    if done_on is not None:
        if asked is not A.COMPLETED:
            found.append(("done_on", "Only a completed action has a done date."))
        elif done_on > today:
            found.append(("done_on", "Must not be in the future."))
    return found


def reminder_steps(config: ActionsConfig, due_by: date, today: date) -> list[str]:
    """Every reminder step an open action has reached by `today` (each is sent once): due soon
    (only while not yet over), overdue from the day after, then each escalation step."""
    over = (today - due_by).days
    if over <= 0:
        return ["due_soon"] if -over <= config.due_soon_days else []
    return ["overdue", *(f"escalation_{days}" for days in config.escalation_days if over >= days)]


def outcome_kind(status: ActionStatus, due_by: date, done_on: date | None, today: date) -> str:
    """The report's column for an action: completed_on_time, completed_late, overdue,
    outstanding, not_possible, not_done or cancelled."""
    if status is A.COMPLETED:
        return "completed_on_time" if done_on is not None and done_on <= due_by else "completed_late"
    if status in OPEN_ACTIONS:
        return "overdue" if status in COMMITTED and today > due_by else "outstanding"
    return status.value


REPORT_KINDS = ("completed_on_time", "completed_late", "outstanding", "overdue", "not_possible",
                "not_done", "cancelled")
