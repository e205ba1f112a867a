"""The infrastructure tables on a fresh database, and synthetic events written to the outbox
through a real unit of work, as the write path does (for the runtime's and the relay's tests)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.db import create_engine, create_sync_engine, sync_session_factory
from shared.infra.tables import InfraTables
from shared.infra.uow import Cause, UnitOfWork

CAUSE = Cause(actor={"id": "t", "role": "test", "jurisdiction": "*"}, correlation_id="c", causation_id=None)


async def write_events(url: str, infra: InfraTables, topic: str, n: int, *, first: int = 0, streams: int = 12) -> list[str]:
    """``n`` events of type ``Tested`` on ``streams`` unit-years, committed in one transaction."""

    def write() -> list[str]:
        engine = create_sync_engine(url)
        try:
            with UnitOfWork(sync_session_factory(engine)(), infra, producer="test", topic=topic) as uow:
                ids = [
                    uow.append("Tested", {"i": i}, CAUSE, unit_year_id=f"U{i % streams}:2025")["event_id"]
                    for i in range(first, first + n)
                ]
                uow.commit()
            return ids
        finally:
            engine.dispose()

    return await asyncio.to_thread(write)


def unit_of_work_factory(url: str, infra: InfraTables, *, topic: str | None = None) -> Callable[[], UnitOfWork]:
    """What a service's runtime gives its consumers: a new unit of work on ``url`` per call."""
    sessions = sync_session_factory(create_sync_engine(url))
    return lambda: UnitOfWork(sessions(), infra, producer="test", topic=topic)


@contextlib.asynccontextmanager
async def infra_database(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, *, on_sqlite_engine: Callable[[AsyncEngine], None] | None = None
) -> AsyncIterator[tuple[str, AsyncEngine, InfraTables, Path | None]]:
    """A fresh database with the infrastructure tables, on SQLite or PostgreSQL as the
    fixture's ``request.param`` says: ``(url, async engine, tables, sqlite file or None)``."""
    path: Path | None = None
    if request.param == "sqlite":
        path = tmp_path / f"{name}.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        pg = request.getfixturevalue("postgres")
        db_name = f"{name}_{uuid.uuid4().hex[:8]}"
        pg.create_database(db_name)
        url = pg.dsn(db_name)
    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_engine(url)
    if path is not None and on_sqlite_engine is not None:
        on_sqlite_engine(engine)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield url, engine, infra, path
    finally:
        await engine.dispose()
