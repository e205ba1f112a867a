"""Driving the unit-years through their lifecycle, as fast as the system goes.

The reactions themselves (which step follows which event, never the same step twice,
admission of the next unit-year when one is recognised, the latency timestamps) are
``deploy.driver.LifecycleDriver``'s, the end-to-end tests' driver, given the benchmark's
complete payloads. What is added here is what a measurement needs and a test does not:

- :class:`BenchClient`, a client whose sender is synchronous and pipelined (at most
  ``window`` sends unacknowledged, delivery results collected in callbacks, never awaited one
  by one), so the driver never waits for the broker between two messages, and whose follower
  parses only the events the driver reacts to (the others are counted from their
  ``event_type`` header), so that the client's share of the two cores stays small;
- :class:`BenchDriver`, stricter about what it sees (an event delivered twice, an event of a
  unit-year it does not know, a dead end) and with a run loop that fails fast: a service
  exited, an inbound send failed, a valid message was dead-lettered, or nothing happened for
  ``stall_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.lifecycle.population import BENCH_MESSAGES
from deploy.client import WATCHED, AnttClient
from deploy.driver import DEAD_ENDS, LifecycleDriver, Plan
from deploy.processes import ServiceProcess
from shared.contracts import topics
from shared.contracts.canonical import compact_json
from shared.contracts.inbound import new_message
from shared.infra.kafka import key_partitioner, topic_partitions


class BenchClient(AnttClient):
    """The :class:`deploy.client.AnttClient` follower with a bounded, pipelined sender.

    ``enqueue`` is synchronous (it can be called from ``on_event``); a sender task signs the
    messages and hands them to the producer, with at most ``window`` sends unacknowledged.
    Delivery results are collected in callbacks, never awaited one by one.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        window: int,
        on_event: Callable[[dict[str, Any]], None],
        parse: frozenset[str],
        on_other: Callable[[str], None],
    ) -> None:
        super().__init__(bootstrap, on_event=on_event)
        #: the event types whose envelopes ``on_event`` needs; any other event is handed to
        #: ``on_other`` by its header's type, unparsed, and is not kept
        self.parse = parse
        self.on_other = on_other
        #: the types of the events of each unit-year (or stream), in the order seen (what a
        #: stall report shows; the envelopes themselves are not kept)
        self.trail: dict[str, list[str]] = defaultdict(list)
        self.window = window
        self._slots = asyncio.Semaphore(window)
        self._queue: deque[tuple[str, dict[str, Any], str, Callable[[], None] | None]] = deque()
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.sent = 0
        self.acked = 0
        self.send_errors: list[str] = []
        self.first_send: float | None = None
        self.bytes_sent = 0

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1 << 18,
            partitioner=key_partitioner,
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=4 << 20,
            fetch_max_bytes=32 << 20,
        )
        await self._consumer.start()
        parts = await topic_partitions(self._consumer, WATCHED)
        self._consumer.assign(parts)
        ends = await self._consumer.end_offsets(parts)
        for tp, off in ends.items():
            self._consumer.seek(tp, off)
        self._task = asyncio.create_task(self._follow())
        self._sender = asyncio.create_task(self._send_loop())

    def _receive(self, topic: str, rec: Any) -> None:
        """The base class's, without parsing what the driver does not react to. The relays
        put the event type in a header and the stream in the key: a lifecycle's largest
        event (the self-assessment with its evidence, ~6 KB) and four others are counted from
        those, not decoded. A record without the header is parsed."""
        if not topic.endswith(".dlq"):
            et = dict(rec.headers).get("event_type")
            if et is not None:
                event_type = et.decode("utf-8", "replace")
                if event_type not in self.parse:
                    self.trail[rec.key.decode("utf-8", "replace") if rec.key else "?"].append(event_type)
                    self.on_other(event_type)
                    return
        super()._receive(topic, rec)

    def _keep(self, body: dict[str, Any]) -> None:
        """Only the event's type, in its unit-year's trail: no envelope is kept (the base class
        keeps them all: 840 MiB at N = 10,000)."""
        self.trail[body.get("unit_year_id") or body["stream_id"]].append(body["event_type"])

    async def stop(self) -> None:
        if self._sender:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        await super().stop()

    def enqueue(self, event_type: str, payload: dict[str, Any], *, key: str, on_sent: Callable[[], None] | None = None) -> None:
        self._queue.append((event_type, payload, key, on_sent))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue) + (self.sent - self.acked)

    def _delivered(self, fut: asyncio.Future[Any]) -> None:
        self._slots.release()
        self.acked += 1
        if fut.cancelled():
            self.send_errors.append("cancelled")
        elif fut.exception() is not None:
            self.send_errors.append(repr(fut.exception()))

    async def _send_loop(self) -> None:
        assert self._producer is not None
        producer = self._producer
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            event_type, payload, key, on_sent = self._queue.popleft()
            await self._slots.acquire()
            msg = new_message(event_type, payload, source_system=self.source_system, key=self.key)
            raw = compact_json(msg)
            if self.first_send is None:
                self.first_send = time.monotonic()
            if on_sent is not None:
                on_sent()
            fut = await producer.send(topics.INBOUND, raw, key=key.encode("utf-8"))
            self.sent += 1
            self.bytes_sent += len(raw)
            fut.add_done_callback(self._delivered)


# ----------------------------------------------------------------------------- lifecycle driver


class Stalled(Exception):
    pass


REACTS_TO = frozenset({"AssessmentOpened", "UnitYearSelfScored", "UnitYearReviewed", "UnitYearRecognized"})


class BenchDriver(LifecycleDriver):
    """``deploy.driver.LifecycleDriver`` with the benchmark's payloads, a :class:`BenchClient`
    as its sender, at most ``inflight`` unit-years in progress, and a failing-fast run loop."""

    def __init__(self, specs: list[Plan], *, inflight: int, window: int, bootstrap: str) -> None:
        client = BenchClient(
            bootstrap, window=window, on_event=self.on_event, parse=REACTS_TO | DEAD_ENDS, on_other=self.on_other
        )
        super().__init__(client=client, messages=BENCH_MESSAGES, sender=client.enqueue)
        self.client: BenchClient = client
        self.specs = specs
        self.inflight = inflight if inflight > 0 else len(specs)
        self.reacted: set[str] = set()
        self.events_by_type: Counter[str] = Counter()
        self.last_progress = time.monotonic()
        self.dead_letters_seen = 0
        self.first_dead_letter_at = 0.0

    def on_other(self, event_type: str) -> None:
        """An event the driver does not react to (counted, not parsed: :class:`BenchClient`)."""
        self.last_progress = time.monotonic()
        self.events_by_type[event_type] += 1

    def on_event(self, ev: dict[str, Any]) -> None:
        self.last_progress = time.monotonic()
        et = ev["event_type"]
        self.events_by_type[et] += 1
        if et not in REACTS_TO and et not in DEAD_ENDS:
            return
        uy = ev.get("unit_year_id")
        if uy not in self.plans:
            self.anomaly("event for an unknown unit-year", f"{uy} {et}")
            return
        if et in REACTS_TO:
            eid = ev["event_id"]
            if eid in self.reacted:
                self.anomaly(f"{et} delivered twice", f"{uy} event {eid}")
                return
            self.reacted.add(eid)
        super().on_event(ev)

    async def run(
        self, *, services: dict[str, ServiceProcess], stall_timeout: float, progress: bool, dlq_grace: float = 15.0
    ) -> None:
        self.feed(self.specs, inflight=self.inflight)
        self.last_progress = time.monotonic()
        last_report = time.monotonic()
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), 1.0)
            now = time.monotonic()
            for svc in services.values():
                if not svc.running():
                    raise Stalled(
                        f"service {svc.name} exited ({svc.proc.returncode if svc.proc else '?'}); log tail:\n{svc.tail()}"
                    )
            if self.client.send_errors:
                raise Stalled(f"{len(self.client.send_errors)} inbound sends failed, e.g. {self.client.send_errors[0]}")
            if self.client.dead_letters:
                if not self.dead_letters_seen:
                    self.dead_letters_seen = len(self.client.dead_letters)
                    self.first_dead_letter_at = now
                    first = next(iter(self.client.dead_letters.values()))
                    print(f"  ! inbound dead letter: {first.get('error_code')}: {first.get('reason')}", flush=True)
                if now - self.first_dead_letter_at > dlq_grace:
                    raise Stalled(
                        f"{len(self.client.dead_letters)} inbound message(s) dead-lettered; every message of this benchmark "
                        f"is valid, so the system under test rejects valid input:\n"
                        + self._stuck_report(now - self.last_progress)
                    )
            if now - self.last_progress > stall_timeout and self.client.pending == 0:
                raise Stalled(self._stuck_report(stall_timeout))
            if progress and now - last_report >= 10:
                last_report = now
                print(
                    f"  {len(self.recognized):>7}/{len(self.specs)} recognised, {self.admitted - len(self.recognized)} in progress, "
                    f"{self.client.sent} sent, {sum(self.events_by_type.values())} events seen",
                    flush=True,
                )
        await self.client.flush()

    def _stuck_report(self, stall_timeout: float) -> str:
        stuck = [uy for uy in (s.unit_year_id for s in self.specs[: self.admitted]) if uy not in self.recognized]
        lines = [f"last event {stall_timeout:.0f}s ago; {len(stuck)} unit-years admitted but not recognised:"]
        by_last: Counter[str] = Counter()
        for uy in stuck:
            trail = self.client.trail.get(uy, [])
            by_last[trail[-1] if trail else "(no event)"] += 1
        for last, count in by_last.most_common():
            lines.append(f"  {count} stuck after {last}")
        for uy in stuck[:5]:
            lines.append(f"  e.g. {uy}: {self.client.trail.get(uy, [])}")
        if self.client.dead_letters:
            lines.append(f"  {len(self.client.dead_letters)} inbound dead letters, e.g.:")
            for code, count in Counter(
                f"{dl.get('error_code')}: {dl.get('reason')}" for dl in self.client.dead_letters.values()
            ).most_common(5):
                lines.append(f"    {count} × {code}")
        return "\n".join(lines)
