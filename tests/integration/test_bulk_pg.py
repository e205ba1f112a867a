"""``shared.infra.bulk.executemany`` on PostgreSQL (psycopg, named parameters): the rows it
writes are the rows ``Connection.execute`` writes, JSON, binary and time columns included, and
an update's summed row count is the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, bindparam, event, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

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
    results: list[Any] = []
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


log = Table(
    "bulk_log",
    MetaData(),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("n", Integer, nullable=False),
    Column("body", JSON, nullable=True),
)


@pytest.fixture()
def log_engine(postgres) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with fresh_pg_engine(postgres, "bulklog", log.metadata) as engine:
        yield engine


def _statements(engine: Any) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    return seen


def test_many_rows_are_one_insert_over_arrays_in_the_order_given(log_engine: Any) -> None:
    """Rows are inserted by one statement over arrays (``_array_insert``), in the order given:
    the ids a sequence assigns follow it, as the outbox's publishing order needs."""
    seen = _statements(log_engine)
    rows = [{"event_id": f"e{(i * 7919) % 1000:04d}", "n": i, "body": {"i": i} if i % 3 else None} for i in range(1000)]
    with log_engine.begin() as conn:
        assert executemany(conn, insert(log), rows).rowcount == 1000
        stored = list(conn.execute(select(log.c.id, log.c.event_id, log.c.n, log.c.body).order_by(log.c.id)))
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len(inserts) == 1 and "unnest(" in inserts[0] and "WITH ORDINALITY" in inserts[0]
    assert [(r.event_id, r.n, r.body) for r in stored] == [(r["event_id"], r["n"], r["body"]) for r in rows]
    ids = [r.id for r in stored]
    assert ids == sorted(ids) and len(set(ids)) == 1000


def test_array_insert_conflicts_as_row_by_row(log_engine: Any) -> None:
    """ON CONFLICT DO NOTHING skips what the row-by-row path skips (a key already stored, a key
    twice in the batch) with the same row count; a plain insert of a stored key fails alike."""
    ignore = postgresql.insert(log).on_conflict_do_nothing(index_elements=["event_id"])
    batch = [{"event_id": "a", "n": 1}, {"event_id": "b", "n": 2}, {"event_id": "a", "n": 3}, {"event_id": "c", "n": 4}]
    results: list[Any] = []
    for run in (executemany, lambda conn, s, rows: conn.execute(s, rows)):
        with log_engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM bulk_log")
            conn.execute(insert(log), [{"event_id": "c", "n": 0}])
            res = run(conn, ignore, batch)
            count = None if results else res.rowcount  # SQLAlchemy's executemany on psycopg: -1
            results.append(
                (count, [(r.event_id, r.n) for r in conn.execute(select(log.c.event_id, log.c.n).order_by(log.c.event_id))])
            )
    assert results[0] == (2, [("a", 1), ("b", 2), ("c", 0)]) and results[1] == (None, results[0][1])
    with pytest.raises(IntegrityError), log_engine.begin() as conn:
        executemany(conn, insert(log), [{"event_id": "x", "n": 1}, {"event_id": "x", "n": 2}])
