"""What the approval service reads: the queue, flags, a unit-year's history, and the live
commune roll-up (criterion 4) that the decision on a commune also needs."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.approval.domain.chains import DELEGABLE, ChainConfig
from services.approval.domain.machine import EXEMPLARY_UNDER_REVIEW, FINAL, UNDER_REVIEW, ApprovalState
from services.approval.domain.model import ApprovalCase, ExemplaryTitle, Rollup, commune_code_of
from services.approval.orm import case_repo, cases, claims, exemplary_titles, history, title_repo, units
from shared.contracts.jurisdiction import read_scope
from shared.infra.uow import UnitOfWork


def today() -> date:
    return date.today()


def case(session: Session, unit_year_id: str) -> ApprovalCase | None:
    return case_repo.get(session, unit_year_id)


def _is_child_kind(kind: str, managing_level: str) -> bool:
    """Units a commune manages (Art. 5.4): its residential areas, and the agencies,
    enterprises and schools managed at commune level."""
    return kind == "residential_area" or (kind in DELEGABLE and managing_level == "commune")


def commune_rollup(session: Session, case: ApprovalCase) -> Rollup:
    """The live figures of a commune's criterion 4, from the unit register and the cases."""
    cc = commune_code_of(case.unit)
    known = {
        r.code: (r.kind, r.managing_level, r.province_code)
        for r in session.execute(select(units).where(units.c.commune_code == cc, units.c.code != case.unit_code)).all()
        if _is_child_kind(r.kind, r.managing_level)
    }
    c = cases.c
    rows = session.execute(
        select(c.unit_code, c.unit_year_id, c.state, c.deadline, c.kind, c.unit).where(
            c.commune_code == cc, c.year == case.year, c.unit_code != case.unit_code
        )
    ).all()
    children = {r.unit_code: r for r in rows if _is_child_kind(r.kind, r.unit.get("managing_level", ""))}
    codes = sorted(set(known) | set(children))
    registered = [children[k] for k in codes if k in children and str(children[k].state) != ApprovalState.withdrawn]
    decided = [r for r in registered if str(r.state) in FINAL]
    pending = tuple(sorted(r.unit_year_id for r in registered if str(r.state) not in FINAL))
    config = ChainConfig.load()
    deadlines = [r.deadline for r in registered] + [
        config.deadline_for(kind, prov, case.year) for kind, _, prov in known.values()
    ]
    return Rollup(
        commune_code=cc,
        year=case.year,
        total=len(codes),
        registered=len(registered),
        decided=len(decided),
        recognized=sum(1 for r in registered if str(r.state) == ApprovalState.recognized),
        pending=pending,
        unregistered=tuple(k for k in codes if k not in {r.unit_code for r in registered}),
        children_deadline=max(deadlines) if deadlines else None,
    )


def _within(jurisdiction: str, table: Any = cases) -> list[Any]:
    """``q`` over approval cases restricted to ``jurisdiction`` (``may_read`` in SQL). Cases
    carry their province and commune as columns; the district is read from the case's unit
    (a JSON path, which SQLite and PostgreSQL both index into)."""
    scope = read_scope(jurisdiction)
    if scope is None:
        return []
    field, code = scope
    if field == "district_code":
        return [table.c.unit["district_code"].as_string() == code]
    return [table.c[field] == code]


def queue(
    session: Session,
    *,
    level: str | None,
    province_code: str | None,
    commune_code: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    jurisdiction: str = "*",
) -> list[ApprovalCase]:
    """Unit-years under review inside ``jurisdiction``, by deadline."""
    c = cases.c
    where = [c.state.in_(UNDER_REVIEW), *_within(jurisdiction)]
    if level:
        where.append(c.pending_level == level)
    if province_code:
        where.append(c.province_code == province_code)
    if commune_code:
        where.append(c.commune_code == commune_code)
    if kind:
        where.append(c.kind == kind)
    return case_repo.select(session, *where, order_by=(c.deadline, c.unit_year_id), limit=limit, offset=offset)


def flagged(
    session: Session, *, province_code: str | None, limit: int, offset: int, jurisdiction: str = "*"
) -> list[ApprovalCase]:
    """Recognised unit-years inside ``jurisdiction`` with an incident flag for their recognising level."""
    c = cases.c
    where = [c.open_flags > 0, *_within(jurisdiction)]
    if province_code:
        where.append(c.province_code == province_code)
    return case_repo.select(session, *where, order_by=(c.unit_year_id,), limit=limit, offset=offset)


def exemplary_title(session: Session, unit_year_id: str) -> ExemplaryTitle | None:
    return title_repo.get(session, unit_year_id)


def exemplary_queue(
    session: Session,
    *,
    level: str | None,
    province_code: str | None,
    limit: int,
    offset: int,
    jurisdiction: str = "*",
) -> list[ExemplaryTitle]:
    """Exemplary titles under review inside ``jurisdiction``, oldest proposal first (the
    province sets no deadline for them)."""
    t = exemplary_titles.c
    where = [t.state.in_(EXEMPLARY_UNDER_REVIEW), *_within(jurisdiction, exemplary_titles)]
    if level:
        where.append(t.pending_level == level)
    if province_code:
        where.append(t.province_code == province_code)
    return title_repo.select(session, *where, order_by=(t.year, t.unit_year_id), limit=limit, offset=offset)


def exemplary_titles_of(session: Session, unit_year_ids: list[str]) -> dict[str, ExemplaryTitle]:
    """The exemplary titles of some unit-years (the console's lists show the track beside the ANTT state)."""
    if not unit_year_ids:
        return {}
    rows = title_repo.select(session, exemplary_titles.c.unit_year_id.in_(unit_year_ids))
    return {t.unit_year_id: t for t in rows}


def event_history(session: Session, unit_year_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(history.c.envelope)
        .where(history.c.unit_year_id == unit_year_id)
        .order_by(history.c.recorded_at, history.c.sequence)
    )
    return [r[0] for r in rows]


def prefetch(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """Read ahead, for a batch, the cases and stream heads its messages are about: two
    statements instead of two per message (the handlers' ``uow.get`` then finds them, or knows them absent)."""
    uow.preload(ApprovalCase, unit_year_ids)
    uow.load_streams(unit_year_ids)


def prefetch_commands(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    """:func:`prefetch`, and the claims ("Tôi xử lý") a decision checks: one statement per
    batch instead of one per decision."""
    prefetch(uow, unit_year_ids)
    uow.preload_rows(claims, unit_year_ids)
