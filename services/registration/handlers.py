"""Registration handlers: contract -> domain -> outbox, one transaction (owned by the caller).

The same functions serve Kafka (``antt.inbound.v1``) and the HTTP API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.registration.domain import RegistrationError, Unit, UnitYear, check_eligibility, unit_year_id
from services.registration.orm import infra, unit_years
from shared.contracts import topics
from shared.contracts.events import UnitRegistered, UnitUpdated, UnitYearRegistered, UnitYearWithdrawn, dump
from shared.contracts.inbound import (
    UnitRegistrationSubmitted,
    UnitYearRegistrationSubmitted,
    UnitYearWithdrawalSubmitted,
)
from shared.infra.inbound import Command
from shared.infra.outbox import Emitter

PRODUCER = "registration"


def _check_jurisdiction(cmd: Command, unit: Unit | dict[str, Any]) -> None:
    data = unit if isinstance(unit, dict) else unit.snapshot()
    cmd.require_jurisdiction(province_code=data["province_code"], commune_code=data.get("commune_code"), unit_code=data["code"])


_events = Emitter(infra, topics.REGISTRATION_EVENTS, PRODUCER)


async def _emit(
    session: AsyncSession, cmd: Command, event_type: str, payload: dict[str, Any], *, unit_year: str | None, stream: str | None = None
) -> dict[str, Any]:
    return await _events(
        session,
        event_type,
        payload,
        unit_year_id=unit_year,
        stream_id=stream,
        actor=cmd.actor_dict(),
        correlation_id=cmd.correlation_id,
        causation_id=cmd.message_id,
    )


async def register_unit(session: AsyncSession, cmd: Command) -> str:
    body: UnitRegistrationSubmitted = cmd.payload
    data = body.unit.model_dump(mode="json")
    _check_jurisdiction(cmd, data)
    check_eligibility(data)
    unit = await session.get(Unit, data["code"])
    if unit is None:
        unit = Unit(**data)
        session.add(unit)
        await session.flush()
        await _emit(session, cmd, "UnitRegistered", dump(UnitRegistered(unit=unit.snapshot())), unit_year=None, stream=f"unit:{unit.code}")
        return "applied"
    _check_jurisdiction(cmd, unit)
    changed = unit.update(data)
    if not changed:
        return "ignored"
    await session.flush()
    await _emit(
        session, cmd, "UnitUpdated", dump(UnitUpdated(unit=unit.snapshot(), changed=changed)), unit_year=None, stream=f"unit:{unit.code}"
    )
    return "applied"


async def register_unit_year(session: AsyncSession, cmd: Command) -> str:
    body: UnitYearRegistrationSubmitted = cmd.payload
    unit = await session.get(Unit, body.unit_code)
    if unit is None:
        raise RegistrationError(
            "unknown_unit", f"unit {body.unit_code} is not registered: send UnitRegistrationSubmitted first"
        )
    _check_jurisdiction(cmd, unit)
    uy_id = unit_year_id(unit.code, body.year)
    existing = await session.get(UnitYear, uy_id)
    if existing is not None:
        raise RegistrationError(
            "already_registered", f"unit-year {uy_id} is already registered (state {existing.state})"
        )
    documents = [d.model_dump(mode="json") for d in body.documents]
    uy = UnitYear.register(unit, body.year, documents, body.households_total, body.households_registered)
    session.add(uy)
    await session.flush()
    await _emit(
        session,
        cmd,
        "UnitYearRegistered",
        dump(
            UnitYearRegistered(
                unit_year_id=uy.id,
                year=uy.year,
                unit=unit.snapshot(),
                documents=documents,
                households_total=uy.households_total,
                households_registered=uy.households_registered,
            )
        ),
        unit_year=uy.id,
    )
    return "applied"


async def withdraw_unit_year(session: AsyncSession, cmd: Command) -> str:
    body: UnitYearWithdrawalSubmitted = cmd.payload
    uy = await session.get(UnitYear, body.unit_year_id)
    if uy is None:
        raise RegistrationError("unknown_unit_year", f"unit-year {body.unit_year_id} is not registered")
    unit = await session.get(Unit, uy.unit_code)
    assert unit is not None
    _check_jurisdiction(cmd, unit)
    uy.withdraw(body.reason)
    await session.flush()
    await _emit(session, cmd, "UnitYearWithdrawn", dump(UnitYearWithdrawn(unit_year_id=uy.id, reason=body.reason)), unit_year=uy.id)
    return "applied"


COMMANDS = {
    "UnitRegistrationSubmitted": register_unit,
    "UnitYearRegistrationSubmitted": register_unit_year,
    "UnitYearWithdrawalSubmitted": withdraw_unit_year,
}


async def on_approval_event(session: AsyncSession, env: dict[str, Any]) -> str:
    """Read model: the approval state of each registered unit-year."""
    state = env["payload"].get("state")
    uy_id = env.get("unit_year_id")
    if not state or not uy_id:
        return "ignored"
    # a read-model column: one UPDATE, no load (the registration's own version is not involved)
    res = await session.execute(update(unit_years).where(unit_years.c.id == uy_id).values(approval_state=state))
    return "applied" if res.rowcount else "ignored"


APPROVAL_EVENTS = {
    name: on_approval_event
    for name in (
        "ApprovalCaseOpened",
        "UnitYearSelfScored",
        "UnitYearReviewed",
        "UnitYearRecognized",
        "UnitYearNotRecognized",
        "UnitYearReturned",
        "ApprovalCaseWithdrawn",
        "UnitYearRevoked",
        "VerdictChanged",
        "IncidentFlagged",
    )
}


async def list_unit_years(session: AsyncSession, *, year: int | None, unit_code: str | None, limit: int, offset: int) -> list[UnitYear]:
    q = select(UnitYear).order_by(UnitYear.id).limit(limit).offset(offset)  # type: ignore[arg-type]
    if year is not None:
        q = q.where(UnitYear.year == year)  # type: ignore[arg-type]
    if unit_code is not None:
        q = q.where(UnitYear.unit_code == unit_code)  # type: ignore[arg-type]
    return list((await session.execute(q)).scalars())
