"""The transfer API: A's coordinator asks for a transfer, B's coordinators list what is
offered to them and accept or decline, both exchange notes (encrypted, never logged)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, idempotency
from marac_platform.auth import principal, requires
from marac_platform.http import request_unit_of_work
from marac_platform.security.roles import Permission
from services.referral import transfers
from services.referral.transfer_schemas import (
    AcceptIn,
    DeclineIn,
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
