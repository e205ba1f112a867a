"""Infrastructure tables every service keeps in its own database.

- ``outbox``: events (and dead letters) written in the same transaction as the state change,
  published by the relay after the commit.
- ``event_streams``: per stream (unit-year or unit) the last ``sequence`` and ``hash``.
- ``inbox``: the messages this service has processed (tracking records), so that a
  redelivered message changes nothing.
- ``relay_lease``: which instance of the service runs the outbox relay.
- ``relay_log``: per partition of the service's own event topic, the RFC 6962 Merkle tree
  (:class:`shared.contracts.checkpoint.CompactRange`: ``size`` and the JSON of its peaks) over
  the records the relay has seen acknowledged at offsets ``0..size-1``. It moves in the same
  transaction that deletes the published outbox rows, so the tree and the outbox never disagree.
- ``outbox_parked``: outbox rows the broker refused permanently (too large, an invalid topic),
  moved out of the publishing order so that the rows behind them flow, with the error; an
  operator decides what becomes of them. Later rows with the same topic and key are parked
  behind them, so a key's records are never published out of order.
- ``relay_checkpoint``: every signed checkpoint the relay issued (its body as published and the
  hash the next one chains to), written with the checkpoint's outbox row.
- ``parked_messages``: early arrivals (``shared.infra.parking``): messages about a unit or
  unit-year this service has not heard of yet, written in the transaction of their inbox row and
  applied when an event of the stream they wait for is written, or dead-lettered after a
  time-to-live.
- ``idempotency_keys``: the first answer to an HTTP write sent with an ``Idempotency-Key``
  (``shared.infra.idempotency``), written in the write's transaction, so that a retry gets that
  answer instead of acting again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

ID = BigInteger().with_variant(Integer, "sqlite")


def _outbox_columns(*, autoincrement: bool) -> list[Column[Any]]:
    """The columns of an outbox row (the outbox and the parked rows share them)."""
    return [
        Column("id", ID, primary_key=True, autoincrement=autoincrement),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ]


class InfraTables:
    """The infrastructure tables, defined in a service's own ``MetaData``."""

    def __init__(self, metadata: MetaData) -> None:
        self.outbox = Table("outbox", metadata, *_outbox_columns(autoincrement=True))
        #: rows the broker refused for good, moved out of the publishing order as they were
        self.outbox_parked = Table(
            "outbox_parked",
            metadata,
            *_outbox_columns(autoincrement=False),  # the id is the row's id in the outbox
            Column("parked_at", DateTime(timezone=True), nullable=False),
            Column("error", Text, nullable=False),
        )
        self.event_streams = Table(
            "event_streams",
            metadata,
            Column("stream_id", String(200), primary_key=True),
            Column("sequence", Integer, nullable=False),
            Column("last_hash", String(64), nullable=False),
        )
        self.inbox = Table(
            "inbox",
            metadata,
            Column("message_id", String(200), primary_key=True),
            Column("topic", String(200), nullable=False),
            Column("partition", Integer, nullable=False),
            Column("offset", BigInteger, nullable=False),
            Column("outcome", String(20), nullable=False),
            Column("processed_at", DateTime(timezone=True), nullable=False),
        )
        self.relay_lease = Table(
            "relay_lease",
            metadata,
            Column("name", String(50), primary_key=True),
            Column("owner", String(200), nullable=False),
            Column("expires_at", Float, nullable=False),
        )
        self.relay_log = Table(
            "relay_log",
            metadata,
            Column("topic", String(200), primary_key=True),
            Column("partition", Integer, primary_key=True),
            Column("size", BigInteger, nullable=False),
            Column("peaks", Text, nullable=False),
        )
        self.relay_checkpoint = Table(
            "relay_checkpoint",
            metadata,
            Column("producer", String(50), primary_key=True),
            Column("sequence", Integer, primary_key=True),
            Column("hash", String(64), nullable=False),
            Column("body", Text, nullable=False),
        )
        self.parked_messages = Table(
            "parked_messages",
            metadata,
            Column("id", ID, primary_key=True, autoincrement=True),
            #: the message's id in the inbox (its event_id, or its position)
            Column("message_id", String(200), nullable=False),
            #: the stream whose first event the message waits for (``<unit_year_id>``, ``unit:<code>``)
            Column("stream_id", String(200), nullable=False, index=True),
            #: what it waits for (``unit``, ``unit_year``): the dead letter is ``expired_waiting_for_<this>``
            Column("waiting_for", String(40), nullable=False),
            Column("reason", Text, nullable=False),
            Column("topic", String(200), nullable=False),
            Column("partition", Integer, nullable=False),
            Column("offset", BigInteger, nullable=False),
            Column("key", LargeBinary, nullable=True),
            Column("value", LargeBinary, nullable=False),
            #: JSON object of the record's headers, each value base64
            Column("headers", Text, nullable=False),
            Column("parked_at", DateTime(timezone=True), nullable=False),
            Column("expires_at", DateTime(timezone=True), nullable=False),
            Column("next_try_at", DateTime(timezone=True), nullable=False, index=True),
            Column("attempts", Integer, nullable=False),
        )
        self.idempotency_keys = Table(
            "idempotency_keys",
            metadata,
            #: keys are the caller's: two callers may use the same key for different requests
            Column("actor_id", String(200), primary_key=True),
            Column("key", String(200), primary_key=True),
            #: SHA-256 of the method, path and body of the first request
            Column("fingerprint", String(64), nullable=False),
            Column("method", String(10), nullable=False),
            Column("path", String(500), nullable=False),
            Column("status", Integer, nullable=False),
            Column("body", LargeBinary, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        )
