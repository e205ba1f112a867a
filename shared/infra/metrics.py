"""Prometheus metrics of one service instance (``GET /metrics``).

Every runtime has a registry of its own: tests build many runtimes in one process, and the
client's global default registry refuses a second metric of the same name. Most values are not
counted twice in a second place but read, at scrape time, from the objects that already keep
them (a processor's committed outcomes, the relay's counters), so a metric cannot drift from
what ``/ready`` shows. What only the database knows (outbox depth and the age of its oldest
row) and what only the broker client knows (consumer lag) is refreshed by the async
:meth:`ServiceMetrics.refresh` before the registry is rendered, because a collector runs
synchronously and must not do I/O on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from shared.infra.observed import ObservedRuntime
from shared.infra.parking import parking_state

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics", "outbox_state"]

#: batch durations: from a few milliseconds (a small batch on SQLite) to the consumers' 30 s lock wait
_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


async def outbox_state(runtime: ObservedRuntime) -> tuple[int, float | None]:
    """The number of unpublished outbox rows and the age in seconds of the oldest (``None``:
    the outbox is empty). Shared by ``/ready`` and ``/metrics``."""
    outbox = runtime.infra.outbox
    async with runtime.sessions() as s:
        row = (await s.execute(select(func.count(), func.min(outbox.c.created_at)).select_from(outbox))).one()
    count, oldest = int(row[0]), row[1]
    if oldest is None:
        return count, None
    if isinstance(oldest, str):  # SQLite may hand back the text it stored
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return count, max(0.0, (datetime.now(UTC) - oldest).total_seconds())


def _count_of(value: Any) -> int:
    """A count from what the relay exposes: a number, a collection, or nothing."""
    if value is None:
        return 0
    if isinstance(value, bool | int | float):
        return int(value)
    with contextlib.suppress(TypeError):
        return len(value)
    return 0


class _RuntimeCollector(Collector):
    """Reads the runtime's counters at scrape time (see the module docstring)."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        rt = self._m.runtime
        service = self._m.service
        handled = CounterMetricFamily(
            "antt_consumer_records",
            "Records handled by a consumer and committed, by outcome",
            labels=["service", "topic", "outcome"],
        )
        dead = CounterMetricFamily(
            "antt_consumer_dead_letters",
            "Dead letters written by a consumer, by reason code",
            labels=["service", "topic", "code"],
        )
        failing = GaugeMetricFamily(
            "antt_consumer_failing_seconds",
            "How long a consumer's batches have failed without one committing (0: the last batch committed)",
            labels=["service", "topic"],
        )
        now = time.monotonic()
        for topic, proc in getattr(rt, "processors", {}).items():
            for outcome, n in proc.stats.items():
                handled.add_metric([service, topic, outcome], n)
            for code, n in getattr(proc, "dead_letters", {}).items():
                dead.add_metric([service, topic, code], n)
            since = getattr(proc, "failing_since", None)
            failing.add_metric([service, topic], 0.0 if since is None else now - since)
        yield handled
        yield dead
        yield failing

        lag = GaugeMetricFamily(
            "antt_consumer_lag",
            "Records on the topic not yet consumed by this instance (its assigned partitions)",
            labels=["service", "topic"],
        )
        for topic, value in self._m.lag.items():
            lag.add_metric([service, topic], value)
        yield lag

        depth, age = self._m.outbox
        yield GaugeMetricFamily("antt_outbox_depth", "Unpublished outbox rows", value=depth, labels=None)
        yield GaugeMetricFamily(
            "antt_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0: empty)", value=age or 0.0
        )

        relay = getattr(rt, "relay", None)
        yield CounterMetricFamily(
            "antt_relay_published", "Outbox rows the relay published", value=_count_of(getattr(relay, "published", 0))
        )
        yield CounterMetricFamily("antt_relay_errors", "Relay passes that failed", value=_count_of(getattr(relay, "errors", 0)))
        since = getattr(relay, "failing_since", None)
        yield GaugeMetricFamily(
            "antt_relay_failing_seconds",
            "How long the relay has failed without a success (0: not failing)",
            value=0.0 if since is None else now - since,
        )
        yield GaugeMetricFamily(
            "antt_relay_leader",
            "1 if this instance holds the relay lease",
            value=1.0 if getattr(relay, "is_leader", False) else 0.0,
        )
        yield GaugeMetricFamily(
            "antt_relay_parked", "Outbox rows the relay has set aside (parked)", value=_count_of(getattr(relay, "parked", None))
        )
        yield GaugeMetricFamily(
            "antt_relay_alarms", "Open relay alarms (e.g. foreign records)", value=_count_of(getattr(relay, "alarms", None))
        )
        seq = getattr(relay, "last_checkpoint_sequence", None)
        yield GaugeMetricFamily(
            "antt_checkpoint_sequence", "Sequence of the latest signed checkpoint (0: none yet)", value=seq or 0
        )

        parked, parked_age = self._m.parked
        yield GaugeMetricFamily(
            "antt_parked_messages",
            "Early arrivals held until their unit or unit-year is announced (shared.infra.parking)",
            value=parked,
        )
        yield GaugeMetricFamily(
            "antt_parked_oldest_age_seconds", "Age of the oldest parked message (0: none)", value=parked_age or 0.0
        )
        released = CounterMetricFamily(
            "antt_parked_released", "Parked messages taken out of parking, by outcome", labels=["service", "outcome"]
        )
        parking = getattr(rt, "parking", None)
        for outcome, n in (getattr(parking, "released", None) or {}).items():
            released.add_metric([service, outcome], n)
        yield released


class ServiceMetrics:
    """The metrics of one runtime, in a registry of its own."""

    def __init__(self, runtime: ObservedRuntime, service: str) -> None:
        self.runtime = runtime
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        self.batch_seconds = Histogram(
            "antt_consumer_batch_duration_seconds",
            "Time to process one consumer batch, by result",
            labelnames=["service", "topic", "result"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        #: refreshed by :meth:`refresh`
        self.outbox: tuple[int, float | None] = (0, None)
        self.parked: tuple[int, float | None] = (0, None)
        self.lag: dict[str, int] = {}
        self.registry.register(_RuntimeCollector(self))

    def batch_observer(self, topic: str) -> Callable[[float, bool], None]:
        """The ``on_batch`` hook of a topic's processor."""
        ok = self.batch_seconds.labels(self.service, topic, "committed")
        failed = self.batch_seconds.labels(self.service, topic, "failed")

        def observe(seconds: float, committed: bool) -> None:
            (ok if committed else failed).observe(seconds)

        return observe

    async def refresh(self) -> None:
        """Read what only the database and the broker clients know (best effort: a failing
        source leaves its last value rather than failing the scrape)."""
        with contextlib.suppress(Exception):
            self.outbox = await outbox_state(self.runtime)
        with contextlib.suppress(Exception):
            self.parked = await parking_state(self.runtime)
        with contextlib.suppress(Exception):
            self.lag = await consumer_lag(getattr(self.runtime, "subscribers", {}))

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)


async def consumer_lag(subscribers: dict[str, Any], *, timeout_s: float = 1.0) -> dict[str, int]:
    """Per topic, the records between this instance's positions and the partitions' high
    watermarks, from the running consumer's own state (no request to the broker beyond what a
    position lookup may need; all lookups together bounded by ``timeout_s``). Topics whose
    consumer is not running or knows no high watermark yet are left out rather than reported
    as 0."""
    out: dict[str, int] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await _lag_into(subscribers, out)
    return out


async def _lag_into(subscribers: dict[str, Any], out: dict[str, int]) -> None:
    for topic, sub in subscribers.items():
        consumer = getattr(sub, "consumer", None)
        if consumer is None:
            continue
        total, known = 0, False
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                pos = await consumer.position(tp)
            except Exception:  # noqa: BLE001 - an unknown position is no lag figure
                continue
            total += max(0, high - pos)
            known = True
        if known:
            out[topic] = total
