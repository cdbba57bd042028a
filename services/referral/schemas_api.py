"""Response and query schemas of the referral API (the form itself is in schemas.py)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from marac_platform.payloads import CriterionResult
from services.referral.domain import ReferralState


class AssessmentSummary(Schema):
    assessment_id = fields.Str()
    checklist_version = fields.Str()
    yes_count = fields.Int()
    band = fields.Str()
    high_weight_factors = fields.List(fields.Str())
    criteria = fields.List(fields.Nested(CriterionResult))
    decision = fields.Str()


class ReferralOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    state = fields.Str()
    created_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    assessment = fields.Nested(AssessmentSummary, allow_none=True)
    return_reasons = fields.List(fields.Nested(CriterionResult), allow_none=True)
    repeat = fields.Bool()
    marac_date = fields.Date(allow_none=True)
    meeting_id = fields.Str(allow_none=True)
    submissions = fields.Int()
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
