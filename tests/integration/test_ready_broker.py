"""``/ready`` follows the broker: 503 ``broker_unreachable`` once a real broker is killed, 200
again once it is back. The runtime runs in this process (relay, consumers) against a broker of
its own, since the test kills it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter

from deploy.localkafka import PROJECT_TOPICS, LocalKafka, create_topics
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.infra.http import service_app
from tests.unit.builders import senders_json


async def _wait_for(client: httpx.AsyncClient, status: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = await client.get("/ready")
        if last.status_code == status:
            return last.json()
        await asyncio.sleep(0.5)
    raise AssertionError(f"/ready did not turn {status} in {timeout} s: {None if last is None else last.text}")


async def test_ready_turns_503_when_the_broker_dies_and_200_when_it_is_back(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path / "kafka")
    await asyncio.to_thread(kafka.start)
    rt = None
    try:
        await create_topics(kafka.bootstrap, PROJECT_TOPICS)
        senders = tmp_path / "senders.json"
        senders.write_text(senders_json(), encoding="utf-8")
        settings = RegistrationSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'registration.db'}",
            senders_file=senders,
            api_tokens_file=tmp_path / "no-tokens.json",
            kafka_bootstrap=kafka.bootstrap,
            keys_dir=tmp_path / "keys",
            ready_broker_timeout_s=1.0,
            ready_broker_cache_s=1.0,
        )
        rt = registration_app.create_runtime(settings)
        app = service_app(rt, title="t", description="t", build_router=lambda _rt, _actor: APIRouter())
        await rt.start()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=10) as client:
            body = await _wait_for(client, 200, 60)
            assert body["status"] == "ready" and body["reasons"] == []
            lag_line = 'antt_consumer_lag{service="registration",topic="antt.inbound.v1"} 0.0'
            for _ in range(40):  # known once the consumer has fetched (high watermarks) at least once
                metrics = (await client.get("/metrics")).text
                if lag_line in metrics:
                    break
                await asyncio.sleep(0.25)
            assert lag_line in metrics

            await asyncio.to_thread(kafka.kill)
            started = time.monotonic()
            body = await _wait_for(client, 503, 15)
            assert "broker_unreachable" in body["reasons"] and body["status"] == "not_ready"
            assert time.monotonic() - started < 15

            await asyncio.to_thread(kafka.start)
            body = await _wait_for(client, 200, 90)
            assert body["reasons"] == []
    finally:
        if rt is not None:
            await rt.stop()
        await asyncio.to_thread(kafka.stop)
