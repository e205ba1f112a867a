"""What the registration service's HTTP API reads."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.registration.domain.model import Unit, UnitYear
from services.registration.orm import unit_repo, unit_year_repo, unit_years, units
from shared.contracts.jurisdiction import read_scope
from shared.infra.uow import UnitOfWork


def unit(session: Session, code: str) -> Unit | None:
    return unit_repo.get(session, code)


def unit_year(session: Session, unit_year_id: str) -> UnitYear | None:
    return unit_year_repo.get(session, unit_year_id)


def list_unit_years(
    session: Session, *, year: int | None, unit_code: str | None, limit: int, offset: int, jurisdiction: str = "*"
) -> list[UnitYear]:
    """A page of unit-years, only those of units inside ``jurisdiction`` (``may_read``,
    applied in SQL so that paging counts only what the caller may see)."""
    q = unit_year_repo.statement().order_by(unit_years.c.id).limit(limit).offset(offset)
    scope = read_scope(jurisdiction)
    if scope is not None:
        field, code = scope
        q = q.join(units, units.c.code == unit_years.c.unit_code).where(units.c[field] == code)
    if year is not None:
        q = q.where(unit_years.c.year == year)
    if unit_code is not None:
        q = q.where(unit_years.c.unit_code == unit_code)
    return [unit_year_repo.build(r) for r in session.execute(q)]


def prefetch(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """Read ahead, for a batch, the units, unit-years and stream heads its messages are about:
    three statements instead of up to three per message."""
    codes = list({uy.split(":", 1)[0] for uy in unit_year_ids})
    uow.preload(Unit, codes)
    uow.preload(UnitYear, unit_year_ids)
    uow.load_streams([*unit_year_ids, *(f"unit:{c}" for c in codes)])


def prefetch_unit_years(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """Read ahead which of the unit-years a batch of approval events is about exist (the read
    model's projection needs to know only that, not the unit-years themselves)."""
    uow.preload_keys(UnitYear, unit_year_ids)
