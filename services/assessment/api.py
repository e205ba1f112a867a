"""HTTP API of the assessment service (tự đánh giá)."""


from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.assessment import handlers
from services.assessment.criteria import load_catalog
from services.assessment.domain import AssessmentCase, AssessmentError
from shared.contracts.envelope import Actor
from shared.contracts.inbound import CriterionResult, Document, SelfAssessmentSubmitted
from shared.infra.http import http_command
from shared.infra.runtime import ServiceRuntime


class SelfAssessmentBody(BaseModel):
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    score: float | None = None


def case_view(c: AssessmentCase) -> dict[str, Any]:
    start, end = c.window()
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
        "version": c.version,
    }


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["assessment"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.get("/criteria/{kind}")
    async def criteria(kind: str, _actor: ActorDep) -> dict[str, Any]:
        try:
            cat = load_catalog(kind)
        except FileNotFoundError:
            raise AssessmentError("not_found", f"no criteria catalog for unit kind {kind!r}") from None
        return {
            "kind": cat.kind,
            "version": cat.version,
            "legal_basis": cat.legal_basis,
            "criteria": [c.__dict__ for c in cat.criteria],
        }

    @router.post("/unit-years/{unit_year_id}/self-assessment")
    async def submit(unit_year_id: str, body: SelfAssessmentBody, actor: ActorDep) -> dict[str, Any]:
        payload = SelfAssessmentSubmitted.model_validate({**body.model_dump(mode="json"), "unit_year_id": unit_year_id})
        cmd = http_command("SelfAssessmentSubmitted", payload, actor)
        await runtime.transaction(lambda s: handlers.submit_self_assessment(s, cmd))
        return await get_case(unit_year_id, actor)

    @router.get("/unit-years/{unit_year_id}")
    async def get_case(unit_year_id: str, _actor: ActorDep) -> dict[str, Any]:
        async with runtime.sessions() as s:
            case = await s.get(AssessmentCase, unit_year_id)
        if case is None:
            raise AssessmentError("not_found", f"unit-year {unit_year_id} has no assessment case")
        return case_view(case)

    return router
