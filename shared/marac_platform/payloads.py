"""Marshmallow schemas of every event's data: one source for validation, docs and tests.

Personal data never travels in plain text: it may only appear in `Encrypted` fields, whose
values must be ciphertext tokens made by marac_platform.security.crypto.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate


def ID() -> fields.Str:
    return fields.Str(required=True, validate=validate.Length(1, 64))


# An area id as the areas file and the referral form spell them: a code, never free text.
AREA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
UNKNOWN_AREA = "unknown"  # a declared earlier referral whose area was given by name only

ANSWERS = ("yes", "no", "dont_know")
CRITERIA = ("visible_high_risk", "professional_judgement", "potential_escalation", "repeat")


def Encrypted() -> fields.Str:
    """A ciphertext token (`enc1:...`); a plain value fails validation."""
    return fields.Str(validate=validate.Regexp(r"^enc1:[A-Za-z0-9_\-]+=*$"))


class PreviousReferral(Schema):
    """An earlier referral to a MARAC: its area's id (or `unknown`) and its date. The name a
    referrer may have typed instead stays in the form, encrypted with the case's key."""

    area_id = fields.Str(required=True, validate=[
        validate.Length(1, 64), validate.Regexp(AREA_ID_PATTERN, error="Not an area id.")])
    date = fields.Date(required=True)


class ReferralSubmitted(Schema):
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
    previous_referrals = fields.List(fields.Nested(PreviousReferral), load_default=list)
    urgent = fields.Bool(load_default=False)
    resubmission = fields.Int(load_default=0, validate=validate.Range(0, 1000))


class CriterionResult(Schema):
    criterion = fields.Str(required=True, validate=validate.OneOf(CRITERIA))
    met = fields.Bool(required=True)
    reason_code = fields.Str(required=True)
    detail = fields.Str(required=True)


class RiskAssessed(Schema):
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    assessment_id = ID()
    checklist_version = fields.Str(required=True)
    yes_count = fields.Int(required=True, validate=validate.Range(0, 100))
    band = fields.Str(required=True)
    high_weight_factors = fields.List(fields.Str(), required=True)
    criteria = fields.List(fields.Nested(CriterionResult), required=True)
    decision = fields.Str(required=True, validate=validate.OneOf(("meets_criteria", "below_threshold")))
    repeat_of = fields.Nested(PreviousReferral, load_default=None, allow_none=True)


class ReferralAccepted(Schema):
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


class ReferralReturned(Schema):
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    referrer_agency = fields.Str(required=True)
    reasons = fields.List(fields.Nested(CriterionResult), required=True)
    # Returned at a screening step (reasons then empty): the step, and the screener's reason,
    # free text and so encrypted with the case's key. Both absent when risk returned it.
    screening_step = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    note = fields.Str(load_default=None, allow_none=True,
                      validate=validate.Regexp(r"^enc1:[A-Za-z0-9_\-]+=*$"))


class ReferralStatusChanged(Schema):
    referral_id = ID()
    case_id = ID()
    area_id = ID()
    from_state = fields.Str(required=True)
    to_state = fields.Str(required=True)


class CaseScheduled(Schema):
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    meeting_start = fields.AwareDateTime(required=True)
    model = fields.Str(required=True, validate=validate.OneOf(("meeting", "coordination")))
    slot_index = fields.Int(load_default=None, allow_none=True)
    slot_start = fields.AwareDateTime(load_default=None, allow_none=True)
    target_date = fields.Date(required=True)
    beyond_target = fields.Bool(required=True)
    rescheduled = fields.Bool(load_default=False)
    referrer_agency = fields.Str(required=True)


class CaseHeard(Schema):
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    outcome = fields.Str(required=True, validate=validate.OneOf(("heard", "deferred")))


class CaseListCase(Schema):
    case_id = ID()
    referral_id = ID()
    yes_count = fields.Int(required=True)
    band = fields.Str(required=True)
    criteria_met = fields.List(fields.Str(), required=True)
    repeat = fields.Bool(required=True)
    case_list_entry = fields.Dict(keys=fields.Str(), values=Encrypted(), load_default=dict)


class CaseListPublished(Schema):
    meeting_id = ID()
    area_id = ID()
    marac_date = fields.Date(required=True)
    edition = fields.Int(required=True, validate=validate.Range(0, 1000))  # 0 list, 1+ addenda
    cases = fields.List(fields.Nested(CaseListCase), required=True)
    confidentiality_statement = fields.Str(required=True)


class ActionCaseOpened(Schema):
    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)


class NotificationSent(Schema):
    notification_id = ID()
    case_id = fields.Str(load_default=None, allow_none=True)
    area_id = ID()
    channel = fields.Str(required=True, validate=validate.OneOf(("email", "webhook", "record")))
    agency_id = fields.Str(required=True)
    template = fields.Str(required=True)
    cause_event_id = ID()


class NotificationFailed(NotificationSent):
    reason_code = fields.Str(required=True)


class CaseErased(Schema):
    case_id = ID()
    area_id = ID()
    reason = fields.Str(required=True, validate=validate.OneOf(("request", "retention")))


# Scheduling: a case moved to another MARAC date, and a cancelled meeting (appended).
# "displaced": its place went to a case accepted earlier (places go first come, first served).
RESCHEDULE_CAUSES = ("moved", "meeting_cancelled", "deferred", "waiting_list", "displaced")


class CaseRescheduled(Schema):
    """A case's MARAC date changed: where it is now, where it was, and why (codes only)."""

    case_id = ID()
    referral_id = ID()
    area_id = ID()
    meeting_id = ID()
    marac_date = fields.Date(required=True)
    meeting_start = fields.AwareDateTime(required=True)
    model = fields.Str(required=True, validate=validate.OneOf(("meeting", "coordination")))
    slot_index = fields.Int(load_default=None, allow_none=True)
    slot_start = fields.AwareDateTime(load_default=None, allow_none=True)
    target_date = fields.Date(required=True)
    beyond_target = fields.Bool(required=True)
    previous_meeting_id = ID()
    previous_marac_date = fields.Date(required=True)
    cause = fields.Str(required=True, validate=validate.OneOf(RESCHEDULE_CAUSES))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    referrer_agency = fields.Str(required=True)


class MeetingCancelled(Schema):
    """A MARAC date was cancelled; its cases went to other dates or wait for one."""

    meeting_id = ID()
    area_id = ID()
    marac_date = fields.Date(required=True)
    model = fields.Str(required=True, validate=validate.OneOf(("meeting", "coordination")))
    reason = fields.Str(required=True, validate=validate.Length(1, 64))
    caselist_published = fields.Bool(required=True)
    moved_case_ids = fields.List(fields.Str(validate=validate.Length(1, 64)), required=True)
    waiting_case_ids = fields.List(fields.Str(validate=validate.Length(1, 64)), required=True)


# Referral: a screening step decided, and the coordinator's urgent flag (appended).
SCREENING_DECISIONS = ("accept", "return")


class ReferralScreened(Schema):
    """One screening step decided: which, how, and where screening stands after it."""

    referral_id = ID()
    case_id = ID()
    area_id = ID()
    round = fields.Int(required=True, validate=validate.Range(1, 1000))  # the submission
    step = fields.Str(required=True, validate=validate.Length(1, 64))
    decision = fields.Str(required=True, validate=validate.OneOf(SCREENING_DECISIONS))
    pending_step = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    outcome = fields.Str(load_default=None, allow_none=True,
                         validate=validate.OneOf(("accepted", "returned")))


class ReferralUrgencyChanged(Schema):
    """The coordinator marked a referral urgent (or took the mark off) before acceptance."""

    referral_id = ID()
    case_id = ID()
    area_id = ID()
    urgent = fields.Bool(required=True)
