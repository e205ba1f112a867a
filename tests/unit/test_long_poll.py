"""``shared.infra.consumer.long_poll``: an idle batch consumer waits in the poll, not in a sleep.

A fake clock stands in for the time: the consumer's ``getmany`` advances it by as long as it
waited, and the sleeps ``get_msg`` asks for are recorded instead of slept.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from shared.infra import consumer as consumer_module
from shared.infra.consumer import long_poll


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


class FakeConsumer:
    """``getmany`` as aiokafka's: records when there are some, else empty after its timeout
    (or at once, as without assigned partitions)."""

    def __init__(self, clock: Clock, batches: list[Any], *, empty_at_once: bool = False) -> None:
        self.clock = clock
        self.batches = batches
        self.empty_at_once = empty_at_once
        self.calls: list[tuple[int, int | None]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[Any]]:
        self.calls.append((timeout_ms, max_records))
        if self.batches:
            self.clock.now += 0.003
            return self.batches.pop(0)  # type: ignore[no-any-return]
        if not self.empty_at_once:
            self.clock.now += timeout_ms / 1000
        return {}


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(consumer_module, "time", types.SimpleNamespace(monotonic=c.monotonic))
    monkeypatch.setattr(consumer_module, "asyncio", types.SimpleNamespace(sleep=c.sleep))
    return c


def _subscriber() -> Any:
    broker = KafkaBroker("127.0.0.1:9")
    sub = broker.subscriber("t", group_id="g", batch=True, max_records=7, batch_timeout_ms=50)
    long_poll(sub)
    return sub


async def test_records_come_back_in_partition_order_with_the_subscribers_limits(clock: Clock) -> None:
    consumer = FakeConsumer(clock, [{"p0": [1, 2], "p1": [3]}])
    assert await _subscriber().get_msg(consumer) == (1, 2, 3)
    assert consumer.calls == [(50, 7)]
    assert clock.slept == []


async def test_an_empty_poll_that_waited_its_timeout_is_not_followed_by_a_sleep(clock: Clock) -> None:
    # faststream's own get_msg sleeps batch_timeout_ms after every empty poll
    consumer = FakeConsumer(clock, [])
    assert await _subscriber().get_msg(consumer) == ()
    assert clock.slept == []


async def test_an_empty_poll_that_returned_early_pauses_for_the_rest_so_the_loop_never_spins(clock: Clock) -> None:
    consumer = FakeConsumer(clock, [], empty_at_once=True)
    assert await _subscriber().get_msg(consumer) == ()
    assert clock.slept == [0.05]


def test_anything_but_a_batch_subscriber_is_refused() -> None:
    broker = KafkaBroker("127.0.0.1:9")
    with pytest.raises(TypeError):
        long_poll(broker.subscriber("t", group_id="g"))
