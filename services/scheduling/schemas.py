"""Request and response bodies of the scheduling service's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class MeetingOut(Schema):
    id = fields.Str()
    area_id = fields.Str()
    marac_date = fields.Date()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    model = fields.Str()
    capacity = fields.Int()
    booked = fields.Int()
    free = fields.Int()
    status = fields.Str()
    ad_hoc = fields.Bool()
    moved_from = fields.Date(allow_none=True)
    caselist_due_at = fields.DateTime()
    caselist_published_at = fields.DateTime(allow_none=True)


class AllocationOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    slot_index = fields.Int(allow_none=True)
    received_at = fields.DateTime()
    allocated_at = fields.DateTime()
    target_date = fields.Date()
    beyond_target = fields.Bool()
    urgent = fields.Bool()
    status = fields.Str()
    reasons = fields.List(fields.Str())


class AgendaOut(MeetingOut):
    cases = fields.List(fields.Nested(AllocationOut))


class MeetingsQuery(Schema):
    area_id = fields.Str(required=True, validate=validate.Length(1, 64))
    from_date = fields.Date(load_default=None)
    limit = fields.Int(load_default=20, validate=validate.Range(1, 100))


class PreviewQuery(Schema):
    count = fields.Int(load_default=12, validate=validate.Range(1, 52))


class PreviewDate(Schema):
    marac_date = fields.Date()
    starts_at = fields.DateTime()
    cutoff_at = fields.DateTime()
    caselist_at = fields.DateTime()
    capacity = fields.Int()
    moved_from = fields.Date(allow_none=True)
