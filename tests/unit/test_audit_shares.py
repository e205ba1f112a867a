"""``verify`` in worker processes, each checking a share of the partitions, finds exactly what
the verification of all records in one process finds: on a clean history, on every tampering of
the tamper tests, and on the tamperings whose checks span shares (a stream or an event_id in two
partitions), where the shares are not independent and the partitions are checked again in one."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.sources import Record, read_archive, write_archive
from audit.synthetic import HistoryBuilder, write_keys
from audit.verify import Verifier, split, verify_archive
from shared.contracts import topics
from shared.contracts.checkpoint import PublicKeys, key_id, signed_bytes
from shared.contracts.envelope import compute_hash

Change = Callable[[list[Record]], list[Record]]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PublicKeys]:
    b = HistoryBuilder(partitions=3)
    for i in range(16):
        b.lifecycle(f"S{i:03d}")
        if i == 7:
            b.checkpoint_all()
    b.checkpoint_all()
    b.lifecycle("S999")  # after the last checkpoint: a note
    folder = tmp_path_factory.mktemp("shares")
    archive = folder / "history.jsonl.gz"
    b.write(archive)
    write_keys(folder / "keys", b.public_keys())
    return archive, PublicKeys.load(folder / "keys")


def env(r: Record) -> dict:
    return orjson.loads(r.value)


def with_value(r: Record, value: bytes, *, partition: int | None = None) -> Record:
    return Record(r.topic, r.partition if partition is None else partition, r.offset, r.timestamp, r.key, value, r.headers)


def events_of(records: list[Record], stream: str, producer: str) -> list[int]:
    return [i for i, r in enumerate(records) if r.topic == f"antt.{producer}.events.v1" and env(r)["stream_id"] == stream]


def flip_byte(records: list[Record]) -> list[Record]:
    i = events_of(records, "S003:2025", "approval")[-1]
    r = records[i]
    pos = r.value.index("Chủ tịch".encode()) + 1
    records[i] = with_value(r, r.value[:pos] + b"X" + r.value[pos + 1 :])
    return records


def drop_event(records: list[Record]) -> list[Record]:
    del records[events_of(records, "S004:2025", "approval")[1]]
    return records


def drop_tail(records: list[Record]) -> list[Record]:
    approval = [i for i, r in enumerate(records) if r.topic == topics.APPROVAL_EVENTS]
    part = records[approval[0]].partition
    del records[[i for i in approval if records[i].partition == part][-1]]
    return records


def swap(records: list[Record]) -> list[Record]:
    idx = events_of(records, "S005:2025", "approval")
    records[idx[1]], records[idx[2]] = records[idx[2]], records[idx[1]]
    return records


def duplicate(records: list[Record]) -> list[Record]:
    i = events_of(records, "S006:2025", "assessment")[1]
    records.insert(i + 1, records[i])
    return records


def rewrite_stream(records: list[Record]) -> list[Record]:
    prev = None
    for i in events_of(records, "S002:2025", "approval"):
        e = env(records[i])
        if e["event_type"] == "UnitYearRecognized":
            e["payload"]["certificate_no"] = "GCN-FORGED"
        e["prev_hash"] = prev
        e["hash"] = prev = compute_hash(e)
        records[i] = with_value(records[i], orjson.dumps(e))
    return records


def forge_checkpoint(records: list[Record]) -> list[Record]:
    other = Ed25519PrivateKey.generate()
    i = [k for k, r in enumerate(records) if r.topic == topics.CHECKPOINTS][-1]
    forged = orjson.loads(records[i].value)
    forged.pop("signature")
    forged["key_id"] = key_id(other.public_key())
    forged["signature"] = base64.b64encode(other.sign(signed_bytes(forged))).decode()
    records[i] = with_value(records[i], orjson.dumps(forged))
    return records


def move_to_another_partition(records: list[Record]) -> list[Record]:
    """One event of a stream moved to another partition of its topic: the stream is then in
    two partitions, maybe of two shares."""
    i = events_of(records, "S008:2025", "approval")[2]
    r = records.pop(i)
    moved = with_value(r, r.value, partition=(r.partition + 1) % 3)
    last = max(k for k, x in enumerate(records) if x.topic == r.topic and x.partition == moved.partition)
    records.insert(last + 1, moved)
    return records


def copy_to_every_partition(records: list[Record]) -> list[Record]:
    """One event copied to the end of every other partition of its topic: its event_id is in
    two shares whatever the split."""
    r = records[events_of(records, "S009:2025", "registration")[0]]
    for p in {0, 1, 2} - {r.partition}:
        last = max(k for k, x in enumerate(records) if x.topic == r.topic and x.partition == p)
        records.insert(last + 1, with_value(r, r.value, partition=p))
    return records


def inbound_id_as_event_id(records: list[Record]) -> list[Record]:
    """An inbound message that carries the event_id of an event."""
    eid = env(records[events_of(records, "S010:2025", "assessment")[0]])["event_id"]
    i = next(k for k, r in enumerate(records) if r.topic == topics.INBOUND)
    msg = orjson.loads(records[i].value)
    msg["event_id"] = eid
    records[i] = with_value(records[i], orjson.dumps(msg))
    return records


def tampered(archive: Path, tmp_path: Path, change: Change | None) -> Path:
    """As in test_audit_verify: change the records, renumber each partition's offsets."""
    if change is None:
        return archive
    _manifest, records = read_archive(archive)
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


def findings(report) -> list[tuple]:
    return sorted(
        (
            f.code,
            f.severity,
            f.topic,
            f.partition,
            f.offset,
            f.event_id,
            f.stream,
            f.producer,
            f.message,
            orjson.dumps(f.extra, option=orjson.OPT_SORT_KEYS),
        )
        for f in report.findings
    )


def summary(report) -> dict:
    return {k: v for k, v in report.stats.items() if k not in ("seconds", "events_per_second")}


@pytest.mark.parametrize(
    "change",
    [
        None,
        flip_byte,
        drop_event,
        drop_tail,
        swap,
        duplicate,
        rewrite_stream,
        forge_checkpoint,
        move_to_another_partition,
        copy_to_every_partition,
        inbound_id_as_event_id,
    ],
    ids=lambda c: "clean" if c is None else c.__name__,
)
@pytest.mark.parametrize("jobs", [2, 3])
def test_shares_find_what_one_process_finds(clean, tmp_path: Path, change: Change | None, jobs: int) -> None:
    archive, keys = clean
    path = tampered(archive, tmp_path, change)
    one = verify_archive(path, keys)
    shared = verify_archive(path, keys, jobs=jobs)
    assert findings(shared) == findings(one)
    assert summary(shared) == summary(one)
    assert shared.layout.to_json() == one.layout.to_json()
    assert one.ok == (change is None)


def test_split_balances_the_work() -> None:
    sizes = {("antt.approval.events.v1", p): 1000 + p for p in range(6)}
    sizes |= {("antt.inbound.v1", p): 2000 for p in range(6)}
    groups = split(sizes, 2)
    assert sorted(k for g in groups for k in g) == sorted(sizes)
    work = [sum(sizes[k] * (4 if "events" in k[0] else 1) for k in g) for g in groups]
    assert max(work) - min(work) <= 1005
    # the same partition number of every topic in one share (a unit-year's events are keyed alike)
    assert all(len({p for _t, p in g} & {p for _t, p in h}) == 0 for g in groups for h in groups if g is not h)
    # unless that leaves the shares unequal: then partition by partition
    uneven = {
        ("antt.approval.events.v1", 0): 5000,
        ("antt.approval.events.v1", 1): 100,
        ("antt.assessment.events.v1", 0): 100,
        ("antt.assessment.events.v1", 1): 4000,
    }
    assert split(uneven, 2) == [
        [("antt.approval.events.v1", 0)],
        [("antt.assessment.events.v1", 1), ("antt.approval.events.v1", 1), ("antt.assessment.events.v1", 0)],
    ]
    assert split(sizes, 0) == [sorted(sizes, key=lambda k: (-sizes[k] * (4 if "events" in k[0] else 1), k))]
    assert split({}, 2) == []


def test_shares_that_are_not_independent_are_refused() -> None:
    def share(ids: dict, streams: list, inbound: list) -> dict:
        v = Verifier(PublicKeys())
        v.ids, v.streams, v.inbound = ids, dict.fromkeys(streams), set(inbound)
        return v.share([])

    a = share({"e1": ("t", 0, 0, None)}, [("s1", "approval")], ["i1"])
    assert Verifier(PublicKeys()).absorb(
        [a, share({"e2": ("t", 1, 0, None)}, [("s2", "approval")], ["i2"])], layout=read_layout()
    )
    assert not Verifier(PublicKeys()).absorb([a, share({"e1": ("t", 1, 0, None)}, [], [])], layout=read_layout())
    assert not Verifier(PublicKeys()).absorb([a, share({}, [("s1", "approval")], [])], layout=read_layout())
    assert not Verifier(PublicKeys()).absorb([a, share({}, [], ["e1"])], layout=read_layout())


def read_layout():
    from audit.sources import Layout

    return Layout()


def test_the_replay_tree_has_the_roots_of_the_contracts_compact_range() -> None:
    import pickle

    from audit.verify import _Tree
    from shared.contracts.checkpoint import EMPTY_ROOT, CompactRange, leaf_hash, mth

    tree, reference = _Tree(), CompactRange()
    leaves = []
    assert tree.root() == EMPTY_ROOT == reference.root()
    for i in range(300):
        leaf = leaf_hash(f"record {i}".encode())
        leaves.append(leaf)
        tree.append(leaf)
        reference.append(leaf)
        assert tree.size == reference.size == i + 1
        assert tree.root() == reference.root()
        if i in (0, 1, 2, 6, 7, 63, 64, 200):
            assert tree.root() == mth(leaves)
    copy = pickle.loads(pickle.dumps(tree))
    assert (copy.size, copy.root()) == (tree.size, tree.root())


def test_a_worker_that_dies_is_a_clear_error(clean, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a traceback: the command's error for a history it could not read (exit status 2)."""
    import os

    import audit.verify as verify
    from audit.sources import SourceError

    def die(*_args: object, **_kw: object) -> None:
        os._exit(9)

    monkeypatch.setattr(verify, "_archive_share", die)
    archive, keys = clean
    with pytest.raises(SourceError, match="worker process"):
        verify_archive(archive, keys, jobs=2)


def test_bare_records_carry_the_offsets_and_values_of_consumer_records() -> None:
    """A worker's consumer hands over aiokafka's parsed records instead of ConsumerRecords
    (audit.sources.use_bare_records); run in a child process, where the change stays."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        normal, bare, in_effect = pool.apply(_records_both_ways)
    assert in_effect
    assert bare == normal and [o for o, _v in normal] == list(range(5, 55))


def _records_both_ways() -> tuple[list, list, bool]:
    from aiokafka.consumer import fetcher
    from aiokafka.record.default_records import DefaultRecordBatchBuilder
    from aiokafka.record.memory_records import MemoryRecords
    from aiokafka.structs import TopicPartition

    from audit.sources import use_bare_records

    def raw() -> bytes:
        out = b""
        for base in (0, 30):  # two batches, the first read from offset 5
            b = DefaultRecordBatchBuilder(
                magic=2,
                compression_type=0,
                is_transactional=0,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                batch_size=1 << 20,
            )
            for i in range(base, base + (30 if base == 0 else 25)):
                b.append(i - base, timestamp=None, key=b"k", value=f"v{i}".encode(), headers=[("h", b"x")])
            batch = bytes(b.build())
            out += base.to_bytes(8, "big") + batch[8:]  # the base offset the broker would write
        return out

    def read() -> list:
        tp = TopicPartition("t", 0)
        recs = fetcher.PartitionRecords(tp, MemoryRecords(raw()), [], 5, None, None, False, 0)
        return [(r.offset, r.value) for r in recs]

    normal = read()
    in_effect = use_bare_records()
    return normal, read(), in_effect
