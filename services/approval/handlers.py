"""Approval handlers: contract -> domain -> outbox (+ audit history), one transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval.chains import DELEGABLE, ChainConfig
from services.approval.domain import ApprovalCase, ApprovalError, Outcome, Rollup, commune_code_of
from services.approval.machine import FINAL, UNDER_REVIEW, ApprovalState
from services.approval.orm import history, infra, units
from shared.contracts import topics
from shared.contracts.inbound import RecognitionRevocationSubmitted, ReviewDecisionSubmitted
from shared.infra.inbound import Command
from shared.infra.outbox import Emitter, write_buffer

PRODUCER = "approval"
emit = Emitter(infra, topics.APPROVAL_EVENTS, PRODUCER)


def today() -> date:
    return date.today()


async def record_history(session: AsyncSession, env: dict[str, Any], topic: str) -> None:
    """Keep an event in the unit-year's audit history (once, whoever delivers it)."""
    if not env.get("unit_year_id"):
        return
    write_buffer(session).add_row(
        history,
        {
            "event_id": env["event_id"],
            "unit_year_id": env["unit_year_id"],
            "topic": topic,
            "event_type": env["event_type"],
            "producer": env["producer"],
            "sequence": env["sequence"],
            "recorded_at": env["recorded_at"],
            "envelope": env,
        },
        ignore_conflict=True,
    )


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
    cmd.require_jurisdiction(province_code=case.province_code, commune_code=case.commune_code, unit_code=case.unit_code)
    rollup = None
    rule = None
    if case.kind == "commune" and body.decision.value == "pass":
        rollup = await commune_rollup(session, case)
        r = ChainConfig.load().rollup_rule()
        rule = (r.registered_min, r.recognized_min, r.criterion)
    outcome = case.decide(
        level=body.level.value,
        decision=body.decision.value,
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        certificate_no=body.certificate_no,
        today=today(),
        jurisdiction=cmd.jurisdiction,
        rollup=rollup,
        rollup_rule=rule,
    )
    await _publish(session, case, outcome, actor=cmd.actor_dict(), correlation_id=cmd.correlation_id, causation_id=cmd.message_id)
    return "applied"


async def revoke(session: AsyncSession, cmd: Command) -> str:
    body: RecognitionRevocationSubmitted = cmd.payload
    case = await session.get(ApprovalCase, body.unit_year_id)
    if case is None:
        raise ApprovalError("unknown_unit_year", f"unit-year {body.unit_year_id} is not known to the approval service")
    outcome = case.revoke(
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        today=today(),
        jurisdiction=cmd.jurisdiction,
    )
    await _publish(session, case, outcome, actor=cmd.actor_dict(), correlation_id=cmd.correlation_id, causation_id=cmd.message_id)
    return "applied"


COMMANDS = {"ReviewDecisionSubmitted": decide, "RecognitionRevocationSubmitted": revoke}


def _is_child_kind(kind: str, managing_level: str) -> bool:
    """Units a commune manages (Art. 5.4): its residential areas, and the agencies,
    enterprises and schools managed at commune level."""
    return kind == "residential_area" or (kind in DELEGABLE and managing_level == "commune")


async def commune_rollup(session: AsyncSession, case: ApprovalCase) -> Rollup:
    """The live figures of a commune's criterion 4, from the unit register and the cases."""
    cc = commune_code_of(case.unit)
    known = {
        r.code: (r.kind, r.managing_level, r.province_code)
        for r in (await session.execute(select(units).where(units.c.commune_code == cc, units.c.code != case.unit_code))).all()
        if _is_child_kind(r.kind, r.managing_level)
    }
    c = ApprovalCase
    rows = (
        await session.execute(
            select(c.unit_code, c.unit_year_id, c.state, c.deadline, c.kind, c.unit).where(  # type: ignore[arg-type]
                c.commune_code == cc, c.year == case.year, c.unit_code != case.unit_code  # type: ignore[arg-type]
            )
        )
    ).all()
    children = {r.unit_code: r for r in rows if _is_child_kind(r.kind, r.unit.get("managing_level", ""))}
    codes = sorted(set(known) | set(children))
    registered = [children[k] for k in codes if k in children and str(children[k].state) != ApprovalState.withdrawn]
    decided = [r for r in registered if str(r.state) in FINAL]
    pending = tuple(sorted(r.unit_year_id for r in registered if str(r.state) not in FINAL))
    config = ChainConfig.load()
    deadlines = [r.deadline for r in registered] + [config.deadline_for(kind, prov, case.year) for kind, _, prov in known.values()]
    return Rollup(
        commune_code=cc,
        year=case.year,
        total=len(codes),
        registered=len(registered),
        decided=len(decided),
        recognized=sum(1 for r in registered if str(r.state) == ApprovalState.recognized),
        pending=pending,
        unregistered=tuple(k for k in codes if k not in {r.unit_code for r in registered}),
        children_deadline=max(deadlines) if deadlines else None,
    )


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


async def on_incident_recorded(session: AsyncSession, env: dict[str, Any]) -> str:
    """An incident while the case is open changes its verdict; after recognition it raises a
    flag for the recognising level (revocation is a separate, explicit decision)."""
    await record_history(session, env, topics.ASSESSMENT_EVENTS)
    p = env["payload"]
    uy = env.get("unit_year_id")
    case = await session.get(ApprovalCase, uy) if uy else None
    if case is None:
        return "applied"
    if case.state == ApprovalState.recognized:
        outcome = (
            case.flag_incident(p["incident_id"], p.get("criterion"), p["reason"]) if p["effect"] == "fails_criterion" else None
        )
    elif p.get("verdict"):
        outcome = case.change_verdict(p["verdict"], p.get("unmet", []), f"incident {p['incident_id']}: {p['reason']}")
    else:
        outcome = None
    if outcome is not None:
        await _publish(session, case, outcome, **_follow(env))
    return "applied"


async def on_unit_registered(session: AsyncSession, env: dict[str, Any]) -> str:
    """Keep the unit register's read model (the commune roll-up needs every unit it manages)."""
    u = env["payload"]["unit"]
    values = {
        "kind": u["kind"],
        "province_code": u["province_code"],
        "commune_code": u.get("commune_code"),
        "district_code": u.get("district_code"),
        "managing_level": u["managing_level"],
        "name": u["name"],
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = (postgresql.insert(units) if dialect == "postgresql" else sqlite.insert(units)).values(code=u["code"], **values)
    await session.execute(ins.on_conflict_do_update(index_elements=["code"], set_=values))
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
    "IncidentRecorded": on_incident_recorded,
}

REGISTRATION_EVENTS = {
    "UnitRegistered": on_unit_registered,
    "UnitUpdated": on_unit_registered,
    "UnitYearRegistered": _registration_history,
    "UnitYearWithdrawn": _registration_history,
}


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


async def flagged(session: AsyncSession, *, province_code: str | None, limit: int, offset: int) -> list[ApprovalCase]:
    """Recognised unit-years with an incident flag for their recognising level."""
    c = ApprovalCase
    q = select(c).where(c.open_flags > 0)  # type: ignore[arg-type,operator]
    if province_code:
        q = q.where(c.province_code == province_code)  # type: ignore[arg-type]
    q = q.order_by(c.unit_year_id).limit(limit).offset(offset)  # type: ignore[arg-type]
    return list((await session.execute(q)).scalars())


async def event_history(session: AsyncSession, unit_year_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(history.c.envelope).where(history.c.unit_year_id == unit_year_id).order_by(history.c.recorded_at, history.c.sequence)
    )
    return [r[0] for r in rows]
