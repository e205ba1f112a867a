"""The event envelope: canonical JSON, the hash of one event and the hash chain of a stream."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.contracts.canonical import canonical_json
from shared.contracts.envelope import (
    ENVELOPE_FIELDS,
    ChainBreak,
    Envelope,
    build_envelope,
    compute_hash,
    rfc3339,
    verify_chain,
    verify_hash,
)

UY = "QN-KDC-001:2025"


def chain(n: int = 3, *, payloads: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(n):
        prev = events[-1] if events else None
        events.append(
            build_envelope(
                event_type="UnitYearReviewed",
                payload=(payloads or [{"step": j, "body": "Công an xã Phú Đình"} for j in range(n)])[i],
                producer="approval",
                actor={"id": "officer@51", "role": "officer", "jurisdiction": "province:51"},
                stream_id=UY,
                unit_year_id=UY,
                sequence=i + 1,
                prev_hash=prev["hash"] if prev else None,
                correlation_id="corr-1",
                causation_id=prev["event_id"] if prev else None,
            )
        )
    return events


# --- one envelope ---------------------------------------------------------------------------
def test_envelope_has_every_contract_field_and_validates_against_its_schema() -> None:
    env = chain(1)[0]
    assert set(env) == set(ENVELOPE_FIELDS)
    model = Envelope.model_validate(env)
    assert model.sequence == 1 and model.prev_hash is None
    assert len(env["hash"]) == 64
    uuid.UUID(env["event_id"])
    assert env["recorded_at"].endswith("Z") and env["occurred_at"].endswith("Z")


def test_hash_is_sha256_of_the_envelope_without_hash() -> None:
    env = chain(1)[0]
    body = {k: v for k, v in env.items() if k != "hash"}
    assert env["hash"] == hashlib.sha256(canonical_json(body)).hexdigest()
    assert verify_hash(env)


@pytest.mark.parametrize(
    "field,value",
    [
        ("payload", {"step": 0, "body": "Công an xã Phú Đình", "extra": True}),
        ("sequence", 2),
        ("unit_year_id", "QN-KDC-002:2025"),
        ("actor", {"id": "intruder", "role": "officer", "jurisdiction": "*"}),
        ("prev_hash", "0" * 64),
        ("hash", "f" * 64),
    ],
)
def test_verify_hash_detects_a_change_to_any_field(field: str, value: Any) -> None:
    env = chain(1)[0]
    env[field] = value
    assert not verify_hash(env)


def test_hash_survives_transport_with_ascii_escapes_and_reordered_keys() -> None:
    env = chain(1, payloads=[{"name": "Khu dân cư Phú Đình", "ghi_chú": "đạt"}])[0]
    wire = json.dumps(dict(reversed(list(env.items()))), ensure_ascii=True)
    assert "\\u" in wire  # the transport escaped the Vietnamese text
    back = json.loads(wire)
    assert verify_hash(back)
    assert back["payload"]["name"] == "Khu dân cư Phú Đình"


# --- canonical JSON -------------------------------------------------------------------------
def test_canonical_json_is_key_order_independent_compact_and_keeps_vietnamese() -> None:
    a = {"tên": "Tổ dân phố 1", "b": [1, {"y": 2, "x": 1}], "a": None}
    b = {"a": None, "b": [1, {"x": 1, "y": 2}], "tên": "Tổ dân phố 1"}
    assert canonical_json(a) == canonical_json(b)
    text = canonical_json(a).decode("utf-8")
    assert text == '{"a":null,"b":[1,{"x":1,"y":2}],"tên":"Tổ dân phố 1"}'
    assert "\\u" not in text
    assert compute_hash({"event_id": "1", **a}) == compute_hash({**b, "event_id": "1"})


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"score": float("nan")})


@pytest.mark.parametrize(
    "ts,expected",
    [
        (datetime(2025, 11, 15, 8, 30, tzinfo=UTC), "2025-11-15T08:30:00.000000Z"),
        (datetime(2025, 11, 15, 15, 30, tzinfo=timezone(timedelta(hours=7))), "2025-11-15T08:30:00.000000Z"),
        (datetime(2025, 11, 15, 8, 30), "2025-11-15T08:30:00.000000Z"),  # naive = UTC
    ],
)
def test_rfc3339_is_utc_with_z(ts: datetime, expected: str) -> None:
    assert rfc3339(ts) == expected


# --- the chain ------------------------------------------------------------------------------
def test_a_chain_of_three_verifies() -> None:
    events = chain(3)
    verify_chain(events)
    assert [e["sequence"] for e in events] == [1, 2, 3]
    assert events[1]["prev_hash"] == events[0]["hash"] and events[2]["prev_hash"] == events[1]["hash"]


def test_an_empty_stream_verifies() -> None:
    verify_chain([])


def _tamper_payload(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ev[1]["payload"]["body"] = "UBND tỉnh"
    return ev


def _gap(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ev[0], ev[2]]


def _reorder(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ev[0], ev[2], ev[1]]


def _duplicate(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ev[0], ev[1], ev[1], ev[2]]


def _missing_first(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return ev[1:]


def _wrong_prev_hash(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # a well-formed, correctly hashed event whose prev_hash points elsewhere
    forged = build_envelope(
        event_type=ev[2]["event_type"],
        payload=ev[2]["payload"],
        producer="approval",
        actor=ev[2]["actor"],
        stream_id=UY,
        unit_year_id=UY,
        sequence=3,
        prev_hash=ev[0]["hash"],
        correlation_id="corr-1",
        causation_id=None,
    )
    return [ev[0], ev[1], forged]


def _rehashed_tamper(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # tampering that recomputes the event's own hash still breaks the next link
    ev[1]["payload"]["body"] = "UBND tỉnh"
    ev[1]["hash"] = compute_hash(ev[1])
    return ev


def _first_with_prev_hash(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ev[0]["prev_hash"] = "a" * 64
    ev[0]["hash"] = compute_hash(ev[0])
    return [ev[0]]


@pytest.mark.parametrize(
    "mutate,message",
    [
        (_tamper_payload, "hash does not match"),
        (_gap, "sequence 3 where 2 was expected"),
        (_reorder, "sequence 3 where 2 was expected"),
        (_duplicate, "sequence 2 where 3 was expected"),
        (_missing_first, "sequence 2 where 1 was expected"),
        (_wrong_prev_hash, "prev_hash does not chain"),
        (_rehashed_tamper, "prev_hash does not chain"),
        (_first_with_prev_hash, "prev_hash does not chain"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_chain_breaks_are_detected(mutate: Any, message: str) -> None:
    events = copy.deepcopy(chain(3))
    with pytest.raises(ChainBreak, match=message):
        verify_chain(mutate(events))


def test_rfc3339_writes_what_strftime_wrote() -> None:
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from shared.contracts.envelope import rfc3339

    rnd = random.Random(7)
    for _ in range(2000):
        ts = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rnd.randrange(10**16))
        for variant in (ts, ts.replace(tzinfo=None), ts.astimezone(timezone(timedelta(hours=7))), ts.replace(microsecond=0)):
            expected = (
                (variant if variant.tzinfo else variant.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            )
            assert rfc3339(variant) == expected


def test_new_event_ids_are_time_ordered_version_7_uuids() -> None:
    """Unique, RFC 9562 version 7 in the canonical text form, stamped with the time they were
    made, and in that time's order across milliseconds: the property that keeps the outbox,
    inbox and history indexes appending (see ``new_event_id``)."""
    import time
    import uuid

    from shared.contracts.envelope import new_event_id

    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(2000)]
    time.sleep(0.002)
    later = new_event_id()
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in [*ids, later]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
        assert before <= parsed.int >> 80 <= after
    assert all(later > earlier for earlier in ids)


def test_uuid7_text_matches_the_rfc_9562_example() -> None:
    """RFC 9562, appendix A.6: 2022-02-22 19:22:22 UTC (0x017F22E279B0) with the example's
    random bits gives 017F22E2-79B0-7CC3-98C4-DC0C0C07398F."""
    from shared.contracts.envelope import uuid7_text

    text = uuid7_text(0x017F22E279B0, bytes.fromhex("fcc318c4dc0c0c07398f"))
    assert text == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"


def test_verify_hash_answers_as_the_canonical_form_does() -> None:
    """The orjson shortcut of ``verify_hash`` never says yes where the canonical form says no,
    nor no where it says yes: floats in every notation, whole-number floats, integers beyond
    64 bits, non-ASCII text, and each of them tampered with."""
    import random

    from shared.contracts.canonical import canonical_json, sha256_hex
    from shared.contracts.envelope import verify_hash

    rnd = random.Random(11)
    values = [0, 1, -7, 2**63 - 1, 2**64 + 5, 10**20, 96.0, 0.5, 1e16, 1e-7, 1.5e300, -0.0, 3.14, "Xã Đông", True, None]

    def reference(env: dict[str, object]) -> bool:
        body = {k: v for k, v in env.items() if k != "hash"}
        return env.get("hash") == sha256_hex(canonical_json(body))

    for _ in range(3000):
        payload = {f"k{i}": rnd.choice(values) for i in range(rnd.randrange(1, 5))}
        if rnd.random() < 0.3:
            payload["list"] = [rnd.choice(values) for _ in range(3)]
        env: dict[str, object] = {"event_id": "e", "sequence": 1, "payload": payload}
        env["hash"] = sha256_hex(canonical_json(env))
        assert verify_hash(env, parsed_by_orjson=True) and verify_hash(env) and reference(env)
        tampered = {**env, "payload": {**payload, "k0": rnd.choice(values)}}
        assert verify_hash(tampered, parsed_by_orjson=True) == verify_hash(tampered) == reference(tampered)
        # a whole-number float and its integer are the same in the canonical form
        same = {**env, "payload": {k: (float(v) if type(v) is int and abs(v) < 2**53 else v) for k, v in payload.items()}}
        assert verify_hash(same, parsed_by_orjson=True) == verify_hash(same) == reference(same)
    assert not verify_hash({"event_id": "e"}, parsed_by_orjson=True)
    assert not verify_hash({"event_id": "e", "hash": 5}, parsed_by_orjson=True)
