"""Executemany without SQLAlchemy's per-row parameter processing, for the write path's bulk
statements.

For every row of an executemany, SQLAlchemy builds a dict of all the statement's bind
parameters (``construct_params``), runs each one's bind processor and orders them for the
driver: measured by ``bench.replay``, that was about a fifth of the approval service's CPU,
more than SQLite's own work on the same rows. The statements of the unit of work's flush (the
outbox, inbox and history inserts, read-model upserts, the repositories' versioned updates, the
stream heads) bind nothing but the columns of the rows they are given, so :func:`executemany`
compiles each statement once for the rows' keys, keeps its SQL text, the order of its
parameters and their bind processors, and hands the driver tuples (pysqlite) or dicts
(psycopg) through :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`: the connection's
transaction, events and error wrapping (``OperationalError`` and the rest) are SQLAlchemy's as
before, and the values are processed by the same bind processors, so the rows written are the
same bytes.

On PostgreSQL, an insert of several rows goes one step further: it is rewritten once into an
``INSERT ... SELECT ... FROM unnest(<one array per column>) WITH ORDINALITY ... ORDER BY``
(``_array_insert``), the rows bound as arrays in one execution, in the order given, with the
statement's own ``ON CONFLICT`` clause, in psycopg's binary format. psycopg's executemany
sends a Bind and an Execute per row and the server runs the insert once per row.

Anything else takes :meth:`Connection.execute`: a statement SQLAlchemy would run as multi-row
``VALUES`` ("insertmanyvalues", which it does not do for these inserts on either driver), a
parameter that is not a column of the rows (a Python-side default, an expanding ``IN``), or
rows whose keys differ.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for one set of row keys: what the driver is given."""

    sql: str
    #: the row's values in the order of the statement's parameters
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    #: (position, processor) of the parameters that have a bind processor
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    keys: frozenset[str]
    #: the parameter names, for a driver that takes a dict per row (``None``: positional)
    names: tuple[str, ...] | None
    #: PostgreSQL: the same insert of many rows as one statement over arrays (``_array_insert``)
    array_sql: str | None = None


#: plans by (statement, dialect name, row keys); ``None`` where the statement cannot take the
#: direct path. Statements are the write path's few cached ones (``UnitOfWork._write_rows``,
#: ``Repository``), so this stays small.
_PLANS: dict[tuple[int, str, tuple[str, ...]], tuple[Any, _Plan | None]] = {}


def _plan(conn: Connection, stmt: Any, keys: tuple[str, ...]) -> _Plan | None:
    dialect = conn.dialect
    if not dialect.positional and dialect.paramstyle not in ("pyformat", "named"):
        return None
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    if not isinstance(compiled, SQLCompiler):
        return None
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.implicit_returning
        or compiled.returning
        or compiled.escaped_bind_names
        or compiled.schema_translate_map
        or getattr(compiled, "_insertmanyvalues", None) is not None
    ):
        return None
    if dialect.positional:
        if compiled.positiontup is None:
            return None
        names = list(compiled.positiontup)
    else:
        names = list(compiled.binds)
    if not names:
        return None
    #: parameters that are not the rows' own: constants of the statement (``version + 1``)
    constants: dict[int, Any] = {}
    for i, name in enumerate(names):
        if name in keys:
            continue
        bind = compiled.binds[name]
        if bind.required or bind.callable is not None:
            return None  # a value the rows were meant to give, or a default to compute
        constants[i] = bind.value
    processors = []
    for i, name in enumerate(names):
        proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((i, proc))
    own = [n for n in names if n in keys]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    if constants or len(own) < 2:
        # the general shape: each position from the row or the statement
        picks = [(True, constants[i]) if i in constants else (False, n) for i, n in enumerate(names)]
        values = lambda row: tuple(v if const else row[v] for const, v in picks)  # noqa: E731
    else:
        values = operator.itemgetter(*own)
    array_sql = None if constants or dialect.positional else _array_insert(stmt, compiled, names, dialect)
    return _Plan(
        compiled.string, values, tuple(processors), frozenset(keys), None if dialect.positional else tuple(names), array_sql
    )


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _array_insert(stmt: Any, compiled: SQLCompiler, names: list[str], dialect: Any) -> str | None:
    """On PostgreSQL, ``INSERT INTO t (c...) VALUES (%(c)s...) [ON CONFLICT ...]`` as
    ``INSERT INTO t (c...) SELECT ... FROM unnest(%(c)s::<type>[], ...) WITH ORDINALITY ...
    ORDER BY ordinality [ON CONFLICT ...]``: each column's values bound as one array, the rows
    inserted in the order given (an outbox's ids follow it). The arrays go in psycopg's binary
    format (``%(c)b``): in the text format every element is quoted and escaped, and for the
    history's and the outbox's 1.5–6.6 kB envelopes that cost the service about 230 µs a row.

    psycopg's executemany sends a Bind and an Execute per row (in one pipeline), and the server
    runs the statement once per row (``bench.statements`` measures both forms;
    ``docs/benchmarks.md``, "PostgreSQL's inserts over arrays"). ``None`` (the row-by-row path)
    for anything but a plain insert of the table's own columns."""
    if dialect.name != "postgresql" or not getattr(stmt, "is_insert", False) or getattr(stmt, "select", None) is not None:
        return None
    table = stmt.table
    sql = compiled.string
    head, sep, tail = sql.partition(" VALUES (")
    if not sep or " VALUES (" in tail:
        return None
    depth, end = 1, 0
    while depth:
        if end >= len(tail):
            return None
        depth += {"(": 1, ")": -1}.get(tail[end], 0)
        end += 1
    group, rest = tail[: end - 1], tail[end:]
    if _PLACEHOLDER.findall(group) != names or any(n not in table.c for n in names):
        return None
    arrays = ", ".join(f"%({n})b::{table.c[n].type.compile(dialect=dialect)}[]" for n in names)
    aliases = [f"c{i}" for i in range(len(names))]
    return (
        f"{head} SELECT {', '.join(f'u.{a}' for a in aliases)} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS u({', '.join(aliases)}, ord) ORDER BY u.ord{rest}"
    )


def executemany(conn: Connection, stmt: Any, rows: Sequence[dict[str, Any]], *, arrays: bool = True) -> CursorResult[Any]:
    """``conn.execute(stmt, rows)``, with the parameters built directly where that is the same
    (see the module docstring). ``rowcount`` is the sum over the rows, as before. ``arrays``:
    take PostgreSQL's insert over arrays where it applies (``False``: row by row, as
    ``bench.statements`` compares)."""
    keys = tuple(rows[0])
    cache_key = (id(stmt), conn.dialect.name, keys)
    cached = _PLANS.get(cache_key)
    if cached is None or cached[0] is not stmt:
        cached = _PLANS[cache_key] = (stmt, _plan(conn, stmt, keys))
    plan = cached[1]
    if plan is None or any(row.keys() != plan.keys for row in rows):
        return conn.execute(stmt, list(rows))
    values, processors = plan.values, plan.processors
    params: list[tuple[Any, ...]] = []
    append = params.append
    if processors:
        for row in rows:
            v = list(values(row))
            for i, proc in processors:
                v[i] = proc(v[i])  # None too, as SQLAlchemy does (a JSON column's None is 'null')
            append(tuple(v))
    else:
        params = [values(row) for row in rows]
    if plan.names is not None:
        names = plan.names
        if arrays and plan.array_sql is not None and len(params) > 1:
            columns = zip(*params, strict=True)
            return conn.exec_driver_sql(plan.array_sql, {n: list(c) for n, c in zip(names, columns, strict=True)})
        return conn.exec_driver_sql(plan.sql, [dict(zip(names, p, strict=True)) for p in params])
    return conn.exec_driver_sql(plan.sql, params)
