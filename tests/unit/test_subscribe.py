"""``shared.infra.consumer.subscribe``: a batch reaches the processor on the event loop, with no
hop to a worker thread on the way.

faststream hands a handler's ``KafkaMessage`` parameter over through fast_depends, which
resolves such a context field with a synchronous call run in anyio's worker thread: one thread
hand-off, and its wake-ups, for every batch. At 10 unit-years in flight a batch is a record or
two, so that hop was a visible share of each service's CPU (``docs/benchmarks.md``).
``subscribe`` reads the message from faststream's context instead; this test keeps it so.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.infra.consumer import subscribe


class RecordingProcessor:
    """What ``subscribe`` needs of a :class:`~shared.infra.consumer.BatchProcessor`."""

    service = "test"

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def process(self, records: Any) -> bool:
        self.batches.append(list(records))
        return True


@pytest.mark.asyncio
async def test_a_batch_reaches_the_processor_without_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    hops: list[Any] = []
    real_run_sync = anyio.to_thread.run_sync

    async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real_run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    broker = KafkaBroker("127.0.0.1:9")
    processor = RecordingProcessor()
    subscribe(broker, "antt.test.v1", group_id="g", processor=processor)  # type: ignore[arg-type]
    async with TestKafkaBroker(broker) as br:
        await br.publish(b'{"a": 1}', "antt.test.v1", key=b"k")
        await br.publish(b'{"a": 2}', "antt.test.v1", key=b"k")
    assert [[rec.value for rec in batch] for batch in processor.batches] == [[b'{"a": 1}'], [b'{"a": 2}']]
    assert hops == []
