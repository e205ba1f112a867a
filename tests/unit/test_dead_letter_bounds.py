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


def test_a_payload_nested_a_thousand_deep_is_dead_lettered_by_its_owner_not_raised() -> None:
    """orjson parses up to 1,024 levels, but the canonical form (for the signature) cannot be
    computed for so deep a value: the owner of the type refuses such a message as
    unreadable_message and the others skip it; nothing escapes the gate."""
    import orjson

    from shared.contracts.inbound import INBOUND_TYPES
    from shared.infra.consumer import Received
    from shared.infra.inbound import InboundGate
    from tests.unit.builders import SENDERS, message

    msg = message(
        "ReviewDecisionSubmitted",
        {"unit_year_id": "QN-X-1:2025", "level": "commune", "decision": "pass", "decided_by": "x", "reasons": []},
    )
    msg["payload"]["extra"] = "__DEEP__"
    deep = '{"x":' * 990 + "1.5" + "}" * 990
    raw = orjson.dumps(msg).replace(b'"__DEEP__"', deep.encode())
    owner = INBOUND_TYPES["ReviewDecisionSubmitted"][1]
    for offset, service in enumerate(("registration", "assessment", "approval")):
        claim = InboundGate(service, SENDERS).claim(
            Received(topic="antt.inbound.v1", partition=0, offset=offset, key=None, value=raw)
        )
        if service == owner:
            assert claim is not None and claim.rejection is not None
            assert claim.rejection.code == "unreadable_message", claim.rejection.reason
        else:
            assert claim is None


async def test_a_claim_that_raises_is_dead_lettered_and_the_batch_goes_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Whatever a handler's claim raises on a record, the record is dead-lettered with the
    reason and the other records of the batch are applied: no input can stop the consumer."""
    import json

    from sqlalchemy import MetaData, select

    from shared.infra.consumer import BatchProcessor, Claim, Received
    from shared.infra.db import create_sync_engine, sync_session_factory
    from shared.infra.tables import InfraTables
    from shared.infra.uow import UnitOfWork

    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_sync_engine(f"sqlite+pysqlite:///{tmp_path / 'c.db'}")
    metadata.create_all(engine)
    sessions = sync_session_factory(engine)

    class Fragile:
        def claim(self, msg: Received) -> Claim | None:
            if msg.value == b"boom":
                raise RecursionError("maximum recursion depth exceeded")
            return Claim(message_id=f"m-{msg.offset}", parsed=msg.value)

        def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
            return "applied"

    proc = BatchProcessor(
        service="t", unit_of_work=lambda: UnitOfWork(sessions(), infra, producer="t", topic=None), handler=Fragile()
    )
    await proc.process(
        [Received(topic="in", partition=0, offset=i, key=None, value=v) for i, v in enumerate([b"a", b"boom", b"c"])]
    )
    with sessions() as s:
        outcomes = dict(s.execute(select(infra.inbox.c.message_id, infra.inbox.c.outcome)).all())
        [dead] = s.execute(select(infra.outbox.c.topic, infra.outbox.c.value)).all()
    engine.dispose()
    assert outcomes == {"m-0": "applied", "pos:in:0:1": "rejected", "m-2": "applied"}
    body = json.loads(dead.value)
    assert dead.topic == "in.dlq" and body["error_code"] == "unreadable_message" and "RecursionError" in body["reason"]
