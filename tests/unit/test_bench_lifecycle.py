"""The pieces of the lifecycle benchmark (bench/lifecycle/) that need no broker: the
population and its payloads, the driver's reactions and bounded admission, the checks on
synthetic records, and the report rendered from stored results. A benchmark whose checks
or report were wrong would publish a figure for work that was not done."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import lifecycle as lc
from bench.lifecycle import checks as ck
from bench.lifecycle import report
from bench.lifecycle.driver import BenchDriver
from bench.lifecycle.peer import ChildPeakRss
from bench.lifecycle.profiling import committed_batches, peak_rss_mb, summarize_folded
from bench.lifecycle.run import parser
from deploy.driver import (
    DLQ_TOPICS,
    LifecycleDriver,
    audit_records,
    criteria_codes,
    registration_msg,
    unit_msg,
)
from shared.contracts import topics
from shared.contracts.envelope import build_envelope
from shared.contracts.inbound import INBOUND_TYPES

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"

# ----------------------------------------------------------------------------- population


def test_population_mix_and_ids() -> None:
    specs = lc.population(20, "T")
    assert len({s.code for s in specs}) == 20
    assert all(s.unit_year_id == f"{s.code}:{lc.YEAR}" for s in specs)
    kinds = Counter(s.kind for s in specs)
    assert kinds == {"residential_area": 16, "agency": 4}
    agencies = [s for s in specs if s.kind == "agency"]
    assert Counter(s.managing_level for s in agencies) == {"commune": 2, "province": 2}
    assert {s.commune_code for s in specs} == {c for _, cs in lc.COMMUNES for c in cs}
    assert all(s.managing_level == "commune" for s in specs if s.kind == "residential_area")


def test_payloads_are_valid_inbound_messages_built_on_the_e2e_ones() -> None:
    for s in lc.population(10, "V"):
        steps = {
            "UnitRegistrationSubmitted": lc.unit_payload(s),
            "UnitYearRegistrationSubmitted": lc.registration_payload(s),
            "SelfAssessmentSubmitted": lc.self_assessment_payload(s, lc.criteria_codes(s.kind)),
            "ReviewDecisionSubmitted": lc.decision_payload(s, s.managing_level, 7),
        }
        for event_type, payload in steps.items():
            INBOUND_TYPES[event_type][0].model_validate(payload)  # raises if the contract refuses it
        unit = steps["UnitRegistrationSubmitted"]["unit"]
        assert {k: v for k, v in unit.items() if k != "attributes"} == unit_msg(s)["unit"]
        assert unit["name"] == s.name
        reg = steps["UnitYearRegistrationSubmitted"]
        assert [d["kind"] for d in reg["documents"]] == ["party_resolution", "security_plan", "registration_form"]
        assert reg["documents"][-1] == registration_msg(s)["documents"][0]
        if s.kind == "residential_area":
            assert reg["households_total"] == reg["households_registered"] == 150
        sa = steps["SelfAssessmentSubmitted"]
        assert [c["code"] for c in sa["criteria"]] == criteria_codes(s.kind) and all(c["met"] for c in sa["criteria"])
        assert lc.self_assessment_payload(s) == sa  # the catalog's codes by default
        dec = steps["ReviewDecisionSubmitted"]
        assert dec["decision"] == "pass" and dec["decision_no"] == "7/QĐ-UBND" and dec["reasons"] == []


# ----------------------------------------------------------------------------- driver


def _ev(uy: str, event_type: str, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": f"{uy}/{event_type}/{payload.get('n', 0)}",
        "event_type": event_type,
        "unit_year_id": uy,
        "payload": payload,
    }


def test_driver_admits_at_most_inflight_and_reacts_once_per_step() -> None:
    sent: list[tuple[str, str, Any]] = []

    def sender(event_type: str, payload: dict[str, Any], *, key: str, on_sent: Any = None) -> None:
        sent.append((event_type, key, on_sent))
        if on_sent is not None:
            on_sent()

    specs = lc.population(3, "D")
    d = LifecycleDriver(client=None, messages=lc.BENCH_MESSAGES, sender=sender)  # type: ignore[arg-type]
    d.feed(specs, inflight=2)
    assert [t for t, _, _ in sent] == ["UnitRegistrationSubmitted", "UnitYearRegistrationSubmitted"] * 2
    assert set(d.started) == {specs[0].unit_year_id, specs[1].unit_year_id} and d.admitted == 2
    uy = specs[0].unit_year_id
    sent.clear()
    d.on_event(_ev(uy, "AssessmentOpened"))
    d.on_event(_ev(uy, "UnitYearSelfScored", pending_level="commune"))
    d.on_event(_ev(uy, "UnitYearSelfScored", pending_level="commune", n=1))  # a second event asking for the same step
    d.on_event(_ev(uy, "UnitYearReviewed", pending_level="commune"))
    assert [t for t, _, _ in sent] == ["SelfAssessmentSubmitted", "ReviewDecisionSubmitted", "ReviewDecisionSubmitted"]
    assert d.anomalies == {"ReviewDecisionSubmitted asked for twice": 1}
    sent.clear()
    d.on_event(_ev(uy, "UnitYearRecognized"))  # frees a slot: the third unit-year is admitted
    assert [k for _, k, _ in sent] == [specs[2].code, specs[2].code] and d.admitted == 3
    d.on_event(_ev(uy, "UnitYearRecognized", n=1))
    assert d.anomalies["UnitYearRecognized twice for a unit-year"] == 1
    assert len(d.latencies()) == 1 and d.latencies()[0] >= 0
    assert not d.done.is_set()


def test_bench_driver_is_strict_about_what_it_sees() -> None:
    specs = lc.population(2, "S")
    d = BenchDriver(specs, inflight=1, window=10, bootstrap="127.0.0.1:1")
    d.feed(specs, inflight=1)
    assert [m[0] for m in d.client._queue] == ["UnitRegistrationSubmitted", "UnitYearRegistrationSubmitted"]
    uy = specs[0].unit_year_id
    ev = _ev(uy, "AssessmentOpened")
    d.on_event(ev)
    d.on_event(ev)  # the same event delivered again
    d.on_event(_ev("NOPE:2025", "AssessmentOpened"))
    d.on_event(_ev(uy, "UnitYearReturned"))
    assert d.anomalies == {
        "AssessmentOpened delivered twice": 1,
        "event for an unknown unit-year": 1,
        "unexpected UnitYearReturned": 1,
    }
    assert [m[0] for m in d.client._queue].count("SelfAssessmentSubmitted") == 1


# ----------------------------------------------------------------------------- checks


def _chain(uy: str, producer: str, types: list[str]) -> list[dict[str, Any]]:
    out, prev = [], None
    for i, t in enumerate(types, 1):
        env = build_envelope(
            event_type=t,
            payload={},
            producer=producer,
            actor={"id": "x", "role": "system", "jurisdiction": "*"},
            stream_id=uy,
            unit_year_id=uy,
            sequence=i,
            prev_hash=prev,
            correlation_id="c",
            causation_id=None,
        )
        prev = env["hash"]
        out.append(env)
    return out


def _records(events: list[tuple[str, dict[str, Any]]]) -> list[SimpleNamespace]:
    return [SimpleNamespace(topic=t, value=json.dumps(e).encode()) for t, e in events]


def _history(uys: list[str]) -> list[tuple[str, dict[str, Any]]]:
    hist = []
    for uy in uys:
        hist += [(topics.REGISTRATION_EVENTS, e) for e in _chain(uy, "registration", ["UnitYearRegistered"])]
        hist += [(topics.ASSESSMENT_EVENTS, e) for e in _chain(uy, "assessment", ["AssessmentOpened", "SelfAssessmentRecorded"])]
        hist += [
            (topics.APPROVAL_EVENTS, e)
            for e in _chain(uy, "approval", ["UnitYearSelfScored", "UnitYearReviewed", "UnitYearRecognized"])
        ]
    return hist


def _verdicts(hist: list[tuple[str, dict[str, Any]]], expected: list[str], **kw: Any) -> dict[str, bool]:
    a = audit_records(_records(hist))
    kw.setdefault("lag", {"antt-approval.antt.inbound.v1": 0})
    kw.setdefault("end_offsets", dict(a.records_by_topic))
    return {name: c["ok"] for name, c in ck.checks(a, expected, **kw).items()}


UYS = ["A:2025", "B:2025"]


def test_checks_pass_on_a_whole_history() -> None:
    hist = _history(UYS)
    assert all(_verdicts(hist, UYS).values())
    a = audit_records(_records(hist))
    assert ck.stats(a)["events_total"] == 12 and ck.stats(a)["events_by_type"]["UnitYearRecognized"] == 2
    c = ck.checks(a, UYS, lag={"g": 0}, end_offsets=dict(a.records_by_topic))
    assert c["sequences_and_hash_chains"]["streams"] == 6
    assert set(c["all_dlqs_empty"]["counts"]) == set(DLQ_TOPICS)


def _failed(verdicts: dict[str, bool]) -> set[str]:
    return {k for k, ok in verdicts.items() if not ok}


def test_each_check_fails_on_its_fault() -> None:
    hist = _history(UYS)
    # an event published twice: a duplicate id, and its chain no longer runs 1..k
    assert _failed(_verdicts([*hist, hist[3]], UYS)) == {"no_duplicate_event_ids", "sequences_and_hash_chains"}
    # a gap in a stream (an event lost before others of its stream; a lost tail is what the read check is for)
    gap = [h for h in hist if h[1]["event_type"] != "UnitYearReviewed" or h[1]["unit_year_id"] != "A:2025"]
    assert _failed(_verdicts(gap, UYS)) == {"sequences_and_hash_chains"}
    # a tampered event
    tampered = [
        (t, {**e, "payload": {"x": 1}}) if e["event_type"] == "UnitYearReviewed" and e["unit_year_id"] == "B:2025" else (t, e)
        for t, e in hist
    ]
    assert _failed(_verdicts(tampered, UYS)) == {"sequences_and_hash_chains"}
    # a unit-year never recognised, and one recognised that was not driven
    assert _failed(_verdicts(hist, [*UYS, "C:2025"])) == {"recognized_exactly_once"}
    assert _failed(_verdicts(hist, UYS[:1])) == {"recognized_exactly_once"}
    # a dead letter, inbound or not
    dl = {"error_code": "bad_signature", "reason": "x", "message_id": "m"}
    assert _failed(_verdicts([*hist, (topics.dlq(topics.INBOUND), dl)], UYS)) == {"inbound_dlq_empty", "all_dlqs_empty"}
    assert _failed(_verdicts([*hist, (topics.dlq(topics.APPROVAL_EVENTS), dl)], UYS)) == {"all_dlqs_empty"}
    # a consumer group behind, or never measured
    assert _failed(_verdicts(hist, UYS, lag={"g": 3})) == {"consumer_groups_at_zero_lag"}
    assert _failed(_verdicts(hist, UYS, lag=None)) == {"consumer_groups_at_zero_lag"}
    # the audit read fewer records than the broker holds
    a = audit_records(_records(hist))
    ends = {**a.records_by_topic, topics.APPROVAL_EVENTS: a.records_by_topic[topics.APPROVAL_EVENTS] + 1}
    assert _failed(_verdicts(hist, UYS, end_offsets=ends)) == {"audit_read_every_record"}


# ----------------------------------------------------------------------------- report


def _stored() -> list[Path]:
    # bench.verify's, bench.poll's and bench.statements' results are their own
    paths = sorted(p for p in RESULTS.glob("*.json") if not p.name.endswith(("-verify.json", "-poll.json", "-statements.json")))
    if not paths:
        pytest.skip("no stored results")
    return paths


def test_report_renders_every_stored_result() -> None:
    for path in _stored():
        r = json.loads(path.read_text(encoding="utf-8"))
        text = report.render_section(r)
        assert text.startswith(f"## Run {r['started_at']} — N = {r['n']:,}, {r['database']} — checks "), path
        assert f"| **completed lifecycles/s** | **{r['lifecycle']['lifecycles_per_s']:.1f}** |" in text
        assert "lifecycle latency p50 / p99 / max" in text
        if "peer" in r:
            assert "**The peer runs in one process, without Kafka**" in text
        else:
            assert "eventsourcing" not in text.lower()  # results without a peer: none is invented


def _with_peer(r: dict[str, Any]) -> dict[str, Any]:
    r = json.loads(json.dumps(r))
    r["peak_rss_mb"] = {"registration": 120.4, "assessment": 110.0, "approval": 130.6, "kafka (JVM)": 700.0, "bench client": 90.0}
    r["settings"]["peer_runners"] = ["single", "multi"]
    r["peer"] = {
        "multi": {
            "ok": True,
            "lifecycles_per_s": 50.0,
            "runner_class": "MultiThreadedRunner",
            "eventsourcing_version": "9.5.6",
            "latency_s": {"p50": 0.2, "p99": 1.5},
            "cpu_ms_per_lifecycle": 12.5,
            "peak_rss_mb": 300.0,
            "peak_rss_vmhwm_mb": 80.0,
            "checks": {},
        },
        "single": {"error": "RuntimeError: boom"},
    }
    r["ratios"]["project_per_peer"] = {"multi": round(r["lifecycle"]["lifecycles_per_s"] / 50.0, 4)}
    return r


def test_report_puts_the_peer_and_the_ceiling_beside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = json.loads((RESULTS / "20261124T120412Z.json").read_text(encoding="utf-8"))  # a complete run, raw baseline included
    r = _with_peer(stored)
    text = report.render_section(r)
    assert "**The peer runs in one process, without Kafka**" in text
    assert "| **project**: 3 service processes + Kafka" in text
    assert f"| {r['ratios']['project_per_peer']['multi']:.3f} |" in text
    assert "MultiThreadedRunner (one process, no Kafka, SQLite) | 50.0 |" in text
    assert "| 12.5 | 80 MiB |" in text  # the peer's own VmHWM, not its inherited ru_maxrss
    assert "runner `single`: **failed**" in text and "RuntimeError: boom" in text
    assert "ceiling: raw aiokafka" in text
    assert "| approval | 131 MiB |" in text and "| the three services together | 361 MiB |" in text
    # written out: a new file gets the header, the JSON keeps every key of the stored result
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path / "results")
    out = tmp_path / "bench.md"
    json_path = report.write_report(r, out, "20990101T000000Z")
    assert out.read_text(encoding="utf-8").startswith(report.DOC_HEADER)
    written = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(stored) <= set(written) and {"peer", "peak_rss_mb"} <= set(written)
    report.print_summary(r)  # no KeyError on a result with a failed peer


def test_command_line_options() -> None:
    a = parser().parse_args([])
    assert (a.n, a.inflight, a.window, a.peer_runners, a.no_peer) == (10000, 2000, 2000, ["multi"], False)
    a = parser().parse_args(["--n", "300", "--inflight", "10", "--peer-runners", "single,multi", "--no-peer"])
    assert (a.n, a.inflight, a.peer_runners, a.no_peer) == (300, 10, ["single", "multi"], True)


def test_profiling_pieces() -> None:
    assert (peak_rss_mb(os.getpid()) or 0) > 0
    assert peak_rss_mb(2**22 + 12345) is None  # no such process
    folded = sorted(RESULTS.glob("*.folded"))
    if folded:
        s = summarize_folded(folded[0])
        assert s["busy_samples"] > 0 and s["categories"]


def test_consumer_transactions_are_read_from_the_services_metrics() -> None:
    """The count of committed batches by topic, from the exposition a service really serves,
    and its table beside the deliveries."""
    from prometheus_client import generate_latest

    from shared.infra.metrics import ServiceMetrics

    m = ServiceMetrics(SimpleNamespace(), "approval")
    observe = m.batch_observer(topics.INBOUND)
    for ok in (True, True, True, False):
        observe(0.01, ok)
    m.batch_observer(topics.ASSESSMENT_EVENTS)(0.02, True)
    got = committed_batches(generate_latest(m.registry).decode())
    assert got == {topics.INBOUND: 3, topics.ASSESSMENT_EVENTS: 1}
    lines = report.render_transactions(
        {
            "consumer_transactions": {"approval": got},
            "lifecycle": {"deliveries_by_group": {f"antt-approval.{topics.INBOUND}": 1500}},
        }
    )
    assert f"| approval | {topics.INBOUND} | 3 | 1,500 | 500 |" in lines
    assert f"| approval | {topics.ASSESSMENT_EVENTS} | 1 | 0 | – |" in lines
    assert report.render_transactions({}) == []


def test_child_peak_rss_is_the_childs_own() -> None:
    """A child of a large process inherits its ru_maxrss; the VmHWM poller reports the child's."""
    import subprocess
    import sys

    ballast = bytearray(200 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    code = "import time; time.sleep(1.0)  # bench.peer_eventsourcing"
    with ChildPeakRss(marker=b"bench.peer_eventsourcing", interval=0.05) as rss:
        subprocess.run([sys.executable, "-c", code], check=True)
    del ballast
    assert rss.peak is not None and rss.peak < 100


async def test_the_e2e_way_of_driving_is_unchanged() -> None:
    """``register`` + ``pump`` (the end-to-end tests' use) still send the minimal messages."""
    import asyncio

    from deploy.driver import Plan, decision_msg, self_assessment_msg

    class FakeClient:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict[str, Any], str]] = []

        async def send(self, event_type: str, payload: dict[str, Any], *, key: str) -> str:
            self.sent.append((event_type, payload, key))
            return "id"

    client = FakeClient()
    d = LifecycleDriver(client)  # type: ignore[arg-type]
    plan = Plan(code="E2E-1", kind="residential_area")
    await d.register([plan])
    assert [(t, p) for t, p, _ in client.sent] == [
        ("UnitRegistrationSubmitted", unit_msg(plan)),
        ("UnitYearRegistrationSubmitted", registration_msg(plan)),
    ]
    pump = asyncio.create_task(d.pump())
    d.on_event(_ev(plan.unit_year_id, "AssessmentOpened"))
    d.on_event(_ev(plan.unit_year_id, "AssessmentOpened", n=1))
    d.on_event(_ev(plan.unit_year_id, "UnitYearSelfScored", pending_level="commune"))
    for _ in range(20):
        await asyncio.sleep(0)
    pump.cancel()
    assert [p for _, p, _ in client.sent[2:]] == [self_assessment_msg(plan), decision_msg(plan, "commune")]
    d.on_event(_ev(plan.unit_year_id, "UnitYearRecognized"))
    assert d.done.is_set() and set(d.recognized) == {plan.unit_year_id}
