"""Session fixtures for real infrastructure: an Apache Kafka broker and a PostgreSQL server.

Load with ``pytest_plugins = ["tests.fixtures_infra"]`` (or ``-p tests.fixtures_infra``).

- ``kafka``: the broker at ``$ANTT_TEST_KAFKA_BOOTSTRAP`` if set, otherwise a fresh local broker
  (:class:`deploy.localkafka.LocalKafka`) for the session. The project topics are created in
  both cases. Exposes ``.bootstrap``.
- ``postgres``: the server at ``$ANTT_TEST_PG`` (a DSN without a database, e.g.
  ``postgresql://postgres:secret@127.0.0.1:5432``) if set, otherwise a fresh local server
  (:class:`deploy.localpg.LocalPostgres`). Exposes ``.dsn(dbname, driver="asyncpg")`` and
  ``.create_database(name)``.

The fixtures are synchronous, so they work with any event loop scope of the tests using them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import pytest

from deploy.localkafka import PROJECT_TOPICS, LocalKafka, create_topics
from deploy.localpg import LocalPostgres

KAFKA_ENV = "ANTT_TEST_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "ANTT_TEST_PG"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``integration`` marker used by tests that need real infrastructure."""
    config.addinivalue_line("markers", "integration: needs real infrastructure (Apache Kafka, PostgreSQL)")


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a private event loop, leaving the thread's current loop untouched."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(coro)


# --------------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class KafkaEndpoint:
    """Where the test broker is."""

    bootstrap: str


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEndpoint]:
    """A real Kafka broker with the project topics, shared by the whole session."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        _run(create_topics(external, PROJECT_TOPICS))
        yield KafkaEndpoint(external)
        return

    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        _run(create_topics(broker.bootstrap, PROJECT_TOPICS))
        yield KafkaEndpoint(broker.bootstrap)
    finally:
        broker.stop()


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer(Protocol):
    """What tests get from the ``postgres`` fixture."""

    def dsn(self, dbname: str = "postgres", driver: str | None = "asyncpg") -> str:
        """URL of ``dbname``; ``driver=None`` gives a plain libpq URL."""
        ...

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        ...


class ExternalPostgres:
    """A PostgreSQL server reached through a base DSN (credentials, host, port; no database)."""

    def __init__(self, base_dsn: str) -> None:
        parts = urlsplit(base_dsn)
        if not parts.netloc:
            raise ValueError(f"{POSTGRES_ENV} must look like postgresql://user:pass@host:port")
        self._netloc = parts.netloc
        self._query = f"?{parts.query}" if parts.query else ""
        self._admin_db = parts.path.strip("/") or "postgres"

    def dsn(self, dbname: str = "postgres", driver: str | None = "asyncpg") -> str:
        """URL of ``dbname`` on this server; ``driver=None`` gives a plain libpq URL."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self._netloc}/{quote(dbname, safe='')}{self._query}"

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        import psycopg
        from psycopg import errors, sql

        with psycopg.connect(self.dsn(self._admin_db, driver=None), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                with contextlib.suppress(errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def fresh_pg_engine(postgres: PostgresServer, prefix: str, metadata: Any) -> Iterator[Any]:
    """A synchronous engine (psycopg) on a new database of ``postgres`` with ``metadata``'s
    tables, disposed of afterwards."""
    from uuid import uuid4

    from shared.infra.db import create_sync_engine

    name = f"{prefix}_{uuid4().hex[:8]}"
    postgres.create_database(name)
    engine = create_sync_engine(postgres.dsn(name))
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server, shared by the whole session."""
    external = os.environ.get(POSTGRES_ENV)
    if external:
        yield ExternalPostgres(external)
        return

    # As root the server runs as the `postgres` OS user, which cannot enter pytest's private
    # temporary root; use a world-traversable temporary folder instead.
    private_tmp = os.geteuid() == 0
    if private_tmp:
        data_dir = Path(tempfile.mkdtemp(prefix="antt-pg-"))
    else:
        data_dir = tmp_path_factory.mktemp("postgres")
    server = LocalPostgres(data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if private_tmp:
            shutil.rmtree(data_dir, ignore_errors=True)
