"""A case transferred to another area. Asked for: the case's information-and-updates documents
and its actions (open and closed) go with the package, encrypted under the case's key
(`transfer.packed`; the referral service re-wraps them for the receiving area). Completed:
each of its open actions is handed over to the new area's case (owned by the agency its
coordinator named) or closed as "circumstances changed", as the sending area's coordinator
decided; research still owed on it is withdrawn."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from typing import Any

from sqlalchemy import select

from marac_platform import events, transfer_record
from marac_platform.db import utcnow
from marac_platform.payloads import (
    ActionCreated,
    ActionStatusChanged,
    TransferCompleted,
    TransferPacked,
    TransferRequested,
)
from marac_platform.runtime import UnitOfWork
from marac_platform.security.crypto import KeyErased
from services.actions import domain, research, service, smart, updates
from services.actions.domain import ActionStatus
from services.actions.models import Action, ActionChange, ListedCase, UpdatesVersion
from services.actions.smart import DETAILS_FIELD, NOTE_FIELD

log = logging.getLogger(__name__)

SYSTEM = "system"
TRANSFERRED = "transferred"  # a listing whose case went to another area
HAND_OVER, CLOSE = "hand_over", "close"
# The field the packed record is encrypted as, under the sending case's key (referral reads it).
RECORD_FIELD = "transfer.case_record"
CLOSED_NOTE = "Circumstances changed: the case was transferred to another area."
HANDED_NOTE = "Handed over to the area the case was transferred to."


def handed_over_id(transfer_id: str, action_id: str) -> str:
    """The new area's copy of an action: one id per transfer and action, so never twice."""
    digest = hashlib.sha256(f"{transfer_id}\x1f{action_id}".encode()).hexdigest()[:24]
    return f"act-{digest}"


def _move(uow: UnitOfWork, action: Action, asked: ActionStatus, note: str) -> None:
    current = ActionStatus(action.status)
    domain.ACTION_MOVES.move(current, asked)
    now = utcnow()
    action.status = asked.value
    action.updated_at = now
    uow.session.add(ActionChange(
        action_id=action.id, area_id=action.area_id, from_status=current.value,
        to_status=asked.value, at=now, by=SYSTEM, by_agency=SYSTEM,
        note=service.keys(uow.runtime).encrypt(action.case_id, NOTE_FIELD, note)))
    uow.publish(events.ACTION_STATUS_CHANGED, subject=action.case_id, area=action.area_id,
                data=ActionStatusChanged(
                    action_id=action.id, case_id=action.case_id, area_id=action.area_id,
                    owner_agency=action.owner_agency, asked_by_agency=action.asked_by_agency,
                    from_status=current.value, to_status=asked.value, by=SYSTEM, at=now))


def _close(uow: UnitOfWork, action: Action, note: str) -> None:
    """Closed as circumstances changed (not possible); a proposal not yet agreed is cancelled."""
    asked = (ActionStatus.CANCELLED if action.status == ActionStatus.PROPOSED
             else ActionStatus.NOT_POSSIBLE)
    _move(uow, action, asked, note)


def _hand_over(uow: UnitOfWork, action: Action, completed: TransferCompleted,
               owner: str) -> None:
    new_id = handed_over_id(completed.transfer_id, action.id)
    if uow.session.get(Action, new_id) is None:
        keys = service.keys(uow.runtime)
        details = (keys.decrypt(action.case_id, DETAILS_FIELD, action.details)
                   if action.details else {"what": "", "risk": ""})
        now = utcnow()
        status = ActionStatus(action.status)
        copy = Action(
            id=new_id, case_id=completed.new_case_id, area_id=completed.to_area, meeting_id=None,
            owner_agency=owner, asked_by_agency=owner, catalogue_code=action.catalogue_code,
            details=keys.encrypt(completed.new_case_id, DETAILS_FIELD, details),
            for_whom=action.for_whom, due_by=action.due_by, status=status.value,
            created_at=now, created_by=SYSTEM, updated_at=now)
        uow.session.add(copy)
        uow.session.add(ActionChange(action_id=copy.id, area_id=copy.area_id, from_status=None,
                                     to_status=status.value, at=now, by=SYSTEM,
                                     by_agency=SYSTEM))
        uow.publish(events.ACTION_CREATED, subject=copy.case_id, area=copy.area_id,
                    data=ActionCreated(
                        action_id=copy.id, case_id=copy.case_id, area_id=copy.area_id,
                        meeting_id=None, owner_agency=owner, asked_by_agency=owner,
                        catalogue_code=copy.catalogue_code, for_whom=copy.for_whom,
                        due_by=copy.due_by, status=status.value, by=SYSTEM, at=now))
    _close(uow, action, HANDED_NOTE)


def transfer_out(uow: UnitOfWork, completed: TransferCompleted) -> None:
    """Handler of transfer.completed, once per transfer (an action already closed is not
    touched again). Actions are handed over only to an area this deployment serves; to
    another deployment they are closed here (the package tells the partner of them)."""
    local = uow.runtime.areas.get(completed.to_area) is not None
    for listing in uow.session.scalars(select(ListedCase).where(
            ListedCase.case_id == completed.case_id, ListedCase.status == research.LISTED)):
        research._withdraw_listing(uow, listing, TRANSFERRED)
    open_actions = uow.session.scalars(select(Action).where(
        Action.case_id == completed.case_id, Action.erased_at.is_(None),
        Action.status.in_(sorted(domain.OPEN_ACTIONS))).order_by(Action.created_at, Action.id))
    for action in list(open_actions):
        decision = completed.action_decisions.get(action.id, completed.open_actions)
        owner = completed.action_owners.get(action.id, completed.action_owner_agency)
        if decision == HAND_OVER and local and owner is not None:
            _hand_over(uow, action, completed, owner)
        else:
            _close(uow, action, CLOSED_NOTE)
    log.info("actions of a transferred case settled",
             extra={"case_id": completed.case_id, "transfer_id": completed.transfer_id})


# --- the package's part from here -------------------------------------------------------------
def case_record(uow: UnitOfWork, case_id: str) -> dict[str, Any]:
    """The case's information-and-updates documents (every version, what each says) and its
    actions, open and closed, each with its history, oldest first."""
    documents = [{
        "updates_id": found.id, "meeting_id": found.meeting_id, "marac_date": found.marac_date,
        "version": found.version, "reason": found.reason, "compiled_at": found.compiled_at,
        "content": updates.one_version(uow, found.id)[1] if found.content else None,
    } for found in uow.session.scalars(select(UpdatesVersion).where(
        UpdatesVersion.case_id == case_id).order_by(
        UpdatesVersion.marac_date, UpdatesVersion.version))]
    actions = [{
        "action_id": action.id, "meeting_id": action.meeting_id,
        "owner_agency": action.owner_agency, "asked_by_agency": action.asked_by_agency,
        "catalogue_code": action.catalogue_code, **smart.details_of(uow, action),
        "for_whom": action.for_whom, "due_by": action.due_by, "status": action.status,
        "done_on": action.done_on, "open": action.status in domain.OPEN_ACTIONS,
        "created_at": action.created_at, "history": smart.history_of(uow, action),
    } for action in uow.session.scalars(select(Action).where(
        Action.case_id == case_id, Action.erased_at.is_(None)).order_by(
        Action.created_at, Action.id))]
    # As JSON: dates as ISO text, as the package carries them.
    plain: dict[str, Any] = json.loads(json.dumps(
        {"updates": documents, "actions": actions},
        default=lambda v: v.isoformat() if isinstance(v, date) else str(v)))
    return plain


def pack(uow: UnitOfWork, requested: TransferRequested) -> None:
    """Handler of transfer.requested in the sending area's deployment: this service's part of
    the package, encrypted under the case's key, for the referral service (once per transfer:
    it keeps the first). A request told here by another deployment is not ours to pack."""
    if uow.runtime.areas.get(requested.from_area) is None:
        return
    try:
        record = case_record(uow, requested.case_id)
        keys = service.keys(uow.runtime)
        # Compressed before it is encrypted; too large for one event even so, only a marker
        # goes (the package is then sent without this part, marked so on both sides).
        sealed, part = transfer_record.seal(
            lambda value: keys.encrypt(requested.case_id, RECORD_FIELD, value), record)
    except KeyErased:  # erased meanwhile: there is no package to make
        log.warning("transfer record not packed: the case is erased",
                    extra={"transfer_id": requested.transfer_id})
        return
    uow.publish(events.TRANSFER_PACKED, subject=requested.case_id, area=requested.from_area,
                data=TransferPacked(
                    transfer_id=requested.transfer_id, case_id=requested.case_id,
                    from_area=requested.from_area, to_area=requested.to_area, record=sealed,
                    packed_at=utcnow()))
    log.log(logging.INFO if part == transfer_record.INCLUDED else logging.ERROR,
            "transfer record packed" if part == transfer_record.INCLUDED
            else "transfer record too large for one event: sent without it", extra={
                "transfer_id": requested.transfer_id,
                "count": len(record["actions"]), "reason_code": part})
