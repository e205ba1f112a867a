"""The outbox relay: publishes committed outbox rows to Kafka, in order, exactly once.

- One relay instance per service is active at a time (a lease row in the service's database),
  so two replicas never publish the same rows or reorder a unit-year's events.
- The producer is idempotent with ``acks=all``; rows are sent in ``id`` order and deleted
  once the broker acknowledged them.
- After a crash between "sent" and "deleted", the new leader reads back the tail of the
  topics it publishes to and drops the rows whose ``event_id`` is already there, so a
  restart does not publish an event twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infra.kafka import read_to_end
from shared.infra.logging import get_logger
from shared.infra.tables import InfraTables

log = get_logger(__name__)

LEASE = "outbox-relay"


def instance_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    """True when the owner was a process on this host that no longer exists."""
    try:
        host, pid_s, _ = owner.split(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        infra: InfraTables,
        bootstrap: str,
        *,
        owner: str | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
        lease_ttl_s: float = 10.0,
        readback_depth: int = 2000,
    ) -> None:
        self._sessions = sessions
        self._infra = infra
        self._bootstrap = bootstrap
        self.owner = owner or instance_owner()
        self._batch = batch_size
        self._poll = poll_interval_s
        self._ttl = lease_ttl_s
        self._readback = max(readback_depth, batch_size * 4)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lease_until = 0.0
        self.published = 0
        self.is_leader = False

    def notify(self) -> None:
        """Wake the relay: a transaction just committed outbox rows."""
        self._wake.set()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=1 << 20,
            request_timeout_ms=30000,
        )
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        if self._producer:
            await self._producer.stop()
        if self.is_leader:
            try:
                async with self._sessions() as s, s.begin():
                    await s.execute(
                        update(self._infra.relay_lease)
                        .where(self._infra.relay_lease.c.name == LEASE, self._infra.relay_lease.c.owner == self.owner)
                        .values(expires_at=0.0)
                    )
            except Exception:  # noqa: BLE001 - best effort on shutdown
                log.warning("relay.lease_release_failed")

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                if not await self._ensure_lease():
                    await asyncio.sleep(min(self._ttl / 3, 2.0))
                    continue
                sent = await self._publish_once()
                backoff = 0.5
                if sent < self._batch:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
                    except TimeoutError:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must survive broker/db faults
                log.warning("relay.error", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _ensure_lease(self) -> bool:
        now = time.time()
        if self.is_leader and now < self._lease_until - self._ttl / 2:
            return True
        t = self._infra.relay_lease
        async with self._sessions() as s, s.begin():
            res = await s.execute(
                update(t)
                .where(t.c.name == LEASE, (t.c.owner == self.owner) | (t.c.expires_at < now))
                .values(owner=self.owner, expires_at=now + self._ttl)
            )
            got = res.rowcount == 1
            if not got:
                row = (await s.execute(select(t.c.owner).where(t.c.name == LEASE))).first()
                if row is None:
                    try:
                        async with s.begin_nested():
                            await s.execute(insert(t).values(name=LEASE, owner=self.owner, expires_at=now + self._ttl))
                        got = True
                    except IntegrityError:
                        got = False
                elif _owner_is_dead(row[0]):
                    res = await s.execute(
                        update(t).where(t.c.name == LEASE, t.c.owner == row[0]).values(owner=self.owner, expires_at=now + self._ttl)
                    )
                    got = res.rowcount == 1
        was_leader = self.is_leader
        self.is_leader = got
        if got:
            self._lease_until = now + self._ttl
            if not was_leader:
                log.info("relay.leader", owner=self.owner)
                await self._recover()
        return got

    async def _pending(self, limit: int) -> list[Any]:
        o = self._infra.outbox
        async with self._sessions() as s:
            return list(
                (
                    await s.execute(
                        select(o.c.id, o.c.event_id, o.c.topic, o.c.key, o.c.value, o.c.headers).order_by(o.c.id).limit(limit)
                    )
                ).all()
            )

    async def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        o = self._infra.outbox
        async with self._sessions() as s, s.begin():
            for i in range(0, len(ids), 500):
                await s.execute(delete(o).where(o.c.id.in_(ids[i : i + 500])))

    async def _publish_once(self) -> int:
        rows = await self._pending(self._batch)
        if not rows:
            return 0
        assert self._producer is not None
        futures = []
        for row in rows:
            headers = [(k, str(v).encode("utf-8")) for k, v in json.loads(row.headers).items()]
            fut = await self._producer.send(
                row.topic,
                value=row.value,
                key=row.key.encode("utf-8") if row.key is not None else None,
                headers=headers,
            )
            futures.append(fut)
        results = await asyncio.gather(*futures, return_exceptions=True)
        done = [row.id for row, r in zip(rows, results, strict=True) if not isinstance(r, BaseException)]
        await self._delete(done)
        self.published += len(done)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} outbox rows not acknowledged: {failed[0]!r}")
        return len(rows)

    async def _recover(self) -> None:
        """Drop pending rows that a previous leader published but did not delete."""
        rows = await self._pending(self._readback)
        if not rows:
            return
        pending = {r.event_id: r.id for r in rows}
        records = await read_to_end(self._bootstrap, sorted({r.topic for r in rows}), depth=self._readback)
        found: list[int] = []
        for rec in records:
            for k, v in rec.headers or ():
                if k == "event_id":
                    rid = pending.get(v.decode("utf-8", "replace"))
                    if rid is not None:
                        found.append(rid)
        if found:
            log.warning("relay.recovered_published_rows", count=len(found))
            await self._delete(found)

