"""Write synthetic events to a service's outbox through a real unit of work, as the write path
does (for the relay's tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shared.infra.db import create_sync_engine, sync_session_factory
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
                    uow.append("Tested", {"i": i}, CAUSE, unit_year_id=f"U{i % streams}:2025")["event_id"] for i in range(first, first + n)
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
