"""The fast validator accepts exactly what the published schemas accept: thousands of altered
events are judged by both it and fastjsonschema."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import fastjsonschema
import orjson
import pytest

from audit.fastschema import compile_schema
from audit.schemas import DEFAULT_CONTRACTS, UUID_PATTERN, simplify
from audit.synthetic import HistoryBuilder

ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    "",
    "x",
    "2025-02-30",
    "2025-11-10",
    "2025-11-10T08:00:00Z",
    "not-a-uuid",
    "0b8f3c52-6a1e-4d0f-9a57-1c2e5d7f9a01",
    "commune",
    "a" * 70,
    [],
    [1],
    {},
    {"a": 1},
    "0" * 64,
    "Z" * 64,
    "A:2025",
]


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, (*prefix, i))


def mutate(doc, rnd: random.Random):
    doc = copy.deepcopy(doc)
    target = rnd.choice([p for p in paths(doc) if p])
    parent = doc
    for k in target[:-1]:
        parent = parent[k]
    op = rnd.random()
    if op < 0.2 and isinstance(parent, dict):
        del parent[target[-1]]
    elif op < 0.3 and isinstance(parent, dict):
        parent["extra_" + str(rnd.randint(0, 9))] = rnd.choice(ODD_VALUES)
    else:
        parent[target[-1]] = copy.deepcopy(rnd.choice(ODD_VALUES))
    return doc


@pytest.fixture(scope="module")
def events() -> list[dict]:
    b = HistoryBuilder(partitions=1)
    b.lifecycle("F1")
    b.lifecycle("F2", decide=False)
    return [orjson.loads(r.value) for r in b.records() if r.topic.endswith(".events.v1")]


def test_same_verdict_as_fastjsonschema(events: list[dict]) -> None:
    rnd = random.Random(2024)
    schemas = {
        p.name.removesuffix(".schema.json"): simplify(json.loads(p.read_text()))
        for p in (Path(DEFAULT_CONTRACTS) / "events").glob("*.schema.json")
    }
    quick = {k: compile_schema(s) for k, s in schemas.items()}
    full = {k: fastjsonschema.compile(s, formats={"uuid": UUID_PATTERN}, use_default=False) for k, s in schemas.items()}
    checked = rejected = 0
    for ev in events:
        t = ev["event_type"]
        assert quick[t](ev)
        for _ in range(300):
            doc = mutate(ev, rnd)
            try:
                full[t](doc)
                expected = True
            except fastjsonschema.JsonSchemaException:
                expected = False
            assert quick[t](doc) == expected, (t, doc)
            checked += 1
            rejected += not expected
    assert checked > 2000 and rejected > checked // 4


def test_plain_mode_accepts_exactly_the_valid_documents_without_a_float(events: list[dict]) -> None:
    """``plain=True``: valid for fastjsonschema and no float anywhere, on altered events with
    floats at every depth (in declared properties, extra properties and open objects)."""
    from audit.fastschema import no_float

    rnd = random.Random(77)
    schemas = {
        p.name.removesuffix(".schema.json"): simplify(json.loads(p.read_text()))
        for p in (Path(DEFAULT_CONTRACTS) / "events").glob("*.schema.json")
    }
    plain = {k: compile_schema(s, plain=True) for k, s in schemas.items()}
    full = {k: fastjsonschema.compile(s, formats={"uuid": UUID_PATTERN}, use_default=False) for k, s in schemas.items()}
    floats = [2.0, 0.5, -0.0, 1e-7, 1e16, [1.5], {"x": [2.5]}, {"attributes": {"area": 12.0}}]
    checked = accepted = 0
    for ev in events:
        t = ev["event_type"]
        assert plain[t](ev)
        for _ in range(300):
            doc = mutate(ev, rnd)
            if rnd.random() < 0.5:  # then a float somewhere
                target = rnd.choice([p for p in paths(doc) if p])
                parent = doc
                for k in target[:-1]:
                    parent = parent[k]
                if isinstance(parent, dict) and rnd.random() < 0.5:
                    parent["extra_f"] = copy.deepcopy(rnd.choice(floats))
                else:
                    parent[target[-1]] = copy.deepcopy(rnd.choice(floats))
            try:
                full[t](doc)
                valid = True
            except fastjsonschema.JsonSchemaException:
                valid = False
            assert plain[t](doc) == (valid and no_float(doc)), (t, doc)
            checked += 1
            accepted += valid and no_float(doc)
    assert checked > 2000 and 0 < accepted < checked


def test_no_float() -> None:
    from audit.fastschema import no_float

    assert no_float({"a": [1, "1.5", None, True, {"b": []}]})
    assert not no_float({"a": [1, {"b": [0.0]}]})
    deep: list = [1.5]
    for _ in range(5000):
        deep = [deep]
    assert not no_float({"p": deep})
