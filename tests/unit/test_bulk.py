"""``shared.infra.bulk.executemany`` writes what ``Connection.execute`` writes, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite

from shared.infra.bulk import executemany

md = MetaData()
things = Table(
    "things",
    md,
    Column("id", String, primary_key=True),
    Column("body", JSON),
    Column("blob", LargeBinary),
    Column("at", DateTime(timezone=True)),
    Column("n", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False),
)

ROWS: list[dict[str, Any]] = [
    {
        "id": "a",
        "body": {"x": [1, 2], "vi": "Tổ dân phố"},
        "blob": b"\x00\x01",
        "at": datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
        "n": 1,
        "version": 1,
    },
    {"id": "b", "body": None, "blob": None, "at": None, "n": 2, "version": 1},
]


def _engine():  # type: ignore[no-untyped-def]
    engine = create_engine("sqlite://")
    md.create_all(engine)
    return engine


def _raw(conn: Any) -> list[tuple[Any, ...]]:
    # the stored values themselves, as SQLite has them (no result processing)
    return list(conn.exec_driver_sql("SELECT id, body, blob, at, n, version FROM things ORDER BY id"))


def test_inserts_store_the_same_values_as_execute() -> None:
    with _engine().begin() as general:
        general.execute(insert(things), ROWS)
        expected = _raw(general)
    with _engine().begin() as direct:
        seen: list[str] = []
        event.listen(direct, "before_cursor_execute", lambda *a: seen.append(a[2]))
        executemany(direct, insert(things), ROWS)
        assert _raw(direct) == expected
    assert expected[1][1] == "null"  # a JSON column's None is JSON null, as SQLAlchemy writes it
    assert seen[0] == "INSERT INTO things (id, body, blob, at, n, version) VALUES (?, ?, ?, ?, ?, ?)"


def test_updates_with_a_constant_of_the_statement_and_rowcount() -> None:
    stmt = (
        update(things)
        .where(things.c.id == bindparam("b_id"), things.c.version == bindparam("b_version"))
        .values(n=bindparam("n"), version=things.c.version + 1)
    )
    with _engine().begin() as conn:
        executemany(conn, insert(things), ROWS)
        res = executemany(conn, stmt, [{"n": 5, "b_id": "a", "b_version": 1}, {"n": 6, "b_id": "b", "b_version": 9}])
        assert res.rowcount == 1  # the second row's version did not match
        assert list(conn.execute(select(things.c.id, things.c.n, things.c.version).order_by(things.c.id))) == [
            ("a", 5, 2),
            ("b", 2, 1),
        ]


def test_a_python_side_default_or_rows_of_other_keys_take_the_general_path() -> None:
    def write(fn: Any) -> list[tuple[Any, ...]]:
        with _engine().begin() as conn:
            # ``n`` has a Python-side default, filled in by SQLAlchemy when a row leaves it out;
            # an executemany binds the keys of its first row (SQLAlchemy's rule, kept)
            fn(conn, insert(things), [{"id": "c", "version": 1}])
            fn(conn, insert(things), [{"id": "d", "version": 1}, {"id": "e", "version": 1, "n": 7}])
            return list(conn.execute(select(things.c.id, things.c.n).order_by(things.c.id)))

    assert write(executemany) == write(lambda conn, stmt, rows: conn.execute(stmt, rows)) == [("c", 0), ("d", 0), ("e", 0)]


def test_an_upsert_of_the_dialect() -> None:
    ins = sqlite.insert(things)
    stmt = ins.on_conflict_do_update(index_elements=["id"], set_={"n": ins.excluded.n})
    with _engine().begin() as conn:
        executemany(conn, insert(things), ROWS)
        executemany(conn, stmt, [{**ROWS[0], "n": 40}, {**ROWS[1], "id": "z", "n": 41}])
        assert list(conn.execute(text("SELECT id, n FROM things ORDER BY id"))) == [("a", 40), ("b", 2), ("z", 41)]


def test_a_refused_row_raises_as_execute_does() -> None:
    from sqlalchemy.exc import IntegrityError

    with _engine().begin() as conn, pytest.raises(IntegrityError):
        executemany(conn, insert(things), [ROWS[0], ROWS[0]])
