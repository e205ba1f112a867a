"""Writing events and dead letters to the transactional outbox."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import topics
from shared.contracts.events import EVENT_TYPES
from shared.contracts.upcasting import current_version
from shared.contracts.envelope import build_envelope, rfc3339, utcnow
from shared.infra.logging import get_logger
from shared.infra.tables import InfraTables

_log = get_logger(__name__)


class ConcurrencyConflict(Exception):
    """Another transaction advanced the same stream or aggregate first: retry."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WriteBuffer:
    """Writes of one transaction kept until :func:`flush_writes`: stream heads, outbox rows and
    other append-only rows (inbox, history), sent as a few bulk statements before the commit.

    Every change is journalled, so the writes of one message can be undone (:meth:`undo_to`)
    when that message is refused, as a SAVEPOINT would undo its SQL.
    """

    def __init__(self) -> None:
        #: stream_id -> [sequence at load (None: new stream), current sequence, current hash]
        self.streams: dict[str, list[Any]] = {}
        self.rows: list[tuple[Table, dict[str, Any], bool]] = []
        self._journal: list[tuple[str, Any]] = []

    def mark(self) -> int:
        return len(self._journal)

    def undo_to(self, mark: int) -> None:
        while len(self._journal) > mark:
            kind, data = self._journal.pop()
            if kind == "row":
                self.rows.pop()
            elif kind == "stream_new":
                self.streams.pop(data, None)
            else:  # stream_move: (stream_id, previous [orig, seq, hash])
                self.streams[data[0]] = data[1]

    def load_stream(self, stream_id: str, sequence: int | None, last_hash: str | None) -> list[Any]:
        """Cache a stream head read from the database (``sequence`` None: a new stream)."""
        head = [sequence, sequence or 0, last_hash]
        self.streams[stream_id] = head
        self._journal.append(("stream_new", stream_id))
        return head

    def advance_stream(self, stream_id: str, last_hash: str) -> None:
        head = self.streams[stream_id]
        self._journal.append(("stream_move", (stream_id, list(head))))
        head[1], head[2] = head[1] + 1, last_hash

    def add_row(self, table: Table, row: dict[str, Any], *, ignore_conflict: bool = False) -> None:
        self.rows.append((table, row, ignore_conflict))
        self._journal.append(("row", None))


def write_buffer(session: AsyncSession) -> WriteBuffer:
    buf = session.info.get("antt_writes")
    if buf is None:
        buf = session.info["antt_writes"] = WriteBuffer()
    return buf


async def flush_writes(session: AsyncSession, infra: InfraTables) -> None:
    """Write what the transaction buffered: stream heads (compare-and-set on the sequence),
    then the buffered rows in bulk, in the order they were added per table."""
    buf = session.info.pop("antt_writes", None)
    if buf is None:
        return
    es = infra.event_streams
    new = [{"stream_id": k, "sequence": v[1], "last_hash": v[2]} for k, v in buf.streams.items() if v[0] is None]
    if new:
        await session.execute(insert(es), new)
    for stream_id, (orig, seq, last_hash) in buf.streams.items():
        if orig is None or orig == seq:
            continue
        res = await session.execute(
            update(es).where(es.c.stream_id == stream_id, es.c.sequence == orig).values(sequence=seq, last_hash=last_hash)
        )
        if res.rowcount != 1:
            raise ConcurrencyConflict(f"stream {stream_id} moved on concurrently")
    groups: dict[tuple[str, bool], tuple[Table, list[dict[str, Any]]]] = {}
    for table, row, ignore in buf.rows:
        groups.setdefault((table.name, ignore), (table, []))[1].append(row)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    for (_, ignore), (table, rows) in groups.items():
        if ignore:
            stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
            await session.execute(stmt, rows)
        else:
            await session.execute(insert(table), rows)


async def append_event(
    session: AsyncSession,
    infra: InfraTables,
    *,
    topic: str,
    producer: str,
    event_type: str,
    payload: dict[str, Any],
    unit_year_id: str | None,
    actor: dict[str, Any],
    correlation_id: str,
    causation_id: str | None,
    stream_id: str | None = None,
    occurred_at: datetime | None = None,
    schema_version: int = 1,
) -> dict[str, Any]:
    """Append an event to its stream (sequence + hash chain) and to the outbox.

    Must run inside the transaction that makes the state change the event records; the
    writes are buffered until :func:`flush_writes` (the consumer runtime and
    ``ServiceRuntime.transaction`` call it before committing).
    """
    stream = stream_id or unit_year_id
    if not stream:
        raise ValueError("an event needs a unit_year_id or a stream_id")
    buf = write_buffer(session)
    head = buf.streams.get(stream)
    if head is None:
        row = (
            await session.execute(
                select(infra.event_streams.c.sequence, infra.event_streams.c.last_hash)
                .where(infra.event_streams.c.stream_id == stream)
                .with_for_update()
            )
        ).first()
        head = buf.load_stream(stream, row[0], row[1]) if row else buf.load_stream(stream, None, None)
    seq, prev_hash = head[1], head[2]
    env = build_envelope(
        event_type=event_type,
        payload=payload,
        producer=producer,
        actor=actor,
        stream_id=stream,
        unit_year_id=unit_year_id,
        sequence=seq + 1,
        prev_hash=prev_hash,
        correlation_id=correlation_id,
        causation_id=causation_id,
        occurred_at=occurred_at,
        schema_version=schema_version,
    )
    buf.advance_stream(stream, env["hash"])
    buf.add_row(
        infra.outbox,
        {
            "event_id": env["event_id"],
            "topic": topic,
            "key": unit_year_id or stream,
            "value": _dumps(env),
            "headers": json.dumps({"event_type": event_type, "event_id": env["event_id"], "content-type": "application/json"}),
            "created_at": utcnow(),
        },
    )
    return env


async def append_dead_letter(
    session: AsyncSession,
    infra: InfraTables,
    *,
    service: str,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | str | None,
    value: bytes,
    code: str,
    reason: str,
    message_id: str | None = None,
) -> str:
    """Queue a rejected message for ``<source_topic>.dlq`` with its reason.

    The dead letter carries the original bytes (as text when they are UTF-8, else base64),
    the reason, a machine-readable code, and where the original was read.
    """
    import base64

    dlq_id = str(uuid.uuid4())
    try:
        original: dict[str, Any] = {"encoding": "utf-8", "data": value.decode("utf-8")}
    except UnicodeDecodeError:
        original = {"encoding": "base64", "data": base64.b64encode(value).decode("ascii")}
    key_s = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    key_s = key_s[:200] if key_s is not None else None  # a sender's key has no length limit
    body = {
        "dlq_id": dlq_id,
        "error_code": code,
        "reason": reason,
        "service": service,
        "source_topic": source_topic,
        "source_partition": partition,
        "source_offset": offset,
        "message_id": message_id,
        "failed_at": rfc3339(utcnow()),
        "original": original,
    }
    headers = {
        "event_id": dlq_id,
        "x-dlq-reason": reason[:1000],
        "x-dlq-error-code": code,
        "x-dlq-service": service,
        "x-original-topic": source_topic,
        "x-original-partition": "" if partition is None else str(partition),
        "x-original-offset": "" if offset is None else str(offset),
        "content-type": "application/json",
    }
    write_buffer(session).add_row(
        infra.outbox,
        {
            "event_id": dlq_id,
            "topic": topics.dlq(source_topic),
            "key": key_s,
            "value": _dumps(body),
            "headers": json.dumps(headers, ensure_ascii=False),
            "created_at": utcnow(),
        },
    )
    return dlq_id


class Emitter:
    """Appends a service's events to its topic and logs one line per transition."""

    def __init__(self, infra: InfraTables, topic: str, producer: str) -> None:
        self.infra = infra
        self.topic = topic
        self.producer = producer

    async def __call__(
        self,
        session: AsyncSession,
        event_type: str,
        payload: dict[str, Any],
        *,
        unit_year_id: str | None,
        actor: dict[str, Any],
        correlation_id: str,
        causation_id: str | None,
        stream_id: str | None = None,
    ) -> dict[str, Any]:
        spec = EVENT_TYPES.get(event_type)
        if spec is None or spec[0] != self.topic:
            raise ValueError(f"{event_type} is not an event of {self.topic}")
        payload = spec[1].model_validate(payload).model_dump(mode="json")
        env = await append_event(
            session,
            self.infra,
            topic=self.topic,
            producer=self.producer,
            event_type=event_type,
            payload=payload,
            unit_year_id=unit_year_id,
            stream_id=stream_id,
            actor=actor,
            correlation_id=correlation_id,
            causation_id=causation_id,
            schema_version=current_version(event_type),
        )
        _log.info(
            "transition",
            event_type=event_type,
            unit_year_id=unit_year_id,
            state=payload.get("state"),
            event_id=env["event_id"],
            correlation_id=correlation_id,
            sequence=env["sequence"],
        )
        return env
