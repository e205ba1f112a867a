"""Kafka topic names (public contract)."""

from __future__ import annotations

INBOUND = "antt.inbound.v1"
REGISTRATION_EVENTS = "antt.registration.events.v1"
ASSESSMENT_EVENTS = "antt.assessment.events.v1"
APPROVAL_EVENTS = "antt.approval.events.v1"

EVENT_TOPICS = (REGISTRATION_EVENTS, ASSESSMENT_EVENTS, APPROVAL_EVENTS)
ALL_TOPICS = (INBOUND, *EVENT_TOPICS)


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``: rejected messages go there with a reason."""
    return f"{topic}.dlq"


#: partitions per topic created by the local tooling; nothing may rely on the number.
PARTITIONS = 6
DLQ_PARTITIONS = 3
