"""HTTP API of the approval service: queues, decisions, and each unit-year's full history."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.approval import commands, queries
from services.approval.domain.model import ApprovalCase, ApprovalError, ExemplaryTitle
from shared.contracts.envelope import Actor
from shared.contracts.inbound import (
    Decision,
    ExemplaryDecisionSubmitted,
    ExemplaryRevocationSubmitted,
    Level,
    RecognitionRevocationSubmitted,
    ReviewDecisionSubmitted,
    StepRole,
)
from shared.infra.auth import require_read
from shared.infra.http import error_responses, http_command
from shared.infra.idempotency import Answer, etag, idempotent_request, parse_if_match, run_write
from shared.infra.runtime import ServiceRuntime
from shared.infra.uow import UnitOfWork

_IDEMPOTENCY_KEY = Header(
    alias="Idempotency-Key",
    max_length=200,
    description="Send a new key (e.g. a UUID) with every decision and the same key with its retries: a retry gets "
    "the first answer (Idempotent-Replayed: true) instead of acting again; the same key with another body is 422.",
)
_IF_MATCH = Header(
    alias="If-Match",
    max_length=1000,
    description='The ETag (the case\'s version, e.g. "3") the decision was taken on: if the case changed since, 412.',
)


_ETAG_HEADER = {
    "ETag": {
        "description": 'The case\'s version, e.g. "4": send it as If-Match with the next decision.',
        "schema": {"type": "string"},
    }
}
#: what a decision or revocation answers: the unit-year as the write left it, with its ETag
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The unit-year after the decision (a retry with the same Idempotency-Key gets the first answer, "
        "with Idempotent-Replayed: true).",
        "content": {"application/json": {"schema": {"type": "object"}}},
        "headers": {
            **_ETAG_HEADER,
            "Idempotent-Replayed": {"description": "true when this is the stored first answer", "schema": {"type": "string"}},
        },
    },
    **error_responses(412),
}


class DecisionBody(BaseModel):
    level: Level
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = None
    decided_on: date | None = None
    certificate_no: str | None = None
    step: StepRole | None = Field(
        default=None,
        description="The step decided (the case's pending_step.role): a decision for a step that is no longer "
        "current is refused (409 step_not_current), so a retry cannot take the next step. Send it.",
    )
    expected_version: int | None = Field(
        default=None, ge=0, description="As If-Match: the case's version (409 version_mismatch)."
    )


class RevocationBody(BaseModel):
    reasons: list[str] = Field(min_length=1)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = None
    decided_on: date | None = None
    expected_version: int | None = Field(
        default=None, ge=0, description="As If-Match: the case's version (409 version_mismatch)."
    )


def _written_view(uow: UnitOfWork, unit_year_id: str) -> Answer:
    """The unit-year as the write left it, read in the write's transaction (the answer an
    ``Idempotency-Key`` keeps), with its new ``ETag``."""
    uow.flush()
    case = queries.case(uow.session, unit_year_id)
    assert case is not None
    view = case_view(case, today=queries.today())
    if case.kind == "commune":
        view["children"] = queries.commune_rollup(uow.session, case).view()
    view["history"] = queries.event_history(uow.session, unit_year_id)
    return Answer(status=200, body=view, headers={"ETag": etag(case.version)})


def title_view(t: ExemplaryTitle, *, today: date) -> dict[str, Any]:
    """The exemplary title's case as the API shows it (the fields of an ANTT case, and the
    catalog and the ANTT recognition it rests on)."""
    return {
        "unit_year_id": t.unit_year_id,
        "track": "exemplary",
        "unit": t.unit,
        "year": t.year,
        "state": t.state,
        "criteria_catalog": t.criteria_catalog,
        "antt_decision_no": t.antt_decision_no,
        "level": t.pending_level or (t.decisions[-1]["level"] if t.decisions else None),
        "pending_step": t.pending_step,
        "chain_profile": t.chain_profile,
        "chain": t.chain,
        "deadline": None if t.deadline is None else t.deadline.isoformat(),
        "late": t.is_late(today),
        "round": t.round,
        "verdict": t.verdict,
        "unmet": t.unmet,
        "decisions": t.decisions,
        "version": t.version,
    }


def _written_title(uow: UnitOfWork, unit_year_id: str) -> Answer:
    uow.flush()
    title = queries.exemplary_title(uow.session, unit_year_id)
    assert title is not None
    return Answer(status=200, body=title_view(title, today=queries.today()), headers={"ETag": etag(title.version)})


def case_view(c: ApprovalCase, *, today: date) -> dict[str, Any]:
    step = c.pending_step
    return {
        "unit_year_id": c.unit_year_id,
        "unit": c.unit,
        "year": c.year,
        "state": str(c.state),
        "level": c.pending_level or (c.decisions[-1]["level"] if c.decisions else None),
        "pending_step": step,
        "chain_profile": c.chain_profile,
        "chain": c.chain,
        "deadline": None if c.deadline is None else c.deadline.isoformat(),
        "late": c.is_late(today),
        "round": c.round,
        "verdict": c.verdict,
        "unmet": c.unmet,
        "decisions": c.decisions,
        "flags": c.flags,
        "version": c.version,
    }


async def _write(
    runtime: ServiceRuntime,
    request: Request,
    actor: Actor,
    body: BaseModel,
    unit_year_id: str,
    if_match: str | None,
    *,
    payload: type[BaseModel],
    command: Any,
    answer: Any,
) -> Response:
    """One decision or revocation over HTTP: the inbound payload the body stands for, the same
    command as a Kafka message, with its ``If-Match`` precondition and its ``Idempotency-Key``
    (the answer, the case as the write left it, is made inside the write's transaction)."""
    data = body.model_dump(mode="json")
    cmd = http_command(payload.__name__, payload.model_validate({**data, "unit_year_id": unit_year_id}), actor)
    precondition = parse_if_match(if_match)
    req = idempotent_request(request, actor.id, data)

    def write(uow: UnitOfWork) -> Answer:
        command(uow, cmd, if_match=precondition)
        return answer(uow, unit_year_id)

    return await run_write(runtime, req, write)


def build_router(runtime: ServiceRuntime, actor_dep: Any) -> APIRouter:
    router = APIRouter(tags=["approval"])
    ActorDep = Annotated[Actor, Depends(actor_dep)]

    @router.get("/queue")
    async def approval_queue(
        actor: ActorDep,
        level: Level | None = None,
        province_code: str | None = None,
        commune_code: str | None = None,
        kind: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        items = await runtime.read(
            lambda s: queries.queue(
                s,
                level=level.value if level else None,
                province_code=province_code,
                commune_code=commune_code,
                kind=kind,
                limit=limit,
                offset=offset,
                jurisdiction=actor.jurisdiction,
            )
        )
        today = queries.today()
        return {"items": [case_view(c, today=today) for c in items], "limit": limit, "offset": offset}

    @router.get("/unit-years/{unit_year_id}")
    async def get_unit_year(unit_year_id: str, actor: ActorDep, response: Response) -> dict[str, Any]:
        def read(s: Session) -> dict[str, Any]:
            case = queries.case(s, unit_year_id)
            if case is None:
                raise ApprovalError("not_found", f"unit-year {unit_year_id} is not known to the approval service")
            require_read(actor, case.unit, f"unit-year {unit_year_id}")
            view = case_view(case, today=queries.today())
            if case.kind == "commune":
                view["children"] = queries.commune_rollup(s, case).view()
            title = queries.exemplary_title(s, unit_year_id)
            view["exemplary"] = None if title is None else title_view(title, today=queries.today())
            return {**view, "history": queries.event_history(s, unit_year_id)}

        found = await runtime.read(read)
        response.headers["ETag"] = etag(found["version"])
        return found

    @router.post("/unit-years/{unit_year_id}/decisions", response_model=None, responses=_WRITE_RESPONSES)
    async def decide(
        unit_year_id: str,
        body: DecisionBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
        if_match: Annotated[str | None, _IF_MATCH] = None,
    ) -> Response:
        """Take the decision of the unit-year's current step. Send ``step``, ``If-Match`` (or
        ``expected_version``) and an ``Idempotency-Key``: without them a retried decision takes
        the next step of the chain."""
        return await _write(
            runtime,
            request,
            actor,
            body,
            unit_year_id,
            if_match,
            payload=ReviewDecisionSubmitted,
            command=commands.decide,
            answer=_written_view,
        )

    @router.post("/unit-years/{unit_year_id}/revocation", response_model=None, responses=_WRITE_RESPONSES)
    async def revoke(
        unit_year_id: str,
        body: RevocationBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
        if_match: Annotated[str | None, _IF_MATCH] = None,
    ) -> Response:
        return await _write(
            runtime,
            request,
            actor,
            body,
            unit_year_id,
            if_match,
            payload=RecognitionRevocationSubmitted,
            command=commands.revoke,
            answer=_written_view,
        )

    @router.get("/exemplary/queue")
    async def exemplary_queue(
        actor: ActorDep,
        level: Level | None = None,
        province_code: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Exemplary titles (điển hình) awaiting a decision of their chain, inside the caller's jurisdiction."""
        items = await runtime.read(
            lambda s: queries.exemplary_queue(
                s,
                level=level.value if level else None,
                province_code=province_code,
                limit=limit,
                offset=offset,
                jurisdiction=actor.jurisdiction,
            )
        )
        today = queries.today()
        return {"items": [title_view(t, today=today) for t in items], "limit": limit, "offset": offset}

    @router.get("/unit-years/{unit_year_id}/exemplary")
    async def get_exemplary_title(unit_year_id: str, actor: ActorDep, response: Response) -> dict[str, Any]:
        """The unit-year's exemplary title: its chain, current step, decisions and version (ETag)."""

        def read(s: Session) -> dict[str, Any]:
            title = queries.exemplary_title(s, unit_year_id)
            if title is None:
                raise ApprovalError("not_found", f"unit-year {unit_year_id} has not been proposed for the exemplary title")
            require_read(actor, title.unit, f"unit-year {unit_year_id}")
            return title_view(title, today=queries.today())

        found = await runtime.read(read)
        response.headers["ETag"] = etag(found["version"])
        return found

    @router.post("/unit-years/{unit_year_id}/exemplary/decisions", response_model=None, responses=_WRITE_RESPONSES)
    async def decide_exemplary(
        unit_year_id: str,
        body: DecisionBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
        if_match: Annotated[str | None, _IF_MATCH] = None,
    ) -> Response:
        """Take the decision of the exemplary title's current step (the province steering
        committee's appraisal, the chairman's recognition), as ``/decisions`` does for ANTT."""
        return await _write(
            runtime,
            request,
            actor,
            body,
            unit_year_id,
            if_match,
            payload=ExemplaryDecisionSubmitted,
            command=commands.decide_exemplary,
            answer=_written_title,
        )

    @router.post("/unit-years/{unit_year_id}/exemplary/revocation", response_model=None, responses=_WRITE_RESPONSES)
    async def revoke_exemplary(
        unit_year_id: str,
        body: RevocationBody,
        actor: ActorDep,
        request: Request,
        idempotency_key: Annotated[str | None, _IDEMPOTENCY_KEY] = None,
        if_match: Annotated[str | None, _IF_MATCH] = None,
    ) -> Response:
        """Revoke the exemplary title alone (the ANTT recognition stays)."""
        return await _write(
            runtime,
            request,
            actor,
            body,
            unit_year_id,
            if_match,
            payload=ExemplaryRevocationSubmitted,
            command=commands.revoke_exemplary,
            answer=_written_title,
        )

    @router.get("/flags")
    async def flags(
        actor: ActorDep,
        province_code: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Recognised unit-years with an incident reported after recognition, awaiting the
        recognising level's decision on revocation."""
        items = await runtime.read(
            lambda s: queries.flagged(s, province_code=province_code, limit=limit, offset=offset, jurisdiction=actor.jurisdiction)
        )
        today = queries.today()
        return {"items": [case_view(c, today=today) for c in items], "limit": limit, "offset": offset}

    return router
