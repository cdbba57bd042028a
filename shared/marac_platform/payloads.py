"""Every event's data: a frozen dataclass handlers receive, and the marshmallow schema that
validates it, documents it (docs/asyncapi.yaml) and loads it into that dataclass.

Personal data never travels in plain text: it may only appear in `Encrypted` fields, whose
values must be ciphertext tokens made by marac_platform.security.crypto.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from marshmallow import Schema, fields, post_load, validate


@dataclass(frozen=True)
class Payload:
    """The data of one event, as loaded and validated by its schema."""


class PayloadSchema(Schema):
    """Loads into `payload`, the event's dataclass; dumps from it (or from a mapping)."""

    payload: ClassVar[type[Payload]]

    @post_load
    def _to_payload(self, data: dict[str, Any], **_: Any) -> Payload:
        return self.payload(**data)


def ID() -> fields.Str:
    return fields.Str(required=True, validate=validate.Length(1, 64))


# An area id as the areas file and the referral form spell them: a code, never free text.
AREA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
UNKNOWN_AREA = "unknown"  # a declared earlier referral whose area was given by name only

from marac_platform.vocabulary import ANSWERS, CRITERIA, MODELS, OUTCOMES  # noqa: E402


def Encrypted() -> fields.Str:
    """A ciphertext token (`enc1:...`); a plain value fails validation."""
    return fields.Str(validate=validate.Regexp(r"^enc1:[A-Za-z0-9_\-]+=*$"))


@dataclass(frozen=True)
class PreviousReferral(Payload):
    area_id: str
    date: date


class PreviousReferralSchema(PayloadSchema):
    """An earlier referral to a MARAC: its area's id (or `unknown`) and its date. The name a
    referrer may have typed instead stays in the form, encrypted with the case's key."""

    payload = PreviousReferral
    area_id = fields.Str(required=True, validate=[
        validate.Length(1, 64), validate.Regexp(AREA_ID_PATTERN, error="Not an area id.")])
    date = fields.Date(required=True)


@dataclass(frozen=True)
class ReferralSubmitted(Payload):
    referral_id: str
    case_id: str
    area_id: str
    received_at: datetime
    referral_date: date
    checklist_version: str
    dash_answers: dict[str, str]
    criteria_claimed: list[str]
    professional_judgement_documented: bool
    police_callout_dates: list[date]
    police_callouts_last_12_months: int
    incident_dates: list[date]
    previous_referrals: list[PreviousReferral]
    urgent: bool
    resubmission: int
    # A referral opened by accepting a transfer: the victim's earlier referrals in other areas
    # that came with it (the repeat clock follows the victim). Empty otherwise.
    transferred_history: list[PreviousReferral] = field(default_factory=list)
    transferred_from: str | None = None  # the area it came from (it was a MARAC case there)


class ReferralSubmittedSchema(PayloadSchema):
    payload = ReferralSubmitted
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    received_at = fields.AwareDateTime(required=True)
    referral_date = fields.Date(required=True)
    checklist_version = fields.Str(required=True, validate=validate.Length(1, 100))
    dash_answers = fields.Dict(
        keys=fields.Str(validate=validate.Length(1, 100)),
        values=fields.Str(validate=validate.OneOf(ANSWERS)),
        required=True,
    )
    criteria_claimed = fields.List(fields.Str(validate=validate.OneOf(CRITERIA)), required=True)
    professional_judgement_documented = fields.Bool(required=True)
    police_callout_dates = fields.List(fields.Date(), load_default=list)
    police_callouts_last_12_months = fields.Int(load_default=0, validate=validate.Range(0, 10000))
    # Dates of the form's incidents (known to any agency), for potential escalation.
    incident_dates = fields.List(fields.Date(), load_default=list)
    previous_referrals = fields.List(fields.Nested(PreviousReferralSchema), load_default=list)
    urgent = fields.Bool(load_default=False)
    resubmission = fields.Int(load_default=0, validate=validate.Range(0, 1000))
    transferred_history = fields.List(fields.Nested(PreviousReferralSchema), load_default=list)
    transferred_from = fields.Str(load_default=None, allow_none=True,
                                  validate=validate.Length(1, 64))


@dataclass(frozen=True)
class CriterionResult(Payload):
    criterion: str
    met: bool
    reason_code: str
    detail: str


class CriterionResultSchema(PayloadSchema):
    payload = CriterionResult
    criterion = fields.Str(required=True, validate=validate.OneOf(CRITERIA))
    met = fields.Bool(required=True)
    reason_code = fields.Str(required=True)
    detail = fields.Str(required=True)


@dataclass(frozen=True)
class RiskAssessed(Payload):
    referral_id: str
    case_id: str
    area_id: str
    assessment_id: str
    checklist_version: str
    yes_count: int
    band: str
    high_weight_factors: list[str]
    criteria: list[CriterionResult]
    decision: str
    repeat_of: PreviousReferral | None


class RiskAssessedSchema(PayloadSchema):
    payload = RiskAssessed
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    assessment_id = ID()
    checklist_version = fields.Str(required=True)
    yes_count = fields.Int(required=True, validate=validate.Range(0, 100))
    band = fields.Str(required=True)
    high_weight_factors = fields.List(fields.Str(), required=True)
    criteria = fields.List(fields.Nested(CriterionResultSchema), required=True)
    decision = fields.Str(required=True, validate=validate.OneOf(("meets_criteria", "below_threshold")))
    repeat_of = fields.Nested(PreviousReferralSchema, load_default=None, allow_none=True)


@dataclass(frozen=True)
class ReferralAccepted(Payload):
    referral_id: str
    case_id: str
    area_id: str
    received_at: datetime
    accepted_at: datetime
    urgent: bool
    yes_count: int
    band: str
    criteria_met: list[str]
    repeat: bool
    referrer_agency: str
    case_list_entry: dict[str, str]
    # The area a transferred case came from (None: referred here), shown on the agenda.
    transferred_from: str | None = None


class ReferralAcceptedSchema(PayloadSchema):
    payload = ReferralAccepted
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    received_at = fields.AwareDateTime(required=True)
    accepted_at = fields.AwareDateTime(required=True)
    urgent = fields.Bool(load_default=False)
    yes_count = fields.Int(required=True)
    band = fields.Str(required=True)
    criteria_met = fields.List(fields.Str(validate=validate.OneOf(CRITERIA)), required=True)
    repeat = fields.Bool(required=True)
    referrer_agency = fields.Str(required=True)
    # Case-list material (incident summary, safeguarding in place), encrypted per case.
    case_list_entry = fields.Dict(keys=fields.Str(), values=Encrypted(), load_default=dict)
    transferred_from = fields.Str(load_default=None, allow_none=True,
                                  validate=validate.Length(1, 64))


@dataclass(frozen=True)
class ReferralReturned(Payload):
    referral_id: str
    case_id: str
    area_id: str
    referrer_agency: str
    reasons: list[CriterionResult]
    screening_step: str | None
    note: str | None


class ReferralReturnedSchema(PayloadSchema):
    payload = ReferralReturned
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    referrer_agency = fields.Str(required=True)
    reasons = fields.List(fields.Nested(CriterionResultSchema), required=True)
    # Returned at a screening step (reasons then empty): the step, and the screener's reason,
    # free text and so encrypted with the case's key. Both absent when risk returned it.
    screening_step = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    note = fields.Str(load_default=None, allow_none=True,
                      validate=validate.Regexp(r"^enc1:[A-Za-z0-9_\-]+=*$"))


@dataclass(frozen=True)
class ReferralStatusChanged(Payload):
    referral_id: str
    case_id: str
    area_id: str
    from_state: str
    to_state: str


class ReferralStatusChangedSchema(PayloadSchema):
    payload = ReferralStatusChanged
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    from_state = fields.Str(required=True)
    to_state = fields.Str(required=True)


@dataclass(frozen=True)
class Placement(Payload):
    """Where a referral's case is placed: its MARAC date, slot and target (not an event)."""

    case_id: str
    referral_id: str
    area_id: str
    meeting_id: str
    marac_date: date
    meeting_start: datetime
    model: str
    slot_index: int | None
    slot_start: datetime | None
    target_date: date
    beyond_target: bool
    referrer_agency: str


class PlacementSchema(PayloadSchema):
    payload: ClassVar[type[Payload]] = Placement
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    meeting_start = fields.AwareDateTime(required=True)
    model = fields.Str(required=True, validate=validate.OneOf(MODELS))
    slot_index = fields.Int(load_default=None, allow_none=True)
    slot_start = fields.AwareDateTime(load_default=None, allow_none=True)
    target_date = fields.Date(required=True)
    beyond_target = fields.Bool(required=True)
    referrer_agency = fields.Str(required=True)


@dataclass(frozen=True)
class CaseScheduled(Placement):
    rescheduled: bool


class CaseScheduledSchema(PlacementSchema):
    payload = CaseScheduled
    rescheduled = fields.Bool(load_default=False)


@dataclass(frozen=True)
class CaseHeard(Payload):
    case_id: str
    referral_id: str
    area_id: str
    meeting_id: str
    marac_date: date
    outcome: str


class CaseHeardSchema(PayloadSchema):
    payload = CaseHeard
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    outcome = fields.Str(required=True, validate=validate.OneOf(OUTCOMES))


@dataclass(frozen=True)
class CaseListCase(Payload):
    case_id: str
    referral_id: str
    yes_count: int
    band: str
    criteria_met: list[str]
    repeat: bool
    case_list_entry: dict[str, str]
    # In an addendum: the case named on an earlier edition went to another area (its id).
    transferred_to: str | None = None


class CaseListCaseSchema(PayloadSchema):
    payload = CaseListCase
    case_id = ID()
    referral_id = ID()
    yes_count = fields.Int(required=True)
    band = fields.Str(required=True)
    criteria_met = fields.List(fields.Str(), required=True)
    repeat = fields.Bool(required=True)
    case_list_entry = fields.Dict(keys=fields.Str(), values=Encrypted(), load_default=dict)
    transferred_to = fields.Str(load_default=None, allow_none=True,
                                validate=validate.Length(1, 64))


@dataclass(frozen=True)
class CaseListPublished(Payload):
    meeting_id: str
    area_id: str
    marac_date: date
    edition: int
    cases: list[CaseListCase]
    confidentiality_statement: str


class CaseListPublishedSchema(PayloadSchema):
    payload = CaseListPublished
    meeting_id = ID()
    area_id = ID()
    marac_date = fields.Date(required=True)
    edition = fields.Int(required=True, validate=validate.Range(0, 1000))  # 0 list, 1+ addenda
    cases = fields.List(fields.Nested(CaseListCaseSchema), required=True)
    confidentiality_statement = fields.Str(required=True)


@dataclass(frozen=True)
class ActionCaseOpened(Payload):
    case_id: str
    referral_id: str
    area_id: str
    meeting_id: str
    marac_date: date


class ActionCaseOpenedSchema(PayloadSchema):
    payload = ActionCaseOpened
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)


@dataclass(frozen=True)
class NotificationSent(Payload):
    notification_id: str
    case_id: str | None
    area_id: str
    channel: str
    agency_id: str
    template: str
    cause_event_id: str


class NotificationSentSchema(PayloadSchema):
    payload: ClassVar[type[Payload]] = NotificationSent
    notification_id = ID()
    case_id = fields.Str(load_default=None, allow_none=True)
    area_id = ID()
    channel = fields.Str(required=True, validate=validate.OneOf(("email", "webhook", "record")))
    agency_id = fields.Str(required=True)
    template = fields.Str(required=True)
    cause_event_id = ID()


@dataclass(frozen=True)
class NotificationFailed(NotificationSent):
    reason_code: str


class NotificationFailedSchema(NotificationSentSchema):
    payload = NotificationFailed
    reason_code = fields.Str(required=True)


@dataclass(frozen=True)
class CaseErased(Payload):
    case_id: str
    area_id: str
    reason: str


class CaseErasedSchema(PayloadSchema):
    payload = CaseErased
    case_id = ID()
    area_id = ID()
    reason = fields.Str(required=True, validate=validate.OneOf(("request", "retention")))


# Scheduling: a case moved to another MARAC date, and a cancelled meeting (appended).
# "displaced": its place went to a case accepted earlier (places go first come, first served).
RESCHEDULE_CAUSES = ("moved", "meeting_cancelled", "deferred", "waiting_list", "displaced")


@dataclass(frozen=True)
class CaseRescheduled(Placement):
    previous_meeting_id: str
    previous_marac_date: date
    cause: str
    reason: str | None


class CaseRescheduledSchema(PlacementSchema):
    """A case's MARAC date changed: where it is now, where it was, and why (codes only)."""

    payload = CaseRescheduled
    previous_meeting_id = ID()
    previous_marac_date = fields.Date(required=True)
    cause = fields.Str(required=True, validate=validate.OneOf(RESCHEDULE_CAUSES))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))


@dataclass(frozen=True)
class MeetingCancelled(Payload):
    meeting_id: str
    area_id: str
    marac_date: date
    model: str
    reason: str
    caselist_published: bool
    moved_case_ids: list[str]
    waiting_case_ids: list[str]


class MeetingCancelledSchema(PayloadSchema):
    """A MARAC date was cancelled; its cases went to other dates or wait for one."""

    payload = MeetingCancelled
    meeting_id = ID()
    area_id = ID()
    marac_date = fields.Date(required=True)
    model = fields.Str(required=True, validate=validate.OneOf(MODELS))
    reason = fields.Str(required=True, validate=validate.Length(1, 64))
    caselist_published = fields.Bool(required=True)
    moved_case_ids = fields.List(fields.Str(validate=validate.Length(1, 64)), required=True)
    waiting_case_ids = fields.List(fields.Str(validate=validate.Length(1, 64)), required=True)


# Referral: a screening step decided, and the coordinator's urgent flag (appended).
SCREENING_DECISIONS = ("accept", "return")


@dataclass(frozen=True)
class ReferralScreened(Payload):
    referral_id: str
    case_id: str
    area_id: str
    round: int
    step: str
    decision: str
    pending_step: str | None
    outcome: str | None


class ReferralScreenedSchema(PayloadSchema):
    """One screening step decided: which, how, and where screening stands after it."""

    payload = ReferralScreened
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    round = fields.Int(required=True, validate=validate.Range(1, 1000))  # the submission
    step = fields.Str(required=True, validate=validate.Length(1, 64))
    decision = fields.Str(required=True, validate=validate.OneOf(SCREENING_DECISIONS))
    pending_step = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    outcome = fields.Str(load_default=None, allow_none=True,
                         validate=validate.OneOf(("accepted", "returned")))


@dataclass(frozen=True)
class ReferralUrgencyChanged(Payload):
    referral_id: str
    case_id: str
    area_id: str
    urgent: bool


class ReferralUrgencyChangedSchema(PayloadSchema):
    """The coordinator marked a referral urgent (or took the mark off) before acceptance."""

    payload = ReferralUrgencyChanged
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    urgent = fields.Bool(required=True)


@dataclass(frozen=True)
class ReferralHeld(Payload):
    referral_id: str
    case_id: str
    area_id: str
    grounds: list[str]


class ReferralHeldSchema(PayloadSchema):
    """A referral that joined the victim's open case met the criteria and waits for a
    coordinator to confirm the join or separate it; the match's grounds, as codes."""

    payload = ReferralHeld
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    grounds = fields.List(fields.Str(validate=validate.Length(1, 32)), required=True,
                          validate=validate.Length(1, 8))


# Actions: research returns, SMART actions and their reminders, the information-and-updates
# document (appended). Ids, codes, dates and agency ids only: what agencies wrote stays in the
# actions service, encrypted under the case's key.
RETURN_STATUSES = ("owed", "draft", "submitted", "withdrawn")
ACTION_STATUSES = ("proposed", "agreed", "in_progress", "completed", "not_possible", "not_done",
                   "cancelled")
FOR_WHOM = ("victim", "child", "perpetrator")


def AgencyId() -> fields.Str:
    return fields.Str(required=True, validate=validate.Length(1, 64))


@dataclass(frozen=True)
class ResearchOwed(Payload):
    return_id: str
    case_id: str
    area_id: str
    meeting_id: str
    agency_id: str
    due_date: date
    deadline: datetime


class ResearchOwedSchema(PayloadSchema):
    """An agency owes its research on a case by the closing date (`deadline`, on `due_date`)."""

    payload = ResearchOwed
    return_id = ID()
    case_id = ID()
    area_id = ID()
    meeting_id = ID()
    agency_id = AgencyId()
    due_date = fields.Date(required=True)
    deadline = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class ResearchSubmitted(Payload):
    return_id: str
    case_id: str
    area_id: str
    meeting_id: str
    agency_id: str
    involvement: str
    submitted_at: datetime
    late: bool
    amendment: int


class ResearchSubmittedSchema(PayloadSchema):
    """A return was sent (amendment 0) or amended (1, 2, ...); late: after the closing date."""

    payload = ResearchSubmitted
    return_id = ID()
    case_id = ID()
    area_id = ID()
    meeting_id = ID()
    agency_id = AgencyId()
    involvement = fields.Str(required=True, validate=validate.OneOf(("held", "nothing_held")))
    submitted_at = fields.AwareDateTime(required=True)
    late = fields.Bool(required=True)
    amendment = fields.Int(required=True, validate=validate.Range(0, 10000))


@dataclass(frozen=True)
class ActionCreated(Payload):
    action_id: str
    case_id: str
    area_id: str
    meeting_id: str | None
    owner_agency: str
    asked_by_agency: str
    catalogue_code: str | None
    for_whom: str
    due_by: date
    status: str
    by: str
    at: datetime


class ActionCreatedSchema(PayloadSchema):
    """A SMART action: its owner, who asked, for whom, by when (what it is stays encrypted)."""

    payload = ActionCreated
    action_id = ID()
    case_id = ID()
    area_id = ID()
    meeting_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    owner_agency = AgencyId()
    asked_by_agency = AgencyId()
    catalogue_code = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    for_whom = fields.Str(required=True, validate=validate.OneOf(FOR_WHOM))
    due_by = fields.Date(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(ACTION_STATUSES))
    by = fields.Str(required=True, validate=validate.Length(1, 256))  # the token's subject
    at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class ActionStatusChanged(Payload):
    action_id: str
    case_id: str
    area_id: str
    owner_agency: str
    asked_by_agency: str
    from_status: str
    to_status: str
    by: str
    at: datetime


class ActionStatusChangedSchema(PayloadSchema):
    payload = ActionStatusChanged
    action_id = ID()
    case_id = ID()
    area_id = ID()
    owner_agency = AgencyId()
    asked_by_agency = AgencyId()
    from_status = fields.Str(required=True, validate=validate.OneOf(ACTION_STATUSES))
    to_status = fields.Str(required=True, validate=validate.OneOf(ACTION_STATUSES))
    by = fields.Str(required=True, validate=validate.Length(1, 256))
    at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class ActionReminder(Payload):
    """An open action's reminder step; one event per action per step, ever."""

    action_id: str
    case_id: str
    area_id: str
    owner_agency: str
    due_by: date
    step: str
    days_overdue: int


class ActionReminderSchema(PayloadSchema):
    payload: ClassVar[type[Payload]] = ActionReminder
    action_id = ID()
    case_id = ID()
    area_id = ID()
    owner_agency = AgencyId()
    due_by = fields.Date(required=True)
    # due_soon, overdue, escalation_<days>
    step = fields.Str(required=True, validate=validate.Regexp(r"^(due_soon|overdue|escalation_\d{1,3})$"))
    days_overdue = fields.Int(required=True, validate=validate.Range(-366, 36500))  # < 0: not yet due


@dataclass(frozen=True)
class ActionDueSoon(ActionReminder):
    pass


class ActionDueSoonSchema(ActionReminderSchema):
    payload = ActionDueSoon


@dataclass(frozen=True)
class ActionOverdue(ActionReminder):
    pass


class ActionOverdueSchema(ActionReminderSchema):
    payload = ActionOverdue


@dataclass(frozen=True)
class ActionEscalated(ActionReminder):
    pass


class ActionEscalatedSchema(ActionReminderSchema):
    payload = ActionEscalated


@dataclass(frozen=True)
class UpdatesPublished(Payload):
    updates_id: str
    case_id: str
    area_id: str
    meeting_id: str
    marac_date: date
    version: int
    reason: str
    agency_ids: list[str]
    referrer_agency: str | None
    published_at: datetime


class UpdatesPublishedSchema(PayloadSchema):
    """A version of the information-and-updates document: recipients read it by its id
    (`GET /v1/updates/{updates_id}` on the actions service); its content is not in the event."""

    payload = UpdatesPublished
    updates_id = ID()
    case_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    version = fields.Int(required=True, validate=validate.Range(1, 10000))
    reason = fields.Str(required=True, validate=validate.Length(1, 64))
    agency_ids = fields.List(fields.Str(validate=validate.Length(1, 64)), required=True)
    referrer_agency = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 200))
    published_at = fields.AwareDateTime(required=True)


# Inter-MARAC transfers (docs/DOMAIN.md): a case follows its victim to another area. Every
# event is idempotent by transfer id; the package itself never rides a topic in clear.
TRANSFER_REASONS = ("moved_permanently", "moved_temporarily", "fled_to_refuge")
TRANSFER_DECISIONS = ("accepted", "declined")


@dataclass(frozen=True)
class TransferRequested(Payload):
    transfer_id: str
    case_id: str  # the sending area's case
    from_area: str
    to_area: str
    reason: str
    remote: bool  # the receiving area is served by another deployment
    requested_at: datetime


class TransferRequestedSchema(PayloadSchema):
    """Area A asked area B to take a case over: B's coordinators must answer."""

    payload = TransferRequested
    transfer_id = ID()
    case_id = ID()
    from_area = ID()
    to_area = ID()
    reason = fields.Str(required=True, validate=validate.OneOf(TRANSFER_REASONS))
    remote = fields.Bool(required=True)
    requested_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class TransferAnswered(Payload):
    transfer_id: str
    case_id: str  # the sending area's case
    from_area: str
    to_area: str
    decision: str
    new_case_id: str | None  # the receiving area's case, when accepted
    decline_reason: str | None  # a code; any free-text note stays encrypted in referral
    answered_at: datetime


class TransferAnsweredSchema(PayloadSchema):
    """Area B accepted or declined a transfer: A's coordinators must hear."""

    payload = TransferAnswered
    transfer_id = ID()
    case_id = ID()
    from_area = ID()
    to_area = ID()
    decision = fields.Str(required=True, validate=validate.OneOf(TRANSFER_DECISIONS))
    new_case_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    decline_reason = fields.Str(load_default=None, allow_none=True,
                                validate=validate.Length(1, 64))
    answered_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class TransferAccepted(TransferAnswered):
    # The agencies of the receiving area that take the actions A hands over: by action id,
    # else `action_owner_agency` (B's coordinator's choice).
    action_owner_agency: str | None = None
    action_owners: dict[str, str] = field(default_factory=dict)


class TransferAcceptedSchema(TransferAnsweredSchema):
    """Area B accepted a transfer and opened its own case (`new_case_id`)."""

    payload = TransferAccepted
    action_owner_agency = fields.Str(load_default=None, allow_none=True,
                                     validate=validate.Length(1, 64))
    action_owners = fields.Dict(keys=fields.Str(validate=validate.Length(1, 64)),
                                values=fields.Str(validate=validate.Length(1, 64)),
                                load_default=dict)


@dataclass(frozen=True)
class TransferDeclined(TransferAnswered):
    pass


class TransferDeclinedSchema(TransferAnsweredSchema):
    """Area B declined a transfer (`decline_reason`): the case stays with area A."""

    payload = TransferDeclined


@dataclass(frozen=True)
class TransferCompleted(Payload):
    transfer_id: str
    case_id: str
    from_area: str
    to_area: str
    new_case_id: str
    completed_at: datetime
    # What becomes of the sending case's open actions: A's coordinator's decision for each
    # (`hand_over` or `close`, by action id, else `open_actions`), and the agencies of the
    # receiving area B's coordinator named to own those handed over (by action id, else
    # `action_owner_agency`).
    open_actions: str = "close"
    action_decisions: dict[str, str] = field(default_factory=dict)
    action_owner_agency: str | None = None
    action_owners: dict[str, str] = field(default_factory=dict)


TRANSFER_ACTION_DECISIONS = ("hand_over", "close")


class TransferCompletedSchema(PayloadSchema):
    """The sending area handed its actions over and marked its case transferred out."""

    payload = TransferCompleted
    transfer_id = ID()
    case_id = ID()
    from_area = ID()
    to_area = ID()
    new_case_id = ID()
    completed_at = fields.AwareDateTime(required=True)
    open_actions = fields.Str(load_default="close",
                              validate=validate.OneOf(TRANSFER_ACTION_DECISIONS))
    action_decisions = fields.Dict(
        keys=fields.Str(validate=validate.Length(1, 64)),
        values=fields.Str(validate=validate.OneOf(TRANSFER_ACTION_DECISIONS)), load_default=dict)
    action_owner_agency = fields.Str(load_default=None, allow_none=True,
                                     validate=validate.Length(1, 64))
    action_owners = fields.Dict(keys=fields.Str(validate=validate.Length(1, 64)),
                                values=fields.Str(validate=validate.Length(1, 64)),
                                load_default=dict)


@dataclass(frozen=True)
class TransferFailed(Payload):
    transfer_id: str
    case_id: str  # the sending area's case: it stays that area's
    from_area: str
    to_area: str
    attempts: int
    reason_code: str  # `unreachable` or `http-<status>`: no body of the partner's answer
    failed_at: datetime


class TransferFailedSchema(PayloadSchema):
    """A transfer package to another deployment was finally not delivered (after its retries,
    or refused): the sending area's coordinators must hear. Once per transfer."""

    payload = TransferFailed
    transfer_id = ID()
    case_id = ID()
    from_area = ID()
    to_area = ID()
    attempts = fields.Int(required=True, validate=validate.Range(min=0))
    reason_code = fields.Str(required=True, validate=validate.Length(1, 64))
    failed_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class TransferPacked(Payload):
    transfer_id: str
    case_id: str  # the sending area's case, whose key `record` is under
    from_area: str
    to_area: str
    record: str  # ciphertext: the case's information-and-updates documents and its actions
    packed_at: datetime


class TransferPackedSchema(PayloadSchema):
    """The actions service's part of a transfer package (the case's information-and-updates
    documents and its actions, open and closed), compressed (zlib) then encrypted under the
    sending case's key, for the referral service to send with the package; a record still
    over 900 KB is only a sealed marker saying so (marac_platform/transfer_record.py). Once
    per transfer."""

    payload = TransferPacked
    transfer_id = ID()
    case_id = ID()
    from_area = ID()
    to_area = ID()
    record = fields.Str(required=True, validate=validate.Regexp(r"^enc1:[A-Za-z0-9_\-]+=*$"))
    packed_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class ResearchReminder(Payload):
    return_id: str
    case_id: str
    area_id: str
    meeting_id: str
    agency_id: str
    deadline: datetime


class ResearchReminderSchema(PayloadSchema):
    """An agency has not returned its research and the closing time is near (once per return)."""

    payload = ResearchReminder
    return_id = ID()
    case_id = ID()
    area_id = ID()
    meeting_id = ID()
    agency_id = ID()
    deadline = fields.AwareDateTime(required=True)
