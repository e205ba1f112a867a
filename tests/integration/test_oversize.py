"""Oversized records on a real broker: a rejected record near the broker's limit still yields a
dead letter that is published and the records after it go on; an outbox row the broker refuses
for good is parked, and the rows behind it are published."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from sqlalchemy import MetaData, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from deploy.localkafka import create_topics
from shared.contracts import topics
from shared.contracts.docs import DeadLetter
from shared.contracts.envelope import utcnow
from shared.infra.consumer import BatchProcessor, Claim, Received, position_id, subscribe
from shared.infra.db import create_engine, session_factory
from shared.infra.inbound import InboundGate
from shared.infra.kafka import read_to_end
from shared.infra.outbox import DEAD_LETTER_MAX_BYTES, ORIGINAL_BUDGET
from shared.infra.relay import OutboxRelay
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork
from tests.integration.outbox_writer import infra_database, unit_of_work_factory, write_events
from tests.unit.builders import SENDERS

pytestmark = pytest.mark.integration

KiB = 1024


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with infra_database(request, tmp_path, "os") as (url, engine, infra, _path):
        yield url, session_factory(engine), infra


async def _until(condition: Any, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def _count(sessions: async_sessionmaker[AsyncSession], table: Any) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


# --------------------------------------------------------------------------- dead letters


class GatekeeperThenCount:
    """The registration service's inbound gate; what it leaves to other services is counted
    as applied here, to show that the records after a large one are processed."""

    def __init__(self) -> None:
        self.gate = InboundGate("registration", SENDERS)
        self.applied: list[int] = []

    def claim(self, msg: Received) -> Claim | None:
        claim = self.gate.claim(msg)
        return claim if claim is not None else Claim(message_id=position_id(msg), parsed=json.loads(msg.value)["n"])

    def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
        self.applied.append(claim.parsed)
        return "applied"


async def test_a_large_rejected_record_yields_a_bounded_dead_letter_and_the_partition_goes_on(kafka, db) -> None:  # type: ignore[no-untyped-def]
    url, sessions, infra = db
    topic = f"antt.test.{uuid.uuid4().hex[:8]}.inbound"
    await create_topics(kafka.bootstrap, {topic: 1, topics.dlq(topic): 1})
    big = {
        "too_large": json.dumps({"event_type": "UnitRegistrationSubmitted", "pad": "x" * (900 * KiB)}).encode(),
        "quotes": b'"' * (500 * KiB),  # under the inbound limit, but twice as long as JSON text
        "controls": b"\x01" * (501 * KiB),  # six times as long as JSON text
    }
    later = [json.dumps({"event_type": "SelfAssessmentSubmitted", "n": i}).encode() for i in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in [*big.values(), *later]:
            await producer.send_and_wait(topic, value, key=b"QN-KDC-001", headers=[("x-test", b"oversize")])
    finally:
        await producer.stop()

    relay = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05)
    handler = GatekeeperThenCount()
    proc = BatchProcessor(
        service="registration", unit_of_work=unit_of_work_factory(url, infra), handler=handler, on_commit=relay.notify
    )
    broker = KafkaBroker(kafka.bootstrap)
    subscribe(broker, topic, group_id=f"g-{uuid.uuid4().hex[:6]}", processor=proc)
    await relay.start()
    await broker.start()
    try:

        async def settled() -> bool:
            return await _count(sessions, infra.inbox) == 6 and await _count(sessions, infra.outbox) == 0

        await _until(settled)
    finally:
        await broker.stop()
        await relay.stop()

    assert handler.applied == [0, 1, 2]
    assert relay.parked == 0 and relay.alarms == []
    records = await read_to_end(kafka.bootstrap, [topics.dlq(topic)])
    assert len(records) == 3
    by_size = {}
    for rec in records:
        assert len(rec.value) <= DEAD_LETTER_MAX_BYTES
        body = json.loads(rec.value)
        DeadLetter.model_validate(body)
        by_size[body["original_size"]] = body
    for name, value in big.items():
        body = by_size[len(value)]
        assert body["error_code"] == ("too_large" if name == "too_large" else "bad_json")
        assert body["original_sha256"] == hashlib.sha256(value).hexdigest()
        assert body["truncated"] is True
        assert len(json.dumps(body["original"]["data"], ensure_ascii=False).encode()) <= ORIGINAL_BUDGET
        assert value.decode().startswith(body["original"]["data"])
        assert body["original_key"]["data"] == "QN-KDC-001"
        assert body["original_headers"] == [
            {"key": "x-test", "value": {"encoding": "utf-8", "data": "oversize", "truncated": False}}
        ]
    reason = by_size[len(big["too_large"])]["reason"]
    assert str(len(big["too_large"])) in reason and "524288" in reason


# --------------------------------------------------------------------------- parking


async def _insert_row(sessions: async_sessionmaker[AsyncSession], infra: InfraTables, topic: str, key: str, value: bytes) -> str:
    event_id = str(uuid.uuid4())
    async with sessions() as s, s.begin():
        await s.execute(
            insert(infra.outbox).values(
                event_id=event_id,
                topic=topic,
                key=key,
                value=value,
                headers=json.dumps({"event_type": "Tested", "event_id": event_id, "content-type": "application/json"}),
                created_at=utcnow(),
            )
        )
    return event_id


async def _own_topic(bootstrap: str, **config: str) -> str:
    name = f"antt.test.{uuid.uuid4().hex[:8]}.events"
    if not config:
        await create_topics(bootstrap, {name: 3})
        return name
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1, topic_configs={**topics.topic_config(1), **config})])
    finally:
        await admin.close()
    return name


@pytest.mark.parametrize(
    ("where", "size"),
    [
        ("producer", 2 * 1024 * KiB),  # over the producer's max_request_size: refused before sending
        ("broker", 40 * KiB),  # over the topic's max.message.bytes: refused by the broker
    ],
)
async def test_a_row_the_broker_refuses_for_good_is_parked_and_the_rows_behind_it_flow(kafka, db, where: str, size: int) -> None:  # type: ignore[no-untyped-def]
    url, sessions, infra = db
    topic = await _own_topic(kafka.bootstrap, **({"max.message.bytes": str(16 * KiB)} if where == "broker" else {}))
    await asyncio.sleep(1.0 if where == "broker" else 0)  # let the new topic's leaders settle
    before = await write_events(url, infra, topic, 10)
    big = await _insert_row(sessions, infra, topic, "BIG:2025", b"x" * size)
    behind = await _insert_row(sessions, infra, topic, "BIG:2025", b"small, but after the big one")
    after = await write_events(url, infra, topic, 10, first=10)
    relay = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05, event_topic=topic)
    await relay.start()
    try:

        async def drained() -> bool:
            return await _count(sessions, infra.outbox) == 0

        await _until(drained)
        assert relay.failing_since is None
    finally:
        await relay.stop()

    records = await read_to_end(kafka.bootstrap, [topic])
    published = [json.loads(r.value)["event_id"] for r in records]
    assert sorted(published) == sorted(before + after)  # everything else, once
    async with sessions() as s:
        parked = (
            await s.execute(
                select(infra.outbox_parked.c.event_id, infra.outbox_parked.c.error).order_by(infra.outbox_parked.c.id)
            )
        ).all()
    assert [p.event_id for p in parked] == [big, behind]
    assert "MessageSizeTooLarge" in parked[0].error and big in parked[1].error
    assert relay.parked == 2
    alarms = [a for a in relay.alarms if a["kind"] == "parked"]
    assert [(a["event_id"], a["size"]) for a in alarms] == [(big, size), (behind, 28)]
    # the trees cover exactly what is on the topic
    per_partition: dict[int, int] = {}
    for r in records:
        per_partition[r.partition] = per_partition.get(r.partition, 0) + 1
    assert {p: t.size for p, t in relay.trees.items() if t.size} == per_partition

    # a new leader knows what is parked, and parks a later row of the same key behind it
    again = await write_events(url, infra, topic, 2, first=20)
    later = await _insert_row(sessions, infra, topic, "BIG:2025", b"later still")
    relay2 = OutboxRelay(sessions, infra, kafka.bootstrap, poll_interval_s=0.05, event_topic=topic)
    await relay2.start()
    try:
        await _until(drained)
    finally:
        await relay2.stop()
    assert relay2.parked == 3 and relay2.alarms[-1]["event_id"] == later
    published = [json.loads(r.value)["event_id"] for r in await read_to_end(kafka.bootstrap, [topic])]
    assert sorted(published) == sorted(before + after + again)


# --------------------------------------------------------------------------- failing streaks


async def test_failing_since_marks_the_start_of_a_failing_streak_and_clears_on_success(kafka, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}")  # no tables yet: every pass fails
    relay = OutboxRelay(session_factory(engine), infra, kafka.bootstrap, poll_interval_s=0.05)
    await relay.start()
    try:

        async def failing() -> bool:
            return relay.failing_since is not None

        await _until(failing, timeout=10)
        first = relay.failing_since
        await asyncio.sleep(1.5)  # more failed passes: the streak keeps its start
        assert relay.failing_since == first
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

        async def recovered() -> bool:
            return relay.failing_since is None and relay.is_leader

        await _until(recovered, timeout=20)
    finally:
        await relay.stop()
        await engine.dispose()
