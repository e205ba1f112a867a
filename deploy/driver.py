"""Drive many unit-years through their lifecycle by reacting to the services' events, as an
external system would: register, self-assess on ``AssessmentOpened``, decide at the pending
level on ``UnitYearSelfScored`` / ``UnitYearReviewed``, until ``UnitYearRecognized``.

Idempotent: a repeated event never makes it send the same step twice. Used by the
end-to-end tests (including the crash test); :func:`audit_topics` checks the history.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from deploy.client import AnttClient
from shared.contracts import topics
from shared.contracts.envelope import ChainBreak, verify_chain
from shared.infra.kafka import read_to_end

#: the criteria codes of each unit kind's catalog (services/assessment/criteria)
CRITERIA = {
    "residential_area": ["KDC-1", "KDC-2", "KDC-3", "KDC-4", "KDC-5"],
    "commune": ["XA-1", "XA-2", "XA-3", "XA-4"],
    "agency": ["CQ-1", "CQ-2", "CQ-3", "CQ-4", "CQ-5"],
    "enterprise": ["DN-1", "DN-2", "DN-3", "DN-4", "DN-5"],
    "school": ["GD-1", "GD-2", "GD-3", "GD-4", "GD-5"],
}


@dataclass
class Plan:
    code: str
    kind: str
    year: int = 2025
    province_code: str = "51"
    commune_code: str = "C001"
    managing_level: str = "commune"

    @property
    def unit_year_id(self) -> str:
        return f"{self.code}:{self.year}"


def unit_msg(p: Plan) -> dict[str, Any]:
    return {
        "unit": {
            "code": p.code,
            "name": f"Đơn vị {p.code}",
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
        body["households_total"] = 100
        body["households_registered"] = 100
    return body


def self_assessment_msg(p: Plan) -> dict[str, Any]:
    return {
        "unit_year_id": p.unit_year_id,
        "criteria": [{"code": c, "met": True} for c in CRITERIA[p.kind]],
        "meeting_date": f"{p.year}-11-04",
    }


@dataclass
class LifecycleDriver:
    client: AnttClient
    plans: dict[str, Plan] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    recognized: dict[str, float] = field(default_factory=dict)
    _sent: set[tuple[str, ...]] = field(default_factory=set)
    _queue: asyncio.Queue[tuple[str, dict[str, Any], str]] = field(default_factory=asyncio.Queue)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_event(self, env: dict[str, Any]) -> None:
        uy = env.get("unit_year_id")
        plan = self.plans.get(uy or "")
        if plan is None:
            return
        t = env["event_type"]
        p = env["payload"]
        if t == "AssessmentOpened":
            self._once(("sa", uy), "SelfAssessmentSubmitted", self_assessment_msg(plan), plan.code)
        elif t in ("UnitYearSelfScored", "UnitYearReviewed"):
            level = p["pending_level"]
            self._once(
                ("decide", uy, level, env["event_type"]),
                "ReviewDecisionSubmitted",
                {"unit_year_id": uy, "level": level, "decision": "pass", "decided_by": f"officer@{level}", "decision_no": f"{uy}/{level}"},
                plan.code,
            )
        elif t == "UnitYearRecognized":
            self.recognized.setdefault(uy, time.monotonic())
            if len(self.recognized) == len(self.plans):
                self.done.set()

    def _once(self, key: tuple[str, ...], event_type: str, payload: dict[str, Any], unit_code: str) -> None:
        if key in self._sent:
            return
        self._sent.add(key)
        self._queue.put_nowait((event_type, payload, unit_code))

    async def pump(self) -> None:
        """Send queued follow-up messages (run as a task while the lifecycle goes on)."""
        while True:
            event_type, payload, key = await self._queue.get()
            await self.client.send(event_type, payload, key=key)

    async def register(self, plans: list[Plan], *, pace: float = 0.0) -> None:
        for p in plans:
            self.plans[p.unit_year_id] = p
        for p in plans:
            await self.client.send("UnitRegistrationSubmitted", unit_msg(p), key=p.code)
            self.started[p.unit_year_id] = time.monotonic()
            await self.client.send("UnitYearRegistrationSubmitted", registration_msg(p), key=p.code)
            if pace:
                await asyncio.sleep(pace)


async def read_all(bootstrap: str, topic_names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every record of ``topic_names`` from offset 0, as parsed JSON, in partition order."""
    return [json.loads(rec.value) for rec in await read_to_end(bootstrap, topic_names)]


@dataclass
class Audit:
    events: int
    duplicates: list[str]
    chain_breaks: list[str]
    recognized_per_unit_year: Counter[str]
    dead_letters: list[dict[str, Any]]


async def audit_topics(bootstrap: str) -> Audit:
    """Replay the event topics as an auditor would: duplicates, gaps and broken chains."""
    events = await read_all(bootstrap, topics.EVENT_TOPICS)
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
    dead = await read_all(bootstrap, tuple(topics.dlq(t) for t in topics.ALL_TOPICS))
    return Audit(
        events=len(events),
        duplicates=[i for i, n in ids.items() if n > 1],
        chain_breaks=breaks,
        recognized_per_unit_year=recognized,
        dead_letters=dead,
    )
