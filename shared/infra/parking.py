"""Early arrivals are held, not refused.

Each service reads ``antt.inbound.v1`` and the other services' event topics on its own, so a
message can reach a service before the event that tells it the unit or unit-year exists: a
self-assessment sent right after the year's registration can reach the assessment service
before its ``UnitYearRegistered``; a year registration keyed by another key than the unit code
can overtake the unit's registration. Refusing such a message made every sender wait for each
confirming event. Instead (as Zeebe buffers a message with a time-to-live until a process
instance subscribes to it):

1. A command raises :class:`NotYetKnown` (a :class:`~shared.infra.errors.DomainError`: over
   HTTP it is still an immediate 404, a caller there can see the answer and retry) naming the
   stream whose first event it waits for: ``<unit_year_id>`` or ``unit:<code>``.
2. The consumer undoes the message's savepoint and **parks** it: a row of ``parked_messages``
   with the record as read (topic, partition, offset, key, value, headers), written in the
   batch's transaction with the message's inbox row (outcome ``parked``), so a redelivery
   changes nothing and a crash loses nothing.
3. Any transaction that appends an event to a stream makes the rows waiting for that stream due
   (``UnitOfWork.flush``), and the committing consumer wakes the :class:`Parking` sweeper, which
   applies them in their own transaction, oldest first, through the handler of the topic they
   were read from (signature and all checked again). The outcome replaces ``parked`` in the
   inbox; a refusal then (e.g. ``illegal_transition``) is dead-lettered with its reason, as it
   would have been.
4. A parked message whose stream is not announced within ``parking_ttl_s`` is dead-lettered as
   ``expired_waiting_for_<unit|unit_year>`` with the original reason. The sweeper also runs every
   ``parking_sweep_interval_s`` and retries each row at growing intervals: on PostgreSQL a
   message parked while the announcing transaction committed is picked up that way.

Only "not known yet" is parked. A message that is illegal in the current state is refused at
once, never parked. Several instances may sweep: a row is claimed by deleting it, so exactly
one of them applies it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, func, insert, select, update

from shared.contracts.envelope import utcnow
from shared.infra.errors import DomainError
from shared.infra.logging import get_logger
from shared.infra.writer import Writer, in_thread

if TYPE_CHECKING:
    from shared.infra.consumer import Claim, MessageHandler, Received
    from shared.infra.observed import ObservedRuntime
    from shared.infra.uow import UnitOfWork

log = get_logger(__name__)

#: how many due rows one sweep takes (the rest wait for the next one)
SWEEP_BATCH = 200
#: the longest wait between two retries of a parked row (its expiry comes first when sooner)
MAX_RETRY_INTERVAL_S = 300.0


class NotYetKnown(DomainError):
    """The message is about a unit or unit-year this service has not heard of yet.

    ``stream_id`` is the stream whose first event announces it (``<unit_year_id>`` or
    ``unit:<code>``), ``waiting_for`` what that is (``unit_year``, ``unit``): the dead letter
    after the time-to-live is ``expired_waiting_for_<waiting_for>``."""

    def __init__(self, code: str, reason: str, *, stream_id: str, waiting_for: str) -> None:
        super().__init__(code, reason)
        self.stream_id = stream_id
        self.waiting_for = waiting_for


def expired(waiting_for: str, reason: str) -> DomainError:
    """The refusal of a message that waited its whole time-to-live."""
    from shared.infra.consumer import Rejected

    if waiting_for == "unit":
        return Rejected("expired_waiting_for_unit", reason)
    return Rejected("expired_waiting_for_unit_year", reason)


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite may hand back the text it stored
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _headers_json(headers: dict[str, bytes]) -> str:
    return orjson.dumps({k: base64.b64encode(v or b"").decode("ascii") for k, v in headers.items()}).decode("utf-8")


def _headers_of(text: str) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in orjson.loads(text).items()}


class Parking:
    """Parks early arrivals, applies them when their stream is announced, expires them.

    One per runtime; the runtime registers the handler of every topic it consumes
    (:meth:`register`), runs :meth:`run` as a task, and calls :meth:`notify` after a commit
    that made parked rows due."""

    def __init__(
        self,
        *,
        service: str,
        unit_of_work: Callable[[], UnitOfWork],
        ttl_s: float,
        sweep_interval_s: float,
        on_commit: Callable[[], None] | None = None,
        writer: Writer | None = None,
    ) -> None:
        self.service = service
        self._uow = unit_of_work
        #: the thread its transactions run in (``None``: asyncio's default pool)
        self._writer = writer
        self.ttl_s = ttl_s
        self.sweep_interval_s = sweep_interval_s
        self._on_commit = on_commit or (lambda: None)
        self.handlers: dict[str, MessageHandler] = {}
        #: what became of parked messages, by outcome (applied, ignored, rejected, and
        #: ``expired_waiting_for_...`` for those dead-lettered after the time-to-live), committed
        self.released: Counter[str] = Counter()
        #: sweeps that failed (the rows stay parked for the next one)
        self.errors = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, topic: str, handler: MessageHandler) -> None:
        self.handlers[topic] = handler

    # ------------------------------------------------------------------ parking (consumer)

    def park(self, uow: UnitOfWork, msg: Received, claim: Claim, early: NotYetKnown) -> None:
        """Hold ``msg`` in the consumer's transaction (the caller writes its inbox row).

        The row is inserted at once, not buffered, so that an announcement later in the same
        batch finds it."""
        now = utcnow()
        uow.session.execute(
            insert(uow.infra.parked_messages).values(
                message_id=claim.message_id,
                stream_id=early.stream_id,
                waiting_for=early.waiting_for,
                reason=early.reason,
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                key=msg.key,
                value=msg.value,
                headers=_headers_json(msg.headers),
                parked_at=now,
                expires_at=now + timedelta(seconds=self.ttl_s),
                next_try_at=now + timedelta(seconds=min(self.sweep_interval_s, self.ttl_s)),
                attempts=0,
            )
        )
        log.info(
            "message.parked",
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            message_id=claim.reported_id,
            waiting_for=early.waiting_for,
            stream_id=early.stream_id,
            reason=early.reason,
            ttl_s=self.ttl_s,
        )

    # ------------------------------------------------------------------ sweeping

    def notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name=f"{self.service}-parking")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_interval_s)
            self._wake.clear()
            try:
                while await self.sweep() >= SWEEP_BATCH:
                    pass
            except Exception as exc:  # noqa: BLE001 - logged; the rows stay parked for the next sweep
                self.errors += 1
                log.warning("parking.sweep_failed", error=f"{type(exc).__name__}: {exc}"[:500])

    async def sweep(self, now: datetime | None = None) -> int:
        """Apply or expire the due parked rows (in a worker thread); the number looked at."""
        n, committed, due = await in_thread(self._writer, self._sweep, now)
        if committed:
            self._on_commit()
        if due:  # what was applied announced streams other rows wait for
            self.notify()
        return n

    def _sweep(self, now: datetime | None) -> tuple[int, bool, bool]:
        now = now or utcnow()
        with self._uow() as uow:
            pm = uow.infra.parked_messages
            rows = uow.session.execute(select(pm).where(pm.c.next_try_at <= now).order_by(pm.c.id).limit(SWEEP_BATCH)).all()
            if not rows:
                return 0, False, False
            released: Counter[str] = Counter()
            for row in rows:
                outcome = self._retry(uow, row._mapping, now)
                if outcome is not None:
                    released[outcome] += 1
            uow.commit()
        self.released.update(released)
        return len(rows), True, uow.parked_due

    def _retry(self, uow: UnitOfWork, row: Any, now: datetime) -> str | None:
        """Apply one parked row; what became of it (``None``: still waiting, or taken by
        another instance)."""
        from shared.infra.consumer import Received, Rejected, dead_letter

        pm = uow.infra.parked_messages
        taken = uow.session.execute(delete(pm).where(pm.c.id == row["id"]))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another instance applied it
        msg = Received(
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            key=row["key"],
            value=row["value"],
            headers=_headers_of(row["headers"]),
        )
        handler = self.handlers.get(msg.topic)
        outcome = "rejected"
        rej: DomainError | None = None
        claim: Claim | None = None
        try:
            claim = None if handler is None else handler.claim(msg)
        except Exception as exc:  # noqa: BLE001 - as the consumer does with a claim that raises
            rej = Rejected("unreadable_message", f"the record could not be read: {type(exc).__name__}: {str(exc)[:300]}")
        else:
            if handler is None or claim is None:
                rej = Rejected("processing_failed", f"no handler of {msg.topic} claims the parked message any more")
            elif claim.rejection is not None:
                rej = claim.rejection
        if rej is None:
            assert handler is not None and claim is not None
            try:
                with uow.savepoint():
                    outcome = handler.handle(uow, msg, claim)
            except NotYetKnown as early:
                expires_at = _as_utc(row["expires_at"])
                if now < expires_at:
                    self._park_again(uow, row, early, now, expires_at)
                    return None
                rej = expired(
                    early.waiting_for,
                    f"held {self.ttl_s:g} s (parked at {_as_utc(row['parked_at']).isoformat()}) waiting for "
                    f"{early.stream_id} to be announced, which did not come: {early.reason}",
                )
            except DomainError as exc:
                rej = exc
            except Exception as exc:  # noqa: BLE001 - a fault: count it and retry later, then give up
                attempts = int(row["attempts"]) + 1
                log.warning(
                    "parking.retry_failed",
                    message_id=row["message_id"],
                    attempt=attempts,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
                if attempts < 3:
                    self._park_again(uow, row, None, now, _as_utc(row["expires_at"]), attempts=attempts)
                    return None
                rej = Rejected(
                    "processing_failed", f"a parked message failed {attempts} times: {type(exc).__name__}: {exc}"[:1000]
                )
        if rej is not None:
            dead_letter(uow, self.service, msg, row["message_id"], rej)
            outcome = rej.code if rej.code.startswith("expired_") else "rejected"
        inbox = uow.infra.inbox
        uow.session.execute(
            update(inbox)
            .where(inbox.c.message_id == row["message_id"])
            .values(outcome="rejected" if rej is not None else outcome, processed_at=now)
        )
        log.info("message.unparked", message_id=row["message_id"], stream_id=row["stream_id"], outcome=outcome)
        return outcome

    def _park_again(
        self,
        uow: UnitOfWork,
        row: Any,
        early: NotYetKnown | None,
        now: datetime,
        expires_at: datetime,
        *,
        attempts: int | None = None,
    ) -> None:
        tries = int(row["attempts"]) + 1 if attempts is None else attempts
        wait = min(self.sweep_interval_s * (2**tries), MAX_RETRY_INTERVAL_S)
        values = dict(row)
        values.update(
            attempts=tries,
            next_try_at=min(now + timedelta(seconds=wait), expires_at),
        )
        if early is not None:
            values.update(stream_id=early.stream_id, waiting_for=early.waiting_for, reason=early.reason)
        uow.session.execute(insert(uow.infra.parked_messages).values(**values))


async def parking_state(runtime: ObservedRuntime) -> tuple[int, float | None]:
    """Parked messages and the age in seconds of the oldest (``None``: none). For ``/ready``
    and ``/metrics``."""
    pm = runtime.infra.parked_messages
    async with runtime.sessions() as s:
        row = (await s.execute(select(func.count(), func.min(pm.c.parked_at)).select_from(pm))).one()
    count, oldest = int(row[0]), row[1]
    if oldest is None:
        return count, None
    return count, max(0.0, (datetime.now(UTC) - _as_utc(oldest)).total_seconds())
