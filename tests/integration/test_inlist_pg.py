"""``shared.infra.inlist.in_list`` on PostgreSQL (psycopg, the list bound as one array): the
rows it selects are the rows an expanding ``IN`` selects, and it searches the key's index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from shared.infra.inlist import in_list
from tests.fixtures_infra import fresh_pg_engine
from tests.unit.test_inlist import matches, md, things

pytestmark = pytest.mark.integration


@pytest.fixture()
def engine(postgres) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with fresh_pg_engine(postgres, "inlist", md) as engine:
        yield engine


def test_selects_what_an_expanding_in_selects(engine: Any) -> None:
    with engine.begin() as conn:
        matches(conn)


def test_the_key_index_is_searched(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"k": f"key-{i:05d}", "n": i} for i in range(20_000)])
        conn.exec_driver_sql("ANALYZE inlist_things")
        stmt = select(things).where(in_list(things.c.k, "keys"))
        sql = str(stmt.compile(dialect=conn.dialect))
        plan = conn.exec_driver_sql(f"EXPLAIN {sql}", {"keys": ["key-00007", "key-12345"]}).scalars().all()
        assert any("Index" in line for line in plan), plan
        found = conn.execute(stmt, {"keys": ["key-12345", "key-00007", "nope"]}).scalars().all()
        assert sorted(found) == ["key-00007", "key-12345"]
