"""Small Kafka helpers on top of aiokafka."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


async def topic_partitions(consumer: AIOKafkaConsumer, topics: list[str] | tuple[str, ...]) -> list[TopicPartition]:
    """All partitions of ``topics`` from fresh cluster metadata (the consumer need not subscribe)."""
    metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call returns it
    parts: list[TopicPartition] = []
    for topic in topics:
        for p in sorted(metadata.partitions_for_topic(topic) or ()):
            parts.append(TopicPartition(topic, p))
    return parts
