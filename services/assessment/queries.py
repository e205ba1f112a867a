"""What the assessment service reads: a case, its incidents in the window, the units it knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.assessment.domain import rules
from services.assessment.domain.exemplary import ExemplaryCase
from services.assessment.domain.model import AssessmentCase, Incident
from services.assessment.orm import case_repo, exemplary_repo, incident_repo, incidents, units
from shared.infra.inbound import in_jurisdiction
from shared.infra.uow import UnitOfWork


def case(session: Session, unit_year_id: str) -> AssessmentCase | None:
    return case_repo.get(session, unit_year_id)


def exemplary_case(session: Session, unit_year_id: str) -> ExemplaryCase | None:
    return exemplary_repo.get(session, unit_year_id)


def incident(session: Session, source_system: str, incident_id: str) -> Incident | None:
    """The incident ``incident_id`` of one sender (ids are unique per sender only)."""
    return incident_repo.get(session, (source_system, incident_id))


def commune_code_of(unit: Mapping[str, Any]) -> str:
    """The commune a commune unit stands for (its commune_code, else its own code)."""
    return str(unit.get("commune_code") or unit["code"])


#: the order of a window's incidents
WINDOW_ORDER = (incidents.c.occurred_on, incidents.c.unit_code, incidents.c.incident_id, incidents.c.source_system)


def incidents_in_window(session: Session, case: AssessmentCase) -> list[Incident]:
    """The incidents recorded for the case's unit whose date is in its window; for a
    commune, also those at its residential areas (Art. 5.2: the residential-area criteria
    2-4 hold across the commune), in the commune's window."""
    return _for_commune(case, incident_repo.select(session, *window_where(case), order_by=WINDOW_ORDER))


def window_where(case: AssessmentCase) -> tuple[Any, ...]:
    """The ``WHERE`` of :func:`incidents_in_window`."""
    start, end = case.window()
    where = incidents.c.unit_code == case.unit_code
    if case.unit["kind"] == "commune":
        areas = select(units.c.code).where(
            units.c.kind == "residential_area",
            units.c.province_code == case.unit["province_code"],
            units.c.commune_code == commune_code_of(case.unit),
        )
        where = or_(where, incidents.c.unit_code.in_(areas))
    return (where, incidents.c.occurred_on >= start, incidents.c.occurred_on <= end)


def _for_commune(case: AssessmentCase, found: list[Incident]) -> list[Incident]:
    if case.unit["kind"] != "commune":
        return found
    # an area's incident whose sender could not be checked yet (reported before the area was
    # known) counts for the commune only if the sender may act for it
    province, commune = case.unit["province_code"], commune_code_of(case.unit)
    return [
        i
        for i in found
        if i.unit_code == case.unit_code or in_jurisdiction(i.jurisdiction, province_code=province, commune_code=commune)
    ]


def commune_of(session: Session, area: Mapping[str, Any]) -> str | None:
    """The code of the commune unit a residential area belongs to, if that commune is known."""
    commune = area.get("commune_code")
    if not commune:
        return None
    q = (
        select(units.c.code)
        .where(
            units.c.kind == "commune",
            units.c.province_code == area["province_code"],
            or_(units.c.commune_code == commune, and_(units.c.commune_code.is_(None), units.c.code == commune)),
        )
        .order_by(units.c.code)
    )
    return session.execute(q).scalars().first()


def previous_year(uow: UnitOfWork, case: AssessmentCase) -> rules.PreviousYear:
    """What the unit's previous unit-year recorded (for the year-on-year criteria); the
    batch's read-ahead has it, or knows it absent."""
    uy = case.previous_year_id()
    last = uow.get(AssessmentCase, uy)
    if last is None:
        return rules.PreviousYear(uy, None, 0, "not registered here")
    return last.recorded_figures()


def previous_year_id(unit_year_id: str) -> str:
    """``CODE:YEAR`` -> ``CODE:YEAR-1`` (what :func:`previous_year` reads)."""
    code, _, year = unit_year_id.rpartition(":")
    return f"{code}:{int(year) - 1}" if year.isdigit() else unit_year_id


def window_incidents(uow: UnitOfWork, case: AssessmentCase) -> list[Incident]:
    """:func:`incidents_in_window` on the write path: from the batch's read-ahead when it has
    the unit's incidents (no statement, and no autoflush of the batch's pending objects). A
    commune's case also counts its residential areas' incidents: it asks the database."""
    known = uow.children(Incident, "unit_code", case.unit_code)
    if known is None or case.unit["kind"] == "commune":
        return _for_commune(case, uow.select(Incident, *window_where(case), order_by=WINDOW_ORDER))
    start, end = case.window()
    return sorted(
        (i for i in known if start <= i.occurred_on <= end),
        key=lambda i: (i.occurred_on, i.unit_code, i.incident_id, i.source_system),
    )


def known_unit(session: Session, code: str) -> dict[str, Any] | None:
    row = session.execute(select(units).where(units.c.code == code)).first()
    return None if row is None else dict(row._mapping)


def prefetch(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """Read ahead, for a batch, the cases, their units' incidents and the stream heads its
    messages are about: three statements instead of up to three per message (the handlers'
    ``uow.get`` and :func:`window_incidents` then find them, or know them absent)."""
    uow.preload(AssessmentCase, [*unit_year_ids, *(previous_year_id(uy) for uy in unit_year_ids)])
    uow.preload_children(Incident, "unit_code", [uy.split(":", 1)[0] for uy in unit_year_ids])
    uow.load_streams(unit_year_ids)
