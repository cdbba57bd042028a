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
    link_confirmed_by = fields.Str(allow_none=True, metadata={
        "description": "coordinators only: who confirmed the join is the same victim"})
    link_confirmed_at = fields.DateTime(allow_none=True, metadata={
        "description": "coordinators only: when the join was confirmed (None: still to confirm)"})
    held_for_confirmation = fields.Bool(metadata={
        "description": "coordinators only: it met the criteria and waits, assessed, for a "
                       "coordinator to confirm the join (link-confirmation) or separate it"})
    separated_from = fields.Str(allow_none=True, metadata={
        "description": "coordinators only: the case it joined by mistake and left for its own"})
    separated_by = fields.Str(allow_none=True, metadata={
        "description": "coordinators only: who separated it"})
    separated_at = fields.DateTime(allow_none=True, metadata={
        "description": "coordinators only: when it was separated"})
    screening = fields.Nested(ScreeningOut, metadata={"description": "coordinators only"})
    form = fields.Dict()


class ListQuery(Schema):
    state = fields.Str(load_default=None, validate=validate.OneOf([s.value for s in ReferralState]))
    linked = fields.Bool(load_default=False, metadata={
        "description": "true: only referrals that joined the victim's existing open case "
                       "and not yet confirmed (possible duplicate victims for a coordinator to "
                       "confirm; needs referral.read_area)"})
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


# --- the SafeLives quarterly return ---------------------------------------------------------


# YYYY-Qn; the 422 for any other text names `quarter` (marac_platform.quarters parses it).
QUARTER_TEXT = [validate.Length(min=7, max=7), validate.Regexp(r"^[0-9]{4}-Q[1-4]$")]


class ReturnQuery(Schema):
    quarter = fields.Str(required=True, validate=QUARTER_TEXT, metadata={
        "description": "YYYY-Qn, e.g. 2026-Q2 (April to June); calendar quarters in UK dates."})
    view = fields.Str(load_default="full", validate=validate.OneOf(("full", "summary")),
                      metadata={"description": "full: exact counts (the return SafeLives is sent); "
                                "summary: every count under 5 reads \"fewer than 5\"."})


class ChartQuery(Schema):
    quarter = fields.Str(required=True, validate=QUARTER_TEXT, metadata={"description": "YYYY-Qn"})


def _count() -> fields.Raw:
    return fields.Raw(required=True, metadata={"description": "a count, or \"fewer than 5\" in "
                                               "the summary view"})


class ReturnRowOut(Schema):
    marac_date = fields.Date(allow_none=True, metadata={"description": "null on the total row"})
    cases = _count()
    repeats = _count()
    police_referrals = _count()
    partner_referrals = _count()
    children = _count()
    minoritised = _count()
    lgbt_plus = _count()
    disabled = _count()
    male = _count()
    aged_16_17 = _count()
    perpetrator_under_18 = _count()
    heard_within_target = _count()
    monitoring_unknown = _count()
    median_days_to_hearing = fields.Float(allow_none=True)


class ReturnOut(Schema):
    area_id = fields.Str(required=True)
    quarter = fields.Str(required=True)
    first_day = fields.Date(required=True)
    last_day = fields.Date(required=True)
    adult_female_population = fields.Int(allow_none=True)
    cases_per_10k = fields.Float(allow_none=True, metadata={
        "description": "cases per 10,000 adult women, a year (the quarter's count x 4)"})
    recommended_per_10k = fields.Float(required=True)
    national_per_10k = fields.Float(required=True)
    meeting_dates = fields.List(fields.Nested(ReturnRowOut), required=True)
    total = fields.Nested(ReturnRowOut, required=True)
    suppressed = fields.Bool(load_default=False, dump_default=False)
