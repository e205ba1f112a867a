"""A dead letter always fits on its topic, whatever was rejected, and still identifies the
whole original (size, SHA-256, key, headers); an oversized inbound record is refused by the
gate before it is parsed."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from shared.contracts import topics
from shared.contracts.docs import DeadLetter
from shared.contracts.inbound import MAX_INBOUND_BYTES
from shared.infra.inbound import InboundGate
from shared.infra.outbox import (
    DEAD_LETTER_MAX_BYTES,
    FIELD_BUDGET,
    MAX_HEADERS,
    ORIGINAL_BUDGET,
    dead_letter_row,
)
from tests.unit.builders import SENDERS, received

MiB = 1024 * 1024


def row(value: bytes, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "service": "registration",
        "source_topic": topics.INBOUND,
        "partition": 3,
        "offset": 17,
        "key": b"QN-KDC-001",
        "value": value,
        "code": "bad_json",
        "reason": "message is not valid UTF-8 JSON",
        "message_id": "pos:antt.inbound.v1:3:17",
        **kw,
    }
    return dead_letter_row(**args)


def body(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(r["value"])
    DeadLetter.model_validate(out)  # the published contract
    return out


ADVERSARIAL = {
    "plain text, 900 KiB": b"a" * (900 * 1024),
    "quotes, 500 KiB (doubles when escaped)": b'"' * (500 * 1024),
    "control characters, 500 KiB (six bytes each when escaped)": b"\x01" * (500 * 1024),
    "four-byte characters": "𝄞".encode() * (250 * 1024),
    "not UTF-8, 1 MiB": b"\xff\xfe" * (MiB // 2),
    "the broker's limit": b"x" * topics.MAX_MESSAGE_BYTES,
}


@pytest.mark.parametrize("value", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_a_dead_letter_of_a_large_record_is_bounded_and_identifies_the_whole_original(value: bytes) -> None:
    r = row(value)
    assert len(r["value"]) <= DEAD_LETTER_MAX_BYTES < topics.MAX_MESSAGE_BYTES
    b = body(r)
    assert b["truncated"] is True
    assert b["original_size"] == len(value)
    assert b["original_sha256"] == hashlib.sha256(value).hexdigest()
    quoted = json.dumps(b["original"]["data"], ensure_ascii=False).encode()
    assert len(quoted) <= ORIGINAL_BUDGET
    data = b["original"]["data"]
    prefix = base64.b64decode(data) if b["original"]["encoding"] == "base64" else data.encode()
    assert value.startswith(prefix) and 0 < len(prefix) < len(value)
    assert len(quoted) > ORIGINAL_BUDGET - 8  # as much as fits, not a token sample


def test_a_small_record_is_quoted_whole() -> None:
    value = json.dumps({"event_type": "Nope", "text": 'a "quoted" word\n'}).encode()
    b = body(row(value, headers={"event_type": b"Nope", "bin": b"\xff"}))
    assert b["truncated"] is False
    assert b["original"] == {"encoding": "utf-8", "data": value.decode()}
    assert b["original_size"] == len(value)
    assert b["original_key"] == {"encoding": "utf-8", "data": "QN-KDC-001", "truncated": False}
    assert b["original_headers"] == [
        {"key": "event_type", "value": {"encoding": "utf-8", "data": "Nope", "truncated": False}},
        {"key": "bin", "value": {"encoding": "base64", "data": "/w==", "truncated": False}},
    ]
    assert b["original_headers_omitted"] == 0


def test_key_headers_and_reason_are_bounded_too() -> None:
    huge = b'"' * (200 * 1024)
    headers = [(f"h{i}" + '"' * 5000, huge) for i in range(MAX_HEADERS + 10)]
    r = row(b'"' * MiB, key=huge, headers=headers, reason="\x00" * MiB, message_id="\x00" * MiB)
    assert len(r["value"]) <= DEAD_LETTER_MAX_BYTES
    b = body(r)
    assert b["original_key"]["truncated"] is True
    assert len(json.dumps(b["original_key"]["data"]).encode()) <= FIELD_BUDGET
    assert len(b["original_headers"]) == MAX_HEADERS and b["original_headers_omitted"] == 10
    assert all(h["value"]["truncated"] for h in b["original_headers"])
    assert len(r["key"]) <= 200  # the record's key fits the outbox column
    assert len(json.loads(r["headers"])["x-dlq-reason"]) == 1000


def test_an_inbound_record_over_the_limit_is_refused_before_parsing_by_the_gatekeeper_only() -> None:
    value = b"{" * (MAX_INBOUND_BYTES + 1)  # not even JSON: the size is judged first
    claim = InboundGate("registration", SENDERS).claim(received(value, offset=5))
    assert claim is not None and claim.rejection is not None
    assert claim.rejection.code == "too_large"
    assert str(MAX_INBOUND_BYTES + 1) in claim.rejection.reason and str(MAX_INBOUND_BYTES) in claim.rejection.reason
    assert claim.message_id == "pos:antt.inbound.v1:0:5"
    for other in ("assessment", "approval"):
        assert InboundGate(other, SENDERS).claim(received(value)) is None


def test_an_inbound_record_at_the_limit_is_parsed() -> None:
    value = b" " * (MAX_INBOUND_BYTES - 2) + b"[]"
    claim = InboundGate("registration", SENDERS).claim(received(value))
    assert claim is not None and claim.rejection is not None and claim.rejection.code == "bad_json"
