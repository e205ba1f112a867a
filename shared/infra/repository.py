"""Core repositories: aggregates mapped to their tables without the ORM.

The ORM's unit of work was about a quarter of each service's CPU on the write path: building
instrumented instances and identity-map states on load, attribute history on every change,
and a flush that works out, object by object, what to write. A service's aggregates are plain
dataclasses whose fields are the columns of one table with a ``version`` counter, and a
transaction loads them in bulk (``UnitOfWork.preload``) and changes a few of them, so a
simpler bookkeeping does the same job:

- :class:`Repository` maps a dataclass to its ``Table``: a row becomes an instance (its
  ``__dict__`` filled from the row, ``__init__`` skipped, as the ORM does) and back;
- :class:`Tracker` holds, for one unit of work, the objects loaded from one repository (the
  identity map: a key loaded twice is the same object) with a **snapshot** of the column values
  they had in the database, and the objects added since. :meth:`Tracker.flush` compares each
  object with its snapshot and writes the changed ones with one executemany
  ``UPDATE ... WHERE pk = :pk AND version = :version`` per table and shape of change (the
  version bumped; fewer rows changed than sent means another writer got there first:
  :class:`~shared.infra.outbox.ConcurrencyConflict`, as the ORM's ``StaleDataError`` did), and
  the new ones with one executemany ``INSERT``.

Only the objects a message was handed (``get``, ``children``, ``select``, or added) are
compared when its transaction writes before a read or at a message's savepoint, so that a
batch run message by message costs what its messages touch, not the batch's read-ahead times
its messages; the commit compares them all. The rule this rests on is the handlers': an
aggregate is changed by the message whose handler obtained it from the unit of work.

JSON columns are compared by their serialised form (orjson, as the engine writes them), so an
in-place change of a list or dict (``case.incident_ids.append(...)``) is written too, which the
ORM's plain ``JSON`` type would have missed.

A class becomes a repository's with :func:`register` (``services/*/orm.py``, where the
tables live); the unit of work (``shared.infra.uow``) sends the registered classes through
their repository and the others through the ORM.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import JSON, ColumnElement, Connection, Table, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from shared.infra.bulk import executemany
from shared.infra.inlist import in_list
from shared.infra.outbox import ConcurrencyConflict

T = TypeVar("T")

#: how many keys go in one ``IN (...)``
CHUNK = 500


class Repository(Generic[T]):
    """The mapping of the dataclass ``entity`` to ``table`` (one field per column, same names).

    Its own reads (:meth:`get`, :meth:`select`) build untracked objects, for the queries of
    the HTTP API; a unit of work tracks what it loads through a :class:`Tracker`.
    """

    def __init__(self, entity: type[T], table: Table, *, version: str = "version") -> None:
        if not is_dataclass(entity):
            raise TypeError(f"{entity.__name__} is not a dataclass")
        names = {f.name for f in fields(entity)}
        missing = [c.name for c in table.c if c.name not in names]
        if missing:
            raise TypeError(f"{entity.__name__} has no field for the columns {', '.join(missing)} of {table.name}")
        if version not in table.c:
            raise TypeError(f"{table.name} has no version column {version!r}")
        self.entity = entity
        self.table = table
        self.columns: tuple[str, ...] = tuple(c.name for c in table.c)
        self.key_columns: tuple[str, ...] = tuple(c.name for c in table.primary_key.columns)
        self.version = version
        #: positions of the JSON columns in :attr:`columns` (compared by their serialised form)
        self._json = tuple(i for i, c in enumerate(table.c) if isinstance(c.type, JSON))
        self._version_at = self.columns.index(version)
        self._key_at = tuple(self.columns.index(c) for c in self.key_columns)
        #: an object's column values from its ``__dict__``, in :attr:`columns` order
        self._values = operator.itemgetter(*self.columns)
        pk: list[ColumnElement[Any]] = [table.c[c] for c in self.key_columns]
        #: the key as one expression, for ``IN (...)``
        self.key_expr: ColumnElement[Any] = pk[0] if len(pk) == 1 else tuple_(*pk)
        self._updates: dict[tuple[str, ...], Any] = {}
        self._insert = insert(table)
        #: ``statement()`` of the rows whose key is in the list bound as ``keys`` (built once:
        #: making and hashing a new statement for each read was a visible share of a batch)
        self.by_keys = self.statement().where(
            in_list(pk[0], "keys") if len(pk) == 1 else self.key_expr.in_(bindparam("keys", expanding=True))
        )
        self._by_column: dict[str, Any] = {}

    # ------------------------------------------------------------------ rows and objects

    def key_of(self, obj: object) -> object:
        """The primary key of ``obj``: the value of its one key column, or the tuple of them
        (in the table's order, as ``UnitOfWork.get`` takes it)."""
        if len(self.key_columns) == 1:
            return getattr(obj, self.key_columns[0])
        return tuple(getattr(obj, c) for c in self.key_columns)

    def key_of_row(self, row: Sequence[Any]) -> object:
        at = self._key_at
        return row[at[0]] if len(at) == 1 else tuple(row[i] for i in at)

    def build(self, row: Sequence[Any]) -> T:
        """An instance from a row of :meth:`statement` (``__init__`` is not run: the row is
        what the object was when written)."""
        obj = self.entity.__new__(self.entity)
        obj.__dict__.update(zip(self.columns, row, strict=True))
        return obj

    def values(self, obj: object) -> tuple[Any, ...]:
        return self._values(obj.__dict__)  # type: ignore[no-any-return]

    def snapshot(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """What :meth:`Tracker.flush` compares: the values, JSON columns serialised (so that
        the snapshot does not share the object's mutable lists and dicts)."""
        out = list(values)
        for i in self._json:
            v = out[i]
            if v is not None:
                out[i] = orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)
        return tuple(out)

    def restore(self, obj: object, snapshot: Sequence[Any]) -> None:
        """Put ``obj`` back as ``snapshot`` had it (a refused message's changes undone)."""
        js = frozenset(self._json)
        obj.__dict__.update(
            {
                c: (None if v is None else orjson.loads(v)) if i in js else v
                for i, (c, v) in enumerate(zip(self.columns, snapshot, strict=True))
            }
        )

    def statement(self) -> Any:
        """``SELECT`` of every column, in :attr:`columns` order."""
        return select(*self.table.c)

    def by_column(self, column: str) -> Any:
        """``statement()`` of the rows whose ``column`` is in the list bound as ``values``."""
        stmt = self._by_column.get(column)
        if stmt is None:
            stmt = self._by_column[column] = self.statement().where(in_list(self.table.c[column], "values"))
        return stmt

    # ------------------------------------------------------------------ plain reads

    def get(self, session: Session, key: object) -> T | None:
        """The object with primary key ``key`` (untracked), or ``None``."""
        row = session.execute(self.statement().where(self._key_equals(key))).first()
        return None if row is None else self.build(row)

    def select(
        self, session: Session, *where: Any, order_by: Iterable[Any] = (), limit: int | None = None, offset: int = 0
    ) -> list[T]:
        """The objects whose rows match ``where`` (untracked), in ``order_by`` order."""
        stmt = self.statement().where(*where).order_by(*order_by)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        return [self.build(r) for r in session.execute(stmt)]

    def _key_equals(self, key: object) -> ColumnElement[bool]:
        if len(self.key_columns) == 1:
            return self.table.c[self.key_columns[0]] == key
        if not isinstance(key, tuple) or len(key) != len(self.key_columns):
            raise ValueError(f"{self.entity.__name__} has the key ({', '.join(self.key_columns)}): got {key!r}")
        return tuple_(*(self.table.c[c] for c in self.key_columns)) == tuple_(*key)

    # ------------------------------------------------------------------ writing

    def _update(self, changed: tuple[str, ...]) -> Any:
        """``UPDATE table SET <changed>, version = version + 1 WHERE pk AND version``, one per
        shape of change (cached: a batch has few)."""
        stmt = self._updates.get(changed)
        if stmt is None:
            t = self.table
            stmt = (
                update(t)
                .where(*(t.c[c] == bindparam(f"b_{c}") for c in self.key_columns), t.c[self.version] == bindparam("b_version"))
                .values({**{c: bindparam(c) for c in changed}, self.version: t.c[self.version] + 1})
            )
            self._updates[changed] = stmt
        return stmt


#: the repositories, by the class they map (``register``)
_REPOSITORIES: dict[type, Repository[Any]] = {}


def register(entity: type[T], table: Table, *, version: str = "version") -> Repository[T]:
    """Map ``entity`` to ``table`` with a Core repository: units of work then load, track and
    write it without the ORM. Once per class (``services/*/orm.py``)."""
    known = _REPOSITORIES.get(entity)
    if known is not None:
        if known.table is not table:
            raise ValueError(f"{entity.__name__} is already mapped to {known.table.name}")
        return known
    repo = Repository(entity, table, version=version)
    _REPOSITORIES[entity] = repo
    return repo


def repository_for(entity: type[T]) -> Repository[T] | None:
    """The repository of ``entity``, or ``None`` (an ORM-mapped class)."""
    return _REPOSITORIES.get(entity)


class Tracker(Generic[T]):
    """One repository's objects in one unit of work: the identity map, the snapshots of what
    the database holds, the objects added and not written yet. See the module docstring."""

    def __init__(self, repo: Repository[T]) -> None:
        self.repo = repo
        #: objects that have a row (loaded, or inserted by this transaction), by key
        self.persistent: dict[object, T] = {}
        #: the row of each persistent object as the database has it in this transaction
        self.stored: dict[object, tuple[Any, ...]] = {}
        #: objects added and not inserted yet, by key, in the order added
        self.new: dict[object, T] = {}
        #: the persistent objects handed out (``get``, ``children``, ``select``) since the last
        #: message boundary (a savepoint, the commit): the only ones a handler can have
        #: changed since then, so the only ones a write in the middle of a batch compares
        self.touched: dict[object, T] = {}

    def adopt(self, rows: Iterable[Sequence[Any]]) -> list[T]:
        """The objects of these rows: the one already known for a key (its unwritten changes
        kept, as an identity map does), else a new one, tracked."""
        repo = self.repo
        out: list[T] = []
        for row in rows:
            key = repo.key_of_row(row)
            obj = self.persistent.get(key)
            if obj is None:
                obj = self.new.get(key)
            if obj is None:
                obj = repo.build(row)
                self.persistent[key] = obj
                self.stored[key] = repo.snapshot(row)
            out.append(obj)
        return out

    def touch(self, key: object, obj: T) -> None:
        if key in self.persistent:
            self.touched[key] = obj

    def load(self, conn: Connection, keys: Sequence[object]) -> list[T]:
        """Load the rows of these keys, ``CHUNK`` keys a statement."""
        repo = self.repo
        out: list[T] = []
        for i in range(0, len(keys), CHUNK):
            out.extend(self.adopt(conn.execute(repo.by_keys, {"keys": list(keys[i : i + CHUNK])})))
        return out

    def add(self, obj: T) -> object:
        key = self.repo.key_of(obj)
        self.new[key] = obj
        return key

    def forget(self, key: object) -> None:
        """Drop an object the transaction added (a refused message's), written or not."""
        self.new.pop(key, None)
        self.touched.pop(key, None)
        if self.persistent.pop(key, None) is not None:
            self.stored.pop(key, None)

    def dirty(self, *, everything: bool = False) -> list[tuple[object, T, tuple[Any, ...]]]:
        """The objects handed out (``everything``: all persistent objects) that differ from
        their snapshot: (key, object, current snapshot)."""
        repo = self.repo
        out = []
        for key, obj in (self.persistent if everything else self.touched).items():
            now = repo.snapshot(repo.values(obj))
            if now != self.stored[key]:
                out.append((key, obj, now))
        return out

    def revert(self) -> None:
        """Put every changed object back as its snapshot has it (a refused message)."""
        for key, obj, _ in self.dirty():
            self.repo.restore(obj, self.stored[key])

    def flush(self, conn: Connection, *, everything: bool = False) -> list[tuple[object, tuple[Any, ...] | None]]:
        """Write the new objects and the changed ones (of those handed out; ``everything``:
        of all, at the commit); return, for the unit of work's journal, each key written with
        the snapshot it had before (``None``: inserted)."""
        repo = self.repo
        written: list[tuple[object, tuple[Any, ...] | None]] = []
        changed = self.dirty(everything=everything)
        if changed:
            v = repo._version_at
            by_shape: dict[tuple[str, ...], list[tuple[object, T, tuple[Any, ...]]]] = {}
            for key, obj, now in changed:
                old = self.stored[key]
                shape = tuple(c for i, c in enumerate(repo.columns) if i != v and now[i] != old[i])
                if shape:  # else only the version was touched: nothing to write
                    by_shape.setdefault(shape, []).append((key, obj, now))
            for shape, items in by_shape.items():
                params = []
                for key, obj, _ in items:
                    d = obj.__dict__
                    p = {c: d[c] for c in shape}
                    p.update({f"b_{c}": d[c] for c in repo.key_columns})
                    p["b_version"] = self.stored[key][v]
                    params.append(p)
                res = executemany(conn, repo._update(shape), params)
                if res.rowcount != len(params):
                    keys = ", ".join(str(k) for k, _, _ in items[:5])
                    raise ConcurrencyConflict(
                        f"{len(params) - res.rowcount} of the {repo.table.name} rows {keys}"
                        f"{'...' if len(items) > 5 else ''} were changed concurrently (version moved on)"
                    )
            for items in by_shape.values():
                for key, obj, now in items:
                    before = self.stored[key]
                    written.append((key, before))
                    obj.__dict__[repo.version] = before[v] + 1
                    self.stored[key] = (*now[:v], before[v] + 1, *now[v + 1 :])
        if self.new:
            rows = []
            for obj in self.new.values():
                obj.__dict__[repo.version] = 1
                rows.append(dict(zip(repo.columns, repo.values(obj), strict=True)))
            executemany(conn, repo._insert, rows)
            for key, obj in self.new.items():
                self.persistent[key] = obj
                self.touched[key] = obj  # its handler may still change it
                self.stored[key] = repo.snapshot(repo.values(obj))
                written.append((key, None))
            self.new.clear()
        return written

    def undo_write(self, key: object, before: tuple[Any, ...] | None) -> None:
        """Undo one write of :meth:`flush` in memory (the SAVEPOINT's rollback undoes it in
        the database): an update's object gets its earlier snapshot back, an inserted object
        is forgotten."""
        if before is None:
            self.forget(key)
            return
        obj = self.persistent.get(key)
        if obj is not None:
            self.repo.restore(obj, before)
            self.stored[key] = before
