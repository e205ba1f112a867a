"""The event envelope (DESIGN.md, "Contracts") and its hash chain.

Every event on ``antt.*.events.v1`` is one JSON object:

``event_id``, ``event_type``, ``schema_version``, ``occurred_at``, ``recorded_at``,
``unit_year_id``, ``stream_id``, ``producer``, ``actor``, ``correlation_id``,
``causation_id``, ``sequence``, ``prev_hash``, ``hash``, ``payload``.

``sequence`` counts the events of one stream (a unit-year, or ``unit:<code>`` for the unit
register) from one producer, from 1 without gaps. ``hash`` is the SHA-256 of the canonical
JSON of the envelope without ``hash``; ``prev_hash`` is the ``hash`` of the previous event
of the same stream and producer (``null`` for the first), so that tampering or a gap is
detectable by replaying the topic.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.canonical import canonical_json, sha256_hex

ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "unit_year_id",
    "stream_id",
    "producer",
    "actor",
    "correlation_id",
    "causation_id",
    "sequence",
    "prev_hash",
    "hash",
    "payload",
)


class Actor(BaseModel):
    """Who caused the event: a person or a system, its role and its jurisdiction.

    ``jurisdiction`` is ``*`` (everywhere), ``province:<code>``, ``commune:<code>`` or
    ``ministry``.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    jurisdiction: str = Field(default="*", min_length=1, max_length=100)


class Envelope(BaseModel):
    """JSON Schema of the envelope (documentation and validation of replays)."""

    model_config = ConfigDict(extra="allow")

    event_id: uuid.UUID
    event_type: str = Field(pattern=r"^[A-Z][A-Za-z0-9]+$")
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    unit_year_id: str | None
    stream_id: str
    producer: str
    actor: Actor
    correlation_id: str
    causation_id: str | None
    sequence: int = Field(ge=1)
    prev_hash: str | None
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    payload: dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z`` (a naive ``ts`` is taken as UTC)."""
    if ts.tzinfo is not UTC:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ts.year >= 1000:  # isoformat is C and five times faster than strftime; the same text
        return ts.isoformat(timespec="microseconds")[:-6] + "Z"
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_event_id() -> str:
    """A time-ordered (version 7) UUID as text: the Unix time in milliseconds, then 74 random
    bits (RFC 9562, section 5.7).

    Why time-ordered: an event's id is the key it is written under wherever it lands -- the
    producer's outbox, every consumer's inbox, approval's event history -- and those B-trees
    take each batch's ids at once. Random (version 4) ids put every new key on a page of its
    own, so a batch of a few hundred records dirtied a few hundred pages of each index, each
    written to the WAL and read back when it had left the page cache; ids that grow with time
    land together on the index's last pages. The id stays a UUID in the same text form, so no
    reader can tell, and it is as unique: 74 random bits per millisecond.
    """
    return uuid7_text(time.time_ns() // 1_000_000, os.urandom(10))


def uuid7_text(unix_ms: int, rand: bytes) -> str:
    """The version 7 UUID of ``unix_ms`` and 10 random bytes, as text (the ``rand_a`` and
    ``rand_b`` fields are ``rand`` with its version and variant bits overwritten)."""
    b = bytearray(unix_ms.to_bytes(6, "big") + rand)
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def compute_hash(envelope: dict[str, Any]) -> str:
    body = dict(envelope)
    body.pop("hash", None)
    return sha256_hex(canonical_json(body))


def build_envelope(
    *,
    event_type: str,
    payload: dict[str, Any],
    producer: str,
    actor: dict[str, Any],
    stream_id: str,
    unit_year_id: str | None,
    sequence: int,
    prev_hash: str | None,
    correlation_id: str,
    causation_id: str | None,
    occurred_at: datetime | None = None,
    schema_version: int = 1,
    event_id: str | None = None,
    recorded_at: datetime | None = None,
) -> dict[str, Any]:
    """Build a hashed envelope as a plain JSON-ready dict."""
    now = recorded_at or utcnow()
    env: dict[str, Any] = {
        "event_id": event_id or new_event_id(),
        "event_type": event_type,
        "schema_version": schema_version,
        "occurred_at": rfc3339(occurred_at or now),
        "recorded_at": rfc3339(now),
        "unit_year_id": unit_year_id,
        "stream_id": stream_id,
        "producer": producer,
        "actor": actor,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "sequence": sequence,
        "prev_hash": prev_hash,
        "payload": payload,
    }
    env["hash"] = compute_hash(env)
    return env


def verify_hash(envelope: dict[str, Any], *, parsed_by_orjson: bool = False) -> bool:
    """Whether ``envelope["hash"]`` is :func:`compute_hash` of it.

    ``parsed_by_orjson``: the envelope is what ``orjson.loads`` read (as the consumers read
    every event), so it holds no NaN or infinity, the only floats orjson writes as something
    else (``null``). Then the common case goes first: the SHA-256 of orjson's sorted output,
    without :func:`~shared.contracts.canonical.canonical_json`'s walk over every value. When
    that matches the stored hash the answer is yes, for the reason the stored hash can be
    trusted at all: orjson's bytes are then the very bytes the producer hashed, its canonical
    form, and orjson writes back exactly the values it read (a float with '.' or 'e', never a
    whole-number float, which the canonical form writes as an integer), so the canonical form
    of this envelope is those bytes too. Otherwise (a float in exponent notation, an integer
    beyond 64 bits, a tampered event) the canonical form decides.
    """
    stored = envelope.get("hash")
    if not isinstance(stored, str):
        return False
    body = dict(envelope)
    del body["hash"]
    if parsed_by_orjson:
        try:
            if hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest() == stored:
                return True
        except (TypeError, orjson.JSONEncodeError):
            pass
    return stored == compute_hash(envelope)


class ChainBreak(Exception):
    """A replayed stream does not chain: a gap, a reorder, a duplicate or tampering."""


def verify_chain(events: list[dict[str, Any]]) -> None:
    """Check events of ONE stream and producer, in topic order; raise ``ChainBreak``."""
    prev: dict[str, Any] | None = None
    for ev in events:
        if not verify_hash(ev):
            raise ChainBreak(f"event {ev.get('event_id')}: hash does not match its content")
        expected_seq = 1 if prev is None else prev["sequence"] + 1
        if ev["sequence"] != expected_seq:
            raise ChainBreak(f"stream {ev['stream_id']}: sequence {ev['sequence']} where {expected_seq} was expected")
        expected_prev = None if prev is None else prev["hash"]
        if ev["prev_hash"] != expected_prev:
            raise ChainBreak(f"event {ev['event_id']}: prev_hash does not chain")
        prev = ev
