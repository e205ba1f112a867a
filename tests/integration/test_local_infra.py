"""The local infrastructure really works: a real Kafka broker and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.localkafka import PROJECT_TOPICS
from tests.fixtures_infra import KafkaEndpoint, PostgresServer

pytestmark = pytest.mark.integration

INBOUND = "antt.inbound.v1"
REGISTRATION_EVENTS = "antt.registration.events.v1"


@pytest.mark.asyncio
async def test_project_topics_exist_with_their_partition_counts(kafka: KafkaEndpoint) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(PROJECT_TOPICS))
    finally:
        await admin.close()

    partitions = {item["topic"]: len(item["partitions"]) for item in described}
    assert partitions == dict(PROJECT_TOPICS)
    assert partitions[INBOUND] == 6


@pytest.mark.asyncio
async def test_idempotent_producer_message_is_read_back(kafka: KafkaEndpoint) -> None:
    key = f"unit-year-{uuid.uuid4()}".encode()
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        assert await producer.partitions_for(INBOUND) == set(range(6))
        sent = await producer.send_and_wait(INBOUND, value, key=key, headers=[("event_type", b"test")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(INBOUND, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()

    assert (record.key, record.value) == (key, value)
    assert record.headers == (("event_type", b"test"),)


@pytest.mark.asyncio
async def test_consumer_group_commits_offsets(kafka: KafkaEndpoint) -> None:
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(REGISTRATION_EVENTS, value, key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        REGISTRATION_EVENTS,
        bootstrap_servers=kafka.bootstrap,
        group_id=f"it-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for record in consumer:
                if record.value == value:
                    break
        partition = TopicPartition(REGISTRATION_EVENTS, sent.partition)
        await consumer.commit({partition: record.offset + 1})
        assert await consumer.committed(partition) == sent.offset + 1
    finally:
        await consumer.stop()


@pytest.mark.asyncio
async def test_postgres_database_is_created_once_and_queryable(postgres: PostgresServer) -> None:
    name = f"antt_it_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    postgres.create_database(name)  # idempotent

    conn = await asyncpg.connect(postgres.dsn(name, driver=None))
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == name
    finally:
        await conn.close()

    engine = create_async_engine(postgres.dsn(name))
    try:
        async with engine.connect() as sa_conn:
            assert (await sa_conn.execute(text("select 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
