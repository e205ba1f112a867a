"""The fast canonical JSON (orjson) is byte for byte the reference (the standard library), so
that no hash and no signature ever changes: golden hashes of fixed envelopes, and the two paths
compared on awkward values."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime

import pytest

from shared.contracts.canonical import _plain, canonical_json, canonical_json_reference, sha256_hex
from shared.contracts.envelope import build_envelope, compute_hash

AWKWARD_STRINGS = [
    "",
    "Thôn Phú Đình — xã Phú Đình, tỉnh Quảng Ngãi",
    'quote " backslash \\ slash /',
    "control \x00\x01\x1f\x7f tab\t nl\n cr\r",
    "line sep \u2028 para sep \u2029",
    "emoji 🏛️ and astral 𝔸",
    "\ud7ff\ue000\uffff",
    "<script>&amp;</script>",
]
AWKWARD_VALUES = [0, 1, -1, 2**53, -(2**63), 2**64 - 1, True, False, None, [], {}, [[]], {"": {}}]


def test_awkward_values_encode_alike() -> None:
    for v in [*AWKWARD_STRINGS, *AWKWARD_VALUES]:
        doc = {"b": v, "a": [v, {"z": v, "ä": v, "A": v}], v if isinstance(v, str) else "k": 1}
        assert canonical_json(doc) == canonical_json_reference(doc), repr(v)


def test_random_documents_encode_alike() -> None:
    rng = random.Random(20261201)
    alphabet = string.printable + "ăâđêôơưĂÂĐÊÔƠƯàáảãạ\u2028😀\x00\x1f"

    def word() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    def value(depth: int) -> object:
        r = rng.random()
        if depth > 3 or r < 0.3:
            return rng.choice([word(), rng.randint(-(2**63), 2**63), True, False, None])
        if r < 0.6:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {word(): value(depth + 1) for _ in range(rng.randint(0, 5))}

    for _ in range(2000):
        doc = value(0)
        assert canonical_json(doc) == canonical_json_reference(doc)


@pytest.mark.parametrize("value", [96.0, 96.5, 0.1, 1e16, 1e-7, 2**64, -(2**63) - 1, {1: "int key"}])
def test_floats_big_integers_and_odd_keys_take_the_reference_path(value: object) -> None:
    doc = {"v": value}
    assert not _plain(doc)
    assert canonical_json(doc) == canonical_json_reference(doc)


def test_whole_floats_hash_as_integers() -> None:
    assert canonical_json({"score": 96.0}) == canonical_json({"score": 96}) == b'{"score":96}'


def test_golden_envelope_hash() -> None:
    """A fixed envelope hashes to the value it always had (recorded from the reference encoder)."""
    env = build_envelope(
        event_type="UnitYearRecognized",
        payload={
            "unit_year_id": "TNG-PD-XOM1:2025",
            "level": "commune",
            "deciding_body": "Chủ tịch UBND xã",
            "decided_by": "Chủ tịch UBND xã Phú Đình",
            "decision_no": "12/QĐ-UBND",
            "decided_on": "2025-11-10",
            "certificate_no": None,
            "state": "recognized",
            "score": 96.5,
        },
        producer="approval",
        actor={"id": "officer@commune", "role": "officer", "jurisdiction": "commune:C001"},
        stream_id="TNG-PD-XOM1:2025",
        unit_year_id="TNG-PD-XOM1:2025",
        sequence=7,
        prev_hash="0" * 64,
        correlation_id="hồ-sơ-1",
        causation_id="http:2f1e6b2c-0000-4000-8000-000000000001",
        event_id="6a1d0b55-3a3c-4b7e-9a10-000000000007",
        recorded_at=datetime(2025, 11, 10, 8, 30, tzinfo=UTC),
    )
    body = {k: v for k, v in env.items() if k != "hash"}
    reference = sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    assert env["hash"] == compute_hash(env) == reference == "2a49a75d74a9e5476a082a6aa3b343bb33be0bd494b472c3409bcff5d840fe22"
    body["payload"]["score"] = 96  # no float left: the orjson path
    assert sha256_hex(canonical_json(body)) == "6085d0600ef286e015f15cf1e9e9097604d20dbe029c3282b4ea21ad4e0800da"
