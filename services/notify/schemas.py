"""Request and response bodies of the notify service's API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.notify.domain import DeliveryStatus


class DeliveryOut(Schema):
    id = fields.Str()
    cause_event_id = fields.Str()
    case_id = fields.Str(allow_none=True)
    area_id = fields.Str()
    agency_id = fields.Str()
    channel = fields.Str()
    kind = fields.Str(attribute="template")
    reference = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": "queued, sending, sent, failed or "
                                                 "refused"})
    attempts = fields.Int()
    error = fields.Str(allow_none=True, metadata={
        "description": "The last error code, or why it was refused (no_isa, isa_lapsed, "
                       "unknown_agency, opted_out, no_channel)."})
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


class DeliveryQuery(Schema):
    case_id = fields.Str(load_default=None, validate=validate.Length(1, 64))
    status = fields.Str(load_default=None, validate=validate.OneOf([s.value for s in DeliveryStatus]))
    limit = fields.Int(load_default=50, validate=validate.Range(1, 200))


class AgencyOut(Schema):
    id = fields.Str()
    name = fields.Str()
    isa_signed = fields.Bool()
    isa_signed_on = fields.Date(allow_none=True)
    isa_expires = fields.Date(allow_none=True)
    isa_in_force = fields.Bool()
    channels = fields.List(fields.Str(), metadata={"description": "email and/or webhook"})
    email_addresses = fields.Int(metadata={"description": "how many addresses are told"})
    opt_out = fields.List(fields.Str())
    refusal = fields.Str(allow_none=True, metadata={
        "description": "why it would be told nothing today, if so (no_isa, isa_lapsed, "
                       "no_channel)"})
