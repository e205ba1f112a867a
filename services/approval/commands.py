"""Approval commands: review and recognition decisions (thẩm định, công nhận) and revocations
(thu hồi), from other systems over Kafka or from officials over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from services.approval import queries
from services.approval.domain.chains import ChainConfig
from services.approval.domain.model import (
    ApprovalCase,
    ApprovalError,
    ChainCase,
    Claim,
    ExemplaryTitle,
    claim_case,
    claimed_by_other,
    reassign_case,
    release_case,
)
from services.approval.orm import claims_of, infra  # noqa: F401 - the mapping must be configured
from services.approval.projections import record_history
from shared.contracts import events as ev
from shared.contracts import topics
from shared.contracts.envelope import rfc3339, utcnow
from shared.contracts.events import Event
from shared.contracts.inbound import (
    ExemplaryDecisionSubmitted,
    ExemplaryRevocationSubmitted,
    RecognitionRevocationSubmitted,
    ReviewDecisionSubmitted,
)
from shared.contracts.lifecycle import exemplary_stream
from shared.infra.adapters import CommandFn
from shared.infra.idempotency import IfMatch
from shared.infra.inbound import Command
from shared.infra.parking import NotYetKnown
from shared.infra.uow import Cause, UnitOfWork


def publish(uow: UnitOfWork, case: ChainCase, event: Event, cause: Cause) -> dict[str, Any]:
    """Emit an event of the case on its track's stream (the unit-year's, or its exemplary
    title's) and keep it in the unit-year's history; return the envelope."""
    stream = exemplary_stream(case.unit_year_id) if isinstance(case, ExemplaryTitle) else None
    env = uow.emit(event, cause, unit_year_id=case.unit_year_id, stream_id=stream)
    record_history(uow, env, topics.APPROVAL_EVENTS)
    return env


def caused_by(cause: Cause, env: dict[str, Any]) -> Cause:
    """The cause of an event that follows from ``env`` (an event of this service's own)."""
    return Cause(actor=cause.actor, correlation_id=cause.correlation_id, causation_id=env["event_id"])


def _case(uow: UnitOfWork, unit_year_id: str) -> ApprovalCase:
    case = uow.get(ApprovalCase, unit_year_id)
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


def _decision(case: ChainCase, cmd: Command, **rollup: Any) -> Event:
    """The case's decision of a decision message (ANTT or exemplary: the same fields)."""
    body: ReviewDecisionSubmitted = cmd.payload
    return case.decide(
        level=body.level.value,
        decision=body.decision.value,
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        certificate_no=body.certificate_no,
        today=queries.today(),
        jurisdiction=cmd.jurisdiction,
        step_role=None if body.step is None else body.step.value,
        expected_version=body.expected_version,
        **rollup,
    )


def _revocation(case: ApprovalCase | ExemplaryTitle, cmd: Command) -> Event:
    """The case's revocation of a revocation message (ANTT or exemplary: the same fields)."""
    body: RecognitionRevocationSubmitted = cmd.payload
    return case.revoke(
        reasons=body.reasons,
        decided_by=body.decided_by,
        decision_no=body.decision_no,
        decided_on=body.decided_on,
        today=queries.today(),
        jurisdiction=cmd.jurisdiction,
        expected_version=body.expected_version,
    )


def decide(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    body: ReviewDecisionSubmitted = cmd.payload
    case = _case(uow, body.unit_year_id)
    cmd.require_jurisdiction(
        province_code=case.province_code,
        commune_code=case.commune_code,
        district_code=case.unit.get("district_code"),
        unit_code=case.unit_code,
    )
    if if_match is not None:
        if_match.check(case.version, f"unit-year {case.unit_year_id}")
    held = _check_claim(uow, case, cmd)
    rollup = None
    rule = None
    if case.kind == "commune" and body.decision.value == "pass":
        rollup = queries.commune_rollup(uow.session, case)
        r = ChainConfig.load().rollup_rule()
        rule = (r.registered_min, r.recognized_min, r.criterion)
    event = _decision(case, cmd, rollup=rollup, rollup_rule=rule)
    if held is not None:
        # the decision moves the case on: the claim on the step it was taken at ends with it
        _drop_claim(uow, case)
    publish(uow, case, event, cmd.cause)
    return "applied"


def _check_claim(uow: UnitOfWork, case: ChainCase, cmd: Command) -> Claim | None:
    """The claim on the case's pending step (``None``: none); refused when another official
    holds it."""
    held = current_claim(uow, case)
    if held is not None and held.applies_to(case) and held.official_id != cmd.actor.id:
        raise claimed_by_other(case.unit_year_id, held.holder, case.EVENTS.what)
    return held


def revoke(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    body: RecognitionRevocationSubmitted = cmd.payload
    case = _case(uow, body.unit_year_id)
    if if_match is not None:
        if_match.check(case.version, f"unit-year {case.unit_year_id}")
    event = _revocation(case, cmd)
    env = publish(uow, case, event, cmd.cause)
    # the exemplary title rests on the recognition (seed 003, criterion 8): it goes with it
    title = uow.get(ExemplaryTitle, case.unit_year_id)
    if title is not None:
        assert isinstance(event, ev.UnitYearRevoked)
        follow = title.follow_antt_revocation(event, queries.today())
        if follow is not None:
            publish(uow, title, follow, caused_by(cmd.cause, env))
    return "applied"


# --- the exemplary title (điển hình) -------------------------------------------------------
def _title(uow: UnitOfWork, cmd: Command, unit_year_id: str) -> ExemplaryTitle:
    title = uow.get(ExemplaryTitle, unit_year_id)
    if title is None:
        raise ApprovalError(
            "no_exemplary_title",
            f"unit-year {unit_year_id} has not been proposed for the exemplary title (no ExemplaryCaseOpened has reached "
            "the approval service)",
        )
    cmd.require_jurisdiction(
        province_code=title.province_code,
        commune_code=title.commune_code,
        district_code=title.unit.get("district_code"),
        unit_code=title.unit_code,
    )
    return title


def decide_exemplary(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    """A decision of the exemplary title's chain: the same rules as an ANTT decision (its step,
    level, jurisdiction, reasons for a return or a refusal), on the title's own case."""
    body: ExemplaryDecisionSubmitted = cmd.payload
    title = _title(uow, cmd, body.unit_year_id)
    if if_match is not None:
        if_match.check(title.version, f"the exemplary title of unit-year {title.unit_year_id}")
    held = _check_claim(uow, title, cmd)
    event = _decision(title, cmd)
    if held is not None:
        _drop_claim(uow, title)
    publish(uow, title, event, cmd.cause)
    return "applied"


def revoke_exemplary(uow: UnitOfWork, cmd: Command, *, if_match: IfMatch | None = None) -> str:
    """Thu hồi the exemplary title alone; the ANTT recognition stays."""
    body: ExemplaryRevocationSubmitted = cmd.payload
    title = _title(uow, cmd, body.unit_year_id)
    if if_match is not None:
        if_match.check(title.version, f"the exemplary title of unit-year {title.unit_year_id}")
    event = _revocation(title, cmd)
    publish(uow, title, event, cmd.cause)
    return "applied"


# --- claims ("Tôi xử lý"): officials' requests over HTTP (the console) -------------------
@dataclass(frozen=True)
class ClaimRequest:
    """Claim, release or reassign the pending step of a unit-year's case (see
    ``domain.claim_case``): its ANTT recognition's, or with ``exemplary`` its exemplary
    title's.

    ``official`` is who asks (``{"id", "name"}``); ``supervisor`` whether they hold the
    supervise role; ``assign_to`` / ``assign_to_jurisdiction`` the official a reassignment
    gives the step to."""

    unit_year_id: str
    official: dict[str, str]
    supervisor: bool = False
    reason: str | None = None
    assign_to: dict[str, str] | None = None
    assign_to_jurisdiction: str | None = None
    exemplary: bool = False


def current_claim(uow: UnitOfWork, case: ChainCase) -> Claim | None:
    row = uow.row(claims_of(case), case.unit_year_id)
    if row is None:
        return None
    return Claim(row.unit_year_id, row.level, row.step, row.round, row.official_id, row.official_name)


def _drop_claim(uow: UnitOfWork, case: ChainCase) -> None:
    t = claims_of(case)
    uow.write_row(t, case.unit_year_id, delete(t).where(t.c.unit_year_id == case.unit_year_id))


def _hold(uow: UnitOfWork, case: ChainCase, holder: dict[str, str], at: str) -> None:
    _drop_claim(uow, case)
    t = claims_of(case)
    uow.write_row(
        t,
        case.unit_year_id,
        t.insert().values(
            unit_year_id=case.unit_year_id,
            level=case.pending_level,
            step=case.step,
            round=case.round,
            official_id=holder["id"],
            official_name=holder["name"],
            claimed_at=at,
        ),
    )


def _claimed_case(uow: UnitOfWork, cmd: Command) -> ChainCase:
    body: ClaimRequest = cmd.payload
    return _title(uow, cmd, body.unit_year_id) if body.exemplary else _case(uow, body.unit_year_id)


def claim(uow: UnitOfWork, cmd: Command) -> str:
    """Take the pending step. Two officers claiming at once both append to the case's stream
    (the unit-year's, or its exemplary title's): the stream head's compare-and-set lets one win
    and the other gets a conflict."""
    body: ClaimRequest = cmd.payload
    case = _claimed_case(uow, cmd)
    event = claim_case(case, current_claim(uow, case), body.official, cmd.jurisdiction)
    if event is None:
        return "ignored"
    _hold(uow, case, body.official, rfc3339(utcnow()))
    publish(uow, case, event, cmd.cause)
    return "applied"


def release(uow: UnitOfWork, cmd: Command) -> str:
    body: ClaimRequest = cmd.payload
    case = _claimed_case(uow, cmd)
    event = release_case(
        case,
        current_claim(uow, case),
        body.official,
        supervisor=body.supervisor,
        jurisdiction=cmd.jurisdiction,
        reason=body.reason,
    )
    _drop_claim(uow, case)
    publish(uow, case, event, cmd.cause)
    return "applied"


def reassign(uow: UnitOfWork, cmd: Command) -> str:
    body: ClaimRequest = cmd.payload
    if body.assign_to is None or not body.assign_to_jurisdiction:
        raise ApprovalError("invalid_payload", "a reassignment must name the official it gives the unit-year to")
    case = _claimed_case(uow, cmd)
    event = reassign_case(
        case,
        current_claim(uow, case),
        body.assign_to,
        body.assign_to_jurisdiction,
        body.official,
        supervisor=body.supervisor,
        jurisdiction=cmd.jurisdiction,
        reason=body.reason,
    )
    assert isinstance(event, ev.CaseReassigned)  # or its exemplary subclass
    _hold(uow, case, body.assign_to, rfc3339(utcnow()))
    publish(uow, case, event, cmd.cause)
    return "applied"


COMMANDS: dict[type, CommandFn] = {
    ReviewDecisionSubmitted: decide,
    RecognitionRevocationSubmitted: revoke,
    ExemplaryDecisionSubmitted: decide_exemplary,
    ExemplaryRevocationSubmitted: revoke_exemplary,
}
