"""HTTP API of the assessment service (tự đánh giá)."""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.assessment import commands, queries
from services.assessment.domain import exemplary
from services.assessment.domain.criteria import catalog_for, vocabulary
from services.assessment.domain.model import AssessmentCase, AssessmentError, Incident
from services.assessment.domain.scoring import select_sheet
from shared.contracts.envelope import Actor
from shared.contracts.inbound import (
    CriterionResult,
    Document,
    Evidence,
    ExemplaryEvidence,
    ExemplaryProposalSubmitted,
    ExemplarySelfAssessmentSubmitted,
    IncidentReported,
    MovementClassificationSubmitted,
    MovementRating,
    SelfAssessmentSubmitted,
)
from shared.infra.auth import require_read
from shared.infra.http import http_command
from shared.infra.idempotency import IDEMPOTENCY_KEY_HEADER, keyed_write
from shared.infra.runtime import ServiceRuntime
from shared.infra.uow import UnitOfWork


class SelfAssessmentBody(BaseModel):
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    score: float | None = None
    evidence: Evidence | None = None


def case_view(c: AssessmentCase, incidents: list[Incident] | None = None) -> dict[str, Any]:
    """The case as an official sees it: per criterion the result, the evidence used and the
    reason; the incidents in the window with their effect; the score and its breakdown."""
    start, end = c.window()
    result = c.result or {}
    return {
        "unit_year_id": c.unit_year_id,
        "unit": c.unit,
        "year": c.year,
        "state": str(c.state),
        "round": c.round,
        "verdict": c.verdict,
        "criteria_catalog": c.catalog_ref,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "result": c.result,
        "criteria": result.get("criteria", []),
        "unmet": result.get("unmet", []),
        "incidents": [i.view() for i in incidents or [] if c.contains(i.occurred_on)],
        "score": {
            "claimed": result.get("score"),
            "scoring_sheet": result.get("scoring_sheet"),
            "breakdown": result.get("score_breakdown"),
        },
        "registration": c.registration,
        "evidence": (c.submission or {}).get("evidence"),
        "version": c.version,
        # the final ANTT decision (what the exemplary title rests on) and the movement's
        # yearly classification (phân loại phong trào)
        "antt_outcome": c.outcome,
        "movement": c.movement,
    }


def exemplary_view(x: exemplary.ExemplaryCase, antt: AssessmentCase) -> dict[str, Any]:
    """The exemplary case (điển hình) of a unit-year, with what it rests on."""
    result = x.result or {}
    return {
        "unit_year_id": x.unit_year_id,
        "unit": x.unit,
        "year": x.year,
        "track": "exemplary",
        "criteria_catalog": x.catalog_ref,
        "state": str(x.state),
        "round": x.round,
        "proposal": x.proposal,
        "verdict": x.verdict,
        "criteria": result.get("criteria", []),
        "unmet": result.get("unmet", []),
        "evidence": (x.submission or {}).get("evidence"),
        "antt_recognition": antt.recognition(),
        "movement": antt.movement,
        "version": x.version,
    }


class MovementClassificationBody(BaseModel):
    rating: MovementRating
    classified_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = Field(default=None, max_length=100)
    classified_on: date | None = None


class ExemplaryProposalBody(BaseModel):
    proposed_by: str = Field(min_length=1, max_length=300)
    submission_ref: str | None = Field(default=None, max_length=300)
    proposed_on: date | None = None


class ExemplarySelfAssessmentBody(BaseModel):
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    evidence: ExemplaryEvidence | None = None


def readable_case(s: Session, unit_year_id: str, actor: Actor) -> dict[str, Any]:
    """The assessment case's view, for a caller who may read its unit (``may_read``)."""
    case = queries.case(s, unit_year_id)
    if case is None:
        raise AssessmentError("not_found", f"unit-year {unit_year_id} has no assessment case")
    require_read(actor, case.unit, f"unit-year {unit_year_id}")
    return case_view(case, queries.incidents_in_window(s, case))


def readable_exemplary(s: Session, unit_year_id: str, actor: Actor) -> dict[str, Any]:
    """The exemplary case's view, for a caller who may read its unit."""
    x = queries.exemplary_case(s, unit_year_id)
    antt = queries.case(s, unit_year_id)
    if x is None or antt is None:
        raise AssessmentError(
            "not_found", f"unit-year {unit_year_id} has no exemplary case (not proposed for the exemplary title)"
        )
    require_read(actor, antt.unit, f"unit-year {unit_year_id}")
    return exemplary_view(x, antt)


def readable_incident(s: Session, source: str, incident_id: str, actor: Actor) -> dict[str, Any]:
    """An incident's view. A repeated report id answers with the incident recorded first:
    shown only to a caller who may read its unit."""
    incident = queries.incident(s, source, incident_id)
    if incident is None:
        raise AssessmentError("not_found", f"incident {incident_id} of {source} is not recorded")
    known = queries.known_unit(s, incident.unit_code)
    if known is not None:
        require_read(actor, known["unit"] or known, f"incident {incident_id}")
    return incident.view()


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["assessment"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.get("/criteria/{kind}")
    async def criteria(kind: str, _actor: ActorDep, year: int | None = None) -> dict[str, Any]:
        try:
            cat = catalog_for(kind, year or date.today().year)
        except FileNotFoundError:
            raise AssessmentError("not_found", f"no criteria catalog for unit kind {kind!r}") from None
        return {
            "kind": cat.kind,
            "version": cat.version,
            "legal_basis": cat.legal_basis,
            "valid_from": cat.valid_from,
            "criteria": [c.as_dict() for c in cat.criteria],
            "not_applicable": cat.not_applicable,
            "incident_categories": vocabulary().incident_categories,
        }

    @router.get("/exemplary-criteria/{province_code}")
    async def exemplary_criteria(province_code: str, _actor: ActorDep, year: int | None = None) -> dict[str, Any]:
        """The province's exemplary-track catalog (điển hình) in force in ``year``."""
        cat = exemplary.catalog_for(province_code, year or date.today().year)
        if cat is None:
            raise AssessmentError(
                "not_found", f"province {province_code} has no exemplary-track catalog in force in {year or date.today().year}"
            )
        return exemplary.catalog_view(cat)

    @router.get("/scoring-sheets/{province_code}/{kind}/{year}")
    async def scoring_sheet(province_code: str, kind: str, year: int, _actor: ActorDep) -> dict[str, Any]:
        sheet = select_sheet(province_code, kind, year)
        if sheet is None:
            raise AssessmentError("not_found", f"no scoring sheet for {kind} units of province {province_code} in {year}")
        return {
            "sheet": sheet.ref,
            "title_vi": sheet.title_vi,
            "source": sheet.source,
            "max_points": float(sheet.max_points),
            "pass_mark": None if sheet.pass_mark is None else float(sheet.pass_mark),
            "pass_mark_basis": sheet.pass_mark_basis,
            "criterion": sheet.criterion,
            "groups": [
                {
                    "code": g.code,
                    "title_vi": g.title_vi,
                    "max_points": float(g.max_points),
                    "items": [
                        {"code": i.code, "text_vi": i.text_vi, "max_points": float(i.max_points), "rule": dict(i.rule)}
                        for i in g.items
                    ],
                }
                for g in sheet.groups
            ],
        }

    @router.post("/incidents", response_model=None)
    async def report_incident(
        body: IncidentReported,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        cmd = http_command("IncidentReported", body, actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            commands.record_incident(uow, cmd)
            return readable_incident(uow.session, cmd.source, body.incident_id, actor)

        return await keyed_write(runtime, request, actor.id, body.model_dump(mode="json"), write)

    @router.post("/unit-years/{unit_year_id}/self-assessment", response_model=None)
    async def submit(
        unit_year_id: str,
        body: SelfAssessmentBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        payload = SelfAssessmentSubmitted.model_validate({**body.model_dump(mode="json"), "unit_year_id": unit_year_id})
        cmd = http_command("SelfAssessmentSubmitted", payload, actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            commands.submit_self_assessment(uow, cmd)
            return readable_case(uow.session, unit_year_id, actor)

        return await keyed_write(runtime, request, actor.id, body.model_dump(mode="json"), write)

    async def _command(
        request: Request,
        unit_year_id: str,
        event_type: str,
        model: type[BaseModel],
        body: BaseModel,
        actor: Actor,
        fn: Any,
        view: Callable[[Session, str, Actor], dict[str, Any]],
    ) -> Response:
        data = body.model_dump(mode="json")
        cmd = http_command(event_type, model.model_validate({**data, "unit_year_id": unit_year_id}), actor)

        def write(uow: UnitOfWork) -> dict[str, Any]:
            fn(uow, cmd)
            return view(uow.session, unit_year_id, actor)

        return await keyed_write(runtime, request, actor.id, data, write)

    @router.post("/unit-years/{unit_year_id}/movement-classification", response_model=None)
    async def classify_movement(
        unit_year_id: str,
        body: MovementClassificationBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        """Record the movement's yearly classification (phân loại phong trào) of the unit-year."""
        return await _command(
            request,
            unit_year_id,
            "MovementClassificationSubmitted",
            MovementClassificationSubmitted,
            body,
            actor,
            commands.record_movement_classification,
            readable_case,
        )

    @router.post("/unit-years/{unit_year_id}/exemplary-proposal", response_model=None)
    async def propose_exemplary(
        unit_year_id: str,
        body: ExemplaryProposalBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        return await _command(
            request,
            unit_year_id,
            "ExemplaryProposalSubmitted",
            ExemplaryProposalSubmitted,
            body,
            actor,
            commands.propose_exemplary,
            readable_exemplary,
        )

    @router.post("/unit-years/{unit_year_id}/exemplary-self-assessment", response_model=None)
    async def submit_exemplary(
        unit_year_id: str,
        body: ExemplarySelfAssessmentBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY_HEADER] = None,
    ) -> Response:
        return await _command(
            request,
            unit_year_id,
            "ExemplarySelfAssessmentSubmitted",
            ExemplarySelfAssessmentSubmitted,
            body,
            actor,
            commands.submit_exemplary_self_assessment,
            readable_exemplary,
        )

    @router.get("/unit-years/{unit_year_id}/exemplary")
    async def get_exemplary(unit_year_id: str, actor: ActorDep) -> dict[str, Any]:
        return await runtime.read(lambda s: readable_exemplary(s, unit_year_id, actor))

    @router.get("/unit-years/{unit_year_id}")
    async def get_case(unit_year_id: str, actor: ActorDep) -> dict[str, Any]:
        return await runtime.read(lambda s: readable_case(s, unit_year_id, actor))

    return router
