"""The auditors' tool on synthetic histories: a clean history verifies, and each tampering is
named by its code at the record where it happened."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.cli import main
from audit.sources import Record, read_archive, write_archive
from audit.synthetic import SYSTEM, HistoryBuilder, write_keys
from audit.verify import verify_archive
from shared.contracts import topics
from shared.contracts.checkpoint import (
    PublicKeys,
    build_checkpoint,
    key_id,
    load_public_key,
    signed_bytes,
)
from shared.contracts.envelope import compute_hash


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, HistoryBuilder]:
    """12 lifecycles, checkpoints after 6 and at the end; then one more lifecycle that no
    checkpoint covers yet."""
    b = HistoryBuilder(partitions=3)
    for i in range(12):
        b.lifecycle(f"T{i:03d}")
        if i == 5:
            b.checkpoint_all()
    b.checkpoint_all()
    folder = tmp_path_factory.mktemp("clean")
    archive = folder / "history.jsonl.gz"
    b.write(archive)
    write_keys(folder / "keys", b.public_keys())
    return archive, folder / "keys", b


def keys_of(path: Path) -> PublicKeys:
    return PublicKeys.load(path)


def tampered(clean_archive: Path, tmp_path: Path, change: Callable[[list[Record]], list[Record]]) -> Path:
    """Rewrite the archive as someone with write access to the topics would: change the
    records, then renumber the offsets of every partition and write a matching manifest."""
    _manifest, records = read_archive(clean_archive)
    records = change(records)
    counters: dict[tuple[str, int], int] = {}
    out = []
    for r in records:
        n = counters.get((r.topic, r.partition), 0)
        counters[(r.topic, r.partition)] = n + 1
        out.append(Record(r.topic, r.partition, n, r.timestamp, r.key, r.value, r.headers))
    path = tmp_path / "tampered.jsonl.gz"
    write_archive(path, out)
    return path


def codes(report) -> list[str]:
    return [f.code for f in report.errors]


def env(r: Record) -> dict:
    return orjson.loads(r.value)


def events_of(records: list[Record], stream: str, producer: str) -> list[int]:
    return [i for i, r in enumerate(records) if r.topic == f"antt.{producer}.events.v1" and env(r)["stream_id"] == stream]


def test_clean_history_verifies(clean) -> None:
    archive, keys, _b = clean
    report = verify_archive(archive, keys_of(keys))
    assert report.ok, [f.to_json() for f in report.findings]
    s = report.stats
    assert s["unit_years"] == 12 and s["recognitions"] == 12 and s["checkpoints_verified"] == 6
    assert s["events"] == 12 * 9 and s["inbound_messages"] == 12 * 5


def test_records_after_the_last_checkpoint_are_a_note(clean, tmp_path: Path) -> None:
    _archive, keys, b = clean
    b2 = HistoryBuilder(keys=b.keys, partitions=3)
    b2.lifecycle("N001")
    b2.checkpoint_all()
    b2.lifecycle("N002")
    path = tmp_path / "h.jsonl.gz"
    b2.write(path)
    report = verify_archive(path, keys_of(keys))
    assert report.ok
    assert "unprotected_records" in [f.code for f in report.findings]


def test_flipped_byte_in_a_payload_is_payload_edited(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean

    def change(records: list[Record]) -> list[Record]:
        i = events_of(records, "T003:2025", "approval")[-1]
        r = records[i]
        pos = r.value.index("Chủ tịch".encode()) + 1
        value = r.value[:pos] + b"X" + r.value[pos + 1 :]
        records[i] = Record(r.topic, r.partition, r.offset, r.timestamp, r.key, value, r.headers)
        change.where = (r.partition, r.offset, env(r)["event_id"])
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["payload_edited"]
    f = report.errors[0]
    assert (f.partition, f.offset, f.event_id, f.stream) == (*change.where, "T003:2025")


def test_dropped_event_is_event_dropped(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean
    dropped = {}

    def change(records: list[Record]) -> list[Record]:
        idx = events_of(records, "T004:2025", "approval")
        dropped["next"] = env(records[idx[2]])["event_id"]
        del records[idx[1]]
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["event_dropped"]
    f = report.errors[0]
    assert f.event_id == dropped["next"] and f.stream == "T004:2025" and "sequence 2 missing" in f.message


def test_dropped_tail_is_tail_dropped(clean, tmp_path: Path) -> None:
    """The newest events of a stream, last in their partition: no chain can see it, the
    checkpoint can."""
    archive, keys, _ = clean
    info = {}

    def change(records: list[Record]) -> list[Record]:
        last = [i for i, r in enumerate(records) if r.topic == topics.APPROVAL_EVENTS]
        part = records[last[0]].partition
        in_part = [i for i in last if records[i].partition == part]
        stream = env(records[in_part[-1]])["stream_id"]
        info.update(stream=stream, partition=part, size=len(in_part))
        del records[in_part[-1]]
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    # the first divergence; an event that named the removed one as its cause may follow
    assert codes(report)[0] == "tail_dropped"
    assert set(codes(report)) <= {"tail_dropped", "unresolved_causation"}
    f = report.errors[0]
    assert f.partition == info["partition"] and f.offset == info["size"] - 1


def test_swapped_events_are_reordered(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean
    info = {}

    def change(records: list[Record]) -> list[Record]:
        idx = events_of(records, "T005:2025", "approval")
        records[idx[1]], records[idx[2]] = records[idx[2]], records[idx[1]]
        info["early"] = env(records[idx[1]])["event_id"]
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["reordered"]
    assert report.errors[0].event_id == info["early"]


def test_duplicated_event_is_duplicate_event_id(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean

    def change(records: list[Record]) -> list[Record]:
        i = events_of(records, "T006:2025", "assessment")[1]
        records.insert(i + 1, records[i])
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["duplicate_event_id"]
    assert report.errors[0].stream == "T006:2025"


def test_rewritten_stream_with_recomputed_hashes_is_stream_rewritten(clean, tmp_path: Path) -> None:
    """The whole stream re-chained: only the signed checkpoint can tell, and it locates the
    change between the last matching and the first failing checkpoint."""
    archive, keys, _ = clean
    info = {}

    def change(records: list[Record]) -> list[Record]:
        idx = events_of(records, "T002:2025", "approval")
        prev = None
        for i in idx:
            e = env(records[i])
            if e["event_type"] == "UnitYearRecognized":
                e["payload"]["certificate_no"] = "GCN-FORGED"
            e["prev_hash"] = prev
            e["hash"] = compute_hash(e)
            prev = e["hash"]
            r = records[i]
            records[i] = Record(r.topic, r.partition, r.offset, r.timestamp, r.key, orjson.dumps(e), r.headers)
        info["partition"] = records[idx[0]].partition
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["stream_rewritten"]
    f = report.errors[0]
    assert f.partition == info["partition"] and f.topic == topics.APPROVAL_EVENTS
    assert f.extra["first_failing_checkpoint"] == 1 and f.extra["last_matching_checkpoint"] is None


def test_checkpoint_forged_with_another_key(clean, tmp_path: Path) -> None:
    archive, keys, _b = clean
    other = Ed25519PrivateKey.generate()

    def change(records: list[Record]) -> list[Record]:
        i = [k for k, r in enumerate(records) if r.topic == topics.CHECKPOINTS][-1]
        forged = orjson.loads(records[i].value)
        forged.pop("signature")
        forged["key_id"] = key_id(other.public_key())
        forged["signature"] = base64.b64encode(other.sign(signed_bytes(forged))).decode()
        r = records[i]
        records[i] = Record(r.topic, r.partition, r.offset, r.timestamp, r.key, orjson.dumps(forged), r.headers)
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["checkpoint_untrusted_key"]


def test_checkpoint_with_a_bad_signature(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean

    def change(records: list[Record]) -> list[Record]:
        i = [k for k, r in enumerate(records) if r.topic == topics.CHECKPOINTS][-1]
        cp = orjson.loads(records[i].value)
        cp["issued_at"] = "2030-01-01T00:00:00.000000Z"
        r = records[i]
        records[i] = Record(r.topic, r.partition, r.offset, r.timestamp, r.key, orjson.dumps(cp), r.headers)
        return records

    assert codes(verify_archive(tampered(archive, tmp_path, change), keys_of(keys))) == ["checkpoint_bad_signature"]


def test_deleted_checkpoint_is_checkpoint_missing(clean, tmp_path: Path) -> None:
    archive, keys, _ = clean

    def change(records: list[Record]) -> list[Record]:
        cps = [k for k, r in enumerate(records) if r.topic == topics.CHECKPOINTS]
        first_approval = next(k for k in cps if orjson.loads(records[k].value)["producer"] == "approval")
        del records[first_approval]
        return records

    report = verify_archive(tampered(archive, tmp_path, change), keys_of(keys))
    assert codes(report) == ["checkpoint_missing"]
    assert report.errors[0].producer == "approval"


# --------------------------------------------------------------------------- the services' rules


def build_one(tmp_path: Path, fn: Callable[[HistoryBuilder], None]) -> tuple[Path, PublicKeys]:
    b = HistoryBuilder(partitions=2)
    fn(b)
    b.checkpoint_all()
    path = tmp_path / "h.jsonl.gz"
    b.write(path)
    return path, PublicKeys({p: [k.public_key()] for p, k in b.keys.items()})


def test_illegal_transition(tmp_path: Path) -> None:
    def fn(b: HistoryBuilder) -> None:
        uy = b.lifecycle("A001")
        # a second recognition after the first: recognized -> recognized is not a transition
        b.emit(
            "approval",
            "UnitYearRecognized",
            {
                "unit_year_id": uy,
                "level": "commune",
                "deciding_body": "Chủ tịch UBND xã",
                "decided_by": "x",
                "decision_no": "2/QĐ",
                "state": "recognized",
            },
            stream=uy,
            unit_year_id=uy,
            cause=None,
            correlation="c",
        )

    path, keys = build_one(tmp_path, fn)
    report = verify_archive(path, keys)
    assert codes(report) == ["illegal_transition"]
    assert "not allowed in state recognized" in report.errors[0].message


def test_state_mismatch(tmp_path: Path) -> None:
    def fn(b: HistoryBuilder) -> None:
        uy = b.lifecycle("A002", decide=False)
        b.emit(
            "approval",
            "VerdictChanged",
            {"unit_year_id": uy, "verdict": "met", "reason": "r", "state": "recognized"},
            stream=uy,
            unit_year_id=uy,
            cause=None,
            correlation="c",
        )

    path, keys = build_one(tmp_path, fn)
    report = verify_archive(path, keys)
    assert codes(report) == ["state_mismatch"]
    assert "commune_reviewed" in report.errors[0].message


def test_recognition_at_the_wrong_level(tmp_path: Path) -> None:
    path, keys = build_one(tmp_path, lambda b: b.lifecycle("A003", level="province"))
    report = verify_archive(path, keys)
    assert codes(report) == ["recognition_without_authority"]
    assert "ends at commune" in report.errors[0].message


def test_recognition_by_the_wrong_body(tmp_path: Path) -> None:
    path, keys = build_one(tmp_path, lambda b: b.lifecycle("A004", body="Chủ tịch UBND tỉnh"))
    assert codes(verify_archive(path, keys)) == ["recognition_without_authority"]


def test_recognition_by_an_actor_without_authority(tmp_path: Path) -> None:
    outsider = {"id": "cb-xa-khac", "role": "commune_chairman", "jurisdiction": "commune:C999"}
    path, keys = build_one(tmp_path, lambda b: b.lifecycle("A005", actor=outsider))
    report = verify_archive(path, keys)
    assert codes(report) == ["recognition_without_authority"]
    assert "commune:C999" in report.errors[0].message


def test_recognition_by_an_actor_with_authority(tmp_path: Path) -> None:
    chairman = {"id": "ct-xa", "role": "commune_chairman", "jurisdiction": "commune:C001"}
    path, keys = build_one(tmp_path, lambda b: b.lifecycle("A006", actor=chairman))
    assert verify_archive(path, keys).ok


def test_unresolved_causation_and_http_causes(tmp_path: Path) -> None:
    def fn(b: HistoryBuilder) -> None:
        uy = b.lifecycle("A007", decide=False)
        b.emit(
            "approval",
            "UnitYearRecognized",
            {
                "unit_year_id": uy,
                "level": "commune",
                "deciding_body": "Chủ tịch UBND xã",
                "decided_by": "x",
                "decision_no": "1/QĐ",
                "state": "recognized",
            },
            stream=uy,
            unit_year_id=uy,
            cause="http:5b0e8f0e-8d6d-4c43-9a51-111111111111",
            correlation="c",
        )
        uy2 = b.lifecycle("A008", decide=False)
        b.emit(
            "approval",
            "UnitYearNotRecognized",
            {"unit_year_id": uy2, "level": "commune", "reasons": ["r"], "decided_by": "x", "state": "not_recognized"},
            stream=uy2,
            unit_year_id=uy2,
            cause="00000000-0000-4000-8000-000000000000",
            correlation="c",
        )

    path, keys = build_one(tmp_path, fn)
    report = verify_archive(path, keys)
    assert codes(report) == ["unresolved_causation"]
    assert report.errors[0].stream == "A008:2025"
    assert report.stats["http_causes"] == 1


def test_schema_invalid(tmp_path: Path) -> None:
    def fn(b: HistoryBuilder) -> None:
        uy = b.lifecycle("A009", decide=False)
        b.emit(
            "approval",
            "UnitYearReturned",
            {"unit_year_id": uy, "level": "nowhere", "reasons": ["r"], "decided_by": "x", "state": "returned"},
            stream=uy,
            unit_year_id=uy,
            cause=None,
            correlation="c",
        )

    path, keys = build_one(tmp_path, fn)
    report = verify_archive(path, keys)
    assert codes(report) == ["schema_invalid"]
    assert "payload.level" in report.errors[0].message


# --------------------------------------------------------------------------- the command line


def test_cli_exit_codes_and_json(clean, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive, keys, _ = clean
    assert main(["verify", "--archive", str(archive), "--keys", str(keys)]) == 0
    out = capsys.readouterr().out
    assert "RESULT: OK" in out and "unit-years 12" in out
    assert main(["verify", "--archive", str(archive), "--keys", str(keys), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["summary"]["events"] == 108

    def change(records: list[Record]) -> list[Record]:
        del records[events_of(records, "T001:2025", "assessment")[1]]
        return records

    bad = tampered(archive, tmp_path, change)
    assert main(["verify", "--archive", str(bad), "--keys", str(keys), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["findings"][0]["code"] == "event_dropped"
    assert main(["verify", "--archive", str(tmp_path / "nothing.jsonl.gz")]) == 2
    assert main(["verify", "--no-such-option"]) == 2
    assert main(["verify", "--archive", str(archive), "--keys", str(tmp_path / "no-keys")]) == 2


def test_no_keys_with_checkpoints_is_an_error(clean) -> None:
    archive, _keys, _ = clean
    report = verify_archive(archive, PublicKeys())
    assert codes(report) == ["no_trusted_keys"]


def test_keys_as_json_file(clean, tmp_path: Path) -> None:
    archive, _keys, b = clean
    f = tmp_path / "keys.json"
    f.write_text(json.dumps(b.public_keys()))
    assert verify_archive(archive, PublicKeys.load(f)).ok
    assert load_public_key(b.public_keys()["approval"][0])
    assert SYSTEM["jurisdiction"] == "province:51"
    assert build_checkpoint  # the contract the builder uses


def test_a_cause_recorded_after_its_effect(tmp_path: Path) -> None:
    from datetime import timedelta

    def fn(b: HistoryBuilder) -> None:
        uy = b.lifecycle("A010", decide=False)
        later = b.emit(
            "approval",
            "VerdictChanged",
            {"unit_year_id": uy, "verdict": "met", "reason": "r", "state": "commune_reviewed"},
            stream=uy,
            unit_year_id=uy,
            cause=None,
            correlation="c",
        )
        b.clock -= timedelta(minutes=5)  # the effect claims to be older than its cause
        b.emit(
            "approval",
            "VerdictChanged",
            {"unit_year_id": uy, "verdict": "met", "reason": "r", "state": "commune_reviewed"},
            stream=uy,
            unit_year_id=uy,
            cause=later["event_id"],
            correlation="c",
        )

    path, keys = build_one(tmp_path, fn)
    report = verify_archive(path, keys)
    assert codes(report) == ["unresolved_causation"]
    assert "recorded" in report.errors[0].message and "after it" in report.errors[0].message
