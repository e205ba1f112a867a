"""HTTP API of the registration service (đăng ký)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.registration import commands, queries
from services.registration.domain.model import RegistrationError, Unit, UnitYear
from shared.contracts.envelope import Actor
from shared.contracts.inbound import UnitRegistrationSubmitted, UnitYearRegistrationSubmitted, UnitYearWithdrawalSubmitted
from shared.infra.auth import require_read
from shared.infra.http import http_command
from shared.infra.idempotency import IDEMPOTENCY_KEY_HEADER, keyed_write
from shared.infra.runtime import ServiceRuntime
from shared.infra.uow import UnitOfWork


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


def readable_unit_year(s: Session, unit_year_id: str, actor: Actor) -> dict[str, Any]:
    """The unit-year's view, for a caller who may read its unit (``may_read``)."""
    uy = queries.unit_year(s, unit_year_id)
    if uy is None:
        raise RegistrationError("not_found", f"unit-year {unit_year_id} is not registered")
    unit = queries.unit(s, uy.unit_code)
    require_read(actor, unit.snapshot() if unit is not None else {"code": uy.unit_code}, f"unit-year {unit_year_id}")
    return unit_year_view(uy)


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["registration"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.post("/units", status_code=201, response_model=None)
    async def register_unit(
        body: UnitRegistrationSubmitted,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        cmd = http_command("UnitRegistrationSubmitted", body, actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            return {"outcome": commands.register_unit(uow, cmd), "unit": body.unit.model_dump(mode="json")}

        return await keyed_write(runtime, request, actor.id, body.model_dump(mode="json"), write, status=201)

    @router.get("/units/{code}")
    async def get_unit(code: str, actor: ActorDep) -> dict[str, Any]:
        unit = await runtime.read(lambda s: queries.unit(s, code))
        if unit is None:
            raise RegistrationError("not_found", f"unit {code} is not registered")
        view = unit_view(unit)
        require_read(actor, view, f"unit {code}")
        return view

    @router.post("/unit-years", status_code=201, response_model=None)
    async def register_unit_year(
        body: UnitYearRegistrationSubmitted,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        cmd = http_command("UnitYearRegistrationSubmitted", body, actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            commands.register_unit_year(uow, cmd)
            return readable_unit_year(uow.session, f"{body.unit_code}:{body.year}", actor)

        return await keyed_write(runtime, request, actor.id, body.model_dump(mode="json"), write, status=201)

    @router.post("/unit-years/{unit_year_id}/withdrawal", response_model=None)
    async def withdraw(
        unit_year_id: str,
        body: WithdrawalBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        payload = UnitYearWithdrawalSubmitted(unit_year_id=unit_year_id, reason=body.reason)
        cmd = http_command("UnitYearWithdrawalSubmitted", payload, actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            commands.withdraw_unit_year(uow, cmd)
            return readable_unit_year(uow.session, unit_year_id, actor)

        return await keyed_write(runtime, request, actor.id, body.model_dump(mode="json"), write)

    @router.get("/unit-years/{unit_year_id}")
    async def get_unit_year(unit_year_id: str, actor: ActorDep) -> dict[str, Any]:
        return await runtime.read(lambda s: readable_unit_year(s, unit_year_id, actor))

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
