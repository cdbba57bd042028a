"""The transfer API: A's coordinator asks for a transfer, B's coordinators list what is
offered to them and accept or decline, both exchange notes (encrypted, never logged)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask.blueprints import BlueprintSetupState
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, idempotency
from marac_platform.auth import SIGNED_PATHS, principal, requires
from marac_platform.errors import InvalidInput
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem
from marac_platform.security.roles import Permission, Role, is_area_id
from marac_platform.security.tokens import Principal
from services.referral import domain, partners, transfers
from services.referral.transfer_schemas import (
    AcceptIn,
    DeclineIn,
    InboundOut,
    ListQuery,
    NoteIn,
    NoteOut,
    TransferRequestIn,
    TransferView,
)

blp = Blueprint(
    "transfers", __name__, url_prefix="/v1",
    description=(
        "Inter-MARAC transfers. The sending area's coordinator asks (POST /cases/{id}/transfers); "
        "until the receiving area answers, the case stays the sender's with its date. The "
        "receiving area's coordinators accept (a case opens there, reassessed under its rules "
        "and given a date by its calendar) or decline with a reason."))


@blp.route("/cases/<case_id>/transfers")
class CaseTransfers(MethodView):
    @requires(Permission.REFERRAL_SCREEN)
    @blp.arguments(TransferRequestIn)
    @blp.response(201, TransferView)
    @blp.doc(parameters=[idempotency.HEADER])
    def post(self, body: dict[str, Any], case_id: str) -> Response:
        """Ask another area to take the case over (the victim moved). A `to_area` neither
        served here nor a configured partner of the case's area is a 422 naming it."""
        who = principal()
        with request_unit_of_work() as uow:

            def ask() -> idempotency.Created:
                transfer = transfers.request_transfer(uow, who, case_id, body)
                return idempotency.Created(
                    201, TransferView().dump(transfers.outgoing_view(uow, transfer)),
                    f"/v1/transfers/outgoing/{transfer.id}")

            return idempotency.once(uow, who.subject, body, ask)


@blp.route("/transfers/incoming")
class Incoming(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.arguments(ListQuery, location="query")
    @blp.response(200, TransferView(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Transfers offered to the caller's areas, newest first, with their origin."""
        with request_unit_of_work() as uow:
            return transfers.listing(uow, "incoming", query["status"])


@blp.route("/transfers/outgoing")
class Outgoing(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.arguments(ListQuery, location="query")
    @blp.response(200, TransferView(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Transfers the caller's areas asked for, newest first, with where each stands."""
        with request_unit_of_work() as uow:
            items = transfers.listing(uow, "outgoing", query["status"])
        audit.note_all([{"case_id": i["case_id"], "area_id": i["from_area"]} for i in items])
        return items


@blp.route("/transfers/incoming/<transfer_id>")
class OneIncoming(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.response(200, TransferView)
    def get(self, transfer_id: str) -> dict[str, Any]:
        """One offered transfer with its package (until declined)."""
        with request_unit_of_work() as uow:
            offer = transfers.find_incoming(uow, transfer_id)
            return transfers.incoming_view(uow, offer, with_package=True)


@blp.route("/transfers/outgoing/<transfer_id>")
class OneOutgoing(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.response(200, TransferView)
    def get(self, transfer_id: str) -> dict[str, Any]:
        """One transfer the caller's area asked for: its answer, or its delivery's state."""
        with request_unit_of_work() as uow:
            return transfers.outgoing_view(uow, transfers.find_outgoing(uow, transfer_id))


@blp.route("/transfers/incoming/<transfer_id>/accept")
class Accept(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.arguments(AcceptIn)
    @blp.response(200, TransferView)
    def post(self, body: dict[str, Any], transfer_id: str) -> dict[str, Any]:
        """Accept: the case opens here (or joins the victim's open case), is reassessed
        under this area's rules and allocated by its calendar, shown as transferred."""
        with request_unit_of_work() as uow:
            offer = transfers.accept(uow, principal(), transfer_id, body)
            return transfers.incoming_view(uow, offer, with_package=False)


@blp.route("/transfers/incoming/<transfer_id>/decline")
class Decline(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.arguments(DeclineIn)
    @blp.response(200, TransferView)
    def post(self, body: dict[str, Any], transfer_id: str) -> dict[str, Any]:
        """Decline with a reason (and a note for the sending coordinator): the case stays
        with the sending area; nothing of the package is kept here."""
        with request_unit_of_work() as uow:
            offer = transfers.decline(uow, principal(), transfer_id, body)
            return transfers.incoming_view(uow, offer, with_package=False)


@blp.route("/transfers/<transfer_id>/notes")
class Notes(MethodView):
    @requires(Permission.TRANSFER_RECEIVE)
    @blp.response(200, NoteOut(many=True))
    def get(self, transfer_id: str) -> list[dict[str, Any]]:
        """The notes both coordinators wrote on the transfer, oldest first."""
        with request_unit_of_work() as uow:
            return transfers.notes(uow, transfer_id)

    @requires(Permission.TRANSFER_RECEIVE)
    @blp.arguments(NoteIn)
    @blp.response(201, NoteOut(many=True))
    def post(self, body: dict[str, Any], transfer_id: str) -> list[dict[str, Any]]:
        """Add a note for the other coordinator (free text: encrypted, never logged)."""
        with request_unit_of_work() as uow:
            transfers.add_note(uow, principal(), transfer_id, body["text"])
            uow.session.flush()
            return transfers.notes(uow, transfer_id)


# --- another deployment ---------------------------------------------------------------------------
def _partner(subject: str, sender: str | None, target: str | None = None) -> Principal:
    """The caller of a signed call: the sending partner area (its agency, in the audit trail's
    terms), acting on our area the message is for (its one area: the trail records the call
    under the receiving area, whose auditors must see it)."""
    return Principal(subject=subject, agency=sender or "unknown", role=Role.PARTNER_AREA,
                     areas=frozenset({target}) if target else frozenset(),
                     issuer="transfer-signature", kind="partner_area")


def check_signed_message() -> bool:
    """Authenticate POST /v1/transfers/inbound by its signature (partners.open_message): the
    caller becomes the partner area that signed it, or the refusal (401/403) is audited as an
    unverified partner's. A body that is no signed message at all: False (a bearer token is
    then needed, as for any call, and the view refuses it unsigned)."""
    body = request.get_data(cache=True)
    if not partners.looks_signed(body):
        return False
    try:
        message = partners.open_message(current_runtime(), body)
    except partners.Refused as refused:
        g.principal = _partner("unverified-partner", None)
        raise Problem(refused.status, "Authentication required" if refused.status == 401
                      else "Not allowed", refused.detail, slug=refused.reason,
                      errors=[{"field": "(signature)", "reason": refused.reason}]) from None
    sender = message.sender if is_area_id(message.sender) else None
    g.principal = _partner(f"partner:{message.sender}", sender,
                           message.target if is_area_id(message.target) else None)
    g.transfer_message = message
    return True


@blp.record_once
def _register_signed_path(state: BlueprintSetupState) -> None:
    state.app.config.setdefault(SIGNED_PATHS, {})[partners.PATH] = check_signed_message


@blp.route("/transfers/inbound")
class Inbound(MethodView):
    @requires(Permission.TRANSFER_SEND)
    @blp.response(200, InboundOut)
    @blp.doc(security=[], requestBody={"required": True, "content": {partners.CONTENT_TYPE: {
        "schema": {"type": "object", "description": "a JWS (flattened JSON) signed ES256 by "
                   "the sending area's key; personal data inside as a JWE to ours"}}}})
    def post(self) -> dict[str, Any]:
        """Another deployment sends a transfer package, or its answer to one of ours. Signed
        by a configured partner of the area it is for, within the time window, else 401/403
        (stored nothing, audited); the same transfer sent again is the same offer."""
        message: partners.Message | None = g.get("transfer_message")
        if message is None:
            raise Problem(401, "Authentication required", "A transfer must come as a message "
                          "signed by the sending area's key (a JWS).", slug="unsigned",
                          errors=[{"field": "(signature)", "reason": "unsigned"}])
        payload = message.payload
        if payload.get("version") != domain.PACKAGE_VERSION:
            raise InvalidInput("version", "Unknown package version; this platform reads "
                               f"version {domain.PACKAGE_VERSION}.",
                               slug="invalid-transfer-package")
        audit.hold(current_runtime().open_unit_of_work(frozenset({message.target})))
        # On the audit trail under our area it was for (the receiving one), not the sender's
        # the caller's principal names: the response's `area_id` says which.
        area = {"area_id": message.target}
        with request_unit_of_work() as uow:
            if payload.get("kind") == partners.ANSWER:
                transfer = partners.answer_received(uow, message)
                audit.note(transfer.case_id, message.target)
                return {"transfer_id": transfer.id, "status": transfer.status, **area}
            if payload.get("kind") == partners.NOTE:
                status = partners.notes_received(uow, message)
                return {"transfer_id": str(payload.get("transfer_id")), "status": status,
                        **area}
            if payload.get("kind") != partners.PACKAGE:
                raise InvalidInput("kind", "Must be package, answer or note.")
            package = transfers.check_package(message.personal)
            if (package["from_area"], package["to_area"], package["transfer_id"]) != (
                    message.sender, message.target, payload.get("transfer_id")):
                raise InvalidInput("transfer_id", "The package does not match its signed "
                                   "envelope.", slug="invalid-transfer-package")
            offer = transfers.receive(uow, package, remote=True)
            return {"transfer_id": offer.id, "status": offer.status, **area}
