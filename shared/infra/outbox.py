"""Rows of the transactional outbox: events and dead letters, as the relay publishes them.

The unit of work (``shared.infra.uow``) queues these rows in the transaction that makes the
state change, and the relay (``shared.infra.relay``) publishes them after the commit.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from shared.contracts import topics
from shared.contracts.envelope import rfc3339, utcnow


class ConcurrencyConflict(Exception):
    """Another transaction advanced the same stream or aggregate first: retry."""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def outbox_row(env: dict[str, Any], topic: str) -> dict[str, Any]:
    """The outbox row of an event envelope: keyed by its unit-year (or stream), with the
    ``event_type`` header so that a consumer can skip what it does not own without parsing."""
    return {
        "event_id": env["event_id"],
        "topic": topic,
        "key": env["unit_year_id"] or env["stream_id"],
        "value": _dumps(env),
        "headers": json.dumps({"event_type": env["event_type"], "event_id": env["event_id"], "content-type": "application/json"}),
        "created_at": utcnow(),
    }


def dead_letter_row(
    *,
    service: str,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | str | None,
    value: bytes,
    code: str,
    reason: str,
    message_id: str | None = None,
) -> dict[str, Any]:
    """The outbox row of a rejected message for ``<source_topic>.dlq``, with its reason.

    The dead letter carries the original bytes (as text when they are UTF-8, else base64),
    the reason, a machine-readable code, and where the original was read.
    """
    dlq_id = str(uuid.uuid4())
    try:
        original: dict[str, Any] = {"encoding": "utf-8", "data": value.decode("utf-8")}
    except UnicodeDecodeError:
        original = {"encoding": "base64", "data": base64.b64encode(value).decode("ascii")}
    key_s = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    key_s = key_s[:200] if key_s is not None else None  # a sender's key has no length limit
    body = {
        "dlq_id": dlq_id,
        "error_code": code,
        "reason": reason,
        "service": service,
        "source_topic": source_topic,
        "source_partition": partition,
        "source_offset": offset,
        "message_id": message_id,
        "failed_at": rfc3339(utcnow()),
        "original": original,
    }
    headers = {
        "event_id": dlq_id,
        "x-dlq-reason": reason[:1000],
        "x-dlq-error-code": code,
        "x-dlq-service": service,
        "x-original-topic": source_topic,
        "x-original-partition": "" if partition is None else str(partition),
        "x-original-offset": "" if offset is None else str(offset),
        "content-type": "application/json",
    }
    return {
        "event_id": dlq_id,
        "topic": topics.dlq(source_topic),
        "key": key_s,
        "value": _dumps(body),
        "headers": json.dumps(headers, ensure_ascii=False),
        "created_at": utcnow(),
    }
