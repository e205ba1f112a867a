"""The reliability machinery on a real broker and real databases: a poison message is
dead-lettered after a bounded number of tries while the partition goes on; offsets are
committed only after the database commit; the relay never republishes what a crashed
leader already published; only one relay instance publishes at a time."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from sqlalchemy import MetaData, func, select

from deploy.driver import read_all
from deploy.localkafka import create_topics
from shared.infra.consumer import BatchProcessor, Claim, Received, Rejected, subscribe
from shared.infra.db import create_engine, session_factory
from shared.infra.relay import OutboxRelay
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork
from tests.integration.outbox_writer import infra_database, unit_of_work_factory, write_events

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with infra_database(request, tmp_path, "rt") as (_url, engine, infra, _path):
        yield engine, session_factory(engine), infra


async def _topic(bootstrap: str) -> str:
    name = f"antt.test.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, {name: 3, f"{name}.dlq": 1})
    return name


class PoisonAware:
    """Applies every message by counting it; a message ``poison`` always raises."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.attempts = 0

    def claim(self, msg: Received) -> Claim | None:
        body = msg.value.decode()
        if body == "rejected":
            return Claim(message_id=f"m-{msg.partition}-{msg.offset}", rejection=Rejected("invalid_payload", "told to reject"))
        return Claim(message_id=f"m-{msg.partition}-{msg.offset}", parsed=body)

    def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
        if claim.parsed == "poison":
            self.attempts += 1
            raise RuntimeError("cannot digest this")
        self.applied.append(claim.parsed)
        return "applied"


async def test_poison_message_is_dead_lettered_after_bounded_tries(kafka, db) -> None:  # type: ignore[no-untyped-def]
    engine, sessions, infra = db
    topic = await _topic(kafka.bootstrap)
    relay = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05)
    handler = PoisonAware()
    uows = unit_of_work_factory(engine.url.render_as_string(hide_password=False), infra)
    proc = BatchProcessor(
        service="test", unit_of_work=uows, handler=handler, max_attempts=3, on_commit=relay.notify, retry_pause_s=0.01
    )
    broker = KafkaBroker(kafka.bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    subscribe(broker, topic, group_id=group, processor=proc)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    for body in ["a", "b", "poison", "c", "rejected", "d"]:
        await producer.send_and_wait(topic, body.encode(), key=b"same-key")  # one partition, in order
    await producer.stop()
    await relay.start()
    await broker.start()
    try:
        for _ in range(200):
            if await _count(sessions, infra.inbox) == 6:
                break
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    await asyncio.sleep(0.5)
    await relay.stop()

    # the batch try rolled back; then each record alone: only the poison one failed
    assert handler.applied[-4:] == ["a", "b", "c", "d"]
    assert handler.attempts == 1 + 3  # the batch try, then 3 tries alone
    async with sessions() as s:
        outcomes = dict((await s.execute(select(infra.inbox.c.message_id, infra.inbox.c.outcome))).all())
    assert sorted(outcomes.values()) == ["applied"] * 4 + ["failed", "rejected"]
    dead = await read_all(kafka.bootstrap, (f"{topic}.dlq",))
    assert sorted(d["error_code"] for d in dead) == ["invalid_payload", "processing_failed"]
    poison = next(d for d in dead if d["error_code"] == "processing_failed")
    assert "cannot digest this" in poison["reason"] and poison["original"]["data"] == "poison"
    # offsets were committed past every message, after the commit
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    assert sum(o.offset for o in offsets.values()) == 6


async def _count(sessions: Any, table: Any) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def _write_events(sessions: Any, infra: InfraTables, topic: str, n: int) -> list[str]:
    url = sessions.kw["bind"].url.render_as_string(hide_password=False)
    return await write_events(url, infra, topic, n, streams=4)


async def test_relay_does_not_republish_after_a_crash(kafka, db) -> None:  # type: ignore[no-untyped-def]
    engine, sessions, infra = db
    topic = await _topic(kafka.bootstrap)
    ids = await _write_events(sessions, infra, topic, 20)
    # a leader that crashed after the broker acknowledged the first 12 rows, before deleting them
    async with sessions() as s:
        rows = (await s.execute(select(infra.outbox).order_by(infra.outbox.c.id).limit(12))).all()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    for r in rows:
        headers = [(k, str(v).encode()) for k, v in json.loads(r.headers).items()]
        await producer.send_and_wait(r.topic, r.value, key=r.key.encode(), headers=headers)
    await producer.stop()

    relay = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05)
    await relay.start()
    for _ in range(100):
        if await _count(sessions, infra.outbox) == 0:
            break
        await asyncio.sleep(0.1)
    await relay.stop()
    published = [e["event_id"] for e in await read_all(kafka.bootstrap, (topic,))]
    assert sorted(published) == sorted(ids)  # each exactly once
    assert relay.published == 8


async def test_one_relay_publishes_at_a_time(kafka, db) -> None:  # type: ignore[no-untyped-def]
    engine, sessions, infra = db
    topic = await _topic(kafka.bootstrap)
    first = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05, lease_ttl_s=3)
    second = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05, lease_ttl_s=3)
    await first.start()
    await asyncio.sleep(0.3)
    await second.start()
    ids = await _write_events(sessions, infra, topic, 50)
    first.notify()
    second.notify()
    for _ in range(100):
        if await _count(sessions, infra.outbox) == 0:
            break
        await asyncio.sleep(0.1)
    assert first.is_leader and not second.is_leader
    await first.stop()  # hands the lease over
    more = await _write_events(sessions, infra, topic, 10)
    for _ in range(100):
        second.notify()
        if await _count(sessions, infra.outbox) == 0:
            break
        await asyncio.sleep(0.1)
    await second.stop()
    assert first.published == 50 and second.published == 10
    published = [e["event_id"] for e in await read_all(kafka.bootstrap, (topic,))]
    assert sorted(published) == sorted(ids + more)


async def test_consumer_group_offsets_wait_for_the_database(kafka, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """If the database fails, nothing is acknowledged: the records are read again later."""
    topic = await _topic(kafka.bootstrap)
    url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_engine(url)
    sessions = session_factory(engine)  # no tables yet: every transaction fails like an outage

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def claim(self, msg: Received) -> Claim | None:
            return Claim(message_id=f"r-{msg.partition}-{msg.offset}", parsed=msg.value.decode())

        def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
            self.seen.append(claim.parsed)
            return "applied"

    rec = Recorder()
    proc = BatchProcessor(service="t", unit_of_work=unit_of_work_factory(url, infra), handler=rec, retry_pause_s=0.01)
    broker = KafkaBroker(kafka.bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    subscribe(broker, topic, group_id=group, processor=proc)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"x", key=b"k")
    await producer.stop()
    await broker.start()
    await asyncio.sleep(3)  # the batch fails (no inbox table) and is nacked, again and again
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    offsets = await admin.list_consumer_group_offsets(group)
    assert sum(o.offset for o in offsets.values()) == 0
    # the database comes back: the record is applied once and only then committed
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    for _ in range(100):
        if await _count(sessions, infra.inbox) == 1:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    offsets = await admin.list_consumer_group_offsets(group)
    await admin.close()
    await broker.stop()
    await engine.dispose()
    assert sum(o.offset for o in offsets.values()) == 1
    async with sessions() as s:
        assert (await s.execute(select(infra.inbox.c.outcome))).scalars().all() == ["applied"]


async def test_offsets_of_records_no_one_here_owns_are_committed_later_and_covered_by_the_next_write(
    kafka, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A batch that claims nothing writes nothing and commits nothing at once; its offsets are
    committed by the next batch that writes (within ``COMMIT_INTERVAL_S``), or by the poll once
    they have waited ``IDLE_COMMIT_S``, so the group still reaches the end of the topic."""
    from shared.infra.consumer import IDLE_COMMIT_S

    topic = await _topic(kafka.bootstrap)
    url = f"sqlite+aiosqlite:///{tmp_path / 'mine.db'}"
    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)

    class OnlyMine:
        def claim(self, msg: Received) -> Claim | None:
            body = msg.value.decode()
            return Claim(message_id=f"m-{msg.offset}", parsed=body) if body.startswith("mine") else None

        def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
            return "applied"

    proc = BatchProcessor(service="t", unit_of_work=unit_of_work_factory(url, infra), handler=OnlyMine())
    broker = KafkaBroker(kafka.bootstrap)
    group = f"g-{uuid.uuid4().hex[:6]}"
    subscribe(broker, topic, group_id=group, processor=proc)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()

    async def committed() -> int:
        return sum(o.offset for o in (await admin.list_consumer_group_offsets(group)).values())

    async def wait_for(n: int, within_s: float) -> float:
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < within_s:
            if await committed() == n:
                return asyncio.get_running_loop().time() - started
            await asyncio.sleep(0.05)
        raise AssertionError(f"{await committed()} offsets committed, not {n}, after {within_s} s")

    try:
        await broker.start()
        await asyncio.sleep(2)  # the group has its partitions
        for i in range(3):
            await producer.send_and_wait(topic, f"other-{i}".encode(), key=b"k")  # one partition, in order
        waited = await wait_for(3, IDLE_COMMIT_S + 5)
        assert waited >= IDLE_COMMIT_S * 0.5  # held back, not committed batch by batch
        assert await _count(sessions, infra.inbox) == 0
        # a record it owns after more of the others: one commit, within COMMIT_INTERVAL_S, covers them all
        for i in range(3):
            await producer.send_and_wait(topic, f"other-{i + 3}".encode(), key=b"k")
        await producer.send_and_wait(topic, b"mine", key=b"k")
        await wait_for(7, IDLE_COMMIT_S)
        assert await _count(sessions, infra.inbox) == 1
    finally:
        await producer.stop()
        await broker.stop()
        await admin.close()
        await engine.dispose()
