"""Rows of the transactional outbox: events and dead letters, as the relay publishes them.

The unit of work (``shared.infra.uow``) queues these rows in the transaction that makes the
state change, and the relay (``shared.infra.relay``) publishes them after the commit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from shared.contracts import topics
from shared.contracts.canonical import compact_json
from shared.contracts.envelope import rfc3339, utcnow


class ConcurrencyConflict(Exception):
    """Another transaction advanced the same stream or aggregate first: retry."""


def outbox_row(env: dict[str, Any], topic: str) -> dict[str, Any]:
    """The outbox row of an event envelope: keyed by its unit-year (or stream), with the
    ``event_type`` header so that a consumer can skip what it does not own without parsing."""
    return {
        "event_id": env["event_id"],
        "topic": topic,
        "key": env["unit_year_id"] or env["stream_id"],
        "value": compact_json(env),
        "headers": orjson.dumps(
            {"event_type": env["event_type"], "event_id": env["event_id"], "content-type": "application/json"}
        ).decode(),
        "created_at": utcnow(),
    }


#: How much of a rejected record a dead letter quotes: ``original.data`` is the longest prefix
#: of the original whose JSON text (after escaping) takes at most this many bytes. A quoted
#: original as large as the record itself would make the dead letter of a record near the
#: broker's limit larger than the limit; it would then never be published, and the relay,
#: which publishes in order, would publish nothing after it.
ORIGINAL_BUDGET = 256 * 1024
#: the same bound for the key and for each header name and value of the original
FIELD_BUDGET = 1024
#: headers quoted at most; the others are counted in ``original_headers_omitted``
MAX_HEADERS = 32
#: the reason in the body; the ``x-dlq-reason`` header keeps its 1000 characters
REASON_BUDGET = 8 * 1024
#: An upper bound of a dead letter's value, whatever was rejected: the sum of the budgets
#: above and the fixed fields, well under the broker's default ``max.message.bytes`` (1 MiB).
DEAD_LETTER_MAX_BYTES = 384 * 1024


def _json_len(text: str) -> int:
    """Bytes ``text`` takes as a JSON string in a dead letter (quotes included)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def _cut_text(text: str, budget: int) -> tuple[str, bool]:
    """The longest prefix of ``text`` whose JSON form fits ``budget`` bytes, and whether it was cut.

    Escaping can make a character take up to six bytes (``\\u0000``), so the cut is measured on
    the JSON form, not on the characters."""
    if _json_len(text) <= budget:
        return text, False
    lo, hi = 0, min(len(text), budget)  # every character takes at least one byte
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _json_len(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo], True


def bounded_bytes(value: bytes, budget: int) -> dict[str, Any]:
    """``value`` as text when it is UTF-8, else base64, cut so that its JSON form fits ``budget``."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        keep = (budget - 2) // 4 * 3  # base64 needs no escaping: 4 characters per 3 bytes
        return {
            "encoding": "base64",
            "data": base64.b64encode(value[:keep]).decode("ascii"),
            "truncated": len(value) > keep,
        }
    data, cut = _cut_text(text, budget)
    return {"encoding": "utf-8", "data": data, "truncated": cut}


def _headers(headers: Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None) -> tuple[list[dict[str, Any]], int]:
    items = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    out = []
    for name, value in items[:MAX_HEADERS]:
        out.append(
            {
                "key": _cut_text(str(name), FIELD_BUDGET)[0],
                "value": None if value is None else bounded_bytes(bytes(value), FIELD_BUDGET),
            }
        )
    return out, max(len(items) - MAX_HEADERS, 0)


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
    headers: Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]] | None = None,
) -> dict[str, Any]:
    """The outbox row of a rejected message for ``<source_topic>.dlq``, with its reason.

    The dead letter always fits on its topic (at most :data:`DEAD_LETTER_MAX_BYTES`), whatever
    was rejected: it quotes as much of the original as fits :data:`ORIGINAL_BUDGET` (as text
    when it is UTF-8, else base64; ``truncated`` says when it was cut) and identifies the whole
    original by its size and SHA-256, with its key and headers (bounded), the reason, a
    machine-readable code, and where it was read.
    """
    dlq_id = str(uuid.uuid4())
    quoted = bounded_bytes(value, ORIGINAL_BUDGET)
    truncated = quoted.pop("truncated")
    key_b = key.encode("utf-8") if isinstance(key, str) else key
    key_s = key_b.decode("utf-8", "replace") if key_b is not None else None
    key_s = key_s[:200] if key_s is not None else None  # the record's key (a sender's key has no length limit)
    original_headers, omitted = _headers(headers)
    body = {
        "dlq_id": dlq_id,
        "error_code": code,
        "reason": _cut_text(reason, REASON_BUDGET)[0],
        "service": service,
        "source_topic": source_topic,
        "source_partition": partition,
        "source_offset": offset,
        "message_id": None if message_id is None else _cut_text(message_id, FIELD_BUDGET)[0],
        "failed_at": rfc3339(utcnow()),
        "original": quoted,
        "truncated": truncated,
        "original_size": len(value),
        "original_sha256": hashlib.sha256(value).hexdigest(),
        "original_key": None if key_b is None else bounded_bytes(key_b, FIELD_BUDGET),
        "original_headers": original_headers,
        "original_headers_omitted": omitted,
    }
    dlq_headers = {
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
        "value": compact_json(body),
        "headers": json.dumps(dlq_headers, ensure_ascii=False),
        "created_at": utcnow(),
    }
