"""The fast hash path of ``verify`` gives the reference's answer on every document."""

from __future__ import annotations

import random

import pytest

from audit.digest import content_hash
from audit.schemas import Schemas, simplify
from shared.contracts.envelope import build_envelope, compute_hash


def envelope(payload: dict) -> dict:
    return build_envelope(
        event_type="VerdictChanged",
        payload=payload,
        producer="approval",
        actor={"id": "a", "role": "r", "jurisdiction": "*"},
        stream_id="X:2025",
        unit_year_id="X:2025",
        sequence=1,
        prev_hash=None,
        correlation_id="c",
        causation_id=None,
    )


@pytest.mark.parametrize(
    "value",
    [
        96.0,
        96.5,
        1e-7,
        1e16,
        -0.0,
        5e-324,
        2**63 - 1,
        "08:00:00.123",
        "tiếng Việt “quotes”",
        "\x00\x1f\x7f\u2028",
        [1.0, 2.5, {"k": 3.0}],
        {"b": 1, "a": [None, True, False]},
        '\\"',
        "e+5",
        [",1.5"],
    ],
)
def test_fast_hash_equals_the_reference(value: object) -> None:
    env = envelope({"v": value, "unit_year_id": "X:2025", "verdict": "met", "reason": "r", "state": "s"})
    assert content_hash(env) == compute_hash(env) == env["hash"]


def test_random_floats() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        f = rnd.choice([rnd.random() * 10 ** rnd.randint(-12, 20), float(rnd.randint(0, 100)), rnd.uniform(-5, 5)])
        env = envelope({"score": f, "items": [f, {"p": f}]})
        assert content_hash(env) == compute_hash(env)


def test_simplify_keeps_meaning() -> None:
    s = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}], "default": None}
    assert simplify(s) == {"type": ["string", "null"], "format": "date", "default": None}
    kept = {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}]}
    assert simplify(kept) == kept


def test_schemas_validate_envelopes() -> None:
    s = Schemas()
    env = envelope({"unit_year_id": "X:2025", "verdict": "met", "reason": "r", "state": "s"})
    assert s.validate(env) is None
    assert "payload" in s.validate({**env, "payload": {"verdict": "met"}})
    assert "event_id" in s.validate({**env, "event_id": "not-a-uuid"})
    assert s.validate({**env, "event_type": "SomethingNew"}) is None  # the envelope alone


def test_every_float_is_seen_by_the_guard() -> None:
    import orjson

    from audit.digest import may_hold_float

    rnd = random.Random(11)
    for _ in range(20000):
        x = rnd.choice(
            [
                rnd.random() * 10 ** rnd.randint(-320, 308),
                float(rnd.randint(-(10**6), 10**6)),
                rnd.uniform(-5, 5),
                10.0 ** rnd.randint(-300, 300),
                -0.0,
                5e-324,
            ]
        )
        assert may_hold_float(orjson.dumps({"a": [x, {"b": x}]}, option=orjson.OPT_SORT_KEYS))
        assert may_hold_float(orjson.dumps({"a": x}))
        assert may_hold_float(orjson.dumps([x]))
    assert not may_hold_float(b'{"recorded_at":"2025-02-10T01:00:00.050000Z","n":12}')


@pytest.mark.parametrize("event_type", [["UnitYearRecognized"], {"a": 1}, 5, None])
def test_an_event_type_that_is_no_string_is_a_schema_error(event_type: object) -> None:
    """Not a crash of the whole verification: the record is checked against the envelope."""
    import orjson

    from audit import digest

    digest.init(None)
    env = envelope({"unit_year_id": "X:2025", "verdict": "met", "reason": "r", "state": "s"})
    env["event_type"] = event_type
    d = digest.digest_event(orjson.dumps(env))
    assert d[digest.EVENT_FIELDS.index("schema_error")] is not None
    assert d[digest.EVENT_FIELDS.index("event_type")] is None
