"""The HTTP surface of a service when things go wrong: every error is JSON with a reason, a
held database lock is a quick 503 with ``Retry-After``, ``/ready`` names why it is not ready,
and ``/metrics`` shows what the consumers and the relay did.

The runtime is the registration service's, on a temporary SQLite file, never started (no
lifespan under ``ASGITransport``); its broker address is a closed port."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from shared.infra.consumer import Received
from shared.infra.http import service_app
from shared.infra.migrate import upgrade_head_async
from shared.infra.runtime import ServiceRuntime
from tests.unit.builders import senders_json


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def extra_routes(runtime: Any, _actor: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    @router.post("/write")
    async def write() -> dict[str, int]:
        return {"one": await runtime.transaction(lambda uow: uow.session.execute(text("select 1")).scalar_one())}

    @router.get("/read")
    async def read() -> dict[str, int]:
        return {"one": await runtime.read(lambda s: s.execute(text("select 1")).scalar_one())}

    return router


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient, Path]]:
    senders = tmp_path / "senders.json"
    senders.write_text(senders_json(), encoding="utf-8")
    db = tmp_path / "service.db"
    url = f"sqlite+aiosqlite:///{db}"
    settings = RegistrationSettings(
        database_url=url,
        senders_file=senders,
        api_tokens_file=tmp_path / "no-tokens.json",
        kafka_bootstrap=f"127.0.0.1:{closed_port()}",
        ready_broker_timeout_s=1.0,
        ready_broker_cache_s=0.0,
    )
    rt = registration_app.create_runtime(settings)
    await upgrade_head_async(rt.migrations, url)
    app = service_app(rt, title="t", description="t", build_router=extra_routes)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield rt, client, db
    finally:
        await rt.engine.dispose()
        rt.sync_engine.dispose()
        rt.http_engine.dispose()


async def test_unknown_route_and_wrong_method_are_json(service: Any) -> None:
    _rt, client, _db = service
    r = await client.get("/no/such/thing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error_code"] == "not_found" and "/no/such/thing" in r.json()["reason"]
    r = await client.delete("/health")
    assert r.status_code == 405 and r.json()["error_code"] == "method_not_allowed" and r.json()["reason"]
    assert "allow" in {k.lower() for k in r.headers}


async def test_an_unexpected_exception_is_a_500_without_traceback(service: Any) -> None:
    _rt, client, _db = service
    r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error_code": "internal_error", "reason": "an unexpected error occurred; it has been logged"}
    assert "secret" not in r.text and "Traceback" not in r.text


async def test_a_held_sqlite_lock_is_a_quick_503_with_retry_after(service: Any) -> None:
    rt, client, db = service
    assert rt.settings.http_db_busy_timeout_s == 2.0
    assert (await client.post("/write")).json() == {"one": 1}
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        for method, path in (("POST", "/write"), ("GET", "/read")):
            started = time.monotonic()
            r = await client.request(method, path)
            elapsed = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            assert r.json()["error_code"] == "database_busy" and r.json()["reason"]
            assert 1.5 <= elapsed < 6, elapsed
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await client.post("/write")).json() == {"one": 1}


async def test_ready_is_503_with_reasons(service: Any) -> None:
    rt, client, _db = service
    r = await client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready" and body["reasons"] == ["broker_unreachable"]
    assert rt.settings.kafka_bootstrap in body["problems"]["broker_unreachable"]
    assert body["outbox_pending"] == 0 and "consumers" in body and body["relay_alarms"] == []

    # the relay has failed for longer than the bound (the relay keeps ``failing_since``)
    rt.relay.failing_since = time.monotonic() - rt.settings.ready_relay_failure_s - 5  # type: ignore[attr-defined]
    # an outbox row older than the bound
    old = datetime.now(UTC) - timedelta(seconds=rt.settings.ready_outbox_age_s + 30)
    async with rt.sessions() as s, s.begin():
        await s.execute(
            rt.infra.outbox.insert().values(
                event_id="e-old", topic=topics.REGISTRATION_EVENTS, key="k", value=b"{}", headers="{}", created_at=old
            )
        )
    # a consumer whose batches fail for longer than the bound
    proc = rt.processors[topics.INBOUND]
    proc.failing_since = time.monotonic() - rt.settings.ready_consumer_failure_s - 1
    proc.consecutive_failures = 40
    body = (await client.get("/ready")).json()
    assert set(body["reasons"]) == {"broker_unreachable", "relay_failing", "outbox_stale", "consumer_stuck"}
    assert body["outbox_pending"] == 1 and body["outbox_oldest_age_s"] >= rt.settings.ready_outbox_age_s
    assert topics.INBOUND in body["problems"]["consumer_stuck"]

    # within the bounds the same states are no reason
    rt.relay.failing_since = time.monotonic() - 1  # type: ignore[attr-defined]
    proc.failing_since = None
    async with rt.sessions() as s, s.begin():
        await s.execute(rt.infra.outbox.update().values(created_at=datetime.now(UTC)))
    assert (await client.get("/ready")).json()["reasons"] == ["broker_unreachable"]


async def test_ready_without_a_database_is_503(service: Any, tmp_path: Path) -> None:
    rt, client, db = service
    await rt.engine.dispose()
    db.unlink()
    (tmp_path / "service.db").mkdir()  # a directory where the file was: nothing can open it
    r = await client.get("/ready")
    assert r.status_code == 503 and r.json()["reasons"] == ["database_unavailable"]


async def test_metrics_show_consumers_outbox_and_relay(service: Any) -> None:
    rt, client, _db = service
    proc = rt.processors[topics.INBOUND]
    await proc.process([Received(topics.INBOUND, 0, 7, None, b"not json")])  # the gatekeeper dead-letters it
    rt.relay.published = 3
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = r.text
    svc = rt.settings.service_name
    assert f'antt_consumer_records_total{{outcome="rejected",service="{svc}",topic="{topics.INBOUND}"}} 1.0' in m
    assert f'antt_consumer_dead_letters_total{{code="bad_json",service="{svc}",topic="{topics.INBOUND}"}} 1.0' in m
    assert f'antt_consumer_batch_duration_seconds_count{{result="committed",service="{svc}",topic="{topics.INBOUND}"}} 1.0' in m
    assert "antt_outbox_depth 1.0" in m  # the dead letter waits for the relay
    assert "antt_outbox_oldest_age_seconds" in m
    assert "antt_relay_published_total 3.0" in m
    for name in ("antt_relay_errors_total", "antt_relay_parked", "antt_checkpoint_sequence", "antt_relay_failing_seconds"):
        assert name in m


def test_each_runtime_has_its_own_registry(tmp_path: Path) -> None:
    """Many runtimes in one process must not collide in a global registry."""
    a = registration_app.create_runtime(RegistrationSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db"))
    b = registration_app.create_runtime(RegistrationSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db"))
    assert a.metrics.registry is not b.metrics.registry
