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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.contracts.envelope import build_envelope, utcnow
from shared.contracts.events import EVENT_TYPES
from shared.contracts.upcasting import current_version
from shared.infra.logging import get_logger
from shared.infra.outbox import ConcurrencyConflict, dead_letter_row, outbox_row
from shared.infra.tables import InfraTables

log = get_logger(__name__)


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
        self._rows: list[tuple[Table, dict[str, Any], bool]] = []
        #: what to undo for a refused message: ("row", None) | ("new", stream_id) | ("move", (head, sequence, hash))
        self._journal: list[tuple[str, Any]] = []
        self._done = False
        #: streams this transaction appended to: messages parked waiting for them become due
        self._announced: set[str] = set()
        #: whether the commit made parked messages due (the committer then wakes the sweeper)
        self.parked_due = False

    # ------------------------------------------------------------------ transaction

    def __enter__(self) -> UnitOfWork:
        self.session.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._done:
                self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        """Write the buffered rows and stream heads, then commit."""
        self.flush()
        self.session.commit()
        self._done = True

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT for one message: on any exception, its SQL and buffered writes are undone
        and the exception goes on (the caller dead-letters a refusal)."""
        mark = len(self._journal)
        nested = self.session.begin_nested()
        try:
            yield
        except BaseException:
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
            event_type, event.model_dump(mode="json"), cause, unit_year_id=unit_year_id, stream_id=stream_id, occurred_at=occurred_at
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
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self.session.execute(
                select(es.c.stream_id, es.c.sequence, es.c.last_hash).where(es.c.stream_id.in_(chunk)).with_for_update()
            )
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

    # ------------------------------------------------------------------ rows

    def add_row(self, table: Table, row: dict[str, Any], *, ignore_conflict: bool = False) -> None:
        """Queue an insert for the commit (``ignore_conflict``: skip a row whose key exists)."""
        self._rows.append((table, row, ignore_conflict))
        self._journal.append(("row", None))

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
                self._rows.pop()
            elif kind == "new":
                self._streams.pop(data, None)
            else:
                head, seq, last = data
                head.sequence, head.last_hash = seq, last

    def flush(self) -> None:
        """Write the stream heads (compare-and-set on the sequence), then the rows in bulk, in
        the order they were added per table."""
        self.session.flush()
        es = self.infra.event_streams
        new = [{"stream_id": h.stream_id, "sequence": h.sequence, "last_hash": h.last_hash} for h in self._streams.values() if h.stored is None and h.sequence]
        if new:
            self.session.execute(insert(es), new)
        for h in self._streams.values():
            if h.stored is None or h.stored == h.sequence:
                continue
            res = self.session.execute(
                update(es).where(es.c.stream_id == h.stream_id, es.c.sequence == h.stored).values(sequence=h.sequence, last_hash=h.last_hash)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrencyConflict(f"stream {h.stream_id} moved on concurrently")
        groups: dict[tuple[str, bool], tuple[Table, list[dict[str, Any]]]] = {}
        for table, row, ignore in self._rows:
            groups.setdefault((table.name, ignore), (table, []))[1].append(row)
        dialect = self.session.get_bind().dialect.name
        for (_, ignore), (table, rows) in groups.items():
            if ignore:
                stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
                self.session.execute(stmt, rows)
            else:
                self.session.execute(insert(table), rows)
        self._streams.clear()
        self._rows.clear()
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
        if self.session.execute(select(pm.c.id).limit(1)).first() is None:
            return  # nothing is parked: the usual case, one cheap statement
        now = utcnow()
        for i in range(0, len(streams), 500):
            res = self.session.execute(
                update(pm).where(pm.c.stream_id.in_(streams[i : i + 500]), pm.c.next_try_at > now).values(next_try_at=now)
            )
            if res.rowcount:  # type: ignore[attr-defined]
                self.parked_due = True

