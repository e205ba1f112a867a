"""Assessment handlers: contract -> domain -> outbox, one transaction (owned by the caller)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import rules
from services.assessment.criteria import catalog_for
from services.assessment.domain import AssessmentCase, AssessmentError, Incident, window_year
from services.assessment.machine import AssessmentState
from services.assessment.orm import incidents, infra, units
from shared.contracts import topics
from shared.contracts.events import (
    AssessmentClosed,
    AssessmentOpened,
    AssessmentReopened,
    IncidentRecorded,
    SelfAssessmentRecorded,
    dump,
)
from shared.contracts.inbound import IncidentReported, SelfAssessmentSubmitted
from shared.infra.inbound import Command, in_jurisdiction
from shared.infra.outbox import Emitter

PRODUCER = "assessment"
emit = Emitter(infra, topics.ASSESSMENT_EVENTS, PRODUCER)


def _follow(env: dict[str, Any]) -> dict[str, Any]:
    """Actor, correlation and causation of an event caused by another event."""
    return {"actor": env["actor"], "correlation_id": env["correlation_id"], "causation_id": env["event_id"]}


def _from(cmd: Command) -> dict[str, Any]:
    """Actor, correlation and causation of an event caused by an inbound message."""
    return {"actor": cmd.actor_dict(), "correlation_id": cmd.correlation_id, "causation_id": cmd.message_id}


async def incidents_in_window(session: AsyncSession, case: AssessmentCase) -> list[Incident]:
    """The incidents recorded for the case's unit whose date is in its window."""
    start, end = case.window()
    q = (
        select(Incident)
        .where(incidents.c.unit_code == case.unit_code, incidents.c.occurred_on >= start, incidents.c.occurred_on <= end)
        .order_by(incidents.c.occurred_on, incidents.c.incident_id)
    )
    return list((await session.execute(q)).scalars().all())


async def _known_unit(session: AsyncSession, code: str) -> dict[str, Any] | None:
    row = (await session.execute(select(units).where(units.c.code == code))).first()
    return None if row is None else dict(row._mapping)


async def _remember_unit(session: AsyncSession, unit: dict[str, Any], *, overwrite: bool) -> None:
    """Keep the unit's kind and place (read model): UnitRegistered / UnitUpdated overwrite it,
    a unit-year's snapshot only fills it in (the two arrive on different partitions)."""
    values = {
        "kind": unit["kind"],
        "province_code": unit["province_code"],
        "commune_code": unit.get("commune_code"),
        "unit": unit,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = (postgresql.insert(units) if dialect == "postgresql" else sqlite.insert(units)).values(code=unit["code"], **values)
    if overwrite:
        await session.execute(ins.on_conflict_do_update(index_elements=["code"], set_=values))
    else:
        await session.execute(ins.on_conflict_do_nothing(index_elements=["code"]))


def _outcome(case: AssessmentCase) -> dict[str, Any]:
    unmet = list((case.result or {}).get("unmet") or []) if case.verdict else []
    return {"verdict": case.verdict, "unmet": unmet}


async def _emit_incident(
    session: AsyncSession,
    incident: Incident,
    effect: rules.IncidentEffect,
    *,
    case: AssessmentCase | None,
    assessed_year: int | None,
    cause: dict[str, Any],
) -> None:
    payload = IncidentRecorded(
        incident_id=incident.incident_id,
        unit_code=incident.unit_code,
        occurred_on=incident.occurred_on,
        category=incident.category,
        unit_year_id=None if case is None else case.unit_year_id,
        criterion=effect.criterion,
        effect=effect.effect,
        reason=effect.reason,
        severity=incident.report.get("severity"),
        assessed_year=assessed_year,
        **(_outcome(case) if case is not None else {}),
    )
    await emit(
        session,
        "IncidentRecorded",
        dump(payload),
        unit_year_id=None if case is None else case.unit_year_id,
        stream_id=f"unit:{incident.unit_code}" if case is None else case.unit_year_id,
        **cause,
    )


# --- commands -----------------------------------------------------------------------------
async def submit_self_assessment(session: AsyncSession, cmd: Command) -> str:
    body: SelfAssessmentSubmitted = cmd.payload
    case = await session.get(AssessmentCase, body.unit_year_id)
    if case is None:
        raise AssessmentError(
            "unknown_unit_year",
            f"unit-year {body.unit_year_id} is not registered (no UnitYearRegistered has been seen for it)",
        )
    cmd.require_jurisdiction(
        province_code=case.unit["province_code"], commune_code=case.unit.get("commune_code"), unit_code=case.unit["code"]
    )
    criteria = [c.model_dump(mode="json") for c in body.criteria]
    documents = [d.model_dump(mode="json") for d in body.documents]
    evidence = None if body.evidence is None else body.evidence.model_dump(mode="json", exclude_none=True)
    ev = case.submit(
        criteria,
        body.meeting_date,
        body.score,
        documents=documents,
        evidence=evidence,
        incidents=await incidents_in_window(session, case),
    )
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
                documents=documents,
                scoring_sheet=ev.scoring_sheet,
                score_breakdown=ev.score,
            )
        ),
        unit_year_id=case.unit_year_id,
        **_from(cmd),
    )
    return "applied"


async def record_incident(session: AsyncSession, cmd: Command) -> str:
    """Record an incident (IncidentReported) in the window that contains the day it happened;
    if that unit-year's case exists, link it and judge the self-assessment again.

    Linking writes the case row (``incident_ids``, version check), so a self-assessment of the
    same unit-year committed concurrently conflicts and is retried; and a self-assessment
    always reads the window's incidents, so one recorded while the unit-year was being
    registered still counts."""
    body: IncidentReported = cmd.payload
    report = body.model_dump(mode="json")
    existing = await session.get(Incident, body.incident_id)
    if existing is not None:
        if existing.same_report(report):
            return "ignored"
        raise AssessmentError(
            "conflict",
            f"incident {body.incident_id} is already recorded with other content ({'; '.join(existing.differences(report))}); "
            "an incident is recorded once: report a correction under a new incident_id",
        )
    incident = Incident.record(report, source_system=cmd.source, jurisdiction=cmd.jurisdiction)
    known = await _known_unit(session, body.unit_code)
    if known is not None:
        cmd.require_jurisdiction(province_code=known["province_code"], commune_code=known["commune_code"], unit_code=body.unit_code)
    session.add(incident)
    year = None if known is None else window_year(known["kind"], body.occurred_on)
    case = None if year is None else await session.get(AssessmentCase, f"{body.unit_code}:{year}")
    if case is None:
        if known is None:
            why = f"unit {body.unit_code} is not known here yet"
            criterion = None
        else:
            why = f"unit-year {body.unit_code}:{year} (the window that contains {body.occurred_on}) is not registered yet"
            found = catalog_for(known["kind"], year or 0).criterion_for(body.category)
            criterion = None if found is None else found[0].code
        reason = f"{why}: the incident counts once the unit-year is registered"
        incident.assign(None, None, pending_reason=reason)
        await session.flush()
        effect = rules.IncidentEffect(incident.incident_id, criterion, rules.PENDING, reason)
        await _emit_incident(session, incident, effect, case=None, assessed_year=year, cause=_from(cmd))
        return "applied"
    effect = case.note_incident(incident)
    await session.flush()
    case.reevaluate(await incidents_in_window(session, case))
    await session.flush()
    await _emit_incident(session, incident, effect, case=case, assessed_year=year, cause=_from(cmd))
    return "applied"


COMMANDS = {"SelfAssessmentSubmitted": submit_self_assessment, "IncidentReported": record_incident}


# --- events from registration -------------------------------------------------------------
async def on_unit_year_registered(session: AsyncSession, env: dict[str, Any]) -> str:
    p = env["payload"]
    if await session.get(AssessmentCase, p["unit_year_id"]) is not None:
        return "ignored"
    await _remember_unit(session, p["unit"], overwrite=False)
    case = AssessmentCase.open(p["unit_year_id"], p["year"], p["unit"], registration=p)
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
    # incidents recorded before the unit-year was known now count in its window
    unit = case.unit
    for incident in await incidents_in_window(session, case):
        if incident.unit_year_id is not None:
            continue
        if in_jurisdiction(incident.jurisdiction, province_code=unit["province_code"], commune_code=unit.get("commune_code")):
            effect = case.note_incident(incident)
        else:
            reason = (
                f"incident {incident.incident_id} came from {incident.source_system}, which may act for "
                f"{', '.join(incident.jurisdiction)}; unit {case.unit_code} is in province {unit['province_code']}: not counted"
            )
            incident.refuse_for_jurisdiction(case.unit_year_id, reason)
            effect = rules.IncidentEffect(incident.incident_id, None, rules.OUT_OF_JURISDICTION, reason)
        await session.flush()
        await _emit_incident(session, incident, effect, case=case, assessed_year=case.year, cause=_follow(env))
    return "applied"


async def on_unit_registered(session: AsyncSession, env: dict[str, Any]) -> str:
    """Keep the unit's kind and place: an incident is placed in its window and checked
    against its sender's jurisdiction even before the unit registers for the year."""
    await _remember_unit(session, env["payload"]["unit"], overwrite=True)
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
    "UnitRegistered": on_unit_registered,
    "UnitUpdated": on_unit_registered,
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
