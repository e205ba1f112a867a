"""A client of the running system over Kafka, as another e-government system would be one:
it publishes signed inbound messages and follows the services' event topics and the DLQ.

Used by the demo, the benchmark and the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contracts import topics
from shared.contracts.canonical import compact_json
from shared.contracts.envelope import new_event_id
from shared.contracts.inbound import new_message
from shared.infra.kafka import topic_partitions

DEV_SENDER = ("dvc-national", "dev-key-national-0123456789abcdef")
WATCHED = (*topics.EVENT_TOPICS, topics.dlq(topics.INBOUND))


class AnttClient:
    def __init__(
        self,
        bootstrap: str,
        *,
        source_system: str = DEV_SENDER[0],
        key: str = DEV_SENDER[1],
        on_event: Callable[[dict[str, Any]], None] | None = None,
        from_beginning: bool = False,
    ) -> None:
        self.bootstrap = bootstrap
        self.source_system = source_system
        self.key = key
        self.on_event = on_event
        self.from_beginning = from_beginning
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.dead_letters: dict[str, dict[str, Any]] = {}
        self.seen_ids: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Condition()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AnttClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        await self._consumer.start()
        parts = await topic_partitions(self._consumer, WATCHED)
        self._consumer.assign(parts)
        if self.from_beginning:
            await self._consumer.seek_to_beginning(*parts)
        else:
            ends = await self._consumer.end_offsets(parts)
            for tp, off in ends.items():
                self._consumer.seek(tp, off)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # whatever it died of, it is stopped
                await self._task
        if self._consumer:
            await self._consumer.stop()
        if self._producer:
            await self._producer.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            if not batch:
                continue
            for tp, records in batch.items():
                for rec in records:
                    self._receive(tp.topic, rec)
            async with self._changed:
                self._changed.notify_all()

    def _receive(self, topic: str, rec: Any) -> None:
        """One record of a followed topic: a dead letter is kept by its message id; an event is
        kept (:meth:`_keep`) and handed to ``on_event``."""
        body = orjson.loads(rec.value)  # as the services read them
        if topic.endswith(".dlq"):
            self.dead_letters[body.get("message_id") or body["dlq_id"]] = body
            return
        body["_topic"] = topic
        self._keep(body)
        if self.on_event is not None:
            self.on_event(body)

    def _keep(self, body: dict[str, Any]) -> None:
        """Keep an event under its unit-year (or stream), counted by its id."""
        self.seen_ids[body["event_id"]] += 1
        self.events[body.get("unit_year_id") or body["stream_id"]].append(body)

    async def send(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        key: str,
        actor: dict[str, Any] | None = None,
        event_id: str | None = None,
        raw: bytes | None = None,
    ) -> str:
        """Publish a signed inbound message (or ``raw`` bytes as they are); return its event_id."""
        assert self._producer is not None
        eid = event_id or new_event_id()
        if raw is None:
            msg = new_message(event_type, payload, source_system=self.source_system, key=self.key, actor=actor, event_id=eid)
            raw = compact_json(msg)
        await self._producer.send(topics.INBOUND, raw, key=key.encode("utf-8"))
        return eid

    async def flush(self) -> None:
        assert self._producer is not None
        await self._producer.flush()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
        async def _wait() -> Any:
            async with self._changed:
                while True:
                    result = predicate()
                    if result:
                        return result
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None

    def find(self, stream: str, event_type: str, *, after: int = 0) -> dict[str, Any] | None:
        for ev in self.events.get(stream, [])[after:]:
            if ev["event_type"] == event_type:
                return ev
        return None

    async def wait_event(self, stream: str, *event_types: str, after: int = 0, timeout: float = 30) -> dict[str, Any]:
        def _pred() -> dict[str, Any] | None:
            for ev in self.events.get(stream, [])[after:]:
                if ev["event_type"] in event_types:
                    return ev
            return None

        return await self.wait_until(_pred, timeout, what=f"{'/'.join(event_types)} of {stream}")

    async def wait_dead_letter(self, event_id: str, timeout: float = 30) -> dict[str, Any]:
        return await self.wait_until(lambda: self.dead_letters.get(event_id), timeout, what=f"dead letter of {event_id}")
