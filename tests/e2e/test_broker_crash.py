"""Kill the Kafka broker itself with SIGKILL in the middle of a stream of unit-years and start
it again: afterwards every unit-year is in its expected state and the replayed history holds
(no event lost, none twice, every chain whole, every recognition once)."""

from __future__ import annotations

import asyncio
import time

import pytest

from deploy.client import AnttClient
from deploy.driver import LifecycleDriver, Plan, audit_topics
from tests.e2e.conftest import System, unique
from tests.e2e.test_audit import audit as run_audit_tool

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

N = 120


async def test_broker_sigkill_mid_stream_loses_and_duplicates_nothing(sqlite_system: System) -> None:
    system = sqlite_system
    tag = unique("BRK")
    plans = [
        Plan(code=f"{tag}-{i:04d}", kind="residential_area" if i % 3 else "agency", managing_level="commune" if i % 3 else "province")
        for i in range(N)
    ]
    client = AnttClient(system.bootstrap)
    driver = LifecycleDriver(client)
    client.on_event = driver.on_event
    await client.start()
    pump = asyncio.create_task(driver.pump())
    try:
        await driver.register(plans[:40])
        feeding = asyncio.create_task(driver.register(plans[40:], pace=0.05))
        deadline = time.monotonic() + 90
        while len(driver.recognized) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        in_flight = len(driver.started) - len(driver.recognized)
        assert len(driver.recognized) >= 5, "the stream did not get going"
        assert in_flight >= 10, f"only {in_flight} unit-years in flight at the kill"
        system.kafka.kill()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(system.kafka.start)
        await feeding
        await asyncio.wait_for(driver.done.wait(), timeout=300)
    finally:
        pump.cancel()
        await client.stop()

    assert set(driver.recognized) == {p.unit_year_id for p in plans}
    audit = await audit_topics(system.bootstrap)
    assert audit.duplicates == [], f"events emitted twice: {audit.duplicates[:5]}"
    assert audit.chain_breaks == [], audit.chain_breaks[:5]
    for p in plans:
        assert audit.recognized_per_unit_year[p.unit_year_id] == 1, p.unit_year_id
    assert audit.dead_letters == [], audit.dead_letters[:3]
    for p in plans[:: N // 12]:
        view = system.get("approval", f"/unit-years/{p.unit_year_id}").json()
        assert view["state"] == "recognized"
    for name, svc in system.services.items():
        assert svc.running(), f"{name} died with the broker:\n{svc.tail()}"
    # and the auditors' tool finds the whole history intact, signed checkpoints included
    verified = run_audit_tool("verify", "--bootstrap", system.bootstrap, "--keys", str(system.workdir / "keys"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checkpoints" in verified.stdout
