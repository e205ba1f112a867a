"""Small Kafka helpers on top of aiokafka."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def topic_partitions(consumer: AIOKafkaConsumer, topics: list[str] | tuple[str, ...]) -> list[TopicPartition]:
    """All partitions of ``topics`` from fresh cluster metadata (the consumer need not subscribe)."""
    metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call returns it
    parts: list[TopicPartition] = []
    for topic in topics:
        for p in sorted(metadata.partitions_for_topic(topic) or ()):
            parts.append(TopicPartition(topic, p))
    return parts


async def read_to_end(bootstrap: str, topics: list[str] | tuple[str, ...], *, depth: int | None = None) -> list[Any]:
    """The records of ``topics`` up to their current end, in partition order: all of them, or
    only the last ``depth`` of each partition. Reads without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[Any] = []
    try:
        parts = await topic_partitions(consumer, topics)
        if not parts:
            return out
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        begins = await consumer.beginning_offsets(parts)
        remaining: dict[TopicPartition, int] = {}
        for tp in parts:
            start = begins[tp] if depth is None else max(begins[tp], ends[tp] - depth)
            if ends[tp] > start:
                consumer.seek(tp, start)
                remaining[tp] = ends[tp]
        idle = 0
        while remaining and idle < 3:  # records gone (retention) would never arrive: stop after 3 s of nothing
            batch = await consumer.getmany(*remaining.keys(), timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                out.extend(records)
                if records and records[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return out
