"""A stream of unit-years through a fault, and what must hold afterwards: shared by the SIGKILL
tests of the services and of the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from deploy.client import AnttClient
from deploy.driver import LifecycleDriver, Plan, audit_topics
from tests.e2e.conftest import System


def mixed_plans(tag: str, n: int) -> list[Plan]:
    """Residential areas decided at commune level and agencies at province level."""
    return [
        Plan(
            code=f"{tag}-{i:04d}",
            kind="residential_area" if i % 3 else "agency",
            managing_level="commune" if i % 3 else "province",
        )
        for i in range(n)
    ]


async def stream_through(
    system: System, plans: list[Plan], fault: Callable[[], Awaitable[None]], *, start_within: float, finish_within: float
) -> LifecycleDriver:
    """Drive ``plans`` to recognition, with ``fault`` injected once the stream is well under way
    (some unit-years done, many in flight)."""
    client = AnttClient(system.bootstrap)
    driver = LifecycleDriver(client)
    client.on_event = driver.on_event
    await client.start()
    pump = asyncio.create_task(driver.pump())
    try:
        # 40 unit-years in flight at any time, each recognition admitting the next: many are in
        # flight at the fault however fast the services are. (A burst followed by a paced
        # stream was drained by the time the first recognitions, which come in batches, were
        # seen: 33 of a burst of 40 were already recognised.)
        driver.feed(plans, inflight=40)
        deadline = time.monotonic() + start_within
        while len(driver.recognized) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        in_flight = len(driver.started) - len(driver.recognized)
        assert len(driver.recognized) >= 5, "the stream did not get going"
        assert in_flight >= 10, f"only {in_flight} unit-years in flight at the fault"
        assert driver.backlog, "every unit-year was admitted before the fault"
        await fault()
        await asyncio.wait_for(driver.done.wait(), timeout=finish_within)
    finally:
        pump.cancel()
        await client.stop()
    return driver


async def assert_nothing_lost_or_twice(system: System, plans: list[Plan], driver: LifecycleDriver, *, samples: int) -> None:
    """Every unit-year recognised once; replaying the topics shows no event lost or emitted
    twice (by event_id, by sequence and by the hash chain), no dead letter; the approval view
    agrees on a sample."""
    assert set(driver.recognized) == {p.unit_year_id for p in plans}
    audit = await audit_topics(system.bootstrap)
    assert audit.duplicates == [], f"events emitted twice: {audit.duplicates[:5]}"
    assert audit.chain_breaks == [], audit.chain_breaks[:5]
    for p in plans:
        assert audit.recognized_per_unit_year[p.unit_year_id] == 1, p.unit_year_id
    assert audit.dead_letters == [], audit.dead_letters[:3]
    for p in plans[:: len(plans) // samples]:
        view = system.get("approval", f"/unit-years/{p.unit_year_id}").json()
        assert view["state"] == "recognized"
