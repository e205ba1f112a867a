"""Assessment commands: the self-assessment (tự đánh giá) and incident reports, from other
systems over Kafka or over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.assessment import queries
from services.assessment.domain import rules
from services.assessment.domain.criteria import catalog_for
from services.assessment.domain.exemplary import ExemplaryCase
from services.assessment.domain.model import AssessmentCase, AssessmentError, Incident, window_year
from shared.contracts.events import (
    ExemplaryCaseOpened,
    ExemplaryEvaluationRevised,
    ExemplarySelfAssessmentRecorded,
    IncidentRecorded,
    MovementClassificationRecorded,
    SelfAssessmentRecorded,
)
from shared.contracts.inbound import (
    ExemplaryProposalSubmitted,
    ExemplarySelfAssessmentSubmitted,
    IncidentReported,
    MovementClassificationSubmitted,
    SelfAssessmentSubmitted,
)
from shared.contracts.lifecycle import exemplary_stream
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
    counted_for_commune: bool = False,
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
        source_system=incident.source_system,
        counted_for_commune=counted_for_commune,
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
    case = uow.get(AssessmentCase, body.unit_year_id)
    if case is None:
        # held until UnitYearRegistered opens the case (AssessmentOpened on the unit-year's stream)
        raise NotYetKnown(
            "unknown_unit_year",
            f"unit-year {body.unit_year_id} is not registered (no UnitYearRegistered has been seen for it)",
            stream_id=body.unit_year_id,
            waiting_for="unit_year",
        )
    cmd.require_jurisdiction(
        province_code=case.unit["province_code"],
        commune_code=case.unit.get("commune_code"),
        district_code=case.unit.get("district_code"),
        unit_code=case.unit["code"],
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
        incidents=queries.window_incidents(uow, case),
        previous=queries.previous_year(uow, case),
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
    report = body.model_dump(mode="json")
    existing = uow.get(Incident, (cmd.source, body.incident_id))
    if existing is not None:
        if existing.same_report(report):
            return "ignored"
        raise AssessmentError(
            "conflict",
            f"incident {body.incident_id} is already recorded with other content from {cmd.source} "
            f"({'; '.join(existing.differences(report))}); "
            "an incident is recorded once per sender: report a correction under a new incident_id",
        )
    incident = Incident.record(report, source_system=cmd.source, jurisdiction=cmd.jurisdiction)
    known = queries.known_unit(uow.session, body.unit_code)
    if known is not None:
        cmd.require_jurisdiction(
            province_code=known["province_code"], commune_code=known["commune_code"], unit_code=body.unit_code
        )
    uow.add(incident)
    year = None if known is None else window_year(known["kind"], body.occurred_on)
    case = None if year is None else uow.get(AssessmentCase, f"{body.unit_code}:{year}")
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
        effect = rules.IncidentEffect(incident.incident_id, criterion, rules.PENDING, reason)
        emit_incident(uow, incident, effect, case=None, assessed_year=year, cause=cmd.cause)
        count_for_commune(uow, incident, known, cmd.cause)
        return "applied"
    effect = case.note_incident(incident)
    case.reevaluate(queries.window_incidents(uow, case), queries.previous_year(uow, case))
    emit_incident(uow, incident, effect, case=case, assessed_year=year, cause=cmd.cause)
    count_for_commune(uow, incident, known, cmd.cause)
    revise_exemplary(uow, case, cmd.cause, f"incident {incident.incident_id}: {effect.reason}")
    return "applied"


def count_for_commune(uow: UnitOfWork, incident: Incident, area: Mapping[str, Any] | None, cause: Cause) -> None:
    """An incident at a residential area counts against its commune's criterion 2 (Art. 5.2:
    the residential-area criteria 2, 3 and 4 hold across the commune), in the commune's
    window that contains the day it happened, without being reported for the commune too.
    Nothing to do while that commune unit-year is not known: its case reads the areas'
    incidents when it opens and whenever it is evaluated."""
    if area is None or area.get("kind") != "residential_area" or not incident.counts:
        return
    commune = queries.commune_of(uow.session, area)
    if commune is None:
        return
    case = uow.get(AssessmentCase, f"{commune}:{window_year('commune', incident.occurred_on)}")
    if case is not None:
        link_area_incident(uow, case, incident, cause)


def link_area_incident(uow: UnitOfWork, case: AssessmentCase, incident: Incident, cause: Cause) -> None:
    """Link an incident at one of its residential areas to a commune's unit-year, judge its
    self-assessment again, and say so on the commune's stream (``IncidentRecorded`` with
    ``counted_for_commune``), where the approval service sees the verdict change or, after
    recognition, flags it. Once per incident (a repeat changes nothing)."""
    effect = case.note_area_incident(incident)
    if effect is None:
        return
    case.reevaluate(queries.window_incidents(uow, case), queries.previous_year(uow, case))
    emit_incident(uow, incident, effect, case=case, assessed_year=case.year, cause=cause, counted_for_commune=True)


COMMANDS: dict[type, CommandFn] = {SelfAssessmentSubmitted: submit_self_assessment, IncidentReported: record_incident}


# --------------------------------------------------------------------------- the exemplary track
def _antt_case(uow: UnitOfWork, cmd: Command, unit_year_id: str) -> AssessmentCase:
    case = uow.get(AssessmentCase, unit_year_id)
    if case is None:
        # refused at once, not held: the exemplary track starts from a recognised unit-year, so
        # an unknown one is a wrong id, not an early arrival
        raise AssessmentError(
            "unknown_unit_year", f"unit-year {unit_year_id} is not registered (no UnitYearRegistered has been seen for it)"
        )
    cmd.require_jurisdiction(
        province_code=case.unit["province_code"],
        commune_code=case.unit.get("commune_code"),
        district_code=case.unit.get("district_code"),
        unit_code=case.unit["code"],
    )
    return case


def propose_exemplary(uow: UnitOfWork, cmd: Command) -> str:
    """Propose an ANTT-recognised unit-year for the exemplary title (its own case)."""
    body: ExemplaryProposalSubmitted = cmd.payload
    antt = _antt_case(uow, cmd, body.unit_year_id)
    proposal = body.model_dump(mode="json", exclude={"unit_year_id"})
    existing = uow.get(ExemplaryCase, body.unit_year_id)
    if existing is not None:
        if existing.proposal == proposal:
            return "ignored"
        raise AssessmentError(
            "conflict", f"unit-year {body.unit_year_id} is already proposed for the exemplary title ({existing.state})"
        )
    case = ExemplaryCase.propose(antt, proposal)
    uow.add(case)
    uow.emit(
        ExemplaryCaseOpened(
            unit_year_id=case.unit_year_id,
            year=case.year,
            unit=case.unit,
            criteria_catalog=case.catalog_ref,
            proposed_by=body.proposed_by,
            submission_ref=body.submission_ref,
            proposed_on=body.proposed_on,
            antt_recognition=antt.recognition(),
        ),
        cmd.cause,
        unit_year_id=case.unit_year_id,
        stream_id=exemplary_stream(case.unit_year_id),
    )
    return "applied"


def submit_exemplary_self_assessment(uow: UnitOfWork, cmd: Command) -> str:
    body: ExemplarySelfAssessmentSubmitted = cmd.payload
    antt = _antt_case(uow, cmd, body.unit_year_id)
    case = uow.get(ExemplaryCase, body.unit_year_id)
    if case is None:
        raise AssessmentError("no_exemplary_case", f"unit-year {body.unit_year_id} has not been proposed for the exemplary title")
    documents = [d.model_dump(mode="json") for d in body.documents]
    ev = case.submit(
        antt,
        [c.model_dump(mode="json") for c in body.criteria],
        body.meeting_date,
        documents=documents,
        evidence=None if body.evidence is None else body.evidence.model_dump(mode="json", exclude_none=True),
        incidents=queries.window_incidents(uow, antt),
    )
    uow.emit(
        ExemplarySelfAssessmentRecorded(
            unit_year_id=case.unit_year_id,
            round=case.round,
            unit=case.unit,
            year=case.year,
            meeting_date=body.meeting_date,
            criteria_catalog=case.catalog_ref,
            criteria=ev.criteria,
            verdict=ev.verdict,
            unmet=ev.unmet,
            documents=documents,
            movement_rating=(antt.movement or {}).get("rating"),
        ),
        cmd.cause,
        unit_year_id=case.unit_year_id,
        stream_id=exemplary_stream(case.unit_year_id),
    )
    return "applied"


def record_movement_classification(uow: UnitOfWork, cmd: Command) -> str:
    """The movement's yearly classification of a unit-year (phân loại phong trào); an
    exemplary self-assessment already recorded is judged again on it."""
    body: MovementClassificationSubmitted = cmd.payload
    case = _antt_case(uow, cmd, body.unit_year_id)
    before = case.movement
    movement = case.classify_movement(body.rating, body.classified_by, body.decision_no, body.classified_on)
    if before == movement:
        return "ignored"
    uow.emit(
        MovementClassificationRecorded(
            unit_year_id=case.unit_year_id,
            rating=body.rating,
            classified_by=body.classified_by,
            decision_no=body.decision_no,
            classified_on=body.classified_on,
        ),
        cmd.cause,
        unit_year_id=case.unit_year_id,
    )
    revise_exemplary(uow, case, cmd.cause, f"the movement is classified {body.rating} by {body.classified_by}")
    return "applied"


def revise_exemplary(uow: UnitOfWork, antt: AssessmentCase, cause: Cause, why: str) -> None:
    """Judge the unit-year's exemplary self-assessment again, if there is one; say so when its
    verdict or unmet criteria change (``ExemplaryEvaluationRevised``)."""
    case = uow.get(ExemplaryCase, antt.unit_year_id)
    if case is None:
        return
    ev = case.reevaluate(antt, queries.window_incidents(uow, antt))
    if ev is None:
        return
    uow.emit(
        ExemplaryEvaluationRevised(
            unit_year_id=case.unit_year_id, round=case.round, verdict=ev.verdict, unmet=ev.unmet, reason=why
        ),
        cause,
        unit_year_id=case.unit_year_id,
        stream_id=exemplary_stream(case.unit_year_id),
    )


EXEMPLARY_COMMANDS: dict[type, CommandFn] = {
    ExemplaryProposalSubmitted: propose_exemplary,
    ExemplarySelfAssessmentSubmitted: submit_exemplary_self_assessment,
    MovementClassificationSubmitted: record_movement_classification,
}
