"""HTTP API of the assessment service (tự đánh giá)."""


from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from pydantic import BaseModel, Field

from services.assessment import commands, exemplary, queries
from services.assessment.criteria import catalog_for, vocabulary
from services.assessment.domain import AssessmentCase, AssessmentError, Incident
from services.assessment.scoring import select_sheet
from shared.contracts.envelope import Actor
from shared.contracts.inbound import CriterionResult, Document, Evidence, IncidentReported, SelfAssessmentSubmitted
from shared.infra.http import http_command
from shared.infra.runtime import ServiceRuntime


class SelfAssessmentBody(BaseModel):
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    score: float | None = None
    evidence: Evidence | None = None


def case_view(c: AssessmentCase, incidents: list[Incident] | None = None) -> dict[str, Any]:
    """The case as an official sees it: per criterion the result, the evidence used and the
    reason; the incidents in the window with their effect; the score and its breakdown."""
    start, end = c.window()
    result = c.result or {}
    return {
        "unit_year_id": c.unit_year_id,
        "unit": c.unit,
        "year": c.year,
        "state": str(c.state),
        "round": c.round,
        "verdict": c.verdict,
        "criteria_catalog": c.catalog_ref,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "result": c.result,
        "criteria": result.get("criteria", []),
        "unmet": result.get("unmet", []),
        "incidents": [i.view() for i in incidents or [] if c.contains(i.occurred_on)],
        "score": {
            "claimed": result.get("score"),
            "scoring_sheet": result.get("scoring_sheet"),
            "breakdown": result.get("score_breakdown"),
        },
        "registration": c.registration,
        "evidence": (c.submission or {}).get("evidence"),
        "version": c.version,
    }


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["assessment"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.get("/criteria/{kind}")
    async def criteria(kind: str, _actor: ActorDep, year: int | None = None) -> dict[str, Any]:
        try:
            cat = catalog_for(kind, year or date.today().year)
        except FileNotFoundError:
            raise AssessmentError("not_found", f"no criteria catalog for unit kind {kind!r}") from None
        return {
            "kind": cat.kind,
            "version": cat.version,
            "legal_basis": cat.legal_basis,
            "valid_from": cat.valid_from,
            "criteria": [c.as_dict() for c in cat.criteria],
            "not_applicable": cat.not_applicable,
            "incident_categories": vocabulary().incident_categories,
        }

    @router.get("/exemplary-criteria/{province_code}")
    async def exemplary_criteria(province_code: str, _actor: ActorDep, year: int | None = None) -> dict[str, Any]:
        """The province's exemplary-track catalog (điển hình) in force in ``year``."""
        cat = exemplary.catalog_for(province_code, year or date.today().year)
        if cat is None:
            raise AssessmentError("not_found", f"province {province_code} has no exemplary-track catalog in force in {year or date.today().year}")
        return exemplary.catalog_view(cat)

    @router.get("/scoring-sheets/{province_code}/{kind}/{year}")
    async def scoring_sheet(province_code: str, kind: str, year: int, _actor: ActorDep) -> dict[str, Any]:
        sheet = select_sheet(province_code, kind, year)
        if sheet is None:
            raise AssessmentError("not_found", f"no scoring sheet for {kind} units of province {province_code} in {year}")
        return {
            "sheet": sheet.ref,
            "title_vi": sheet.title_vi,
            "source": sheet.source,
            "max_points": float(sheet.max_points),
            "pass_mark": None if sheet.pass_mark is None else float(sheet.pass_mark),
            "pass_mark_basis": sheet.pass_mark_basis,
            "criterion": sheet.criterion,
            "groups": [
                {
                    "code": g.code,
                    "title_vi": g.title_vi,
                    "max_points": float(g.max_points),
                    "items": [
                        {"code": i.code, "text_vi": i.text_vi, "max_points": float(i.max_points), "rule": dict(i.rule)}
                        for i in g.items
                    ],
                }
                for g in sheet.groups
            ],
        }

    @router.post("/incidents")
    async def report_incident(body: IncidentReported, actor: ActorDep) -> dict[str, Any]:
        cmd = http_command("IncidentReported", body, actor)
        await runtime.transaction(lambda uow: commands.record_incident(uow, cmd))
        incident = await runtime.read(lambda s: queries.incident(s, cmd.source, body.incident_id))
        assert incident is not None
        return incident.view()

    @router.post("/unit-years/{unit_year_id}/self-assessment")
    async def submit(unit_year_id: str, body: SelfAssessmentBody, actor: ActorDep) -> dict[str, Any]:
        payload = SelfAssessmentSubmitted.model_validate({**body.model_dump(mode="json"), "unit_year_id": unit_year_id})
        cmd = http_command("SelfAssessmentSubmitted", payload, actor)
        await runtime.transaction(lambda uow: commands.submit_self_assessment(uow, cmd))
        return await get_case(unit_year_id, actor)

    @router.get("/unit-years/{unit_year_id}")
    async def get_case(unit_year_id: str, _actor: ActorDep) -> dict[str, Any]:
        def read(s: Session) -> dict[str, Any]:
            case = queries.case(s, unit_year_id)
            if case is None:
                raise AssessmentError("not_found", f"unit-year {unit_year_id} has no assessment case")
            return case_view(case, queries.incidents_in_window(s, case))

        return await runtime.read(read)

    return router
