"""The assessment service's reactions to other services' events: a registered unit-year opens
its case, a withdrawal or a final decision closes it, a return reopens it."""

from __future__ import annotations

from typing import Any

from services.assessment import queries
from services.assessment.commands import count_for_commune, emit_incident, link_area_incident, revise_exemplary
from services.assessment.domain import rules
from services.assessment.domain.exemplary import ExemplaryCase
from services.assessment.domain.machine import AssessmentState
from services.assessment.domain.model import AssessmentCase, AssessmentError
from services.assessment.projections import remember_unit, unit_register
from shared.contracts import events as ev
from shared.contracts.lifecycle import exemplary_stream
from shared.infra.adapters import EventFn, EventMessage
from shared.infra.inbound import in_jurisdiction
from shared.infra.uow import UnitOfWork


def open_case(uow: UnitOfWork, event: EventMessage[ev.UnitYearRegistered]) -> str:
    p = event.payload
    if uow.get(AssessmentCase, p.unit_year_id) is not None:
        return "ignored"
    registration = p.model_dump(mode="json")
    remember_unit(uow, registration["unit"], overwrite=False)
    case = AssessmentCase.open(p.unit_year_id, p.year, registration["unit"], registration=registration)
    uow.add(case)
    start, end = case.window()
    uow.emit(
        ev.AssessmentOpened(
            unit_year_id=case.unit_year_id,
            year=case.year,
            unit=case.unit,
            window_start=start,
            window_end=end,
            criteria_catalog=case.catalog_ref,
        ),
        event.cause,
        unit_year_id=case.unit_year_id,
    )
    # incidents recorded before the unit-year was known now count in its window
    unit = case.unit
    for incident in queries.window_incidents(uow, case):
        if incident.unit_code != case.unit_code:
            # a commune: an incident at one of its residential areas counts against its XA-2
            link_area_incident(uow, case, incident, event.cause)
            continue
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
        emit_incident(uow, incident, effect, case=case, assessed_year=case.year, cause=event.cause)
        if incident.counts:
            # an area's incident recorded before the area was known counts for its commune now
            count_for_commune(uow, incident, unit, event.cause)
    return "applied"


def _close(uow: UnitOfWork, event: EventMessage[Any], outcome: str, trigger: str) -> str:
    uy_id = event.unit_year_id
    case = uow.get(AssessmentCase, uy_id)
    if case is None or case.state in (AssessmentState.closed, AssessmentState.withdrawn):
        return "ignored"
    getattr(case, trigger)()
    # the outcome the exemplary title rests on (it needs the unit-year recognised ANTT)
    p = event.payload
    case.record_outcome(
        outcome,
        level=_value(getattr(p, "level", None)),
        decided_by=getattr(p, "decided_by", None),
        decision_no=getattr(p, "decision_no", None),
        decided_on=_value(getattr(p, "decided_on", None)),
    )
    uow.emit(ev.AssessmentClosed(unit_year_id=uy_id, outcome=outcome), event.cause, unit_year_id=uy_id)
    return "applied"


def withdrawn(uow: UnitOfWork, event: EventMessage[ev.UnitYearWithdrawn]) -> str:
    return _close(uow, event, "withdrawn", "withdraw")


def returned(uow: UnitOfWork, event: EventMessage[ev.UnitYearReturned]) -> str:
    p = event.payload
    case = uow.get(AssessmentCase, event.unit_year_id)
    if case is None:
        raise AssessmentError("unknown_unit_year", f"unit-year {event.unit_year_id} has no assessment case")
    case.reopen()
    uow.emit(
        ev.AssessmentReopened(unit_year_id=case.unit_year_id, round=case.round, level=p.level, reasons=p.reasons),
        event.cause,
        unit_year_id=case.unit_year_id,
    )
    return "applied"


def recognized(uow: UnitOfWork, event: EventMessage[ev.UnitYearRecognized]) -> str:
    return _close(uow, event, "recognized", "close")


def not_recognized(uow: UnitOfWork, event: EventMessage[ev.UnitYearNotRecognized]) -> str:
    return _close(uow, event, "not_recognized", "close")


def _value(v: Any) -> Any:
    """A JSON value of an enum or a date (None stays None)."""
    if v is None:
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(getattr(v, "value", v))


def revoked(uow: UnitOfWork, event: EventMessage[ev.UnitYearRevoked]) -> str:
    """The ANTT recognition was revoked: the unit-year no longer meets the exemplary
    criterion that rests on it, and an exemplary self-assessment is judged again. (Revoking
    an exemplary title already granted is the approval service's explicit decision.)"""
    p = event.payload
    case = uow.get(AssessmentCase, event.unit_year_id)
    if case is None or (case.outcome or {}).get("outcome") == "revoked":
        return "ignored"
    case.record_outcome("revoked", decided_by=p.decided_by, decision_no=p.decision_no, decided_on=_value(p.decided_on))
    by = f" ({p.decision_no})" if p.decision_no else ""
    revise_exemplary(uow, case, event.cause, f"the recognition “An toàn về ANTT” was revoked{by}: {'; '.join(p.reasons)}")
    return "applied"


# --------------------------------------------------------------------------- the exemplary title
def _exemplary(uow: UnitOfWork, event: EventMessage[Any]) -> ExemplaryCase:
    case = uow.get(ExemplaryCase, event.unit_year_id)
    if case is None:
        raise AssessmentError("no_exemplary_case", f"unit-year {event.unit_year_id} has no exemplary case")
    return case


def exemplary_returned(uow: UnitOfWork, event: EventMessage[ev.ExemplaryTitleReturned]) -> str:
    """The title's chain returned the proposal: its exemplary case accepts a new self-assessment."""
    p = event.payload
    case = _exemplary(uow, event)
    case.reopen()
    uow.emit(
        ev.ExemplaryCaseReopened(unit_year_id=case.unit_year_id, round=case.round, reasons=p.reasons, level=p.level),
        event.cause,
        unit_year_id=case.unit_year_id,
        stream_id=exemplary_stream(case.unit_year_id),
    )
    return "applied"


def _exemplary_closed(uow: UnitOfWork, event: EventMessage[Any], outcome: str) -> str:
    case = _exemplary(uow, event)
    if not case.close():
        return "ignored"
    uow.emit(
        ev.ExemplaryCaseClosed(unit_year_id=case.unit_year_id, outcome=outcome),
        event.cause,
        unit_year_id=case.unit_year_id,
        stream_id=exemplary_stream(case.unit_year_id),
    )
    return "applied"


def exemplary_recognized(uow: UnitOfWork, event: EventMessage[ev.ExemplaryTitleRecognized]) -> str:
    return _exemplary_closed(uow, event, "recognized")


def exemplary_not_recognized(uow: UnitOfWork, event: EventMessage[ev.ExemplaryTitleNotRecognized]) -> str:
    return _exemplary_closed(uow, event, "not_recognized")


def exemplary_revoked(uow: UnitOfWork, event: EventMessage[ev.ExemplaryTitleRevoked]) -> str:
    return _exemplary_closed(uow, event, "revoked")


def exemplary_lapsed(uow: UnitOfWork, event: EventMessage[ev.ExemplaryTitleLapsed]) -> str:
    return _exemplary_closed(uow, event, "lapsed")


REGISTRATION_EVENTS: dict[type, EventFn] = {
    ev.UnitRegistered: unit_register,
    ev.UnitUpdated: unit_register,
    ev.UnitYearRegistered: open_case,
    ev.UnitYearWithdrawn: withdrawn,
}

APPROVAL_EVENTS: dict[type, EventFn] = {
    ev.UnitYearReturned: returned,
    ev.UnitYearRecognized: recognized,
    ev.UnitYearNotRecognized: not_recognized,
    ev.UnitYearRevoked: revoked,
    ev.ExemplaryTitleReturned: exemplary_returned,
    ev.ExemplaryTitleRecognized: exemplary_recognized,
    ev.ExemplaryTitleNotRecognized: exemplary_not_recognized,
    ev.ExemplaryTitleRevoked: exemplary_revoked,
    ev.ExemplaryTitleLapsed: exemplary_lapsed,
}
