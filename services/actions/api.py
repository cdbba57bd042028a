"""The actions service's HTTP API: case records (SMART actions and updates build on these)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform.auth import requires
from marac_platform.http import request_unit_of_work
from marac_platform.security.roles import Permission
from services.actions import service
from services.actions.models import CaseRecord
from services.actions.schemas import CaseRecordOut

blp = Blueprint("actions", __name__, url_prefix="/v1", description="Case records and actions")


@blp.route("/cases/<case_id>")
class OneCase(MethodView):
    @requires(Permission.ACTION_READ)
    @blp.response(200, CaseRecordOut)
    def get(self, case_id: str) -> CaseRecord:
        """A case record (404 outside the caller's areas)."""
        with request_unit_of_work() as uow:
            return service.find_record(uow, case_id)
