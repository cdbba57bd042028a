"""The notify service's HTTP API: the delivery log and the agency directory it uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import audit, clock
from marac_platform.auth import caller_area, requires
from marac_platform.http import request_unit_of_work
from marac_platform.security.roles import Permission
from services.notify import service
from services.notify.models import Delivery
from services.notify.schemas import AgencyOut, DeliveryOut, DeliveryQuery

blp = Blueprint("notify", __name__, url_prefix="/v1", description="Notification deliveries")


@blp.route("/deliveries")
class Deliveries(MethodView):
    @requires(Permission.NOTIFICATION_READ)
    @blp.arguments(DeliveryQuery, location="query")
    @blp.response(200, DeliveryOut(many=True))
    def get(self, query: dict[str, Any]) -> Sequence[Delivery]:
        """Deliveries in the caller's areas, newest first, optionally for one case or status:
        each with its attempts and last error code, refused ones with their reason."""
        with request_unit_of_work() as uow:
            found = service.delivery_log(uow, case_id=query["case_id"], status=query["status"],
                                         limit=query["limit"])
        audit.note_all(found)
        return found


@blp.route("/areas/<area_id>/directory")
class Directory(MethodView):
    @requires(Permission.NOTIFICATION_READ)
    @blp.response(200, AgencyOut(many=True))
    def get(self, area_id: str) -> list[dict[str, Any]]:
        """The area's agency directory as notify uses it today: each agency's agreement (signed,
        on, until, in force), its channels and the kinds it opted out of. No case data."""
        area = caller_area(area_id)
        return service.directory(area, clock.uk_today())
