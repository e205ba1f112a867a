"""The consumer runtime: batches from Kafka, one database transaction per batch, inbox,
dead letters, bounded retries, offsets committed only after the commit.

A service gives a :class:`MessageHandler`; the runtime does the rest:

1. ``claim`` says whether this service processes a record at all (``antt.inbound.v1`` is read
   by every service; each claims the types it owns) and under which message id.
2. In one unit of work (``shared.infra.uow``) for the whole batch, run in the service's writer thread
   (``shared.infra.writer``):
   records already in the inbox are skipped (a redelivery) or, if the handler says so,
   dead-lettered as duplicates; the others are handled first without savepoints, and only if
   one is refused the batch is run again with a SAVEPOINT per record, so that a
   :class:`Rejected` undoes just that record and writes a dead letter with the reason; an
   inbox row is written for every record.
3. The transaction commits, the relay is woken, and only then are the offsets committed
   (``AckPolicy.MANUAL``, auto-commit off), at most every ``COMMIT_INTERVAL_S`` (the inbox,
   not the offset, is what keeps a record from being applied twice: ``_DeferredCommit``). A
   batch that claimed nothing wrote nothing: its offsets wait up to ``IDLE_COMMIT_S``.
4. If the batch transaction fails for any other reason, each record is retried alone, up to
   ``max_attempts`` times; a record that still fails is dead-lettered (``processing_failed``)
   so that a poison message never blocks its partition. Database outages are not counted:
   the batch is nacked and re-read after a pause.
5. A record about a unit or unit-year the service has not heard of yet
   (:class:`~shared.infra.parking.NotYetKnown`) is parked, not refused: held in
   ``parked_messages`` in the batch's transaction (inbox outcome ``parked``) and applied when the
   stream it waits for gets its first event, or dead-lettered after a time-to-live
   (``shared.infra.parking``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy import Table, select
from sqlalchemy.exc import InterfaceError, OperationalError

from shared.infra.errors import DomainError
from shared.infra.inlist import in_list
from shared.infra.logging import get_logger
from shared.infra.parking import NotYetKnown, Parking
from shared.infra.uow import UnitOfWork
from shared.infra.writer import Writer, in_thread

log = get_logger(__name__)


class Rejected(DomainError):
    """A message that can never be applied: it goes to the DLQ with this reason."""


@dataclass(slots=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: Any) -> Received:
        return cls(
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            key=rec.key,
            value=rec.value if rec.value is not None else b"",
            headers={k: v for k, v in (rec.headers or ())},
        )

    @property
    def position(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


@dataclass(slots=True)
class Claim:
    """What the runtime needs to know about a record before handling it."""

    message_id: str
    #: a repeat of this message id at another offset is an error (inbound), not a redelivery
    duplicate_is_error: bool = False
    #: what the handler parsed while claiming, handed back to it
    parsed: Any = None
    #: a rejection found while claiming (e.g. bad JSON): dead-letter without handling
    rejection: Rejected | None = None
    #: the id the message declares, where the inbox knows it by another (its position)
    declared_id: str | None = None
    #: ``parsed`` is what the record's bytes say, unchanged (no upcast): the bytes may stand
    #: for it (``EventMessage.raw``)
    as_read: bool = False

    @property
    def reported_id(self) -> str:
        return self.declared_id or self.message_id


class MessageHandler(Protocol):
    """What a service gives the runtime for one topic.

    ``claim`` runs on the event loop for every record (cheap: headers, parsing, signature);
    ``handle`` runs in the batch's worker thread, inside the unit of work.
    """

    def claim(self, msg: Received) -> Claim | None: ...

    def prefetch(self, uow: UnitOfWork, claims: list[Claim]) -> None:
        """Load what the batch's messages will need in a few statements (optional)."""

    def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str: ...


TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError, ConnectionError)


class _Refused(Exception):
    """A record was refused during an optimistic (savepoint-free) pass over a batch."""


@dataclass(slots=True)
class _Tally:
    """Outcomes of one attempt at a transaction, added to the processor's counts only once it
    commits: a pass that is rolled back (the optimistic pass, a failed batch) counts nothing."""

    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    #: the commit made parked messages due: wake the sweeper
    wake_parked: bool = False


class BatchProcessor:
    def __init__(
        self,
        *,
        service: str,
        unit_of_work: Callable[[], UnitOfWork],
        handler: MessageHandler,
        max_attempts: int = 3,
        on_commit: Callable[[], None] | None = None,
        retry_pause_s: float = 0.2,
        on_batch: Callable[[float, bool], None] | None = None,
        parking: Parking | None = None,
        writer: Writer | None = None,
    ) -> None:
        self.service = service
        #: the thread the transactions run in (``None``: asyncio's default pool)
        self._writer = writer
        #: where early arrivals are held; without it they are dead-lettered with their reason
        self._parking = parking
        self._uow = unit_of_work
        self._handler = handler
        self._max_attempts = max_attempts
        self._on_commit = on_commit or (lambda: None)
        self._pause = retry_pause_s
        self._on_batch = on_batch or (lambda _seconds, _ok: None)
        #: records handled, by outcome, counted once their transaction committed
        self.stats = {"applied": 0, "ignored": 0, "rejected": 0, "redelivered": 0, "parked": 0}
        #: dead letters written (committed), by reason code
        self.dead_letters: Counter[str] = Counter()
        #: ``time.monotonic()`` of the last batch that committed, and of the first failure of
        #: the current streak of failed batches (``None`` while batches commit): a consumer that
        #: fails for long re-reads the same records and makes no progress (``/ready``)
        self.created_at = time.monotonic()
        self.last_success_at: float | None = None
        self.failing_since: float | None = None
        self.consecutive_failures = 0

    def _count(self, tally: _Tally) -> None:
        for outcome, n in tally.outcomes.items():
            self.stats[outcome] = self.stats.get(outcome, 0) + n
        self.dead_letters.update(tally.dead_letters)
        if tally.wake_parked and self._parking is not None:
            self._parking.notify()

    async def process(self, records: Iterable[Any]) -> bool:
        """Handle a batch; ``False`` when no record in it was this service's (nothing written,
        so its offsets need not be committed at once: ``subscribe``)."""
        items: list[tuple[Received, Claim]] = []
        for rec in records:
            msg = rec if isinstance(rec, Received) else Received.from_record(rec)
            try:
                claim = self._handler.claim(msg)
            except Exception as exc:  # noqa: BLE001 - nothing a record holds may stop the consumer
                log.error(
                    "consumer.claim_failed",
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
                claim = Claim(
                    message_id=position_id(msg),
                    rejection=Rejected(
                        "unreadable_message", f"the record could not be read: {type(exc).__name__}: {str(exc)[:300]}"
                    ),
                )
            if claim is not None:
                items.append((msg, claim))
        if not items:
            self.last_success_at, self.failing_since, self.consecutive_failures = time.monotonic(), None, 0
            return False
        started = time.monotonic()
        try:
            try:
                # the whole transaction in the writer thread: one hop per batch, not per statement
                self._count(await in_thread(self._writer, self._run_batch, items))
            except TRANSIENT as exc:
                log.warning("consumer.transient_failure", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the poison message below
                log.warning("consumer.batch_failed", error=f"{type(exc).__name__}: {exc}", size=len(items))
                for item in items:
                    await self._process_alone(item)
        except BaseException:
            self.consecutive_failures += 1
            if self.failing_since is None:
                self.failing_since = started
            self._on_batch(time.monotonic() - started, False)
            raise
        now = time.monotonic()
        self.last_success_at, self.failing_since, self.consecutive_failures = now, None, 0
        self._on_batch(now - started, True)
        self._on_commit()
        return True

    def _run_batch(self, items: list[tuple[Received, Claim]]) -> _Tally:
        try:
            # optimistic: no SAVEPOINT per record; a refusal re-runs the batch with them
            tally = _Tally()
            with self._uow() as uow:
                self._apply(uow, items, tally, savepoints=False)
                uow.commit()
                tally.wake_parked = uow.parked_due
        except _Refused:
            tally = _Tally()
            with self._uow() as uow:
                self._apply(uow, items, tally, savepoints=True)
                uow.commit()
                tally.wake_parked = uow.parked_due
        return tally

    def _run_one(self, item: tuple[Received, Claim]) -> _Tally:
        tally = _Tally()
        with self._uow() as uow:
            self._apply(uow, [item], tally, savepoints=True)
            uow.commit()
            tally.wake_parked = uow.parked_due
        return tally

    def _dead_letter_alone(self, msg: Received, claim: Claim, reason: str) -> _Tally:
        tally = _Tally()
        with self._uow() as uow:
            self._dead_letter(uow, msg, claim.reported_id, Rejected("processing_failed", reason), tally)
            uow.record_inbox(claim.message_id, msg.topic, msg.partition, msg.offset, "failed")
            uow.commit()
        return tally

    async def _process_alone(self, item: tuple[Received, Claim]) -> None:
        msg, claim = item
        last: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._count(await in_thread(self._writer, self._run_one, item))
                return
            except TRANSIENT:
                raise
            except Exception as exc:  # noqa: BLE001 - counted, then dead-lettered
                last = exc
                log.warning(
                    "consumer.message_failed",
                    attempt=attempt,
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(self._pause * attempt)
        reason = f"processing failed {self._max_attempts} times: {type(last).__name__}: {last}"
        self._count(await in_thread(self._writer, self._dead_letter_alone, msg, claim, reason))

    def _apply(self, uow: UnitOfWork, items: list[tuple[Received, Claim]], tally: _Tally, *, savepoints: bool) -> None:
        ids = {c.message_id for _, c in items} | {_dup_id(m) for m, c in items if c.duplicate_is_error}
        inbox = uow.infra.inbox
        seen: dict[str, tuple[str, int, int]] = {}
        first_outcome: dict[str, str] = {}
        id_list = list(ids)
        conn = uow.session.connection()  # the inbox is only inserted into: no pending writes to read first
        stmt = _inbox_select(inbox)
        for i in range(0, len(id_list), 500):
            rows = conn.execute(stmt, {"ids": id_list[i : i + 500]})
            for r in rows:
                seen[r[0]] = (r[1], r[2], r[3])
                first_outcome[r[0]] = r[4]
        prefetch = getattr(self._handler, "prefetch", None)
        if prefetch is not None:
            prefetch(uow, [c for _, c in items if c.rejection is None and c.message_id not in seen])
        for msg, claim in items:
            prior = seen.get(claim.message_id)
            if prior is not None:
                if prior == msg.position or not claim.duplicate_is_error:
                    tally.outcomes["redelivered"] += 1
                    continue
                dup = _dup_id(msg)
                if dup in seen:
                    continue
                self._dead_letter(
                    uow,
                    msg,
                    claim.message_id,
                    Rejected(
                        "duplicate_event_id",
                        f"event_id {claim.message_id} was already used by a message read at {prior[0]} "
                        f"partition {prior[1]} offset {prior[2]} (outcome: {first_outcome.get(claim.message_id, 'applied')}); "
                        "this copy changes nothing: send a new event_id to try again",
                    ),
                    tally,
                )
                uow.record_inbox(dup, msg.topic, msg.partition, msg.offset, "rejected")
                seen[dup] = msg.position
                tally.outcomes["rejected"] += 1
                continue
            if claim.rejection is not None:
                self._dead_letter(uow, msg, claim.reported_id, claim.rejection, tally)
                outcome = "rejected"
            elif not savepoints:
                try:
                    outcome = self._handler.handle(uow, msg, claim)
                except DomainError as exc:
                    raise _Refused from exc
            else:
                try:
                    with uow.savepoint():
                        outcome = self._handler.handle(uow, msg, claim)
                except NotYetKnown as early:
                    if self._parking is None:
                        self._dead_letter(uow, msg, claim.reported_id, early, tally)
                        outcome = "rejected"
                    else:
                        self._parking.park(uow, msg, claim, early)
                        outcome = "parked"
                except DomainError as rej:
                    self._dead_letter(uow, msg, claim.reported_id, rej, tally)
                    outcome = "rejected"
            uow.record_inbox(claim.message_id, msg.topic, msg.partition, msg.offset, outcome)
            seen[claim.message_id] = msg.position
            first_outcome[claim.message_id] = outcome
            tally.outcomes[outcome if outcome in self.stats else "applied"] += 1

    def _dead_letter(self, uow: UnitOfWork, msg: Received, message_id: str, rej: DomainError, tally: _Tally) -> None:
        tally.dead_letters[rej.code] += 1
        dead_letter(uow, self.service, msg, message_id, rej)


def dead_letter(uow: UnitOfWork, service: str, msg: Received, message_id: str, rej: DomainError) -> None:
    """Log a refused record and queue its dead letter for ``<topic>.dlq`` in ``uow``."""
    log.info(
        "message.rejected",
        code=rej.code,
        reason=rej.reason,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        message_id=message_id,
    )
    uow.dead_letter(
        service=service,
        source_topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        headers=msg.headers,
        code=rej.code,
        reason=rej.reason,
        message_id=message_id,
    )


@functools.cache
def _inbox_select(inbox: Table) -> Any:
    """The inbox read of a batch (built once per inbox table: see ``Repository.by_keys``)."""
    return select(inbox.c.message_id, inbox.c.topic, inbox.c.partition, inbox.c.offset, inbox.c.outcome).where(
        in_list(inbox.c.message_id, "ids")
    )


def _dup_id(msg: Received) -> str:
    return f"dup:{msg.topic}:{msg.partition}:{msg.offset}"


def position_id(msg: Received) -> str:
    """A message id for a record that has none of its own (e.g. unparseable bytes)."""
    return f"pos:{msg.topic}:{msg.partition}:{msg.offset}"


#: how long a consumer may hold the offsets of batches it had nothing to do with before it
#: commits them (``subscribe``)
IDLE_COMMIT_S = 1.0
#: how long it may hold them once a batch wrote (the transaction committed first)
COMMIT_INTERVAL_S = 0.25


class _DeferredCommit:
    """Offsets a consumer has read past and not yet committed.

    An offset commit is an optimisation of what is read again after a crash or a rebalance,
    not a guarantee: every record a service handles is recorded in its inbox in the same
    transaction, so a record read again is skipped as a redelivery, and one that was never the
    service's is skipped again. Committing after every batch cost the broker an offset commit,
    a write to ``__consumer_offsets``, per batch, and at low load a batch is a record or two:
    at 10 unit-years in flight that was about one Kafka request in five. So offsets are
    committed after the transaction, as before, but at most every ``COMMIT_INTERVAL_S`` while
    batches write, and every ``IDLE_COMMIT_S`` while they only skip records of the other
    services (most of the inbound topic). A commit covers every batch read before it; the long
    poll (``long_poll``) commits what is due when no more records come.
    """

    __slots__ = ("since", "wrote")

    def __init__(self) -> None:
        #: ``time.monotonic()`` of the first batch whose commit is held back (``None``: none)
        self.since: float | None = None
        #: a held-back batch wrote (its offsets are due sooner)
        self.wrote = False

    def hold(self, now: float, *, wrote: bool) -> None:
        if self.since is None:
            self.since = now
        self.wrote = self.wrote or wrote

    def due(self, now: float) -> bool:
        return self.since is not None and now - self.since >= (COMMIT_INTERVAL_S if self.wrote else IDLE_COMMIT_S)

    def committed(self) -> None:
        self.since, self.wrote = None, False

    async def commit(self, consumer: Any, **context: Any) -> None:
        """Commit ``consumer``'s offsets past what it has handed out, best effort: a commit
        refused (e.g. in a rebalance) is logged and left to the next one; what is never
        committed is read again and skipped."""
        try:
            await consumer.commit()
            self.committed()
        except Exception as exc:  # noqa: BLE001 - e.g. CommitFailedError during a rebalance
            log.warning("consumer.deferred_commit_failed", error=f"{type(exc).__name__}: {exc}"[:300], **context)


def subscribe(
    broker: Any,
    topic: str,
    *,
    group_id: str,
    processor: BatchProcessor,
    max_records: int = 500,
    fetch_min_bytes: int = 1,
    fetch_max_wait_ms: int = 500,
    title: str | None = None,
    description: str | None = None,
) -> Any:
    """Register a faststream batch subscriber that feeds ``processor``; returns the subscriber
    (its running ``consumer`` tells the lag of the partitions it holds).

    Offsets are committed by hand (``AckPolicy.MANUAL``), always after the batch's transaction,
    at most every ``COMMIT_INTERVAL_S`` (:class:`_DeferredCommit`); a batch that fails is nacked
    (faststream seeks back to its first records) and read again.
    """
    pending = _DeferredCommit()
    context = broker.context

    async def _raw(msg: Any, _original: Any) -> Any:  # skip faststream's JSON decoding
        return msg.body

    async def consume(body: Any) -> None:
        # the batch's message from faststream's context, not as a ``KafkaMessage`` parameter:
        # fast_depends resolves such a context field with a synchronous call that it runs in
        # anyio's worker thread, one thread hand-off per batch (``docs/benchmarks.md``)
        message: KafkaMessage = context.get_local("message")
        raw = message.raw_message
        records = raw if isinstance(raw, (list, tuple)) else (raw,)
        try:
            wrote = await processor.process(records)
        except BaseException:
            await message.nack()
            raise
        now = time.monotonic()
        pending.hold(now, wrote=wrote)
        if pending.due(now):
            await message.ack()
            pending.committed()

    consume.__name__ = f"{processor.service}_{topic.replace('.', '_')}"
    subscriber = broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=100,
        fetch_min_bytes=fetch_min_bytes,
        fetch_max_wait_ms=fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw,
        title=title,
        description=description,
    )
    subscriber(consume)
    long_poll(subscriber, pending)
    return subscriber


def long_poll(subscriber: Any, pending: _DeferredCommit | None = None) -> None:
    """Make a faststream batch subscriber wait for records in ``getmany`` instead of sleeping.

    faststream's batch subscriber (0.7) polls with ``getmany(timeout_ms=batch_timeout_ms)``
    and, when nothing came, sleeps as long again before it polls again; a record that reached
    an idle consumer during that sleep waited for it (up to 100 ms) on each hop of a lifecycle.
    ``getmany`` returns as soon as records are fetched, so the poll alone is the wait; only a
    poll that came back empty early (no partitions assigned yet, a rebalance) pauses for the
    rest of its timeout, so that the loop never spins. ``bench/poll.py`` measures the two
    side by side. An empty poll also commits the offsets ``pending`` has held back for
    ``IDLE_COMMIT_S`` (best effort: a commit refused in a rebalance is left to the next one).
    """
    if not isinstance(getattr(subscriber, "batch_timeout_ms", None), int) or not callable(getattr(subscriber, "get_msg", None)):
        raise TypeError(f"{type(subscriber).__name__} is not a faststream batch subscriber with get_msg and batch_timeout_ms")
    timeout_ms: int = subscriber.batch_timeout_ms
    max_records: int | None = subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        if pending is not None:
            _commit_on_stop(consumer, pending)
        started = time.monotonic()
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        if batches:
            return tuple(rec for records in batches.values() for rec in records)
        if pending is not None and pending.due(time.monotonic()):
            await pending.commit(consumer)
        rest = timeout_ms / 1000 - (time.monotonic() - started)
        if rest > 0.001:
            await asyncio.sleep(rest)
        return ()

    subscriber.get_msg = get_msg


def _commit_on_stop(consumer: Any, pending: _DeferredCommit) -> None:
    """Make ``consumer`` commit the offsets ``pending`` holds back before it stops.

    faststream stops a subscriber by cancelling its loop and then stopping its consumer; a
    batch cut short by the cancellation was nacked (its partitions sought back to its first
    records), so what is committed here is only what the loop finished. Best effort, like the
    long poll's commit: what is not committed is read again at the next start and skipped.
    """
    stop = getattr(consumer, "stop", None)
    if stop is None or getattr(consumer, "_antt_commit_on_stop", False):
        return

    async def commit_then_stop() -> None:
        if pending.since is not None:
            await pending.commit(consumer, stopping=True)
        await stop()

    consumer.stop = commit_then_stop
    consumer._antt_commit_on_stop = True
