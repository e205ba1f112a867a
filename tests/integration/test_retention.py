"""The history is kept: every project topic on the real broker keeps its records forever, a topic
that would not is brought to it by the set-up, and a service refuses to run on one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.localkafka import create_topics
from shared.contracts import topics
from shared.infra.kafka import FiniteRetention, check_retention, describe_topic_configs
from tests.fixtures_infra import KafkaEndpoint

pytestmark = pytest.mark.integration

WEEK_MS = str(7 * 24 * 3600 * 1000)


async def _create_with_default_retention(bootstrap: str, name: str) -> None:
    """A topic as a careless operator would create it: the broker's 7-day default."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs={"retention.ms": WEEK_MS})])
    finally:
        await admin.close()
    for _ in range(100):  # the new topic's metadata reaches the broker's config view shortly after
        if (await describe_topic_configs(bootstrap, [name]))[name] is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} was not created")


async def test_every_project_topic_keeps_its_records_forever(kafka: KafkaEndpoint) -> None:
    configs = await describe_topic_configs(kafka.bootstrap, list(topics.PROJECT_TOPICS))
    assert set(configs) == set(topics.PROJECT_TOPICS)
    for name, cfg in configs.items():
        assert cfg is not None, f"{name} does not exist"
        assert cfg["retention.ms"] == "-1", name
        assert cfg["retention.bytes"] == "-1", name
        assert cfg["cleanup.policy"] == "delete", name
        assert cfg["min.insync.replicas"] == "1", name  # one broker here


async def test_the_set_up_brings_an_existing_topic_to_infinite_retention(kafka: KafkaEndpoint) -> None:
    name = f"antt.probe-{uuid.uuid4().hex[:8]}.events.v1"
    await _create_with_default_retention(kafka.bootstrap, name)
    assert (await describe_topic_configs(kafka.bootstrap, [name]))[name]["retention.ms"] == WEEK_MS  # type: ignore[index]
    await create_topics(kafka.bootstrap, {name: 1})
    cfg = (await describe_topic_configs(kafka.bootstrap, [name]))[name]
    assert cfg is not None and cfg["retention.ms"] == "-1" and cfg["retention.bytes"] == "-1"


async def test_finite_retention_is_refused_unless_allowed(kafka: KafkaEndpoint) -> None:
    name = f"antt.probe-{uuid.uuid4().hex[:8]}.events.v1"
    await _create_with_default_retention(kafka.bootstrap, name)
    with pytest.raises(FiniteRetention) as refused:
        await check_retention(kafka.bootstrap, [name, topics.APPROVAL_EVENTS], allow_finite=False)
    assert f"{name}: retention.ms={WEEK_MS}" in str(refused.value)
    assert topics.APPROVAL_EVENTS not in str(refused.value)
    problems = await check_retention(kafka.bootstrap, [name], allow_finite=True)
    assert problems == [f"{name}: retention.ms={WEEK_MS}, retention.bytes=-1, cleanup.policy=delete"]
    assert await check_retention(kafka.bootstrap, list(topics.PROJECT_TOPICS), allow_finite=False) == []
