"""The three services, one descriptor each (public contract).

What a service is to the rest of the system -- its name (which is also the ``producer`` of its
events and the prefix of its consumer groups), the one event topic it alone writes, the topics
it reads, the inbound message types it owns, its default HTTP port -- is said here once. The
services' settings and composition roots (``services/<name>/app.py``), the contract-document
generator (``shared.contracts.docs``), the process launcher (``deploy.processes``) and the
auditors' tool read it, instead of each keeping its own copy of the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import topics
from shared.contracts.inbound import GATEKEEPER, INBOUND_TYPES


@dataclass(frozen=True, slots=True)
class ServiceDescriptor:
    name: str
    #: the topics the service subscribes to, in the order its composition root wires them
    consumes: tuple[str, ...]
    default_port: int
    title: str
    description: str

    @property
    def producer(self) -> str:
        """The ``producer`` field of the service's envelopes."""
        return self.name

    @property
    def events_topic(self) -> str:
        """The event topic only this service writes."""
        return f"antt.{self.name}.events.v1"

    @property
    def owned_inbound(self) -> tuple[str, ...]:
        """The inbound message types (``antt.inbound.v1``) this service claims and applies."""
        return tuple(t for t, (_model, owner) in INBOUND_TYPES.items() if owner == self.name)

    @property
    def gatekeeper(self) -> bool:
        """Whether it dead-letters the inbound messages no service can claim."""
        return self.name == GATEKEEPER

    @property
    def app_module(self) -> str:
        return f"services.{self.name}.app"

    @property
    def settings(self) -> str:
        """``module:Class`` of its settings."""
        return f"services.{self.name}.settings:{self.name.capitalize()}Settings"

    def consumer_group(self, topic: str) -> str:
        """The consumer group that reads ``topic`` for this service."""
        return f"antt-{self.name}.{topic}"

    @property
    def default_url(self) -> str:
        return f"http://127.0.0.1:{self.default_port}"


REGISTRATION = ServiceDescriptor(
    name="registration",
    consumes=(topics.INBOUND, topics.APPROVAL_EVENTS),
    default_port=8101,
    title="ANTT registration service",
    description="Đăng ký xây dựng đạt tiêu chuẩn “An toàn về an ninh, trật tự” (Circular 124/2021/TT-BCA): "
    "the unit register (đơn vị) and each unit's yearly registration (đăng ký hằng năm) and its "
    "withdrawal. It also dead-letters the inbound messages no service can read.",
)
ASSESSMENT = ServiceDescriptor(
    name="assessment",
    consumes=(topics.INBOUND, topics.REGISTRATION_EVENTS, topics.APPROVAL_EVENTS),
    default_port=8102,
    title="ANTT assessment service",
    description="Tự đánh giá: the assessment case of each registered unit-year, its self-assessment "
    "against the criteria of the unit's kind (Circular 124/2021/TT-BCA) and the verdict "
    "(đạt / chưa đạt).",
)
APPROVAL = ServiceDescriptor(
    name="approval",
    consumes=(topics.INBOUND, topics.ASSESSMENT_EVENTS, topics.REGISTRATION_EVENTS),
    default_port=8103,
    title="ANTT approval service",
    description="Thẩm định và công nhận: the approval case of each unit-year, moved level by level along "
    "the approval chain configured for its kind, managing level, province and year, up to "
    "recognition (công nhận), refusal (không công nhận) or a return for supplement (trả lại "
    "để bổ sung).",
)

SERVICES: tuple[ServiceDescriptor, ...] = (REGISTRATION, ASSESSMENT, APPROVAL)
BY_NAME: dict[str, ServiceDescriptor] = {s.name: s for s in SERVICES}
