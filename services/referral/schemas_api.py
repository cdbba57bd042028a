"""Request, response and query schemas of the referral API (the form itself is in schemas.py)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from marac_platform.payloads import CriterionResultSchema
from services.referral.domain import ReferralState, ScreeningDecision

REASON_MAX = 2_000


class AssessmentSummary(Schema):
    assessment_id = fields.Str()
    checklist_version = fields.Str()
    yes_count = fields.Int()
    band = fields.Str()
    high_weight_factors = fields.List(fields.Str())
    criteria = fields.List(fields.Nested(CriterionResultSchema))
    decision = fields.Str()


class ScreeningDecisionOut(Schema):
    round = fields.Int(metadata={"description": "the submission this decision belongs to"})
    step = fields.Str()
    decision = fields.Str()
    by = fields.Str(metadata={"description": "who decided (their user id)"})
    at = fields.DateTime()
    reason = fields.Str(allow_none=True)


class ScreeningOut(Schema):
    steps = fields.List(fields.Str(), metadata={"description": "the area's steps, in order"})
    pending_step = fields.Str(allow_none=True)
    decisions = fields.List(fields.Nested(ScreeningDecisionOut))


class ReferralOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    state = fields.Str()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    received_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "first submission: the time-to-hearing clock starts here and "
                                 "does not restart when a returned referral is sent again"})
    assessment = fields.Nested(AssessmentSummary, allow_none=True)
    return_reasons = fields.List(fields.Nested(CriterionResultSchema), allow_none=True)
    returned_at_step = fields.Str(allow_none=True)
    return_note = fields.Str(allow_none=True,
                             metadata={"description": "the screener's reason, when a screening "
                                                      "step returned it"})
    repeat = fields.Bool()
    urgent = fields.Bool()
    marac_date = fields.Date(allow_none=True)
    meeting_id = fields.Str(allow_none=True)
    submissions = fields.Int()
    linked_case_grounds = fields.List(
        fields.Str(), allow_none=True,
        metadata={"description": "coordinators only: set when the referral joined the victim's "
                                 "existing open case, with the grounds of the match"})
    screening = fields.Nested(ScreeningOut, metadata={"description": "coordinators only"})
    form = fields.Dict()


class ListQuery(Schema):
    state = fields.Str(load_default=None, validate=validate.OneOf([s.value for s in ReferralState]))
    offset = fields.Int(load_default=0, validate=validate.Range(0, 1_000_000))
    limit = fields.Int(load_default=50, validate=validate.Range(1, 200))


class ReferralPage(Schema):
    items = fields.List(fields.Nested(ReferralOut))
    offset = fields.Int()
    limit = fields.Int()
    has_more = fields.Bool()


class ScreeningIn(Schema):
    step = fields.Str(required=True, validate=[validate.Length(1, 64),
                                               validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$")])
    decision = fields.Str(required=True, validate=validate.OneOf([d.value for d in ScreeningDecision]))
    reason = fields.Str(validate=validate.Length(1, REASON_MAX))

    @validates_schema(skip_on_field_errors=True)
    def _reason_on_return(self, data: dict[str, Any], **_: Any) -> None:
        if data["decision"] == ScreeningDecision.RETURN.value and not str(
                data.get("reason", "")).strip():
            raise ValidationError("Required when the decision is return.", field_name="reason")


class UrgentIn(Schema):
    urgent = fields.Bool(required=True, truthy={True}, falsy={False})
