"""The raw aiokafka baseline: the ceiling the broker and the Python Kafka client alone allow.

M JSON messages of about 1 KB are produced with an idempotent ``acks=all`` producer to a
fresh 6-partition topic while a consumer group reads them and commits after every batch:
what every record of the lifecycle costs at the least (a produce, a fetch, a commit), with no
database, no envelope and no service. It runs on the benchmark's own broker before the
services start, so nothing competes with it. Dividing it by the Kafka records one lifecycle
writes gives the lifecycles/s that Kafka would allow on this machine; the report gives the
project's (and the peer's) figure as a fraction of it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.lifecycle.population import YEAR
from bench.lifecycle.profiling import ProcCpu
from deploy.localkafka import create_topics


async def raw_baseline(bootstrap: str, m: int, *, window: int, size: int = 1024) -> dict[str, Any]:
    """Produce M ~1 KB JSON messages (idempotent, acks=all) to a fresh 6-partition topic while a
    consumer group reads them and commits after every batch."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, {topic: 6})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=32 << 20,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=1 << 18
    )
    await consumer.start()
    await producer.start()
    try:
        # join the group before the clock starts
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=100)
        template: dict[str, Any] = {
            "event_id": "",
            "event_type": "BenchmarkRecord",
            "schema_version": 1,
            "unit_year_id": "",
            "sequence": 0,
            "payload": {"pad": ""},
        }
        base = len(json.dumps(template).encode()) + 36 + 20 + 8
        pad = "x" * max(0, size - base)
        slots = asyncio.Semaphore(window)
        produced = {"acked": 0, "errors": 0, "bytes": 0}
        t_acked_all = asyncio.get_running_loop().create_future()

        def _done(fut: asyncio.Future[Any]) -> None:
            slots.release()
            produced["acked"] += 1
            if fut.cancelled() or fut.exception() is not None:
                produced["errors"] += 1
            if produced["acked"] == m and not t_acked_all.done():
                t_acked_all.set_result(time.monotonic())

        async def produce() -> None:
            for i in range(m):
                await slots.acquire()
                uy = f"RAW-{i % 20000:06d}:{YEAR}"
                template["event_id"] = str(uuid.uuid4())
                template["unit_year_id"] = uy
                template["sequence"] = i
                template["payload"]["pad"] = pad
                raw = json.dumps(template).encode()
                produced["bytes"] += len(raw)
                fut = await producer.send(topic, raw, key=uy.encode())
                fut.add_done_callback(_done)
            await producer.flush()

        consumed = 0
        commits = 0

        async def consume() -> float:
            nonlocal consumed, commits
            while consumed < m:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                if not batch:
                    continue
                for records in batch.values():
                    for rec in records:
                        json.loads(rec.value)
                        consumed += 1
                await consumer.commit()
                commits += 1
            return time.monotonic()

        cpu0 = ProcCpu.snapshot_self()
        t0 = time.monotonic()
        consumer_task = asyncio.create_task(consume())
        await produce()
        t_produced = await t_acked_all
        t_consumed = await asyncio.wait_for(consumer_task, 300)
        cpu1 = ProcCpu.snapshot_self()
    finally:
        await producer.stop()
        await consumer.stop()
    e2e = t_consumed - t0
    return {
        "topic": topic,
        "partitions": 6,
        "messages": m,
        "avg_message_bytes": round(produced["bytes"] / m, 1),
        "produce_errors": produced["errors"],
        "commits": commits,
        "produce_s": round(t_produced - t0, 3),
        "end_to_end_s": round(e2e, 3),
        "produce_msgs_per_s": round(m / (t_produced - t0), 1),
        "msgs_per_s": round(m / e2e, 1),
        "client_cpu_s": round(cpu1 - cpu0, 2),
    }
