"""Approval handlers: contract -> domain -> outbox (+ audit history), one transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.chains import ChainConfig
from services.approval.domain import ApprovalCase, ApprovalError, Outcome
from services.approval.machine import UNDER_REVIEW
from services.approval.orm import history, infra
from shared.contracts import topics
from shared.contracts.inbound import ReviewDecisionSubmitted
from shared.infra.inbound import Command, in_jurisdiction
from shared.infra.outbox import Emitter

PRODUCER = "approval"
emit = Emitter(infra, topics.APPROVAL_EVENTS, PRODUCER)


def today() -> date:
    return date.today()


async def record_history(session: AsyncSession, env: dict[str, Any], topic: str) -> None:
    """Keep an event in the unit-year's audit history (once, whoever delivers it)."""
    if not env.get("unit_year_id"):
        return
    values = {
        "event_id": env["event_id"],
        "unit_year_id": env["unit_year_id"],
        "topic": topic,
        "event_type": env["event_type"],
        "producer": env["producer"],
        "sequence": env["sequence"],
        "recorded_at": env["recorded_at"],
        "envelope": env,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = postgresql.insert(history) if dialect == "postgresql" else sqlite.insert(history)
    await session.execute(ins.values(**values).on_conflict_do_nothing(index_elements=["event_id"]))


async def _publish(session: AsyncSession, case: ApprovalCase, outcome: Outcome, *, actor: dict[str, Any], correlation_id: str, causation_id: str) -> None:
    await session.flush()
    env = await emit(
        session,
        outcome.event_type,
        outcome.payload,
        unit_year_id=case.unit_year_id,
        actor=actor,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    await record_history(session, env, topics.APPROVAL_EVENTS)


def _follow(env: dict[str, Any]) -> dict[str, Any]:
    return {"actor": env["actor"], "correlation_id": env["correlation_id"], "causation_id": env["event_id"]}


# --- commands -----------------------------------------------------------------------------
async def decide(session: AsyncSession, cmd: Command) -> str:
    body: ReviewDecisionSubmitted = cmd.payload
    case = await session.get(ApprovalCase, body.unit_year_id)
    if case is None:
        raise ApprovalError(
            "unknown_unit_year", f"unit-year {body.unit_year_id} is not known to the approval service (not registered)"
        )
    if not in_jurisdiction(cmd.jurisdiction, province_code=case.province_code, commune_code=case.commune_code):
        raise ApprovalError(
            "out_of_jurisdiction",
            f"{cmd.source} may act for {', '.join(cmd.jurisdiction)}; unit is in province {case.province_code}",
        )
    outcome = case.decide(
        level=body.level.value,
        decision=body.decision.value,
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        certificate_no=body.certificate_no,
        today=today(),
    )
    await _publish(session, case, outcome, actor=cmd.actor_dict(), correlation_id=cmd.correlation_id, causation_id=cmd.message_id)
    return "applied"


COMMANDS = {"ReviewDecisionSubmitted": decide}


# --- events from assessment ---------------------------------------------------------------
async def on_assessment_opened(session: AsyncSession, env: dict[str, Any]) -> str:
    await record_history(session, env, topics.ASSESSMENT_EVENTS)
    p = env["payload"]
    if await session.get(ApprovalCase, p["unit_year_id"]) is not None:
        return "ignored"
    try:
        chain = ChainConfig.load().chain_for(p["unit"], p["year"])
    except LookupError as exc:
        raise ApprovalError("no_chain", str(exc)) from None
    case = ApprovalCase.open(p["unit_year_id"], p["year"], p["unit"], chain)
    session.add(case)
    outcome = Outcome(
        "ApprovalCaseOpened",
        {
            "unit_year_id": case.unit_year_id,
            "unit": case.unit,
            "year": case.year,
            "chain": case.chain,
            "chain_profile": case.chain_profile,
            "deadline": case.deadline.isoformat(),
            "state": case.state,
        },
    )
    await _publish(session, case, outcome, **_follow(env))
    return "applied"


async def _case(session: AsyncSession, env: dict[str, Any]) -> ApprovalCase:
    case = await session.get(ApprovalCase, env["unit_year_id"])
    if case is None:
        raise ApprovalError("unknown_unit_year", f"unit-year {env['unit_year_id']} has no approval case")
    return case


async def on_self_assessment_recorded(session: AsyncSession, env: dict[str, Any]) -> str:
    await record_history(session, env, topics.ASSESSMENT_EVENTS)
    p = env["payload"]
    case = await _case(session, env)
    outcome = case.self_score(p["round"], p["verdict"], p.get("unmet", []))
    await _publish(session, case, outcome, **_follow(env))
    return "applied"


async def on_assessment_closed(session: AsyncSession, env: dict[str, Any]) -> str:
    await record_history(session, env, topics.ASSESSMENT_EVENTS)
    if env["payload"]["outcome"] != "withdrawn":
        return "applied"
    case = await _case(session, env)
    if case.state == "withdrawn":
        return "ignored"
    outcome = case.withdraw("withdrawn by the unit (registration withdrawn)")
    await _publish(session, case, outcome, **_follow(env))
    return "applied"


async def history_only(session: AsyncSession, env: dict[str, Any], topic: str) -> str:
    await record_history(session, env, topic)
    return "applied"


async def _assessment_history(session: AsyncSession, env: dict[str, Any]) -> str:
    return await history_only(session, env, topics.ASSESSMENT_EVENTS)


async def _registration_history(session: AsyncSession, env: dict[str, Any]) -> str:
    return await history_only(session, env, topics.REGISTRATION_EVENTS)


ASSESSMENT_EVENTS = {
    "AssessmentOpened": on_assessment_opened,
    "SelfAssessmentRecorded": on_self_assessment_recorded,
    "AssessmentReopened": _assessment_history,
    "AssessmentClosed": on_assessment_closed,
}

REGISTRATION_EVENTS = {"UnitYearRegistered": _registration_history, "UnitYearWithdrawn": _registration_history}


# --- queries ------------------------------------------------------------------------------
async def queue(
    session: AsyncSession,
    *,
    level: str | None,
    province_code: str | None,
    commune_code: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> list[ApprovalCase]:
    c = ApprovalCase
    q = select(c).where(c.state.in_(UNDER_REVIEW))  # type: ignore[attr-defined]
    if level:
        q = q.where(c.pending_level == level)  # type: ignore[arg-type]
    if province_code:
        q = q.where(c.province_code == province_code)  # type: ignore[arg-type]
    if commune_code:
        q = q.where(c.commune_code == commune_code)  # type: ignore[arg-type]
    if kind:
        q = q.where(c.kind == kind)  # type: ignore[arg-type]
    q = q.order_by(c.deadline, c.unit_year_id).limit(limit).offset(offset)  # type: ignore[arg-type]
    return list((await session.execute(q)).scalars())


async def event_history(session: AsyncSession, unit_year_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(history.c.envelope).where(history.c.unit_year_id == unit_year_id).order_by(history.c.recorded_at, history.c.sequence)
    )
    return [r[0] for r in rows]
