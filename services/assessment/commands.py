"""Assessment commands: the self-assessment (tự đánh giá) and incident reports, from other
systems over Kafka or over HTTP."""

from __future__ import annotations

from services.assessment import queries, rules
from services.assessment.criteria import catalog_for
from services.assessment.domain import AssessmentCase, AssessmentError, Incident, window_year
from shared.contracts.events import IncidentRecorded, SelfAssessmentRecorded
from shared.contracts.inbound import IncidentReported, SelfAssessmentSubmitted
from shared.infra.adapters import CommandFn
from shared.infra.inbound import Command
from shared.infra.parking import NotYetKnown
from shared.infra.uow import Cause, UnitOfWork


def emit_incident(
    uow: UnitOfWork,
    incident: Incident,
    effect: rules.IncidentEffect,
    *,
    case: AssessmentCase | None,
    assessed_year: int | None,
    cause: Cause,
) -> None:
    """``IncidentRecorded`` on the unit-year's stream, or on the unit's while no unit-year of
    the incident's window is known."""
    outcome = {}
    if case is not None:
        outcome = {"verdict": case.verdict, "unmet": list((case.result or {}).get("unmet") or []) if case.verdict else []}
    event = IncidentRecorded(
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
        **outcome,
    )
    uow.emit(
        event,
        cause,
        unit_year_id=None if case is None else case.unit_year_id,
        stream_id=f"unit:{incident.unit_code}" if case is None else case.unit_year_id,
    )


def submit_self_assessment(uow: UnitOfWork, cmd: Command) -> str:
    body: SelfAssessmentSubmitted = cmd.payload
    case = uow.session.get(AssessmentCase, body.unit_year_id)
    if case is None:
        # held until UnitYearRegistered opens the case (AssessmentOpened on the unit-year's stream)
        raise NotYetKnown(
            "unknown_unit_year",
            f"unit-year {body.unit_year_id} is not registered (no UnitYearRegistered has been seen for it)",
            stream_id=body.unit_year_id,
            waiting_for="unit_year",
        )
    cmd.require_jurisdiction(province_code=case.unit["province_code"], commune_code=case.unit.get("commune_code"), unit_code=case.unit["code"])
    criteria = [c.model_dump(mode="json") for c in body.criteria]
    documents = [d.model_dump(mode="json") for d in body.documents]
    evidence = None if body.evidence is None else body.evidence.model_dump(mode="json", exclude_none=True)
    ev = case.submit(
        criteria,
        body.meeting_date,
        body.score,
        documents=documents,
        evidence=evidence,
        incidents=queries.incidents_in_window(uow.session, case),
    )
    uow.emit(
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
        ),
        cmd.cause,
        unit_year_id=case.unit_year_id,
    )
    return "applied"


def record_incident(uow: UnitOfWork, cmd: Command) -> str:
    """Record an incident (IncidentReported) in the window that contains the day it happened;
    if that unit-year's case exists, link it and judge the self-assessment again.

    Linking writes the case row (``incident_ids``, version check), so a self-assessment of the
    same unit-year committed concurrently conflicts and is retried; and a self-assessment
    always reads the window's incidents, so one recorded while the unit-year was being
    registered still counts."""
    body: IncidentReported = cmd.payload
    session = uow.session
    report = body.model_dump(mode="json")
    existing = session.get(Incident, body.incident_id)
    if existing is not None:
        if existing.same_report(report):
            return "ignored"
        raise AssessmentError(
            "conflict",
            f"incident {body.incident_id} is already recorded with other content ({'; '.join(existing.differences(report))}); "
            "an incident is recorded once: report a correction under a new incident_id",
        )
    incident = Incident.record(report, source_system=cmd.source, jurisdiction=cmd.jurisdiction)
    known = queries.known_unit(session, body.unit_code)
    if known is not None:
        cmd.require_jurisdiction(province_code=known["province_code"], commune_code=known["commune_code"], unit_code=body.unit_code)
    session.add(incident)
    year = None if known is None else window_year(known["kind"], body.occurred_on)
    case = None if year is None else session.get(AssessmentCase, f"{body.unit_code}:{year}")
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
        session.flush()
        effect = rules.IncidentEffect(incident.incident_id, criterion, rules.PENDING, reason)
        emit_incident(uow, incident, effect, case=None, assessed_year=year, cause=cmd.cause)
        return "applied"
    effect = case.note_incident(incident)
    session.flush()
    case.reevaluate(queries.incidents_in_window(session, case))
    session.flush()
    emit_incident(uow, incident, effect, case=case, assessed_year=year, cause=cmd.cause)
    return "applied"


COMMANDS: dict[type, CommandFn] = {SelfAssessmentSubmitted: submit_self_assessment, IncidentReported: record_incident}
