"""The outbox relay: publishes committed outbox rows to Kafka, in order, exactly once, and
keeps a signed account of what it published.

- One relay instance per service is active at a time (a lease row in the service's database),
  so two replicas never publish the same rows or reorder a unit-year's events.
- The producer is idempotent with ``acks=all``; rows are sent in ``id`` order and deleted
  once the broker acknowledged them.
- **Reconcile before sending again.** Any failure between sending and the commit of the delete
  (an unacknowledged record, a database that refuses the delete, a crash, a cancelled task)
  leaves rows that may or may not be on the topic. Sending them again would publish them twice,
  so the relay sends nothing more until it has read back what is there and deleted the rows it
  finds. A new leader does the same before its first send.
- **Merkle log.** The relay is the only writer of its service's event topic, so each partition
  of that topic is an append-only log whose every record came out of this outbox. The relay
  keeps an RFC 6962 tree per partition (``relay_log``) and moves it in the transaction that
  deletes the published rows: the tree covers exactly the records at offsets ``0..size-1``.
  Because offsets, not headers, anchor the tree, a read-back of the own topic is exact: every
  record after ``size`` must be a pending row, byte for byte. One that is not was written by
  someone else (a *foreign* record): it is never put into the tree, the partition's tree stays
  frozen before it (so no checkpoint ever signs it), and :attr:`OutboxRelay.alarms` says where.
- **Checkpoints.** Every ``checkpoint_interval_s`` while the trees move, and once at a graceful
  stop, the leader signs the tree heads (``shared.contracts.checkpoint.build_checkpoint``) and
  writes the checkpoint to ``relay_checkpoint`` and, as an ordinary row, to the outbox for
  ``antt.audit.checkpoints.v1``. It covers only what the broker already acknowledged, never a
  pending row.
- Topics shared with other services (dead-letter topics, the checkpoint topic) cannot be
  anchored by offsets; for those the read-back looks for the rows' ``event_id`` headers in the
  tail of the topic, as deep as ``readback_depth``.
- **Parking.** A row the broker refuses for good (too large, an invalid topic: errors no retry
  can fix) would stop the relay forever, since rows are published in order. It is moved to
  ``outbox_parked`` with the error instead, logged as ``relay.parked``, counted in
  :attr:`OutboxRelay.parked` and shown in :attr:`OutboxRelay.alarms`; the rows behind it flow.
  Parking is safe for "never twice" because the broker wrote nothing of a refused record. Later
  rows with the same topic and key are parked behind it, so that a key's records (a unit-year's
  events) never reach the topic out of order; an operator decides what becomes of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from shared.contracts import topics
from shared.contracts.canonical import canonical_json
from shared.contracts.checkpoint import CompactRange, build_checkpoint, checkpoint_hash, leaf_hash
from shared.contracts.envelope import rfc3339, utcnow
from shared.infra.bulk import executemany
from shared.infra.kafka import key_partitioner, read_to_end, topic_partitions
from shared.infra.logging import get_logger
from shared.infra.tables import InfraTables
from shared.infra.writer import Writer, in_thread

log = get_logger(__name__)

LEASE = "outbox-relay"
#: the broker refused the record and always will: retrying cannot help, the row is parked
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
)
#: parked rows shown in ``alarms`` at most (``parked`` counts them all)
MAX_PARKED_ALARMS = 50
CHECKPOINT_EVENT_TYPE = "Checkpoint"


def instance_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def checkpoint_event_id(producer: str, sequence: int) -> str:
    return f"{producer}:checkpoint:{sequence}"


def _rowcount(result: Any) -> int:
    """The rows an UPDATE changed (``CursorResult.rowcount``; ``Session.execute`` is typed as
    returning a plain ``Result``)."""
    return int(result.rowcount)


def _owner_is_dead(owner: str) -> bool:
    """True when the owner was a process on this host that no longer exists."""
    try:
        host, pid_s, _ = owner.split(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LogMoved(Exception):
    """The ``relay_log`` row is not at the size this relay expected: another relay moved it."""


@dataclass(frozen=True)
class _Seen:
    """A record read back from the own event topic."""

    offset: int
    leaf: bytes
    event_id: str | None
    digest: bytes  # SHA-256 of the value, to compare with a pending row without keeping the bytes


def _event_id_header(headers: Any) -> str | None:
    for k, v in headers or ():
        if k == "event_id" and v is not None:
            return bytes(v).decode("utf-8", "replace")
    return None


async def latest_checkpoint(
    sessions: async_sessionmaker[AsyncSession], infra: InfraTables, producer: str
) -> dict[str, Any] | None:
    """The newest checkpoint of ``producer`` that is on the topic (its outbox row is gone)."""
    cp, o = infra.relay_checkpoint, infra.outbox
    async with sessions() as s:
        rows = (
            await s.execute(
                select(cp.c.sequence, cp.c.body).where(cp.c.producer == producer).order_by(cp.c.sequence.desc()).limit(20)
            )
        ).all()
        if not rows:
            return None
        ids = [checkpoint_event_id(producer, r.sequence) for r in rows]
        pending = set((await s.execute(select(o.c.event_id).where(o.c.event_id.in_(ids)))).scalars())
    for r, eid in zip(rows, ids, strict=True):
        if eid not in pending:
            return dict(json.loads(r.body))
    return None


class OutboxRelay:
    """Publishes the outbox of one service; see the module docstring.

    Without ``event_topic`` the relay keeps no Merkle log and signs nothing (every topic is then
    read back by ``event_id``); without ``signing_key`` it keeps the log but signs nothing.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        infra: InfraTables,
        bootstrap: str,
        *,
        owner: str | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
        lease_ttl_s: float = 10.0,
        readback_depth: int = 2000,
        event_topic: str | None = None,
        producer_name: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_interval_s: float = 10.0,
        checkpoint_topic: str = topics.CHECKPOINTS,
        stop_timeout_s: float = 10.0,
        write_sessions: sessionmaker[Session] | None = None,
        writer: Writer | None = None,
        read_engine: Engine | None = None,
    ) -> None:
        self._sessions = sessions
        #: the read-only synchronous engine of the outbox reads (``shared.infra.db.read_only_engine``)
        self._read_engine = read_engine
        #: the synchronous sessions and the thread of the hot write (``_commit_published``);
        #: without them it runs on the async engine
        self._write_sessions = write_sessions
        self._writer = writer
        self._infra = infra
        self._bootstrap = bootstrap
        self.owner = owner or instance_owner()
        self._batch = batch_size
        self._poll = poll_interval_s
        self._ttl = lease_ttl_s
        self._readback = max(readback_depth, batch_size * 4)
        self.event_topic = event_topic
        self.producer_name = producer_name or "relay"
        self.signing_key = signing_key
        self._cp_interval = checkpoint_interval_s
        self._cp_topic = checkpoint_topic
        self._stop_timeout = stop_timeout_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        # The statements of every publishing cycle, built once: a statement built anew is
        # compiled (or its cache key computed) again each time, which at low load, a cycle per
        # event or two, cost as much as the SQL itself.
        #: the delete of published rows (``_delete_rows``): one executemany by primary key,
        #: through the driver (``shared.infra.bulk``), not an expanding ``IN`` rendered anew
        self._delete_statement = delete(infra.outbox).where(infra.outbox.c.id == bindparam("b_id"))
        t = infra.relay_log
        #: the compare-and-set of a partition's tree (``_store_trees``)
        self._tree_update = (
            update(t)
            .where(t.c.topic == bindparam("b_topic"), t.c.partition == bindparam("b_partition"), t.c.size == bindparam("b_old"))
            .values(size=bindparam("b_size"), peaks=bindparam("b_peaks"))
        )
        self._reader: AIOKafkaConsumer | None = None
        self._lease_until = 0.0
        #: rows may be on a topic without being deleted: send nothing until reconciled
        self._needs_reconcile = True
        #: partition -> tree of the own event topic, as committed in ``relay_log``
        self.trees: dict[int, CompactRange] = {}
        #: partition -> offset of the first foreign record; the tree stays at that size
        self._frozen: dict[int, int] = {}
        #: partition sizes the last checkpoint covered
        self._checkpointed: dict[int, int] | None = None
        self._last_checkpoint_at = 0.0
        self.published = 0
        #: failed passes of the loop (broker or database faults), for the operators' metrics
        self.errors = 0
        self.is_leader = False
        self.last_checkpoint_sequence: int | None = None
        #: foreign records and truncated partitions of the own event topic
        self._log_alarms: list[dict[str, Any]] = []
        #: the most recent parked rows, newest last
        self._parked_alarms: list[dict[str, Any]] = []
        #: rows in ``outbox_parked`` (as of this relay's last look, or its own parking since)
        self.parked = 0
        #: (topic, key) of parked rows: later rows with the same topic and key wait behind them
        self._blocked: set[tuple[str, str]] = set()
        #: ``time.monotonic()`` of the first failure of the current failing streak, ``None``
        #: when the last pass succeeded
        self.failing_since: float | None = None

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """What an operator must look at: foreign records on the own event topic, truncated
        partitions, and parked rows (``{"kind": "parked", ...}``)."""
        return [*self._log_alarms, *self._parked_alarms]

    def notify(self) -> None:
        """Wake the relay: a transaction just committed outbox rows."""
        self._wake.set()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=1 << 20,
            request_timeout_ms=30000,
            partitioner=key_partitioner,
        )

    async def _restart_producer(self) -> None:
        """A new producer (a new producer id). The idempotent producer numbers each partition's
        batches; a batch the broker refused keeps its number on the client but not on the
        broker, so every later batch to that partition would be refused as out of order. Only
        called when nothing is in flight."""
        old, self._producer = self._producer, self._new_producer()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        await self._producer.start()

    async def start(self) -> None:
        self._producer = self._new_producer()
        await self._producer.start()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop after a last pass (publish what is pending, sign a final checkpoint), within
        ``stop_timeout_s``; then release the lease so a replica takes over at once."""
        self._stopping.set()
        self._wake.set()
        if self._task:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):  # shutting down
                await asyncio.wait_for(self._task, timeout=self._stop_timeout)
        if self._producer:
            await self._producer.stop()
        if self._reader:
            with contextlib.suppress(Exception):
                await self._reader.stop()
            self._reader = None
        if self.is_leader:
            try:
                async with self._sessions() as s, s.begin():
                    await s.execute(
                        update(self._infra.relay_lease)
                        .where(self._infra.relay_lease.c.name == LEASE, self._infra.relay_lease.c.owner == self.owner)
                        .values(expires_at=0.0)
                    )
            except Exception:  # noqa: BLE001 - best effort on shutdown
                log.warning("relay.lease_release_failed")
            self.is_leader = False

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                if not await self._ensure_lease():
                    self.failing_since = None  # a follower is not failing: it waits its turn
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=min(self._ttl / 3, 2.0))
                    continue
                if self._needs_reconcile:
                    await self._reconcile()
                self._wake.clear()  # a commit from now on wakes the wait below
                sent = await self._publish_once()
                signed = await self._maybe_checkpoint()
                backoff = 0.5
                self.failing_since = None
                if sent < self._batch and not signed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must survive broker/db faults
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.errors += 1
                log.warning("relay.error", error=f"{type(exc).__name__}: {exc}", reconcile=self._needs_reconcile)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, 5.0)
        await self._last_pass()

    async def _last_pass(self) -> None:
        """On a graceful stop: publish what is pending, then a checkpoint of it."""
        if not self.is_leader:
            return
        try:
            if self._needs_reconcile:
                await self._reconcile()
            while await self._publish_once() >= self._batch:
                pass
            if await self._maybe_checkpoint(final=True):
                await self._publish_once()
        except Exception as exc:  # noqa: BLE001 - the next leader reconciles
            log.warning("relay.last_pass_failed", error=f"{type(exc).__name__}: {exc}")

    async def _ensure_lease(self) -> bool:
        now = time.time()
        if self.is_leader and now < self._lease_until - self._ttl / 2:
            return True
        t = self._infra.relay_lease
        async with self._sessions() as s, s.begin():
            res = await s.execute(
                update(t)
                .where(t.c.name == LEASE, (t.c.owner == self.owner) | (t.c.expires_at < now))
                .values(owner=self.owner, expires_at=now + self._ttl)
            )
            got = _rowcount(res) == 1
            if not got:
                row = (await s.execute(select(t.c.owner).where(t.c.name == LEASE))).first()
                if row is None:
                    try:
                        async with s.begin_nested():
                            await s.execute(insert(t).values(name=LEASE, owner=self.owner, expires_at=now + self._ttl))
                        got = True
                    except IntegrityError:
                        got = False
                elif _owner_is_dead(row[0]):
                    res = await s.execute(
                        update(t)
                        .where(t.c.name == LEASE, t.c.owner == row[0])
                        .values(owner=self.owner, expires_at=now + self._ttl)
                    )
                    got = _rowcount(res) == 1
        was_leader = self.is_leader
        self.is_leader = got
        if got:
            self._lease_until = now + self._ttl
            if not was_leader:
                log.info("relay.leader", owner=self.owner)
                self._needs_reconcile = True  # what did the previous leader leave on the topics?
        return got

    # ------------------------------------------------------------------ publishing

    async def _pending(self, limit: int) -> list[Any]:
        """The oldest outbox rows. With a read-only synchronous engine, in one worker thread
        hop (not the writer thread: a read waits for no write), rather than the async engine's
        hop per operation."""
        if self._read_engine is not None:
            return await asyncio.to_thread(self._pending_sync, limit)
        async with self._sessions() as s:
            return list((await s.execute(_pending_select(self._infra.outbox, limit))).all())

    def _pending_sync(self, limit: int) -> list[Any]:
        assert self._read_engine is not None
        with self._read_engine.connect() as conn:
            return list(conn.execute(_pending_select(self._infra.outbox, limit)).all())

    async def _publish_once(self) -> int:
        if self._needs_reconcile:
            raise RuntimeError("the outbox is not reconciled with the topics; nothing is sent")
        rows = await self._pending(self._batch)
        if not rows:
            return 0
        assert self._producer is not None
        parked: dict[int, str] = {}  # row id -> why it is parked
        blocking: dict[tuple[str, str], str] = {}  # (topic, key) -> event_id of the row it waits behind
        # From the first send to the commit of the delete, a failure leaves rows whose fate is
        # unknown: mark first, clear only when the delete committed.
        self._needs_reconcile = True
        sent: list[Any] = []
        futures = []
        for row in rows:
            if self._behind_parked(row, parked, blocking):
                continue
            headers = self._headers(row)
            try:
                fut = await self._producer.send(row.topic, value=row.value, key=self._key(row), headers=headers)
            except PERMANENT_ERRORS as exc:  # refused before it left this process
                self._refuse(row, exc, parked, blocking)
                continue
            sent.append(row)
            futures.append(fut)
        results = list(await asyncio.gather(*futures, return_exceptions=True))
        if any(isinstance(r, PERMANENT_ERRORS) for r in results):
            sent, results = await self._judge_alone(sent, results, parked, blocking)
        if parked:
            # the broker wrote nothing of these rows: moving them out cannot publish anything twice
            await self._park(rows, parked)
        failed = [r for r in results if isinstance(r, BaseException)]
        if any(isinstance(r, OutOfOrderSequenceNumber) for r in failed):
            await self._restart_producer()  # this producer's numbering no longer matches the broker's
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} outbox rows not acknowledged: {failed[0]!r}")
        appended = self._append_acknowledged(sent, results)
        if appended is None:  # an offset the trees did not expect: read back instead of guessing
            log.warning("relay.unexpected_offsets", topic=self.event_topic)
            await self._reconcile()
            self.published += len(sent)
            return len(rows)
        await self._commit_published([row.id for row in sent], appended)
        self.trees.update(appended)
        self._needs_reconcile = False
        self.published += len(sent)
        return len(rows)

    @staticmethod
    def _headers(row: Any) -> list[tuple[str, bytes]]:
        return [(k, str(v).encode("utf-8")) for k, v in orjson.loads(row.headers).items()]

    @staticmethod
    def _key(row: Any) -> bytes | None:
        return row.key.encode("utf-8") if row.key is not None else None

    def _behind_parked(self, row: Any, parked: dict[int, str], blocking: dict[tuple[str, str], str]) -> bool:
        """Park ``row`` if an earlier row with its topic and key is parked (a keyless row
        promises no order, so it never waits)."""
        if row.key is None:
            return False
        tk = (row.topic, row.key)
        if tk in blocking:
            parked[row.id] = f"behind parked row {blocking[tk]} (same topic and key)"
            return True
        if tk in self._blocked:
            parked[row.id] = "behind a parked row with the same topic and key"
            return True
        return False

    @staticmethod
    def _refuse(row: Any, exc: BaseException, parked: dict[int, str], blocking: dict[tuple[str, str], str]) -> None:
        parked[row.id] = f"{type(exc).__name__}: {exc}"[:2000]
        if row.key is not None:
            blocking.setdefault((row.topic, row.key), row.event_id)

    async def _judge_alone(
        self, sent: list[Any], results: list[Any], parked: dict[int, str], blocking: dict[tuple[str, str], str]
    ) -> tuple[list[Any], list[Any]]:
        """The broker refused some records for good. A refusal applies to a whole batch of a
        partition, so the innocent records batched with an oversized one were refused too, and
        the batches after a refused one are refused as out of order: send each of those rows
        again alone, in order, with a new producer, and park only those refused on their own.
        Rows whose fate is unknown (any other error) are not sent again: they are reconciled."""
        await self._restart_producer()
        assert self._producer is not None
        ok_rows, ok_results = [], []
        for row, res in zip(sent, results, strict=True):
            if not isinstance(res, BaseException):
                ok_rows.append(row)
                ok_results.append(res)
                continue
            if not isinstance(res, (*PERMANENT_ERRORS, OutOfOrderSequenceNumber)):
                ok_rows.append(row)
                ok_results.append(res)  # raised by the caller once the refused rows are parked
                continue
            if self._behind_parked(row, parked, blocking):
                continue
            try:
                fut = await self._producer.send(row.topic, value=row.value, key=self._key(row), headers=self._headers(row))
            except PERMANENT_ERRORS as exc:  # refused before it left: the producer is unharmed
                self._refuse(row, exc, parked, blocking)
                continue
            try:
                meta = await fut
            except PERMANENT_ERRORS as exc:
                self._refuse(row, exc, parked, blocking)
                await self._restart_producer()  # its numbering is now ahead of the broker's
                continue
            except Exception as exc:  # noqa: BLE001 - its fate is unknown: reconciled by the caller
                meta = exc
            ok_rows.append(row)
            ok_results.append(meta)
        return ok_rows, ok_results

    async def _park(self, rows: list[Any], parked: dict[int, str]) -> None:
        """Move the refused rows (and those behind them) to ``outbox_parked``, in one transaction."""
        o, pk = self._infra.outbox, self._infra.outbox_parked
        ids = sorted(parked)
        now = utcnow()
        async with self._sessions() as s, s.begin():
            full = (
                await s.execute(
                    select(o.c.id, o.c.event_id, o.c.topic, o.c.key, o.c.value, o.c.headers, o.c.created_at).where(
                        o.c.id.in_(ids)
                    )
                )
            ).all()
            if full:
                await s.execute(
                    insert(pk),
                    [
                        {
                            "id": r.id,
                            "event_id": r.event_id,
                            "topic": r.topic,
                            "key": r.key,
                            "value": r.value,
                            "headers": r.headers,
                            "created_at": r.created_at,
                            "parked_at": now,
                            "error": parked[r.id],
                        }
                        for r in full
                    ],
                )
            await s.run_sync(self._delete_rows, ids)
        by_id = {r.id: r for r in rows}
        for i in ids:
            row = by_id[i]
            if row.key is not None:
                self._blocked.add((row.topic, row.key))
            self._alarm_parked(row.id, row.event_id, row.topic, row.key, len(row.value), parked[i])
            log.error(
                "relay.parked",
                outbox_id=row.id,
                event_id=row.event_id,
                topic=row.topic,
                key=row.key,
                size=len(row.value),
                error=parked[i],
            )
        self.parked += len(ids)

    def _alarm_parked(self, outbox_id: int, event_id: str, topic: str, key: str | None, size: int, error: str) -> None:
        self._parked_alarms.append(
            {
                "kind": "parked",
                "alarm": "parked",
                "outbox_id": outbox_id,
                "event_id": event_id,
                "topic": topic,
                "key": key,
                "size": size,
                "error": error,
            }
        )
        del self._parked_alarms[:-MAX_PARKED_ALARMS]

    async def _load_parked(self) -> None:
        """What is parked, as the database says (another leader may have parked rows)."""
        pk = self._infra.outbox_parked
        async with self._sessions() as s:
            self.parked = int((await s.execute(select(func.count()).select_from(pk))).scalar_one())
            keys = (await s.execute(select(pk.c.topic, pk.c.key).where(pk.c.key.is_not(None)).distinct())).all()
            recent = (
                await s.execute(
                    select(pk.c.id, pk.c.event_id, pk.c.topic, pk.c.key, func.length(pk.c.value).label("size"), pk.c.error)
                    .order_by(pk.c.id.desc())
                    .limit(MAX_PARKED_ALARMS)
                )
            ).all()
        self._blocked = {(r.topic, r.key) for r in keys}
        self._parked_alarms = []
        for r in reversed(recent):
            self._alarm_parked(r.id, r.event_id, r.topic, r.key, int(r.size), r.error)

    def _append_acknowledged(self, rows: list[Any], results: list[Any]) -> dict[int, CompactRange] | None:
        """The trees after appending the acknowledged records of the own topic, or ``None`` when
        an offset is not the next one of its partition's tree."""
        if self.event_topic is None:
            return {}
        by_partition: dict[int, list[tuple[int, bytes]]] = {}
        for row, meta in zip(rows, results, strict=True):
            if row.topic == self.event_topic:
                by_partition.setdefault(meta.partition, []).append((meta.offset, row.value))
        out: dict[int, CompactRange] = {}
        for p, recs in by_partition.items():
            recs.sort()
            if p in self._frozen:
                continue  # a foreign record sits before these: the tree does not move past it
            tree = self.trees.get(p, CompactRange()).copy()
            for offset, value in recs:
                if offset != tree.size:
                    return None
                tree.append(leaf_hash(value))
            out[p] = tree
        return out

    async def _commit_published(self, ids: list[int], trees: dict[int, CompactRange]) -> None:
        """Delete the published rows and move the trees, in one transaction: in the service's
        writer thread when the relay has one (``shared.infra.writer``: it then queues behind
        the batch under way instead of sleeping in SQLite's busy handler, while every event
        committed meanwhile waits for this relay), else on the async engine."""
        if self._write_sessions is not None:
            await in_thread(self._writer, self._commit_published_sync, ids, trees)
            return
        async with self._sessions() as s, s.begin():
            await s.run_sync(self._write_published, ids, trees)

    def _commit_published_sync(self, ids: list[int], trees: dict[int, CompactRange]) -> None:
        assert self._write_sessions is not None
        with self._write_sessions() as s, s.begin():
            self._write_published(s, ids, trees)

    def _write_published(self, s: Session, ids: list[int], trees: dict[int, CompactRange]) -> None:
        self._delete_rows(s, ids)
        self._store_trees(s, trees)

    def _delete_rows(self, s: Session, ids: list[int]) -> None:
        if ids:
            executemany(s.connection(), self._delete_statement, [{"b_id": i} for i in ids])

    def _store_trees(self, s: Session, trees: dict[int, CompactRange]) -> None:
        """Write the trees with a compare-and-set on the size this relay last committed."""
        t = self._infra.relay_log
        for p, tree in sorted(trees.items()):
            old = self.trees.get(p)
            values = {"size": tree.size, "peaks": json.dumps(tree.to_json()["peaks"])}
            if old is None:
                try:
                    with s.begin_nested():
                        s.execute(insert(t).values(topic=self.event_topic, partition=p, **values))
                except IntegrityError as exc:
                    raise LogMoved(f"relay_log {self.event_topic}/{p} was created by another relay") from exc
                continue
            if old.size == tree.size:
                continue
            res = s.connection().execute(
                self._tree_update,
                {
                    "b_topic": self.event_topic,
                    "b_partition": p,
                    "b_old": old.size,
                    "b_size": values["size"],
                    "b_peaks": values["peaks"],
                },
            )
            if _rowcount(res) != 1:
                raise LogMoved(f"relay_log {self.event_topic}/{p} is no longer at size {old.size}")

    # ------------------------------------------------------------------ reconciling

    async def _reader_consumer(self) -> AIOKafkaConsumer:
        if self._reader is None:
            reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None)
            await reader.start()
            self._reader = reader
        return self._reader

    async def _reconcile(self) -> None:
        """Make the outbox, the trees and the topics agree again; see the module docstring."""
        found: set[int] = set()
        trees: dict[int, CompactRange] = {}
        if self.event_topic is not None:
            trees, own_found = await self._reconcile_own_topic()
            found |= own_found
        found |= await self._read_back_shared_topics()
        async with self._sessions() as s, s.begin():
            await s.run_sync(self._write_published, sorted(found), trees)
        self.trees.update(trees)
        if found:
            log.warning("relay.recovered_published_rows", count=len(found))
        if self.event_topic is not None:
            await self._load_checkpoint_state()
        await self._load_parked()
        self._needs_reconcile = False

    async def _load_trees(self) -> dict[int, CompactRange]:
        t = self._infra.relay_log
        async with self._sessions() as s:
            rows = (await s.execute(select(t.c.partition, t.c.size, t.c.peaks).where(t.c.topic == self.event_topic))).all()
        return {r.partition: CompactRange.from_json({"size": r.size, "peaks": json.loads(r.peaks)}) for r in rows}

    async def _reconcile_own_topic(self) -> tuple[dict[int, CompactRange], set[int]]:
        """Read each partition of the own topic from its tree's size to the end; every record
        there must be a pending row (same ``event_id``, same bytes). Returns the trees to store
        and the outbox ids found published."""
        assert self.event_topic is not None
        self.trees = await self._load_trees()  # the database is the truth, not this process's memory
        adopting = not self.trees
        reader = await self._reader_consumer()
        parts = await topic_partitions(reader, [self.event_topic])
        if not parts:
            self._frozen, self._log_alarms = {}, []
            return {}, set()
        ends = await reader.end_offsets(parts)
        begins = await reader.beginning_offsets(parts)
        o = self._infra.outbox
        async with self._sessions() as s:
            pending_ids = set((await s.execute(select(o.c.event_id).where(o.c.topic == self.event_topic))).scalars())

        seen: dict[int, list[_Seen]] = {}
        for tp in parts:
            start = self.trees[tp.partition].size if tp.partition in self.trees else 0
            recs: list[_Seen] = []
            async for rec in self._read_range(reader, tp, start, ends[tp], begins[tp]):
                eid = _event_id_header(rec.headers)
                value = rec.value or b""
                recs.append(_Seen(rec.offset, leaf_hash(value), eid, hashlib.sha256(value).digest()))
            seen[tp.partition] = recs

        candidates = sorted(
            {r.event_id for recs in seen.values() for r in recs if r.event_id is not None and r.event_id in pending_ids}
        )
        rows: dict[str, tuple[int, bytes]] = {}
        async with self._sessions() as s:
            for i in range(0, len(candidates), 500):
                res = await s.execute(
                    select(o.c.id, o.c.event_id, o.c.value).where(
                        o.c.topic == self.event_topic, o.c.event_id.in_(candidates[i : i + 500])
                    )
                )
                for r in res:
                    rows[r.event_id] = (r.id, hashlib.sha256(r.value).digest())

        trees: dict[int, CompactRange] = {}
        found: set[int] = set()
        claimed: set[str] = set()
        frozen: dict[int, int] = {}
        alarms: list[dict[str, Any]] = []
        adopted = 0
        for tp in parts:
            p = tp.partition
            tree = self.trees[p].copy() if p in self.trees else CompactRange()
            if tree.size == 0 and begins[tp] > 0:
                # records before the first one kept are gone: no tree can be built from offset 0
                frozen[p] = 0
                alarms.append({"alarm": "truncated_partition", "topic": self.event_topic, "partition": p, "offset": begins[tp]})
                log.error("relay.truncated_partition", topic=self.event_topic, partition=p, first_offset=begins[tp])
            for rec in seen[p]:
                row = rows.get(rec.event_id) if rec.event_id is not None else None
                ours = row is not None and rec.event_id not in claimed and row[1] == rec.digest
                if ours:
                    assert rec.event_id is not None and row is not None
                    claimed.add(rec.event_id)
                    found.add(row[0])
                if p in frozen:
                    continue
                if rec.offset != tree.size:  # a gap: nothing can vouch for the missing offsets
                    ours = False
                if ours or (adopting and rec.offset == tree.size):
                    tree.append(rec.leaf)
                    adopted += 0 if ours else 1
                    continue
                frozen[p] = rec.offset
                alarm = {"alarm": "foreign_record", "topic": self.event_topic, "partition": p, "offset": rec.offset}
                alarms.append(alarm)
                log.error("relay.foreign_record", topic=self.event_topic, partition=p, offset=rec.offset, event_id=rec.event_id)
            trees[p] = tree
        if adopting and adopted:
            log.warning("relay.adopted_existing_records", topic=self.event_topic, count=adopted)
        self._frozen, self._log_alarms = frozen, alarms
        return trees, found

    async def _read_range(
        self, reader: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int, begin: int
    ) -> AsyncIterator[Any]:
        """The records of ``tp`` at offsets ``start..end-1``, in order."""
        start = max(start, begin)
        if end <= start:
            return
        reader.assign([tp])
        reader.seek(tp, start)
        idle = 0
        while idle < 5:  # a record that never arrives (deleted meanwhile) must not hang the relay
            batch = await reader.getmany(tp, timeout_ms=1000, max_records=5000)
            records = batch.get(tp, [])
            idle = 0 if records else idle + 1
            for rec in records:
                if rec.offset >= end:
                    return
                yield rec
            if records and records[-1].offset + 1 >= end:
                return
        raise RuntimeError(f"could not read {tp.topic}/{tp.partition} up to offset {end}")

    async def _read_back_shared_topics(self) -> set[int]:
        """Pending rows of the other topics that are already there, found by ``event_id``."""
        rows = [r for r in await self._pending(self._readback) if r.topic != self.event_topic]
        if not rows:
            return set()
        pending = {r.event_id: r.id for r in rows}
        records = await read_to_end(self._bootstrap, sorted({r.topic for r in rows}), depth=self._readback)
        found: set[int] = set()
        for rec in records:
            rid = pending.get(_event_id_header(rec.headers) or "")
            if rid is not None:
                found.add(rid)
        return found

    # ------------------------------------------------------------------ checkpoints

    async def _load_checkpoint_state(self) -> None:
        cp = self._infra.relay_checkpoint
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(cp.c.sequence, cp.c.body)
                    .where(cp.c.producer == self.producer_name)
                    .order_by(cp.c.sequence.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            self._checkpointed, self.last_checkpoint_sequence = None, None
            return
        body = json.loads(row.body)
        self._checkpointed = {int(h["partition"]): int(h["size"]) for h in body["partitions"]}
        self.last_checkpoint_sequence = int(row.sequence)

    def _sizes(self) -> dict[int, int]:
        return {p: t.size for p, t in self.trees.items()}

    async def _maybe_checkpoint(self, *, final: bool = False) -> bool:
        """Sign a checkpoint when the trees moved and the interval passed (or at the last pass)."""
        if self.signing_key is None or self.event_topic is None or not self.is_leader or self._needs_reconcile:
            return False
        covered = self._checkpointed if self._checkpointed is not None else {p: 0 for p in self.trees}
        if not self.trees or self._sizes() == covered:
            return False
        now = time.monotonic()
        if not final and now - self._last_checkpoint_at < self._cp_interval:
            return False
        if not await self._topic_matches_trees():
            return False
        self._last_checkpoint_at = now
        await self._write_checkpoint()
        self.notify()
        return True

    async def _topic_matches_trees(self) -> bool:
        """Nothing of this relay is in flight here, so every partition not frozen must end where
        its tree ends; a record beyond it came from somewhere else: reconcile before signing."""
        assert self.event_topic is not None
        reader = await self._reader_consumer()
        parts = await topic_partitions(reader, [self.event_topic])
        ends = await reader.end_offsets(parts)
        for tp in parts:
            p = tp.partition
            if p in self._frozen:
                continue
            size = self.trees[p].size if p in self.trees else 0
            if ends[tp] != size:
                log.warning("relay.topic_ahead_of_tree", topic=self.event_topic, partition=p, end=ends[tp], size=size)
                self._needs_reconcile = True
                return False
        return True

    async def _write_checkpoint(self) -> None:
        """Record the next checkpoint and queue it in the outbox, in one transaction; the heads
        are read from ``relay_log`` in that transaction, so they are what was committed."""
        assert self.event_topic is not None and self.signing_key is not None
        t, cp, o = self._infra.relay_log, self._infra.relay_checkpoint, self._infra.outbox
        async with self._sessions() as s, s.begin():
            logs = (await s.execute(select(t.c.partition, t.c.size, t.c.peaks).where(t.c.topic == self.event_topic))).all()
            trees = {r.partition: CompactRange.from_json({"size": r.size, "peaks": json.loads(r.peaks)}) for r in logs}
            last = (
                await s.execute(
                    select(cp.c.sequence, cp.c.hash)
                    .where(cp.c.producer == self.producer_name)
                    .order_by(cp.c.sequence.desc())
                    .limit(1)
                )
            ).first()
            sequence = 1 if last is None else int(last.sequence) + 1
            body = build_checkpoint(
                producer=self.producer_name,
                topic=self.event_topic,
                sequence=sequence,
                prev_checkpoint=None if last is None else last.hash,
                issued_at=rfc3339(utcnow()),
                partitions=trees,
                private_key=self.signing_key,
            )
            value = canonical_json(body)
            event_id = checkpoint_event_id(self.producer_name, sequence)
            await s.execute(
                insert(cp).values(
                    producer=self.producer_name, sequence=sequence, hash=checkpoint_hash(body), body=value.decode("utf-8")
                )
            )
            await s.execute(
                insert(o).values(
                    event_id=event_id,
                    topic=self._cp_topic,
                    key=self.producer_name,
                    value=value,
                    headers=json.dumps(
                        {"event_type": CHECKPOINT_EVENT_TYPE, "event_id": event_id, "content-type": "application/json"}
                    ),
                    created_at=utcnow(),
                )
            )
        self._checkpointed = {p: tr.size for p, tr in trees.items()}
        self.last_checkpoint_sequence = sequence
        log.info("relay.checkpoint", producer=self.producer_name, sequence=sequence, size=body["size"], root=body["root"])


@functools.cache
def _pending_select(outbox: Table, limit: int) -> Any:
    """The read of the ``limit`` oldest outbox rows, built once per limit (two are used: the
    batch size and the read-back depth): a statement built anew in every publishing cycle was
    compiled, or its cache key computed, again each time."""
    o = outbox.c
    return select(o.id, o.event_id, o.topic, o.key, o.value, o.headers).order_by(o.id).limit(limit)
