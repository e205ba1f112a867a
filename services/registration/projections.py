"""Registration's read models of other services' events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import update

from services.registration.orm import unit_years
from shared.contracts import events as ev
from shared.infra.adapters import EventFn, EventMessage
from shared.infra.uow import UnitOfWork


class ApprovalStateView(BaseModel):
    """What registration reads of any approval event (a tolerant reader): its state."""

    model_config = ConfigDict(extra="ignore")

    state: str | None = None


def approval_state(uow: UnitOfWork, event: EventMessage[ApprovalStateView]) -> str:
    """The approval state of each registered unit-year: one UPDATE, no load (the registration's
    own version is not involved)."""
    state = event.payload.state
    uy_id = event.unit_year_id
    if not state or not uy_id:
        return "ignored"
    res = uow.session.execute(update(unit_years).where(unit_years.c.id == uy_id).values(approval_state=state))
    return "applied" if res.rowcount else "ignored"  # type: ignore[attr-defined]


APPROVAL_EVENTS: dict[type, EventFn] = {
    model: approval_state
    for model in (
        ev.ApprovalCaseOpened,
        ev.UnitYearSelfScored,
        ev.UnitYearReviewed,
        ev.UnitYearRecognized,
        ev.UnitYearNotRecognized,
        ev.UnitYearReturned,
        ev.ApprovalCaseWithdrawn,
        ev.UnitYearRevoked,
        ev.VerdictChanged,
        ev.IncidentFlagged,
    )
}
