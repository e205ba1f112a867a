"""What the operators' endpoints and the metrics read of a running service.

``/ready``, ``/metrics`` and ``/audit/checkpoint`` (``shared.infra.http``), the readiness
checks (``shared.infra.readiness``) and the Prometheus collector (``shared.infra.metrics``)
need a few of a :class:`~shared.infra.runtime.ServiceRuntime`'s parts, not the runtime itself:
this protocol names them, so that those modules are type-checked against what they read and a
test can hand them just these parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.infra.consumer import BatchProcessor
    from shared.infra.relay import OutboxRelay
    from shared.infra.settings import ServiceSettings
    from shared.infra.tables import InfraTables


class ObservedRuntime(Protocol):
    """The parts of a service's runtime that its health, readiness and metrics read.

    A runtime may also have ``subscribers`` (its Kafka consumers, for the lag) and ``metrics``
    (its :class:`~shared.infra.metrics.ServiceMetrics`); they are read where present."""

    @property
    def settings(self) -> ServiceSettings: ...

    @property
    def infra(self) -> InfraTables: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def relay(self) -> OutboxRelay: ...

    @property
    def processors(self) -> Mapping[str, BatchProcessor]: ...
