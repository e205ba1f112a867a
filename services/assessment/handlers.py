"""Assessment handlers: contract -> domain -> outbox, one transaction (owned by the caller)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment.domain import AssessmentCase, AssessmentError
from services.assessment.machine import AssessmentState
from services.assessment.orm import infra
from shared.contracts import topics
from shared.contracts.events import (
    AssessmentClosed,
    AssessmentOpened,
    AssessmentReopened,
    SelfAssessmentRecorded,
    dump,
)
from shared.contracts.inbound import SelfAssessmentSubmitted
from shared.infra.inbound import Command, in_jurisdiction
from shared.infra.outbox import Emitter

PRODUCER = "assessment"
emit = Emitter(infra, topics.ASSESSMENT_EVENTS, PRODUCER)


def _follow(env: dict[str, Any]) -> dict[str, Any]:
    """Actor, correlation and causation of an event caused by another event."""
    return {"actor": env["actor"], "correlation_id": env["correlation_id"], "causation_id": env["event_id"]}


# --- commands -----------------------------------------------------------------------------
async def submit_self_assessment(session: AsyncSession, cmd: Command) -> str:
    body: SelfAssessmentSubmitted = cmd.payload
    case = await session.get(AssessmentCase, body.unit_year_id)
    if case is None:
        raise AssessmentError(
            "unknown_unit_year",
            f"unit-year {body.unit_year_id} is not registered (no UnitYearRegistered has been seen for it)",
        )
    if not in_jurisdiction(cmd.jurisdiction, province_code=case.unit["province_code"], commune_code=case.unit.get("commune_code")):
        raise AssessmentError(
            "out_of_jurisdiction",
            f"{cmd.source} may act for {', '.join(cmd.jurisdiction)}; unit is in province {case.unit['province_code']}",
        )
    criteria = [c.model_dump(mode="json") for c in body.criteria]
    ev = case.submit(criteria, body.meeting_date, body.score)
    await session.flush()
    await emit(
        session,
        "SelfAssessmentRecorded",
        dump(
            SelfAssessmentRecorded(
                unit_year_id=case.unit_year_id,
                round=case.round,
                unit=case.unit,
                year=case.year,
                meeting_date=body.meeting_date,
                criteria=ev.criteria,
                verdict=ev.verdict,
                unmet=ev.unmet,
                score=body.score,
                documents=[d.model_dump(mode="json") for d in body.documents],
            )
        ),
        unit_year_id=case.unit_year_id,
        actor=cmd.actor_dict(),
        correlation_id=cmd.correlation_id,
        causation_id=cmd.message_id,
    )
    return "applied"


COMMANDS = {"SelfAssessmentSubmitted": submit_self_assessment}


# --- events from registration -------------------------------------------------------------
async def on_unit_year_registered(session: AsyncSession, env: dict[str, Any]) -> str:
    p = env["payload"]
    if await session.get(AssessmentCase, p["unit_year_id"]) is not None:
        return "ignored"
    case = AssessmentCase.open(p["unit_year_id"], p["year"], p["unit"])
    session.add(case)
    await session.flush()
    start, end = case.window()
    await emit(
        session,
        "AssessmentOpened",
        dump(
            AssessmentOpened(
                unit_year_id=case.unit_year_id,
                year=case.year,
                unit=case.unit,
                window_start=start,
                window_end=end,
                criteria_catalog=case.catalog_ref,
            )
        ),
        unit_year_id=case.unit_year_id,
        **_follow(env),
    )
    return "applied"


async def _close(session: AsyncSession, env: dict[str, Any], outcome: str, trigger: str) -> str:
    uy_id = env["unit_year_id"]
    case = await session.get(AssessmentCase, uy_id)
    if case is None or case.state in (AssessmentState.closed, AssessmentState.withdrawn):
        return "ignored"
    getattr(case, trigger)()
    await session.flush()
    await emit(
        session,
        "AssessmentClosed",
        dump(AssessmentClosed(unit_year_id=uy_id, outcome=outcome)),
        unit_year_id=uy_id,
        **_follow(env),
    )
    return "applied"


async def on_unit_year_withdrawn(session: AsyncSession, env: dict[str, Any]) -> str:
    return await _close(session, env, "withdrawn", "withdraw")


REGISTRATION_EVENTS = {
    "UnitYearRegistered": on_unit_year_registered,
    "UnitYearWithdrawn": on_unit_year_withdrawn,
}


# --- events from approval -----------------------------------------------------------------
async def on_returned(session: AsyncSession, env: dict[str, Any]) -> str:
    p = env["payload"]
    case = await session.get(AssessmentCase, env["unit_year_id"])
    if case is None:
        raise AssessmentError("unknown_unit_year", f"unit-year {env['unit_year_id']} has no assessment case")
    case.reopen()
    await session.flush()
    await emit(
        session,
        "AssessmentReopened",
        dump(AssessmentReopened(unit_year_id=case.unit_year_id, round=case.round, level=p["level"], reasons=p["reasons"])),
        unit_year_id=case.unit_year_id,
        **_follow(env),
    )
    return "applied"


async def on_recognized(session: AsyncSession, env: dict[str, Any]) -> str:
    return await _close(session, env, "recognized", "close")


async def on_not_recognized(session: AsyncSession, env: dict[str, Any]) -> str:
    return await _close(session, env, "not_recognized", "close")


APPROVAL_EVENTS = {
    "UnitYearReturned": on_returned,
    "UnitYearRecognized": on_recognized,
    "UnitYearNotRecognized": on_not_recognized,
}
