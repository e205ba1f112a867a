"""A service started on a project topic that would delete records (the broker's 7-day default)
logs an error and refuses to run, unless its operator explicitly allows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from deploy.ports import free_port
from deploy.processes import make_services
from shared.contracts import topics
from tests.fixtures_infra import KafkaEndpoint

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WEEK_MS = str(7 * 24 * 3600 * 1000)


async def _set_retention(bootstrap: str, topic: str, retention_ms: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {**topics.topic_config(1), "retention.ms": retention_ms}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, config)])
    finally:
        await admin.close()


async def test_a_service_refuses_to_run_on_finite_retention(kafka: KafkaEndpoint, tmp_path: Path) -> None:
    await _set_retention(kafka.bootstrap, topics.ASSESSMENT_EVENTS, WEEK_MS)
    try:
        for allow in (False, True):
            work = tmp_path / f"allow-{allow}"
            svc = make_services(
                kafka_bootstrap=kafka.bootstrap,
                database_urls={"approval": f"sqlite+aiosqlite:///{work / 'approval.db'}"},
                ports={"registration": free_port(), "assessment": free_port(), "approval": free_port()},
                log_dir=work / "logs",
                extra={"ALLOW_FINITE_RETENTION": str(allow).lower()},
            )["approval"]
            svc.start()
            try:
                if allow:
                    svc.wait_ready(timeout=90)
                    assert "topics.finite_retention" in svc.log_path.read_text()
                else:
                    with pytest.raises(RuntimeError, match="exited"):
                        svc.wait_ready(timeout=90)
                    log = svc.log_path.read_text()
                    assert "topics.finite_retention" in log
                    assert f"{topics.ASSESSMENT_EVENTS}: retention.ms={WEEK_MS}" in log
            finally:
                svc.stop()
    finally:
        await _set_retention(kafka.bootstrap, topics.ASSESSMENT_EVENTS, "-1")
