"""What the registration service's HTTP API reads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.domain import Unit, UnitYear


def unit(session: Session, code: str) -> Unit | None:
    return session.get(Unit, code)


def unit_year(session: Session, unit_year_id: str) -> UnitYear | None:
    return session.get(UnitYear, unit_year_id)


def list_unit_years(session: Session, *, year: int | None, unit_code: str | None, limit: int, offset: int) -> list[UnitYear]:
    q = select(UnitYear).order_by(UnitYear.id).limit(limit).offset(offset)  # type: ignore[arg-type]
    if year is not None:
        q = q.where(UnitYear.year == year)  # type: ignore[arg-type]
    if unit_code is not None:
        q = q.where(UnitYear.unit_code == unit_code)  # type: ignore[arg-type]
    return list(session.execute(q).scalars())
