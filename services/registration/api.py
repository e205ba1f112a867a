"""HTTP API of the registration service (đăng ký)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from services.registration import commands, queries
from services.registration.domain import RegistrationError, Unit, UnitYear
from shared.contracts.envelope import Actor
from shared.contracts.inbound import UnitRegistrationSubmitted, UnitYearRegistrationSubmitted, UnitYearWithdrawalSubmitted
from shared.infra.auth import require_read
from shared.infra.http import http_command
from shared.infra.runtime import ServiceRuntime


class WithdrawalBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def unit_view(u: Unit) -> dict[str, Any]:
    return u.snapshot()


def unit_year_view(uy: UnitYear) -> dict[str, Any]:
    return {
        "unit_year_id": uy.id,
        "unit_code": uy.unit_code,
        "year": uy.year,
        "state": str(uy.state),
        "approval_state": uy.approval_state,
        "documents": uy.documents,
        "households_total": uy.households_total,
        "households_registered": uy.households_registered,
        "withdrawal_reason": uy.withdrawal_reason,
        "version": uy.version,
    }


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["registration"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.post("/units", status_code=201)
    async def register_unit(body: UnitRegistrationSubmitted, actor: ActorDep) -> dict[str, Any]:
        cmd = http_command("UnitRegistrationSubmitted", body, actor)
        outcome = await runtime.transaction(lambda uow: commands.register_unit(uow, cmd))
        return {"outcome": outcome, "unit": body.unit.model_dump(mode="json")}

    @router.get("/units/{code}")
    async def get_unit(code: str, actor: ActorDep) -> dict[str, Any]:
        unit = await runtime.read(lambda s: queries.unit(s, code))
        if unit is None:
            raise RegistrationError("not_found", f"unit {code} is not registered")
        view = unit_view(unit)
        require_read(actor, view, f"unit {code}")
        return view

    @router.post("/unit-years", status_code=201)
    async def register_unit_year(body: UnitYearRegistrationSubmitted, actor: ActorDep) -> dict[str, Any]:
        cmd = http_command("UnitYearRegistrationSubmitted", body, actor)
        await runtime.transaction(lambda uow: commands.register_unit_year(uow, cmd))
        return await get_unit_year(f"{body.unit_code}:{body.year}", actor)

    @router.post("/unit-years/{unit_year_id}/withdrawal")
    async def withdraw(unit_year_id: str, body: WithdrawalBody, actor: ActorDep) -> dict[str, Any]:
        payload = UnitYearWithdrawalSubmitted(unit_year_id=unit_year_id, reason=body.reason)
        cmd = http_command("UnitYearWithdrawalSubmitted", payload, actor)
        await runtime.transaction(lambda uow: commands.withdraw_unit_year(uow, cmd))
        return await get_unit_year(unit_year_id, actor)

    @router.get("/unit-years/{unit_year_id}")
    async def get_unit_year(unit_year_id: str, actor: ActorDep) -> dict[str, Any]:
        def read(s: Any) -> dict[str, Any]:
            uy = queries.unit_year(s, unit_year_id)
            if uy is None:
                raise RegistrationError("not_found", f"unit-year {unit_year_id} is not registered")
            unit = queries.unit(s, uy.unit_code)
            require_read(actor, unit.snapshot() if unit is not None else {"code": uy.unit_code}, f"unit-year {unit_year_id}")
            return unit_year_view(uy)

        return await runtime.read(read)

    @router.get("/unit-years")
    async def list_unit_years(
        actor: ActorDep,
        year: int | None = None,
        unit_code: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items = await runtime.read(
            lambda s: queries.list_unit_years(
                s, year=year, unit_code=unit_code, limit=limit, offset=offset, jurisdiction=actor.jurisdiction
            )
        )
        return {"items": [unit_year_view(u) for u in items], "limit": limit, "offset": offset}

    return router
