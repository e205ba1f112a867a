"""Composition helpers: one object that owns a service's engine, broker and relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from sqlalchemy.orm import Session

from shared.contracts import topics
from shared.contracts.services import BY_NAME
from shared.infra.consumer import BatchProcessor, MessageHandler, subscribe
from shared.infra.db import create_engine, create_sync_engine, read_only_engine, session_factory, sync_session_factory
from shared.infra.kafka import FiniteRetention, check_retention
from shared.infra.keys import load_signing_key
from shared.infra.logging import get_logger
from shared.infra.metrics import ServiceMetrics
from shared.infra.migrate import upgrade_head_async
from shared.infra.parking import Parking
from shared.infra.production import refuse_development_secrets
from shared.infra.relay import OutboxRelay
from shared.infra.settings import ServiceSettings
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork
from shared.infra.writer import Writer

T = TypeVar("T")

log = get_logger(__name__)


def own_event_topic(service_name: str) -> str | None:
    """The event topic a service alone writes (``antt.<service>.events.v1``), if it has one."""
    topic = f"antt.{service_name}.events.v1"
    return topic if topic in topics.EVENT_TOPICS else None


class ServiceRuntime:
    """Engine, sessions, outbox relay and Kafka broker of one service instance.

    Nothing connects until :meth:`start`, and the checkpoint key is read (or generated) only
    there too, so building a runtime (for the AsyncAPI documents, in tests) touches no file.
    """

    def __init__(self, settings: ServiceSettings, infra: InfraTables, migrations: Path) -> None:
        self.settings = settings
        self.infra = infra
        self.migrations = migrations
        self.db_url = settings.db_url()
        #: the async engine: the relay, migrations, tests' reads
        self.engine = create_engine(self.db_url)
        self.sessions = session_factory(self.engine)
        #: the write path's engine: a whole transaction in one worker thread (``shared.infra.db``)
        self.sync_engine = create_sync_engine(self.db_url)
        self.write_sessions = sync_session_factory(self.sync_engine)
        #: the one thread of the consumers', the parking sweeper's and the relay's writes
        #: (``shared.infra.writer``)
        self.writer = Writer(settings.service_name)
        #: the HTTP API's engine: the same database with a short lock wait
        #: (``http_db_busy_timeout_s``), so a held lock answers 503 quickly instead of hanging
        self.http_engine = create_sync_engine(self.db_url, busy_timeout_s=settings.http_db_busy_timeout_s)
        self.http_sessions = sync_session_factory(self.http_engine)
        descriptor = BY_NAME.get(settings.service_name)
        self.events_topic = descriptor.events_topic if descriptor else own_event_topic(settings.service_name)
        self.relay = OutboxRelay(
            self.sessions,
            infra,
            settings.kafka_bootstrap,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
            lease_ttl_s=settings.relay_lease_ttl_s,
            event_topic=self.events_topic,
            producer_name=settings.service_name,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            write_sessions=self.write_sessions,
            writer=self.writer,
            read_engine=read_only_engine(self.sync_engine),
        )
        self.broker = KafkaBroker(
            settings.kafka_bootstrap,
            client_id=f"antt-{settings.service_name}",
            log_level=logging.DEBUG,  # per-message lines only at debug; transitions are logged by the handlers
        )
        #: early arrivals held until the event announcing their unit or unit-year is written
        self.parking = Parking(
            service=settings.service_name,
            unit_of_work=self.unit_of_work,
            ttl_s=settings.parking_ttl_s,
            sweep_interval_s=settings.parking_sweep_interval_s,
            on_commit=self.relay.notify,
            writer=self.writer,
        )
        self.processors: dict[str, BatchProcessor] = {}
        #: faststream subscribers by topic (their running consumer gives the lag)
        self.subscribers: dict[str, Any] = {}
        self.metrics = ServiceMetrics(self, settings.service_name)

    def consume(self, topic: str, handler: MessageHandler, *, description: str) -> None:
        """Subscribe ``handler`` to ``topic``. A service of ``shared.contracts.services`` may
        subscribe only to the topics its descriptor names: the composition root and the
        contract cannot drift apart."""
        descriptor = BY_NAME.get(self.settings.service_name)
        if descriptor is not None and topic not in descriptor.consumes:
            raise ValueError(f"the {descriptor.name} service's descriptor does not consume {topic} (shared.contracts.services)")
        proc = BatchProcessor(
            service=self.settings.service_name,
            unit_of_work=self.unit_of_work,
            handler=handler,
            max_attempts=self.settings.consumer_max_attempts,
            on_commit=self.relay.notify,
            on_batch=self.metrics.batch_observer(topic),
            parking=self.parking,
            writer=self.writer,
        )
        self.parking.register(topic, handler)
        self.processors[topic] = proc
        self.subscribers[topic] = subscribe(
            self.broker,
            topic,
            group_id=descriptor.consumer_group(topic) if descriptor else f"antt-{self.settings.service_name}.{topic}",
            processor=proc,
            max_records=self.settings.consumer_max_records,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            title=f"{self.settings.service_name}:{topic}",
            description=description,
        )

    async def start(self) -> None:
        refuse_development_secrets(self.settings)
        if self.settings.migrate_on_start:
            await upgrade_head_async(self.migrations, self.db_url)
        await self._check_retention()
        if self.relay.event_topic is not None:
            self.relay.signing_key = load_signing_key(self.settings)
        await self.relay.start()
        await self.parking.start()
        await self.broker.start()
        log.info("service.started", db=self.engine.url.render_as_string(hide_password=True), kafka=self.settings.kafka_bootstrap)

    async def _check_retention(self) -> None:
        """Refuse to start on topics that would delete history (unless told otherwise)."""
        try:
            problems = await check_retention(
                self.settings.kafka_bootstrap, list(topics.PROJECT_TOPICS), allow_finite=self.settings.allow_finite_retention
            )
        except FiniteRetention as exc:
            log.error("topics.finite_retention", error=str(exc), refused=True)
            raise
        if problems:
            log.error("topics.finite_retention", topics=problems, refused=False)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.parking.stop()
        await self.relay.stop()
        await self.engine.dispose()
        await self.writer.close()
        await asyncio.to_thread(self.sync_engine.dispose)
        await asyncio.to_thread(self.http_engine.dispose)
        log.info("service.stopped")

    def unit_of_work(self, sessions: Callable[[], Session] | None = None) -> UnitOfWork:
        """A new unit of work of this service (enter it to begin the transaction); ``sessions``
        defaults to the consumers' (long lock wait)."""
        return UnitOfWork(
            (sessions or self.write_sessions)(), self.infra, producer=self.settings.service_name, topic=self.events_topic
        )

    async def transaction(self, fn: Callable[[UnitOfWork], T]) -> T:
        """Run ``fn`` in one unit of work in a worker thread (the HTTP API's commands, opened
        the same way as a consumer's batch), commit, then wake the relay.

        It runs on the HTTP engine: a locked database raises ``OperationalError`` after
        ``http_db_busy_timeout_s``, which the error handlers answer with 503 and ``Retry-After``."""

        woke: list[bool] = []

        def run() -> T:
            with self.unit_of_work(self.http_sessions) as uow:
                result = fn(uow)
                uow.commit()
                woke.append(uow.parked_due)
                return result

        result = await asyncio.to_thread(run)
        self.relay.notify()
        if any(woke):
            self.parking.notify()
        return result

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run the query ``fn`` on a session in a worker thread (the HTTP API's reads, with the
        HTTP engine's short lock wait)."""

        def run() -> T:
            with self.http_sessions() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()
