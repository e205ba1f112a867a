"""Small Kafka helpers on top of aiokafka."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=1 << 16)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """aiokafka's ``DefaultPartitioner`` (the Java client's: murmur2 of the key, modulo the
    partitions; a random available partition without a key) with each key's hash remembered.
    aiokafka's murmur2 is pure Python, about 8 µs a key, and a unit-year's events all carry its
    key: a relay publishes two to four of them, and the benchmark's client five inbound
    messages. The cache holds the last 65,536 keys (a few MiB)."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_key_hash(key) % len(all_partitions)]


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


async def describe_topic_configs(bootstrap: str, names: list[str] | tuple[str, ...]) -> dict[str, dict[str, str] | None]:
    """The effective configuration of each topic in ``names`` (``None``: the topic does not exist)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n, None) for n in names])
    finally:
        await admin.close()
    out: dict[str, dict[str, str] | None] = dict.fromkeys(names)
    for resp in responses:
        for res in resp.to_object()["resources"]:
            if res["error_code"] == 0:
                out[res["resource_name"]] = {c["config_names"]: c["config_value"] for c in res["config_entries"]}
    return out


class FiniteRetention(RuntimeError):
    """An event topic would delete history: the service refuses to run on it."""


def retention_problems(configs: dict[str, dict[str, str] | None]) -> list[str]:
    """What is wrong with each topic's retention, for the auditors' history to be kept whole."""
    problems = []
    for topic, cfg in configs.items():
        if cfg is None:
            continue  # a missing topic is reported by the consumer itself
        ms, size, policy = cfg.get("retention.ms"), cfg.get("retention.bytes"), cfg.get("cleanup.policy", "delete")
        if ms != "-1" or size != "-1" or "compact" in (policy or ""):
            problems.append(f"{topic}: retention.ms={ms}, retention.bytes={size}, cleanup.policy={policy}")
    return problems


async def check_retention(bootstrap: str, names: list[str] | tuple[str, ...], *, allow_finite: bool) -> list[str]:
    """Refuse (``FiniteRetention``) to run on topics that delete records, unless ``allow_finite``.

    A topic created with the broker's default keeps a week: every older event would be gone,
    and a replay from offset 0 would silently start in the middle of the history.
    """
    problems = retention_problems(await describe_topic_configs(bootstrap, names))
    if problems:
        message = (
            "topics that must keep every record forever (retention.ms=-1, retention.bytes=-1, cleanup.policy=delete) "
            "do not: " + "; ".join(problems)
        )
        if not allow_finite:
            raise FiniteRetention(message + " (set ALLOW_FINITE_RETENTION=true to run anyway)")
    return problems
