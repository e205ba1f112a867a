"""``column IN (<a list>)`` with the list bound as **one** parameter, for the write path's reads
by key (a batch's aggregates, stream heads, inbox rows, read-ahead rows).

SQLAlchemy's expanding ``IN`` renders one placeholder per value at every execution: the
statement's text changes with the list's length, so SQLAlchemy processes every value in Python
and writes a new SQL string, and the database parses and plans a new statement each time
(SQLite's statement cache and psycopg's prepared statements never see the same text twice).
A batch reads a few hundred keys in each of several such statements. Bound as one value the
text stays the same, so the driver's prepared statement is reused:

- **PostgreSQL**: ``column = ANY(%(keys)s::TEXT[])``, the list adapted by psycopg as an array;
- **SQLite**: ``column IN (SELECT value FROM json_each(?))``, the list bound as JSON text
  (SQLite searches the column's index for each value of the list, as for a literal list).

``bench.statements`` measures both forms (100–400 keys out of 20,000 a read): on PostgreSQL
1.16 ms of the client's CPU and 2.17 ms of the server's with an expanding ``IN``, against 0.50
and 0.53 ms bound as an array; on SQLite 0.85 against 0.62 ms (``docs/benchmarks.md``, "At
8d4577c" and "At 9d63aab"). Other databases get SQLAlchemy's expanding ``IN``.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import BigInteger, Boolean, Enum, Integer, String, Text, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine


class KeyList(TypeDecorator[list[Any]]):
    """The type of a list bound as one parameter: a PostgreSQL array of the column's kind of
    value, JSON text elsewhere."""

    impl = Text
    cache_ok = True

    def __init__(self, integers: bool = False) -> None:
        super().__init__()
        #: the keys are integers (else text)
        self.integers = integers

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger if self.integers else Text))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            raise ValueError("a key list cannot be None")
        if dialect.name == "postgresql":
            return list(value)
        return orjson.dumps(list(value)).decode("utf-8")


class InList(ColumnElement[bool]):
    """``column IN`` the list bound as ``keys`` (see the module docstring)."""

    __visit_name__ = "in_list"
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("keys", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()
    #: a condition already: SQLite is not to compare it with ``= 1``
    _is_implicitly_boolean = True

    def __init__(self, column: ColumnElement[Any], keys: BindParameter[Any]) -> None:
        self.column = column
        self.keys = keys


def in_list(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN (...)`` of the list bound as ``name`` (a list or tuple of the column's
    values). Text and integer columns bind it as one value; a column of another type (a date,
    an enumeration, whose values the column's own type converts) keeps the expanding ``IN``."""
    kind = column.type
    if isinstance(kind, Integer):
        return InList(column, bindparam(name, type_=KeyList(integers=True)))
    if isinstance(kind, String) and not isinstance(kind, Enum):
        return InList(column, bindparam(name, type_=KeyList(integers=False)))
    return column.in_(bindparam(name, expanding=True))


@compiles(InList)
def _expanding(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    expr = element.column.in_(bindparam(element.keys.key, expanding=True))
    return str(compiler.process(expr, **kw))


@compiles(InList, "postgresql")
def _any_array(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY ({compiler.process(element.keys, **kw)})"


@compiles(InList, "sqlite")
def _json_each(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(element.keys, **kw)}))"
