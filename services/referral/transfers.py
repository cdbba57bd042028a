"""Inter-MARAC transfers: a coordinator of area A asks area B to take a case over; B's
coordinators accept (a case opens in B, reassessed under B's rules and allocated by B's
calendar) or decline; A's case is then transferred out, linked to B's.

Each side keeps its own record (`TransferOut` in A, `TransferIn` in B), so the same steps
serve two areas of one deployment and two deployments (services/referral/partners.py). The
package of personal data never rides a topic: in B it is encrypted under the key of the case
it will open there (a new data key wrapped by B's area key); A's copy stays under A's key.
Every step is idempotent by transfer id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from marac_platform import events, payloads, transfer_record
from marac_platform.db import new_id, utcnow
from marac_platform.errors import Conflict, InvalidInput, NotFound
from marac_platform.problems import flatten_messages
from marac_platform.runtime import Runtime, UnitOfWork
from marac_platform.security.crypto import KeyErased
from marac_platform.security.tokens import Principal
from services.referral import domain, identity, schemas, service
from services.referral.forms import key_store, read_form, store_form
from services.referral.models import Case, Referral, TransferIn, TransferNote, TransferOut

log = logging.getLogger(__name__)

ADDRESS_FIELD = "transfer.address"
HANDOVER_FIELD = "transfer.handover"  # the safeguarding in place and A's IDVA
# The actions service's part, as it encrypted it under A's case key (services/actions/transfers.py).
RECORD_FIELD = "transfer.case_record"
PACKAGE_FIELD = "transfer.package"
NOTE_FIELD = "transfer.note"
T = domain.TransferStatus
S = domain.ReferralState
SYSTEM = "system"


class TransferConflict(Conflict):
    slug = "transfer-state"


# --- the package (the same schema inside one deployment and between two) --------------------
MAX_DOCUMENTS = 200  # versions of the information-and-updates document a package may carry
MAX_PACKED_ACTIONS = 2000


class PackageReferralSchema(Schema):
    referral_id = fields.Str(required=True, validate=validate.Length(1, 64))
    state = fields.Str(required=True, validate=validate.OneOf([s.value for s in S]))
    referral_date = fields.Date(allow_none=True, load_default=None)
    received_at = fields.AwareDateTime(allow_none=True, load_default=None)
    marac_date = fields.Date(allow_none=True, load_default=None)
    repeat = fields.Bool(load_default=False)
    # Risk's assessment with its checklist version and every criterion's decision and reason.
    assessment = fields.Dict(allow_none=True, load_default=None)


class IdvaSchema(Schema):
    """A's IDVA for B's to hand over from (personal: encrypted like the address)."""

    class Meta:
        unknown = RAISE

    name = fields.Str(required=True, validate=validate.Length(1, schemas.NAME_MAX))
    agency = fields.Str(required=True, validate=validate.Length(1, schemas.NAME_MAX))
    contact = fields.Str(load_default=None, allow_none=True,
                         validate=validate.Length(1, schemas.EMAIL_MAX), metadata={
                             "description": "a phone number or secure email"})


def safeguarding_field(description: str = "the safeguarding in place") -> fields.Str:
    return fields.Str(load_default=None, allow_none=True,
                      validate=validate.Length(1, schemas.NARRATIVE_MAX),
                      metadata={"description": description})


class PackageNoteSchema(Schema):
    from_area = fields.Str(required=True, validate=validate.Regexp(payloads.AREA_ID_PATTERN))
    author = fields.Str(required=True, validate=validate.Length(1, 256))
    at = fields.AwareDateTime(required=True)
    text = fields.Str(required=True, validate=validate.Length(1, 5000))


class PackageSchema(Schema):
    """What a transfer carries to the receiving area. The form is checked again with the
    submit schema of a local referral (`service.check_form`)."""

    class Meta:
        unknown = RAISE

    version = fields.Int(required=True, validate=validate.Equal(
        domain.PACKAGE_VERSION,
        error=f"Unknown package version; this platform reads version {domain.PACKAGE_VERSION}."))
    transfer_id = fields.Str(required=True, validate=validate.Length(1, 64))
    from_area = fields.Str(required=True, validate=validate.Regexp(payloads.AREA_ID_PATTERN))
    to_area = fields.Str(required=True, validate=validate.Regexp(payloads.AREA_ID_PATTERN))
    origin_case_id = fields.Str(required=True, validate=validate.Length(1, 64))
    reason = fields.Str(required=True, validate=validate.OneOf(payloads.TRANSFER_REASONS))
    heard_in_origin = fields.Bool(required=True)
    named_on_case_list = fields.Bool(required=True)
    address = fields.Str(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    requested_at = fields.AwareDateTime(required=True)
    referrer_agency = fields.Str(required=True, validate=validate.Length(1, 256))
    urgent = fields.Bool(load_default=False)
    referral_date = fields.Date(required=True)  # the current referral's, in A
    referral_form = fields.Dict(required=True)
    referrals = fields.List(fields.Nested(PackageReferralSchema), load_default=list)
    # The victim's earlier MARAC referrals before the current one: the repeat clock.
    history = fields.List(fields.Nested(payloads.PreviousReferralSchema), load_default=list)
    action_plan = fields.Dict(load_default=dict)
    # The coordinators' notes so far (free text, as personal as the form).
    notes = fields.List(fields.Nested(PackageNoteSchema), load_default=list)
    # From the actions service: every version of the case's information-and-updates document
    # (what each says), and the case's actions, open and closed, each with its history.
    updates = fields.List(fields.Dict(), load_default=list,
                          validate=validate.Length(max=MAX_DOCUMENTS))
    actions = fields.List(fields.Dict(), load_default=list,
                          validate=validate.Length(max=MAX_PACKED_ACTIONS))
    # Whether the actions service's part (`updates`, `actions`) is in: `too_large` for one
    # event, or `missing` (it did not answer within MARAC_TRANSFER_PACKING_TIMEOUT_S).
    actions_part = fields.Str(load_default=transfer_record.INCLUDED,
                              validate=validate.OneOf(transfer_record.ACTIONS_PARTS))
    # A's coordinator's handover: the safeguarding in place now, and A's IDVA.
    safeguarding_in_place = safeguarding_field()
    idva = fields.Nested(IdvaSchema, load_default=None, allow_none=True)


def check_package(document: Any) -> dict[str, Any]:
    """The package loaded, its form checked as a submitted referral's; else a 422 naming the
    field (`version` first: a package of another version is not read further)."""
    if isinstance(document, dict) and document.get("version") != domain.PACKAGE_VERSION:
        raise InvalidInput("version", f"Unknown package version; this platform reads version "
                           f"{domain.PACKAGE_VERSION}.", slug="invalid-transfer-package",
                           detail="The transfer package is of a version this platform cannot read.")
    try:
        package: dict[str, Any] = PackageSchema().load(document)
    except ValidationError as exc:
        (first, *more) = list(flatten_messages(exc.messages))
        raise InvalidInput(first["field"], first["reason"], slug="invalid-transfer-package",
                           more=[(e["field"], e["reason"]) for e in more],
                           detail="The transfer package has invalid fields; see errors.") from None
    form = dict(package["referral_form"], area_id=package["to_area"])
    try:
        service.check_form(form, submit=True)
    except InvalidInput as exc:
        (first, *more) = exc.errors
        raise InvalidInput(f"referral_form.{first['field']}", first["reason"],
                           more=[(f"referral_form.{e['field']}", e["reason"]) for e in more],
                           slug="invalid-transfer-package",
                           detail="The transferred referral form is not valid.") from None
    return package


def package_json(package: Mapping[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = PackageSchema().dump(package)
    return dumped


# --- A: asking ------------------------------------------------------------------------------
MAX_ACTIONS = 500  # a case's actions named one by one


class ActionPlanSchema(Schema):
    class Meta:
        unknown = RAISE

    default = fields.Str(load_default=domain.HAND_OVER, validate=validate.OneOf(
        domain.ACTION_DECISIONS))
    actions = fields.Dict(keys=fields.Str(validate=validate.Length(1, 64)),
                          values=fields.Str(validate=validate.OneOf(domain.ACTION_DECISIONS)),
                          load_default=dict, validate=validate.Length(max=MAX_ACTIONS))


def destination(uow: UnitOfWork, from_area: str, to_area: str) -> bool:
    """Whether `to_area` is served by another deployment (True) or here (False); a 422 naming
    `to_area` when it is neither here nor a configured partner of the case's area."""
    if to_area == from_area:
        raise InvalidInput("to_area", "Must be another area than the case's.")
    if uow.runtime.areas.get(to_area) is not None:
        return False
    from services.referral.partners import partner_of

    if partner_of(uow.runtime, from_area, to_area) is not None:
        return True
    raise InvalidInput("to_area", "Not an area this platform serves, nor a configured partner "
                       "of the case's area.", detail="No such area to transfer to.")


def current_referrals(uow: UnitOfWork, case_id: str) -> list[Referral]:
    """The case's referrals still open (not drafts, closed or transferred), oldest first."""
    return list(uow.session.scalars(
        select(Referral).where(Referral.case_id == case_id,
                               Referral.state.in_(sorted(domain.OPEN_STATES)))
        .order_by(Referral.created_at, Referral.id)))


def open_transfer(uow: UnitOfWork, case_id: str) -> TransferOut | None:
    return uow.session.scalar(select(TransferOut).where(
        TransferOut.case_id == case_id,
        TransferOut.status.in_((T.REQUESTED.value, T.ACCEPTED.value))))


def request_transfer(uow: UnitOfWork, who: Principal, case_id: str,
                     body: Mapping[str, Any]) -> TransferOut:
    """A's coordinator asks for the transfer; nothing of the case changes until B answers."""
    case = uow.session.scalar(select(Case).where(Case.id == case_id))
    if case is None:
        raise NotFound("No such case.")
    if case.status != domain.CaseStatus.OPEN:
        raise TransferConflict(f"a case in status {case.status} cannot be transferred")
    remote = destination(uow, case.area_id, body["to_area"])
    if not current_referrals(uow, case.id):
        raise TransferConflict("the case has no open referral to transfer")
    if open_transfer(uow, case.id) is not None:
        raise TransferConflict("the case already has a transfer waiting for an answer")
    now = utcnow()
    address = body.get("address")
    store = key_store(uow.runtime)
    handover = {"safeguarding_in_place": body.get("safeguarding_in_place"),
                "idva": body.get("idva")}
    transfer = TransferOut(
        id=new_id("trf"), area_id=case.area_id, case_id=case.id, to_area=body["to_area"],
        remote=remote, reason=body["reason"], heard_in_origin=body["heard_in_origin"],
        named_on_case_list=body["named_on_case_list"],
        address=store.encrypt(case.id, ADDRESS_FIELD, address) if address else None,
        handover=(store.encrypt(case.id, HANDOVER_FIELD, handover)
                  if any(handover.values()) else None),
        action_plan=body["open_actions"], status=T.REQUESTED.value, requested_by=who.subject,
        requested_at=now, attempts=0, delivery="packing" if remote else None)
    uow.session.add(transfer)
    uow.session.flush()
    if body.get("note"):  # goes with the package
        write_note(uow, transfer.id, "out", case.area_id, case.id, who.subject, body["note"])
    uow.publish(events.TRANSFER_REQUESTED, subject=case.id, area=case.area_id,
                data=payloads.TransferRequested(
                    transfer_id=transfer.id, case_id=case.id, from_area=case.area_id,
                    to_area=transfer.to_area, reason=transfer.reason, remote=remote,
                    requested_at=now))
    return transfer


def build_package(uow: UnitOfWork, transfer: TransferOut) -> dict[str, Any]:
    """Everything relevant the sending area holds on the case, for the receiving area: the
    current referral's form, every referral with its assessment, the repeat clock, and the
    actions service's part (the information-and-updates documents, the actions)."""
    referrals = list(uow.session.scalars(
        select(Referral).where(Referral.case_id == transfer.case_id,
                               Referral.state != S.DRAFT.value)
        .order_by(Referral.created_at, Referral.id)))
    current = [r for r in referrals if S(r.state) in domain.OPEN_STATES][-1]
    store = key_store(uow.runtime)
    form = read_form(uow.runtime, current)
    declared: list[tuple[str, date]] = []
    inherited: list[tuple[str, date]] = []
    for referral in referrals:
        for item in read_form(uow.runtime, referral).get("previous_marac_referrals") or []:
            if item.get("date"):
                declared.append((item.get("area_id") or payloads.UNKNOWN_AREA,
                                 date.fromisoformat(str(item["date"]))))
        inherited += [(h["area_id"], date.fromisoformat(h["date"]))
                      for h in referral.transferred_history or []]
    earlier = [(r.referral_date, S(r.state) in domain.COUNTED_STATES)
               for r in referrals if r.id != current.id]
    history = domain.repeat_clock(transfer.area_id, earlier, declared, inherited)
    current_date = current.referral_date or utcnow().date()
    record, part = ((transfer_record.read(store.decrypt(transfer.case_id, RECORD_FIELD,
                                                       transfer.record)))
                    if transfer.record else ({}, transfer_record.MISSING))
    handover = (store.decrypt(transfer.case_id, HANDOVER_FIELD, transfer.handover)
                if transfer.handover else {})
    return {
        "version": domain.PACKAGE_VERSION, "transfer_id": transfer.id,
        "from_area": transfer.area_id, "to_area": transfer.to_area,
        "origin_case_id": transfer.case_id, "reason": transfer.reason,
        "heard_in_origin": transfer.heard_in_origin,
        "named_on_case_list": transfer.named_on_case_list,
        "address": (store.decrypt(transfer.case_id, ADDRESS_FIELD, transfer.address)
                    if transfer.address else None),
        "requested_at": transfer.requested_at, "referrer_agency": current.referrer_agency,
        "urgent": current.urgent, "referral_date": current_date, "referral_form": form,
        "referrals": [{"referral_id": r.id, "state": r.state, "referral_date": r.referral_date,
                       "received_at": r.received_at, "marac_date": r.marac_date,
                       "repeat": r.repeat, "assessment": r.assessment} for r in referrals],
        "history": [{"area_id": area, "date": day} for area, day in history
                    if day < current_date or area != transfer.area_id],
        "action_plan": dict(transfer.action_plan),
        "notes": [note for note in side_notes(uow, transfer.id, "out", transfer.case_id)
                  if note["text"] is not None],
        "updates": list(record.get("updates") or []),
        "actions": list(record.get("actions") or []),
        "actions_part": part,
        "safeguarding_in_place": handover.get("safeguarding_in_place"),
        "idva": handover.get("idva"),
    }


# --- B: receiving ---------------------------------------------------------------------------
def receive(uow: UnitOfWork, package: Mapping[str, Any], *, remote: bool) -> TransferIn:
    """Keep an offered transfer for B's coordinators, once per transfer id (a package sent
    again is the same offer). The package is encrypted under a new case key of B's area."""
    existing = uow.session.get(TransferIn, package["transfer_id"])
    if existing is not None:
        return existing
    new_case_id = new_id("case")
    store = key_store(uow.runtime)
    store.create(new_case_id, package["to_area"])
    offer = TransferIn(
        id=package["transfer_id"], area_id=package["to_area"], from_area=package["from_area"],
        origin_case_id=package["origin_case_id"], remote=remote, reason=package["reason"],
        heard_in_origin=package["heard_in_origin"],
        named_on_case_list=package["named_on_case_list"],
        package=store.encrypt(new_case_id, PACKAGE_FIELD, package_json(package)),
        new_case_id=new_case_id, action_plan=dict(package.get("action_plan") or {}),
        status=T.REQUESTED.value, received_at=utcnow(), answer_attempts=0)
    uow.session.add(offer)
    for note in package.get("notes") or []:
        uow.session.add(TransferNote(
            transfer_id=offer.id, side="in", area_id=offer.area_id, from_area=note["from_area"],
            author=note["author"], at=note["at"],
            text=store.encrypt(new_case_id, NOTE_FIELD, note["text"])))
    uow.session.flush()
    if remote:
        # From another deployment: told here as here, so this area's coordinators hear of it.
        uow.publish(events.TRANSFER_REQUESTED, subject=offer.origin_case_id, area=offer.area_id,
                    data=payloads.TransferRequested(
                        transfer_id=offer.id, case_id=offer.origin_case_id,
                        from_area=offer.from_area, to_area=offer.area_id, reason=offer.reason,
                        remote=True, requested_at=package["requested_at"]))
    log.info("transfer offered", extra={"transfer_id": offer.id, "area_id": offer.area_id})
    return offer


def on_packed(uow: UnitOfWork, packed: payloads.TransferPacked) -> None:
    """Handler of transfer.packed: the actions service's part of the package arrived (kept
    once, as it came: ciphertext under A's case key). The package is then complete: to an
    area served here it is offered at once; to another deployment it is due to be sent."""
    transfer = uow.session.get(TransferOut, packed.transfer_id)
    if transfer is None or transfer.status != T.REQUESTED or transfer.case_id != packed.case_id:
        return  # not ours, or answered (or failed) already
    if transfer.actions_part == transfer_record.MISSING:
        return  # too late: the package went without it (packing_overdue), and says so
    if transfer.record is None:
        try:
            _, part = transfer_record.read(key_store(uow.runtime).decrypt(
                transfer.case_id, RECORD_FIELD, packed.record))
        except KeyErased:
            return  # the case was erased meanwhile: there is no package to make
        transfer.record = packed.record
        transfer.packed_at = packed.packed_at
        transfer.actions_part = part
    complete(uow, transfer)


def complete(uow: UnitOfWork, transfer: TransferOut) -> None:
    """The package is complete: to an area served here it is offered at once; to another
    deployment it is due to be sent."""
    if transfer.remote:
        if transfer.delivery == "packing":
            transfer.delivery = "pending"
            transfer.next_attempt_at = utcnow()
        return
    offer_locally(uow, transfer)


def packing_overdue(runtime: Runtime, now: datetime | None = None) -> int:
    """The timed job: a transfer whose actions part has not come within
    MARAC_TRANSFER_PACKING_TIMEOUT_S of its request (the actions service never answered) is
    not left waiting: its package goes without that part, marked `actions_part: missing` for
    both coordinators (a late transfer.packed is then ignored). The number completed so."""
    from services.referral.partners import settings

    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings(runtime).packing_timeout_s)
    with runtime.unit_of_work() as uow:
        waiting = list(uow.session.scalars(select(TransferOut.id).where(
            TransferOut.status == T.REQUESTED.value, TransferOut.record.is_(None),
            TransferOut.actions_part.is_(None), TransferOut.requested_at <= cutoff)
            .order_by(TransferOut.requested_at).limit(20)))
    done = 0
    for transfer_id in waiting:
        with runtime.unit_of_work() as uow:
            statement = select(TransferOut).where(TransferOut.id == transfer_id)
            if runtime.db.is_postgres:
                statement = statement.with_for_update(skip_locked=True)
            transfer = uow.session.scalar(statement)
            if (transfer is None or transfer.status != T.REQUESTED
                    or transfer.record is not None or transfer.actions_part is not None):
                continue
            transfer.actions_part = transfer_record.MISSING
            complete(uow, transfer)
            done += 1
            log.warning("transfer package sent without its actions part: none came in time",
                        extra={"case_id": transfer.case_id, "area_id": transfer.area_id,
                               "reason_code": "actions-part-missing"})
    return done


def offer_locally(uow: UnitOfWork, transfer: TransferOut) -> None:
    """A transfer to an area served here, offered to its coordinators (once per transfer id)."""
    if uow.runtime.areas.get(transfer.to_area) is None:
        return
    receive(uow, check_package(package_json(build_package(uow, transfer))), remote=False)


def find_incoming(uow: UnitOfWork, transfer_id: str, *, lock: bool = False) -> TransferIn:
    statement = select(TransferIn).where(TransferIn.id == transfer_id)
    if lock:
        statement = statement.with_for_update()
    found = uow.session.scalar(statement)
    if found is None:
        raise NotFound("No such transfer.")
    return found


def find_outgoing(uow: UnitOfWork, transfer_id: str) -> TransferOut:
    found = uow.session.scalar(select(TransferOut).where(TransferOut.id == transfer_id))
    if found is None:
        raise NotFound("No such transfer.")
    return found


def read_package(uow: UnitOfWork, offer: TransferIn) -> dict[str, Any] | None:
    """The package as B holds it; None once declined (its key destroyed) or erased."""
    if offer.package is None:
        return None
    try:
        found: dict[str, Any] = key_store(uow.runtime).decrypt(
            offer.new_case_id, PACKAGE_FIELD, offer.package)
    except KeyErased:
        return None
    return found


def _erase_after_commit(uow: UnitOfWork, case_id: str) -> None:
    """Destroy a reserved case key once the answer is committed (never before)."""
    store = key_store(uow.runtime)

    def shred(_session: Session) -> None:
        store.erase(case_id)

    event.listen(uow.session, "after_commit", shred, once=True)


def b_key(offer: TransferIn) -> str:
    """The case whose key B's copies (package, notes) are under."""
    return offer.case_id or offer.new_case_id


def _answer(offer: TransferIn, who: str, status: T) -> datetime:
    offer.status = domain.TRANSFER_MOVES.move(T(offer.status), status).value
    offer.answered_by = who
    offer.answered_at = utcnow()
    return offer.answered_at


def accept(uow: UnitOfWork, who: Principal, transfer_id: str,
           body: Mapping[str, Any]) -> TransferIn:
    """B's coordinator accepts: a case opens in B (or the victim's open case there takes the
    referral), its referral goes to risk under B's rules and then to B's calendar."""
    offer = find_incoming(uow, transfer_id, lock=True)
    domain.TRANSFER_MOVES.move(T(offer.status), T.ACCEPTED)
    area = uow.runtime.area(offer.area_id)
    plan = offer.action_plan or {}
    owner, owners = body.get("action_owner_agency"), dict(body.get("action_owners") or {})
    if owner is None and domain.needs_owner_agency(plan.get("default", domain.HAND_OVER),
                                                   plan.get("actions") or {}):
        raise InvalidInput("action_owner_agency", "Required: the sending area hands open "
                           "actions over; name the agency of this area that takes them.")
    for name, agency in [("action_owner_agency", owner),
                         *((f"action_owners.{k}", v) for k, v in owners.items())]:
        if agency is not None and area.agency(agency) is None:
            raise InvalidInput(name, "Not an agency of this area.")
    package = read_package(uow, offer)
    if package is None:
        raise TransferConflict("the transfer's package is no longer readable")
    package = check_package(package)
    form = service.check_form(dict(package["referral_form"], area_id=offer.area_id), submit=True)
    match = identity.find_open_case(uow, offer.area_id, service.victim_of(form))
    now = utcnow()
    if match is None:
        case_id = offer.new_case_id
        uow.session.add(Case(id=case_id, area_id=offer.area_id, status=domain.CaseStatus.OPEN,
                             opened_at=now))
    else:
        case_id = match.case_id
    referral = Referral(
        id=new_id("ref"), case_id=case_id, area_id=offer.area_id, state=S.DRAFT,
        referrer_subject=f"transfer:{offer.id}", referrer_agency=package["referrer_agency"],
        created_at=now, updated_at=now, form_public={}, submissions=0,
        urgent=package["urgent"], repeat=False,
        linked_case_grounds=list(match.grounds) if match else None,
        transfer_id=offer.id, transferred_from=offer.from_area,
        transferred_history=[{"area_id": h.area_id, "date": h.date.isoformat()}
                             for h in package["history"]])
    store_form(uow.runtime, referral, form)
    uow.session.add(referral)
    uow.session.flush()
    submit_transferred(uow, referral, form, package["referral_date"], package["history"])
    answered_at = _answer(offer, who.subject, T.ACCEPTED)
    offer.referral_id = referral.id
    offer.case_id = case_id
    if match is not None:
        # The victim's case here took the referral: the reserved key has nothing left to do.
        offer.package = None
        _erase_after_commit(uow, offer.new_case_id)
    uow.publish(events.TRANSFER_ACCEPTED, subject=offer.origin_case_id, area=offer.area_id,
                data=payloads.TransferAccepted(
                    transfer_id=offer.id, case_id=offer.origin_case_id,
                    from_area=offer.from_area, to_area=offer.area_id, decision="accepted",
                    new_case_id=case_id, decline_reason=None, answered_at=answered_at,
                    action_owner_agency=owner, action_owners=owners))
    if offer.remote:
        from services.referral import partners

        partners.queue_answer(uow, offer, new_case_id=case_id, owner=owner, owners=owners)
    return offer


def submit_transferred(uow: UnitOfWork, referral: Referral, form: Mapping[str, Any],
                       referral_date: date, history: list[payloads.PreviousReferral]) -> None:
    """The transferred referral to risk: it keeps its date in A (the repeat clock runs from
    it) and brings the victim's earlier referrals; B's time-to-hearing clock starts now."""
    referral.received_at = utcnow()
    referral.referral_date = referral_date
    referral.submissions = 1
    identity.index_identity(uow, referral.case_id, referral.area_id, service.victim_of(form))
    referral.repeat = domain.is_repeat(referral_date, [h.date for h in history])
    service.move(uow, referral, S.SUBMITTED, SYSTEM)
    service.publish_about(uow, referral, events.REFERRAL_SUBMITTED, {
        **service.submitted_payload(referral, form),
        # The earlier referrals come as the history the transfer brought, not as declared.
        "previous_referrals": [],
        "transferred_history": [{"area_id": h.area_id, "date": h.date.isoformat()}
                                for h in history],
        "transferred_from": referral.transferred_from,
    })


def decline(uow: UnitOfWork, who: Principal, transfer_id: str,
            body: Mapping[str, Any]) -> TransferIn:
    """B's coordinator declines: the case stays A's; B keeps nothing of the package (its key
    is destroyed once this commits)."""
    offer = find_incoming(uow, transfer_id, lock=True)
    answered_at = _answer(offer, who.subject, T.DECLINED)
    offer.decline_reason = body["reason"]
    if body.get("note"):
        add_note(uow, who, offer.id, body["note"])
    offer.package = None
    _erase_after_commit(uow, offer.new_case_id)
    uow.publish(events.TRANSFER_DECLINED, subject=offer.origin_case_id, area=offer.area_id,
                data=payloads.TransferDeclined(
                    transfer_id=offer.id, case_id=offer.origin_case_id,
                    from_area=offer.from_area, to_area=offer.area_id, decision="declined",
                    new_case_id=None, decline_reason=offer.decline_reason,
                    answered_at=answered_at))
    if offer.remote:
        from services.referral import partners

        partners.queue_answer(uow, offer, new_case_id=None, owner=None, owners={})
    return offer


# --- A: the answer ------------------------------------------------------------------------------
def on_answered(uow: UnitOfWork, answer: payloads.TransferAnswered) -> None:
    """Handler of transfer.accepted / declined (and of a partner's signed answer): A's side.

    Accepted: every open referral of A's case is transferred, the case transferred out and
    linked to B's, and transfer.completed carries A's decisions on its open actions (the
    actions service hands them over or closes them) and tells scheduling to free its date.
    """
    transfer = uow.session.get(TransferOut, answer.transfer_id)
    if transfer is None or transfer.status != T.REQUESTED:
        return  # not ours (B's side of a local transfer reads the same event), or done
    now = utcnow()
    transfer.answered_at = answer.answered_at
    if answer.decision == "declined":
        transfer.status = domain.TRANSFER_MOVES.move(T.REQUESTED, T.DECLINED).value
        transfer.decline_reason = answer.decline_reason
        return
    assert answer.new_case_id is not None
    transfer.status = domain.TRANSFER_MOVES.move(T.REQUESTED, T.ACCEPTED).value
    transfer.new_case_id = answer.new_case_id
    for referral in current_referrals(uow, transfer.case_id):
        service.move(uow, referral, S.TRANSFERRED, SYSTEM)
    case = uow.session.get(Case, transfer.case_id)
    if case is not None and case.status == domain.CaseStatus.OPEN:
        case.status = domain.CASE_MOVES.move(domain.CaseStatus.OPEN,
                                             domain.CaseStatus.TRANSFERRED_OUT)
        case.closed_at = now
        case.transferred_to_area = transfer.to_area
        case.transferred_to_case = answer.new_case_id
    transfer.status = domain.TRANSFER_MOVES.move(T.ACCEPTED, T.COMPLETED).value
    plan = transfer.action_plan or {}
    owner = getattr(answer, "action_owner_agency", None)
    owners = dict(getattr(answer, "action_owners", None) or {})
    uow.publish(events.TRANSFER_COMPLETED, subject=transfer.case_id, area=transfer.area_id,
                data=payloads.TransferCompleted(
                    transfer_id=transfer.id, case_id=transfer.case_id,
                    from_area=transfer.area_id, to_area=transfer.to_area,
                    new_case_id=answer.new_case_id, completed_at=now,
                    open_actions=plan.get("default", domain.HAND_OVER),
                    action_decisions=dict(plan.get("actions") or {}),
                    action_owner_agency=owner, action_owners=owners))


# --- notes between the two coordinators --------------------------------------------------------
@contextmanager
def every_area(uow: UnitOfWork) -> Iterator[None]:
    """Lift the caller's area scope for one lookup: a note is written once per side, and the
    other side's record is in an area the caller does not see (only its key is used)."""
    saved = uow.session.info.pop("areas", None)
    try:
        yield
    finally:
        if saved is not None:
            uow.session.info["areas"] = saved


def write_note(uow: UnitOfWork, transfer_id: str, side: str, area_id: str, key_case: str,
               author: str, text: str, *, from_area: str | None = None,
               at: datetime | None = None, pending: bool = False) -> None:
    uow.session.add(TransferNote(
        transfer_id=transfer_id, side=side, area_id=area_id, from_area=from_area or area_id,
        author=author, at=at or utcnow(), pending=pending,
        text=key_store(uow.runtime).encrypt(key_case, NOTE_FIELD, text)))


def sides(uow: UnitOfWork, transfer_id: str) -> tuple[TransferOut | None, TransferIn | None]:
    """The caller's view of a transfer: A's record, B's record, or both (404 for neither)."""
    out = uow.session.get(TransferOut, transfer_id)
    offer = uow.session.get(TransferIn, transfer_id)
    if out is None and offer is None:
        raise NotFound("No such transfer.")
    return out, offer


def add_note(uow: UnitOfWork, who: Principal, transfer_id: str, text: str) -> None:
    """A note from either coordinator, kept for both: each copy under its side's case key.
    To another deployment it is sent, signed, by the delivery job (partners.py)."""
    out, offer = sides(uow, transfer_id)
    author_area = out.area_id if out is not None else offer.area_id  # type: ignore[union-attr]
    remote = (out is not None and out.remote) or (offer is not None and offer.remote)
    with every_area(uow):
        out = out or uow.session.get(TransferOut, transfer_id)
        offer = offer or uow.session.get(TransferIn, transfer_id)
    if out is not None:
        write_note(uow, transfer_id, "out", out.area_id, out.case_id, who.subject, text,
                   from_area=author_area, pending=remote)
    if offer is not None and offer.status != T.DECLINED:
        write_note(uow, transfer_id, "in", offer.area_id, b_key(offer), who.subject, text,
                   from_area=author_area, pending=remote)


def side_notes(uow: UnitOfWork, transfer_id: str, side: str,
               key_case: str) -> list[dict[str, Any]]:
    """One side's copies of the notes, oldest first (text None once its key is erased)."""
    store = key_store(uow.runtime)
    found: list[dict[str, Any]] = []
    for row in uow.session.scalars(select(TransferNote).where(
            TransferNote.transfer_id == transfer_id, TransferNote.side == side)
            .order_by(TransferNote.at, TransferNote.id)):
        try:
            text = store.decrypt(key_case, NOTE_FIELD, row.text) if row.text else None
        except KeyErased:
            text = None
        found.append({"from_area": row.from_area, "author": row.author, "at": row.at,
                      "text": text})
    return found


def notes(uow: UnitOfWork, transfer_id: str) -> list[dict[str, Any]]:
    """The notes the caller's side holds, oldest first: A's copies for A's coordinators, B's
    for B's (one side's copies when the caller sees both areas)."""
    out, offer = sides(uow, transfer_id)
    if out is not None:
        return side_notes(uow, transfer_id, "out", out.case_id)
    assert offer is not None
    return side_notes(uow, transfer_id, "in", b_key(offer))


# --- what coordinators read ------------------------------------------------------------------
def _readable(uow: UnitOfWork, case_id: str, field: str, token: str | None) -> Any:
    """A's copy of one encrypted value; None when there is none or its key is erased."""
    if not token:
        return None
    try:
        return key_store(uow.runtime).decrypt(case_id, field, token)
    except KeyErased:
        return None


def outgoing_view(uow: UnitOfWork, transfer: TransferOut) -> dict[str, Any]:
    address = _readable(uow, transfer.case_id, ADDRESS_FIELD, transfer.address)
    handover = _readable(uow, transfer.case_id, HANDOVER_FIELD, transfer.handover) or {}
    return {
        "id": transfer.id, "direction": "outgoing", "case_id": transfer.case_id,
        "from_area": transfer.area_id, "to_area": transfer.to_area, "remote": transfer.remote,
        "reason": transfer.reason, "heard_in_origin": transfer.heard_in_origin,
        "named_on_case_list": transfer.named_on_case_list, "address": address,
        "open_actions": transfer.action_plan, "status": transfer.status,
        "requested_at": transfer.requested_at, "answered_at": transfer.answered_at,
        "decline_reason": transfer.decline_reason, "new_case_id": transfer.new_case_id,
        "delivery": transfer.delivery, "attempts": transfer.attempts,
        "last_error": transfer.last_error, "actions_part": transfer.actions_part,
        "safeguarding_in_place": handover.get("safeguarding_in_place"),
        "idva": handover.get("idva"),
    }


def incoming_view(uow: UnitOfWork, offer: TransferIn, *, with_package: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": offer.id, "direction": "incoming", "from_area": offer.from_area,
        "to_area": offer.area_id, "origin_case_id": offer.origin_case_id,
        "remote": offer.remote, "reason": offer.reason,
        "heard_in_origin": offer.heard_in_origin,
        "named_on_case_list": offer.named_on_case_list, "status": offer.status,
        "received_at": offer.received_at, "answered_at": offer.answered_at,
        "decline_reason": offer.decline_reason, "referral_id": offer.referral_id,
        "new_case_id": offer.case_id,
        "open_actions": offer.action_plan,
    }
    if with_package:
        package = body["package"] = read_package(uow, offer)
        # What B's coordinator hands over from, and whether the actions part came.
        for key in ("actions_part", "safeguarding_in_place", "idva"):
            body[key] = (package or {}).get(key)
    return body


def listing(uow: UnitOfWork, direction: str, status: str | None) -> list[dict[str, Any]]:
    """The transfers of the caller's areas, newest first: offered to them, or asked by them."""
    if direction == "incoming":
        query = select(TransferIn).order_by(TransferIn.received_at.desc(), TransferIn.id)
        if status:
            query = query.where(TransferIn.status == status)
        return [incoming_view(uow, row, with_package=False) for row in uow.session.scalars(query)]
    out_query = select(TransferOut).order_by(TransferOut.requested_at.desc(), TransferOut.id)
    if status:
        out_query = out_query.where(TransferOut.status == status)
    return [outgoing_view(uow, row) for row in uow.session.scalars(out_query)]
