"""``verify``: prove the history whole and unaltered, or name the first point where it is not.

What is checked, and where:

- per record (:mod:`audit.digest`, in worker processes): the JSON Schema of the event's type,
  the recomputed hash, the RFC 6962 leaf of the record;
- across records (:class:`Verifier`, here): ``event_id`` unique across all topics; per stream
  and producer ``sequence`` 1..n and ``prev_hash`` chaining; every ``causation_id`` resolving
  to an inbound message or an earlier event (``http:<uuid>`` is an HTTP request of the
  envelope's actor: counted and accepted); each stream replayed through the lifecycle table
  ``lifecycle_for(producer, stream_id)`` gives it (``shared.contracts.lifecycle``: a unit-year's
  ANTT stream, or its exemplary track's ``exemplary:<unit_year_id>``), with the ``state`` an
  event states equal to the replayed state, and an event of the other track's table on a stream
  named ``wrong_track``; each recognition (``UnitYearRecognized``, ``ExemplaryTitleRecognized``)
  at the last step of the chain its case was opened with, by that step's body, by an actor whose
  jurisdiction allows it (``shared.contracts.jurisdiction``);
- across the two tracks of a unit-year, which the approval service writes to one partition (both
  keyed by the unit_year_id), so that a worker checks them in its share: an exemplary title is
  recognised only while the unit-year's ANTT recognition is in force, an ``antt_revoked``
  revocation of the title is caused by the unit-year's ``UnitYearRevoked``, and no title stays
  recognised once its ANTT recognition is revoked;
- signed checkpoints: signature by a trusted key, sequence 1..n and ``prev_checkpoint``
  chaining per producer, and for every partition the Merkle root of the records 0..size-1,
  computed in one pass and compared at each checkpoint's size.

Once a stream shows a chain finding, its later lifecycle findings are not reported: they would
only be consequences of the first divergence.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import marshal
import os
import pickle
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
from pydantic import ValidationError

from audit import digest
from audit.findings import ERROR, NOTE, Finding
from audit.sources import (
    ArchiveSource,
    KafkaSource,
    Layout,
    SourceError,
    use_bare_records,
)
from shared.contracts import topics
from shared.contracts.checkpoint import (
    EMPTY_ROOT,
    Checkpoint,
    PublicKeys,
    checkpoint_hash,
    heads_root,
    verify_signature,
)
from shared.contracts.jurisdiction import may_decide
from shared.contracts.lifecycle import EXEMPLARY_STREAM, Lifecycle, lifecycle_for

#: the event topic of each producer
PRODUCER_TOPIC = {
    "registration": topics.REGISTRATION_EVENTS,
    "assessment": topics.ASSESSMENT_EVENTS,
    "approval": topics.APPROVAL_EVENTS,
}
TOPIC_PRODUCER = {t: p for p, t in PRODUCER_TOPIC.items()}
DLQ_TOPICS = tuple(topics.dlq(t) for t in topics.ALL_TOPICS)
VERIFY_TOPICS = (topics.CHECKPOINTS, *topics.EVENT_TOPICS, topics.INBOUND, *DLQ_TOPICS)

#: seconds a cause may appear to be recorded after its effect (clocks of different hosts)
CLOCK_SKEW = 1.0


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


#: findings of one kind kept in full; beyond that they are counted
MAX_PER_CODE = 1000
#: records per batch handed to a worker
BATCH = 2000

(
    F_PROBLEM,
    F_SCHEMA,
    F_ID,
    F_TYPE,
    F_STREAM,
    F_PRODUCER,
    F_SEQ,
    F_PREV,
    F_HASH,
    F_UY,
    F_CAUSE,
    F_REC_AT,
    F_JUR,
    F_TRIGGER,
    F_STATE,
    F_EXTRA,
    F_LEAF,
) = range(len(digest.EVENT_FIELDS))


def checkpoint_summary(cp: dict[str, Any]) -> dict[str, Any]:
    """What a manifest or a report says about a checkpoint."""
    out = {k: cp.get(k) for k in ("producer", "topic", "sequence", "issued_at", "size", "root", "key_id")}
    try:
        out["hash"] = checkpoint_hash(cp)
    except (TypeError, ValueError):
        out["hash"] = None
    return out


@dataclass(slots=True)
class _Stream:
    last_seq: int = 0
    last_hash: str | None = None
    #: missing sequence -> the provisional event_dropped finding
    gaps: dict[int, Finding] = field(default_factory=dict)
    broken: bool = False
    state: str | None = None
    opened: tuple[Any, ...] | None = None
    #: the stream's lifecycle table, ``(state, trigger) -> dest`` (None: its producer keeps none)
    index: dict[tuple[str, str], str] | None = None
    initial: str | None = None
    #: a stream of the exemplary track (``exemplary:<unit_year_id>``)
    exemplary: bool = False


class _Tree:
    """The right edge of a partition's RFC 6962 tree, as ``CompactRange`` of the contract
    (the same roots, a test holds them together), with the append written out for a replay:
    the peaks are the bits of the size, so a leaf is merged with one peak per trailing one bit
    of the size, without (height, hash) pairs."""

    __slots__ = ("peaks", "size")

    def __init__(self) -> None:
        self.size = 0
        #: hashes of the perfect subtrees, largest first
        self.peaks: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        n, h, peaks = self.size, leaf, self.peaks
        while n & 1:
            h = _sha256(b"\x01" + peaks.pop() + h).digest()
            n >>= 1
        peaks.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        h = self.peaks[-1]
        for left in reversed(self.peaks[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h

    def __getstate__(self) -> tuple[int, list[bytes]]:
        return self.size, self.peaks

    def __setstate__(self, state: tuple[int, list[bytes]]) -> None:
        self.size, self.peaks = state


_sha256 = hashlib.sha256


@dataclass
class _Head:
    size: int
    root: str
    sequence: int
    producer: str


@dataclass
class _Partition:
    topic: str
    partition: int
    heads: list[_Head] = field(default_factory=list)
    tree: _Tree = field(default_factory=_Tree)
    count: int = 0
    next_head: int = 0
    matched: _Head | None = None
    failed: bool = False
    #: the first record after the last matching checkpoint: (offset, event_id, stream)
    after_match: tuple[int, str | None, str | None] | None = None
    #: offsets of chain findings in this partition
    chain_findings: list[Finding] = field(default_factory=list)
    merkle: bool = True


class _Merge:
    """The checks across shares, made as each share comes in (while the other workers go on):
    whether the shares are independent. They are not when an event_id or a stream is in two
    shares, or when an inbound id of one share is an event_id of another (a share resolves
    its causes against its own inbound messages first)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.streams: set[tuple[str, str]] = set()
        self.inbound: set[str] = set()
        self.independent = True

    def add(self, share: dict[str, Any]) -> None:
        if not self.independent:
            return
        eids = share["ids"][0]
        inbound = share["inbound"]
        if (
            not self.ids.isdisjoint(eids)
            or not self.streams.isdisjoint(share["streams"])
            or not self.ids.isdisjoint(inbound)
            or not self.inbound.isdisjoint(eids)
        ):
            self.independent = False
            return
        self.ids.update(eids)
        self.streams.update(share["streams"])
        self.inbound.update(inbound)


@dataclass
class Report:
    source: str
    findings: list[Finding]
    stats: dict[str, Any]
    layout: Layout
    checkpoints: dict[str, dict[str, Any]]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "summary": self.stats,
            "latest_checkpoints": self.checkpoints,
            "topics": self.layout.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


class Verifier:
    """The checks that span records. Feed checkpoints first, then the other topics' records
    (any interleaving of partitions, offset order within each), then call :meth:`finish`."""

    def __init__(self, keys: PublicKeys, *, require_checkpoints: bool = False) -> None:
        self.keys = keys
        self.require_checkpoints = require_checkpoints
        self.findings: list[Finding] = []
        self._per_code: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        #: event_id -> (topic, partition, offset, recorded_at)
        self.ids: dict[str, tuple[str, int, int, str | None]] = {}
        self.inbound: set[str] = set()
        self.pending_causes: list[tuple[str, tuple[Any, ...], str | None]] = []
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.parts: dict[tuple[str, int], _Partition] = {}
        #: id of a lifecycle table -> its index (built once per table, looked up once per stream)
        self._indexes: dict[int, dict[tuple[str, str], str]] = {}
        # the two tracks of a unit-year, as the approval service writes them in one partition
        # (both keyed by the unit_year_id): (topic, partition, unit_year_id) -> its ANTT stream
        self.antt_cases: dict[tuple[str, int, str], _Stream] = {}
        #: (topic, partition, event_id of a UnitYearRevoked) -> its unit-year
        self.antt_revocations: dict[tuple[str, int, str], str] = {}
        #: (topic, partition, unit_year_id) -> where the ANTT recognition was revoked
        self.revoked_at: dict[tuple[str, int, str], tuple[Any, ...]] = {}
        #: (topic, partition, unit_year_id) -> an exemplary title stream recognised on a valid ANTT recognition
        self.titles: dict[tuple[str, int, str], _Stream] = {}
        self.exemplary_recognitions = 0
        self.unit_years: set[str] = set()
        self.events = 0
        self.inbound_records = 0
        self.dlq_records = 0
        self.http_causes = 0
        self.no_cause = 0
        self.recognitions = 0
        # checkpoints
        self.cp_last: dict[str, dict[str, Any]] = {}
        self.cp_seen = 0
        self.cp_verified = 0
        self._untrusted_without_keys = 0
        self.started = time.perf_counter()

    # ------------------------------------------------------------------ findings
    def add(self, f: Finding) -> Finding:
        self._per_code[f.code] += 1
        if self._per_code[f.code] <= MAX_PER_CODE:
            self.findings.append(f)
        else:
            self._dropped[f.code] += 1
        return f

    # ------------------------------------------------------------------ checkpoints
    def feed_checkpoint(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        self.cp_seen += 1
        where: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset}
        try:
            data = orjson.loads(value or b"")
            cp = Checkpoint.model_validate(data)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            self.add(Finding("checkpoint_invalid", f"not a checkpoint: {str(exc).splitlines()[0]}", **where))
            return
        producer = cp.producer
        where["producer"] = producer
        where["extra"] = {"checkpoint_sequence": cp.sequence}
        if not self.keys:
            self._untrusted_without_keys += 1
            return
        problem = verify_signature(data, self.keys)
        if problem is not None:
            code = "checkpoint_untrusted_key" if self.keys.get(producer, cp.key_id) is None else "checkpoint_bad_signature"
            self.add(Finding(code, f"checkpoint #{cp.sequence} of {producer}: {problem}", **where))
            return
        heads = [h.model_dump() for h in cp.partitions]
        if heads_root(heads) != cp.root or sum(h["size"] for h in heads) != cp.size:
            self.add(
                Finding(
                    "checkpoint_invalid",
                    f"checkpoint #{cp.sequence} of {producer}: its root or size does not match its partition heads",
                    **where,
                )
            )
            return
        if PRODUCER_TOPIC.get(producer) not in (None, cp.topic):
            self.add(
                Finding(
                    "checkpoint_invalid",
                    f"checkpoint #{cp.sequence} of {producer} covers {cp.topic}, not {PRODUCER_TOPIC[producer]}",
                    **where,
                )
            )
            return
        self.cp_verified += 1
        last = self.cp_last.get(producer)
        expected = 1 if last is None else last["sequence"] + 1
        if cp.sequence > expected:
            missing = f"#{expected}" if cp.sequence == expected + 1 else f"#{expected}..#{cp.sequence - 1}"
            self.add(
                Finding(
                    "checkpoint_missing",
                    f"checkpoints {missing} of {producer} are missing before #{cp.sequence}: deleted from the topic",
                    **where,
                )
            )
        elif cp.sequence < expected:
            self.add(
                Finding("checkpoint_invalid", f"checkpoint #{cp.sequence} of {producer} comes after #{expected - 1}", **where)
            )
            return
        elif last is not None and cp.prev_checkpoint != checkpoint_hash(last):
            self.add(
                Finding(
                    "checkpoint_chain_broken",
                    f"checkpoint #{cp.sequence} of {producer} does not name #{last['sequence']} as its predecessor",
                    **where,
                )
            )
        elif last is None and cp.prev_checkpoint is not None:
            self.add(Finding("checkpoint_chain_broken", f"checkpoint #1 of {producer} names a predecessor", **where))
        self.cp_last[producer] = data
        for h in cp.partitions:
            self._part(cp.topic, h.partition).heads.append(_Head(h.size, h.root, cp.sequence, producer))

    def _part(self, topic: str, partition: int) -> _Partition:
        key = (topic, partition)
        p = self.parts.get(key)
        if p is None:
            p = self.parts[key] = _Partition(topic, partition)
        return p

    def start_partitions(self) -> None:
        """Called once the checkpoints are read: order each partition's heads by size."""
        for p in self.parts.values():
            p.heads.sort(key=lambda h: (h.size, h.sequence))

    def _first_record(self, part: _Partition, offset: int) -> None:
        """The tree's leaf i is the record at offset i: a partition that does not start at 0
        lost its oldest records, and its tree cannot be recomputed."""
        if offset != 0:
            part.merkle = False
            self.add(
                Finding(
                    "records_deleted",
                    f"the partition starts at offset {offset}: records 0..{offset - 1} were deleted",
                    topic=part.topic,
                    partition=part.partition,
                    offset=offset,
                    producer=TOPIC_PRODUCER.get(part.topic),
                )
            )

    def _match_heads(self, part: _Partition) -> None:
        heads = part.heads
        while part.next_head < len(heads) and heads[part.next_head].size == part.count:
            h = heads[part.next_head]
            part.next_head += 1
            if part.failed or not part.merkle:
                continue
            root = part.tree.root().hex() if part.count else EMPTY_ROOT.hex()
            if root == h.root:
                part.matched = h
                part.after_match = None
            else:
                part.failed = True
                self._merkle_failure(part, h)

    def _merkle_failure(self, part: _Partition, h: _Head) -> None:
        lo = part.matched.size if part.matched else 0
        explained = [f for f in part.chain_findings if f.offset is not None and lo <= f.offset < h.size]
        since = (
            f"checkpoint #{part.matched.sequence} matched the first {lo} records"
            if part.matched
            else "no earlier checkpoint matched"
        )
        if explained:
            explained[0].message += f"; the records no longer match {h.producer}'s signed checkpoint #{h.sequence}"
            return
        off, eid, stream = part.after_match or (lo, None, None)
        self.add(
            Finding(
                "stream_rewritten",
                f"records {lo}..{h.size - 1} differ from what {h.producer}'s checkpoint #{h.sequence} signed ({since}); "
                "the hash chains hold, so they were rewritten with recomputed hashes, inserted or removed",
                topic=part.topic,
                partition=part.partition,
                offset=off,
                event_id=eid,
                stream=stream,
                producer=h.producer,
                extra={
                    "first_possible_offset": lo,
                    "last_possible_offset": h.size - 1,
                    "last_matching_checkpoint": part.matched.sequence if part.matched else None,
                    "first_failing_checkpoint": h.sequence,
                },
            )
        )

    # ------------------------------------------------------------------ records
    def feed_inbound(self, ids: Iterable[str | None]) -> None:
        for i in ids:
            self.inbound_records += 1
            if i is not None:
                self.inbound.add(i)

    def feed_events(self, topic: str, partition: int, offsets: list[int], digests: list[tuple[Any, ...]]) -> None:
        part = self._part(topic, partition)
        ids = self.ids
        streams = self.streams
        inbound = self.inbound
        unit_years_add = self.unit_years.add
        pending_add = self.pending_causes.append
        topic_producer = TOPIC_PRODUCER.get(topic)
        add = self.add
        missing_state = digest.MISSING
        wrong_track = digest.WRONG_TRACK
        no_cause = http_causes = 0
        heads = part.heads
        # the size of the next checkpoint head to compare (-1: none)
        next_size = heads[part.next_head].size if part.next_head < len(heads) else -1
        due = False
        self.events += len(offsets)
        for offset, d in zip(offsets, digests, strict=True):
            if due:  # the previous record completed a checkpoint's size: compare once it was checked
                self._match_heads(part)
                next_size = heads[part.next_head].size if part.next_head < len(heads) else -1
                due = False
            (
                problem,
                schema_error,
                eid,
                etype,
                stream,
                producer,
                seq,
                prev_hash,
                hash_,
                uy,
                cause,
                recorded_at,
                _jur,
                trigger,
                stated,
                extra,
                leaf,
            ) = d
            # --- Merkle tree of the partition
            if part.count == 0:
                self._match_heads(part)  # heads of size 0
                next_size = heads[part.next_head].size if part.next_head < len(heads) else -1
                self._first_record(part, offset)
            if part.after_match is None:
                part.after_match = (offset, eid, stream)
            if part.merkle:
                part.tree.append(leaf)
            part.count += 1
            if next_size == part.count:
                due = True
            where = (topic, partition, offset, eid, stream, producer)
            if problem is not None and problem[0] == "not_json":
                f = add(Finding("not_json", problem[1], *where))
                part.chain_findings.append(f)
                continue
            # --- event_id unique across all topics
            if eid is not None:
                first = ids.get(eid)
                if first is not None:
                    f = add(Finding("duplicate_event_id", f"event_id already at {first[0]}[{first[1]}]@{first[2]}", *where))
                    part.chain_findings.append(f)
                    st = streams.get((stream, producer)) if stream and producer else None
                    if st is not None:
                        st.broken = True
                    continue
                ids[eid] = (topic, partition, offset, recorded_at)
            if schema_error is not None and problem is None:
                add(Finding("schema_invalid", schema_error, *where))
            if etype is not None and topic_producer != producer:
                add(Finding("wrong_topic", f"{etype} of producer {producer} on {topic}", *where))
            if stream is None or producer is None or seq is None:
                continue
            if uy:
                unit_years_add(uy)
            # --- the hash chain of (stream, producer)
            key = (stream, producer)
            st = streams.get(key)
            if st is None:
                st = streams[key] = self._new_stream(topic, partition, stream, producer)
            if problem is None and seq == st.last_seq + 1 and prev_hash == st.last_hash:
                st.last_seq, st.last_hash = seq, hash_  # the common case
            else:
                chain_ok = True
                if problem is not None:  # payload_edited
                    f = add(Finding(problem[0], problem[1], *where))
                    part.chain_findings.append(f)
                    st.broken = True
                    chain_ok = False
                if seq == st.last_seq + 1:
                    if chain_ok and prev_hash != st.last_hash:
                        f = add(
                            Finding(
                                "chain_broken", f"sequence {seq}: prev_hash does not name the hash of sequence {seq - 1}", *where
                            )
                        )
                        part.chain_findings.append(f)
                        st.broken = True
                    st.last_seq, st.last_hash = seq, hash_
                elif seq > st.last_seq + 1:
                    missing = range(st.last_seq + 1, seq)
                    label = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]}..{missing[-1]}"
                    f = add(Finding("event_dropped", f"sequence {label} missing before sequence {seq}", *where))
                    part.chain_findings.append(f)
                    for m in missing:
                        st.gaps[m] = f
                    st.broken = True
                    st.last_seq, st.last_hash = seq, hash_
                else:
                    gap = st.gaps.pop(seq, None)
                    if gap is not None:
                        if gap.code == "event_dropped":
                            gap.code = "reordered"
                            gap.message = (
                                f"this event comes before sequence {seq} of its stream, which it "
                                f"should follow (sequence {seq} is at offset {offset})"
                            )
                            self._per_code["event_dropped"] -= 1
                            self._per_code["reordered"] += 1
                        for m, g in list(st.gaps.items()):
                            if g is gap:
                                del st.gaps[m]
                    else:
                        f = add(
                            Finding(
                                "sequence_repeated", f"sequence {seq} again (sequence {st.last_seq} was already read)", *where
                            )
                        )
                        part.chain_findings.append(f)
                    st.broken = True
                    continue
            if st.broken:
                continue
            # --- causation
            if cause is None:
                no_cause += 1
            elif cause.startswith("http:"):
                http_causes += 1
            elif cause == eid:
                add(Finding("unresolved_causation", "the event names itself as its cause", *where))
            elif cause in ids:
                at = ids[cause]
                if at[3] is not None and recorded_at is not None and at[3] > recorded_at:
                    self._cause_earlier(at, recorded_at, cause, where)
            elif cause not in inbound:
                pending_add((cause, where, recorded_at))
            # --- lifecycle: the stream's own table (lifecycle_for), chosen when it was first read
            idx = st.index
            if idx is None:
                if trigger == wrong_track:
                    self._wrong_track(st, etype, where)
                continue
            if trigger is not None:
                if trigger == "":
                    if st.state is not None:
                        add(Finding("illegal_transition", f"{etype} opens a stream already open (state {st.state})", *where))
                        st.broken = True
                        continue
                    st.state = st.initial
                elif st.state is None or (dest := idx.get((st.state, trigger))) is None:
                    if trigger == wrong_track:
                        self._wrong_track(st, etype, where)
                    elif st.state is None:
                        add(Finding("illegal_transition", f"{etype} ({trigger}) before the stream was opened", *where))
                    else:
                        add(Finding("illegal_transition", f"{etype} ({trigger}) is not allowed in state {st.state}", *where))
                    st.broken = True
                    continue
                else:
                    st.state = dest
            if stated is not missing_state and stated != missing_state and st.state is not None and stated != st.state:
                add(Finding("state_mismatch", f"{etype} states {stated!r}, the replayed state is {st.state!r}", *where))
                st.broken = True
                continue
            if extra is not None:  # the openings and decisions the rules below check
                self._decision(st, d, where)
        self.no_cause += no_cause
        self.http_causes += http_causes
        if due:
            self._match_heads(part)

    def _cause_earlier(self, cause_at: tuple[Any, ...], effect_recorded: str | None, cause: str, where: tuple[Any, ...]) -> None:
        """A cause is recorded before its effect (allowing :data:`CLOCK_SKEW` between hosts)."""
        cause_recorded = cause_at[3]
        if not cause_recorded or not effect_recorded or cause_recorded <= effect_recorded:
            return  # the envelopes' RFC 3339 UTC timestamps compare as text
        try:
            late = _moment(cause_recorded) - _moment(effect_recorded)
        except ValueError:
            return
        if late.total_seconds() > CLOCK_SKEW:
            self.add(
                Finding(
                    "unresolved_causation",
                    f"its cause {cause} ({cause_at[0]}[{cause_at[1]}]@{cause_at[2]}) "
                    f"was recorded {late.total_seconds():.3f} s after it",
                    *where,
                )
            )

    def _new_stream(self, topic: str, partition: int, stream: str, producer: str) -> _Stream:
        """A stream read for the first time, with the lifecycle table it replays through:
        :func:`~shared.contracts.lifecycle.lifecycle_for` its producer and id. The approval
        service's ANTT stream of a unit-year is kept by partition, for the rules of the
        exemplary title that rests on it (written to the same partition: same key)."""
        st = _Stream()
        lc: Lifecycle | None = lifecycle_for(producer, stream)
        if lc is not None:
            idx = self._indexes.get(id(lc))
            if idx is None:
                idx = self._indexes[id(lc)] = lc.index()
            st.index, st.initial = idx, lc.initial
        if stream.startswith(EXEMPLARY_STREAM):
            st.exemplary = True
        elif producer == "approval":
            self.antt_cases.setdefault((topic, partition, stream), st)
        return st

    def _wrong_track(self, st: _Stream, etype: str | None, where: tuple[Any, ...]) -> None:
        if st.exemplary:
            what = f"{etype} is an event of the ANTT track, on the exemplary track's stream {where[4]}"
        else:
            what = f"{etype} is an event of the exemplary track (stream {EXEMPLARY_STREAM}<unit_year_id>), on an ANTT stream"
        self.add(Finding("wrong_track", what, *where))

    def _decision(self, st: _Stream, d: tuple[Any, ...], where: tuple[Any, ...]) -> None:
        """The openings and decisions of a case, once the replay accepted them: the chain
        recorded at the opening, each recognition against it, and the exemplary title against
        the unit-year's ANTT recognition it rests on (seed 003, criterion 8)."""
        etype = d[F_TYPE]
        if etype == "ApprovalCaseOpened" or etype == "ExemplaryTitleCaseOpened":
            st.opened = d[F_EXTRA]
        elif etype == "UnitYearRecognized":
            self.recognitions += 1
            self._check_recognition(st, d, where, "ApprovalCaseOpened")
        elif etype == "UnitYearRevoked":
            topic, partition = where[0], where[1]
            uy = where[4]
            if where[3] is not None:
                self.antt_revocations[(topic, partition, where[3])] = uy
            self.revoked_at[(topic, partition, uy)] = where
        elif not st.exemplary:
            return
        elif etype == "ExemplaryTitleRecognized":
            self.exemplary_recognitions += 1
            self._check_recognition(st, d, where, "ExemplaryTitleCaseOpened")
            self._check_title_rests_on_antt(st, where)
        elif etype == "ExemplaryTitleRevoked" and d[F_EXTRA][0] == "antt_revoked":
            self._check_title_revocation(d, where)
        elif etype == "ExemplaryTitleLapsed":
            self._check_title_lapse(where)

    def _antt_of(self, where: tuple[Any, ...]) -> tuple[str, _Stream | None]:
        """The unit-year of an exemplary stream, and its ANTT approval stream in the same partition."""
        uy = str(where[4])[len(EXEMPLARY_STREAM) :]
        return uy, self.antt_cases.get((where[0], where[1], uy))

    def _check_title_rests_on_antt(self, st: _Stream, where: tuple[Any, ...]) -> None:
        uy, antt = self._antt_of(where)
        if antt is None:
            self.add(
                Finding(
                    "exemplary_without_antt",
                    f"the exemplary title is recognised, but no ANTT approval case of unit-year {uy} comes before it "
                    f"in {where[0]}[{where[1]}] (the approval service writes both tracks of a unit-year there)",
                    *where,
                )
            )
        elif antt.broken:
            return  # the ANTT stream's own finding comes first; its state is not known from here on
        elif antt.state != "recognized":
            why = (
                "its ANTT recognition was revoked before it"
                if antt.state == "revoked"
                else f"unit-year {uy} is {antt.state}, not recognised “An toàn về ANTT”"
            )
            self.add(Finding("exemplary_without_antt", f"the exemplary title is recognised, but {why}", *where))
        else:
            self.titles[(where[0], where[1], uy)] = st

    def _check_title_revocation(self, d: tuple[Any, ...], where: tuple[Any, ...]) -> None:
        uy, antt = self._antt_of(where)
        if antt is not None and antt.broken:
            return
        cause = d[F_CAUSE]
        of = self.antt_revocations.get((where[0], where[1], cause)) if cause else None
        if of == uy:
            return
        why = (
            f"its cause {cause} is the revocation of another unit-year ({of})"
            if of is not None
            else f"its cause {cause} is no UnitYearRevoked of unit-year {uy} before it"
        )
        self.add(
            Finding(
                "exemplary_revocation_without_cause",
                f"the exemplary title is revoked because its ANTT recognition was (because_of antt_revoked), but {why}",
                *where,
            )
        )

    def _check_title_lapse(self, where: tuple[Any, ...]) -> None:
        """A proposal lapses only when the ANTT recognition it rests on is gone: revoked while
        the title was under review, or not in force when the title's case was opened. A lapse
        while that recognition stands ends a title no decision refused."""
        uy, antt = self._antt_of(where)
        if antt is None or antt.broken or antt.state != "recognized":
            return  # resting on nothing (exemplary_without_antt's concern) or on a recognition gone
        self.add(
            Finding(
                "exemplary_lapse_without_cause",
                f"the exemplary title lapses, but the recognition “An toàn về ANTT” of unit-year {uy} it rests on "
                "is in force: a proposal lapses only when that recognition is revoked or was never granted",
                *where,
            )
        )

    def _track_ends(self) -> None:
        """At the end of the records: an exemplary title still recognised whose ANTT recognition
        was revoked after it (the revocation takes the title with it, as an explicit event)."""
        for key, title in self.titles.items():
            antt = self.antt_cases.get(key)
            if title.broken or title.state != "recognized" or antt is None or antt.broken or antt.state != "revoked":
                continue
            at = self.revoked_at.get(key)
            if at is None:
                continue
            self.add(
                Finding(
                    "exemplary_outlived_antt",
                    f"the ANTT recognition of {key[2]} is revoked here, but its exemplary title is still recognised: "
                    "no ExemplaryTitleRevoked follows",
                    *at,
                )
            )
        self.titles.clear()

    def _check_recognition(self, st: _Stream, d: tuple[Any, ...], where: tuple[Any, ...], opened_by: str) -> None:
        level, body, decision_no, decided_by = d[F_EXTRA] or (None, None, None, None)
        missing = [
            n
            for n, v in (("deciding body", body), ("decision number", decision_no), ("decider", decided_by))
            if not (v and v.strip())
        ]
        if missing:
            self.add(Finding("recognition_incomplete", f"the recognition does not name its {', '.join(missing)}", *where))
        if st.opened is None:
            self.add(Finding("recognition_without_authority", f"no {opened_by} records the approval chain", *where))
            return
        last_level, last_body, unit = st.opened
        if level != last_level:
            self.add(
                Finding(
                    "recognition_without_authority",
                    f"recognised at level {level}, but the chain recorded when the case was opened ends at {last_level}",
                    *where,
                )
            )
        elif body != last_body:
            self.add(
                Finding(
                    "recognition_without_authority",
                    f"recognised by {body!r}, but the chain's deciding body is {last_body!r}",
                    *where,
                )
            )
        jur = d[F_JUR]
        if level is not None and not may_decide([jur] if jur else [], level, unit):
            self.add(
                Finding(
                    "recognition_without_authority",
                    f"an actor of jurisdiction {jur!r} may not decide at "
                    f"level {level} for unit {unit.get('code')} (province {unit.get('province_code')}, "
                    f"commune {unit.get('commune_code')})",
                    *where,
                )
            )

    def feed_dlq(self, n: int) -> None:
        self.dlq_records += n

    # ------------------------------------------------------------------ shares of the partitions
    def heads(self) -> dict[tuple[str, int], list[tuple[int, str, int, str]]]:
        """The signed heads of each partition, as plain tuples for a worker (:meth:`take_heads`)."""
        return {k: [(h.size, h.root, h.sequence, h.producer) for h in p.heads] for k, p in self.parts.items() if p.heads}

    def take_heads(self, heads: dict[tuple[str, int], list[tuple[int, str, int, str]]]) -> None:
        for (topic, partition), hs in heads.items():
            self._part(topic, partition).heads = [_Head(*h) for h in hs]
        self.start_partitions()

    def share(self, counts: list[tuple[str, int, int]]) -> dict[str, Any]:
        """What a worker that checked a share of the partitions hands back for the checks that
        span shares (:meth:`absorb`): its findings, its partitions' trees and heads, the
        ``event_id`` of every event it read (with their topics, partitions, offsets and
        recording times, as columns: cheaper to send than one tuple per event), the inbound ids, the
        causes it could not resolve itself, and its counts. ``counts``: ``(topic, partition,
        records read)``.

        Causes are resolved here against this share's events and inbound messages; that is the
        answer :meth:`finish` would give as long as no event_id is in two shares and no inbound
        id is also an event_id, which :meth:`absorb` checks."""
        self._track_ends()
        pending = []
        ids, inbound = self.ids, self.inbound
        for cause, where, recorded_at in self.pending_causes:
            at = ids.get(cause)
            if at is not None:
                self._cause_earlier(at, recorded_at, cause, where)
            elif cause not in inbound:
                pending.append((cause, where, recorded_at))
        # columns: event ids, topics, partitions, offsets, recording times
        columns = (list(ids), *zip(*ids.values(), strict=True)) if ids else ([], (), (), (), ())
        return {
            "findings": self.findings,
            "per_code": dict(self._per_code),
            "dropped": dict(self._dropped),
            "parts": {k: p for k, p in self.parts.items() if p.count},
            "counts": counts,
            "ids": columns,
            "inbound": list(inbound),
            "pending": pending,
            "streams": list(self.streams),
            "unit_years": list(self.unit_years),
            "numbers": (
                self.events,
                self.inbound_records,
                self.dlq_records,
                self.http_causes,
                self.no_cause,
                self.recognitions,
                self.exemplary_recognitions,
            ),
        }

    def absorb(self, shares: list[dict[str, Any]], layout: Layout, merge: _Merge | None = None) -> bool:
        """Take the shares of the partitions, checked by workers, as if this verifier had read
        them itself. False (and nothing taken) when the shares are not independent (see
        :class:`_Merge`); the answer then depends on the order of all records, and the caller
        checks the partitions again in one share. ``merge``: the shares' checks, made as they
        came in (else made here).

        From here on :attr:`ids` holds only the events that the shares' unresolved causes name:
        all that :meth:`finish` asks of it."""
        if merge is None:
            merge = _Merge()
            for sh in shares:
                merge.add(sh)
        if not merge.independent:
            return False
        all_ids, streams = merge.ids, merge.streams
        wanted = {cause for sh in shares for cause, _w, _r in sh["pending"]} & all_ids
        ids: dict[str, tuple[str, int, int, str | None]] = {}
        if wanted:
            for sh in shares:
                for e, t, p, o, r in zip(*sh["ids"], strict=True):
                    if e in wanted:
                        ids[e] = (t, p, o, r)
        self.inbound = merge.inbound
        self.ids = ids
        # only counted from here on: the streams' states stayed in the shares
        self.streams = cast(dict[tuple[str, str], _Stream], dict.fromkeys(streams))
        for sh in shares:
            for f in sh["findings"]:
                self._per_code[f.code] += 1
                if self._per_code[f.code] <= MAX_PER_CODE:
                    self.findings.append(f)
                else:
                    self._dropped[f.code] += 1
            for code, n in sh["dropped"].items():
                self._per_code[code] += n
                self._dropped[code] += n
            self.parts.update(sh["parts"])
            for topic, partition, count in sh["counts"]:
                layout.info(topic, partition).count = count
            self.pending_causes.extend(sh["pending"])
            self.unit_years.update(sh["unit_years"])
            events, inbound, dead, http, no_cause, recognitions, exemplary_recognitions = sh["numbers"]
            self.events += events
            self.inbound_records += inbound
            self.dlq_records += dead
            self.http_causes += http
            self.no_cause += no_cause
            self.recognitions += recognitions
            self.exemplary_recognitions += exemplary_recognitions
        return True

    # ------------------------------------------------------------------ the end
    def finish(self, layout: Layout, source: str, archive: ArchiveSource | None = None) -> Report:
        self._track_ends()  # the records read here (none after absorb: the shares did it)
        for topic in topics.EVENT_TOPICS:
            for partition, info in layout.partitions.get(topic, {}).items():
                part = self._part(topic, partition)
                if part.count == 0 and info.start > 0:
                    self._first_record(part, info.start)
        # partitions that exist but had no records still meet heads of size 0
        for part in self.parts.values():
            self._match_heads(part)
            remaining = [h for h in part.heads[part.next_head :] if h.size > part.count]
            if remaining and not part.failed and part.merkle:
                h = remaining[0]
                lo = part.matched.size if part.matched else 0
                explained = [f for f in part.chain_findings if f.offset is not None and f.offset >= lo]
                if explained:
                    first = explained[0]
                    first.message += (
                        f"; the partition has {part.count} records, {h.producer}'s checkpoint #{h.sequence} covers {h.size}"
                    )
                else:
                    self.add(
                        Finding(
                            "tail_dropped",
                            f"the partition has {part.count} records but {h.producer}'s signed checkpoint #{h.sequence} "
                            f"covers {h.size}: records {part.count}..{h.size - 1} were removed",
                            topic=part.topic,
                            partition=part.partition,
                            offset=part.count,
                            producer=h.producer,
                            extra={"records": part.count, "checkpoint_size": h.size, "checkpoint": h.sequence},
                        )
                    )
        # causes named by events read before them (another topic) or never found
        for cause, where, recorded_at in self.pending_causes:
            if cause in self.ids:
                self._cause_earlier(self.ids[cause], recorded_at, cause, where)
            elif cause not in self.inbound:
                self.add(
                    Finding("unresolved_causation", f"causation_id {cause} is neither an inbound message nor an event", *where)
                )
        # notes: what the checkpoints do not cover yet
        for producer, topic in PRODUCER_TOPIC.items():
            parts = [p for (t, _), p in self.parts.items() if t == topic]
            records = sum(p.count for p in parts)
            if producer not in self.cp_last:
                if records:
                    f = Finding(
                        "no_checkpoint",
                        f"{producer} has published no checkpoint; its {records} records are protected by the hash chains only",
                        topic=topic,
                        producer=producer,
                    )
                    if self.require_checkpoints:
                        f.extra["required"] = True
                    self.add(f)
                continue
            for p in parts:
                covered = max((h.size for h in p.heads), default=0)
                if p.count > covered:
                    self.add(
                        Finding(
                            "unprotected_records",
                            f"{p.count - covered} records after {producer}'s last "
                            "checkpoint are not protected by a signature yet",
                            topic=topic,
                            partition=p.partition,
                            offset=covered,
                            producer=producer,
                            extra={"records": p.count - covered},
                        )
                    )
        if self._untrusted_without_keys:
            self.add(
                Finding(
                    "no_trusted_keys",
                    f"{self._untrusted_without_keys} checkpoints on "
                    f"{topics.CHECKPOINTS} could not be verified: no trusted public key was given (--keys)",
                    topic=topics.CHECKPOINTS,
                )
            )
        if archive is not None:
            for t, by_partition in layout.partitions.items():
                for number, info in by_partition.items():
                    declared = archive.declared_count(t, number)
                    if declared is not None and declared != info.count:
                        self.add(
                            Finding(
                                "archive_incomplete",
                                f"the manifest declares {declared} records, the archive holds {info.count}",
                                topic=t,
                                partition=number,
                            )
                        )
        for code, n in self._dropped.items():
            self.findings.append(Finding(code, f"... and {n} more findings of this kind (not listed)"))
        if self.require_checkpoints:
            for f in self.findings:
                if f.code == "no_checkpoint":
                    f.code = "checkpoint_missing"
        self.findings.sort(key=lambda f: 0 if f.severity == ERROR else 1)
        elapsed = time.perf_counter() - self.started
        records = sum(i.count for parts in layout.partitions.values() for i in parts.values())
        stats = {
            "topics": len([t for t, parts in layout.partitions.items() if parts]),
            "partitions": sum(len(parts) for parts in layout.partitions.values()),
            "records": records,
            "events": self.events,
            "inbound_messages": self.inbound_records,
            "dead_letters": self.dlq_records,
            "streams": len(self.streams),
            "unit_years": len(self.unit_years),
            "recognitions": self.recognitions,
            "exemplary_streams": sum(1 for key in self.streams if key[0].startswith(EXEMPLARY_STREAM)),
            "exemplary_recognitions": self.exemplary_recognitions,
            "http_causes": self.http_causes,
            "checkpoints": self.cp_seen,
            "checkpoints_verified": self.cp_verified,
            "errors": sum(1 for f in self.findings if f.severity == ERROR),
            "notes": sum(1 for f in self.findings if f.severity == NOTE),
            "seconds": round(elapsed, 3),
            "events_per_second": round(self.events / elapsed) if elapsed > 0 else None,
        }
        return Report(source, self.findings, stats, layout, {p: checkpoint_summary(cp) for p, cp in sorted(self.cp_last.items())})


# ---------------------------------------------------------------------------- running it
#
# The checks of a record need only the records before it in its partition, except three that
# span partitions: event_id unique, causes resolved, and a stream's chain when a stream is in
# more than one partition (which the services never write). So the partitions are split into
# one share per worker process; each worker reads its partitions itself (its own consumer: no
# record crosses a pipe), checks them with a Verifier of its own, and hands back a summary
# (Verifier.share). The main process only reads the checkpoints, plans the shares and does the
# checks across them (Verifier.absorb). When the shares turn out not to be independent (an
# event_id or a stream in two of them), the partitions are checked again in one share, which
# is exactly the sequential verification.

#: relative cost of a record of an event topic, an inbound message and a dead letter, for
#: splitting the partitions into shares of equal work
_COST = {"events": 4, "inbound": 1, "dlq": 1}


def _kind(topic: str) -> str:
    return "events" if topic in TOPIC_PRODUCER else "inbound" if topic == topics.INBOUND else "dlq"


def _spread(items: dict[Any, int], shares: int) -> tuple[list[list[Any]], list[int]]:
    """Largest first, each to the least loaded group."""
    groups: list[list[Any]] = [[] for _ in range(max(1, shares))]
    load = [0] * len(groups)
    for key, work in sorted(items.items(), key=lambda kv: (-kv[1], kv[0])):
        i = load.index(min(load))
        groups[i].append(key)
        load[i] += work
    return groups, load


def split(sizes: dict[tuple[str, int], int], shares: int) -> list[list[tuple[str, int]]]:
    """The partitions in ``shares`` groups of about equal work; empty groups are left out.

    Partitions of the same number go together when that still gives groups within 10 % of
    each other: the services key a unit-year's events alike on every topic, so an event's
    cause is then mostly in its own share, resolved there instead of sent to the main
    process."""
    work = {k: n * _COST[_kind(k[0])] for k, n in sizes.items()}
    by_number: dict[int, int] = {}
    for (_t, p), w in work.items():
        by_number[p] = by_number.get(p, 0) + w
    numbers, load = _spread(by_number, shares)
    if len([g for g in numbers if g]) == min(len(by_number), max(1, shares)) and max(load) <= 1.1 * min(load):
        return [sorted((k for k in work if k[1] in g), key=lambda k: (-work[k], k)) for g in numbers if g]
    groups, _load = _spread(work, shares)
    return [g for g in groups if g]


def _feed(w: Verifier, topic: str, partition: int, offsets: list[int], values: list[bytes | None]) -> None:
    kind = _kind(topic)
    if kind == "events":
        w.feed_events(topic, partition, offsets, digest.digest_events(values))
    elif kind == "inbound":
        w.feed_inbound(digest.inbound_ids(values))
    else:
        w.feed_dlq(len(values))


async def _kafka_share(
    bootstrap: str, ranges: list[tuple[str, int, int, int]], heads: dict[tuple[str, int], list[Any]]
) -> dict[str, Any]:
    w = Verifier(PublicKeys())
    w.take_heads(heads)
    src = KafkaSource(bootstrap)
    async for topic, partition, records in src.read(ranges):
        for i in range(0, len(records), BATCH):
            chunk = records[i : i + BATCH]
            _feed(w, topic, partition, [r.offset for r in chunk], [r.value for r in chunk])
            await asyncio.sleep(0)  # let the consumer take in the next fetch meanwhile
    counts = [(t, p, i.count) for t, parts in src.layout.partitions.items() for p, i in parts.items()]
    return w.share(counts)


def _archive_share(
    path: str,
    mine: list[tuple[str, int]],
    owner: dict[tuple[str, int], int],
    index: int,
    shares: int,
    heads: dict[tuple[str, int], list[Any]],
) -> dict[str, Any]:
    """The share ``index`` of an archive: the partitions of ``mine``, and of the partitions the
    manifest does not name (``owner`` has them not), those that :func:`_owner` gives it."""
    w = Verifier(PublicKeys())
    w.take_heads(heads)
    src = ArchiveSource(Path(path))
    wanted = set(mine)

    def keep(topic: str, partition: int) -> bool:
        key = (topic, partition)
        return key in wanted or (key not in owner and _owner(key, shares) == index)

    batch: dict[tuple[str, int], tuple[list[int], list[bytes | None]]] = {}
    for rec in src.records(VERIFY_TOPICS[1:], keep=keep):
        key = (rec.topic, rec.partition)
        entry = batch.get(key)
        if entry is None:
            entry = batch[key] = ([], [])
        entry[0].append(rec.offset)
        entry[1].append(rec.value)
        if len(entry[0]) >= BATCH:
            offs, vals = batch.pop(key)
            _feed(w, key[0], key[1], offs, vals)
    for key, (offs, vals) in batch.items():
        _feed(w, key[0], key[1], offs, vals)
    counts = [(t, p, i.count) for t, parts in src.layout.partitions.items() for p, i in parts.items() if i.count]
    return w.share(counts)


def _owner(key: tuple[str, int], shares: int) -> int:
    return zlib.crc32(f"{key[0]}/{key[1]}".encode()) % shares


#: the parts of a share that are plain data (marshalled: several times faster than pickle)
_BULK = ("ids", "inbound", "pending", "streams", "unit_years")


def _share_worker(source: tuple[Any, ...], heads: dict[tuple[str, int], list[Any]]) -> bytes:
    """Run in a worker process: check one share, return it serialised: the plain data
    marshalled, the rest pickled (Finding objects, which the partitions' state refers to:
    pickle keeps them one)."""
    if source[0] == "kafka":
        use_bare_records()  # this process's only consumer is the share's; it needs offset and value
        share = asyncio.run(_kafka_share(source[1], source[2], heads))
    else:
        share = _archive_share(*_archive_args(source), heads=heads)
    bulk = marshal.dumps(tuple(share.pop(k) for k in _BULK))
    return pickle.dumps((bulk, share), protocol=pickle.HIGHEST_PROTOCOL)


def _archive_args(source: tuple[Any, ...]) -> tuple[str, list[tuple[str, int]], dict[tuple[str, int], int], int, int]:
    """The arguments of :func:`_archive_share` in an archive share's source tuple."""
    _kind, path, mine, owner, index, shares = source
    return path, mine, owner, index, shares


def _load_share(data: bytes) -> dict[str, Any]:
    bulk, share = pickle.loads(data)
    share.update(zip(_BULK, marshal.loads(bulk), strict=True))
    return share


class _Pool:
    """Worker processes for the shares (none with ``jobs=0``: everything in this process).
    The cycle collector is off until :meth:`close` (see :func:`audit.digest.init`): the
    verification is over by then."""

    def __init__(self, jobs: int, contracts: Path | None) -> None:
        self.gc_was_enabled = gc.isenabled()
        self.contracts = str(contracts) if contracts else None
        self.pool: ProcessPoolExecutor | None = None
        digest.init(self.contracts)
        if jobs > 0:
            import multiprocessing

            # fork where there is fork: the workers inherit the compiled validators instead of
            # importing and compiling everything again (a second per worker)
            if "fork" in multiprocessing.get_all_start_methods():
                self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
            else:
                self.pool = ProcessPoolExecutor(
                    jobs, mp_context=multiprocessing.get_context("spawn"), initializer=digest.init, initargs=(self.contracts,)
                )

    async def run(
        self, sources: list[tuple[Any, ...]], heads: dict[tuple[str, int], list[Any]], merge: _Merge | None = None
    ) -> list[dict[str, Any]]:
        """The shares of ``sources``, in their order; each is added to ``merge`` as it comes."""
        if self.pool is None:
            out: list[dict[str, Any]] = []
            for source in sources:
                if source[0] == "kafka":
                    out.append(await _kafka_share(source[1], source[2], heads))
                else:
                    out.append(_archive_share(*_archive_args(source), heads=heads))
                if merge is not None:
                    merge.add(out[-1])
            return out
        loop = asyncio.get_running_loop()
        futs = {loop.run_in_executor(self.pool, _share_worker, source, heads): i for i, source in enumerate(sources)}
        out = [{} for _ in futs]
        waiting = set(futs)
        try:
            while waiting:  # each share is read as it comes, while the other workers go on
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    out[futs[fut]] = share = _load_share(fut.result())
                    if merge is not None:
                        merge.add(share)
        except BrokenProcessPool as exc:
            raise SourceError(f"a worker process of verify stopped before the end ({exc}); try again, or with --jobs 0") from None
        finally:
            for fut in futs:  # the other workers' outcome is of no use once one failed
                if not fut.done():
                    fut.cancel()
                elif not fut.cancelled():
                    fut.exception()
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.gc_was_enabled:
            gc.enable()


def verify_archive(
    path: Path, keys: PublicKeys, *, contracts: Path | None = None, jobs: int = 0, require_checkpoints: bool = False
) -> Report:
    """Verify an export offline: in this process (``jobs=0``, the default), or in ``jobs``
    worker processes that each read the archive and check their share of the partitions."""
    if jobs > 0:
        return asyncio.run(
            _verify_archive_shares(path, keys, contracts=contracts, jobs=jobs, require_checkpoints=require_checkpoints)
        )
    src = ArchiveSource(path)
    dig = _Pool(0, contracts)
    v = Verifier(keys, require_checkpoints=require_checkpoints)
    try:
        started = False
        batch: dict[tuple[str, int], tuple[list[int], list[bytes | None]]] = {}

        def flush(key: tuple[str, int]) -> None:
            offs, vals = batch.pop(key)
            _feed(v, key[0], key[1], offs, vals)

        for rec in src.records(VERIFY_TOPICS):
            if rec.topic == topics.CHECKPOINTS:
                v.feed_checkpoint(rec.topic, rec.partition, rec.offset, rec.value)
                continue
            if not started:
                v.start_partitions()
                started = True
            key = (rec.topic, rec.partition)
            entry = batch.get(key)
            if entry is None:
                entry = batch[key] = ([], [])
            entry[0].append(rec.offset)
            entry[1].append(rec.value)
            if len(entry[0]) >= 4000:
                flush(key)
        if not started:
            v.start_partitions()
        for key in list(batch):
            flush(key)
        return v.finish(src.layout, src.describe(), archive=src)
    finally:
        dig.close()


async def _verify_archive_shares(
    path: Path, keys: PublicKeys, *, contracts: Path | None, jobs: int, require_checkpoints: bool
) -> Report:
    src = ArchiveSource(path)
    v = Verifier(keys, require_checkpoints=require_checkpoints)
    pool = _Pool(jobs, contracts)
    try:
        for rec in src.records((topics.CHECKPOINTS,)):
            v.feed_checkpoint(rec.topic, rec.partition, rec.offset, rec.value)
        v.start_partitions()
        sizes = {
            (t, p): src.declared_count(t, p) or max(i.end - i.start, 0)
            for t, parts in src.layout.partitions.items()
            if t != topics.CHECKPOINTS
            for p, i in parts.items()
        }
        groups = split(sizes, jobs)
        owner = {key: i for i, g in enumerate(groups) for key in g}
        n = max(len(groups), 1)
        heads = v.heads()
        sources = [("archive", str(path), groups[i] if i < len(groups) else [], owner, i, n) for i in range(n)]
        shares = await pool.run(sources, heads)
        if not v.absorb(shares, src.layout):
            shares = await pool.run([("archive", str(path), list(owner), owner, 0, 1)], heads)
            v.absorb(shares, src.layout)
        return v.finish(src.layout, src.describe(), archive=src)
    finally:
        pool.close()


async def verify_kafka(
    bootstrap: str, keys: PublicKeys, *, contracts: Path | None = None, jobs: int | None = None, require_checkpoints: bool = False
) -> Report:
    """Read the checkpoint topic, then plan the other topics to their current end and check
    them in ``jobs`` worker processes (default: one per core), each reading its share of the
    partitions itself; ``jobs=0`` reads and checks everything in this process."""
    if jobs is None:
        jobs = os.cpu_count() or 1
    src = KafkaSource(bootstrap)
    v = Verifier(keys, require_checkpoints=require_checkpoints)
    pool = _Pool(jobs, contracts)
    try:
        async for topic, partition, records in src.batches((topics.CHECKPOINTS,)):
            for r in records:
                v.feed_checkpoint(topic, partition, r.offset, r.value)
        v.start_partitions()
        ranges = await src.plan(VERIFY_TOPICS[1:])
        by_key = {(t, p): (t, p, start, end) for t, p, start, end in ranges}
        groups = split({k: r[3] - r[2] for k, r in by_key.items()}, jobs)
        heads = v.heads()
        sources = [("kafka", bootstrap, [by_key[k] for k in g]) for g in groups]
        merge = _Merge()
        shares = await pool.run(sources, heads, merge)
        if not v.absorb(shares, src.layout, merge):
            shares = await pool.run([("kafka", bootstrap, ranges)], heads)
            v.absorb(shares, src.layout)
        return v.finish(src.layout, src.describe())
    finally:
        pool.close()


def load_keys(path: Path | None) -> PublicKeys:
    """The trusted keys: ``path``, else ``var/keys`` when it exists, else none."""
    if path is None:
        default = Path("var/keys")
        if not default.exists():
            return PublicKeys()
        path = default
    try:
        return PublicKeys.load(Path(path))
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot load the trusted keys from {path}: {exc}") from None
