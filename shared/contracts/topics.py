"""Kafka topic names and the settings every project topic is created with (public contract)."""

from __future__ import annotations

INBOUND = "antt.inbound.v1"
REGISTRATION_EVENTS = "antt.registration.events.v1"
ASSESSMENT_EVENTS = "antt.assessment.events.v1"
APPROVAL_EVENTS = "antt.approval.events.v1"
#: signed checkpoints (Merkle tree heads) of the event topics, see ``shared.contracts.checkpoint``
CHECKPOINTS = "antt.audit.checkpoints.v1"

EVENT_TOPICS = (REGISTRATION_EVENTS, ASSESSMENT_EVENTS, APPROVAL_EVENTS)
ALL_TOPICS = (INBOUND, *EVENT_TOPICS)


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``: rejected messages go there with a reason."""
    return f"{topic}.dlq"


#: partitions per topic created by the local tooling; nothing may rely on the number.
PARTITIONS = 6
DLQ_PARTITIONS = 3
CHECKPOINT_PARTITIONS = 1

#: every topic of the project and its partition count
PROJECT_TOPICS: dict[str, int] = {
    **{t: PARTITIONS for t in ALL_TOPICS},
    **{dlq(t): DLQ_PARTITIONS for t in ALL_TOPICS},
    CHECKPOINTS: CHECKPOINT_PARTITIONS,
}

#: The history is the record auditors rely on: no project topic ever deletes a record (the
#: broker's default would delete everything older than 7 days). The inbound topic is kept too,
#: since the inbound messages are the causes the events name.
RETENTION_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


#: The largest record batch a project topic accepts, the broker's own default (1 MiB plus the
#: 12 bytes of log overhead) made explicit, so that a broker configured otherwise cannot change
#: what the services rely on: inbound messages are refused above 512 KiB
#: (``shared.contracts.inbound.MAX_INBOUND_BYTES``) and a dead letter is at most 384 KiB
#: (``shared.infra.outbox.DEAD_LETTER_MAX_BYTES``), so every dead letter fits on its topic.
MAX_MESSAGE_BYTES = 1024 * 1024 + 12


def min_insync_replicas(replication_factor: int) -> int:
    """``min.insync.replicas`` for a replication factor: 2 of 3 (or more), else 1, so that an
    acknowledged write (``acks=all``) survives the loss of a broker without blocking writes
    while one broker is down."""
    return 2 if replication_factor >= 3 else 1


def topic_config(replication_factor: int) -> dict[str, str]:
    """The configuration every project topic is created with."""
    return {
        **RETENTION_FOREVER,
        "min.insync.replicas": str(min_insync_replicas(replication_factor)),
        "max.message.bytes": str(MAX_MESSAGE_BYTES),
    }
