"""Registration's read models of other services' events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.registration.domain.model import UnitYear
from services.registration.orm import unit_years
from shared.contracts import events as ev
from shared.infra.adapters import EventFn, EventMessage
from shared.infra.uow import UnitOfWork


class ApprovalStateView(BaseModel):
    """What registration reads of any approval event (a tolerant reader): its state."""

    model_config = ConfigDict(extra="ignore")

    state: str | None = None


def approval_state(uow: UnitOfWork, event: EventMessage[ApprovalStateView]) -> str:
    """The approval state of each registered unit-year: an UPDATE of that column alone, queued
    with the batch's others (the registration's own version is not involved; the batch's
    prefetch has told whether the unit-year exists)."""
    state = event.payload.state
    uy_id = event.unit_year_id
    if not state or not uy_id or not uow.exists(UnitYear, uy_id):
        return "ignored"
    uow.update_row(unit_years, {"id": uy_id}, {"approval_state": state})
    return "applied"


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
