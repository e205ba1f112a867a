"""The approval service's reactions to the assessment service's events: a case opens with the
assessment, a self-assessment puts it in the review queue, a withdrawal closes it, and an
incident changes its verdict (or, after recognition, raises a flag)."""

from __future__ import annotations

from typing import Any

from services.approval import projections
from services.approval.chains import ChainConfig
from services.approval.commands import publish
from services.approval.domain import ApprovalCase, ApprovalError
from services.approval.machine import ApprovalState
from shared.contracts import events as ev
from shared.contracts import topics
from shared.infra.adapters import EventFn, EventMessage
from shared.infra.uow import UnitOfWork


def _history(uow: UnitOfWork, event: EventMessage[Any]) -> None:
    projections.record_history(uow, event.envelope, topics.ASSESSMENT_EVENTS)


def _case(uow: UnitOfWork, event: EventMessage[Any]) -> ApprovalCase:
    case = uow.get(ApprovalCase, event.unit_year_id)
    if case is None:
        raise ApprovalError("unknown_unit_year", f"unit-year {event.unit_year_id} has no approval case")
    return case


def open_case(uow: UnitOfWork, event: EventMessage[ev.AssessmentOpened]) -> str:
    """The case opens from ``AssessmentOpened``, not ``UnitYearRegistered``: the assessment
    forwards the unit's snapshot, so all a unit-year needs arrives on one topic, in order."""
    _history(uow, event)
    p = event.payload
    if uow.get(ApprovalCase, p.unit_year_id) is not None:
        return "ignored"
    unit = p.unit.model_dump(mode="json")
    try:
        chain = ChainConfig.load().chain_for(unit, p.year)
    except LookupError as exc:
        raise ApprovalError("no_chain", str(exc)) from None
    case = ApprovalCase.open(p.unit_year_id, p.year, unit, chain)
    uow.add(case)
    opened = ev.ApprovalCaseOpened(
        unit_year_id=case.unit_year_id,
        unit=case.unit,
        year=case.year,
        chain=case.chain,
        chain_profile=case.chain_profile,
        deadline=case.deadline,
        state=case.state,
    )
    publish(uow, case, opened, event.cause)
    return "applied"


def self_scored(uow: UnitOfWork, event: EventMessage[ev.SelfAssessmentRecorded]) -> str:
    _history(uow, event)
    p = event.payload
    case = _case(uow, event)
    publish(uow, case, case.self_score(p.round, p.verdict, p.unmet), event.cause)
    return "applied"


def assessment_closed(uow: UnitOfWork, event: EventMessage[ev.AssessmentClosed]) -> str:
    _history(uow, event)
    if event.payload.outcome != "withdrawn":
        return "applied"
    case = _case(uow, event)
    if case.state == "withdrawn":
        return "ignored"
    publish(uow, case, case.withdraw("withdrawn by the unit (registration withdrawn)"), event.cause)
    return "applied"


def incident_recorded(uow: UnitOfWork, event: EventMessage[ev.IncidentRecorded]) -> str:
    """An incident while the case is open changes its verdict; after recognition it raises a
    flag for the recognising level (revocation is a separate, explicit decision)."""
    _history(uow, event)
    p = event.payload
    uy = event.unit_year_id
    case = uow.get(ApprovalCase, uy) if uy else None
    if case is None:
        return "applied"
    outcome: ev.Event | None
    if case.state == ApprovalState.recognized:
        outcome = case.flag_incident(p.incident_id, p.criterion, p.reason) if p.effect == "fails_criterion" else None
    elif p.verdict:
        outcome = case.change_verdict(p.verdict, p.unmet, f"incident {p.incident_id}: {p.reason}")
    else:
        outcome = None
    if outcome is not None:
        publish(uow, case, outcome, event.cause)
    return "applied"


ASSESSMENT_EVENTS: dict[type, EventFn] = {
    ev.AssessmentOpened: open_case,
    ev.SelfAssessmentRecorded: self_scored,
    ev.AssessmentReopened: projections.assessment_history,
    ev.AssessmentClosed: assessment_closed,
    ev.IncidentRecorded: incident_recorded,
}

REGISTRATION_EVENTS: dict[type, EventFn] = {
    ev.UnitRegistered: projections.unit_register,
    ev.UnitUpdated: projections.unit_register,
    ev.UnitYearRegistered: projections.registration_history,
    ev.UnitYearWithdrawn: projections.registration_history,
}
