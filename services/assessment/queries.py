"""What the assessment service reads: a case, its incidents in the window, the units it knows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.assessment.domain import AssessmentCase, Incident
from services.assessment.orm import incidents, units
from shared.infra.uow import UnitOfWork


def case(session: Session, unit_year_id: str) -> AssessmentCase | None:
    return session.get(AssessmentCase, unit_year_id)


def incident(session: Session, incident_id: str) -> Incident | None:
    return session.get(Incident, incident_id)


def incidents_in_window(session: Session, case: AssessmentCase) -> list[Incident]:
    """The incidents recorded for the case's unit whose date is in its window."""
    start, end = case.window()
    q = (
        select(Incident)
        .where(incidents.c.unit_code == case.unit_code, incidents.c.occurred_on >= start, incidents.c.occurred_on <= end)
        .order_by(incidents.c.occurred_on, incidents.c.incident_id)
    )
    return list(session.execute(q).scalars().all())


def window_incidents(uow: UnitOfWork, case: AssessmentCase) -> list[Incident]:
    """:func:`incidents_in_window` on the write path: from the batch's read-ahead when it has
    the unit's incidents (no statement, and no autoflush of the batch's pending objects)."""
    known = uow.children(Incident, "unit_code", case.unit_code)
    if known is None:
        return incidents_in_window(uow.session, case)
    start, end = case.window()
    return sorted((i for i in known if start <= i.occurred_on <= end), key=lambda i: (i.occurred_on, i.incident_id))


def known_unit(session: Session, code: str) -> dict[str, Any] | None:
    row = session.execute(select(units).where(units.c.code == code)).first()
    return None if row is None else dict(row._mapping)


def prefetch(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """Read ahead, for a batch, the cases, their units' incidents and the stream heads its
    messages are about: three statements instead of up to three per message (the handlers'
    ``uow.get`` and :func:`window_incidents` then find them, or know them absent)."""
    uow.preload(AssessmentCase, unit_year_ids)
    uow.preload_children(Incident, "unit_code", [uy.split(":", 1)[0] for uy in unit_year_ids])
    uow.load_streams(unit_year_ids)
