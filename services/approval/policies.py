"""The approval service's reactions to the assessment service's events: a case opens with the
assessment, a self-assessment puts it in the review queue, a withdrawal closes it, and an
incident changes its verdict (or, after recognition, raises a flag)."""

from __future__ import annotations

from typing import Any

from services.approval import projections
from services.approval.commands import publish
from services.approval.domain.chains import ChainConfig
from services.approval.domain.machine import ApprovalState
from services.approval.domain.model import ApprovalCase, ApprovalError, ExemplaryTitle
from shared.contracts import events as ev
from shared.contracts import topics
from shared.infra.adapters import EventFn, EventMessage
from shared.infra.uow import UnitOfWork


def _history(uow: UnitOfWork, event: EventMessage[Any]) -> None:
    projections.record_history(uow, event.envelope, topics.ASSESSMENT_EVENTS, raw=event.raw)


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
        outcome = (
            case.flag_incident(p.incident_id, p.criterion, p.reason, p.source_system) if p.effect == "fails_criterion" else None
        )
    elif p.verdict:
        outcome = case.change_verdict(p.verdict, p.unmet, f"incident {p.incident_id}: {p.reason}")
    else:
        outcome = None
    if outcome is not None:
        publish(uow, case, outcome, event.cause)
    return "applied"


# --- the exemplary title --------------------------------------------------------------------
def _title(uow: UnitOfWork, event: EventMessage[Any]) -> ExemplaryTitle:
    title = uow.get(ExemplaryTitle, event.unit_year_id)
    if title is None:
        raise ApprovalError("no_exemplary_title", f"unit-year {event.unit_year_id} has no exemplary title case")
    return title


def open_exemplary_title(uow: UnitOfWork, event: EventMessage[ev.ExemplaryCaseOpened]) -> str:
    """The proposal of an ANTT-recognised unit-year opens its exemplary title's case on the
    province's chain for the title."""
    _history(uow, event)
    p = event.payload
    if uow.get(ExemplaryTitle, p.unit_year_id) is not None:
        return "ignored"
    antt = _case(uow, event)
    try:
        chain = ChainConfig.load().exemplary_chain_for(antt.unit, antt.year)
    except LookupError as exc:
        raise ApprovalError("no_chain", str(exc)) from None
    title, events = ExemplaryTitle.open(antt, p.criteria_catalog, chain)
    uow.add(title)
    for out in events:
        publish(uow, title, out, event.cause)
    return "applied"


def exemplary_self_scored(uow: UnitOfWork, event: EventMessage[ev.ExemplarySelfAssessmentRecorded]) -> str:
    _history(uow, event)
    p = event.payload
    title = _title(uow, event)
    if title.state in title.FINAL:
        return "ignored"
    publish(uow, title, title.self_score(p.round, p.verdict, p.unmet), event.cause)
    return "applied"


def exemplary_revised(uow: UnitOfWork, event: EventMessage[ev.ExemplaryEvaluationRevised]) -> str:
    """A new verdict of the exemplary self-assessment (an incident, the movement's
    classification) while the title is under review; after a decision it changes nothing
    (revoking a title is an explicit decision, or follows the ANTT revocation)."""
    _history(uow, event)
    p = event.payload
    title = _title(uow, event)
    outcome = title.change_verdict(p.verdict, p.unmet, p.reason)
    if outcome is not None:
        publish(uow, title, outcome, event.cause)
    return "applied"


ASSESSMENT_EVENTS: dict[type, EventFn] = {
    ev.AssessmentOpened: open_case,
    ev.SelfAssessmentRecorded: self_scored,
    ev.AssessmentReopened: projections.assessment_history,
    ev.AssessmentClosed: assessment_closed,
    ev.IncidentRecorded: incident_recorded,
    ev.ExemplaryCaseOpened: open_exemplary_title,
    ev.ExemplarySelfAssessmentRecorded: exemplary_self_scored,
    ev.ExemplaryEvaluationRevised: exemplary_revised,
    ev.ExemplaryCaseReopened: projections.assessment_history,
    ev.ExemplaryCaseClosed: projections.assessment_history,
    ev.MovementClassificationRecorded: projections.assessment_history,
}

REGISTRATION_EVENTS: dict[type, EventFn] = {
    ev.UnitRegistered: projections.unit_register,
    ev.UnitUpdated: projections.unit_register,
    ev.UnitYearRegistered: projections.registration_history,
    ev.UnitYearWithdrawn: projections.registration_history,
}
