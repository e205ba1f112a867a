"""Replay a kept benchmark's records through one service, without Kafka: the CPU its
consumers and relay spend per lifecycle, in one quiet process.

``bench.lifecycle`` measures the whole system, five processes on two cores, where each cost
is several times what it is alone and the same run varies by a third from one hour to the
next. This tool takes the records a run left on its broker (``bench.lifecycle --keep``),
and feeds those one service consumes to that service's own consumer runtime
(``BatchProcessor``: claims, unit of work, handlers, commit) on a fresh database, in the order
they were written, in batches; its relay publishes every committed outbox row to a producer
that acknowledges at once (offsets counted per partition), so that the relay's read, the
Merkle trees and the deletes are counted as well. Only the Kafka client's own work is left
out. The CPU is the process's (``time.process_time``), over the consumers and the relay.

    .venv/bin/python -m bench.lifecycle --n 2000 --no-peer --keep   # prints the folder it kept
    .venv/bin/python -m bench.replay /tmp/antt-bench-XXXX assessment --rounds 3
    .venv/bin/python -m bench.replay /tmp/antt-bench-XXXX approval --profile /tmp/approval.pstats

The first use of a folder starts a broker on its ``kafka`` folder once, reads the project
topics and keeps them as ``replay-records.pickle`` beside it. ``--profile`` runs cProfile in
both threads that do the work (the event loop and the writer thread), timed by each thread's
own CPU clock so that waiting is left out, and writes their merged statistics; the CPU figures of a profiled round are not comparable with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import os
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contracts import topics
from shared.contracts.services import BY_NAME
from shared.infra.serve import load

#: the topics whose records a lifecycle reads and writes
TOPICS = (topics.INBOUND, topics.REGISTRATION_EVENTS, topics.ASSESSMENT_EVENTS, topics.APPROVAL_EVENTS)
RECORDS_FILE = "replay-records.pickle"


@dataclass(slots=True)
class Record:
    """A consumer record as aiokafka hands it to the runtime (the attributes it reads)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def load_records(folder: Path) -> list[Record]:
    """The kept run's records of :data:`TOPICS`, in the order they were written (timestamp,
    then topic, partition and offset); read from the broker once, then from the pickle."""
    cached = folder / RECORDS_FILE
    if cached.exists():
        with cached.open("rb") as f:
            return [Record(*t) for t in pickle.load(f)]
    from deploy.localkafka import LocalKafka
    from shared.infra.kafka import read_to_end

    kafka = LocalKafka(folder / "kafka")
    kafka.start()
    try:
        raw = asyncio.run(read_to_end(kafka.bootstrap, list(TOPICS)))
    finally:
        kafka.stop()
    records = [Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())) for r in raw]
    records.sort(key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
    with cached.open("wb") as f:  # plain tuples: the file does not depend on where Record lives
        pickle.dump([(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers) for r in records], f)
    return records


class _Acknowledged:
    """What the producer's future resolves to: the record's partition and offset."""

    __slots__ = ("offset", "partition")

    def __init__(self, partition: int, offset: int) -> None:
        self.partition, self.offset = partition, offset


class InstantProducer:
    """A producer that acknowledges every record at once, with the next offset of the
    partition that the relays' partitioner (Kafka's default placement) picks for its key."""

    def __init__(self, partitions: int = 6) -> None:
        from shared.infra.kafka import key_partitioner

        self._partitioner = key_partitioner
        self._partitions = list(range(partitions))
        self.next_offset: Counter[tuple[str, int]] = Counter()
        self.sent = 0

    async def send(self, topic: str, *, value: bytes, key: bytes | None, headers: Any) -> asyncio.Future[_Acknowledged]:
        partition = self._partitioner(key, self._partitions, self._partitions) if key is not None else 0
        offset = self.next_offset[(topic, partition)]
        self.next_offset[(topic, partition)] += 1
        self.sent += 1
        fut: asyncio.Future[_Acknowledged] = asyncio.get_running_loop().create_future()
        fut.set_result(_Acknowledged(partition, offset))
        return fut


async def replay_once(service: str, records: list[Record], *, batch: int, profile: Path | None) -> dict[str, Any]:
    """One pass of ``records`` through a fresh ``service``: CPU seconds, by part, and counts."""
    from shared.infra.migrate import upgrade_head_async

    with tempfile.TemporaryDirectory(prefix=f"antt-replay-{service}-") as tmp:
        work = Path(tmp)
        descriptor = BY_NAME[service]
        app = importlib.import_module(descriptor.app_module)
        settings = load(descriptor.settings)(
            database_url=f"sqlite+aiosqlite:///{work / (service + '.db')}", keys_dir=work / "keys", log_json=True
        )
        await upgrade_head_async(app.MIGRATIONS, settings.db_url())
        rt = app.create_runtime(settings)
        relay = rt.relay
        producer = InstantProducer()
        relay._producer = producer
        relay._needs_reconcile = False
        consumed = set(descriptor.consumes)
        mine = [r for r in records if r.topic in consumed]
        profilers: list[cProfile.Profile] = []
        if profile is not None:
            loop_profiler = cProfile.Profile(time.thread_time)
            profilers.append(loop_profiler)

            def _enable() -> None:
                p = cProfile.Profile(time.thread_time)
                profilers.append(p)
                p.enable()

            await rt.writer.run(_enable)
            loop_profiler.enable()
        cpu: dict[str, float] = defaultdict(float)
        batches = 0
        try:
            for start in range(0, len(mine), batch):
                window = mine[start : start + batch]
                by_topic: dict[str, list[Record]] = {}
                for r in window:
                    by_topic.setdefault(r.topic, []).append(r)
                for topic, group in by_topic.items():
                    t0 = time.process_time()
                    await rt.processors[topic].process(group)
                    cpu[f"consume {topic}"] += time.process_time() - t0
                    batches += 1
                t0 = time.process_time()
                while await relay._publish_once():
                    pass
                cpu["relay"] += time.process_time() - t0
            t0 = time.process_time()
            swept = await rt.parking.sweep()
            while await relay._publish_once():
                pass
            cpu["parking sweep and relay"] += time.process_time() - t0
        finally:
            if profile is not None:
                profilers[0].disable()
                await rt.writer.run(lambda: profilers[1].disable())
            await rt.writer.close()
            await rt.engine.dispose()
            rt.sync_engine.dispose()
            rt.http_engine.dispose()
            if relay._read_engine is not None:
                relay._read_engine.dispose()
        if profile is not None:
            stats = pstats.Stats(profilers[0])
            for p in profilers[1:]:
                stats.add(p)
            stats.dump_stats(str(profile))
        outcomes: Counter[str] = Counter()
        dead: Counter[str] = Counter()
        for proc in rt.processors.values():
            outcomes.update({k: v for k, v in proc.stats.items() if v})
            dead.update(proc.dead_letters)
        return {
            "cpu_s": dict(cpu),
            "cpu_total_s": sum(cpu.values()),
            "records": len(mine),
            "batches": batches,
            "published": producer.sent,
            "outcomes": dict(outcomes),
            "dead_letters": dict(dead),
            "swept": swept,
        }


def lifecycles(records: list[Record]) -> int:
    """How many unit-years the kept run recognised (the lifecycles it replays)."""
    return sum(1 for r in records if dict(r.headers).get("event_type") == b"UnitYearRecognized")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a folder kept by bench.lifecycle --keep")
    ap.add_argument("service", choices=sorted(BY_NAME))
    ap.add_argument("--rounds", type=int, default=3, help="passes on fresh databases (default 3)")
    ap.add_argument("--batch", type=int, default=200, help="records per window, split by topic (default 200)")
    ap.add_argument("--profile", type=Path, help="cProfile one pass; write the merged statistics here")
    args = ap.parse_args(argv)

    from shared.infra.logging import configure_logging

    # the services log a JSON line of every transition to stderr: the same work, to nowhere
    real_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 - held for the life of the process
    configure_logging(args.service, json=True)
    sys.stderr = real_stderr

    records = load_records(args.folder)
    # as ``shared.infra.serve`` does: the service's modules imported, then everything alive
    # frozen out of the cyclic collector's reach (here the records too, which are this tool's)
    importlib.import_module(BY_NAME[args.service].app_module)
    gc.collect()
    gc.freeze()
    n = lifecycles(records)
    if not n:
        print(f"no UnitYearRecognized in {args.folder}: nothing to replay", file=sys.stdout)
        return 1
    rounds = 1 if args.profile else args.rounds
    totals = []
    for i in range(rounds):
        res = asyncio.run(replay_once(args.service, records, batch=args.batch, profile=args.profile))
        totals.append(res["cpu_total_s"])
        parts = ", ".join(f"{k} {1000 * v / n:.3f}" for k, v in sorted(res["cpu_s"].items()))
        print(
            f"round {i + 1}: {args.service} {1000 * res['cpu_total_s'] / n:.3f} ms CPU per lifecycle ({parts}); "
            f"{res['records']} records in {res['batches']} batches, {res['published']} published, "
            f"outcomes {res['outcomes']}, dead letters {res['dead_letters'] or 'none'}, swept {res['swept']}",
            flush=True,
        )
    if rounds > 1:
        per = [1000 * t / n for t in totals]
        print(f"{args.service}: median {statistics.median(per):.3f} ms CPU per lifecycle over {rounds} rounds (N = {n})")
    if args.profile:
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
