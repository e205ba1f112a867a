"""Property-based fuzzing (hypothesis) of the inbound gate and of the consumer's claim/handle path.

Whatever a record holds (arbitrary bytes, arbitrary and deeply nested JSON, huge and odd
strings, messages that are almost right, bad keys and headers), nothing escapes: the gate
answers with a claim or ``None``, and a batch through a real service's consumer (its gate,
commands and SQLite database) ends with every record it claims applied, ignored, parked or
dead-lettered with a reason, its inbox row written and its offset free to commit.

The examples are bounded (``FUZZ_EXAMPLES``, default 60 per property) so that the suite stays
fast; set ``ANTT_FUZZ_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.approval import app as approval_app
from services.approval.settings import ApprovalSettings
from services.assessment import app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from shared.contracts.inbound import INBOUND_TYPES, MAX_INBOUND_BYTES, sign
from shared.infra.consumer import Claim, Received
from shared.infra.inbound import InboundGate
from shared.infra.migrate import upgrade_head_async
from shared.infra.runtime import ServiceRuntime
from tests.unit.builders import SENDER, SENDERS, all_criteria, message, senders_json, unit

FUZZ_EXAMPLES = int(os.environ.get("ANTT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
SERVICES = ("registration", "assessment", "approval")
UY = "QN-KDC-001:2025"

# --------------------------------------------------------------------------- strategies
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "\u202e", "\ufeff", "\U0001f600", "Đ", "\\", '"', "\n", "\u0301"]), max_size=40),
    st.sampled_from(["", " ", "null", "NaN", "-0", "1e999", "UnitRegistrationSubmitted", "SelfAssessmentSubmitted", SENDER]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(odd_text, children, max_size=5)),
    max_leaves=30,
)


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    """JSON nested far deeper than any parser's comfort: arrays, objects, or a payload."""
    depth = draw(st.integers(min_value=200, max_value=20_000))
    kind = draw(st.sampled_from(["array", "object", "payload"]))
    if kind == "array":
        return b"[" * depth + b"]" * depth
    inner = b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "object":
        return inner
    env = message("UnitRegistrationSubmitted", {"unit": unit()})
    env["payload"] = {"unit": "__NESTED__"}
    return json.dumps(env).encode().replace(b'"__NESTED__"', inner)


@st.composite
def huge_strings(draw: st.DrawFn) -> bytes:
    """A message with one field near, at or over the 512 KiB limit, of plain or escaped text."""
    size = draw(st.sampled_from([MAX_INBOUND_BYTES - 400, MAX_INBOUND_BYTES, MAX_INBOUND_BYTES + 1, 2 * MAX_INBOUND_BYTES]))
    char = draw(st.sampled_from(["x", "\u0000", '"', "Đ", "\U0001f600"]))
    env = message("UnitRegistrationSubmitted", {"unit": unit()})
    env["payload"]["unit"]["name"] = char * (size // max(1, len(json.dumps(char)) - 2))
    return json.dumps(env, ensure_ascii=draw(st.booleans())).encode()


def valid_payloads() -> dict[str, dict[str, Any]]:
    return {
        "UnitRegistrationSubmitted": {"unit": unit()},
        "UnitYearRegistrationSubmitted": {
            "unit_code": "QN-KDC-001",
            "year": 2025,
            "documents": [{"kind": "registration_form", "ref": "BĐK-01/2025"}],
            "households_total": 120,
            "households_registered": 120,
        },
        "UnitYearWithdrawalSubmitted": {"unit_year_id": UY, "reason": "sáp nhập"},
        "SelfAssessmentSubmitted": {
            "unit_year_id": UY,
            "criteria": all_criteria("residential_area"),
            "meeting_date": "2025-10-20",
        },
        "ReviewDecisionSubmitted": {
            "unit_year_id": UY,
            "level": "commune",
            "decision": "pass",
            "decided_by": "x",
            "step": "review",
        },
        "IncidentReported": {
            "incident_id": "I-1",
            "unit_code": "QN-KDC-001",
            "occurred_on": "2025-06-03",
            "category": "crime",
            "reported_by": "CA",
        },
        "RecognitionRevocationSubmitted": {"unit_year_id": UY, "reasons": ["x"], "decided_by": "y"},
    }


@st.composite
def almost_right(draw: st.DrawFn) -> bytes:
    """A signed message of a real type, intact or with one part of it replaced by anything: the payload
    or one of its fields (signed again, so it reaches validation and the handlers), or a field
    of the envelope (not signed again: the signature or the schema refuses it)."""
    event_type = draw(st.sampled_from(sorted(valid_payloads())))
    payload = valid_payloads()[event_type]
    where = draw(st.sampled_from(["intact", "payload_field", "payload_field", "payload", "envelope_field", "extra_field"]))
    if where == "payload_field":
        field = draw(st.sampled_from(sorted(payload)))
        payload = {**payload, field: draw(json_values)}
    elif where == "payload":
        payload = draw(json_values)  # type: ignore[assignment]
    env = message(event_type, payload if isinstance(payload, dict) else {})
    if where == "payload":
        env = sign({**env, "payload": payload}, SENDERS[SENDER].key)
    elif where == "envelope_field":
        env[draw(st.sampled_from(sorted(env)))] = draw(json_values)
    elif where == "extra_field":
        env = sign({**env, draw(odd_text): draw(json_values)}, SENDERS[SENDER].key)
    if draw(st.booleans()):
        try:
            return orjson.dumps(env, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # an integer wider than 64 bits: orjson writes none
            pass
    return json.dumps(env).encode()


record_values = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["event_id", "event_type", "source_system", "payload", "signature", "actor"]), json_values
    ).map(lambda v: json.dumps(v).encode()),
    deeply_nested(),
    huge_strings(),
    almost_right(),
)
keys = st.one_of(st.none(), st.binary(max_size=40), st.just(b"QN-KDC-001"))
headers = st.dictionaries(odd_text, st.one_of(st.binary(max_size=60), st.just(b"")), max_size=4)
_offsets = itertools.count()


@st.composite
def records(draw: st.DrawFn) -> Received:
    return Received(
        topic=topics.INBOUND,
        partition=draw(st.integers(min_value=0, max_value=5)),
        offset=next(_offsets),  # distinct, so that each record is a record of its own, not a redelivery
        key=draw(keys),
        value=draw(record_values),
        headers=draw(headers),
    )


# --------------------------------------------------------------------------- the gate
GATES = {s: InboundGate(s, SENDERS) for s in SERVICES}


def check_claim(service: str, msg: Received, claim: Claim | None) -> None:
    if claim is None:
        return
    assert isinstance(claim.message_id, str) and 0 < len(claim.message_id) <= 200
    if claim.rejection is not None:
        assert claim.rejection.code and claim.rejection.reason, claim.rejection
    else:
        assert claim.parsed is not None and INBOUND_TYPES[claim.parsed.event_type][1] == service


@FUZZ
@given(records())
def test_the_gate_answers_any_record_without_raising(msg: Received) -> None:
    claimed = {s: GATES[s].claim(msg) for s in SERVICES}
    for service, claim in claimed.items():
        check_claim(service, msg, claim)
    # at most one owner handles a well-formed message, and some service answers for every
    # record: its owner, or the gatekeeper for what no service can claim
    assert len([s for s, c in claimed.items() if c is not None and c.rejection is None]) <= 1
    assert any(c is not None for c in claimed.values())


# --------------------------------------------------------------------------- the consumer
FACTORIES = {
    "registration": (registration_app.create_runtime, RegistrationSettings, registration_app.MIGRATIONS),
    "assessment": (assessment_app.create_runtime, AssessmentSettings, assessment_app.MIGRATIONS),
    "approval": (approval_app.create_runtime, ApprovalSettings, approval_app.MIGRATIONS),
}


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    ev = asyncio.new_event_loop()
    yield ev
    ev.close()


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, ServiceRuntime]]:
    """Each service's runtime on a SQLite file of its own, never started: the test feeds its
    inbound processor directly, as the subscriber does."""
    tmp = tmp_path_factory.mktemp("fuzz")
    senders = tmp / "senders.json"
    senders.write_text(senders_json(), encoding="utf-8")
    out: dict[str, ServiceRuntime] = {}
    for name, (create, settings_cls, migrations) in FACTORIES.items():
        url = f"sqlite+aiosqlite:///{tmp / name}.db"
        rt = create(
            settings_cls(database_url=url, senders_file=senders, api_tokens_file=tmp / "none.json", consumer_max_attempts=2)
        )
        rt.processors[topics.INBOUND]._pause = 0.0  # retries of a failing record without the pause
        loop.run_until_complete(upgrade_head_async(migrations, url))
        out[name] = rt
    yield out
    for rt in out.values():
        loop.run_until_complete(rt.engine.dispose())
        rt.sync_engine.dispose()
        rt.http_engine.dispose()


def outcome_of(rt: ServiceRuntime, msg: Received, claim: Claim) -> tuple[str | None, list[dict[str, Any]]]:
    """The record's inbox outcome and the dead letters written for its position."""
    inbox, outbox = rt.infra.inbox, rt.infra.outbox
    with rt.write_sessions() as s:
        ids = [claim.message_id, f"dup:{msg.topic}:{msg.partition}:{msg.offset}"]
        rows = s.execute(
            select(inbox.c.message_id, inbox.c.outcome, inbox.c.partition, inbox.c.offset).where(inbox.c.message_id.in_(ids))
        ).all()
        dead = [
            orjson.loads(r.value)
            for r in s.execute(select(outbox.c.value).where(outbox.c.topic == topics.dlq(topics.INBOUND))).all()
        ]
    mine = [d for d in dead if (d["source_partition"], d["source_offset"]) == (msg.partition, msg.offset)]
    here = [r for r in rows if (r.partition, r.offset) == (msg.partition, msg.offset)]
    return (here[0].outcome if here else None), mine


@FUZZ
@given(st.lists(records(), min_size=1, max_size=4))
def test_every_record_through_a_consumer_ends_applied_or_dead_lettered(
    runtimes: dict[str, ServiceRuntime], loop: asyncio.AbstractEventLoop, batch: list[Received]
) -> None:
    for name, rt in runtimes.items():
        proc = rt.processors[topics.INBOUND]
        handler = rt.parking.handlers[topics.INBOUND]
        loop.run_until_complete(proc.process(batch))  # nothing escapes
        for msg in batch:
            claim = handler.claim(msg)
            if claim is None:
                continue  # another service's message
            outcome, dead = outcome_of(rt, msg, claim)
            if outcome is None:
                # an id already used by an earlier record: a duplicate is dead-lettered once
                assert [d["error_code"] for d in dead] in ([], ["duplicate_event_id"]), (name, dead)
                continue
            assert outcome in ("applied", "ignored", "rejected", "parked", "failed"), (name, outcome)
            if outcome in ("rejected", "failed"):
                assert dead, (name, msg, claim)
                assert all(d["error_code"] and d["reason"] and d["service"] == name for d in dead)
                assert all(d["original_size"] == len(msg.value) for d in dead)


@FUZZ
@given(st.lists(almost_right(), min_size=1, max_size=6))
def test_signed_messages_with_anything_inside_never_fail_in_a_handler(
    runtimes: dict[str, ServiceRuntime], loop: asyncio.AbstractEventLoop, values: list[bytes]
) -> None:
    """A message that passes the gate reaches the handlers: whatever its payload held, the
    outcome is a decision of the service (applied, refused with a reason, parked), never an
    unexpected error (``processing_failed``)."""
    batch = [Received(topic=topics.INBOUND, partition=0, offset=next(_offsets), key=b"QN-KDC-001", value=v) for v in values]
    for name, rt in runtimes.items():
        before = dict(rt.processors[topics.INBOUND].dead_letters)
        loop.run_until_complete(rt.processors[topics.INBOUND].process(batch))
        after = rt.processors[topics.INBOUND].dead_letters
        assert after.get("processing_failed", 0) == before.get("processing_failed", 0), name
        assert after.get("unreadable_message", 0) == before.get("unreadable_message", 0), name


def test_event_ids_of_the_fuzz_are_fresh() -> None:
    """The builders give each message a new event_id, so a fuzzed record is not a duplicate of
    an earlier one by accident (the property above relies on it)."""
    assert len({message("UnitRegistrationSubmitted", {"unit": unit()})["event_id"] for _ in range(100)}) == 100
    assert uuid.UUID(message("UnitRegistrationSubmitted", {"unit": unit()})["event_id"])


@pytest.mark.parametrize("service", SERVICES)
def test_the_fuzz_reaches_the_handlers(service: str) -> None:
    """A sanity check of the strategies: the almost-right messages include ones each service
    accepts past its gate, so the handler path is fuzzed, not only the gate."""

    def accepted(value: bytes) -> bool:
        c = GATES[service].claim(Received(topic=topics.INBOUND, partition=0, offset=0, key=None, value=value))
        return c is not None and c.rejection is None

    assert accepted(find(almost_right(), accepted, settings=settings(max_examples=500, database=None)))
