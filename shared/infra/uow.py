"""The unit of work: one object per database transaction of the write path.

A consumer's batch and an HTTP command both open one (``ServiceRuntime.unit_of_work``) and
hand it to the handlers, which never see a bare session for writing. It owns:

- the session (synchronous: the whole transaction runs in one worker thread, see
  ``shared.infra.db``);
- the **stream heads** (:class:`StreamHead`) of the streams the transaction appends to, loaded
  once (or prefetched for a batch with :meth:`UnitOfWork.load_streams`) and written back with a
  compare-and-set on ``sequence`` at :meth:`UnitOfWork.commit`;
- the rows of the **outbox** (events and dead letters), the **inbox** (tracking records) and any
  other append-only rows (the approval service's history), kept in memory and written in a few
  bulk statements just before the commit: per-statement machinery, not SQLite, was where the
  time went;
- a **savepoint** per refused message: :meth:`UnitOfWork.savepoint` undoes both the message's
  SQL and its buffered writes when it raises a :class:`~shared.infra.errors.DomainError`.

Events are typed: :meth:`UnitOfWork.emit` takes a payload model of
``shared.contracts.events`` (its class name is the event type), builds the hash-chained
envelope and queues it for the relay; there is no dump-and-validate round trip.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import ClauseElement, ColumnElement, Table, bindparam, event, insert, select, tuple_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.util import find_tables

from shared.contracts.envelope import build_envelope, utcnow
from shared.contracts.events import EVENT_TYPES
from shared.contracts.upcasting import current_version
from shared.infra.bulk import executemany
from shared.infra.inlist import in_list
from shared.infra.logging import get_logger
from shared.infra.outbox import ConcurrencyConflict, dead_letter_row, outbox_row
from shared.infra.repository import CHUNK, Repository, Tracker, repository_for
from shared.infra.tables import InfraTables

log = get_logger(__name__)
T = TypeVar("T")


def _pk_of(obj: object) -> object:
    """The primary key value of a new (not yet flushed) mapped object: the value of its one
    key column, or the tuple of them for a composite key (as ``Session.get`` takes it)."""
    repo = repository_for(type(obj))
    if repo is not None:
        return repo.key_of(obj)
    mapper = sa_inspect(type(obj))
    values = tuple(getattr(obj, mapper.get_property_by_column(c).key) for c in mapper.primary_key)
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True, slots=True)
class Cause:
    """Who and what caused an event: the actor, the correlation id of the whole exchange and the
    id of the message or event that caused it (``http:<uuid>`` for an HTTP request)."""

    actor: dict[str, Any]
    correlation_id: str
    causation_id: str | None


@dataclass(slots=True)
class StreamHead:
    """The last event of a stream as this transaction sees it."""

    stream_id: str
    #: the sequence stored in the database when loaded; ``None`` for a new stream
    stored: int | None
    sequence: int
    last_hash: str | None


#: the ``Session.info`` key of the unit of work a session belongs to
_UOW = "antt.unit_of_work"


@event.listens_for(Session, "do_orm_execute")
def _before_orm_read(state: ORMExecuteState) -> None:
    """Every session's ORM statements pass here: one listener for the class, registered once,
    instead of ``event.listen`` and ``event.remove`` on each transaction's session, which went
    through SQLAlchemy's registry of per-instance listeners twice per transaction."""
    uow = state.session.info.get(_UOW)
    if uow is not None:
        uow._before_read(state)


class UnitOfWork:
    """One transaction of the write path; see the module docstring.

    Use as a context manager: leaving it without :meth:`commit` rolls everything back.
    """

    def __init__(self, session: Session, infra: InfraTables, *, producer: str, topic: str | None) -> None:
        self.session = session
        self.infra = infra
        self.producer = producer
        self.topic = topic
        self._streams: dict[str, StreamHead] = {}
        #: aggregates this transaction loaded or added, by (class, primary key), held strongly
        #: (the session's identity map holds them weakly, so a prefetched object nobody
        #: references would be dropped and loaded again one statement at a time; and it does
        #: not hold new objects before a flush), and the keys known to be absent
        self._known: dict[tuple[type, object], object] = {}
        self._absent: set[tuple[type, object]] = set()
        #: keys known to exist without their objects (``preload_keys``)
        self._present: set[tuple[type, object]] = set()
        #: read-ahead collections: (class, attribute) -> attribute value -> the objects with it
        self._children: dict[tuple[type, str], dict[object, list[object]]] = {}
        #: read-ahead rows of plain tables (``preload_rows``): (table, key) -> the row or None
        self._table_rows: dict[tuple[Table, object], Any] = {}
        #: (table, row, how): how is ("insert",), ("ignore",) (insert unless the key exists),
        #: ("update", key columns) or ("upsert", key columns, overwrite)
        self._rows: list[tuple[Table, dict[str, Any], tuple[Any, ...]]] = []
        #: how many of them are updates or upserts (written before any read, see _before_read)
        self._changes = 0
        #: the aggregates of classes with a Core repository (``shared.infra.repository``), by
        #: class, and the tables they live in (a read of one writes their changes first)
        self._trackers: dict[type, Tracker[Any]] = {}
        self._tracked_tables: set[Table] = set()
        #: what to undo for a refused message: ("row", row) | ("new", stream_id) |
        #: ("move", (head, sequence, hash)) | ("add", ((class, key), was_absent)) |
        #: ("write", (tracker, key, snapshot before)) for a repository's object written early
        self._journal: list[tuple[str, Any]] = []
        self._done = False
        #: streams this transaction appended to: messages parked waiting for them become due
        self._announced: set[str] = set()
        #: whether the commit made parked messages due (the committer then wakes the sweeper)
        self.parked_due = False

    # ------------------------------------------------------------------ transaction

    def __enter__(self) -> UnitOfWork:
        self.session.begin()
        self.session.info[_UOW] = self
        return self

    def _before_read(self, state: ORMExecuteState) -> None:
        """Read your own writes: the queued updates and upserts of read models are written
        before a query reads through the session (as the ORM autoflushes its objects), and so
        are the new and changed aggregates of a repository whose table the query reads. The
        queued inserts (outbox, inbox, history) are not read back in the transaction."""
        if not state.is_select:
            return
        if self._changes:
            self._write_rows(changes_only=True)
        if self._tracked_tables:
            read = self._tracked_tables.intersection(find_tables(cast(ClauseElement, state.statement), check_columns=True))
            if read:
                self._flush_trackers(read)

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._done:
                self.session.rollback()
        finally:
            self.session.close()
            # the session and this object refer to each other: undone here, the transaction's
            # aggregates and snapshots are freed now, not at the next collection
            self.session.info.pop(_UOW, None)
            self._known.clear()
            self._children.clear()
            self._table_rows.clear()
            self._trackers.clear()

    def commit(self) -> None:
        """Write the buffered rows and stream heads, then commit."""
        self.flush()
        self.session.commit()
        self._done = True

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT for one message: on any exception, its SQL and buffered writes are undone
        and the exception goes on (the caller dead-letters a refusal)."""
        # what is queued before the savepoint must not be written inside it: its rollback would
        # undo it; and the repositories' snapshots are then what the message starts from
        if self._changes:
            self._write_rows(changes_only=True)
        self._flush_trackers()
        for tracker in self._trackers.values():
            tracker.touched.clear()  # a new message: only what it is handed can change
        mark = len(self._journal)
        nested = self.session.begin_nested()
        try:
            yield
        except BaseException:
            for tracker in self._trackers.values():
                tracker.revert()
            self._undo_to(mark)
            if nested.is_active:
                nested.rollback()
            raise
        else:
            nested.commit()

    # ------------------------------------------------------------------ events

    def emit(
        self,
        event: BaseModel,
        cause: Cause,
        *,
        unit_year_id: str | None,
        stream_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Append ``event`` to its stream (next ``sequence``, hash chained) and to the outbox;
        return the envelope. The event type is the payload model's class."""
        event_type = type(event).__name__
        spec = EVENT_TYPES.get(event_type)
        if spec is None or spec[1] is not type(event) or spec[0] != self.topic:
            raise ValueError(f"{event_type} is not an event of {self.topic}")
        return self.append(
            event_type,
            event.model_dump(mode="json"),
            cause,
            unit_year_id=unit_year_id,
            stream_id=stream_id,
            occurred_at=occurred_at,
        )

    def append(
        self,
        event_type: str,
        payload: dict[str, Any],
        cause: Cause,
        *,
        unit_year_id: str | None,
        stream_id: str | None = None,
        occurred_at: datetime | None = None,
        topic: str | None = None,
    ) -> dict[str, Any]:
        """The untyped core of :meth:`emit`: append an envelope of ``event_type`` to its stream
        and to the outbox for ``topic`` (default: the service's event topic). Services call
        :meth:`emit`; this is for infrastructure tests and tools."""
        topic = topic or self.topic
        if topic is None:
            raise ValueError("this unit of work has no event topic")
        stream = stream_id or unit_year_id
        if not stream:
            raise ValueError("an event needs a unit_year_id or a stream_id")
        head = self._head(stream)
        env = build_envelope(
            event_type=event_type,
            payload=payload,
            producer=self.producer,
            actor=cause.actor,
            stream_id=stream,
            unit_year_id=unit_year_id,
            sequence=head.sequence + 1,
            prev_hash=head.last_hash,
            correlation_id=cause.correlation_id,
            causation_id=cause.causation_id,
            occurred_at=occurred_at,
            schema_version=current_version(event_type),
        )
        self._journal.append(("move", (head, head.sequence, head.last_hash)))
        head.sequence, head.last_hash = env["sequence"], env["hash"]
        self._announced.add(stream)
        self.add_row(self.infra.outbox, outbox_row(env, topic))
        log.info(
            "transition",
            event_type=event_type,
            unit_year_id=unit_year_id,
            state=payload.get("state"),
            event_id=env["event_id"],
            correlation_id=cause.correlation_id,
            sequence=env["sequence"],
        )
        return env

    def load_streams(self, stream_ids: Iterable[str]) -> None:
        """Load the heads of many streams in one statement (a batch's prefetch)."""
        wanted = [s for s in dict.fromkeys(stream_ids) if s not in self._streams]
        es = self.infra.event_streams
        found: dict[str, tuple[int, str]] = {}
        conn = self.session.connection()  # the heads are written at the commit only: nothing to write first
        stmt = _heads_select(es)
        for i in range(0, len(wanted), 500):
            rows = conn.execute(stmt, {"ids": wanted[i : i + 500]})
            found.update({r[0]: (r[1], r[2]) for r in rows})
        for s in wanted:
            seq, last = found.get(s, (None, None))
            self._streams[s] = StreamHead(s, seq, seq or 0, last)
            self._journal.append(("new", s))

    def _head(self, stream: str) -> StreamHead:
        head = self._streams.get(stream)
        if head is None:
            self.load_streams([stream])
            head = self._streams[stream]
        return head

    # ------------------------------------------------------------------ aggregates

    def _tracker(self, entity: type) -> Tracker[Any] | None:
        """The tracker of ``entity``'s repository in this transaction; ``None`` for a class the
        ORM maps."""
        tracker = self._trackers.get(entity)
        if tracker is None:
            repo: Repository[Any] | None = repository_for(entity)
            if repo is None:
                return None
            tracker = self._trackers[entity] = Tracker(repo)
            self._tracked_tables.add(repo.table)
        return tracker

    def _flush_trackers(self, tables: set[Table] | None = None, *, everything: bool = False) -> None:
        """Write the repositories' new and changed aggregates now (before a read of their
        ``tables``, default all: at a savepoint, at the commit); what is written inside a
        savepoint is journalled, so that a refused message's objects get their earlier values
        back. Only the objects handed out since the last message boundary are compared, but
        at the commit (``everything``)."""
        if not self._trackers:
            return
        conn = self.session.connection()
        for tracker in self._trackers.values():
            if tables is not None and tracker.repo.table not in tables:
                continue
            for key, before in tracker.flush(conn, everything=everything):
                self._journal.append(("write", (tracker, key, before)))

    def preload(self, entity: type, keys: Iterable[object]) -> None:
        """Load the ``entity`` objects with these primary keys in one statement per 500 keys;
        the keys not found are remembered as absent, so that :meth:`get` answers both without
        a statement."""
        wanted = [k for k in dict.fromkeys(keys) if (entity, k) not in self._known and (entity, k) not in self._absent]
        tracker = self._tracker(entity)
        if tracker is not None:
            # no flush first: the keys this transaction added or changed are known, not wanted
            repo = tracker.repo
            for loaded in tracker.load(self.session.connection(), wanted):
                self._known[(entity, repo.key_of(loaded))] = loaded
            self._absent.update((entity, k) for k in wanted if (entity, k) not in self._known)
            return
        columns: tuple[ColumnElement[Any], ...] = tuple(sa_inspect(entity).primary_key)
        pk: ColumnElement[Any] = columns[0] if len(columns) == 1 else tuple_(*columns)
        for i in range(0, len(wanted), 500):
            obj: object
            for obj in self.session.execute(select(entity).where(pk.in_(wanted[i : i + 500]))).scalars():
                self._known[(entity, _pk_of(obj))] = obj
        self._absent.update((entity, k) for k in wanted if (entity, k) not in self._known)

    def preload_keys(self, entity: type, keys: Iterable[object]) -> None:
        """Learn which of these primary keys exist, in one statement per 500 keys, without
        loading the objects: for :meth:`exists` (a projection that only needs to know)."""
        tracker = self._tracker(entity)
        columns: tuple[ColumnElement[Any], ...] = (
            tuple(sa_inspect(entity).primary_key)
            if tracker is None
            else tuple(tracker.repo.table.c[c] for c in tracker.repo.key_columns)
        )
        if len(columns) != 1:
            raise ValueError(f"{entity.__name__} has a composite key: use preload")
        wanted = [k for k in dict.fromkeys(keys) if (entity, k) not in self._known and (entity, k) not in self._absent]
        found: set[object] = set()
        # a repository's keys straight from the connection: rows are never deleted, and the
        # keys this transaction added are known, so its pending writes need not go first
        run = self.session.execute if tracker is None else self.session.connection().execute
        stmt = _keys_select(columns[0])
        for i in range(0, len(wanted), CHUNK):
            found.update(run(stmt, {"keys": wanted[i : i + CHUNK]}).scalars())
        for k in wanted:
            (self._present if k in found else self._absent).add((entity, k))

    def preload_rows(self, table: Table, keys: Iterable[object]) -> None:
        """Read ahead the rows of a plain table (one key column, no repository) with these
        keys, in one statement per 500 keys, for :meth:`row` (e.g. the claims of a batch's
        unit-years: one statement instead of one per decision)."""
        (column,) = table.primary_key.columns
        wanted = [k for k in dict.fromkeys(keys) if (table, k) not in self._table_rows]
        conn = self.session.connection()
        stmt = _rows_select(table)
        for i in range(0, len(wanted), CHUNK):
            for r in conn.execute(stmt, {"keys": wanted[i : i + CHUNK]}):
                self._table_rows[(table, r._mapping[column.name])] = r
        for k in wanted:
            self._table_rows.setdefault((table, k), None)

    def row(self, table: Table, key: object) -> Any:
        """The row of ``table`` with primary key ``key`` as this transaction sees it, or
        ``None``: read ahead by :meth:`preload_rows`, else one statement."""
        ref = (table, key)
        if ref in self._table_rows:
            return self._table_rows[ref]
        (column,) = table.primary_key.columns
        return self.session.connection().execute(select(table).where(column == key)).first()

    def write_row(self, table: Table, key: object, statement: Any) -> None:
        """Run a write ``statement`` on the row of ``table`` with key ``key`` now, and forget
        what was read ahead of it: the next :meth:`row` reads it again, so that a savepoint's
        rollback of the write needs no undo here."""
        self._table_rows.pop((table, key), None)
        self.session.connection().execute(statement)

    def exists(self, entity: type, key: object) -> bool:
        """Whether the aggregate exists in this transaction (loaded, added, or known from
        :meth:`preload_keys`), else one statement."""
        ref = (entity, key)
        if ref in self._known or ref in self._present:
            return True
        if ref in self._absent:
            return False
        return self.get(entity, key) is not None

    def get(self, entity: type[T], key: object) -> T | None:
        """The aggregate ``entity`` with primary key ``key``, or ``None``: from what this
        transaction loaded or added, else one statement."""
        ref = (entity, key)
        known = self._known.get(ref)
        if known is not None:
            if self._trackers and (tracker := self._trackers.get(entity)) is not None:
                tracker.touch(key, known)
            return cast(T, known)
        if ref in self._absent:
            return None
        tracker = self._tracker(entity)
        if tracker is not None:
            found = tracker.load(self.session.connection(), [key])
            obj = found[0] if found else None
            if obj is not None:
                tracker.touch(key, obj)
        else:
            obj = self.session.get(entity, key)
        if obj is None:
            self._absent.add(ref)
        else:
            self._known[ref] = obj
        return obj

    def preload_children(self, entity: type, attribute: str, values: Iterable[object]) -> None:
        """Load every ``entity`` whose ``attribute`` is one of ``values`` (e.g. the incidents of
        a batch's units) in one statement per 500 values, for :meth:`children`."""
        index = self._children.setdefault((entity, attribute), {})
        wanted = [v for v in dict.fromkeys(values) if v not in index]
        for v in wanted:
            index[v] = []
        tracker = self._tracker(entity)
        if tracker is not None:
            repo = tracker.repo
            self._flush_trackers({repo.table})  # the children added or changed so far are read back
            stmt = repo.by_column(attribute)
            conn = self.session.connection()
            for i in range(0, len(wanted), CHUNK):
                for child in tracker.adopt(conn.execute(stmt, {"values": wanted[i : i + CHUNK]})):
                    index[getattr(child, attribute)].append(child)
                    self._known.setdefault((entity, repo.key_of(child)), child)
            return
        column = getattr(entity, attribute)
        for i in range(0, len(wanted), 500):
            obj: object
            for obj in self.session.execute(select(entity).where(column.in_(wanted[i : i + 500]))).scalars():
                index[getattr(obj, attribute)].append(obj)
                self._known.setdefault((entity, _pk_of(obj)), obj)

    def children(self, entity: type[T], attribute: str, value: object) -> list[T] | None:
        """The ``entity`` objects whose ``attribute`` is ``value``, loaded by
        :meth:`preload_children` or added since; ``None`` when they were not read ahead."""
        found = self._children.get((entity, attribute), {}).get(value)
        if found is None:
            return None
        tracker = self._trackers.get(entity)
        if tracker is not None:
            key_of = tracker.repo.key_of
            for obj in found:
                tracker.touch(key_of(obj), obj)
        return list(found)  # type: ignore[arg-type]

    def select(self, entity: type[T], *where: Any, order_by: Iterable[Any] = ()) -> list[T]:
        """The ``entity`` objects whose rows match ``where``, in ``order_by`` order, as this
        transaction sees them (its pending writes first; an object already loaded is the same
        object, its changes kept)."""
        tracker = self._tracker(entity)
        if tracker is None:
            q = select(entity).where(*where).order_by(*order_by)
            found: list[T] = list(self.session.execute(q).scalars())
            for obj in found:
                self._known.setdefault((entity, _pk_of(obj)), obj)
            return found
        if self._changes:
            self._write_rows(changes_only=True)
        repo = tracker.repo
        stmt = repo.statement().where(*where).order_by(*order_by)
        self._flush_trackers(self._tracked_tables.intersection(find_tables(stmt, check_columns=True)))
        objs: list[T] = tracker.adopt(self.session.connection().execute(stmt))
        for obj in objs:
            key = repo.key_of(obj)
            self._known.setdefault((entity, key), obj)
            tracker.touch(key, obj)
        return objs

    def add(self, obj: object) -> None:
        """Add a new aggregate to the transaction (it is written at the commit). A refused
        message's savepoint takes it out again."""
        tracker = self._tracker(type(obj))
        if tracker is None:
            self.session.add(obj)
            ref = (type(obj), _pk_of(obj))
        else:
            ref = (type(obj), tracker.add(obj))
        self._journal.append(("add", (ref, ref in self._absent)))
        self._known[ref] = obj
        self._absent.discard(ref)
        for (entity, attribute), index in self._children.items():
            if entity is type(obj) and (group := index.get(getattr(obj, attribute))) is not None:
                group.append(obj)

    # ------------------------------------------------------------------ rows

    def add_row(self, table: Table, row: dict[str, Any], *, ignore_conflict: bool = False) -> None:
        """Queue an insert for the commit (``ignore_conflict``: skip a row whose key exists)."""
        self._queue(table, row, ("ignore",) if ignore_conflict else ("insert",))

    def update_row(self, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Queue ``UPDATE table SET values WHERE key``: the updates of a batch with the same
        columns go in one executemany. For read models that a message changes without loading
        them (the caller knows whether the row exists, or does not mind)."""
        self._queue(table, {**{f"k_{c}": v for c, v in key.items()}, **values}, ("update", tuple(key)))

    def upsert_row(self, table: Table, key: dict[str, Any], values: dict[str, Any], *, overwrite: bool = True) -> None:
        """Queue an insert of ``key`` + ``values`` that, when ``key`` exists, updates ``values``
        (``overwrite``) or leaves the row as it is (``shared.infra.projections.upsert``)."""
        self._queue(table, {**key, **values}, ("upsert", tuple(key), overwrite))

    def _queue(self, table: Table, row: dict[str, Any], how: tuple[Any, ...]) -> None:
        self._rows.append((table, row, how))
        self._journal.append(("row", row))
        if how[0] in ("update", "upsert"):
            self._changes += 1

    def record_inbox(self, message_id: str, topic: str, partition: int, offset: int, outcome: str) -> None:
        """The tracking record of a processed message (the inbox)."""
        self.add_row(
            self.infra.inbox,
            {
                "message_id": message_id,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "outcome": outcome,
                "processed_at": utcnow(),
            },
        )

    def dead_letter(self, **kwargs: Any) -> str:
        """Queue a rejected message for ``<source_topic>.dlq`` (see ``outbox.dead_letter_row``)."""
        row = dead_letter_row(**kwargs)
        self.add_row(self.infra.outbox, row)
        return str(row["event_id"])

    # ------------------------------------------------------------------ writing

    def _undo_to(self, mark: int) -> None:
        while len(self._journal) > mark:
            kind, data = self._journal.pop()
            if kind == "row":
                # a row already written (before a read) is undone by the savepoint's rollback
                if self._rows and self._rows[-1][1] is data:
                    _, _, how = self._rows.pop()
                    if how[0] in ("update", "upsert"):
                        self._changes -= 1
            elif kind == "write":
                tracker, key, before = data
                tracker.undo_write(key, before)
            elif kind == "add":
                ref, was_absent = data
                tracker = self._trackers.get(ref[0])
                if tracker is not None:
                    tracker.forget(ref[1])
                obj = self._known.pop(ref, None)
                for (entity, attribute), index in self._children.items():
                    if obj is not None and entity is type(obj):
                        group = index.get(getattr(obj, attribute))
                        if group and group[-1] is obj:
                            group.pop()
                if was_absent:
                    self._absent.add(ref)
            elif kind == "new":
                self._streams.pop(data, None)
            else:
                head, seq, last = data
                head.sequence, head.last_hash = seq, last

    def flush(self) -> None:
        """Write the stream heads (compare-and-set on the sequence), then the rows in bulk, in
        the order they were added per table."""
        self.session.flush()
        self._flush_trackers(everything=True)
        es = self.infra.event_streams
        new = [
            {"stream_id": h.stream_id, "sequence": h.sequence, "last_hash": h.last_hash}
            for h in self._streams.values()
            if h.stored is None and h.sequence
        ]
        conn = self.session.connection()
        if new:
            executemany(conn, _statement(es, ("insert",), (), False), new)
        moved = [
            {"b_stream": h.stream_id, "b_stored": h.stored, "b_sequence": h.sequence, "b_hash": h.last_hash}
            for h in self._streams.values()
            if h.stored is not None and h.stored != h.sequence
        ]
        if moved:
            # one executemany of compare-and-set updates; both drivers sum the rows it changed
            # (``supports_sane_multi_rowcount``), so one stream that moved on is noticed
            res = executemany(conn, _head_update(es), moved)
            if res.rowcount != len(moved):
                streams = ", ".join(str(m["b_stream"]) for m in moved[:5])
                raise ConcurrencyConflict(
                    f"{len(moved) - res.rowcount} of the streams {streams}{'...' if len(moved) > 5 else ''} moved on concurrently"
                )
        self._write_rows()
        self._streams.clear()
        self._journal.clear()
        self._wake_parked()

    def _wake_parked(self) -> None:
        """Make the messages parked waiting for a stream this transaction appended to due now
        (``shared.infra.parking``). A stream that a refused message touched is woken too: the
        retry then finds it still unknown and parks the message again, which is harmless."""
        if not self._announced:
            return
        pm = self.infra.parked_messages
        streams = list(self._announced)
        self._announced.clear()
        if self.session.connection().execute(_any_parked(pm)).first() is None:
            return  # nothing is parked: the usual case, one cheap statement
        now = utcnow()
        for i in range(0, len(streams), 500):
            res = self.session.execute(
                update(pm).where(pm.c.stream_id.in_(streams[i : i + 500]), pm.c.next_try_at > now).values(next_try_at=now)
            )
            if res.rowcount:  # type: ignore[attr-defined]
                self.parked_due = True

    def _write_rows(self, *, changes_only: bool = False) -> None:
        """Write the queued rows in bulk: the inserts of a table in one executemany (their
        order within the table kept), its updates and upserts in runs of the same shape, in
        the order they were queued (``changes_only``: just the updates and upserts)."""
        todo = [r for r in self._rows if not changes_only or r[2][0] in ("update", "upsert")]
        self._rows = [r for r in self._rows if changes_only and r[2][0] not in ("update", "upsert")]
        self._changes = 0
        runs: dict[tuple[Any, ...], tuple[Table, list[dict[str, Any]]]] = {}
        last_shape: dict[str, tuple[Any, ...]] = {}
        for table, row, how in todo:
            if how[0] in ("insert", "ignore"):
                key: tuple[Any, ...] = (table.name, how)
            else:
                shape = (how, tuple(row))
                if last_shape.get(table.name, (None,))[:2] != shape:
                    last_shape[table.name] = (*shape, len(runs))
                key = (table.name, *last_shape[table.name])
            runs.setdefault(key, (table, []))[1].append(row)
        conn = self.session.connection()
        pg = conn.dialect.name == "postgresql"
        for key, (table, rows) in runs.items():
            how = key[1]
            stmt = _statement(table, how, tuple(rows[0]), pg)
            if how[0] == "upsert":
                keys, overwrite = how[1], how[2]
                # one row per key (a statement may not touch a row twice): the newest for an
                # overwrite, the first otherwise, as one statement per row would have left it
                by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
                for row in rows:
                    k = tuple(row[c] for c in keys)
                    if overwrite or k not in by_key:
                        by_key.pop(k, None)
                        by_key[k] = row
                rows = list(by_key.values())
            executemany(conn, stmt, rows)


# The statements of the flush and of the stream heads are built once each (``functools.cache``
# on the table and the shape): an upsert's ``excluded`` columns and a statement's cache key
# were costly to make again for every batch.


@functools.cache
def _any_parked(pm: Table) -> Any:
    """Whether anything is parked at all (the probe every transaction that appends makes)."""
    return select(pm.c.id).limit(1)


@functools.cache
def _keys_select(column: ColumnElement[Any]) -> Any:
    """Which of the keys bound as ``keys`` a key column holds (``UnitOfWork.preload_keys``)."""
    return select(column).where(in_list(column, "keys"))


@functools.cache
def _rows_select(table: Table) -> Any:
    """The rows of a one-key table whose keys are bound as ``keys`` (``UnitOfWork.preload_rows``)."""
    (column,) = table.primary_key.columns
    return select(table).where(in_list(column, "keys"))


@functools.cache
def _heads_select(es: Table) -> Any:
    """The read of the stream heads whose ids are bound as ``ids``."""
    return select(es.c.stream_id, es.c.sequence, es.c.last_hash).where(in_list(es.c.stream_id, "ids")).with_for_update()


@functools.cache
def _head_update(es: Table) -> Any:
    """The compare-and-set update of stream heads."""
    return (
        update(es)
        .where(es.c.stream_id == bindparam("b_stream"), es.c.sequence == bindparam("b_stored"))
        .values(sequence=bindparam("b_sequence"), last_hash=bindparam("b_hash"))
    )


@functools.cache
def _statement(table: Table, how: tuple[Any, ...], columns: tuple[str, ...], pg: bool) -> Any:
    """The statement that writes rows of ``table`` with these ``columns`` the way ``how`` says
    (see ``UnitOfWork._rows``)."""
    if how[0] == "insert":
        return insert(table)
    if how[0] == "ignore":
        return (postgresql.insert(table) if pg else sqlite.insert(table)).on_conflict_do_nothing()
    if how[0] == "update":
        params = {f"k_{c}" for c in how[1]}
        return (
            update(table)
            .where(*(table.c[c] == bindparam(f"k_{c}") for c in how[1]))
            .values({c: bindparam(c) for c in columns if c not in params})
        )
    _, keys, overwrite = how
    ins = postgresql.insert(table) if pg else sqlite.insert(table)
    if overwrite:
        return ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in columns if c not in keys})
    return ins.on_conflict_do_nothing(index_elements=list(keys))
