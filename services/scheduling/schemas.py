"""Request and response bodies of the scheduling service's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.scheduling.domain import CANCEL_REASONS, MOVE_REASONS, OUTCOMES


class MeetingOut(Schema):
    id = fields.Str()
    area_id = fields.Str()
    marac_date = fields.Date()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    model = fields.Str()
    capacity = fields.Int()
    booked = fields.Int()
    free = fields.Int(metadata={"description": "places a case could still take (0 once begun)"})
    status = fields.Str(metadata={"description": "planned | cancelled | held"})
    ad_hoc = fields.Bool()
    moved_from = fields.Date(allow_none=True)
    caselist_due_at = fields.DateTime()
    caselist_published_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    held_at = fields.DateTime(allow_none=True)


class AllocationOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str(allow_none=True)
    marac_date = fields.Date(allow_none=True)
    slot_index = fields.Int(allow_none=True)
    slot_start = fields.DateTime(allow_none=True)
    received_at = fields.DateTime()
    allocated_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    target_date = fields.Date()
    beyond_target = fields.Bool()
    urgent = fields.Bool()
    status = fields.Str(metadata={"description": "waiting | scheduled | heard"})
    reasons = fields.List(fields.Str(), metadata={
        "description": "why earlier dates were passed over: after_cutoff, short_notice, full, "
                       "caselist_closed (each :<date>)"})
    previous_meeting_id = fields.Str(allow_none=True)
    caselist_edition = fields.Int(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)
    repeat = fields.Bool(metadata={"description": "a repeat referral (within 12 months)"})
    transferred_from = fields.Str(allow_none=True, metadata={
        "description": "the area a transferred case came from (null: referred here)"})


class AllocationChangeOut(Schema):
    at = fields.DateTime()
    change = fields.Str()
    from_meeting_id = fields.Str(allow_none=True)
    to_meeting_id = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    actor = fields.Str()


class AllocationDetailOut(AllocationOut):
    history = fields.List(fields.Nested(AllocationChangeOut))


class AgendaOut(MeetingOut):
    cases = fields.List(fields.Nested(AllocationOut))


class MeetingsQuery(Schema):
    area_id = fields.Str(required=True, validate=validate.Length(1, 64))
    from_date = fields.Date(load_default=None)
    limit = fields.Int(load_default=20, validate=validate.Range(1, 100))
    include_cancelled = fields.Bool(load_default=False)


class MeetingIn(Schema):
    area_id = fields.Str(required=True, validate=validate.Length(1, 64))
    marac_date = fields.Date(required=True)
    capacity = fields.Int(load_default=None, validate=validate.Range(1, 500),
                          metadata={"description": "default: the area's max_cases"})


class CancelIn(Schema):
    reason = fields.Str(required=True, validate=validate.OneOf(CANCEL_REASONS))


class CancelOut(Schema):
    meeting = fields.Nested(MeetingOut)
    moved = fields.List(fields.Nested(AllocationOut))
    waiting = fields.List(fields.Nested(AllocationOut))


class MoveIn(Schema):
    meeting_id = fields.Str(required=True, validate=validate.Length(1, 64))
    reason = fields.Str(required=True, validate=validate.OneOf(MOVE_REASONS))


class OutcomeIn(Schema):
    outcome = fields.Str(required=True, validate=validate.OneOf(OUTCOMES))


class AtRiskOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    status = fields.Str()
    urgent = fields.Bool()
    received_at = fields.DateTime()
    target_date = fields.Date()
    meeting_id = fields.Str(allow_none=True)
    marac_date = fields.Date(allow_none=True)
    days_over = fields.Int(allow_none=True, metadata={
        "description": "days past the target; null when the case has no date"})


class CaseListCaseOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    yes_count = fields.Int()
    band = fields.Str()
    criteria_met = fields.List(fields.Str())
    repeat = fields.Bool()
    details = fields.Dict(keys=fields.Str(), values=fields.Raw(), allow_none=True, metadata={
        "description": "incidents and safeguarding in place, decrypted; null if unreadable"})
    details_status = fields.Str(metadata={"description": "available | erased | unreadable"})
    transferred_to = fields.Str(allow_none=True, metadata={
        "description": "in an addendum: the case went to this area (transferred)"})


class CaseListOut(Schema):
    meeting_id = fields.Str()
    area_id = fields.Str()
    marac_date = fields.Date()
    edition = fields.Int(metadata={"description": "0 the case list, 1.. addenda"})
    published_at = fields.DateTime()
    cases = fields.List(fields.Nested(CaseListCaseOut))
    confidentiality_statement = fields.Str()


class PreviewQuery(Schema):
    count = fields.Int(load_default=12, validate=validate.Range(1, 52))


class PreviewDate(Schema):
    marac_date = fields.Date()
    starts_at = fields.DateTime()
    cutoff_at = fields.DateTime()
    caselist_at = fields.DateTime()
    capacity = fields.Int()
    moved_from = fields.Date(allow_none=True)
    ad_hoc = fields.Bool()
