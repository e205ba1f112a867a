"""HTTP API of the approval service: queues, decisions, and each unit-year's full history."""


from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.approval import commands, queries
from services.approval.domain import ApprovalCase, ApprovalError
from shared.contracts.envelope import Actor
from shared.contracts.inbound import Decision, Level, RecognitionRevocationSubmitted, ReviewDecisionSubmitted
from shared.infra.auth import require_read
from shared.infra.http import http_command
from shared.infra.runtime import ServiceRuntime


class DecisionBody(BaseModel):
    level: Level
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = None
    decided_on: date | None = None
    certificate_no: str | None = None


class RevocationBody(BaseModel):
    reasons: list[str] = Field(min_length=1)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = None
    decided_on: date | None = None


def case_view(c: ApprovalCase, *, today: date) -> dict[str, Any]:
    step = c.pending_step
    return {
        "unit_year_id": c.unit_year_id,
        "unit": c.unit,
        "year": c.year,
        "state": str(c.state),
        "level": c.pending_level or (c.decisions[-1]["level"] if c.decisions else None),
        "pending_step": step,
        "chain_profile": c.chain_profile,
        "chain": c.chain,
        "deadline": c.deadline.isoformat(),
        "late": c.is_late(today),
        "round": c.round,
        "verdict": c.verdict,
        "unmet": c.unmet,
        "decisions": c.decisions,
        "flags": c.flags,
        "version": c.version,
    }


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["approval"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.get("/queue")
    async def approval_queue(
        actor: ActorDep,
        level: Level | None = None,
        province_code: str | None = None,
        commune_code: str | None = None,
        kind: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items = await runtime.read(
            lambda s: queries.queue(
                s,
                level=level.value if level else None,
                province_code=province_code,
                commune_code=commune_code,
                kind=kind,
                limit=limit,
                offset=offset,
                jurisdiction=actor.jurisdiction,
            )
        )
        today = queries.today()
        return {"items": [case_view(c, today=today) for c in items], "limit": limit, "offset": offset}

    @router.get("/unit-years/{unit_year_id}")
    async def get_unit_year(unit_year_id: str, actor: ActorDep) -> dict[str, Any]:
        def read(s: Session) -> dict[str, Any]:
            case = queries.case(s, unit_year_id)
            if case is None:
                raise ApprovalError("not_found", f"unit-year {unit_year_id} is not known to the approval service")
            require_read(actor, case.unit, f"unit-year {unit_year_id}")
            view = case_view(case, today=queries.today())
            if case.kind == "commune":
                view["children"] = queries.commune_rollup(s, case).view()
            return {**view, "history": queries.event_history(s, unit_year_id)}

        return await runtime.read(read)

    @router.post("/unit-years/{unit_year_id}/decisions")
    async def decide(unit_year_id: str, body: DecisionBody, actor: ActorDep) -> dict[str, Any]:
        payload = ReviewDecisionSubmitted.model_validate({**body.model_dump(mode="json"), "unit_year_id": unit_year_id})
        cmd = http_command("ReviewDecisionSubmitted", payload, actor)
        await runtime.transaction(lambda uow: commands.decide(uow, cmd))
        return await get_unit_year(unit_year_id, actor)

    @router.post("/unit-years/{unit_year_id}/revocation")
    async def revoke(unit_year_id: str, body: RevocationBody, actor: ActorDep) -> dict[str, Any]:
        payload = RecognitionRevocationSubmitted.model_validate({**body.model_dump(mode="json"), "unit_year_id": unit_year_id})
        cmd = http_command("RecognitionRevocationSubmitted", payload, actor)
        await runtime.transaction(lambda uow: commands.revoke(uow, cmd))
        return await get_unit_year(unit_year_id, actor)

    @router.get("/flags")
    async def flags(
        actor: ActorDep,
        province_code: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Recognised unit-years with an incident reported after recognition, awaiting the
        recognising level's decision on revocation."""
        items = await runtime.read(
            lambda s: queries.flagged(
                s, province_code=province_code, limit=limit, offset=offset, jurisdiction=actor.jurisdiction
            )
        )
        today = queries.today()
        return {"items": [case_view(c, today=today) for c in items], "limit": limit, "offset": offset}

    return router
