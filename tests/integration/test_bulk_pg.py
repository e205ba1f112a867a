"""``shared.infra.bulk.executemany`` on PostgreSQL (psycopg, named parameters): the rows it
writes are the rows ``Connection.execute`` writes, JSON, binary and time columns included, and
an update's summed row count is the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql

from shared.infra.bulk import _PLANS, executemany
from tests.fixtures_infra import fresh_pg_engine
from tests.unit.test_bulk import ROWS, md, things

pytestmark = pytest.mark.integration


@pytest.fixture()
def engine(postgres) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with fresh_pg_engine(postgres, "bulk", md) as engine:
        yield engine


def _stored(conn: Any) -> list[tuple[Any, ...]]:
    return list(conn.exec_driver_sql("SELECT id, body::text, blob, at, n, version FROM things ORDER BY id"))


def test_inserts_updates_and_upserts_match_execute(engine: Any) -> None:
    stmt = (
        update(things)
        .where(things.c.id == bindparam("b_id"), things.c.version == bindparam("b_version"))
        .values(n=bindparam("n"), version=things.c.version + 1)
    )
    ins = postgresql.insert(things)
    upsert = ins.on_conflict_do_update(index_elements=["id"], set_={"n": ins.excluded.n})
    changes = [{"n": 5, "b_id": "a", "b_version": 1}, {"n": 6, "b_id": "b", "b_version": 9}]
    results = []
    for run in (executemany, lambda conn, s, rows: conn.execute(s, rows)):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM things")
            run(conn, insert(things), ROWS)
            assert run(conn, stmt, changes).rowcount == 1
            run(conn, upsert, [{**ROWS[0], "n": 40}, {**ROWS[1], "id": "z", "n": 41}])
            results.append(_stored(conn))
    assert results[0] == results[1]
    assert [r[0] for r in results[0]] == ["a", "b", "z"] and results[0][1][1] == "null"
    assert any(plan is not None and plan.names is not None for _, plan in _PLANS.values())  # the direct path ran


def test_the_rows_read_back(engine: Any) -> None:
    with engine.begin() as conn:
        executemany(conn, insert(things), ROWS)
        got = {r.id: r for r in conn.execute(select(things))}
    assert got["a"].body == ROWS[0]["body"] and got["a"].blob == ROWS[0]["blob"] and got["a"].at == ROWS[0]["at"]
    assert got["b"].body is None and got["b"].blob is None


def test_the_write_path_compresses_large_values_with_lz4(engine: Any) -> None:
    """The write engine's sessions compress with lz4 (``shared.infra.db._prefer_lz4``): a large
    JSON value written through it is stored lz4-compressed, whatever the server's default."""
    body = {"scores": [{"code": f"c{i}", "note": "đạt " * 20} for i in range(200)]}
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SHOW default_toast_compression").scalar() == "lz4"
        executemany(conn, insert(things), [{**ROWS[0], "id": "big", "body": body}])
        method = conn.exec_driver_sql("SELECT pg_column_compression(body) FROM things WHERE id = 'big'").scalar()
        assert method == "lz4"
        assert conn.execute(select(things.c.body).where(things.c.id == "big")).scalar() == body
