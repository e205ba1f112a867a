"""The approval service's read models: every event about a unit-year (its history, for the
audit view) and the unit register (for the commune roll-up)."""

from __future__ import annotations

from typing import Any

import orjson

from services.approval.orm import history, units
from shared.contracts import topics
from shared.infra.adapters import EventMessage
from shared.infra.projections import upsert
from shared.infra.uow import UnitOfWork


def record_history(uow: UnitOfWork, env: dict[str, Any], topic: str, *, raw: bytes | None = None) -> None:
    """Keep an event in the unit-year's audit history (once, whoever delivers it). ``raw``: the
    record's bytes, when they are ``env`` as read (``EventMessage.raw``): stored as they are
    (``orjson.Fragment``), the envelope is not serialised again."""
    if not env.get("unit_year_id"):
        return
    uow.add_row(
        history,
        {
            "event_id": env["event_id"],
            "unit_year_id": env["unit_year_id"],
            "topic": topic,
            "event_type": env["event_type"],
            "producer": env["producer"],
            "sequence": env["sequence"],
            "recorded_at": env["recorded_at"],
            "envelope": env if raw is None else orjson.Fragment(raw),
        },
        ignore_conflict=True,
    )


def unit_register(uow: UnitOfWork, event: EventMessage[Any]) -> str:
    """The unit register's read model (the commune roll-up needs every unit a commune manages)."""
    u = event.payload.unit.model_dump(mode="json")
    upsert(
        uow,
        units,
        {"code": u["code"]},
        {k: u.get(k) for k in ("kind", "province_code", "commune_code", "district_code", "managing_level", "name")},
    )
    return "applied"


def assessment_history(uow: UnitOfWork, event: EventMessage[Any]) -> str:
    record_history(uow, event.envelope, topics.ASSESSMENT_EVENTS, raw=event.raw)
    return "applied"


def registration_history(uow: UnitOfWork, event: EventMessage[Any]) -> str:
    record_history(uow, event.envelope, topics.REGISTRATION_EVENTS, raw=event.raw)
    return "applied"
