"""End-to-end lifecycle benchmark: N unit-years from registration to recognition, over Kafka.

``python -m bench.lifecycle [--n 10000] [--postgres] [--out docs/benchmarks.md]``

One run does, on a broker and services of its own:

1. starts a fresh single-node Apache Kafka (temporary data folder, free ports), creates the
   project topics, starts the three services as processes with fresh SQLite files (or one
   fresh PostgreSQL database each with ``--postgres``) and waits until they are ready;
2. measures a raw aiokafka baseline on that broker: M JSON messages of about 1 KB produced
   with an idempotent ``acks=all`` producer to a fresh 6-partition topic and consumed by a
   consumer group that commits its offsets after every batch;
3. drives N unit-years through the whole lifecycle as an external e-government system
   would, reacting to the services' events: registration of the unit and the unit-year,
   on ``AssessmentOpened`` a self-assessment with every criterion met, on
   ``UnitYearSelfScored`` / ``UnitYearReviewed`` a ``pass`` decision at
   ``payload.pending_level``, until ``UnitYearRecognized``. Messages are signed inbound
   messages keyed by the unit code and go through a bounded send pipeline (at most
   ``--window`` unacknowledged sends; delivery is never awaited one by one);
4. audits the topics from offset 0 with a fresh consumer and fails (exit 1) unless every
   unit-year was recognised exactly once, no event_id appears twice, every (stream,
   producer) sequence is 1..k and its hash chain verifies, and the dead-letter topics are
   empty;
5. appends a section to ``--out`` (``docs/benchmarks.md``) and writes the raw numbers to
   ``bench/results/<timestamp>.json``.

``--profile`` attaches ``py-spy`` (``pip install py-spy``) to each service process during the
lifecycle phase and summarises where their CPU time goes. Profiling slows the services down:
use the numbers of a run without ``--profile`` as the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.client import WATCHED, AnttClient
from deploy.localkafka import KAFKA_VERSION, PROJECT_TOPICS, LocalKafka, create_topics
from deploy.ports import free_ports
from deploy.processes import ROOT, SERVICES, ServiceProcess, make_services
from shared.contracts import topics
from shared.contracts.envelope import ChainBreak, verify_chain
from shared.contracts.inbound import new_message
from shared.infra.kafka import topic_partitions

RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
CRITERIA_DIR = ROOT / "services" / "assessment" / "criteria"
YEAR = 2025

DOC_HEADER = """\
# Benchmarks

## How to run

```
.venv/bin/python -m bench.lifecycle                        # N = 10,000 unit-years, SQLite (~9 min here)
.venv/bin/python -m bench.lifecycle --n 500                # a quick run
.venv/bin/python -m bench.lifecycle --postgres             # one PostgreSQL database per service
.venv/bin/python -m bench.lifecycle --n 2000 --profile     # py-spy on each service (pip install py-spy; slower)
.venv/bin/python -m bench.lifecycle --n 2000 --count-sql   # SQL statements per lifecycle (slower)
.venv/bin/python -m bench.lifecycle --n 300 --inflight 10  # latency of one lifecycle without queueing
```

Other options: `--raw-m` (messages in the raw baseline, default 100,000), `--inflight`
(unit-years in progress at once, default 2,000), `--window` (unacknowledged inbound sends,
default 2,000), `--stall-timeout`, `--keep` (keep the temporary folder with the services'
logs), `--out`. A run exits 1 when a check fails, when no event arrives for
`--stall-timeout` seconds, or when a valid inbound message is dead-lettered.

Each run starts its own Apache Kafka broker (fresh temporary folder, free ports), the project
topics and the three services as processes on fresh databases, then:

- **raw baseline** on the same broker, before the services start: M messages of about 1 KB of
  JSON, produced with an idempotent `acks=all` producer to a fresh 6-partition topic and
  consumed concurrently by a consumer group that commits after every batch. *raw msgs/s* is
  M divided by the time from the first send to the last commit.
- **lifecycle phase**: N unit-years (residential areas in a few communes of two provinces, and
  agencies managed at commune or province level, all for 2025, valid documents) driven from
  registration to recognition by a client that reacts to the services' events as an external
  system would (self-assessment with every criterion met on `AssessmentOpened`, a `pass`
  decision at `payload.pending_level` on `UnitYearSelfScored` and `UnitYearReviewed`).
  Inbound messages are signed, keyed by the unit code and sent through a bounded pipeline;
  at most `--inflight` unit-years are in progress at once. *Latency* is the time from handing
  `UnitYearRegistrationSubmitted` to the producer to seeing `UnitYearRecognized`;
  *lifecycles/s* is N divided by the time from the first send to the last recognition.
- **checks** (the run exits 1 if one fails): every unit-year recognised exactly once; no
  event_id twice on any event topic (read again from offset 0 by a fresh consumer); every
  (stream_id, producer) sequence is exactly 1..k and its hash chain verifies; the DLQs are
  empty.

*Kafka records per lifecycle* counts every record written to the project topics (inbound
messages, events, dead letters) during the lifecycle phase, divided by N. The second ratio
below, lifecycles/s ÷ (raw msgs/s ÷ records per lifecycle), is the fraction of the
throughput that the broker and the Python Kafka client alone would allow for that many
records per lifecycle.

Raw numbers of every run are in `bench/results/<timestamp>.json`.
"""


# ----------------------------------------------------------------------------- population


def criteria_codes(kind: str) -> list[str]:
    data = json.loads((CRITERIA_DIR / f"{kind}.2021.json").read_text(encoding="utf-8"))
    return [c["code"] for c in data["criteria"]]


@dataclass(frozen=True, slots=True)
class Spec:
    code: str
    name: str
    kind: str
    province_code: str
    commune_code: str
    managing_level: str

    @property
    def unit_year_id(self) -> str:
        return f"{self.code}:{YEAR}"


#: (province code, commune codes): Thái Nguyên and Quảng Ngãi, a few communes each
COMMUNES = (("19", ("TN-PD", "TN-PL", "TN-DH")), ("51", ("QN-TP", "QN-NH", "QN-BS")))


def population(n: int, run_tag: str) -> list[Spec]:
    """N units: 4 in 5 residential areas (xóm, tổ dân phố) spread over six communes, 1 in 5
    agencies managed at commune or province level."""
    communes = [(p, c) for p, cs in COMMUNES for c in cs]
    specs = []
    for i in range(n):
        province, commune = communes[i % len(communes)]
        if i % 5 == 4:
            level = "province" if i % 10 == 9 else "commune"
            specs.append(
                Spec(f"B{run_tag}-CQ-{i:06d}", f"Cơ quan số {i}", "agency", province, commune, level)
            )
        else:
            specs.append(
                Spec(
                    f"B{run_tag}-KDC-{i:06d}",
                    f"Tổ dân phố số {i}, {commune}",
                    "residential_area",
                    province,
                    commune,
                    "commune",
                )
            )
    return specs


def unit_payload(s: Spec) -> dict[str, Any]:
    return {
        "unit": {
            "code": s.code,
            "name": s.name,
            "kind": s.kind,
            "province_code": s.province_code,
            "commune_code": s.commune_code,
            "managing_level": s.managing_level,
            "attributes": {},
        }
    }


def registration_payload(s: Spec) -> dict[str, Any]:
    p: dict[str, Any] = {
        "unit_code": s.code,
        "year": YEAR,
        "documents": [
            {"kind": "party_resolution", "ref": f"NQ-{s.code}-{YEAR}", "issued_on": f"{YEAR}-01-20"},
            {"kind": "security_plan", "ref": f"KH-{s.code}-{YEAR}", "issued_on": f"{YEAR}-02-10"},
            {"kind": "registration_form", "ref": f"DK-{s.code}-{YEAR}", "issued_on": f"{YEAR}-02-15"},
        ],
    }
    if s.kind == "residential_area":
        p["households_total"] = 150
        p["households_registered"] = 150
    return p


def self_assessment_payload(s: Spec, codes: list[str]) -> dict[str, Any]:
    return {
        "unit_year_id": s.unit_year_id,
        "criteria": [{"code": c, "met": True, "note": None} for c in codes],
        "documents": [
            {"kind": "results_report", "ref": f"BC-{s.code}-{YEAR}", "issued_on": f"{YEAR}-10-21"},
            {"kind": "meeting_minutes", "ref": f"BB-{s.code}-{YEAR}", "issued_on": f"{YEAR}-10-20"},
        ],
        "meeting_date": f"{YEAR}-10-20",
        "score": None,
    }


def decision_payload(s: Spec, level: str, serial: int) -> dict[str, Any]:
    return {
        "unit_year_id": s.unit_year_id,
        "level": level,
        "decision": "pass",
        "reasons": [],
        "decided_by": f"bench officer ({level})",
        "decision_no": f"{serial}/QĐ-UBND",
        "certificate_no": f"GCN-{s.code}-{YEAR}",
    }


# ----------------------------------------------------------------------------- client


class BenchClient(AnttClient):
    """The :class:`deploy.client.AnttClient` follower with a bounded, pipelined sender.

    ``enqueue`` is synchronous (it can be called from ``on_event``); a sender task signs the
    messages and hands them to the producer, with at most ``window`` sends unacknowledged.
    Delivery results are collected in callbacks, never awaited one by one.
    """

    def __init__(self, bootstrap: str, *, window: int, on_event: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(bootstrap, on_event=on_event)
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
            raw = json.dumps(msg, ensure_ascii=False).encode("utf-8")
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


REACTS_TO = {"AssessmentOpened", "UnitYearSelfScored", "UnitYearReviewed", "UnitYearRecognized"}
DEAD_ENDS = {"UnitYearNotRecognized", "UnitYearReturned", "ApprovalCaseWithdrawn", "UnitYearWithdrawn"}


class LifecycleDriver:
    def __init__(self, specs: list[Spec], *, inflight: int, window: int, bootstrap: str) -> None:
        self.specs = specs
        self.by_uy = {s.unit_year_id: s for s in specs}
        self.codes = {kind: criteria_codes(kind) for kind in {s.kind for s in specs}}
        self.inflight = inflight if inflight > 0 else len(specs)
        self.client = BenchClient(bootstrap, window=window, on_event=self.on_event)
        self.t_start: dict[str, float] = {}
        self.t_done: dict[str, float] = {}
        self.reacted: set[str] = set()
        self.events_by_type: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()
        self.anomaly_examples: list[str] = []
        self.next_admit = 0
        self.decision_serial = 0
        self.last_progress = time.monotonic()
        self.finished = asyncio.Event()
        self.dead_letters_seen = 0
        self.first_dead_letter_at = 0.0

    # -- admission --
    def _admit(self) -> None:
        if self.next_admit >= len(self.specs):
            return
        s = self.specs[self.next_admit]
        self.next_admit += 1
        uy = s.unit_year_id
        self.client.enqueue("UnitRegistrationSubmitted", unit_payload(s), key=s.code)

        def _mark(uy: str = uy) -> None:
            self.t_start[uy] = time.monotonic()

        self.client.enqueue("UnitYearRegistrationSubmitted", registration_payload(s), key=s.code, on_sent=_mark)

    def _anomaly(self, what: str, example: str) -> None:
        self.anomalies[what] += 1
        if len(self.anomaly_examples) < 20:
            self.anomaly_examples.append(f"{what}: {example}")

    # -- reactions --
    def on_event(self, ev: dict[str, Any]) -> None:
        self.last_progress = time.monotonic()
        et = ev["event_type"]
        self.events_by_type[et] += 1
        if et in DEAD_ENDS:
            self._anomaly(f"unexpected {et}", f"{ev.get('unit_year_id')} {json.dumps(ev['payload'], ensure_ascii=False)[:300]}")
            return
        if et not in REACTS_TO:
            return
        eid = ev["event_id"]
        uy = ev.get("unit_year_id")
        if eid in self.reacted:
            self._anomaly(f"{et} delivered twice", f"{uy} event {eid}")
            return
        self.reacted.add(eid)
        s = self.by_uy.get(uy or "")
        if s is None:
            self._anomaly("event for an unknown unit-year", f"{uy} {et}")
            return
        if et == "AssessmentOpened":
            self.client.enqueue("SelfAssessmentSubmitted", self_assessment_payload(s, self.codes[s.kind]), key=s.code)
        elif et in ("UnitYearSelfScored", "UnitYearReviewed"):
            self.decision_serial += 1
            level = ev["payload"]["pending_level"]
            self.client.enqueue("ReviewDecisionSubmitted", decision_payload(s, level, self.decision_serial), key=s.code)
        elif et == "UnitYearRecognized":
            if uy in self.t_done:
                self._anomaly("UnitYearRecognized twice for a unit-year", f"{uy} event {eid}")
                return
            self.t_done[uy] = time.monotonic()
            if len(self.t_done) == len(self.specs):
                self.finished.set()
            else:
                self._admit()

    async def run(self, *, services: dict[str, ServiceProcess], stall_timeout: float, progress: bool, dlq_grace: float = 15.0) -> None:
        for _ in range(min(self.inflight, len(self.specs))):
            self._admit()
        self.last_progress = time.monotonic()
        last_report = time.monotonic()
        while not self.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finished.wait(), 1.0)
            now = time.monotonic()
            for svc in services.values():
                if not svc.running():
                    raise Stalled(f"service {svc.name} exited ({svc.proc.returncode if svc.proc else '?'}); log tail:\n{svc.tail()}")
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
                        f"is valid, so the system under test rejects valid input:\n" + self._stuck_report(now - self.last_progress)
                    )
            if now - self.last_progress > stall_timeout and self.client.pending == 0:
                raise Stalled(self._stuck_report(stall_timeout))
            if progress and now - last_report >= 10:
                last_report = now
                print(
                    f"  {len(self.t_done):>7}/{len(self.specs)} recognised, {self.next_admit - len(self.t_done)} in progress, "
                    f"{self.client.sent} sent, {sum(self.events_by_type.values())} events seen",
                    flush=True,
                )
        await self.client.flush()

    def _stuck_report(self, stall_timeout: float) -> str:
        stuck = [uy for uy in (s.unit_year_id for s in self.specs[: self.next_admit]) if uy not in self.t_done]
        lines = [f"last event {stall_timeout:.0f}s ago; {len(stuck)} unit-years admitted but not recognised:"]
        by_last: Counter[str] = Counter()
        for uy in stuck:
            evs = self.client.events.get(uy, [])
            by_last[evs[-1]["event_type"] if evs else "(no event)"] += 1
        for last, count in by_last.most_common():
            lines.append(f"  {count} stuck after {last}")
        for uy in stuck[:5]:
            lines.append(f"  e.g. {uy}: {[e['event_type'] for e in self.client.events.get(uy, [])]}")
        if self.client.dead_letters:
            lines.append(f"  {len(self.client.dead_letters)} inbound dead letters, e.g.:")
            for code, count in Counter(f"{dl.get('error_code')}: {dl.get('reason')}" for dl in self.client.dead_letters.values()).most_common(5):
                lines.append(f"    {count} × {code}")
        return "\n".join(lines)

    def latencies(self) -> list[float]:
        return sorted(self.t_done[uy] - self.t_start[uy] for uy in self.t_done if uy in self.t_start)


# ----------------------------------------------------------------------------- raw baseline


async def raw_baseline(bootstrap: str, m: int, *, window: int, size: int = 1024) -> dict[str, Any]:
    """Produce M ~1 KB JSON messages (idempotent, acks=all) to a fresh 6-partition topic while a
    consumer group reads them and commits after every batch."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, {topic: 6})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=32 << 20,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=1 << 18
    )
    await consumer.start()
    await producer.start()
    try:
        # join the group before the clock starts
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=100)
        template = {
            "event_id": "",
            "event_type": "BenchmarkRecord",
            "schema_version": 1,
            "unit_year_id": "",
            "sequence": 0,
            "payload": {"pad": ""},
        }
        base = len(json.dumps(template).encode()) + 36 + 20 + 8
        pad = "x" * max(0, size - base)
        slots = asyncio.Semaphore(window)
        produced = {"acked": 0, "errors": 0, "bytes": 0}
        t_acked_all = asyncio.get_running_loop().create_future()

        def _done(fut: asyncio.Future[Any]) -> None:
            slots.release()
            produced["acked"] += 1
            if fut.cancelled() or fut.exception() is not None:
                produced["errors"] += 1
            if produced["acked"] == m and not t_acked_all.done():
                t_acked_all.set_result(time.monotonic())

        async def produce() -> None:
            for i in range(m):
                await slots.acquire()
                uy = f"RAW-{i % 20000:06d}:{YEAR}"
                template["event_id"] = str(uuid.uuid4())
                template["unit_year_id"] = uy
                template["sequence"] = i
                template["payload"]["pad"] = pad
                raw = json.dumps(template).encode()
                produced["bytes"] += len(raw)
                fut = await producer.send(topic, raw, key=uy.encode())
                fut.add_done_callback(_done)
            await producer.flush()

        consumed = 0
        commits = 0

        async def consume() -> float:
            nonlocal consumed, commits
            while consumed < m:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                if not batch:
                    continue
                for records in batch.values():
                    for rec in records:
                        json.loads(rec.value)
                        consumed += 1
                await consumer.commit()
                commits += 1
            return time.monotonic()

        cpu0 = ProcCpu.snapshot_self()
        t0 = time.monotonic()
        consumer_task = asyncio.create_task(consume())
        await produce()
        t_produced = await t_acked_all
        t_consumed = await asyncio.wait_for(consumer_task, 300)
        cpu1 = ProcCpu.snapshot_self()
    finally:
        await producer.stop()
        await consumer.stop()
    e2e = t_consumed - t0
    return {
        "topic": topic,
        "partitions": 6,
        "messages": m,
        "avg_message_bytes": round(produced["bytes"] / m, 1),
        "produce_errors": produced["errors"],
        "commits": commits,
        "produce_s": round(t_produced - t0, 3),
        "end_to_end_s": round(e2e, 3),
        "produce_msgs_per_s": round(m / (t_produced - t0), 1),
        "msgs_per_s": round(m / e2e, 1),
        "client_cpu_s": round(cpu1 - cpu0, 2),
    }


# ----------------------------------------------------------------------------- audit


async def read_topics(bootstrap: str, names: Iterable[str]) -> dict[str, list[Any]]:
    """Every record of ``names`` from offset 0, in partition order, with a fresh consumer."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    out: dict[str, list[Any]] = defaultdict(list)
    try:
        parts = await topic_partitions(consumer, list(names))
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        remaining = {tp for tp in parts if ends[tp] > 0}
        per_part: dict[TopicPartition, list[Any]] = defaultdict(list)
        idle = 0
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10000)
            if not batch:
                idle += 1
                if idle > 30:
                    raise RuntimeError(f"audit read stalled on {sorted(map(str, remaining))}")
                continue
            idle = 0
            for tp, records in batch.items():
                per_part[tp].extend(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        for tp in sorted(per_part, key=lambda t: (t.topic, t.partition)):
            out[tp.topic].extend(per_part[tp])
    finally:
        await consumer.stop()
    return out


async def end_offsets_total(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = await topic_partitions(consumer, list(names))
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    totals: dict[str, int] = defaultdict(int)
    for tp, off in ends.items():
        totals[tp.topic] += off
    return dict(totals)


async def group_deliveries(bootstrap: str) -> dict[str, int]:
    """Records each of the services' consumer groups has committed (= read and applied)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    out: dict[str, int] = {}
    try:
        groups = await admin.list_consumer_groups()
        for g in groups:
            gid = g[0]
            if not gid.startswith("antt-"):
                continue
            offsets = await admin.list_consumer_group_offsets(gid)
            out[gid] = sum(max(0, o.offset) for o in offsets.values())
    finally:
        await admin.close()
    return dict(sorted(out.items()))


def audit(records: dict[str, list[Any]], expected: list[str]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    sizes: list[int] = []
    for topic in topics.EVENT_TOPICS:
        for rec in records.get(topic, []):
            ev = json.loads(rec.value)
            ev["_topic"] = topic
            events.append(ev)
            sizes.append(len(rec.value))
    # 1. recognised exactly once
    recognized = Counter(ev["unit_year_id"] for ev in events if ev["event_type"] == "UnitYearRecognized")
    not_once = {uy: recognized.get(uy, 0) for uy in expected if recognized.get(uy, 0) != 1}
    extra = sorted(set(recognized) - set(expected))
    checks["recognized_exactly_once"] = {
        "ok": not not_once and not extra,
        "recognized": sum(1 for uy in expected if recognized.get(uy, 0) == 1),
        "expected": len(expected),
        "not_once": dict(list(not_once.items())[:20]),
        "not_once_count": len(not_once),
        "unexpected_unit_years": extra[:20],
    }
    # 2. no event_id twice
    ids = Counter(ev["event_id"] for ev in events)
    dups = {k: v for k, v in ids.items() if v > 1}
    checks["no_duplicate_event_ids"] = {
        "ok": not dups,
        "events": len(events),
        "duplicates": len(dups),
        "examples": list(dups.items())[:10],
    }
    # 3. sequences 1..k and hash chains per (stream, producer), in topic order
    streams: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        streams[(ev["stream_id"], ev["producer"])].append({k: v for k, v in ev.items() if k != "_topic"})
    breaks = []
    for (stream, producer), evs in streams.items():
        try:
            verify_chain(evs)
        except ChainBreak as exc:
            breaks.append(f"{stream} / {producer}: {exc}")
    checks["sequences_and_hash_chains"] = {
        "ok": not breaks,
        "streams": len(streams),
        "breaks": len(breaks),
        "examples": breaks[:10],
    }
    # 4. dead-letter topics empty
    dlq_counts = {topics.dlq(t): len(records.get(topics.dlq(t), [])) for t in topics.ALL_TOPICS}
    examples = []
    for t, count in dlq_counts.items():
        for rec in records.get(t, [])[:3]:
            body = json.loads(rec.value)
            examples.append(f"{t}: {body.get('error_code')}: {body.get('reason')}")
    checks["inbound_dlq_empty"] = {"ok": dlq_counts[topics.dlq(topics.INBOUND)] == 0, "count": dlq_counts[topics.dlq(topics.INBOUND)]}
    checks["all_dlqs_empty"] = {"ok": not any(dlq_counts.values()), "counts": dlq_counts, "examples": examples[:10]}
    by_type = Counter(ev["event_type"] for ev in events)
    stats = {
        "events_total": len(events),
        "events_by_type": dict(sorted(by_type.items())),
        "avg_event_bytes": round(sum(sizes) / len(sizes), 1) if sizes else 0,
    }
    return {"checks": checks, "stats": stats}


# ----------------------------------------------------------------------------- CPU accounting


class ProcCpu:
    """CPU seconds (user + system, all threads) of processes, from /proc."""

    TICK = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def of(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ProcCpu.TICK

    @staticmethod
    def other_threads(pid: int) -> float:
        """CPU seconds of the threads of ``pid`` other than its main thread."""
        total = 0.0
        try:
            tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir() if t.name.isdigit()]
        except OSError:
            return 0.0
        for tid in tids:
            if tid == pid:
                continue
            try:
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ProcCpu.TICK
        return total

    @staticmethod
    def children(ppid: int) -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                fields = (d / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == ppid:
                pids.append(int(d.name))
        return pids

    @staticmethod
    def snapshot_self() -> float:
        t = os.times()
        return t.user + t.system


def cpu_snapshot(kafka_pid: int | None, services: dict[str, ServiceProcess], pg_pid: int | None) -> dict[str, float]:
    snap: dict[str, float] = {}
    if kafka_pid:
        snap["kafka (JVM)"] = ProcCpu.of(kafka_pid)
    for name, svc in services.items():
        if svc.proc is not None:
            snap[name] = ProcCpu.of(svc.proc.pid)
            snap[f"{name}: threads other than the event loop (aiosqlite workers, ...)"] = ProcCpu.other_threads(svc.proc.pid)
    if pg_pid:
        snap["postgresql"] = ProcCpu.of(pg_pid) + sum(ProcCpu.of(p) for p in ProcCpu.children(pg_pid))
    snap["bench client"] = ProcCpu.snapshot_self()
    return snap


def total_cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(v) for v in first]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return (total - idle) / ProcCpu.TICK, total / ProcCpu.TICK


# ----------------------------------------------------------------------------- profiling


class Profiler:
    """py-spy attached to each service process for the lifecycle phase."""

    def __init__(self, services: dict[str, ServiceProcess], out_dir: Path, stamp: str, rate: int) -> None:
        self.services = services
        self.out_dir = out_dir
        self.stamp = stamp
        self.rate = rate
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.files: dict[str, Path] = {}
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.exe = exe

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, svc in self.services.items():
            assert svc.proc is not None
            path = self.out_dir / f"{self.stamp}-{name}.folded"
            self.files[name] = path
            self.procs[name] = subprocess.Popen(
                [
                    self.exe, "record", "--pid", str(svc.proc.pid), "--rate", str(self.rate), "--nonblocking",
                    "--format", "raw", "--output", str(path), "--duration", "7200",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

    def stop(self) -> dict[str, Any]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for name, p in self.procs.items():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out = {}
        for name, path in self.files.items():
            if path.exists():
                out[name] = summarize_folded(path)
                out[name]["file"] = str(path.relative_to(ROOT))
            else:
                err = self.procs[name].stderr.read().decode(errors="replace") if self.procs[name].stderr else ""
                out[name] = {"error": f"py-spy wrote nothing: {err[-500:]}"}
        return out


#: leaf frames where a thread waits rather than works (py-spy does not always tell)
IDLE_LEAVES = (
    "EpollSelector.select (selectors.py",
    "_connection_worker_thread (aiosqlite/core.py:59)",  # worker thread waiting for work
    "Connection._execute (aiosqlite/core.py:158)",  # a coroutine awaiting the worker thread
    "Condition.wait (threading.py",
    "Queue.get (queue.py",
)

#: (category, predicate on the frame's file) -- the innermost frame with a category wins
CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("SQLite C library (aiosqlite worker thread running a statement)", lambda fn, f: fn == "_connection_worker_thread" and f.startswith("aiosqlite/core.py:6")),
    ("aiosqlite thread hand-off (queue, futures, loop wake-ups)", lambda fn, f: f.startswith("aiosqlite/") or fn in ("BaseSelectorEventLoop._read_from_self", "BaseSelectorEventLoop._write_to_self", "BaseEventLoop.call_soon_threadsafe")),
    ("json encode/decode", lambda fn, f: f.startswith("json/")),
    ("SQLAlchemy (ORM, Core, compile, async adaption)", lambda fn, f: f.startswith("sqlalchemy/") or f.startswith("greenlet")),
    ("asyncpg", lambda fn, f: f.startswith("asyncpg/")),
    ("aiokafka (fetch, produce, protocol)", lambda fn, f: f.startswith("aiokafka/") or f.startswith("kafka/")),
    ("faststream / fast_depends", lambda fn, f: f.startswith("faststream/") or f.startswith("fast_depends/")),
    ("pydantic", lambda fn, f: f.startswith("pydantic")),
    ("structlog (one log line per transition)", lambda fn, f: f.startswith("structlog/")),
    ("transitions (state machine)", lambda fn, f: f.startswith("transitions/")),
    ("hashlib / hmac / uuid", lambda fn, f: f.startswith(("hashlib", "hmac", "uuid"))),
    ("uvicorn / starlette / anyio", lambda fn, f: f.startswith(("uvicorn/", "starlette/", "anyio/", "fastapi/"))),
    ("project code (shared/, services/)", lambda fn, f: f.startswith(("shared/", "services/"))),
    ("asyncio event loop", lambda fn, f: f.startswith(("asyncio/", "selectors.py"))),
)

#: project functions worth seeing inclusively (SQLAlchemy's async layer runs the ORM in
#: greenlets, whose stacks py-spy shows without their callers; this counts what is left)
PROJECT_FUNCS = (
    "BatchProcessor.process (shared/infra/consumer.py",
    "BatchProcessor._apply (shared/infra/consumer.py",
    "BatchProcessor._record (shared/infra/consumer.py",
    "EventHandler.claim (shared/infra/adapters.py",
    "InboundGate.claim (shared/infra/inbound.py",
    "append_event (shared/infra/outbox.py",
    "Emitter.__call__ (shared/infra/outbox.py",
    "OutboxRelay._publish_once (shared/infra/relay.py",
    "OutboxRelay._pending (shared/infra/relay.py",
    "OutboxRelay._commit_published (shared/infra/relay.py",
    "OutboxRelay._reconcile (shared/infra/relay.py",
    "OutboxRelay._ensure_lease (shared/infra/relay.py",
    "OutboxRelay._maybe_checkpoint (shared/infra/relay.py",
    "record_history (services/approval/handlers.py",
    "verify_hash (shared/contracts/envelope.py",
    "build_envelope (shared/contracts/envelope.py",
)

#: entry points of the SQLAlchemy work done in greenlets (roots of those stacks)
SQLA_ROOTS = ("Session.", "AsyncSession.", "Connection.", "TransactionalContext.", "SessionTransaction.", "AsyncAdapt")


def _split(frame: str) -> tuple[str, str]:
    fn, _, rest = frame.partition(" (")
    return fn, rest.rstrip(")")


def summarize_folded(path: Path, top: int = 15) -> dict[str, Any]:
    total = 0
    idle = 0
    self_fn: Counter[str] = Counter()
    category: Counter[str] = Counter()
    proj: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = frames[-1]
        if leaf.startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_fn[leaf.rsplit(":", 1)[0] + ")"] += count
        cat = "other (stdlib, runtime)"
        for frame in reversed(frames):
            fn, file = _split(frame)
            hit = next((name for name, pred in CATEGORIES if pred(fn, file)), None)
            if hit:
                cat = hit
                break
        category[cat] += count
        root_fn, root_file = _split(frames[0])
        if root_fn.startswith(SQLA_ROOTS) and root_file.startswith("sqlalchemy/"):
            roots["greenlet: " + root_fn] += count
        elif root_fn.startswith("Thread._bootstrap"):
            roots["aiosqlite worker threads"] += count
        else:
            roots["event loop thread"] += count
        seen: set[str] = set()
        for f in frames:
            for p in PROJECT_FUNCS:
                if f.startswith(p) and p not in seen:
                    seen.add(p)
                    proj[p.replace(" (", " (") + ")"] += count

    def pct(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * v / total, 1)) for name, v in c.most_common(k)] if total else []

    return {
        "busy_samples": total,
        "idle_samples_dropped": idle,
        "categories": pct(category, len(CATEGORIES) + 1),
        "stack_roots": pct(roots, 12),
        "project_functions_inclusive": pct(proj, len(PROJECT_FUNCS)),
        "self_functions": pct(self_fn, top),
    }


SQL_HOOK = r"""
# Written by bench.lifecycle --count-sql: counts the SQL statements and transactions of this
# process (SQLAlchemy engine events); SIGUSR2 writes a snapshot to $ANTT_BENCH_SQL_COUNTS.
import collections, json, os, re, signal

_stmts = collections.Counter()
_tx = collections.Counter()
_seq = [0]


def _install():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def _before(conn, cursor, statement, parameters, context, executemany):
        _stmts[re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", re.sub(r"\s+", " ", statement.strip()))[:100]] += 1

    def _commit(conn):
        _tx["commit"] += 1

    def _rollback(conn):
        _tx["rollback"] += 1

    def _savepoint(conn, name):
        _tx["savepoint"] += 1

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)
    event.listen(Engine, "savepoint", _savepoint)


def _dump(*_a):
    out = os.environ.get("ANTT_BENCH_SQL_COUNTS")
    if not out:
        return
    _seq[0] += 1
    path = os.path.join(out, f"{os.getpid()}-{_seq[0]}.json")
    with open(path + ".tmp", "w") as fh:
        json.dump({"statements": dict(_stmts), "transactions": dict(_tx)}, fh)
    os.replace(path + ".tmp", path)


if os.environ.get("ANTT_BENCH_SQL_COUNTS"):
    try:
        _install()
        signal.signal(signal.SIGUSR2, _dump)
    except Exception:  # noqa: BLE001 - measuring must never break the service
        pass
"""


class SqlCounter:
    """Statement and transaction counts of each service during the lifecycle phase."""

    def __init__(self, work: Path) -> None:
        self.hook_dir = work / "sqlhook"
        self.out_dir = work / "sqlcounts"
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(SQL_HOOK)
        os.environ["PYTHONPATH"] = str(self.hook_dir) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        os.environ["ANTT_BENCH_SQL_COUNTS"] = str(self.out_dir)
        self.before: dict[str, dict[str, Any]] = {}

    def _snapshot(self, services: dict[str, ServiceProcess]) -> dict[str, dict[str, Any]]:
        seqs = {}
        for name, svc in services.items():
            assert svc.proc is not None
            seqs[name] = len(list(self.out_dir.glob(f"{svc.proc.pid}-*.json"))) + 1
            os.kill(svc.proc.pid, signal.SIGUSR2)
        out = {}
        for name, svc in services.items():
            assert svc.proc is not None
            path = self.out_dir / f"{svc.proc.pid}-{seqs[name]}.json"
            deadline = time.monotonic() + 10
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            out[name] = json.loads(path.read_text()) if path.exists() else {"statements": {}, "transactions": {}}
        return out

    def start(self, services: dict[str, ServiceProcess]) -> None:
        self.before = self._snapshot(services)

    def stop(self, services: dict[str, ServiceProcess], completed: int) -> dict[str, Any]:
        after = self._snapshot(services)
        result: dict[str, Any] = {}
        for name in services:
            b, a = self.before.get(name, {}), after[name]
            stm = Counter(a["statements"]) - Counter(b.get("statements", {}))
            tx = Counter(a["transactions"]) - Counter(b.get("transactions", {}))
            per = max(1, completed)
            result[name] = {
                "statements_per_lifecycle": round(sum(stm.values()) / per, 2),
                "savepoints_per_lifecycle": round(tx.get("savepoint", 0) / per, 2),
                "top_statements_per_lifecycle": [(k, round(v / per, 2)) for k, v in stm.most_common(25)],
            }
        return result


# ----------------------------------------------------------------------------- machine and report


def machine_info(postgres: bool) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    mhz = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("cpu MHz")), None)
    mem_kb = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    info = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model + (f" @ {float(mhz):.0f} MHz" if mhz else ""),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "aiokafka": aiokafka.__version__,
        "sqlite": sqlite3.sqlite_version,
        "java": _first_line([shutil.which("java") or "java", "-version"], stderr=True),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    if postgres:
        from deploy.localpg import find_bin_dir

        info["postgresql"] = _first_line([str(find_bin_dir() / "postgres"), "--version"])
    return info


def _first_line(cmd: list[str], stderr: bool = False) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (r.stderr if stderr else r.stdout) or r.stdout or r.stderr
    return text.strip().splitlines()[0] if text.strip() else "?"


def git_revision() -> str:
    """HEAD, plus a digest of uncommitted changes to the code under test, if any."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", "services", "shared", "deploy"], cwd=ROOT, capture_output=True, check=False).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "services", "shared", "deploy"], cwd=ROOT, capture_output=True, check=False
        ).stdout
    except OSError:
        return "?"
    if not rev:
        return "(not a git checkout)"
    if not diff and not untracked:
        return rev
    import hashlib

    digest = hashlib.sha256(diff + untracked).hexdigest()[:10]
    return f"{rev} + uncommitted changes to services/shared/deploy (diff sha256 {digest})"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def fmt_s(v: float) -> str:
    return f"{v:.2f} s" if v >= 1 else f"{v * 1000:.0f} ms"


def render_section(r: dict[str, Any]) -> str:
    m = r["machine"]
    lc = r["lifecycle"]
    raw = r["raw_baseline"]
    ratios = r["ratios"]
    checks = r.get("checks", {})
    status = "PASSED" if r["ok"] else "FAILED"
    lines = [
        f"## Run {r['started_at']} — N = {r['n']:,}, {r['database']} — checks {status}",
        "",
        f"- Command: `{r['command']}`",
        f"- Date (UTC): {r['started_at']}; revision {r['revision']}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"load average before the run {' / '.join(m['loadavg_at_start'])}",
        f"- Software: Python {m['python']}, Apache Kafka {m['kafka']} (single node, KRaft; {m['java']}), "
        f"aiokafka {m['aiokafka']}, SQLite {m['sqlite']}" + (f", {m['postgresql']}" if "postgresql" in m else ""),
        f"- Settings: in-flight unit-years {r['settings']['inflight']:,}, send window {r['settings']['window']:,} "
        f"unacknowledged messages, raw baseline M = {raw.get('messages', 0):,}"
        + (", **py-spy attached to the services (slower)**" if r["settings"]["profile"] else "")
        + (", **SQL statement counting hook in the services (slower)**" if r["settings"].get("count_sql") else ""),
    ]
    if r.get("note"):
        lines.append(f"- Note: {r['note']}")
    lines += [
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| unit-years completed | {lc.get('completed', 0):,} of {r['n']:,} |",
        f"| wall time, first send → last recognition | {lc.get('wall_s', float('nan')):.1f} s |",
        f"| **completed lifecycles/s** | **{lc.get('lifecycles_per_s', 0):.1f}** |",
        f"| lifecycle latency p50 / p99 / max | {fmt_s(lc.get('latency_p50_s', 0))} / {fmt_s(lc.get('latency_p99_s', 0))} / {fmt_s(lc.get('latency_max_s', 0))} |",
        f"| events per lifecycle (event topics) | {lc.get('events_per_lifecycle', 0):.2f} |",
        f"| inbound messages per lifecycle | {lc.get('inbound_per_lifecycle', 0):.2f} |",
        f"| Kafka records written per lifecycle (all project topics) | {lc.get('records_per_lifecycle', 0):.2f} |",
        f"| record deliveries to the services' consumer groups per lifecycle | {lc.get('deliveries_per_lifecycle', 0):.2f} |",
        f"| average event size | {lc.get('avg_event_bytes', 0):,.0f} bytes |",
        f"| raw aiokafka baseline, produce + consume + commit ({raw.get('avg_message_bytes', 0):.0f}-byte messages) | **{raw.get('msgs_per_s', 0):,.0f} msgs/s** (produce alone {raw.get('produce_msgs_per_s', 0):,.0f} msgs/s) |",
        f"| lifecycles/s ÷ raw msgs/s | {ratios.get('lifecycles_per_raw_msg', 0):.4f} |",
        f"| lifecycles/s ÷ (raw msgs/s ÷ records per lifecycle) | {ratios.get('fraction_of_kafka_bound', 0):.3f} ({100 * ratios.get('fraction_of_kafka_bound', 0):.1f} % of the Kafka-bound rate, {ratios.get('kafka_bound_lifecycles_per_s', 0):,.0f} lifecycles/s) |",
        f"| target 1,000 lifecycles/s | {'met' if lc.get('lifecycles_per_s', 0) >= 1000 else 'not met'} ({lc.get('lifecycles_per_s', 0) / 1000:.0%} of it) |",
        "",
    ]
    cpu = r.get("cpu_lifecycle_phase")
    if cpu:
        lines += [
            "CPU time used during the lifecycle phase (user + system, all threads):",
            "",
            "| process | CPU s | CPU ms per lifecycle | share of the 2-core budget |",
            "| --- | ---: | ---: | ---: |",
        ]
        budget = cpu["wall_s"] * m["nproc"]
        for name, sec in cpu["per_process"].items():
            lines.append(f"| {name} | {sec:.1f} | {1000 * sec / max(1, lc.get('completed', 1)):.2f} | {100 * sec / budget:.0f} % |")
        ours = sum(v for k, v in cpu["per_process"].items() if ":" not in k)
        other = cpu["machine_busy_s"] - ours
        lines.append(f"| other processes on the machine | {other:.1f} | – | {100 * other / budget:.0f} % |")
        lines.append(f"| whole machine (busy) | {cpu['machine_busy_s']:.1f} | {1000 * cpu['machine_busy_s'] / max(1, lc.get('completed', 1)):.2f} | {100 * cpu['machine_busy_s'] / budget:.0f} % |")
        lines.append("")
    if checks:
        lines += ["Checks:", ""]
        for name, c in checks.items():
            detail = {k: v for k, v in c.items() if k not in ("ok", "examples") and v not in ([], {}, None)}
            lines.append(f"- {'ok' if c['ok'] else '**FAILED**'} {name.replace('_', ' ')}: {json.dumps(detail, ensure_ascii=False)}")
            if not c["ok"] and c.get("examples"):
                for ex in c["examples"][:5]:
                    lines.append(f"  - {ex}")
        lines.append("")
    lag = lc.get("consumer_lag_after_settle") or {}
    if any(lag.values()):
        lines += [f"Consumer groups still lagging 60 s after the last recognition: {json.dumps(lag)}", ""]
    if lc.get("anomalies"):
        lines += ["Client observations: " + json.dumps(lc["anomalies"], ensure_ascii=False), ""]
    if r.get("error"):
        lines += ["Run error:", "", "```", r["error"][:3000], "```", ""]
    sqlc = r.get("sql_counts")
    if sqlc:
        lines += ["SQL per completed lifecycle (SQLAlchemy engine events, from the first send until every consumer group is idle):", "",
                  "| service | statements | savepoints | most frequent statements (per lifecycle) |", "| --- | ---: | ---: | --- |"]
        for svc, c in sqlc.items():
            top = "; ".join(f"`{k[:60]}` ×{v}" for k, v in c["top_statements_per_lifecycle"][:6])
            lines.append(f"| {svc} | {c['statements_per_lifecycle']} | {c['savepoints_per_lifecycle']} | {top} |")
        lines.append("")
    prof = r.get("profile")
    if prof:
        lines += ["Profile (py-spy, % of the service's samples):", ""]
        for svc, p in prof.items():
            if "error" in p:
                lines.append(f"- {svc}: {p['error']}")
                continue
            b = ", ".join(f"{k} {v}%" for k, v in p["categories"] if v >= 1)
            s = ", ".join(f"`{k}` {v}%" for k, v in p["self_functions"][:6])
            lines.append(f"- **{svc}** ({p['busy_samples']} busy samples, `{p['file']}`): {b}. Top self: {s}.")
        lines.append("")
    return "\n".join(lines)


def write_report(r: dict[str, Any], out: Path, stamp: str) -> Path:
    r = {k: v for k, v in r.items() if not k.startswith("_")}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{stamp}.json"
    json_path.write_text(json.dumps(r, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    section = render_section(r)
    if out.exists():
        text = out.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = DOC_HEADER + "\n" + section + "\n"
    out.write_text(text, encoding="utf-8")
    return json_path


# ----------------------------------------------------------------------------- orchestration


def postmaster_pid(pg: Any) -> int | None:
    try:
        return int((pg.cluster_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


async def lifecycle_phase(args: argparse.Namespace, bootstrap: str, services: dict[str, ServiceProcess], result: dict[str, Any],
                          cpu_probe: Callable[[], dict[str, float]], profiler: Profiler | None,
                          sql: SqlCounter | None = None) -> None:
    specs = population(args.n, uuid.uuid4().hex[:4].upper())
    result["_specs"] = [s.unit_year_id for s in specs]
    driver = LifecycleDriver(specs, inflight=args.inflight, window=args.window, bootstrap=bootstrap)
    offsets_before = await end_offsets_total(bootstrap, PROJECT_TOPICS)
    deliveries_before = await group_deliveries(bootstrap)
    lc: dict[str, Any] = {}
    result["lifecycle"] = lc
    await driver.client.start()
    try:
        if profiler:
            profiler.start()
        if sql:
            sql.start(services)
        cpu0, busy0 = cpu_probe(), total_cpu_busy()[0]
        t0 = time.monotonic()
        error: BaseException | None = None
        try:
            await driver.run(services=services, stall_timeout=args.stall_timeout, progress=not args.quiet)
        except Stalled as exc:
            error = exc
        t_end = max(driver.t_done.values()) if driver.t_done else time.monotonic()
        cpu1, busy1 = cpu_probe(), total_cpu_busy()[0]
        if profiler:
            result["profile"] = profiler.stop()
        first = driver.client.first_send or t0
        wall = t_end - first
        lat = driver.latencies()
        done = len(driver.t_done)
        lc.update(
            {
                "completed": done,
                "wall_s": round(wall, 3),
                "lifecycles_per_s": round(done / wall, 2) if wall > 0 else 0.0,
                "latency_p50_s": round(percentile(lat, 0.50), 4),
                "latency_p90_s": round(percentile(lat, 0.90), 4),
                "latency_p99_s": round(percentile(lat, 0.99), 4),
                "latency_max_s": round(lat[-1], 4) if lat else float("nan"),
                "latency_min_s": round(lat[0], 4) if lat else float("nan"),
                "inbound_sent": driver.client.sent,
                "inbound_per_lifecycle": round(driver.client.sent / max(1, done), 3),
                "inbound_bytes_avg": round(driver.client.bytes_sent / max(1, driver.client.sent), 1),
                "events_seen_by_client": dict(sorted(driver.events_by_type.items())),
                "anomalies": dict(driver.anomalies),
                "anomaly_examples": driver.anomaly_examples,
                "client_duplicate_event_ids": sum(1 for v in driver.client.seen_ids.values() if v > 1),
                "client_dead_letters": len(driver.client.dead_letters),
            }
        )
        wall_cpu = max(1e-9, time.monotonic() - t0)
        result["cpu_lifecycle_phase"] = {
            "wall_s": round(wall_cpu, 2),
            "per_process": {k: round(cpu1[k] - cpu0.get(k, 0.0), 2) for k in cpu1},
            "machine_busy_s": round(busy1 - busy0, 2),
        }
        if error is not None:
            raise error
    finally:
        await driver.client.stop()
    # let the relays publish the last closing events (AssessmentClosed) before the audit
    lc["consumer_lag_after_settle"] = await settle(bootstrap, timeout=60)
    if sql:
        # after the settle, so that the consumers trailing the last recognition are counted too
        result["sql_counts"] = sql.stop(services, lc["completed"])
    offsets_after = await end_offsets_total(bootstrap, PROJECT_TOPICS)
    written = sum(offsets_after.values()) - sum(offsets_before.values())
    deliveries_after = await group_deliveries(bootstrap)
    delivered = sum(deliveries_after.values()) - sum(deliveries_before.values())
    lc["records_written_by_topic"] = {t: offsets_after.get(t, 0) - offsets_before.get(t, 0) for t in PROJECT_TOPICS}
    lc["records_per_lifecycle"] = round(written / max(1, lc["completed"]), 3)
    lc["deliveries_by_group"] = {g: deliveries_after[g] - deliveries_before.get(g, 0) for g in deliveries_after}
    lc["deliveries_per_lifecycle"] = round(delivered / max(1, lc["completed"]), 3)
    if any(lc["consumer_lag_after_settle"].values()):
        print(f"bench: consumer groups still lagging 60 s after the run: {lc['consumer_lag_after_settle']}", flush=True)


async def group_lag(bootstrap: str) -> dict[str, int]:
    """Records not yet committed by each of the services' consumer groups."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    out: dict[str, int] = {}
    try:
        for g in await admin.list_consumer_groups():
            gid = g[0]
            if not gid.startswith("antt-"):
                continue
            topic = gid.split(".", 1)[1]
            parts = await topic_partitions(consumer, [topic])
            ends = await consumer.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(gid)
            out[gid] = sum(ends[tp] - max(0, committed[tp].offset if tp in committed else 0) for tp in parts)
    finally:
        await consumer.stop()
        await admin.close()
    return dict(sorted(out.items()))


async def settle(bootstrap: str, timeout: float) -> dict[str, int]:
    """Wait until the relays are idle and every consumer group has committed up to the end
    of its topic; return the lag left (all zeros when settled)."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        now = await end_offsets_total(bootstrap, PROJECT_TOPICS)
        lag = await group_lag(bootstrap)
        if now == last and not any(lag.values()):
            return lag
        last = now
        await asyncio.sleep(1.0)
    return lag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="unit-years to drive through the lifecycle (default 10000)")
    ap.add_argument("--postgres", action="store_true", help="one fresh PostgreSQL database per service instead of SQLite")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="markdown report to append to (default docs/benchmarks.md)")
    ap.add_argument("--raw-m", type=int, default=100000, help="messages in the raw aiokafka baseline (default 100000; 0 skips it)")
    ap.add_argument("--inflight", type=int, default=2000, help="unit-years in progress at once (0 = all N at once; default 2000)")
    ap.add_argument("--window", type=int, default=2000, help="unacknowledged inbound sends at most (default 2000)")
    ap.add_argument("--stall-timeout", type=float, default=120, help="fail when no event arrives for this long (s)")
    ap.add_argument("--profile", action="store_true", help="attach py-spy to each service during the lifecycle phase")
    ap.add_argument("--count-sql", action="store_true", help="count each service's SQL statements and transactions (a sitecustomize hook; slower)")
    ap.add_argument("--profile-rate", type=int, default=67, help="py-spy samples per second (default 67)")
    ap.add_argument("--note", default="", help="a note to print in the report section")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (broker data, databases, logs)")
    ap.add_argument("--no-report", action="store_true", help="print the results only; write neither the doc nor the JSON")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    command = "python -m bench.lifecycle" + ("" if not (argv if argv is not None else sys.argv[1:]) else " " + shlex.join(argv if argv is not None else sys.argv[1:]))
    result: dict[str, Any] = {
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
        "revision": git_revision(),
        "n": args.n,
        "database": "PostgreSQL" if args.postgres else "SQLite",
        "settings": {"inflight": args.inflight or args.n, "window": args.window, "raw_m": args.raw_m, "profile": args.profile, "count_sql": args.count_sql},
        "note": args.note,
        "machine": machine_info(args.postgres),
        "raw_baseline": {},
        "lifecycle": {},
        "ratios": {},
        "ok": False,
    }
    work = Path(tempfile.mkdtemp(prefix="antt-bench-"))
    print(f"bench: N={args.n}, {result['database']}, work folder {work}", flush=True)
    kafka = LocalKafka(work / "kafka")
    pg = None
    services: dict[str, ServiceProcess] = {}
    failed = True
    try:
        t = time.monotonic()
        kafka.start()
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        kafka_pid = int((kafka.data_dir / "kafka.pid").read_text())
        print(f"bench: Kafka {KAFKA_VERSION} ready at {kafka.bootstrap} ({time.monotonic() - t:.1f}s)", flush=True)

        if args.raw_m > 0:
            print(f"bench: raw baseline, {args.raw_m:,} messages ...", flush=True)
            k0 = ProcCpu.of(kafka_pid)
            raw = asyncio.run(raw_baseline(kafka.bootstrap, args.raw_m, window=args.window * 5))
            raw["kafka_cpu_s"] = round(ProcCpu.of(kafka_pid) - k0, 2)
            result["raw_baseline"] = raw
            print(f"bench: raw {raw['msgs_per_s']:,.0f} msgs/s end to end (produce {raw['produce_msgs_per_s']:,.0f} msgs/s)", flush=True)

        urls: dict[str, str | None] = {}
        if args.postgres:
            from deploy.localpg import LocalPostgres

            pg_dir = Path(tempfile.mkdtemp(prefix="antt-bench-pg-"))
            pg = LocalPostgres(pg_dir)
            pg.start()
            for name in SERVICES:
                pg.create_database(f"antt_{name}")
                urls[name] = pg.dsn(f"antt_{name}")
        else:
            for name in SERVICES:
                urls[name] = f"sqlite+aiosqlite:///{work / 'db' / f'{name}.db'}"
        ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        sql = SqlCounter(work) if args.count_sql else None
        services = make_services(kafka_bootstrap=kafka.bootstrap, database_urls=urls, ports=ports, log_dir=work / "logs")
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready(timeout=120)
        print(f"bench: services ready ({', '.join(f'{n} pid {s.proc.pid}' for n, s in services.items() if s.proc)})", flush=True)

        pg_pid = postmaster_pid(pg) if pg is not None else None
        profiler = Profiler(services, RESULTS_DIR, stamp, args.profile_rate) if args.profile else None
        print(f"bench: driving {args.n:,} unit-years through the lifecycle ...", flush=True)
        try:
            asyncio.run(
                lifecycle_phase(args, kafka.bootstrap, services, result, lambda: cpu_snapshot(kafka_pid, services, pg_pid), profiler, sql)
            )
        except Stalled as exc:
            result["error"] = str(exc)
            print(f"bench: STALLED: {exc}", file=sys.stderr, flush=True)

        print("bench: auditing the topics from offset 0 ...", flush=True)
        expected = result.pop("_specs", [])
        records = asyncio.run(read_topics(kafka.bootstrap, [*topics.EVENT_TOPICS, *(topics.dlq(t) for t in topics.ALL_TOPICS)]))
        aud = audit(records, expected)
        result["checks"] = aud["checks"]
        lc = result["lifecycle"]
        lc["events_per_lifecycle"] = round(aud["stats"]["events_total"] / max(1, lc.get("completed", 0)), 3)
        lc["events_by_type"] = aud["stats"]["events_by_type"]
        lc["avg_event_bytes"] = aud["stats"]["avg_event_bytes"]
        raw = result["raw_baseline"]
        lps = lc.get("lifecycles_per_s", 0.0)
        if raw.get("msgs_per_s"):
            rpl = lc.get("records_per_lifecycle", 0.0)
            result["ratios"] = {
                "lifecycles_per_raw_msg": round(lps / raw["msgs_per_s"], 6),
                "kafka_bound_lifecycles_per_s": round(raw["msgs_per_s"] / rpl, 1) if rpl else 0.0,
                "fraction_of_kafka_bound": round(lps * rpl / raw["msgs_per_s"], 4),
            }
        result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        result["ok"] = "error" not in result and lc.get("completed") == args.n and all(c["ok"] for c in result["checks"].values())
        failed = not result["ok"]
    except KeyboardInterrupt:
        result["_interrupted"] = True
        raise
    except BaseException as exc:
        result.setdefault("error", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for svc in services.values():
            svc.stop()
        kafka.stop()
        if pg is not None:
            pg.stop()
        if not args.no_report and not result.get("_interrupted") and (result.get("lifecycle") or result.get("error")):
            json_path = write_report(result, Path(args.out), stamp)
            print(f"bench: report appended to {args.out}; raw numbers in {json_path}", flush=True)
        if failed or args.keep:
            print(f"bench: work folder kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
            if pg is not None:
                shutil.rmtree(pg.data_dir, ignore_errors=True)

    print_summary(result)
    return 0 if result["ok"] else 1


def print_summary(r: dict[str, Any]) -> None:
    lc, raw, ratios = r["lifecycle"], r["raw_baseline"], r["ratios"]
    print()
    print(f"N = {r['n']:,} ({r['database']}): {lc.get('completed', 0):,} recognised in {lc.get('wall_s', 0):.1f} s "
          f"= {lc.get('lifecycles_per_s', 0):.1f} lifecycles/s")
    print(f"latency p50 {fmt_s(lc.get('latency_p50_s', 0))}, p99 {fmt_s(lc.get('latency_p99_s', 0))}, max {fmt_s(lc.get('latency_max_s', 0))}")
    print(f"events/lifecycle {lc.get('events_per_lifecycle', 0):.2f}, Kafka records/lifecycle {lc.get('records_per_lifecycle', 0):.2f}, "
          f"deliveries/lifecycle {lc.get('deliveries_per_lifecycle', 0):.2f}")
    if raw:
        print(f"raw aiokafka {raw.get('msgs_per_s', 0):,.0f} msgs/s; lifecycles/s ÷ raw = {ratios.get('lifecycles_per_raw_msg', 0):.4f}; "
              f"÷ (raw ÷ records/lifecycle) = {ratios.get('fraction_of_kafka_bound', 0):.3f}")
    for name, c in r.get("checks", {}).items():
        print(f"  [{'ok' if c['ok'] else 'FAILED'}] {name}")
        if not c["ok"]:
            for ex in (c.get("examples") or [])[:5]:
                print(f"      {ex}")
    if r.get("error"):
        print(f"ERROR: {r['error'][:2000]}")
    print("RESULT:", "PASSED" if r["ok"] else "FAILED")


if __name__ == "__main__":
    raise SystemExit(main())
