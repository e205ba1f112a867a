"""The assessment service's read model of the unit register (kind and place of each unit)."""

from __future__ import annotations

from typing import Any

from services.assessment.orm import units
from shared.infra.adapters import EventMessage
from shared.infra.projections import upsert
from shared.infra.uow import UnitOfWork


def remember_unit(uow: UnitOfWork, unit: dict[str, Any], *, overwrite: bool) -> None:
    """Keep the unit's kind and place: UnitRegistered / UnitUpdated overwrite it, a unit-year's
    snapshot only fills it in (the two arrive on different partitions)."""
    values = {
        "kind": unit["kind"],
        "province_code": unit["province_code"],
        "commune_code": unit.get("commune_code"),
        "unit": unit,
    }
    upsert(uow, units, {"code": unit["code"]}, values, overwrite=overwrite)


def unit_register(uow: UnitOfWork, event: EventMessage[Any]) -> str:
    """An incident is placed in its window and checked against its sender's jurisdiction even
    before the unit registers for the year: the unit's kind and place are kept from the start."""
    remember_unit(uow, event.payload.unit.model_dump(mode="json"), overwrite=True)
    return "applied"
