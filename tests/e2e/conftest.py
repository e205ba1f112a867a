"""End-to-end fixtures: a real Kafka broker and the three services as separate processes,
on SQLite files or on PostgreSQL (one database per service)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.localkafka import PROJECT_TOPICS, LocalKafka, create_topics
from deploy.ports import free_port
from deploy.processes import SERVICES, ServiceProcess, make_services

TOKEN = {"Authorization": "Bearer dev-admin-token"}


@dataclass
class System:
    kafka: LocalKafka
    services: dict[str, ServiceProcess]
    backend: str
    workdir: Path

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def url(self, name: str) -> str:
        return self.services[name].url

    def get(self, name: str, path: str) -> httpx.Response:
        return httpx.get(self.url(name) + path, headers=TOKEN, timeout=10)

    def post(self, name: str, path: str, json: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url(name) + path, json=json, headers=TOKEN if headers is None else headers, timeout=10)

    def restart(self, name: str) -> None:
        svc = self.services[name]
        svc.stop()
        svc.start()
        svc.wait_ready(timeout=90)

    def kill_and_restart(self, name: str) -> None:
        svc = self.services[name]
        svc.kill()
        svc.start()
        svc.wait_ready(timeout=90)


def _start_system(
    backend: str, postgres: Any, extra: dict[str, str] | None = None, *, kafka_version: str | None = None
) -> Iterator[System]:
    """``extra``: more environment for every service (``FIELD`` gets each service's prefix);
    ``kafka_version``: the broker's (default ``ANTT_KAFKA_VERSION`` or 3.9.1)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"antt-e2e-{backend}-"))
    kafka = LocalKafka(workdir / "kafka", version=kafka_version)
    kafka.start()
    services: dict[str, ServiceProcess] = {}
    try:
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        if backend == "postgres":
            suffix = uuid.uuid4().hex[:8]
            urls: dict[str, str | None] = {}
            for name in SERVICES:
                db = f"e2e_{name}_{suffix}"
                postgres.create_database(db)
                urls[name] = postgres.dsn(db)
        else:
            urls = {name: f"sqlite+aiosqlite:///{workdir / (name + '.db')}" for name in SERVICES}
        ports = {name: free_port() for name in SERVICES}
        services = make_services(
            kafka_bootstrap=kafka.bootstrap,
            database_urls=urls,
            ports=ports,
            log_dir=workdir / "logs",
            extra={"ANTT_REGISTRATION_LOG_LEVEL": "INFO", **(extra or {})},
        )
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready(timeout=120)
        yield System(kafka=kafka, services=services, backend=backend, workdir=workdir)
    finally:
        for svc in services.values():
            svc.stop()
        kafka.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    """The whole system, once per backend for the module."""
    pg = request.getfixturevalue("postgres") if request.param == "postgres" else None
    yield from _start_system(request.param, pg)


@pytest.fixture(scope="module")
def sqlite_system() -> Iterator[System]:
    yield from _start_system("sqlite", None)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"
