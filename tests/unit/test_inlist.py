"""``shared.infra.inlist.in_list`` on SQLite: the rows it selects are the rows an expanding
``IN`` selects, for text and integer keys, and the statement's text does not change with the
list's length (one prepared statement, the point of binding the list as one value)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.infra.inlist import in_list

md = MetaData()
things = Table(
    "inlist_things",
    md,
    Column("k", String(80), primary_key=True),
    Column("n", Integer, nullable=False, index=True),
)

#: keys a JSON or array binding could get wrong: quotes, backslashes, commas, braces, non-ASCII
KEYS = ["a", "b'c", 'd"e', "f\\g", "h,i", "{j}", "Phường Bến Nghé", "x" * 80, ""]
ROWS = [{"k": k, "n": i * 10} for i, k in enumerate(KEYS)]

#: (column, keys asked for): some found, some not, repeats, none at all
CASES: list[tuple[str, list[Any]]] = [
    ("k", ["a", "b'c", "missing"]),
    ("k", KEYS),
    ("k", ["f\\g", "f\\g", 'd"e']),
    ("k", []),
    ("k", ["nope"]),
    ("n", [0, 20, 999]),
    ("n", []),
    ("n", [80, 80]),
]


def matches(conn: Any) -> None:
    """Each case selects what an expanding ``IN`` selects (shared with the PostgreSQL test)."""
    conn.execute(delete(things))
    conn.execute(things.insert(), ROWS)
    for column, keys in CASES:
        col = things.c[column]
        ours = conn.execute(select(things).where(in_list(col, "keys")).order_by(things.c.n), {"keys": keys}).all()
        theirs = conn.execute(
            select(things).where(col.in_(bindparam("keys", expanding=True))).order_by(things.c.n), {"keys": keys}
        ).all()
        assert ours == theirs, (column, keys)
        assert {r._mapping[column] for r in ours} == set(keys) & {r[column] for r in ROWS}
    # a tuple binds as a list does
    assert conn.execute(select(things.c.k).where(in_list(things.c.k, "keys")), {"keys": ("a",)}).scalars().all() == ["a"]


@pytest.fixture()
def engine() -> Iterator[Any]:
    engine = create_engine("sqlite://")
    md.create_all(engine)
    yield engine
    engine.dispose()


def test_selects_what_an_expanding_in_selects(engine: Any) -> None:
    with engine.begin() as conn:
        matches(conn)


def test_one_statement_text_for_every_length(engine: Any) -> None:
    texts: list[str] = []

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        texts.append(statement)

    stmt = select(things.c.k).where(in_list(things.c.k, "keys"))
    with engine.begin() as conn:
        for n in (1, 2, 50, 700):
            conn.execute(stmt, {"keys": [f"k{i}" for i in range(n)]})
    assert len(texts) == 4 and len(set(texts)) == 1
    assert "json_each(?)" in texts[0]


def test_compiled_per_database() -> None:
    stmt = select(things.c.k).where(in_list(things.c.k, "keys"), in_list(things.c.n, "ns"))
    pg = str(stmt.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[attr-defined]
    assert "inlist_things.k = ANY (%(keys)s::TEXT[])" in pg and "inlist_things.n = ANY (%(ns)s::BIGINT[])" in pg
    lite = str(stmt.compile(dialect=sqlite.dialect()))
    assert "inlist_things.k IN (SELECT value FROM json_each(?))" in lite and "= 1" not in lite
    # the statement caches: equal statements have equal keys, other columns other keys
    key = stmt._generate_cache_key()
    assert key is not None
    assert key == select(things.c.k).where(in_list(things.c.k, "keys"), in_list(things.c.n, "ns"))._generate_cache_key()
    assert key != select(things.c.k).where(in_list(things.c.n, "keys"), in_list(things.c.n, "ns"))._generate_cache_key()


def test_other_types_keep_the_expanding_in(engine: Any) -> None:
    """A date or an enumeration is converted by its column's own type: such a column keeps
    SQLAlchemy's expanding ``IN``."""
    import datetime

    from sqlalchemy import Date
    from sqlalchemy import Enum as SAEnum

    day = Column("day", Date)
    kind = Column("kind", SAEnum("a", "b", native_enum=False))
    for col in (day, kind):
        compiled = str(select(things.c.k).where(in_list(col, "keys")).compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[attr-defined]
        assert "ANY" not in compiled and "json_each" not in compiled
    dated = Table("inlist_days", MetaData(), Column("d", Date, primary_key=True))
    dated.create(engine)
    with engine.begin() as conn:
        conn.execute(dated.insert(), [{"d": datetime.date(2025, 1, i)} for i in (1, 2, 3)])
        got = (
            conn.execute(select(dated.c.d).where(in_list(dated.c.d, "keys")), {"keys": [datetime.date(2025, 1, 2)]})
            .scalars()
            .all()
        )
    assert got == [datetime.date(2025, 1, 2)]


def test_none_is_refused(engine: Any) -> None:
    with engine.begin() as conn, pytest.raises(Exception, match="cannot be None"):
        conn.execute(select(things).where(in_list(things.c.k, "keys")), {"keys": None})
