"""What ``/ready`` checks: whether this instance is doing its work, not only whether it runs.

A process whose database answers can still be useless: the broker is gone (nothing is read or
published), the relay fails on every pass (events pile up in the outbox), or a consumer
re-reads the same batch forever. Each of these is a reason, and any reason makes ``/ready``
answer 503, so a load balancer or an orchestrator stops sending work to the instance and an
operator sees why. The bounds are settings (``ready_*``) because what counts as "too long"
depends on the deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka.client import AIOKafkaClient

from shared.infra.metrics import consumer_lag, outbox_state
from shared.infra.observed import ObservedRuntime
from shared.infra.parking import parking_state


class BrokerProbe:
    """Whether the broker answers a metadata request, asked at most every ``cache_s`` seconds.

    A fresh client per probe (bootstrap = one connection and one metadata request, bounded by
    ``timeout_s``) is closed at once: it shares no state with the producer and consumers, so it
    neither disturbs them nor keeps a connection that a restarted broker would leave dangling.
    """

    def __init__(self, bootstrap: str, *, timeout_s: float = 2.0, cache_s: float = 3.0) -> None:
        self._bootstrap = bootstrap
        self._timeout = timeout_s
        self._cache = cache_s
        self._checked_at: float | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> str | None:
        """``None`` if the broker answered, else why not."""
        async with self._lock:  # concurrent /ready calls share one probe
            now = time.monotonic()
            if self._checked_at is not None and now - self._checked_at < self._cache:
                return self._error
            self._error = await self._probe()
            self._checked_at = time.monotonic()
            return self._error

    async def _probe(self) -> str | None:
        client = AIOKafkaClient(
            bootstrap_servers=self._bootstrap,
            request_timeout_ms=max(1, int(self._timeout * 1000)),
            client_id="antt-ready-probe",
        )
        try:
            await asyncio.wait_for(client.bootstrap(), timeout=self._timeout)
            return None
        except Exception as exc:  # noqa: BLE001 - the answer, not a failure of /ready
            return f"no broker of {self._bootstrap} answered within {self._timeout:g} s: {type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(Exception):  # nothing to release beyond the sockets
                await asyncio.wait_for(client.close(), timeout=self._timeout)


@dataclass
class Readiness:
    """The verdict: ready when ``reasons`` is empty; ``problems`` explains each reason."""

    reasons: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, code: str, problem: str) -> None:
        if code not in self.reasons:
            self.reasons.append(code)
            self.problems[code] = problem
        else:
            self.problems[code] += f"; {problem}"


async def assess(runtime: ObservedRuntime, probe: BrokerProbe) -> Readiness:
    """Check the broker, the relay, the outbox and the consumers of ``runtime``.

    The database is checked by the caller (a database that does not answer leaves nothing else
    to check). Attributes the relay may not have (``failing_since``, ``parked``) are read with
    defaults, so the checks work with any relay that keeps them.
    """
    settings = runtime.settings
    out = Readiness()
    now = time.monotonic()

    broker_error = await probe.check()
    if broker_error is not None:
        out.add("broker_unreachable", broker_error)

    relay = runtime.relay
    since = getattr(relay, "failing_since", None)
    if since is not None:
        failing_for = now - since
        out.details["relay_failing_s"] = round(failing_for, 1)
        if failing_for > settings.ready_relay_failure_s:
            out.add(
                "relay_failing", f"the relay has failed for {failing_for:.0f} s (bound: {settings.ready_relay_failure_s:g} s)"
            )

    pending, oldest_age = await outbox_state(runtime)
    out.details["outbox_pending"] = pending
    out.details["outbox_oldest_age_s"] = None if oldest_age is None else round(oldest_age, 1)
    parked, parked_age = await parking_state(runtime)
    out.details["parked_messages"] = parked
    out.details["parked_oldest_age_s"] = None if parked_age is None else round(parked_age, 1)
    if oldest_age is not None and oldest_age > settings.ready_outbox_age_s:
        out.add(
            "outbox_stale",
            f"the oldest of {pending} unpublished outbox rows is {oldest_age:.0f} s old (bound: {settings.ready_outbox_age_s:g} s)",
        )

    try:
        lag = await consumer_lag(getattr(runtime, "subscribers", {}))
    except Exception:  # noqa: BLE001 - lag is a refinement; the failure streak still counts
        lag = {}
    bound = settings.ready_consumer_failure_s
    for topic, proc in runtime.processors.items():
        failing = getattr(proc, "failing_since", None)
        if failing is not None and now - failing > bound:
            out.add(
                "consumer_stuck",
                f"{topic}: {getattr(proc, 'consecutive_failures', '?')} batches in a row failed over {now - failing:.0f} s (bound: {bound:g} s)",
            )
            continue
        behind = lag.get(topic, 0)
        progress = getattr(proc, "last_success_at", None) or getattr(proc, "created_at", None)
        if behind > 0 and progress is not None and now - progress > bound:
            out.add(
                "consumer_stuck",
                f"{topic}: {behind} records behind and no batch committed for {now - progress:.0f} s (bound: {bound:g} s)",
            )
    if lag:
        out.details["consumer_lag"] = lag
    return out
