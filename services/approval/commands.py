"""Approval commands: review and recognition decisions (thẩm định, công nhận) and revocations
(thu hồi), from other systems over Kafka or from officials over HTTP."""

from __future__ import annotations

from services.approval import queries
from services.approval.chains import ChainConfig
from services.approval.domain import ApprovalCase
from services.approval.orm import infra  # noqa: F401 - the mapping must be configured
from services.approval.projections import record_history
from shared.contracts import topics
from shared.contracts.events import Event
from shared.contracts.inbound import RecognitionRevocationSubmitted, ReviewDecisionSubmitted
from shared.infra.adapters import CommandFn
from shared.infra.idempotency import IfMatch
from shared.infra.inbound import Command
from shared.infra.parking import NotYetKnown
from shared.infra.uow import Cause, UnitOfWork


def publish(uow: UnitOfWork, case: ApprovalCase, event: Event, cause: Cause) -> None:
    """Emit an event of the case and keep it in the case's history."""
    env = uow.emit(event, cause, unit_year_id=case.unit_year_id)
    record_history(uow, env, topics.APPROVAL_EVENTS)


def _case(uow: UnitOfWork, unit_year_id: str) -> ApprovalCase:
    case = uow.session.get(ApprovalCase, unit_year_id)
    if case is None:
        # held until the case opens (ApprovalCaseOpened on the unit-year's stream); a decision the
        # case's state does not allow is refused at once, never held
        raise NotYetKnown(
            "unknown_unit_year",
            f"unit-year {unit_year_id} is not known to the approval service (not registered)",
            stream_id=unit_year_id,
            waiting_for="unit_year",
        )
    return case


def decide(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    body: ReviewDecisionSubmitted = cmd.payload
    case = _case(uow, body.unit_year_id)
    cmd.require_jurisdiction(province_code=case.province_code, commune_code=case.commune_code, unit_code=case.unit_code)
    if if_match is not None:
        if_match.check(case.version, f"unit-year {case.unit_year_id}")
    rollup = None
    rule = None
    if case.kind == "commune" and body.decision.value == "pass":
        rollup = queries.commune_rollup(uow.session, case)
        r = ChainConfig.load().rollup_rule()
        rule = (r.registered_min, r.recognized_min, r.criterion)
    event = case.decide(
        level=body.level.value,
        decision=body.decision.value,
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        certificate_no=body.certificate_no,
        today=queries.today(),
        jurisdiction=cmd.jurisdiction,
        rollup=rollup,
        rollup_rule=rule,
        step_role=None if body.step is None else body.step.value,
        expected_version=body.expected_version,
    )
    publish(uow, case, event, cmd.cause)
    return "applied"


def revoke(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    body: RecognitionRevocationSubmitted = cmd.payload
    case = _case(uow, body.unit_year_id)
    if if_match is not None:
        if_match.check(case.version, f"unit-year {case.unit_year_id}")
    event = case.revoke(
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        today=queries.today(),
        jurisdiction=cmd.jurisdiction,
        expected_version=body.expected_version,
    )
    publish(uow, case, event, cmd.cause)
    return "applied"


COMMANDS: dict[type, CommandFn] = {ReviewDecisionSubmitted: decide, RecognitionRevocationSubmitted: revoke}
