"""The risk service's HTTP API: checklists, a stateless scoring preview, stored assessments."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from marac_platform import checklists
from marac_platform.auth import caller_area, requires
from marac_platform.errors import NotFound
from marac_platform.http import current_runtime, request_unit_of_work
from marac_platform.problems import Problem
from marac_platform.security.roles import Permission
from services.risk import domain, service
from services.risk.schemas import (
    AssessmentOut,
    ChecklistOut,
    ChecklistSummary,
    PreviewIn,
    StoredAssessmentOut,
)

blp = Blueprint("risk", __name__, url_prefix="/v1", description="DASH checklists and assessments")


def checklist_out(checklist: domain.Checklist) -> dict[str, Any]:
    return {
        "version": checklist.version,
        "title": checklist.title,
        "audience": checklist.audience,
        "question_count": len(checklist.questions),
        "allow_missing": checklist.allow_missing,
        "questions": [
            {"id": q.id, "number": q.number, "label": q.label, "group": q.group,
             "high_weight_factor": q.high_weight_factor}
            for q in checklist.questions
        ],
    }


@blp.route("/checklists")
class Checklists(MethodView):
    @requires(Permission.CHECKLIST_READ)
    @blp.response(200, ChecklistSummary(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The DASH checklist versions this deployment scores."""
        return [checklist_out(c) for c in checklists.shipped_checklists().values()]


@blp.route("/checklists/<version>")
class OneChecklist(MethodView):
    @requires(Permission.CHECKLIST_READ)
    @blp.response(200, ChecklistOut)
    def get(self, version: str) -> dict[str, Any]:
        """One checklist version with its questions."""
        try:
            return checklist_out(checklists.get_checklist(version))
        except checklists.UnknownChecklistVersion:
            raise NotFound("No checklist with that version.") from None


@blp.route("/assessments/preview")
class Preview(MethodView):
    @requires(Permission.RISK_PREVIEW)
    @blp.arguments(PreviewIn)
    @blp.response(200, AssessmentOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Score a checklist against an area's criteria without storing anything."""
        runtime = current_runtime()
        caller_area(body["area_id"])
        try:
            checklist = checklists.get_checklist(body["checklist_version"])
        except checklists.UnknownChecklistVersion:
            raise Problem(422, "Invalid input", errors=[
                {"field": "checklist_version", "reason": "Unknown checklist version."}]) from None
        return service.preview(runtime, checklist, body)


@blp.route("/assessments/<referral_id>")
class StoredAssessment(MethodView):
    @requires(Permission.RISK_READ)
    @blp.response(200, StoredAssessmentOut)
    def get(self, referral_id: str) -> Any:
        """The latest assessment of a referral (404 outside the caller's areas)."""
        with request_unit_of_work() as uow:
            found = service.latest_assessment(uow, referral_id)
            if found is None:
                raise NotFound("No assessment for that referral.")
            return found
