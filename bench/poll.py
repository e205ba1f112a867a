"""How long a record waits before an idle batch consumer hands it to its handler.

``python -m bench.poll [--records 150] [--gap-ms 130] [--rounds 2] [--out docs/benchmarks.md]``

faststream's batch subscriber sleeps ``batch_timeout_ms`` after a poll that found nothing;
``shared.infra.consumer.long_poll`` makes it wait in the poll instead. This benchmark starts a
fresh single-node Apache Kafka (``deploy.localkafka``), then, in alternating rounds, one stock
batch subscriber and one with ``long_poll`` (the services' settings: ``batch_timeout_ms`` 100,
``fetch_min_bytes`` 1, ``fetch_max_wait_ms`` 500, manual acknowledgement), each fed by an
idempotent ``acks=all`` producer sending one 1 KB record every ``--gap-ms`` (default 130 ms:
longer than the poll's timeout, so the consumer is idle between records, as each of the
services' consumers is for stretches at low load). The lag of a record is the
time from its ``CreateTime`` to the handler's call. Results: ``bench/results/<timestamp>-poll.json``
and a section appended to ``--out`` (``''``: none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from bench.verify import machine_info
from deploy.localkafka import LocalKafka
from shared.infra.consumer import long_poll

ROOT = Path(__file__).resolve().parent.parent


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


async def one_round(bootstrap: str, topic: str, *, patched: bool, records: int, gap_s: float) -> list[float]:
    """The lags (ms) of ``records`` records sent ``gap_s`` apart to a fresh consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
    finally:
        await admin.close()
    broker = KafkaBroker(bootstrap, log_level=30)
    lags: list[float] = []

    async def raw(msg: Any, _original: Any) -> Any:
        return msg.body

    subscriber = broker.subscriber(
        topic,
        group_id=f"{topic}-group",
        batch=True,
        max_records=500,
        batch_timeout_ms=100,
        fetch_min_bytes=1,
        fetch_max_wait_ms=500,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw,
    )

    async def handle(body: Any) -> None:  # the message from the context, as shared.infra.consumer.subscribe does
        message: KafkaMessage = broker.context.get_local("message")
        now_ms = time.time() * 1000
        lags.extend(now_ms - rec.timestamp for rec in message.raw_message)

    subscriber(handle)
    if patched:
        long_poll(subscriber)
    await broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", key=b"w")
        deadline = time.monotonic() + 30
        while not lags and time.monotonic() < deadline:  # the group has its partitions
            await asyncio.sleep(0.1)
        lags.clear()
        for i in range(records):
            await (await producer.send(topic, b"x" * 1000, key=str(i).encode()))
            await asyncio.sleep(gap_s)
        deadline = time.monotonic() + 10
        while len(lags) < records and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
        await broker.stop()
    if len(lags) != records:
        raise SystemExit(f"{len(lags)} of {records} records reached the handler")
    return lags


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.poll", description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=150, help="records per round (default 150)")
    ap.add_argument("--gap-ms", type=float, default=130.0, help="pause between records (default 130 ms)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each variant, alternated (default 2)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown report to append to")
    args = ap.parse_args(argv)
    started = datetime.now(UTC)
    machine = machine_info()
    results: dict[str, list[float]] = {"faststream's batch subscriber": [], "with long_poll": []}
    with tempfile.TemporaryDirectory(prefix="antt-poll-") as tmp:
        kafka = LocalKafka(Path(tmp))
        kafka.start()
        try:
            for r in range(args.rounds):
                for patched in (False, True):
                    name = "with long_poll" if patched else "faststream's batch subscriber"
                    lags = asyncio.run(
                        one_round(
                            kafka.bootstrap,
                            f"poll-{r}-{int(patched)}",
                            patched=patched,
                            records=args.records,
                            gap_s=args.gap_ms / 1000,
                        )
                    )
                    results[name].extend(lags)
                    print(f"round {r + 1} {name}: p50 {quantile(lags, 0.5):.1f} ms, p99 {quantile(lags, 0.99):.1f} ms")
        finally:
            kafka.stop()
    summary = {
        name: {q: round(quantile(v, p), 1) for q, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))}
        for name, v in results.items()
    }
    command = "python -m bench.poll " + " ".join(argv if argv is not None else sys.argv[1:])
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out_json = ROOT / "bench" / "results" / f"{stamp}-poll.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(
        json.dumps({"command": command.strip(), "machine": machine, "args": vars(args), "lags_ms": summary}, indent=2)
    )
    lines = [
        "",
        f"## Poll run {started:%Y-%m-%d %H:%M:%S} UTC — an idle batch consumer's wait, with and without `long_poll`",
        "",
        f"- Command: `{command.strip()}`",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['ram_gib']} GiB RAM, Linux {machine['kernel']}; "
        f"load average before the run {' / '.join(machine['loadavg_at_start'])}",
        f"- Software: Python {machine['python']}, Apache Kafka {machine['kafka']}, aiokafka {machine['aiokafka']}",
        f"- {args.rounds} alternated rounds of {args.records} records each, one every {args.gap_ms:g} ms",
        "",
        "| consumer | lag p50 | p90 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(f"| {name} | {s['p50']} ms | {s['p90']} ms | {s['p99']} ms | {s['max']} ms |" for name, s in summary.items()),
        "",
    ]
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
    print("\n".join(lines))
    print(f"raw numbers in {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
