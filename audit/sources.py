"""Where the history is read from: the topics of a running cluster, or an exported archive.

Both give the same thing: for each partition of each topic, its records in offset order, with
their exact value bytes, key, headers and timestamp, plus the partition's first and end offset
(so that records deleted from the head of a partition are noticed). The checkpoint topic is
always read first and to its end, *then* the end offsets of the other topics are taken: every
checkpoint read can only cover records that are also read.

Archive format (``export``; one gzip file of JSON Lines):

- line 1, the manifest: ``{"format": "antt-audit-archive/1", "manifest": {...}}`` with the
  tool version, the creation time, the source, per topic and partition ``start``/``end``
  offsets and the ``count`` of records, and the latest checkpoint of each producer;
- then one line per record: ``{"topic", "partition", "offset", "timestamp", "timestamp_type",
  "key", "value", "headers"}``; ``key`` and ``value`` are base64 of the exact bytes (or
  ``null``), ``headers`` a list of ``[name, base64 value]``. The checkpoint topic comes first.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from audit import __version__
from shared.contracts import topics

ARCHIVE_FORMAT = "antt-audit-archive/1"

#: everything an export holds: checkpoints first, then the event topics, inbound and the DLQs
ARCHIVE_TOPICS = (
    topics.CHECKPOINTS,
    *topics.EVENT_TOPICS,
    topics.INBOUND,
    *(topics.dlq(t) for t in topics.ALL_TOPICS),
)


class SourceError(Exception):
    """The history cannot be read at all (no broker, unreadable archive): exit status 2."""


@dataclass(slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_type: int = 0


@dataclass
class PartitionInfo:
    start: int = 0
    end: int = 0
    #: records actually read (an archive may disagree with its manifest)
    count: int = 0


@dataclass
class Layout:
    """Topic -> partition -> offsets, as the source describes itself."""

    partitions: dict[str, dict[int, PartitionInfo]] = field(default_factory=dict)

    def info(self, topic: str, partition: int) -> PartitionInfo:
        return self.partitions.setdefault(topic, {}).setdefault(partition, PartitionInfo())

    def to_json(self) -> dict[str, Any]:
        return {
            t: {str(p): {"start": i.start, "end": i.end, "count": i.count} for p, i in sorted(parts.items())}
            for t, parts in sorted(self.partitions.items())
        }


# --------------------------------------------------------------------------- Kafka


class KafkaSource:
    """Reads topics from offset 0 to their current end, without a consumer group."""

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 15000) -> None:
        self.bootstrap = bootstrap
        self.request_timeout_ms = request_timeout_ms
        self.layout = Layout()

    def describe(self) -> str:
        return f"kafka://{self.bootstrap}"

    def consumer_settings(self) -> dict[str, Any]:
        return {
            "auto_offset_reset": "earliest",
            "fetch_max_bytes": 8 * 1024 * 1024,
            "max_partition_fetch_bytes": 1024 * 1024,
            "request_timeout_ms": self.request_timeout_ms,
            "check_crcs": False,
            "fetch_max_wait_ms": 100,
        }

    async def plan(self, topic_names: Iterable[str], consumer: Any = None) -> list[tuple[str, int, int, int]]:
        """``(topic, partition, start, end)`` of every non-empty partition, the offsets as now;
        the layout records every partition (topics that do not exist are left out)."""
        own = consumer is None
        if own:
            consumer = await self._consumer()
        try:
            from aiokafka import TopicPartition

            # fresh cluster metadata: a consumer without a subscription knows no partitions
            metadata = await consumer._client.fetch_all_metadata()
            parts = [TopicPartition(t, p) for t in topic_names for p in sorted(metadata.partitions_for_topic(t) or ())]
            if not parts:
                return []
            # assigned, the partitions' leaders are known before the offsets are asked (else
            # each request waits for a metadata refresh: most of a second)
            consumer.assign(parts)
            begins = await consumer.beginning_offsets(parts)
            ends = await consumer.end_offsets(parts)
        finally:
            if own:
                await consumer.stop()
        out = []
        for tp in parts:
            info = self.layout.info(tp.topic, tp.partition)
            info.start, info.end = begins[tp], ends[tp]
            if ends[tp] > begins[tp]:
                out.append((tp.topic, tp.partition, begins[tp], ends[tp]))
        return out

    async def _consumer(self) -> Any:
        """A consumer without a group. Fetches are kept moderate (8 MiB, 1 MiB a partition): the
        first records then arrive at once and the next fetch overlaps the work on them, where
        one huge fetch would leave the verifier idle while it is transferred."""
        from aiokafka import AIOKafkaConsumer
        from aiokafka.errors import KafkaConnectionError

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None, **self.consumer_settings()
        )
        try:
            await asyncio.wait_for(consumer.start(), self.request_timeout_ms / 1000)
        except (KafkaConnectionError, TimeoutError, OSError) as exc:
            await consumer.stop()
            raise SourceError(f"cannot reach the Kafka cluster at {self.bootstrap}: {exc}") from None
        return consumer

    async def batches(self, topic_names: Iterable[str]) -> AsyncIterator[tuple[str, int, list[Any]]]:
        """``(topic, partition, records)`` in offset order per partition, to the end offsets
        taken when reading starts. Topics that do not exist are skipped (and left out of the
        layout). Records are aiokafka's ``ConsumerRecord``."""
        consumer = await self._consumer()
        try:
            ranges = await self.plan(topic_names, consumer)
            async for batch in self._read(consumer, ranges):
                yield batch
        finally:
            await consumer.stop()

    async def read(self, ranges: Iterable[tuple[str, int, int, int]]) -> AsyncIterator[tuple[str, int, list[Any]]]:
        """Like :meth:`batches`, for ``(topic, partition, start, end)`` ranges planned before
        (by :meth:`plan`, maybe in another process): ``verify``'s workers each read their share
        of the partitions to the ends the main process took."""
        ranges = [r for r in ranges if r[3] > r[2]]
        if not ranges:
            return
        consumer = await self._consumer()
        try:
            async for batch in self._read(consumer, ranges):
                yield batch
        finally:
            await consumer.stop()

    async def _read(self, consumer: Any, ranges: list[tuple[str, int, int, int]]) -> AsyncIterator[tuple[str, int, list[Any]]]:
        from aiokafka import TopicPartition

        if not ranges:
            return
        remaining: dict[Any, int] = {}
        for topic, partition, _start, end in ranges:
            remaining[TopicPartition(topic, partition)] = end
            self.layout.info(topic, partition)
        consumer.assign(list(remaining))
        for topic, partition, start, _end in ranges:
            consumer.seek(TopicPartition(topic, partition), start)
        idle = 0
        while remaining and idle < 10:
            batch = await consumer.getmany(*remaining.keys(), timeout_ms=1000, max_records=20000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                end_or_none = remaining.get(tp)
                if end_or_none is None:
                    continue
                end = end_or_none
                if records and records[-1].offset >= end:
                    records = [r for r in records if r.offset < end]
                if records:
                    self.layout.info(tp.topic, tp.partition).count += len(records)
                    yield tp.topic, tp.partition, records
                    if records[-1].offset + 1 >= end:
                        remaining.pop(tp, None)
        if remaining:
            missing = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in remaining)
            raise SourceError(f"reading stalled before the end of {missing}")


#: the aiokafka release whose record iteration :func:`use_bare_records` knows
_BARE_RECORDS_FOR = "0.14.0"


def use_bare_records() -> bool:
    """In this process, let aiokafka's consumers hand over the records its parser makes (with
    ``offset``, ``timestamp``, ``key``, ``value``, ``headers``) instead of wrapping each in a
    ``ConsumerRecord``, whose building and header copy are half of the client's time per
    record. Only ``verify``'s worker processes call this, for their own consumer; they use
    ``offset`` and ``value`` alone. Done for the aiokafka release it was written for (pinned in
    requirements.txt); with any other the records stay as they are. True when in effect."""
    import aiokafka
    from aiokafka.consumer import fetcher

    base = getattr(fetcher, "PartitionRecords", None)
    if getattr(base, "bare", False):
        return True
    if aiokafka.__version__ != _BARE_RECORDS_FOR or base is None or not callable(getattr(base, "_consumer_record", None)):
        return False

    class BarePartitionRecords(base):  # type: ignore[misc,valid-type]
        bare = True

        def _consumer_record(self, tp: Any, record: Any) -> Any:
            return record

    fetcher.PartitionRecords = BarePartitionRecords
    return True


def kafka_record(rec: Any) -> Record:
    return Record(
        rec.topic,
        rec.partition,
        rec.offset,
        rec.timestamp,
        rec.key,
        rec.value,
        tuple((k, bytes(v)) for k, v in (rec.headers or ())),
        rec.timestamp_type,
    )


# --------------------------------------------------------------------------- archives

_b64 = base64.b64encode
_unb64 = base64.b64decode


def record_line(rec: Record) -> bytes:
    return (
        orjson.dumps(
            {
                "topic": rec.topic,
                "partition": rec.partition,
                "offset": rec.offset,
                "timestamp": rec.timestamp,
                "timestamp_type": rec.timestamp_type,
                "key": None if rec.key is None else _b64(rec.key).decode("ascii"),
                "value": None if rec.value is None else _b64(rec.value).decode("ascii"),
                "headers": [[k, _b64(v or b"").decode("ascii")] for k, v in rec.headers],
            }
        )
        + b"\n"
    )


def parse_line(line: bytes) -> Record:
    d = orjson.loads(line)
    k, v = d.get("key"), d.get("value")
    return Record(
        d["topic"],
        int(d["partition"]),
        int(d["offset"]),
        d.get("timestamp"),
        None if k is None else _unb64(k),
        None if v is None else _unb64(v),
        tuple((h[0], _unb64(h[1])) for h in d.get("headers") or ()),
        int(d.get("timestamp_type") or 0),
    )


#: the topic and partition at the start of a line written by :func:`record_line`
_HEAD = re.compile(rb'\{"topic":"([^"\\]*)","partition":([0-9]+),').match


class ArchiveSource:
    """Reads an export made by ``python -m audit export``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.layout = Layout()
        try:
            with gzip.open(self.path, "rb") as f:
                head = orjson.loads(f.readline())
        except (OSError, EOFError, orjson.JSONDecodeError) as exc:
            raise SourceError(f"{self.path}: not a readable archive ({exc})") from None
        if not isinstance(head, dict) or head.get("format") != ARCHIVE_FORMAT:
            raise SourceError(f"{self.path}: not an {ARCHIVE_FORMAT} archive (its first line is no manifest)")
        self.manifest: dict[str, Any] = head.get("manifest") or {}
        for t, parts in (self.manifest.get("topics") or {}).items():
            for p, info in parts.items():
                i = self.layout.info(t, int(p))
                i.start, i.end = int(info.get("start", 0)), int(info.get("end", 0))
        self._declared = {
            (t, int(p)): int(info.get("count", 0))
            for t, parts in (self.manifest.get("topics") or {}).items()
            for p, info in parts.items()
        }

    def describe(self) -> str:
        return str(self.path)

    def declared_count(self, topic: str, partition: int) -> int | None:
        return self._declared.get((topic, partition))

    def records(self, topic_names: Iterable[str], *, keep: Callable[[str, int], bool] | None = None) -> Iterator[Record]:
        """The records of ``topic_names`` in file order (offset order per partition); the
        checkpoint topic's records first, whatever their place in the file. ``keep(topic,
        partition)``: only the partitions it accepts (a line written by ``export`` is then
        skipped without decoding it)."""
        wanted = set(topic_names)
        first = [t for t in (topics.CHECKPOINTS,) if t in wanted]
        rest = wanted - set(first)
        prefixes = {t: b'{"topic":' + orjson.dumps(t) + b"," for t in wanted}
        for group in (first, sorted(rest)):
            if not group:
                continue
            pref = tuple(prefixes[t] for t in group)
            try:
                with gzip.open(self.path, "rb") as f:
                    f.readline()
                    for line in f:
                        if line.startswith(pref):
                            if keep is not None:
                                # the prefix names the partition unless a key is repeated
                                # later in the line (the last one counts in JSON)
                                m = _HEAD(line)
                                if (
                                    m is not None
                                    and not keep(m[1].decode(), int(m[2]))
                                    and line.count(b'"topic"') == 1
                                    and line.count(b'"partition"') == 1
                                ):
                                    continue
                            rec = parse_line(line)
                            if keep is not None and not keep(rec.topic, rec.partition):
                                continue
                            self.layout.info(rec.topic, rec.partition).count += 1
                            yield rec
                        elif not line.startswith(b'{"topic":') and line.strip():
                            rec = parse_line(line)  # an equivalent line written by another tool
                            if rec.topic in group and (keep is None or keep(rec.topic, rec.partition)):
                                self.layout.info(rec.topic, rec.partition).count += 1
                                yield rec
            except (OSError, EOFError) as exc:
                raise SourceError(f"{self.path}: cannot be read to the end ({exc})") from None


async def _checkpoints_first(source: KafkaSource) -> AsyncIterator[tuple[str, int, list[Any]]]:
    """The checkpoint topic to its end, then the other topics to the ends taken after it."""
    async for batch in source.batches(ARCHIVE_TOPICS[:1]):
        yield batch
    async for batch in source.batches(ARCHIVE_TOPICS[1:]):
        yield batch


async def export(source: KafkaSource, out: Path, *, latest_checkpoints: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write every record of :data:`ARCHIVE_TOPICS` to ``out``; return the manifest.

    Records go first to a temporary gzip member; the manifest, known only once everything was
    read, is then written as the first member of ``out`` and the records' member appended
    as it is (a gzip file may hold several members; readers see one stream). So the records are
    compressed once and the manifest is still the first line.
    """
    from audit.verify import checkpoint_summary

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".audit-export-", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    checkpoints: dict[str, Any] = {}
    total = 0
    try:
        with gzip.open(tmp, "wb", compresslevel=6) as body:
            async for topic, _p, records in _checkpoints_first(source):
                lines = []
                for r in records:
                    rec = kafka_record(r)
                    lines.append(record_line(rec))
                    if topic == topics.CHECKPOINTS and rec.value is not None:
                        try:
                            cp = orjson.loads(rec.value)
                            if isinstance(cp, dict) and isinstance(cp.get("producer"), str):
                                checkpoints[cp["producer"]] = cp
                        except orjson.JSONDecodeError:
                            pass
                body.write(b"".join(lines))
                total += len(lines)
        manifest = {
            "tool": f"python -m audit {__version__}",
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": source.describe(),
            "records": total,
            "topics": source.layout.to_json(),
            "latest_checkpoints": {p: checkpoint_summary(cp) for p, cp in sorted(checkpoints.items())},
        }
        with open(out, "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb") as head:
                head.write(orjson.dumps({"format": ARCHIVE_FORMAT, "manifest": manifest}) + b"\n")
            with open(tmp, "rb") as body_f:
                shutil.copyfileobj(body_f, f, 1024 * 1024)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def write_archive(out: Path, records: Iterable[Record], *, source: str = "synthetic") -> dict[str, Any]:
    """An archive of ``records`` (in the order given), with its manifest: for tests, tools
    that build or rewrite a history, and the benchmark."""
    from audit.verify import checkpoint_summary

    recs = list(records)
    recs.sort(key=lambda r: 0 if r.topic == topics.CHECKPOINTS else 1)
    layout = Layout()
    checkpoints: dict[str, Any] = {}
    for r in recs:
        info = layout.info(r.topic, r.partition)
        if info.count == 0:
            info.start = r.offset
        info.count += 1
        info.end = r.offset + 1
        if r.topic == topics.CHECKPOINTS and r.value:
            try:
                cp = orjson.loads(r.value)
                if isinstance(cp, dict) and isinstance(cp.get("producer"), str):
                    checkpoints[cp["producer"]] = cp
            except orjson.JSONDecodeError:
                pass
    manifest = {
        "tool": f"python -m audit {__version__}",
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": source,
        "records": len(recs),
        "topics": layout.to_json(),
        "latest_checkpoints": {p: checkpoint_summary(cp) for p, cp in sorted(checkpoints.items())},
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(orjson.dumps({"format": ARCHIVE_FORMAT, "manifest": manifest}) + b"\n")
        for r in recs:
            f.write(record_line(r))
    return manifest


def read_archive(path: Path) -> tuple[dict[str, Any], list[Record]]:
    """The manifest and every record of an archive (for tests and tools that rewrite one)."""
    src = ArchiveSource(path)
    return src.manifest, list(src.records(ARCHIVE_TOPICS + tuple(src.layout.partitions)))
