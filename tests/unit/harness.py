"""A service runtime on a temporary SQLite database, fed through faststream's in-memory broker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faststream.kafka import TestKafkaBroker
from sqlalchemy import Table, func, select

from shared.infra.migrate import upgrade_head_async
from shared.infra.runtime import ServiceRuntime
from shared.infra.settings import ServiceSettings
from tests.unit.builders import senders_json, to_bytes


@dataclass
class Service:
    rt: ServiceRuntime
    br: Any  # the patched broker inside TestKafkaBroker

    async def publish(
        self,
        value: bytes | dict[str, Any],
        topic: str,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = value if isinstance(value, bytes) else to_bytes(value)
        if key is None and isinstance(value, dict):
            k = value.get("unit_year_id") or value.get("stream_id")
            key = k.encode() if isinstance(k, str) else None
        await self.br.publish(raw, topic, key=key, partition=partition, headers=headers)

    async def publish_event(self, env: dict[str, Any], topic: str, *, partition: int | None = None) -> None:
        """Publish an envelope as the relay does: keyed by unit-year, with the event_type header."""
        await self.publish(
            env, topic, partition=partition, headers={"event_type": env["event_type"], "event_id": env["event_id"]}
        )

    async def rows(self, table: Table, *, order_by: Any = None) -> list[dict[str, Any]]:
        q = select(table)
        if order_by is not None:
            q = q.order_by(order_by)
        else:
            q = q.order_by(*table.primary_key.columns)
        async with self.rt.sessions() as s:
            return [dict(r._mapping) for r in await s.execute(q)]

    async def count(self, table: Table) -> int:
        async with self.rt.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(table))).scalar_one())

    async def outbox(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows in publication order, with ``value`` and ``headers`` decoded."""
        rows = await self.rows(self.rt.infra.outbox, order_by=self.rt.infra.outbox.c.id)
        out = []
        for r in rows:
            if topic is not None and r["topic"] != topic:
                continue
            out.append({**r, "value": json.loads(r["value"]), "headers": json.loads(r["headers"])})
        return out

    async def events(self, topic: str) -> list[dict[str, Any]]:
        """The envelopes this service has queued on ``topic``."""
        return [r["value"] for r in await self.outbox(topic)]

    async def inbox(self) -> dict[str, dict[str, Any]]:
        return {r["message_id"]: r for r in await self.rows(self.rt.infra.inbox)}

    def stats(self, topic: str) -> dict[str, int]:
        return self.rt.processors[topic].stats


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    create_runtime: Callable[[Any], ServiceRuntime],
    settings_cls: type[ServiceSettings],
    migrations: Path,
) -> AsyncIterator[Service]:
    senders = tmp_path / "senders.json"
    senders.write_text(senders_json(), encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path}/service.db"
    settings = settings_cls(
        database_url=url,
        senders_file=senders,
        api_tokens_file=tmp_path / "no-tokens.json",
        consumer_max_attempts=2,  # keeps the poison-message retries short
    )
    rt = create_runtime(settings)
    await upgrade_head_async(migrations, url)
    try:
        async with TestKafkaBroker(rt.broker) as br:
            yield Service(rt, br)
    finally:
        await rt.engine.dispose()
