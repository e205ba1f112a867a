"""The auditors' tool on the real history of the running system: ~20 unit-years driven through
their lifecycle over a real broker, and two agencies through the exemplary track (one returned
once then recognised exemplary, one recognised and then revoked with its ANTT recognition), then
``python -m audit`` as an auditor runs it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from audit.sources import Record, read_archive
from audit.verify import verify_archive
from deploy.client import AnttClient
from deploy.driver import LifecycleDriver, Plan
from shared.contracts import topics
from shared.contracts.checkpoint import PublicKeys
from shared.contracts.envelope import compute_hash
from tests.e2e.conftest import TOKEN, System, unique
from tests.e2e.test_commune_rollup import decide, register, self_score
from tests.e2e.test_exemplary import EVIDENCE, propose_and_self_assess
from tests.unit.test_audit_verify import tampered

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
N = 20


def audit(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


async def _drive(system: System, plans: list[Plan]) -> None:
    client = AnttClient(system.bootstrap)
    driver = LifecycleDriver(client)
    client.on_event = driver.on_event
    await client.start()
    pump = asyncio.create_task(driver.pump())
    try:
        await driver.register(plans)
        await asyncio.wait_for(driver.done.wait(), timeout=180)
    finally:
        pump.cancel()
        await client.stop()


async def _exemplary_decision(client: AnttClient, plan: Plan, step: str, decision: str, after: int) -> dict[str, Any]:
    """A decision of the exemplary title's chain (province steering committee, then chairman)."""
    await client.send(
        "ExemplaryDecisionSubmitted",
        {
            "unit_year_id": plan.unit_year_id,
            "level": "province",
            "decision": decision,
            "step": step,
            "reasons": ["Bổ sung biên bản Tháng hành động phòng, chống ma túy"] if decision == "return" else [],
            "decided_by": "Ban Chỉ đạo tỉnh" if step == "review" else "Chủ tịch UBND tỉnh",
            "decision_no": f"ĐH/{plan.code}" if decision == "pass" and step == "decide" else None,
            "certificate_no": f"BK/{plan.code}" if decision == "pass" and step == "decide" else None,
        },
        key=plan.code,
    )
    wanted = {
        ("review", "pass"): "ExemplaryTitleReviewed",
        ("decide", "pass"): "ExemplaryTitleRecognized",
        ("decide", "return"): "ExemplaryTitleReturned",
    }[(step, decision)]
    return await client.wait_event(plan.unit_year_id, wanted, after=after, timeout=60)


async def _exemplary_track(client: AnttClient, plan: Plan, *, returned: bool, revoke: bool) -> None:
    """An agency recognised ANTT by the province, proposed and self-assessed exemplary, appraised,
    (returned once and self-assessed again,) recognised exemplary, (then its ANTT recognition
    revoked, which revokes the title with it)."""
    uy = plan.unit_year_id
    await register(client, plan)
    ev = await self_score(client, plan)
    while ev["event_type"] != "UnitYearRecognized":
        n = len(client.events[uy])
        await decide(client, plan, ev["payload"]["pending_level"], "pass")
        ev = await client.wait_event(uy, "UnitYearReviewed", "UnitYearRecognized", after=n, timeout=60)
    n = len(client.events[uy])
    recorded = await propose_and_self_assess(client, plan, EVIDENCE)
    assert recorded["payload"]["verdict"] == "met", recorded["payload"]
    await client.wait_event(uy, "ExemplaryTitleSelfScored", after=n, timeout=60)
    n = len(client.events[uy])
    await _exemplary_decision(client, plan, "review", "pass", n)
    if returned:
        n = len(client.events[uy])
        await _exemplary_decision(client, plan, "decide", "return", n)
        await client.wait_event(uy, "ExemplaryCaseReopened", after=n, timeout=60)
        n = len(client.events[uy])
        again = {
            "unit_year_id": uy,
            "criteria": [{"code": f"DH-{i}", "met": True} for i in range(1, 15)],
            "documents": [{"kind": "exemplary_plan", "ref": "KH-ĐH-2025", "issued_on": "2025-02-20"}],
            "meeting_date": "2025-11-28",
            "evidence": EVIDENCE,
        }
        await client.send("ExemplarySelfAssessmentSubmitted", again, key=plan.code)
        await client.wait_event(uy, "ExemplaryTitleSelfScored", after=n, timeout=60)
        n = len(client.events[uy])
        await _exemplary_decision(client, plan, "review", "pass", n)
    n = len(client.events[uy])
    await _exemplary_decision(client, plan, "decide", "pass", n)
    await client.wait_event(uy, "ExemplaryCaseClosed", after=n, timeout=60)
    if revoke:
        n = len(client.events[uy])
        await client.send(
            "RecognitionRevocationSubmitted",
            {
                "unit_year_id": uy,
                "reasons": ["Kiểm tra lại hồ sơ"],
                "decided_by": "Chủ tịch UBND tỉnh",
                "decision_no": "9/QĐ-UBND",
            },
            key=plan.code,
        )
        title = await client.wait_event(uy, "ExemplaryTitleRevoked", after=n, timeout=60)
        assert title["payload"]["because_of"] == "antt_revoked"
        await client.wait_event(uy, "ExemplaryEvaluationRevised", after=n, timeout=60)


async def _drive_exemplary(system: System, plans: list[Plan]) -> None:
    async with AnttClient(system.bootstrap) as client:
        await asyncio.gather(
            _exemplary_track(client, plans[0], returned=True, revoke=False),
            _exemplary_track(client, plans[1], returned=False, revoke=True),
        )


def _checkpoints(system: System) -> dict[str, list[dict[str, Any]]]:
    from shared.infra.kafka import read_to_end

    recs = asyncio.run(read_to_end(system.bootstrap, (topics.CHECKPOINTS,)))
    out: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        cp = json.loads(r.value)
        out.setdefault(cp.get("producer"), []).append(cp)
    return out


def _covered(system: System, cps: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether each producer's newest checkpoint covers every record of its topic."""
    from shared.infra.kafka import read_to_end

    for producer in ("registration", "assessment", "approval"):
        if not cps.get(producer):
            return False
        records = asyncio.run(read_to_end(system.bootstrap, (f"antt.{producer}.events.v1",)))
        if max(cp["size"] for cp in cps[producer]) != len(records):
            return False
    return True


@pytest.fixture(scope="module")
def history(sqlite_system: System) -> dict[str, Any]:
    system = sqlite_system
    tag = unique("AUD")
    plans = [
        Plan(
            code=f"{tag}-{i:03d}",
            kind="residential_area" if i % 4 else "agency",
            managing_level="commune" if i % 4 else "province",
        )
        for i in range(N)
    ]
    xtag = unique("AUDX")
    exemplary = [Plan(code=f"{xtag}-{i}", kind="agency", managing_level="province", commune_code=None) for i in range(2)]
    # first, so that the partitions' newest records (drop_tail below) are the residential areas'
    asyncio.run(_drive_exemplary(system, exemplary))
    asyncio.run(_drive(system, plans))
    time.sleep(2)  # the last reactions (AssessmentClosed, read models) settle
    # a graceful stop signs a checkpoint of everything published (the services also sign every
    # 10 s while their trees move): after a restart of each, every record is covered
    for name in ("registration", "assessment", "approval"):
        system.restart(name)
    deadline = time.monotonic() + 60
    cps = _checkpoints(system)
    while time.monotonic() < deadline and not _covered(system, cps):
        time.sleep(1)
        cps = _checkpoints(system)
    keys = system.workdir / "keys"
    archive = system.workdir / "audit-export.jsonl.gz"
    res = audit("export", "--bootstrap", system.bootstrap, "--out", str(archive), "--json")
    assert res.returncode == 0, res.stderr
    return {
        "system": system,
        "plans": plans,
        "exemplary": exemplary,
        "keys": keys,
        "archive": archive,
        "checkpoints": cps,
        "manifest": json.loads(res.stdout),
    }


def test_the_services_publish_checkpoints_and_keys(history: dict[str, Any]) -> None:
    cps = history["checkpoints"]
    assert all(cps.get(p) for p in ("registration", "assessment", "approval")), {p: len(v) for p, v in cps.items()}
    assert _covered(history["system"], cps)
    assert sorted(f.name for f in history["keys"].glob("*.pub")) == ["approval.pub", "assessment.pub", "registration.pub"]


def test_verify_the_live_topics(history: dict[str, Any]) -> None:
    res = audit("verify", "--bootstrap", history["system"].bootstrap, "--keys", str(history["keys"]), "--json")
    report = json.loads(res.stdout)
    assert res.returncode == 0, [f for f in report["findings"] if f["severity"] == "error"]
    s = report["summary"]
    assert s["unit_years"] >= N + 2 and s["recognitions"] >= N + 2
    # the two agencies' exemplary tracks, each written by the assessment and the approval service
    assert s["exemplary_streams"] == 4 and s["exemplary_recognitions"] == 2
    assert s["checkpoints_verified"] == s["checkpoints"] >= 3
    human = audit("verify", "--bootstrap", history["system"].bootstrap, "--keys", str(history["keys"]))
    assert human.returncode == 0 and "RESULT: OK" in human.stdout


def test_export_then_verify_the_archive_offline(history: dict[str, Any]) -> None:
    m = history["manifest"]
    assert set(m["latest_checkpoints"]) == {"registration", "assessment", "approval"}
    assert m["topics"][topics.APPROVAL_EVENTS] and m["records"] >= N * 9
    res = audit("verify", "--archive", str(history["archive"]), "--keys", str(history["keys"]), "--json")
    assert res.returncode == 0, res.stdout[-3000:]
    assert json.loads(res.stdout)["summary"]["events"] >= N * 9


def test_history_and_as_of_on_the_real_history(history: dict[str, Any]) -> None:
    uy = history["plans"][1].unit_year_id
    res = audit("history", uy, "--archive", str(history["archive"]), "--json")
    assert res.returncode == 0
    types = [e["event_type"] for e in json.loads(res.stdout)["events"]]
    assert types[0] == "UnitYearRegistered" and "UnitYearRecognized" in types
    res = audit(
        "as-of",
        time.strftime("%Y-%m-%d"),
        "--archive",
        str(history["archive"]),
        "--province",
        "51",
        "--state",
        "recognized",
        "--tz",
        "UTC",
    )
    assert res.returncode == 0
    assert sum(1 for line in res.stdout.splitlines() if line.startswith(history["plans"][0].code[:-4])) == N


def test_history_and_as_of_show_the_exemplary_track(history: dict[str, Any]) -> None:
    granted, revoked = (p.unit_year_id for p in history["exemplary"])
    res = audit("history", revoked, "--archive", str(history["archive"]), "--json")
    assert res.returncode == 0
    data = json.loads(res.stdout)
    tracks = [(e["event_type"], e["track"]) for e in data["events"]]
    assert ("UnitYearRevoked", "antt") in tracks and ("ExemplaryTitleRevoked", "exemplary") in tracks
    assert ("MovementClassificationRecorded", "antt") in tracks and ("ExemplaryCaseOpened", "exemplary") in tracks
    assert (data["state"]["state"], data["state"]["exemplary_state"]) == ("revoked", "revoked")
    assert data["state"]["exemplary_revoked_because"] == "antt_revoked"
    res = audit(
        "as-of",
        time.strftime("%Y-%m-%d"),
        "--archive",
        str(history["archive"]),
        "--province",
        "51",
        "--exemplary-state",
        "recognized",
        "--format",
        "json",
        "--tz",
        "UTC",
    )
    assert res.returncode == 0
    rows = [r for r in json.loads(res.stdout)["unit_years"] if r["unit_year_id"] in (granted, revoked)]
    assert [(r["unit_year_id"], r["state"], r["exemplary_state"]) for r in rows] == [(granted, "recognized", "recognized")]
    row = rows[0]
    assert (row["exemplary_approval_state"], row["exemplary_assessment_state"]) == ("recognized", "closed")
    assert row["exemplary_decision_no"] == f"ĐH/{history['exemplary'][0].code}" and row["movement_rating"] == "xuat_sac"


def test_cross_check_finds_no_drift(history: dict[str, Any]) -> None:
    s = history["system"]
    res = audit(
        "cross-check",
        "--bootstrap",
        s.bootstrap,
        "--approval-url",
        s.url("approval"),
        "--assessment-url",
        s.url("assessment"),
        "--registration-url",
        s.url("registration"),
        "--token",
        TOKEN["Authorization"].split()[1],
        "--json",
    )
    data = json.loads(res.stdout)
    assert res.returncode == 0, [f for f in data["findings"] if f["severity"] == "error"]
    assert all(isinstance(v, dict) and v["service"] == v["topic"] for v in data["summary"]["checkpoints"].values())


# --------------------------------------------------------------------------- tampered copies


def _env(r: Record) -> dict[str, Any]:
    return orjson.loads(r.value)


def _stream_positions(records: list[Record], producer: str) -> tuple[str, list[int]]:
    """A stream of ``producer`` with at least three events, and its records' indexes."""
    by: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.topic == f"antt.{producer}.events.v1":
            by.setdefault(_env(r)["stream_id"], []).append(i)
    stream = next(s for s, idx in sorted(by.items()) if len(idx) >= 3 and ":" in s and not s.startswith("unit:"))
    return stream, by[stream]


def _replace(records: list[Record], i: int, value: bytes) -> None:
    r = records[i]
    records[i] = Record(r.topic, r.partition, r.offset, r.timestamp, r.key, value, r.headers)


def flip_byte(records: list[Record]) -> list[Record]:
    _s, idx = _stream_positions(records, "approval")
    v = records[idx[1]].value
    pos = v.index(b'"unit_year_id":"') + len(b'"unit_year_id":"')
    _replace(records, idx[1], v[:pos] + (b"X" if v[pos : pos + 1] != b"X" else b"Y") + v[pos + 1 :])
    return records


def drop_one(records: list[Record]) -> list[Record]:
    _s, idx = _stream_positions(records, "approval")
    del records[idx[1]]
    return records


def drop_tail(records: list[Record]) -> list[Record]:
    part = [
        i
        for i, r in enumerate(records)
        if r.topic == topics.APPROVAL_EVENTS
        and r.partition == records[next(i for i, r in enumerate(records) if r.topic == topics.APPROVAL_EVENTS)].partition
    ]
    del records[part[-1]]
    return records


def swap(records: list[Record]) -> list[Record]:
    _s, idx = _stream_positions(records, "approval")
    records[idx[1]], records[idx[2]] = records[idx[2]], records[idx[1]]
    return records


def duplicate(records: list[Record]) -> list[Record]:
    _s, idx = _stream_positions(records, "assessment")
    records.insert(idx[1] + 1, records[idx[1]])
    return records


def rewrite_stream(records: list[Record]) -> list[Record]:
    _s, idx = _stream_positions(records, "approval")
    prev = None
    for i in idx:
        e = _env(records[i])
        e["payload"]["decided_by"] = "someone else"
        e["prev_hash"] = prev
        e["hash"] = compute_hash(e)
        prev = e["hash"]
        _replace(records, i, orjson.dumps(e))
    return records


def forge_checkpoint(records: list[Record]) -> list[Record]:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.contracts.checkpoint import key_id, signed_bytes

    other = Ed25519PrivateKey.generate()
    i = [k for k, r in enumerate(records) if r.topic == topics.CHECKPOINTS][-1]
    cp = _env(records[i])
    cp["key_id"] = key_id(other.public_key())
    cp.pop("signature")
    cp["signature"] = base64.b64encode(other.sign(signed_bytes(cp))).decode()
    _replace(records, i, orjson.dumps(cp))
    return records


def delete_checkpoint(records: list[Record]) -> list[Record]:
    """The first checkpoint of a producer that has several (deleting the newest one can only be
    seen against the service itself: cross-check)."""
    by: dict[str, list[int]] = {}
    for k, r in enumerate(records):
        if r.topic == topics.CHECKPOINTS:
            by.setdefault(_env(r)["producer"], []).append(k)
    several = [idx for _p, idx in sorted(by.items()) if len(idx) >= 2]
    if not several:
        pytest.skip("no producer published two checkpoints during the run")
    del records[several[0][0]]
    return records


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (flip_byte, "payload_edited"),
        (drop_one, "event_dropped"),
        (drop_tail, "tail_dropped"),
        (swap, "reordered"),
        (duplicate, "duplicate_event_id"),
        (rewrite_stream, "stream_rewritten"),
        (forge_checkpoint, "checkpoint_untrusted_key"),
        (delete_checkpoint, "checkpoint_missing"),
    ],
)
def test_each_tampering_of_the_real_archive_is_named(history: dict[str, Any], tmp_path: Path, change, code) -> None:
    path = tampered(history["archive"], tmp_path, change)
    report = verify_archive(path, PublicKeys.load(history["keys"]))
    errors = [f.code for f in report.errors]
    assert errors and errors[0] == code, [f.to_json() for f in report.errors]
    assert set(errors) <= {code, "unresolved_causation"}, errors
    if code == "payload_edited":
        res = audit("verify", "--archive", str(path), "--keys", str(history["keys"]))
        assert res.returncode == 1 and "payload_edited" in res.stdout


def test_the_export_keeps_every_record(history: dict[str, Any]) -> None:
    manifest, records = read_archive(history["archive"])
    counts: dict[tuple[str, int], int] = {}
    for r in records:
        counts[(r.topic, r.partition)] = counts.get((r.topic, r.partition), 0) + 1
    for t, parts in manifest["topics"].items():
        for p, info in parts.items():
            assert counts.get((t, int(p)), 0) == info["count"] == info["end"] - info["start"]
