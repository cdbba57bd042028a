"""Request and response bodies of the actions service's API. Every field a client sends has
its limit here (the OpenAPI document states them)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from marac_platform.payloads import ACTION_STATUSES, FOR_WHOM
from services.actions.updates import EDIT_REASONS

TEXT = 4000  # one answer of a return
AGENCY = validate.Length(1, 64)


def Text(limit: int = TEXT) -> fields.Str:
    return fields.Str(load_default="", validate=validate.Length(0, limit))


class CaseRecordOut(Schema):
    case_id = fields.Str()
    referral_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    marac_date = fields.Date()
    status = fields.Str()
    opened_at = fields.DateTime()
    updated_at = fields.DateTime()


# --- research returns ------------------------------------------------------------------------


class SubjectIn(Schema):
    known = Text()
    current_involvement = Text()
    risks = Text()


class ChildIn(SubjectIn):
    label = fields.Str(load_default="", validate=validate.Length(0, 100),
                       metadata={"description": "how the case list names the child, e.g. child 1"})


class ProposedActionIn(Schema):
    what = fields.Str(required=True, validate=validate.Length(1, 500))
    for_whom = fields.Str(required=True, validate=validate.OneOf(FOR_WHOM))


class ReturnIn(Schema):
    status = fields.Str(load_default="submitted", validate=validate.OneOf(("draft", "submitted")),
                        metadata={"description": "draft: saved, only your agency sees it; "
                                                 "submitted: sent (amendable until the closing date)"})
    involvement = fields.Str(required=True, validate=validate.OneOf(("held", "nothing_held")))
    victim = fields.Nested(SubjectIn, load_default=None, allow_none=True)
    perpetrator = fields.Nested(SubjectIn, load_default=None, allow_none=True)
    children = fields.List(fields.Nested(ChildIn), load_default=list, validate=validate.Length(0, 20))
    safeguarding_in_place = Text()
    proposed_actions = fields.List(fields.Nested(ProposedActionIn), load_default=list,
                                   validate=validate.Length(0, 20))


class SubjectOut(Schema):
    known = fields.Str()
    current_involvement = fields.Str()
    risks = fields.Str()


class ChildOut(SubjectOut):
    label = fields.Str()


class ProposedActionOut(Schema):
    what = fields.Str()
    for_whom = fields.Str()


class ReturnContentOut(Schema):
    victim = fields.Nested(SubjectOut, allow_none=True)
    perpetrator = fields.Nested(SubjectOut, allow_none=True)
    children = fields.List(fields.Nested(ChildOut))
    safeguarding_in_place = fields.Str(allow_none=True)
    proposed_actions = fields.List(fields.Nested(ProposedActionOut))


class ReturnSummaryOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    agency_id = fields.Str()
    status = fields.Str(metadata={"description": "owed | draft | submitted | withdrawn"})
    due_date = fields.Date(metadata={"description": "the closing date"})
    deadline = fields.DateTime(metadata={"description": "the instant the closing date closes"})
    involvement = fields.Str(allow_none=True)
    owed_at = fields.DateTime()
    saved_at = fields.DateTime(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    late = fields.Bool(metadata={"description": "first sent after the closing instant"})
    amendments = fields.Int()


class ReturnOut(ReturnSummaryOut):
    content = fields.Nested(ReturnContentOut, allow_none=True, metadata={
        "description": "what the return says: for its own agency, and once sent for the "
                       "coordinator and chair; null otherwise"})


class ReturnsQuery(Schema):
    agency_id = fields.Str(load_default=None, validate=AGENCY,
                           metadata={"description": "coordinators: one agency's (an agency sees its own)"})
    outstanding = fields.Bool(load_default=True, metadata={"description": "owed or draft only"})
    limit = fields.Int(load_default=100, validate=validate.Range(1, 500))


class CaseReturnsOut(Schema):
    case_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    status = fields.Str(metadata={"description": "listed | heard | moved | deferred | erased"})
    due_date = fields.Date()
    deadline = fields.DateTime()
    returns = fields.List(fields.Nested(ReturnSummaryOut))


# --- SMART actions ---------------------------------------------------------------------------


class CatalogueItemOut(Schema):
    code = fields.Str()
    title = fields.Str()
    for_whom = fields.List(fields.Str())


class ActionIn(Schema):
    catalogue_code = fields.Str(load_default=None, validate=validate.Length(1, 64),
                                metadata={"description": "an action of the area's catalogue"})
    what = fields.Str(load_default="", validate=validate.Length(0, 500),
                      metadata={"description": "default: the catalogue action's title"})
    owner_agency = fields.Str(required=True, validate=AGENCY)
    asked_by_agency = fields.Str(load_default=None, validate=AGENCY,
                                 metadata={"description": "default: the caller's agency"})
    risk = fields.Str(load_default="", validate=validate.Length(0, 1000),
                      metadata={"description": "the risk it addresses"})
    for_whom = fields.Str(required=True, validate=validate.OneOf(FOR_WHOM))
    due_by = fields.Date(required=True, metadata={"description": "today or later"})
    status = fields.Str(load_default="proposed", validate=validate.OneOf(("proposed", "agreed")))


class ActionMoveIn(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(ACTION_STATUSES))
    note = fields.Str(load_default=None, validate=validate.Length(0, 2000), metadata={
        "description": "what was done (completed); why (not_possible, not_done)"})
    done_on = fields.Date(load_default=None, metadata={"description": "completed: default today"})


class ActionChangeOut(Schema):
    from_status = fields.Str(allow_none=True)
    to_status = fields.Str()
    at = fields.DateTime()
    by = fields.Str()
    by_agency = fields.Str()
    note = fields.Str(allow_none=True)


class ActionOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str(allow_none=True)
    owner_agency = fields.Str()
    asked_by_agency = fields.Str()
    catalogue_code = fields.Str(allow_none=True)
    what = fields.Str(allow_none=True)
    risk = fields.Str(allow_none=True)
    for_whom = fields.Str()
    due_by = fields.Date()
    status = fields.Str(metadata={"description": " | ".join(ACTION_STATUSES)})
    overdue = fields.Bool()
    done_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    created_by = fields.Str()
    updated_at = fields.DateTime()


class ActionDetailOut(ActionOut):
    history = fields.List(fields.Nested(ActionChangeOut))


class ActionsQuery(Schema):
    agency_id = fields.Str(load_default=None, validate=AGENCY,
                           metadata={"description": "coordinators: one agency's (an agency sees its own)"})
    limit = fields.Int(load_default=100, validate=validate.Range(1, 500))


class ReportCountsOut(Schema):
    completed_on_time = fields.Int()
    completed_late = fields.Int()
    outstanding = fields.Int()
    overdue = fields.Int()
    not_possible = fields.Int()
    not_done = fields.Int()
    cancelled = fields.Int()


class AgencyReportOut(ReportCountsOut):
    agency_id = fields.Str()


class ReportOut(Schema):
    area_id = fields.Str()
    on = fields.Date()
    agencies = fields.List(fields.Nested(AgencyReportOut))
    area = fields.Nested(ReportCountsOut)


# --- the chair's record and the document -------------------------------------------------------


class ChairRecordIn(Schema):
    agencies_present = fields.List(fields.Str(validate=AGENCY), required=True,
                                   validate=validate.Length(1, 50))
    briefed = fields.List(fields.Str(validate=AGENCY), load_default=list,
                          validate=validate.Length(0, 50),
                          metadata={"description": "agencies whose representative was briefed"})
    risks_agreed = Text()
    deferred = fields.Bool(load_default=False)
    deferred_reason = fields.Str(load_default="", validate=validate.Length(0, 1000))


class ChairRecordOut(Schema):
    case_id = fields.Str()
    meeting_id = fields.Str()
    area_id = fields.Str()
    agencies_present = fields.List(fields.Str())
    briefed = fields.List(fields.Str())
    risks_agreed = fields.Str(allow_none=True)
    deferred = fields.Bool()
    deferred_reason = fields.Str(allow_none=True)
    recorded_at = fields.DateTime()
    recorded_by = fields.Str()


class UpdatesIn(Schema):
    reason = fields.Str(required=True, validate=validate.OneOf(EDIT_REASONS))


class UpdatesVersionOut(Schema):
    id = fields.Str()
    case_id = fields.Str()
    area_id = fields.Str()
    meeting_id = fields.Str()
    marac_date = fields.Date()
    version = fields.Int()
    reason = fields.Str()
    compiled_at = fields.DateTime()
    compiled_by = fields.Str()


class UpdatesDocumentOut(UpdatesVersionOut):
    document = fields.Dict(keys=fields.Str(), values=fields.Raw(), metadata={
        "description": "what the document says (the HTML and PDF render the same)"})
