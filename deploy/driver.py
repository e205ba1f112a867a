"""Drive many unit-years through their lifecycle by reacting to the services' events, as an
external system would: register, self-assess on ``AssessmentOpened``, decide at the pending
level on ``UnitYearSelfScored`` / ``UnitYearReviewed``, until ``UnitYearRecognized``.

Idempotent: a repeated event never makes it send the same step twice. Used by the
end-to-end tests (including the crash test) and by the lifecycle benchmark
(``bench.lifecycle``), which gives it richer payloads (:class:`Messages`), a synchronous
pipelined sender and a bound on the unit-years in flight (:meth:`LifecycleDriver.feed`);
:func:`audit_topics` / :func:`audit_records` check the history, for both.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from deploy.client import AnttClient
from shared.contracts import topics
from shared.contracts.envelope import ChainBreak, verify_chain
from shared.infra.kafka import read_to_end

CRITERIA_DIR = Path(__file__).resolve().parents[1] / "services" / "assessment" / "criteria"
KINDS = ("residential_area", "commune", "agency", "enterprise", "school")


def criteria_codes(kind: str, edition: int = 2021) -> list[str]:
    """The criteria codes of a unit kind's catalog (``services/assessment/criteria``)."""
    data = json.loads((CRITERIA_DIR / f"{kind}.{edition}.json").read_text(encoding="utf-8"))
    return [c["code"] for c in data["criteria"]]


#: the criteria codes of each unit kind's catalog, read from the catalogs themselves
CRITERIA = {kind: criteria_codes(kind) for kind in KINDS}


@dataclass
class Plan:
    code: str
    kind: str
    year: int = 2025
    province_code: str = "51"
    commune_code: str = "C001"
    managing_level: str = "commune"
    #: the unit's name (default ``Đơn vị <code>``)
    name: str | None = None
    #: households of a residential area (all of them register)
    households: int = 100

    @property
    def unit_year_id(self) -> str:
        return f"{self.code}:{self.year}"


def unit_msg(p: Plan) -> dict[str, Any]:
    return {
        "unit": {
            "code": p.code,
            "name": p.name or f"Đơn vị {p.code}",
            "kind": p.kind,
            "province_code": p.province_code,
            "commune_code": p.commune_code,
            "managing_level": p.managing_level,
        }
    }


def registration_msg(p: Plan) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unit_code": p.code,
        "year": p.year,
        "documents": [{"kind": "registration_form", "ref": f"DK-{p.code}", "issued_on": f"{p.year}-02-15"}],
    }
    if p.kind == "residential_area":
        body["households_total"] = p.households
        body["households_registered"] = p.households
    return body


def self_assessment_msg(p: Plan, codes: list[str] | None = None) -> dict[str, Any]:
    """Every criterion of the kind's catalog (or of ``codes``) met."""
    return {
        "unit_year_id": p.unit_year_id,
        "criteria": [{"code": c, "met": True} for c in (CRITERIA[p.kind] if codes is None else codes)],
        "meeting_date": f"{p.year}-11-04",
    }


def decision_msg(p: Plan, level: str, serial: int = 0) -> dict[str, Any]:
    """A ``pass`` decision at ``level`` (``serial`` numbers the decisions of a run; unused here)."""
    return {
        "unit_year_id": p.unit_year_id,
        "level": level,
        "decision": "pass",
        "decided_by": f"officer@{level}",
        "decision_no": f"{p.unit_year_id}/{level}",
    }


@dataclass(frozen=True)
class Messages:
    """The payload of each step the driver sends: by default the minimal valid dossier of the
    end-to-end tests; the benchmark passes its complete one."""

    unit: Callable[[Plan], dict[str, Any]] = unit_msg
    registration: Callable[[Plan], dict[str, Any]] = registration_msg
    self_assessment: Callable[[Plan], dict[str, Any]] = self_assessment_msg
    decision: Callable[[Plan, str, int], dict[str, Any]] = decision_msg


#: ``sender(event_type, payload, key=..., on_sent=...)``: hands a message to a producer without
#: waiting; ``on_sent`` is called when the message is handed over
Sender = Callable[..., None]

#: events after which a unit-year can no longer be recognised in a run of ``pass`` decisions
DEAD_ENDS = frozenset({"UnitYearNotRecognized", "UnitYearReturned", "ApprovalCaseWithdrawn", "UnitYearWithdrawn"})


@dataclass
class LifecycleDriver:
    client: AnttClient
    plans: dict[str, Plan] = field(default_factory=dict)
    #: unit-year -> monotonic time its registration was handed to the producer
    started: dict[str, float] = field(default_factory=dict)
    #: unit-year -> monotonic time its ``UnitYearRecognized`` was seen
    recognized: dict[str, float] = field(default_factory=dict)
    _sent: set[tuple[str, ...]] = field(default_factory=set)
    _queue: asyncio.Queue[tuple[str, dict[str, Any], str, Callable[[], None] | None]] = field(default_factory=asyncio.Queue)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    messages: Messages = field(default_factory=Messages)
    #: when set, messages go to it synchronously instead of the queue that :meth:`pump` empties
    sender: Sender | None = None
    #: what did not go as a run of ``pass`` decisions should (counts, and the first examples)
    anomalies: Counter[str] = field(default_factory=Counter)
    anomaly_examples: list[str] = field(default_factory=list)
    decisions: int = 0
    #: unit-years waiting for a free in-flight slot (:meth:`feed`)
    backlog: deque[Plan] = field(default_factory=deque)

    def on_event(self, env: dict[str, Any]) -> None:
        uy = env.get("unit_year_id")
        plan = self.plans.get(uy) if isinstance(uy, str) else None
        if plan is None or not isinstance(uy, str):
            return
        t = env["event_type"]
        p = env["payload"]
        if t == "AssessmentOpened":
            self._once(("sa", uy), "SelfAssessmentSubmitted", self.messages.self_assessment(plan), plan.code)
        elif t in ("UnitYearSelfScored", "UnitYearReviewed"):
            level = str(p["pending_level"])
            key = ("decide", uy, level, env["event_type"])
            if key not in self._sent:
                self.decisions += 1
            self._once(key, "ReviewDecisionSubmitted", self.messages.decision(plan, level, self.decisions), plan.code)
        elif t == "UnitYearRecognized":
            if uy in self.recognized:
                self.anomaly("UnitYearRecognized twice for a unit-year", f"{uy} event {env.get('event_id')}")
                return
            self.recognized[uy] = time.monotonic()
            if len(self.recognized) == len(self.plans):
                self.done.set()
            else:
                self._admit_next()
        elif t in DEAD_ENDS:
            self.anomaly(f"unexpected {t}", f"{uy} {json.dumps(p, ensure_ascii=False)[:300]}")

    def anomaly(self, what: str, example: str) -> None:
        self.anomalies[what] += 1
        if len(self.anomaly_examples) < 20:
            self.anomaly_examples.append(f"{what}: {example}")

    def _once(self, key: tuple[str, ...], event_type: str, payload: dict[str, Any], unit_code: str) -> None:
        if key in self._sent:
            self.anomaly(f"{event_type} asked for twice", "/".join(key))
            return
        self._sent.add(key)
        self._post(event_type, payload, unit_code)

    def _post(self, event_type: str, payload: dict[str, Any], key: str, on_sent: Callable[[], None] | None = None) -> None:
        if self.sender is not None:
            self.sender(event_type, payload, key=key, on_sent=on_sent)
        else:
            self._queue.put_nowait((event_type, payload, key, on_sent))

    async def pump(self) -> None:
        """Send queued messages (run as a task while the lifecycle goes on; not needed with a ``sender``)."""
        while True:
            event_type, payload, key, on_sent = await self._queue.get()
            if on_sent is not None:
                on_sent()
            await self.client.send(event_type, payload, key=key)

    async def register(self, plans: list[Plan], *, pace: float = 0.0) -> None:
        for p in plans:
            self.plans[p.unit_year_id] = p
        for p in plans:
            await self.client.send("UnitRegistrationSubmitted", self.messages.unit(p), key=p.code)
            self.started[p.unit_year_id] = time.monotonic()
            await self.client.send("UnitYearRegistrationSubmitted", self.messages.registration(p), key=p.code)
            if pace:
                await asyncio.sleep(pace)

    # -- bounded admission (the benchmark) --

    def feed(self, plans: Iterable[Plan], *, inflight: int = 0) -> None:
        """Admit ``plans`` with at most ``inflight`` unit-years in progress at once (0: all at
        once); each recognition admits the next. Messages go through ``sender`` or :meth:`pump`."""
        plans = list(plans)
        for p in plans:
            self.plans[p.unit_year_id] = p
        self.backlog.extend(plans)
        for _ in range(len(plans) if inflight <= 0 else min(inflight, len(plans))):
            self._admit_next()

    @property
    def admitted(self) -> int:
        return len(self.plans) - len(self.backlog)

    def _admit_next(self) -> None:
        if not self.backlog:
            return
        p = self.backlog.popleft()
        uy = p.unit_year_id

        def _mark(uy: str = uy) -> None:
            self.started[uy] = time.monotonic()

        self._post("UnitRegistrationSubmitted", self.messages.unit(p), p.code)
        self._post("UnitYearRegistrationSubmitted", self.messages.registration(p), p.code, on_sent=_mark)

    def latencies(self) -> list[float]:
        """Registration handed to the producer → ``UnitYearRecognized`` seen, sorted (seconds)."""
        return sorted(self.recognized[uy] - self.started[uy] for uy in self.recognized if uy in self.started)


async def read_all(bootstrap: str, topic_names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every record of ``topic_names`` from offset 0, as parsed JSON, in partition order."""
    return [orjson.loads(rec.value) for rec in await read_to_end(bootstrap, topic_names)]


@dataclass
class Audit:
    events: int
    duplicates: list[str]
    chain_breaks: list[str]
    recognized_per_unit_year: Counter[str]
    dead_letters: list[dict[str, Any]]
    #: (stream_id, producer) chains verified
    streams: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    #: records of each event topic and DLQ read (every DLQ listed, 0 when empty)
    records_by_topic: dict[str, int] = field(default_factory=dict)
    event_bytes: int = 0
    #: occurrences of each duplicated event_id
    duplicate_counts: dict[str, int] = field(default_factory=dict)

    def dead_letters_in(self, topic: str) -> list[dict[str, Any]]:
        return [d for d in self.dead_letters if d.get("_topic") == topic]


#: the DLQs an audit reads: one per project topic
DLQ_TOPICS = tuple(topics.dlq(t) for t in topics.ALL_TOPICS)


def audit_records(records: Iterable[Any]) -> Audit:
    """The audit of records (anything with ``topic`` and ``value``, in partition order) of the
    event topics and the DLQs."""
    events: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    by_topic: dict[str, int] = {t: 0 for t in (*topics.EVENT_TOPICS, *DLQ_TOPICS)}
    size = 0
    for rec in records:
        by_topic[rec.topic] = by_topic.get(rec.topic, 0) + 1
        body = orjson.loads(rec.value)
        if rec.topic.endswith(".dlq"):
            body["_topic"] = rec.topic
            dead.append(body)
        else:
            events.append(body)
            size += len(rec.value)
    ids = Counter(e["event_id"] for e in events)
    streams: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        streams[(e["stream_id"], e["producer"])].append(e)
    breaks = []
    for (stream, producer), evs in streams.items():
        # partition order is the publication order of one stream (same key, same partition)
        try:
            verify_chain(evs)
        except ChainBreak as exc:
            breaks.append(f"{producer}/{stream}: {exc}")
    recognized = Counter(e["unit_year_id"] for e in events if e["event_type"] == "UnitYearRecognized")
    dups = {i: n for i, n in ids.items() if n > 1}
    return Audit(
        events=len(events),
        duplicates=list(dups),
        chain_breaks=breaks,
        recognized_per_unit_year=recognized,
        dead_letters=dead,
        streams=len(streams),
        events_by_type=Counter(e["event_type"] for e in events),
        records_by_topic=by_topic,
        event_bytes=size,
        duplicate_counts=dups,
    )


async def audit_topics(bootstrap: str) -> Audit:
    """Replay the event topics and the DLQs as an auditor would: duplicates, gaps and broken chains."""
    return audit_records(await read_to_end(bootstrap, (*topics.EVENT_TOPICS, *DLQ_TOPICS)))
