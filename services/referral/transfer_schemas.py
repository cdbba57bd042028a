"""Request and response schemas of the transfer API (services/referral/transfers_api.py)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from marac_platform.payloads import TRANSFER_REASONS
from services.referral import domain
from services.referral.transfers import (
    MAX_ACTIONS,
    ActionPlanSchema,
    IdvaSchema,
    safeguarding_field,
)

NOTE_MAX = 5_000


class TransferRequestIn(Schema):
    class Meta:
        unknown = RAISE

    to_area = fields.Str(required=True, validate=validate.Length(1, 64),
                         metadata={"description": "the area taking the case over: served here, "
                                                  "or a configured partner of the case's area"})
    reason = fields.Str(required=True, validate=validate.OneOf(TRANSFER_REASONS))
    address = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, 2000),
                         metadata={"description": "the victim's new address if known "
                                                  "(personal data: kept encrypted)"})
    heard_in_origin = fields.Bool(required=True,
                                  metadata={"description": "the case was already heard here"})
    named_on_case_list = fields.Bool(required=True, metadata={
        "description": "a case list already sent named the case"})
    open_actions = fields.Nested(ActionPlanSchema, load_default=lambda: {
        "default": domain.HAND_OVER, "actions": {}}, metadata={
        "description": "what becomes of the case's open actions on acceptance: handed over "
                       "(`hand_over`) or closed as circumstances changed (`close`), by action "
                       "id, else `default`"})
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, NOTE_MAX))
    # Personal, kept encrypted under the case's key and sent only inside the package.
    safeguarding_in_place = safeguarding_field(
        "the safeguarding in place for the victim now (free text, kept encrypted)")
    idva = fields.Nested(IdvaSchema, load_default=None, allow_none=True, metadata={
        "description": "this area's IDVA, for the receiving area's to hand over from "
                       "(kept encrypted)"})


class AcceptIn(Schema):
    class Meta:
        unknown = RAISE

    action_owner_agency = fields.Str(load_default=None, allow_none=True,
                                     validate=validate.Length(1, 64), metadata={
                                         "description": "the agency of this area that owns "
                                                        "the actions handed over"})
    action_owners = fields.Dict(keys=fields.Str(validate=validate.Length(1, 64)),
                                values=fields.Str(validate=validate.Length(1, 64)),
                                load_default=dict, validate=validate.Length(max=MAX_ACTIONS),
                                metadata={"description": "owner agency by action id"})


class DeclineIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.Str(required=True, validate=validate.OneOf(domain.DECLINE_REASONS))
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(1, NOTE_MAX))


class NoteIn(Schema):
    class Meta:
        unknown = RAISE

    text = fields.Str(required=True, validate=validate.Length(1, NOTE_MAX))


class NoteOut(Schema):
    from_area = fields.Str()
    author = fields.Str()
    at = fields.DateTime()
    text = fields.Str(allow_none=True)


class ListQuery(Schema):
    status = fields.Str(load_default=None, validate=validate.OneOf(
        [s.value for s in domain.TransferStatus]))


class TransferView(Schema):
    id = fields.Str()
    direction = fields.Str()
    case_id = fields.Str()
    origin_case_id = fields.Str()
    from_area = fields.Str()
    to_area = fields.Str()
    remote = fields.Bool()
    reason = fields.Str()
    heard_in_origin = fields.Bool()
    named_on_case_list = fields.Bool()
    address = fields.Str(allow_none=True)
    open_actions = fields.Dict()
    status = fields.Str()
    requested_at = fields.DateTime()
    received_at = fields.DateTime()
    answered_at = fields.DateTime(allow_none=True)
    decline_reason = fields.Str(allow_none=True)
    new_case_id = fields.Str(allow_none=True)
    referral_id = fields.Str(allow_none=True)
    delivery = fields.Str(allow_none=True, metadata={
        "description": "to another deployment: packing (waiting for the case's documents "
                       "and actions), pending, delivered, answered or failed"})
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True)
    actions_part = fields.Str(allow_none=True, metadata={
        "description": "the case's documents and actions in the package: included, too_large "
                       "(sent without them: too large for one event) or missing (sent "
                       "without them: the actions service did not answer in time); None while "
                       "waiting for them"})
    safeguarding_in_place = fields.Str(allow_none=True)
    idva = fields.Dict(allow_none=True, metadata={
        "description": "the sending area's IDVA to hand over from: name, agency, contact"})
    package = fields.Dict(allow_none=True, metadata={
        "description": "incoming: everything the sending area sent (None once declined)"})


class InboundOut(Schema):
    transfer_id = fields.Str()
    area_id = fields.Str(metadata={"description": "our area the message was for"})
    status = fields.Str(metadata={"description": "the transfer's status here"})
