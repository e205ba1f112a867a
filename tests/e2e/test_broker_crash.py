"""Kill the Kafka broker itself with SIGKILL in the middle of a stream of unit-years and start
it again: afterwards every unit-year is in its expected state and the replayed history holds
(no event lost, none twice, every chain whole, every recognition once), as the auditors' tool
confirms."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import System, unique
from tests.e2e.faults import assert_nothing_lost_or_twice, mixed_plans, stream_through
from tests.e2e.test_audit import audit as run_audit_tool

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

N = 120


async def test_broker_sigkill_mid_stream_loses_and_duplicates_nothing(sqlite_system: System) -> None:
    system = sqlite_system
    plans = mixed_plans(unique("BRK"), N)

    async def kill_and_restart_the_broker() -> None:
        system.kafka.kill()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(system.kafka.start)

    driver = await stream_through(system, plans, kill_and_restart_the_broker, start_within=90, finish_within=300)
    await assert_nothing_lost_or_twice(system, plans, driver, samples=12)
    for name, svc in system.services.items():
        assert svc.running(), f"{name} died with the broker:\n{svc.tail()}"
    # and the auditors' tool finds the whole history intact, signed checkpoints included
    verified = run_audit_tool("verify", "--bootstrap", system.bootstrap, "--keys", str(system.workdir / "keys"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checkpoints" in verified.stdout
