"""Request and response bodies of the risk service's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from marac_platform.payloads import CriterionResultSchema, PreviousReferralSchema
from marac_platform.vocabulary import ANSWERS


class QuestionOut(Schema):
    id = fields.Str()
    number = fields.Int()
    label = fields.Str()
    group = fields.Str()
    high_weight_factor = fields.Str(allow_none=True)


class ChecklistSummary(Schema):
    version = fields.Str()
    title = fields.Str()
    audience = fields.Str()
    question_count = fields.Int()


class ChecklistOut(ChecklistSummary):
    allow_missing = fields.Bool()
    questions = fields.List(fields.Nested(QuestionOut))


class PreviewIn(Schema):
    area_id = fields.Str(required=True, validate=validate.Length(1, 64))
    checklist_version = fields.Str(required=True, validate=validate.Length(1, 100))
    answers = fields.Dict(
        keys=fields.Str(validate=validate.Length(1, 100)),
        values=fields.Str(validate=validate.OneOf(ANSWERS)),
        required=True,
        validate=validate.Length(max=100),
    )
    referral_date = fields.Date(load_default=None)
    professional_judgement_claimed = fields.Bool(load_default=False)
    professional_judgement_documented = fields.Bool(load_default=False)
    police_callout_dates = fields.List(fields.Date(), load_default=list,
                                       validate=validate.Length(max=100))
    police_callouts_last_12_months = fields.Int(load_default=None, allow_none=True, strict=True,
                                                validate=validate.Range(0, 1000))
    incident_dates = fields.List(fields.Date(), load_default=list,
                                 validate=validate.Length(max=50))
    previous_referrals = fields.List(fields.Nested(PreviousReferralSchema), load_default=list,
                                     validate=validate.Length(max=50))


class AssessmentOut(Schema):
    checklist_version = fields.Str()
    yes_count = fields.Int()
    band = fields.Str()
    high_weight_factors = fields.List(fields.Str())
    criteria = fields.List(fields.Nested(CriterionResultSchema))
    decision = fields.Str()
    repeat_of = fields.Nested(PreviousReferralSchema, allow_none=True)


class StoredAssessmentOut(AssessmentOut):
    id = fields.Str()
    referral_id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    assessed_at = fields.DateTime()
