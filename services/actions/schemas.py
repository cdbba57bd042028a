"""Response bodies of the actions service's API."""

from __future__ import annotations

from marshmallow import Schema, fields


class CaseRecordOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    marac_date = fields.Date()
    status = fields.Str()
    opened_at = fields.DateTime()
    updated_at = fields.DateTime()
