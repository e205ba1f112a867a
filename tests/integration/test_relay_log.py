"""The relay's Merkle log and checkpoints on a real broker: the tree always equals the topic,
no failure between sending and deleting publishes a row twice, a foreign record is never
signed, the checkpoints verify and chain, and an existing topic is adopted once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from deploy.localkafka import create_topics
from shared.contracts.checkpoint import (
    CompactRange,
    PublicKeys,
    checkpoint_hash,
    leaf_hash,
    mth,
    verify_signature,
)
from shared.infra.db import session_factory
from shared.infra.kafka import read_to_end
from shared.infra.keys import load_signing_key
from shared.infra.relay import OutboxRelay, latest_checkpoint
from shared.infra.settings import ServiceSettings
from shared.infra.tables import InfraTables
from tests.integration.outbox_writer import infra_database, write_events

pytestmark = pytest.mark.integration

BUSY_TIMEOUT_MS = 1000


def _short_busy_timeout(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # after the engine's own connect hook: give up on a locked database quickly
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with infra_database(request, tmp_path, "rl", on_sqlite_engine=_short_busy_timeout) as (url, engine, infra, path):
        yield Db(session_factory(engine), infra, path, url)


class Db:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], infra: InfraTables, sqlite_path: Path | None, url: str
    ) -> None:
        self.url = url
        self.sessions = sessions
        self.infra = infra
        self.sqlite_path = sqlite_path


async def _topics(bootstrap: str) -> tuple[str, str]:
    name = f"antt.test.{uuid.uuid4().hex[:8]}.events"
    await create_topics(bootstrap, {name: 3, f"{name}.checkpoints": 1})
    return name, f"{name}.checkpoints"


def _relay(db: Db, bootstrap: str, topic: str, **kw: Any) -> OutboxRelay:
    return OutboxRelay(db.sessions, db.infra, bootstrap, poll_interval_s=0.05, event_topic=topic, **kw)


async def _write_events(db: Db, topic: str, n: int, *, first: int = 0) -> list[str]:
    return await write_events(db.url, db.infra, topic, n, first=first)


async def _outbox_count(db: Db) -> int:
    async with db.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(db.infra.outbox))).scalar_one())


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def _drained(db: Db) -> None:
    async def empty() -> bool:
        try:
            return await _outbox_count(db) == 0
        except OperationalError:  # SQLite locked by the test itself: look again
            return False

    await _until(empty)


async def _records(bootstrap: str, topic: str) -> dict[int, list[Any]]:
    """The records of ``topic`` by partition, in offset order."""
    out: dict[int, list[Any]] = defaultdict(list)
    for rec in await read_to_end(bootstrap, [topic]):
        out[rec.partition].append(rec)
    for recs in out.values():
        recs.sort(key=lambda r: r.offset)
        assert [r.offset for r in recs] == list(range(len(recs)))
    return out


def _event_ids(records: dict[int, list[Any]]) -> list[str]:
    return [json.loads(r.value)["event_id"] for recs in records.values() for r in recs]


async def _stored_trees(db: Db, topic: str) -> dict[int, CompactRange]:
    t = db.infra.relay_log
    async with db.sessions() as s:
        rows = (await s.execute(select(t.c.partition, t.c.size, t.c.peaks).where(t.c.topic == topic))).all()
    return {r.partition: CompactRange.from_json({"size": r.size, "peaks": json.loads(r.peaks)}) for r in rows}


async def _assert_tree_is_the_topic(db: Db, bootstrap: str, topic: str) -> dict[int, list[Any]]:
    records = await _records(bootstrap, topic)
    trees = await _stored_trees(db, topic)
    assert sorted(trees) == [0, 1, 2]
    for p, tree in trees.items():
        recs = records.get(p, [])
        assert tree.size == len(recs), p
        assert tree.root() == mth([leaf_hash(r.value) for r in recs]), p
    return records


# --------------------------------------------------------------------------- the tree


async def test_the_tree_of_every_partition_is_the_merkle_root_of_the_topic(kafka, db) -> None:  # type: ignore[no-untyped-def]
    topic, _ = await _topics(kafka.bootstrap)
    relay = _relay(db, kafka.bootstrap, topic, batch_size=7)  # several batches
    await relay.start()
    try:
        ids = await _write_events(db, topic, 30)
        relay.notify()
        await _drained(db)
        ids += await _write_events(db, topic, 25, first=30)
        relay.notify()
        await _drained(db)
    finally:
        await relay.stop()
    records = await _assert_tree_is_the_topic(db, kafka.bootstrap, topic)
    assert sorted(_event_ids(records)) == sorted(ids)
    assert {p: t.size for p, t in relay.trees.items()} == {p: len(r) for p, r in records.items()}
    assert relay.alarms == []


# --------------------------------------------------------------------------- never twice


class HeldLock:
    """An exclusive write lock on a SQLite database, taken by another connection on demand
    and held for ``hold_s``, as a long transaction of another process would."""

    def __init__(self, path: Path, hold_s: float) -> None:
        self.path = path
        self.hold_s = hold_s
        self.taken = threading.Event()
        self.released = threading.Event()
        self._thread: threading.Thread | None = None

    def _hold(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            self.taken.set()
            self.released.wait(self.hold_s)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
            self.released.set()

    async def take(self) -> None:
        self._thread = threading.Thread(target=self._hold, daemon=True)
        self._thread.start()
        await asyncio.to_thread(self.taken.wait, 10)

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=self.hold_s + 5)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # a lock held past SQLite's busy timeout
async def test_a_delete_refused_by_a_locked_database_does_not_publish_twice(kafka, db) -> None:  # type: ignore[no-untyped-def]
    assert db.sqlite_path is not None
    topic, _ = await _topics(kafka.bootstrap)
    relay = _relay(db, kafka.bootstrap, topic, batch_size=10)
    lock = HeldLock(db.sqlite_path, hold_s=4 * BUSY_TIMEOUT_MS / 1000)
    commits: list[str] = []
    commit = relay._commit_published

    async def recording_commit(ids: list[int], trees: dict[int, CompactRange]) -> None:
        try:
            await commit(ids, trees)
            commits.append("ok")
        except Exception as exc:
            commits.append(type(exc).__name__)
            raise

    relay._commit_published = recording_commit  # type: ignore[method-assign]
    ids = await _write_events(db, topic, 35)
    await relay.start()
    assert relay._producer is not None
    send = relay._producer.send

    async def lock_then_send(*args: Any, **kw: Any) -> Any:
        if not lock.taken.is_set():
            await lock.take()  # the rows are read; the database locks before they are deleted
        return await send(*args, **kw)

    relay._producer.send = lock_then_send  # type: ignore[method-assign]
    relay.notify()
    try:
        await _drained(db)
    finally:
        await relay.stop()
        lock.released.set()
        lock.join()
    assert commits[0] == "OperationalError"  # the delete after the first batch failed
    records = await _assert_tree_is_the_topic(db, kafka.bootstrap, topic)
    published = _event_ids(records)
    assert Counter(published) == Counter(ids)  # each exactly once
    assert relay.alarms == []


@pytest.mark.parametrize("where", ["ack", "delete"])
async def test_a_failure_between_ack_and_delete_does_not_publish_twice(kafka, db, where: str) -> None:  # type: ignore[no-untyped-def]
    topic, _ = await _topics(kafka.bootstrap)
    relay = _relay(db, kafka.bootstrap, topic, batch_size=8)
    ids = await _write_events(db, topic, 30)
    failures: list[str] = []
    await relay.start()
    assert relay._producer is not None
    producer = relay._producer
    if where == "ack":
        send = producer.send
        sent = 0

        async def send_but_lose_one_ack(*args: Any, **kw: Any) -> Any:
            # the 5th record reaches the broker, but its acknowledgement is lost
            nonlocal sent
            sent += 1
            fut = await send(*args, **kw)
            if sent != 5:
                return fut
            await fut
            failures.append("ack")
            lost: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            lost.set_exception(TimeoutError("no acknowledgement"))
            return lost

        producer.send = send_but_lose_one_ack  # type: ignore[method-assign]
    else:
        commit = relay._commit_published

        async def crash_once(ids_: list[int], trees: dict[int, CompactRange]) -> None:
            if not failures:
                failures.append("delete")
                raise ConnectionError("the database went away before the delete")
            await commit(ids_, trees)

        relay._commit_published = crash_once  # type: ignore[method-assign]
    relay.notify()
    try:
        await _drained(db)
    finally:
        await relay.stop()
    assert failures == [where]
    records = await _assert_tree_is_the_topic(db, kafka.bootstrap, topic)
    assert Counter(_event_ids(records)) == Counter(ids)
    assert relay.alarms == []


# --------------------------------------------------------------------------- foreign records


async def test_a_foreign_record_freezes_its_partition_and_is_never_signed(kafka, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    topic, cp_topic = await _topics(kafka.bootstrap)
    key = load_signing_key(ServiceSettings(service_name="test", keys_dir=tmp_path / "keys"))
    relay = _relay(
        db, kafka.bootstrap, topic, producer_name="test", signing_key=key, checkpoint_interval_s=0.2, checkpoint_topic=cp_topic
    )
    ids = await _write_events(db, topic, 24)
    await relay.start()
    try:
        await _drained(db)
        before = await _records(kafka.bootstrap, topic)
        intruder = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await intruder.start()
        try:
            meta = await intruder.send_and_wait(
                topic, b'{"event_id": "forged"}', key=b"U1:2025", partition=0, headers=[("event_id", b"forged")]
            )
        finally:
            await intruder.stop()
        assert meta.offset == len(before[0])
        ids += await _write_events(db, topic, 24, first=24)
        relay.notify()
        await _drained(db)

        async def alarmed() -> bool:
            return bool(relay.alarms)

        await _until(alarmed)
        await asyncio.sleep(0.5)  # a checkpoint after the alarm
    finally:
        await relay.stop()
    assert relay.alarms == [{"alarm": "foreign_record", "topic": topic, "partition": 0, "offset": meta.offset}]
    records = await _records(kafka.bootstrap, topic)
    published = _event_ids(records)
    assert Counter(published) == Counter([*ids, "forged"])  # everything else still published, once
    trees = await _stored_trees(db, topic)
    assert trees[0].size == meta.offset
    assert trees[0].root() == mth([leaf_hash(r.value) for r in records[0][: meta.offset]])
    for p in (1, 2):
        assert trees[p].root() == mth([leaf_hash(r.value) for r in records[p]])
    checkpoints = [json.loads(r.value) for r in await read_to_end(kafka.bootstrap, [cp_topic])]
    assert checkpoints and all(cp["partitions"][0]["size"] <= meta.offset for cp in checkpoints)


# --------------------------------------------------------------------------- checkpoints


async def test_checkpoints_are_signed_chained_and_match_the_topic(kafka, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    topic, cp_topic = await _topics(kafka.bootstrap)
    producer = f"svc{uuid.uuid4().hex[:6]}"
    keys_dir = tmp_path / "keys"
    key = load_signing_key(ServiceSettings(service_name=producer, keys_dir=keys_dir))
    relay = _relay(
        db, kafka.bootstrap, topic, producer_name=producer, signing_key=key, checkpoint_interval_s=0.3, checkpoint_topic=cp_topic
    )
    await relay.start()
    ids: list[str] = []
    try:
        for wave in range(3):
            ids += await _write_events(db, topic, 15, first=15 * wave)
            relay.notify()
            await _drained(db)
            await asyncio.sleep(0.6)  # let a checkpoint cover the wave
        ids += await _write_events(db, topic, 5, first=45)  # only the checkpoint at the stop covers these
        relay.notify()
    finally:
        await relay.stop()

    records = await _assert_tree_is_the_topic(db, kafka.bootstrap, topic)
    assert Counter(_event_ids(records)) == Counter(ids)
    raw = await read_to_end(kafka.bootstrap, [cp_topic])
    assert raw
    keys = PublicKeys.load(keys_dir)
    prev = None
    for n, rec in enumerate(raw, start=1):
        cp = json.loads(rec.value)
        headers = {k: v.decode() for k, v in rec.headers}
        assert rec.key == producer.encode()
        assert headers["event_type"] == "Checkpoint" and headers["event_id"] == f"{producer}:checkpoint:{n}"
        assert verify_signature(cp, keys) is None
        assert cp["sequence"] == n and cp["prev_checkpoint"] == prev
        assert cp["producer"] == producer and cp["topic"] == topic
        prev = checkpoint_hash(cp)
        for head in cp["partitions"]:
            recs = records.get(head["partition"], [])[: head["size"]]
            assert len(recs) == head["size"]
            assert head["root"] == mth([leaf_hash(r.value) for r in recs]).hex()
    last = json.loads(raw[-1].value)
    assert last["size"] == len(ids) == sum(len(r) for r in records.values())  # the stop signed everything
    assert len(raw) >= 3
    assert await latest_checkpoint(db.sessions, db.infra, producer) == last
    assert relay.last_checkpoint_sequence == len(raw)


# --------------------------------------------------------------------------- adoption


async def test_an_existing_topic_is_adopted_once_on_first_start(kafka, db) -> None:  # type: ignore[no-untyped-def]
    topic, _ = await _topics(kafka.bootstrap)
    # an older relay (no relay_log yet) published 10 events, and crashed after sending the
    # first 4 of the next 8 without deleting them
    old = await _write_events(db, topic, 10)
    older = OutboxRelay(db.sessions, db.infra, kafka.bootstrap, poll_interval_s=0.05)
    await older.start()
    await _drained(db)
    await older.stop()
    ids = old + await _write_events(db, topic, 8, first=10)
    o = db.infra.outbox
    async with db.sessions() as s:
        rows = (await s.execute(select(o).order_by(o.c.id).limit(4))).all()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    for r in rows:
        headers = [(k, str(v).encode()) for k, v in json.loads(r.headers).items()]
        await producer.send_and_wait(r.topic, r.value, key=r.key.encode(), headers=headers)
    await producer.stop()
    assert await _stored_trees(db, topic) == {}

    relay = _relay(db, kafka.bootstrap, topic)
    await relay.start()
    try:
        await _drained(db)
    finally:
        await relay.stop()
    assert relay.published == 4
    records = await _assert_tree_is_the_topic(db, kafka.bootstrap, topic)
    assert Counter(_event_ids(records)) == Counter(ids)
    assert relay.alarms == []

    # once: a later start checks the records after the tree instead of adopting them
    intruder = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await intruder.start()
    await intruder.send_and_wait(topic, b"not ours", partition=1)
    await intruder.stop()
    again = _relay(db, kafka.bootstrap, topic)
    await again.start()
    try:

        async def alarmed() -> bool:
            return bool(again.alarms)

        await _until(alarmed, timeout=10)
    finally:
        await again.stop()
    assert [(a["alarm"], a["partition"]) for a in again.alarms] == [("foreign_record", 1)]
