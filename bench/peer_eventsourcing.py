"""The peer figure: the same ANTT lifecycle built the obvious other way, with the Python
``eventsourcing`` library (9.5.6), so a reader of ``docs/benchmarks.md`` can see what a
Python team would get from that alternative on the same machine and in the same run.

``python -m bench.peer_eventsourcing [--n 10000] [--runner single|multi] [--inflight 2000]
[--json FILE] [--workdir DIR]``

What is built, in the library's own idiom
-----------------------------------------
Three applications composed into one :class:`eventsourcing.system.System`, the analogue of
the project's three services:

- ``Registration`` (an ``Application``; the System makes it a ``Leader``): the commands
  ``register_unit`` (``UnitRegistered`` on a ``Unit`` aggregate) and ``register_unit_year``
  (``UnitYearRegistered`` on a ``UnitYear`` aggregate, after checking the registration
  documents and, for a residential area, that every household registered).
- ``Assessment`` (a ``ProcessApplication`` following Registration and Approval): its policy
  opens an ``AssessmentCase`` on ``UnitYearRegistered`` (``AssessmentOpened``) and closes it
  on ``UnitYearRecognized`` (``AssessmentClosed``, as the project's assessment service does,
  so both sides write the same nine events per unit-year); its command
  ``record_self_assessment`` checks the submitted criteria against the unit kind's catalog
  (``services/assessment/criteria``), the meeting date against the assessment window, and
  records ``SelfAssessmentRecorded`` with verdict ``met`` or ``not_met``.
- ``Approval`` (a ``ProcessApplication`` following Assessment): its policy opens an
  ``ApprovalCase`` on ``AssessmentOpened`` (``ApprovalCaseOpened``, with the approval chain
  looked up in ``services/approval/chains.json`` for the unit's kind, managing level,
  province and year) and self-scores it on ``SelfAssessmentRecorded`` (``UnitYearSelfScored``
  with ``pending_level``); its command ``decide`` checks the level against the pending step
  and records ``UnitYearReviewed`` (a review step) or ``UnitYearRecognized`` (the deciding
  step).

Aggregates change state only through ``@event``-decorated methods; every state change is
checked against the public transition tables of ``shared.contracts.lifecycle`` (the same
tables the project's machines and its auditors use), so an illegal step is refused here as
it is there. Aggregate ids are ``uuid5`` of the unit code or unit-year id (the library's
``create_id`` idiom), so opening a case twice would collide on its primary key.

Exactly-once processing is the library's: a process application records the events its
policy collected and the tracking record of the notification it processed (leader name,
notification id) in one SQLite transaction, and a notification already tracked cannot be
recorded again. That is the peer of the project's inbox (``event_id`` recorded with the
state change); each application's notification log is the peer of its outbox topic.

The external system
-------------------
:class:`ExternalSystem` behaves like ``bench.lifecycle.LifecycleDriver``: N unit-years of
the same population (``bench.lifecycle.population``: four in five residential areas over six
communes of two provinces, decided at commune level in two steps, review then decision; one
in five agencies, managed at commune or province level, two steps at that level) and the
same command payloads (``unit_payload``, ``registration_payload``,
``self_assessment_payload``, ``decision_payload``). At most ``--inflight`` unit-years
(default 2,000, the project's default) are in progress at once; a new one is admitted when
one is recognised. It reacts only to what the applications recorded: it reads their
notification logs from the database (``select_notifications`` filtered by topic, the query
the library's followers use, 500 at a time as the project's driver fetches Kafka in large
batches) and, on ``AssessmentOpened``, submits the self-assessment with every criterion met;
on ``UnitYearSelfScored`` / ``UnitYearReviewed``, a ``pass`` decision at ``pending_level``;
on ``UnitYearRecognized`` it counts the unit-year done and admits the next. The commands are
the applications' own methods, called from the driver's thread. When it finds nothing new it
waits to be prompted by a leader, as a follower thread is (it is a
``RecordingEventReceiver``), so it never sleeps on a timer; with the single-threaded runner
a command returns only after all its consequences were processed, so it never waits at all.
A repeated notification never makes it send a step twice.

Checks (from the applications' own recorded events, read back from the three databases)
--------------------------------------------------------------------------------------
every unit-year recognised exactly once; no event recorded twice (no (aggregate, version)
twice, and per unit-year each of the nine event types exactly once, which a duplicated
policy run or command would break); per aggregate the versions 1..n without gaps, in
notification order; and every aggregate's events replay through the transition tables of
``shared.contracts.lifecycle`` to the expected final state (recognized, closed, registered).

Settings chosen, and why
------------------------
- ``PERSISTENCE_MODULE=eventsourcing.sqlite`` with one database file per application
  (``<APP>_SQLITE_DBNAME``), as the project keeps one SQLite file per service. The library
  switches each file to WAL itself and leaves ``synchronous`` at SQLite's default, FULL:
  every commit syncs the WAL. The project's services use WAL with ``synchronous=NORMAL``
  (``shared/infra/db.py``), which does not sync at each commit; the peer keeps the library's
  behaviour rather than tuning it, so its commits are the more durable of the two. Nothing
  else is added: no sleeps, no extra syncs.
- Library defaults everywhere else: the JSON transcoder, no compression (the events are a
  few hundred bytes; the docs present compression as a way to save space on large events,
  at a CPU cost), no cipher, no snapshotting (an aggregate here has at most four events, so
  replaying it is cheaper than reading a snapshot), no aggregate cache (off by default),
  followers' ``pull_section_size`` 10.
- Runners: ``single`` is ``SingleThreadedRunner`` (every command's consequences are
  processed synchronously, in the caller's thread, before the command returns); ``multi`` is
  ``MultiThreadedRunner`` (one thread per follower application; the external system calls the
  commands from its own thread). ``new-single`` and ``new-multi`` select the library's
  ``NewSingleThreadedRunner`` / ``NewMultiThreadedRunner`` variants.

What the comparison is, and is not
----------------------------------
The peer runs in ONE process, WITHOUT Kafka: the three applications are objects in that
process, their notification logs are SQLite tables read directly, and its runner (the
library's own) is what moves events between them. That is the library's supported way to run
a system and so the honest peer, but it does much less than the project: the project's
figure includes a Kafka broker, three service processes, 14 Kafka records and 30 consumer
deliveries per lifecycle, signed inbound messages, JSON envelopes with hash chains, outbox
relays, and its services can run as several replicas. Read the peer's lifecycles/s as what
the same business steps cost in-process with event-sourced SQLite persistence, not as a
like-for-like distributed deployment. CPU seconds are the peer process's own (all threads);
peak RSS is that process's high-water mark. The machine has two cores shared with other
work, so single runs vary.

``run_peer(n, runner, workdir)`` runs the peer in a child process by default (so its CPU and
peak RSS are its own even when called from ``bench/lifecycle.py``) and returns the result
dict that ``--json`` writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import (
    MultiThreadedRunner,
    NewMultiThreadedRunner,
    NewSingleThreadedRunner,
    ProcessApplication,
    RecordingEvent,
    RecordingEventReceiver,
    Runner,
    SingleThreadedRunner,
    System,
)
from eventsourcing.utils import get_topic

from shared.contracts.lifecycle import APPROVAL, ASSESSMENT, LEVELS, REGISTRATION

ROOT = Path(__file__).resolve().parents[1]
CRITERIA_DIR = ROOT / "services" / "assessment" / "criteria"
CHAINS_FILE = ROOT / "services" / "approval" / "chains.json"
KINDS = ("residential_area", "commune", "agency", "enterprise", "school")
RUNNERS: dict[str, type[Runner[Any]]] = {
    "single": SingleThreadedRunner,
    "multi": MultiThreadedRunner,
    "new-single": NewSingleThreadedRunner,
    "new-multi": NewMultiThreadedRunner,
}
EVENTS_PER_LIFECYCLE = (
    "UnitRegistered",
    "UnitYearRegistered",
    "AssessmentOpened",
    "SelfAssessmentRecorded",
    "AssessmentClosed",
    "ApprovalCaseOpened",
    "UnitYearSelfScored",
    "UnitYearReviewed",
    "UnitYearRecognized",
)


class Refused(Exception):
    """A command or policy refused by a domain rule (the peer of a dead-lettered message)."""


#: (state, trigger) -> destination, from the public tables the services' machines are built from
APPROVAL_NEXT = APPROVAL.index()
ASSESSMENT_NEXT = ASSESSMENT.index()


def _dest(table: dict[tuple[str, str], str], what: str, state: str, trigger: str) -> str:
    """The state a legal transition leads to; refuse an illegal one, as the machines do."""
    try:
        return table[(state, trigger)]
    except KeyError:
        raise Refused(f"{what}: {trigger} is not allowed in state {state}") from None


# ----------------------------------------------------------------------------- configuration


@cache
def catalog(kind: str) -> dict[str, str]:
    """criterion code -> title (Vietnamese) for a unit kind's 2021 catalog."""
    data = json.loads((CRITERIA_DIR / f"{kind}.2021.json").read_text(encoding="utf-8"))
    return {c["code"]: c.get("title_vi", c["code"]) for c in data["criteria"]}


@cache
def _chains() -> dict[str, Any]:
    return json.loads(CHAINS_FILE.read_text(encoding="utf-8"))


def chain_for(unit: dict[str, Any], year: int) -> tuple[str, list[dict[str, str]], str]:
    """(profile, steps, deadline) of the approval chain for a unit and year, from the same
    configuration the approval service reads (delegations are not used by this population)."""
    data = _chains()
    sel = data["selection"]
    rules = sorted(sel["provinces"].get(unit["province_code"], sel["default"]), key=lambda r: r["from_year"])
    rules = [r for r in rules if year >= r["from_year"]]
    if not rules:
        raise Refused(f"no approval profile for province {unit['province_code']} in {year}")
    name = rules[-1]["profile"]
    profile = data["profiles"][name]
    by_level = profile["chains"].get(unit["kind"]) or {}
    steps = by_level.get(unit["managing_level"]) or by_level.get("*")
    if not steps:
        raise Refused(f"profile {name} has no chain for {unit['kind']} managed at {unit['managing_level']} level")
    deadline = profile["deadlines"].get(unit["kind"]) or profile["deadlines"]["*"]
    mm, dd = (int(x) for x in deadline.split("-"))
    return name, [dict(s) for s in steps], date(year, mm, dd).isoformat()


def assessment_window(kind: str, year: int) -> tuple[str, str]:
    """Mốc thời gian đánh giá: residential areas 1 Nov → 31 Oct, other units 16 Nov → 15 Nov."""
    if kind == "residential_area":
        return date(year - 1, 11, 1).isoformat(), date(year, 10, 31).isoformat()
    return date(year - 1, 11, 16).isoformat(), date(year, 11, 15).isoformat()


# ----------------------------------------------------------------------------- registration


class Unit(Aggregate):
    """A unit (đối tượng) as registered once: its kind, place and managing level."""

    @event("UnitRegistered")
    def __init__(self, unit: dict[str, Any]) -> None:
        self.unit = unit

    @classmethod
    def create_id(cls, unit: dict[str, Any]) -> UUID:
        return unit_id(unit["code"])


def unit_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/antt/units/{code}")


class UnitYear(Aggregate):
    """The unit's registration for one year (bản đăng ký phấn đấu)."""

    @event("UnitYearRegistered")
    def __init__(
        self,
        unit_year_id: str,
        year: int,
        unit: dict[str, Any],
        documents: list[dict[str, Any]],
        households_total: int | None,
        households_registered: int | None,
    ) -> None:
        self.unit_year_id = unit_year_id
        self.year = year
        self.unit = unit
        self.documents = documents
        self.households_total = households_total
        self.households_registered = households_registered
        self.state = REGISTRATION.initial

    @classmethod
    def create_id(cls, unit_year_id: str) -> UUID:
        return unit_year_key(unit_year_id)


def unit_year_key(unit_year_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/antt/registration/{unit_year_id}")


class Registration(Application[UUID]):
    """The registration service's peer: units and their yearly registrations."""

    name = "Registration"

    def register_unit(self, payload: dict[str, Any]) -> None:
        unit = dict(payload["unit"])
        if unit.get("kind") not in KINDS:
            raise Refused(f"unknown unit kind {unit.get('kind')!r}")
        if unit.get("managing_level") not in LEVELS:
            raise Refused(f"unknown managing level {unit.get('managing_level')!r}")
        if not unit.get("code") or not unit.get("province_code"):
            raise Refused("a unit needs a code and a province")
        self.save(Unit(unit=unit))

    def register_unit_year(self, payload: dict[str, Any]) -> None:
        code, year = payload["unit_code"], int(payload["year"])
        unit: Unit = self.repository.get(unit_id(code))
        docs = list(payload.get("documents") or [])
        if not any(d.get("kind") == "registration_form" for d in docs):
            raise Refused(f"{code}:{year}: the registration form (bản đăng ký) is missing")
        for d in docs:
            if not str(d.get("issued_on", "")).startswith(f"{year}-"):
                raise Refused(f"{code}:{year}: document {d.get('ref')} is not of {year}")
        total, registered = payload.get("households_total"), payload.get("households_registered")
        if unit.unit["kind"] == "residential_area" and (total is None or registered is None or registered < total):
            raise Refused(f"{code}:{year}: 100% of households must be registered ({registered}/{total})")
        self.save(
            UnitYear(
                unit_year_id=f"{code}:{year}",
                year=year,
                unit=unit.unit,
                documents=docs,
                households_total=total,
                households_registered=registered,
            )
        )


# ----------------------------------------------------------------------------- assessment


class AssessmentCase(Aggregate):
    """The self-assessment case (tự đánh giá) of a unit-year."""

    @event("AssessmentOpened")
    def __init__(
        self, unit_year_id: str, year: int, unit: dict[str, Any], window_start: str, window_end: str, criteria_catalog: str
    ) -> None:
        self.unit_year_id = unit_year_id
        self.year = year
        self.unit = unit
        self.window = (window_start, window_end)
        self.criteria_catalog = criteria_catalog
        self.state = ASSESSMENT.initial
        self.round = 0

    @classmethod
    def create_id(cls, unit_year_id: str) -> UUID:
        return assessment_key(unit_year_id)

    def record(self, payload: dict[str, Any]) -> None:
        dest = _dest(ASSESSMENT_NEXT, self.unit_year_id, self.state, "submit")
        cat = catalog(self.unit["kind"])
        submitted = {c["code"]: c for c in payload["criteria"]}
        unknown = sorted(set(submitted) - set(cat))
        if unknown:
            raise Refused(f"{self.unit_year_id}: criteria {unknown} are not in catalog {self.criteria_catalog}")
        meeting = payload["meeting_date"]
        if not self.window[0] <= meeting <= self.window[1]:
            raise Refused(f"{self.unit_year_id}: meeting {meeting} is outside the window {self.window}")
        evaluations = []
        for code, title in cat.items():
            c = submitted.get(code)
            met = bool(c and c.get("met"))
            evaluations.append(
                {
                    "code": code,
                    "title": title,
                    "claimed_met": met,
                    "result": "met" if met else "not_met",
                    "reason": None if met else ("not submitted" if c is None else "claimed not met"),
                    "note": (c or {}).get("note"),
                }
            )
        unmet = [str(e["code"]) for e in evaluations if e["result"] != "met"]
        self._recorded(
            unit_year_id=self.unit_year_id,
            round=self.round + 1,
            unit=self.unit,
            year=self.year,
            meeting_date=meeting,
            criteria=evaluations,
            verdict="not_met" if unmet else "met",
            unmet=unmet,
            score=payload.get("score"),
            documents=list(payload.get("documents") or []),
            state=dest,
        )

    @event("SelfAssessmentRecorded")
    def _recorded(
        self,
        unit_year_id: str,
        round: int,  # noqa: A002 - the contract's field name
        unit: dict[str, Any],
        year: int,
        meeting_date: str,
        criteria: list[dict[str, Any]],
        verdict: str,
        unmet: list[str],
        score: float | None,
        documents: list[dict[str, Any]],
        state: str,
    ) -> None:
        self.round = round
        self.verdict = verdict
        self.state = state

    def close(self, outcome: str) -> None:
        trigger = "withdraw" if outcome == "withdrawn" else "close"
        self._closed(
            unit_year_id=self.unit_year_id, outcome=outcome, state=_dest(ASSESSMENT_NEXT, self.unit_year_id, self.state, trigger)
        )

    @event("AssessmentClosed")
    def _closed(self, unit_year_id: str, outcome: str, state: str) -> None:
        self.state = state


def assessment_key(unit_year_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/antt/assessment/{unit_year_id}")


# ----------------------------------------------------------------------------- approval


class ApprovalCase(Aggregate):
    """The unit-year along its approval chain (thẩm định, công nhận)."""

    @event("ApprovalCaseOpened")
    def __init__(
        self,
        unit_year_id: str,
        unit: dict[str, Any],
        year: int,
        chain: list[dict[str, str]],
        chain_profile: str,
        deadline: str,
        state: str,
    ) -> None:
        self.unit_year_id = unit_year_id
        self.unit = unit
        self.year = year
        self.chain = chain
        self.chain_profile = chain_profile
        self.deadline = deadline
        self.state = state
        self.step = 0
        self.pending_level: str | None = None
        self.verdict: str | None = None
        self.decisions: list[dict[str, Any]] = []

    @classmethod
    def create_id(cls, unit_year_id: str) -> UUID:
        return approval_key(unit_year_id)

    def self_score(self, round_: int, verdict: str, unmet: list[str]) -> None:
        dest = _dest(APPROVAL_NEXT, self.unit_year_id, self.state, "self_score")
        self._self_scored(
            unit_year_id=self.unit_year_id,
            round=round_,
            verdict=verdict,
            unmet=list(unmet),
            state=dest,
            pending_level=self.chain[0]["level"],
            deadline=self.deadline,
        )

    @event("UnitYearSelfScored")
    def _self_scored(
        self,
        unit_year_id: str,
        round: int,
        verdict: str,
        unmet: list[str],
        state: str,
        pending_level: str,
        deadline: str,  # noqa: A002
    ) -> None:
        self.verdict = verdict
        self.state = state
        self.step = 0
        self.pending_level = pending_level

    def decide(self, payload: dict[str, Any]) -> None:
        level, decision = payload["level"], payload["decision"]
        if self.pending_level is None:
            raise Refused(f"{self.unit_year_id} awaits no decision (state {self.state})")
        step = self.chain[self.step]
        if level != step["level"]:
            raise Refused(f"{self.unit_year_id} awaits a decision at {step['level']} level, not {level}")
        if decision != "pass":
            raise Refused(f"{self.unit_year_id}: only pass decisions are part of this lifecycle, not {decision!r}")
        if self.verdict != "met":
            raise Refused(f"{self.unit_year_id} cannot pass: its self-assessment verdict is not met")
        common = {
            "unit_year_id": self.unit_year_id,
            "level": level,
            "decided_by": payload["decided_by"],
            "decision_no": payload.get("decision_no"),
        }
        if step["role"] == "decide":
            self._recognized(
                **common,
                deciding_body=step["body"],
                decided_on=payload.get("decided_on") or date.today().isoformat(),
                certificate_no=payload.get("certificate_no"),
                state=_dest(APPROVAL_NEXT, self.unit_year_id, self.state, "recognize"),
            )
        else:
            self._reviewed(
                **common,
                state=_dest(APPROVAL_NEXT, self.unit_year_id, self.state, f"review_{level}"),
                pending_level=self.chain[self.step + 1]["level"],
            )

    @event("UnitYearReviewed")
    def _reviewed(
        self, unit_year_id: str, level: str, decided_by: str, decision_no: str | None, state: str, pending_level: str
    ) -> None:
        self.decisions.append({"level": level, "role": "review", "decided_by": decided_by, "decision_no": decision_no})
        self.state = state
        self.step += 1
        self.pending_level = pending_level

    @event("UnitYearRecognized")
    def _recognized(
        self,
        unit_year_id: str,
        level: str,
        deciding_body: str,
        decided_by: str,
        decision_no: str | None,
        decided_on: str,
        certificate_no: str | None,
        state: str,
    ) -> None:
        self.decisions.append({"level": level, "role": "decide", "decided_by": decided_by, "decision_no": decision_no})
        self.state = state
        self.pending_level = None


def approval_key(unit_year_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/antt/approval/{unit_year_id}")


# ----------------------------------------------------------------------------- the process applications


class Assessment(ProcessApplication[UUID]):
    """The assessment service's peer: opens a case for each registered unit-year, records
    self-assessments, closes the case when the unit-year is decided."""

    name = "Assessment"

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: Any) -> None:
        """Events of other types are not followed (see ``topics``)."""

    @policy.register
    def _(self, domain_event: UnitYear.UnitYearRegistered, processing_event: Any) -> None:
        start, end = assessment_window(domain_event.unit["kind"], domain_event.year)
        case = AssessmentCase(
            unit_year_id=domain_event.unit_year_id,
            year=domain_event.year,
            unit=domain_event.unit,
            window_start=start,
            window_end=end,
            criteria_catalog=f"{domain_event.unit['kind']}.2021",
        )
        processing_event.collect_events(case)

    @policy.register
    def _(self, domain_event: ApprovalCase.UnitYearRecognized, processing_event: Any) -> None:
        case: AssessmentCase = self.repository.get(assessment_key(domain_event.unit_year_id))
        case.close("recognized")
        processing_event.collect_events(case)

    def record_self_assessment(self, payload: dict[str, Any]) -> None:
        case: AssessmentCase = self.repository.get(assessment_key(payload["unit_year_id"]))
        case.record(payload)
        self.save(case)


class Approval(ProcessApplication[UUID]):
    """The approval service's peer: a case per assessed unit-year, self-scored when the
    self-assessment is recorded, decided step by step along its chain."""

    name = "Approval"

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: Any) -> None:
        """Events of other types are not followed (see ``topics``)."""

    @policy.register
    def _(self, domain_event: AssessmentCase.AssessmentOpened, processing_event: Any) -> None:
        profile, steps, deadline = chain_for(domain_event.unit, domain_event.year)
        case = ApprovalCase(
            unit_year_id=domain_event.unit_year_id,
            unit=domain_event.unit,
            year=domain_event.year,
            chain=steps,
            chain_profile=profile,
            deadline=deadline,
            state=APPROVAL.initial,
        )
        processing_event.collect_events(case)

    @policy.register
    def _(self, domain_event: AssessmentCase.SelfAssessmentRecorded, processing_event: Any) -> None:
        case: ApprovalCase = self.repository.get(approval_key(domain_event.unit_year_id))
        case.self_score(domain_event.round, domain_event.verdict, domain_event.unmet)
        processing_event.collect_events(case)

    def decide(self, payload: dict[str, Any]) -> None:
        case: ApprovalCase = self.repository.get(approval_key(payload["unit_year_id"]))
        case.decide(payload)
        self.save(case)


# Followers pull only the notifications their policies handle (a topic filter in the SQL
# query), as the project's consumers ignore event types they have no handler for.
Assessment.topics = (get_topic(UnitYear.UnitYearRegistered), get_topic(ApprovalCase.UnitYearRecognized))
Approval.topics = (get_topic(AssessmentCase.AssessmentOpened), get_topic(AssessmentCase.SelfAssessmentRecorded))

#: registration → assessment → approval, and approval → assessment for the closing step
SYSTEM = System(pipes=[[Registration, Assessment, Approval, Assessment]])

# ----------------------------------------------------------------------------- the external system


class Stalled(Exception):
    pass


class ExternalSystem(RecordingEventReceiver[UUID]):
    """The e-government system and the officials, as ``bench.lifecycle.LifecycleDriver``:
    it admits unit-years, reads what the applications recorded, and reacts."""

    #: notifications read per query: the external system reads its feed in large batches, as
    #: the project's driver fetches from Kafka (followers keep the library's own section size)
    PULL = 500

    WATCH = {
        "Assessment": (AssessmentCase.AssessmentOpened,),
        "Approval": (ApprovalCase.UnitYearSelfScored, ApprovalCase.UnitYearReviewed, ApprovalCase.UnitYearRecognized),
    }

    def __init__(self, runner: Runner[Any], specs: list[Any], *, inflight: int, stall_timeout: float) -> None:
        from bench import lifecycle as lc  # the project's population and payloads (lazy: lifecycle may import us)

        self.lc = lc
        self.runner = runner
        self.specs = specs
        self.by_uy = {s.unit_year_id: s for s in specs}
        self.codes = {k: lc.criteria_codes(k) for k in {s.kind for s in specs}}
        self.inflight = inflight if inflight > 0 else len(specs)
        self.stall_timeout = stall_timeout
        self.registration = runner.get(Registration)
        self.assessment = runner.get(Assessment)
        self.approval = runner.get(Approval)
        self.apps = {"Assessment": self.assessment, "Approval": self.approval}
        self.topics = {name: [get_topic(c) for c in classes] for name, classes in self.WATCH.items()}
        self.position = {name: 0 for name in self.apps}
        self.prompted = threading.Event()
        self.reacted: set[tuple[UUID, int]] = set()
        self.t_start: dict[str, float] = {}
        self.t_done: dict[str, float] = {}
        self.next_admit = 0
        self.decision_serial = 0
        self.commands = 0
        self.anomalies: Counter[str] = Counter()
        self.refusals: list[str] = []
        #: a threaded runner processes in the background; with the single-threaded ones a
        #: command returns when everything it caused is recorded, so "nothing new" is final
        self.threaded = hasattr(runner, "has_errored")
        self.first_command: float | None = None
        for app in self.apps.values():
            app.lead(self)  # prompted like a follower thread, then pulls

    def receive_recording_event(self, new_recording_event: RecordingEvent[UUID]) -> None:
        self.prompted.set()

    def _command(self, fn: Any, payload: dict[str, Any]) -> None:
        if self.first_command is None:
            self.first_command = time.monotonic()
        self.commands += 1
        try:
            fn(payload)
        except Refused as exc:
            # the peer of a dead letter: every command of this benchmark is valid, so a
            # refusal fails the run (its unit-year then stalls and the checks report it)
            self.anomalies["command refused"] += 1
            if len(self.refusals) < 10:
                self.refusals.append(f"{getattr(fn, '__name__', fn)}: {exc}")

    def _admit(self) -> None:
        if self.next_admit >= len(self.specs):
            return
        s = self.specs[self.next_admit]
        self.next_admit += 1
        self._command(self.registration.register_unit, self.lc.unit_payload(s))
        self.t_start[s.unit_year_id] = time.monotonic()
        self._command(self.registration.register_unit_year, self.lc.registration_payload(s))

    def _pull(self) -> int:
        seen = 0
        for name, app in self.apps.items():
            while True:
                batch = app.recorder.select_notifications(
                    start=self.position[name], limit=self.PULL, topics=self.topics[name], inclusive_of_start=False
                )
                if not batch:
                    break
                self.position[name] = batch[-1].id
                for notification in batch:
                    seen += 1
                    self._react(app.mapper.to_domain_event(notification))
        return seen

    def _react(self, ev: Any) -> None:
        key = (ev.originator_id, ev.originator_version)
        if key in self.reacted:
            self.anomalies["event seen twice"] += 1
            return
        self.reacted.add(key)
        uy = ev.unit_year_id
        s = self.by_uy.get(uy)
        if s is None:
            self.anomalies["event for an unknown unit-year"] += 1
            return
        if isinstance(ev, AssessmentCase.AssessmentOpened):
            self._command(self.assessment.record_self_assessment, self.lc.self_assessment_payload(s, self.codes[s.kind]))
        elif isinstance(ev, (ApprovalCase.UnitYearSelfScored, ApprovalCase.UnitYearReviewed)):
            self.decision_serial += 1
            self._command(self.approval.decide, self.lc.decision_payload(s, ev.pending_level, self.decision_serial))
        elif isinstance(ev, ApprovalCase.UnitYearRecognized):
            if uy in self.t_done:
                self.anomalies["UnitYearRecognized twice for a unit-year"] += 1
                return
            self.t_done[uy] = time.monotonic()
            self._admit()

    def _runner_error(self) -> BaseException | None:
        errored = getattr(self.runner, "has_errored", None)
        if errored is not None and errored.is_set():
            for t in [*getattr(self.runner, "threads", {}).values(), *getattr(self.runner, "all_threads", [])]:
                if getattr(t, "error", None):
                    return t.error
            return RuntimeError("a runner thread failed")
        return None

    def run(self) -> None:
        for _ in range(min(self.inflight, len(self.specs))):
            self._admit()
        last_progress = time.monotonic()
        while len(self.t_done) < len(self.specs):
            self.prompted.clear()
            if self._pull():
                last_progress = time.monotonic()
                continue
            if (err := self._runner_error()) is not None:
                raise Stalled(f"the runner failed: {err!r}") from err
            if not self.threaded or time.monotonic() - last_progress > self.stall_timeout:
                raise Stalled(self._stuck_report())
            # nothing new: wait for a leader's prompt (threaded runners) rather than poll
            self.prompted.wait(0.5)

    def settle(self) -> None:
        """Wait until every follower has processed everything it follows (the closing
        ``AssessmentClosed`` may still be on its way in a threaded runner when the last
        recognition is seen), as the project's benchmark waits for its consumer lag to drain."""
        system = self.runner.system
        deadline = time.monotonic() + self.stall_timeout
        while True:
            behind = []
            for leader_name, follower_name in system.edges:
                leader, follower = self.runner.apps[leader_name], self.runner.apps[follower_name]
                tracked = follower.recorder.max_tracking_id(leader_name) or 0
                if leader.recorder.select_notifications(start=tracked, limit=1, topics=follower.topics, inclusive_of_start=False):
                    behind.append(f"{follower_name} behind {leader_name}")
            if not behind:
                return
            if (err := self._runner_error()) is not None:
                raise Stalled(f"the runner failed: {err!r}") from err
            if time.monotonic() > deadline:
                raise Stalled(f"the system did not settle: {', '.join(behind)}")
            self.prompted.clear()
            self.prompted.wait(0.05)

    def _stuck_report(self) -> str:
        stuck = [s.unit_year_id for s in self.specs[: self.next_admit] if s.unit_year_id not in self.t_done]
        why = f"no progress for {self.stall_timeout:.0f}s" if self.threaded else "nothing left to process"
        lines = [f"{why}; {len(stuck)} unit-years admitted but not recognised, e.g. {stuck[:5]}"]
        lines += [f"  refused: {r}" for r in self.refusals]
        return "\n".join(lines)

    def latencies(self) -> list[float]:
        return sorted(self.t_done[u] - self.t_start[u] for u in self.t_done if u in self.t_start)


# ----------------------------------------------------------------------------- audit


def read_events(app: Application[Any], sizes: list[int] | None = None) -> list[tuple[int, Any]]:
    """Every event an application recorded, as (notification id, domain event); the stored
    size of each is appended to ``sizes``."""
    out: list[tuple[int, Any]] = []
    start = 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=5000)
        if not batch:
            return out
        out.extend((n.id, app.mapper.to_domain_event(n)) for n in batch)
        if sizes is not None:
            sizes.extend(len(n.state) for n in batch)
        start = batch[-1].id + 1


def _payload(ev: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(ev).items() if not k.startswith("originator") and k != "timestamp"}


def audit(apps: dict[str, Application[Any]], expected: list[str], year: int) -> dict[str, Any]:
    """The run's checks, from the events the applications recorded."""
    checks: dict[str, Any] = {}
    sizes: list[int] = []
    by_app = {name: read_events(app, sizes) for name, app in apps.items()}
    events = [(name, nid, ev) for name, evs in by_app.items() for nid, ev in evs]
    types = Counter(type(ev).__name__ for _, _, ev in events)
    # 1. recognised exactly once
    recognized = Counter(ev.unit_year_id for _, _, ev in events if isinstance(ev, ApprovalCase.UnitYearRecognized))
    not_once = {u: recognized.get(u, 0) for u in expected if recognized.get(u, 0) != 1}
    extra = sorted(set(recognized) - set(expected))
    checks["recognized_exactly_once"] = {
        "ok": not not_once and not extra,
        "recognized": sum(1 for u in expected if recognized.get(u, 0) == 1),
        "expected": len(expected),
        "not_once": dict(list(not_once.items())[:20]),
        "unexpected_unit_years": extra[:20],
    }
    # 2. no event twice: an event's identity is (aggregate id, version); and a duplicated
    #    policy run or command would give a unit-year one event type twice
    ids = Counter((ev.originator_id, ev.originator_version) for _, _, ev in events)
    dup_ids = [f"{k[0]} v{k[1]}" for k, c in ids.items() if c > 1]
    per_uy: dict[str, Counter[str]] = defaultdict(Counter)
    for _, _, ev in events:
        # a unit registers once; in this population each unit has one unit-year
        uy = f"{ev.unit['code']}:{year}" if isinstance(ev, Unit.UnitRegistered) else ev.unit_year_id
        per_uy[uy or "?"][type(ev).__name__] += 1
    wrong = {
        u: dict(c)
        for u, c in per_uy.items()
        if u not in expected
        or any(c.get(t, 0) != 1 for t in EVENTS_PER_LIFECYCLE)
        or sum(c.values()) != len(EVENTS_PER_LIFECYCLE)
    }
    missing = [u for u in expected if u not in per_uy]
    checks["no_event_twice"] = {
        "ok": not dup_ids and not wrong and not missing,
        "events": len(events),
        "duplicate_ids": len(dup_ids),
        "unit_years_without_exactly_one_of_each_event": len(wrong) + len(missing),
        "examples": (dup_ids + [f"{u}: {c}" for u, c in wrong.items()] + missing)[:10],
    }
    # 3. per aggregate the versions 1..n, without gaps, in notification order
    versions: dict[tuple[str, UUID], list[int]] = defaultdict(list)
    for name, evs in by_app.items():
        for _, ev in evs:
            versions[(name, ev.originator_id)].append(ev.originator_version)
    breaks = [f"{name}/{oid}: {v}" for (name, oid), v in versions.items() if v != list(range(1, len(v) + 1))]
    checks["versions_without_gaps"] = {
        "ok": not breaks,
        "aggregates": len(versions),
        "breaks": len(breaks),
        "examples": breaks[:10],
    }
    # 4. every aggregate replays through the public transition tables to the expected state
    machines = {
        "Registration": (REGISTRATION, "registered"),
        "Assessment": (ASSESSMENT, "closed"),
        "Approval": (APPROVAL, "recognized"),
    }
    replay_errors: list[str] = []
    streams: dict[tuple[str, UUID], list[Any]] = defaultdict(list)
    for name, evs in by_app.items():
        for _, ev in evs:
            streams[(name, ev.originator_id)].append(ev)
    for (name, oid), evs in streams.items():
        lc, final = machines[name]
        if isinstance(evs[0], Unit.UnitRegistered):
            if len(evs) != 1:
                replay_errors.append(f"unit {oid}: {len(evs)} events")
            continue
        table = lc.index()
        state = None
        for ev in evs:
            trig = lc.trigger_for(type(ev).__name__, _payload(ev))
            if trig == "":
                state = lc.initial if state is None else "<opened twice>"
            elif trig is not None:
                state = table.get((state or "", trig), f"<illegal {trig} from {state}>")
        if state != final:
            replay_errors.append(f"{name}/{oid}: ends in {state}, expected {final}")
    checks["lifecycle_replay"] = {
        "ok": not replay_errors,
        "streams": len(streams),
        "errors": len(replay_errors),
        "examples": replay_errors[:10],
    }
    return {
        "checks": checks,
        "events_total": len(events),
        "events_by_type": dict(sorted(types.items())),
        "avg_event_state_bytes": round(sum(sizes) / len(sizes), 1) if sizes else 0,
    }


# ----------------------------------------------------------------------------- running


def _rusage_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM). ``ru_maxrss`` would not do: on Linux a
    child inherits its parent's figure across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def _sqlite_facts(paths: dict[str, Path]) -> dict[str, Any]:
    facts: dict[str, Any] = {"sqlite_version": sqlite3.sqlite_version}
    with sqlite3.connect(":memory:") as c:
        facts["synchronous_default"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            c.execute("PRAGMA synchronous").fetchone()[0]
        )
    for name, p in paths.items():
        with sqlite3.connect(p) as c:
            facts[f"{name}_journal_mode"] = c.execute("PRAGMA journal_mode").fetchone()[0]
            facts[f"{name}_bytes"] = sum(f.stat().st_size for f in p.parent.glob(p.name + "*"))
    return facts


def run_in_process(n: int, runner: str, workdir: Path, *, inflight: int = 2000, stall_timeout: float = 120.0) -> dict[str, Any]:
    """Run the peer in this process and return its figures and checks."""
    from importlib.metadata import version

    from bench import lifecycle as lc
    from bench.lifecycle.profiling import total_cpu_busy

    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}: {', '.join(RUNNERS)}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {name: workdir / f"{name.lower()}.sqlite" for name in ("Registration", "Assessment", "Approval")}
    for p in paths.values():
        for f in p.parent.glob(p.name + "*"):
            f.unlink()
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    env.update({f"{name.upper()}_SQLITE_DBNAME": str(p) for name, p in paths.items()})
    specs = lc.population(n, uuid.uuid4().hex[:6])
    expected = [s.unit_year_id for s in specs]

    system_runner = RUNNERS[runner](SYSTEM, env=env)
    system_runner.start()
    try:
        driver = ExternalSystem(system_runner, specs, inflight=inflight, stall_timeout=stall_timeout)
        cpu0, busy0 = _rusage_cpu(), total_cpu_busy()
        t0 = time.monotonic()
        driver.run()
        t1 = max(driver.t_done.values())
        driver.settle()
        t_settled = time.monotonic()
        cpu1, busy1 = _rusage_cpu(), total_cpu_busy()
        rss_run = _peak_rss_mb()  # before the audit, which holds every event in memory
        first = driver.first_command or t0
        wall = t1 - first
        apps = {"Registration": driver.registration, "Assessment": driver.assessment, "Approval": driver.approval}
        ta = time.monotonic()
        report = audit(apps, expected, lc.YEAR)
        audit_s = time.monotonic() - ta
    finally:
        system_runner.stop()
    lat = driver.latencies()
    checks = report["checks"]
    checks["driver_saw_no_anomaly"] = {
        "ok": not driver.anomalies,
        "anomalies": dict(driver.anomalies),
        "refusals": driver.refusals,
    }
    events = report["events_total"]
    return {
        "peer": "eventsourcing",
        "eventsourcing_version": version("eventsourcing"),
        "runner": runner,
        "runner_class": RUNNERS[runner].__name__,
        "n": n,
        "inflight": driver.inflight,
        "one_process_no_kafka": True,
        "wall_s": round(wall, 3),
        "wall_to_settled_s": round(t_settled - first, 3),
        "lifecycles_per_s": round(n / wall, 2),
        "events": events,
        "events_per_lifecycle": round(events / n, 2),
        "events_per_s": round(events / wall, 1),
        "avg_event_state_bytes": report["avg_event_state_bytes"],
        "commands": driver.commands,
        "commands_per_lifecycle": round(driver.commands / n, 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_ms_per_lifecycle": round(1000 * (cpu1 - cpu0) / n, 2),
        "cpu_share_of_one_core": round((cpu1 - cpu0) / wall, 2),
        "peak_rss_mb": round(rss_run, 1),
        "peak_rss_mb_with_audit": round(_peak_rss_mb(), 1),
        "latency_s": {
            "p50": round(_percentile(lat, 0.5), 3),
            "p99": round(_percentile(lat, 0.99), 3),
            "max": round(lat[-1], 3) if lat else None,
        },
        "audit_s": round(audit_s, 2),
        "events_by_type": report["events_by_type"],
        "checks": checks,
        "ok": all(c["ok"] for c in checks.values()),
        "settings": {
            **{k: v for k, v in env.items() if not k.endswith("DBNAME")},
            "databases": "one SQLite file per application",
            "compression": "none (library default)",
            "snapshotting": "off (library default)",
            "aggregate_cache": "off (library default)",
            "follower_pull_section_size": ProcessApplication.pull_section_size,
        },
        "sqlite": _sqlite_facts(paths),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            # what the whole machine was busy with during the lifecycle phase, and how much
            # of it was other work: the cores are shared, so this says how contended a run was
            "machine_busy_cpu_s": round(busy1[0] - busy0[0], 1),
            "machine_busy_share": round((busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1e-9), 2),
            "other_processes_cpu_s": round(busy1[0] - busy0[0] - (cpu1 - cpu0), 1),
            "note": "2 cores shared with other work: single runs vary",
        },
    }


def run_peer(
    n: int, runner: str, workdir: Path, *, isolated: bool = True, inflight: int = 2000, timeout: float | None = None
) -> dict[str, Any]:
    """Run the peer for ``n`` unit-years with ``runner`` (``single`` or ``multi``), its
    databases under ``workdir``, and return the result dict.

    ``isolated`` (the default) runs it in a child Python process, so its CPU seconds and
    peak RSS are the peer's own and its threads and memory never disturb the caller (for
    example ``bench/lifecycle.py`` after its own phases); ``isolated=False`` runs it here.
    """
    workdir = Path(workdir)
    if not isolated:
        return run_in_process(n, runner, workdir, inflight=inflight)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"peer-{runner}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.peer_eventsourcing",
        "--n",
        str(n),
        "--runner",
        runner,
        "--inflight",
        str(inflight),
        "--workdir",
        str(workdir),
        "--json",
        str(out),
        "--quiet",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if not out.exists():
        raise RuntimeError(f"the peer run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["exit_code"] = proc.returncode
    return result


def print_summary(r: dict[str, Any]) -> None:
    print(
        f"eventsourcing {r['eventsourcing_version']} peer, {r['runner_class']}, N={r['n']:,} (one process, no Kafka): "
        f"{r['lifecycles_per_s']} lifecycles/s, {r['events_per_s']} events/s, wall {r['wall_s']} s, "
        f"CPU {r['cpu_s']} s ({r['cpu_ms_per_lifecycle']} ms/lifecycle), peak RSS {r['peak_rss_mb']} MB, "
        f"latency p50 {r['latency_s']['p50']} s / p99 {r['latency_s']['p99']} s; "
        f"other processes used {r['machine']['other_processes_cpu_s']} CPU s meanwhile"
    )
    for name, c in r["checks"].items():
        detail = {k: v for k, v in c.items() if k != "ok" and v not in ([], {}, None)}
        print(f"  {'ok  ' if c['ok'] else 'FAIL'} {name}: {json.dumps(detail, ensure_ascii=False, default=str)[:300]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.peer_eventsourcing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="unit-years (default 10,000)")
    ap.add_argument("--runner", choices=sorted(RUNNERS), default="single")
    ap.add_argument("--inflight", type=int, default=2000, help="unit-years in progress at once (default 2,000)")
    ap.add_argument("--workdir", type=Path, default=None, help="folder for the SQLite files (default: a fresh temporary one)")
    ap.add_argument("--json", type=Path, default=None, help="write the result dict here")
    ap.add_argument("--stall-timeout", type=float, default=120.0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="antt-peer-es-") as tmp:
        r = run_in_process(
            args.n, args.runner, args.workdir or Path(tmp), inflight=args.inflight, stall_timeout=args.stall_timeout
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    if not args.quiet:
        print_summary(r)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    # Run under the module's import name, so the event classes' topics are
    # "bench.peer_eventsourcing:..." whether started with -m or imported.
    from bench.peer_eventsourcing import main as _main

    sys.exit(_main())
