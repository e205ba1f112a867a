"""The Core repositories on PostgreSQL (psycopg): two real concurrent writers of the same
aggregate, where the executemany's summed row count is what notices the loser; composite keys
read ahead with a tuple ``IN``; JSON columns; a refused message's undo under a real
SAVEPOINT."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from shared.infra.db import sync_session_factory
from shared.infra.errors import DomainError
from shared.infra.outbox import ConcurrencyConflict
from shared.infra.uow import UnitOfWork
from tests.fixtures_infra import fresh_pg_engine
from tests.unit.test_repository import Box, Part, boxes, infra, metadata, parts

pytestmark = pytest.mark.integration


@pytest.fixture()
def sessions(postgres) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with fresh_pg_engine(postgres, "repo", metadata) as engine:
        with engine.begin() as conn:
            conn.execute(
                boxes.insert(),
                [{"code": f"b{i}", "owner": "ana", "state": "open", "items": [f"i{i}"], "version": 1} for i in range(4)],
            )
            conn.execute(parts.insert(), [{"box": "b0", "n": n, "label": f"part {n}", "version": 1} for n in range(3)])
        yield sync_session_factory(engine)


def _uow(sessions: Any) -> UnitOfWork:
    return UnitOfWork(sessions(), infra, producer="t", topic=None)


def _rows(sessions: Any) -> dict[str, tuple[Any, ...]]:
    with sessions() as s:
        return {r.code: (r.owner, r.state, r.items, r.version) for r in s.execute(select(boxes))}


def test_the_second_of_two_concurrent_writers_gets_a_conflict(sessions) -> None:  # type: ignore[no-untyped-def]
    with _uow(sessions) as slow:
        slow.preload(Box, ["b0", "b1", "b2"])
        with _uow(sessions) as fast:
            b1 = fast.get(Box, "b1")
            assert b1 is not None
            b1.owner = "fast"
            fast.commit()
        for code in ("b0", "b1", "b2"):
            box = slow.get(Box, code)
            assert box is not None
            box.owner = "slow"
        with pytest.raises(ConcurrencyConflict, match="1 of the boxes rows b0, b1, b2 were changed concurrently"):
            slow.commit()
    rows = _rows(sessions)
    assert rows["b1"] == ("fast", "open", ["i1"], 2)
    assert rows["b0"] == ("ana", "open", ["i0"], 1) and rows["b2"] == ("ana", "open", ["i2"], 1)


def test_writes_reads_and_undo_on_postgresql(sessions) -> None:  # type: ignore[no-untyped-def]
    with _uow(sessions) as uow:
        uow.preload(Part, [("b0", 0), ("b0", 2), ("b0", 9)])
        assert uow.get(Part, ("b0", 2)).label == "part 2"  # type: ignore[union-attr]
        assert uow.get(Part, ("b0", 9)) is None
        b0 = uow.get(Box, "b0")
        assert b0 is not None
        b0.items.append("in place")
        uow.add(Box("n1", "neo", items=["x"]))
        # read your writes through the session
        assert uow.session.execute(select(boxes.c.owner).where(boxes.c.code == "n1")).scalar_one() == "neo"
        with pytest.raises(DomainError), uow.savepoint():
            again = uow.get(Box, "b0")
            assert again is b0
            b0.state = "refused"
            uow.add(Box("r1", "refused"))
            assert [b.code for b in uow.select(Box, boxes.c.owner == "refused")] == ["r1"]
            raise DomainError("refused", "the message is refused")
        assert b0.state == "open" and uow.get(Box, "r1") is None
        uow.commit()
    rows = _rows(sessions)
    assert rows["b0"] == ("ana", "open", ["i0", "in place"], 2)
    assert rows["n1"] == ("neo", "open", ["x"], 1) and "r1" not in rows
