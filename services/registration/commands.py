"""Registration commands: inbound requests (Kafka ``antt.inbound.v1`` or HTTP), each handled in
the caller's unit of work: contract -> domain -> events."""

from __future__ import annotations

from typing import Any

from services.registration.domain.model import RegistrationError, Unit, UnitYear, check_eligibility, unit_year_id
from shared.contracts.events import UnitRegistered, UnitUpdated, UnitYearRegistered, UnitYearWithdrawn
from shared.contracts.inbound import (
    UnitRegistrationSubmitted,
    UnitYearRegistrationSubmitted,
    UnitYearWithdrawalSubmitted,
)
from shared.infra.adapters import CommandFn
from shared.infra.inbound import Command
from shared.infra.parking import NotYetKnown
from shared.infra.uow import UnitOfWork


def _check_jurisdiction(cmd: Command, unit: Unit | dict[str, Any]) -> None:
    data = unit if isinstance(unit, dict) else unit.snapshot()
    cmd.require_jurisdiction(
        province_code=data["province_code"],
        commune_code=data.get("commune_code"),
        district_code=data.get("district_code"),
        unit_code=data["code"],
    )


def register_unit(uow: UnitOfWork, cmd: Command) -> str:
    body: UnitRegistrationSubmitted = cmd.payload
    data = body.unit.model_dump(mode="json")
    _check_jurisdiction(cmd, data)
    check_eligibility(data)
    unit = uow.get(Unit, data["code"])
    if unit is None:
        unit = Unit(**data)
        uow.add(unit)
        uow.emit(UnitRegistered(unit=unit.snapshot()), cmd.cause, unit_year_id=None, stream_id=f"unit:{unit.code}")
        return "applied"
    _check_jurisdiction(cmd, unit)
    changed = unit.update(data)
    if not changed:
        return "ignored"
    uow.emit(UnitUpdated(unit=unit.snapshot(), changed=changed), cmd.cause, unit_year_id=None, stream_id=f"unit:{unit.code}")
    return "applied"


def register_unit_year(uow: UnitOfWork, cmd: Command) -> str:
    body: UnitYearRegistrationSubmitted = cmd.payload
    unit = uow.get(Unit, body.unit_code)
    if unit is None:
        # held until the unit's registration (UnitRegistered on unit:<code>), which may come later
        raise NotYetKnown(
            "unknown_unit",
            f"unit {body.unit_code} is not registered: send UnitRegistrationSubmitted first",
            stream_id=f"unit:{body.unit_code}",
            waiting_for="unit",
        )
    _check_jurisdiction(cmd, unit)
    uy_id = unit_year_id(unit.code, body.year)
    existing = uow.get(UnitYear, uy_id)
    if existing is not None:
        raise RegistrationError("already_registered", f"unit-year {uy_id} is already registered (state {existing.state})")
    documents = [d.model_dump(mode="json") for d in body.documents]
    uy = UnitYear.register(unit, body.year, documents, body.households_total, body.households_registered)
    uow.add(uy)
    uow.emit(
        UnitYearRegistered(
            unit_year_id=uy.id,
            year=uy.year,
            unit=unit.snapshot(),
            documents=documents,
            households_total=uy.households_total,
            households_registered=uy.households_registered,
        ),
        cmd.cause,
        unit_year_id=uy.id,
    )
    return "applied"


def withdraw_unit_year(uow: UnitOfWork, cmd: Command) -> str:
    body: UnitYearWithdrawalSubmitted = cmd.payload
    uy = uow.get(UnitYear, body.unit_year_id)
    if uy is None:
        raise NotYetKnown(
            "unknown_unit_year",
            f"unit-year {body.unit_year_id} is not registered",
            stream_id=body.unit_year_id,
            waiting_for="unit_year",
        )
    unit = uow.get(Unit, uy.unit_code)
    assert unit is not None
    _check_jurisdiction(cmd, unit)
    uy.withdraw(body.reason)
    uow.emit(UnitYearWithdrawn(unit_year_id=uy.id, reason=body.reason), cmd.cause, unit_year_id=uy.id)
    return "applied"


COMMANDS: dict[type, CommandFn] = {
    UnitRegistrationSubmitted: register_unit,
    UnitYearRegistrationSubmitted: register_unit_year,
    UnitYearWithdrawalSubmitted: withdraw_unit_year,
}
