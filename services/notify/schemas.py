"""Request and response bodies of the notify service's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class DeliveryOut(Schema):
    id = fields.Str()
    cause_event_id = fields.Str()
    case_id = fields.Str(allow_none=True)
    area_id = fields.Str()
    agency_id = fields.Str()
    channel = fields.Str()
    template = fields.Str()
    status = fields.Str()
    attempts = fields.Int()
    error = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class DeliveryQuery(Schema):
    case_id = fields.Str(load_default=None, validate=validate.Length(1, 64))
    limit = fields.Int(load_default=50, validate=validate.Range(1, 200))
