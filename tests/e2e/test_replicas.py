"""Two replicas of every service in one consumer group, on PostgreSQL: the partitions are
shared, one relay per service publishes, and the result is the same as with one replica."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from deploy.client import AnttClient
from deploy.driver import LifecycleDriver, Plan, audit_topics
from deploy.ports import free_port
from deploy.processes import SERVICES, ServiceProcess, service_env
from tests.e2e.conftest import System, _start_system, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def replicated(postgres) -> Iterator[tuple[System, dict[str, ServiceProcess]]]:  # type: ignore[no-untyped-def]
    for system in _start_system("postgres", postgres):
        extra: dict[str, ServiceProcess] = {}
        try:
            for name in SERVICES:
                first = system.services[name]
                port = free_port()
                env = dict(first.env)
                env.update(service_env(name, kafka_bootstrap=system.bootstrap, database_url=None, port=port))
                env[f"ANTT_{name.upper()}_DATABASE_URL"] = first.env[f"ANTT_{name.upper()}_DATABASE_URL"]
                extra[name] = ServiceProcess(name=name, port=port, env=env, log_path=system.workdir / "logs" / f"{name}-2.log")
                extra[name].start()
            for svc in extra.values():
                svc.wait_ready(timeout=120)
            yield system, extra
        finally:
            for svc in extra.values():
                svc.stop()


async def test_two_replicas_of_each_service(replicated) -> None:  # type: ignore[no-untyped-def]
    system, extra = replicated
    tag = unique("REP")
    plans = [Plan(code=f"{tag}-{i:03d}", kind="residential_area") for i in range(120)]
    client = AnttClient(system.bootstrap)
    driver = LifecycleDriver(client)
    client.on_event = driver.on_event
    await client.start()
    pump = asyncio.create_task(driver.pump())
    try:
        await driver.register(plans)
        await asyncio.wait_for(driver.done.wait(), timeout=240)
    finally:
        pump.cancel()
        await client.stop()

    audit = await audit_topics(system.bootstrap)
    assert audit.duplicates == [] and audit.chain_breaks == [] and audit.dead_letters == []
    assert all(audit.recognized_per_unit_year[p.unit_year_id] == 1 for p in plans)
    # both replicas of each service took part in consuming
    for name in SERVICES:
        stats = [httpx.get(svc.url + "/ready", timeout=5).json() for svc in (system.services[name], extra[name])]
        applied = [sum(c["applied"] for c in s["consumers"].values()) for s in stats]
        assert all(a > 0 for a in applied), (name, applied)
        assert sum(1 for s in stats if s["relay_leader"]) == 1, (name, stats)
