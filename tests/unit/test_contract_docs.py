"""The published contract (docs/contracts, docs/asyncapi) matches the code and real messages.

- the committed files are exactly what ``python -m shared.contracts.docs`` generates;
- messages built by the code (``new_message``, ``build_envelope``, ``dead_letter_row``)
  validate against the generated JSON Schemas, and the schemas refuse what the code refuses;
- the examples of docs/contracts/README.md are signed, hashed and shaped correctly;
- every error code raised in the code is documented;
- the AsyncAPI documents describe what each service reads and publishes.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import MetaData, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.contracts import docs, topics
from shared.contracts.canonical import hmac_sha256_hex
from shared.contracts.envelope import ENVELOPE_FIELDS, build_envelope, verify_chain, verify_hash
from shared.contracts.events import EVENT_TYPES, UnitRegistered, UnitYearRegistered, dump
from shared.contracts.inbound import INBOUND_TYPES, Unit, new_message, sign, signing_bytes
from shared.contracts.sign import main as sign_main
from shared.infra.consumer import Received
from shared.infra.inbound import Command, InboundGate
from shared.infra.outbox import dead_letter_row
from shared.infra.settings import Sender
from shared.infra.tables import InfraTables

ROOT = docs.ROOT
CONTRACTS = ROOT / "docs" / "contracts"
ASYNCAPI = ROOT / "docs" / "asyncapi"
README = CONTRACTS / "README.md"
SENDERS_FILE = ROOT / "deploy" / "config" / "senders.json"

SENDER = "dvc-test"
KEY = "contract-test-key-0123456789abcdef"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()  # "uuid" and "date" are built in; "date-time" needs an extra package, so:
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(instance)]


def example_payload(event_type: str) -> dict[str, Any]:
    return load(CONTRACTS / "examples" / f"{event_type}.payload.json")


def gate_claim(message: dict[str, Any], owner: str, key: str = KEY, sender: str = SENDER) -> Any:
    gate = InboundGate(owner, {sender: Sender(key=key, jurisdiction=["*"])})
    raw = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return gate.claim(Received(topic=topics.INBOUND, partition=0, offset=1, key=b"k", value=raw))


# --------------------------------------------------------------------------- generated files
@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return docs.generate()


def test_committed_contract_matches_the_code(generated: dict[Path, str]) -> None:
    stale = docs.stale_files(ROOT, generated)
    assert not stale, "the published contract is stale; run `make contracts`:\n" + "\n".join(stale)


def test_generation_is_deterministic(generated: dict[Path, str]) -> None:
    assert docs.generate() == generated


def test_check_mode_reports_stale_missing_and_orphan_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    assert docs.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / "docs/contracts/events/UnitRegistered.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "docs/contracts/inbound/UnitYearWithdrawalSubmitted.schema.json").unlink()
    (tmp_path / "docs/contracts/inbound/NoSuchTypeSubmitted.schema.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert docs.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "events/UnitRegistered.schema.json (differs)" in err
    assert "inbound/UnitYearWithdrawalSubmitted.schema.json (missing)" in err
    assert "inbound/NoSuchTypeSubmitted.schema.json (no longer generated)" in err
    assert docs.main(["--root", str(tmp_path)]) == 0
    assert docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert not (tmp_path / "docs/contracts/inbound/NoSuchTypeSubmitted.schema.json").exists()


def test_one_schema_per_type_and_every_schema_is_valid_json_schema() -> None:
    assert sorted(p.name for p in (CONTRACTS / "inbound").glob("*.schema.json")) == sorted(
        f"{t}.schema.json" for t in INBOUND_TYPES
    )
    assert sorted(p.name for p in (CONTRACTS / "events").glob("*.schema.json")) == sorted(f"{t}.schema.json" for t in EVENT_TYPES)
    for path in sorted(CONTRACTS.rglob("*.schema.json")):
        Draft202012Validator.check_schema(load(path))
    envelope = load(CONTRACTS / "envelope.schema.json")
    assert set(envelope["properties"]) == set(ENVELOPE_FIELDS)
    assert all(envelope["properties"][f].get("description") for f in ENVELOPE_FIELDS)
    for event_type, (topic, _model) in EVENT_TYPES.items():
        schema = load(CONTRACTS / "events" / f"{event_type}.schema.json")
        assert schema["x-topic"] == topic
        assert schema["properties"]["event_type"]["const"] == event_type
    for event_type, (_model, owner) in INBOUND_TYPES.items():
        schema = load(CONTRACTS / "inbound" / f"{event_type}.schema.json")
        assert schema["x-topic"] == topics.INBOUND
        assert schema["x-handled-by"] == owner
        assert schema["properties"]["event_type"]["const"] == event_type


# --------------------------------------------------------------------------- inbound messages
@pytest.mark.parametrize("event_type", sorted(INBOUND_TYPES))
def test_signed_message_validates_against_its_schema(event_type: str) -> None:
    message = new_message(
        event_type,
        example_payload(event_type),
        source_system=SENDER,
        key=KEY,
        actor={"id": "officer-1", "role": "officer", "jurisdiction": "province:51"},
        correlation_id="case-2025-0001",
    )
    schema = load(CONTRACTS / "inbound" / f"{event_type}.schema.json")
    assert errors(schema, message) == []

    # the services accept the same message: the schema and the gate agree
    _model, owner = INBOUND_TYPES[event_type]
    claim = gate_claim(message, owner)
    assert claim.rejection is None and isinstance(claim.parsed, Command)

    # and the schema refuses what the gate refuses
    other = next(t for t in INBOUND_TYPES if t != event_type)
    assert errors(schema, {**message, "event_type": other})
    assert errors(schema, {**message, "unexpected": 1})
    assert errors(schema, {**message, "signature": "not-hex"})
    assert errors(schema, {**message, "payload": {**message["payload"], "unexpected": 1}})
    bad = gate_claim({**message, "unexpected": 1}, owner)
    assert bad.rejection is not None and bad.rejection.code == "invalid_message"


def test_schema_rejects_what_the_payload_model_rejects() -> None:
    schema = load(CONTRACTS / "inbound" / "UnitYearRegistrationSubmitted.schema.json")
    payload = {**example_payload("UnitYearRegistrationSubmitted"), "year": 2021}
    message = new_message("UnitYearRegistrationSubmitted", payload, source_system=SENDER, key=KEY)
    assert any("2022" in e for e in errors(schema, message))
    claim = gate_claim(message, "registration")
    assert claim.rejection is not None and claim.rejection.code == "invalid_payload"


# --------------------------------------------------------------------------- events
UNIT = Unit.model_validate(example_payload("UnitRegistrationSubmitted")["unit"])


def test_envelope_validates_against_envelope_and_event_schemas() -> None:
    payload = dump(
        UnitYearRegistered(
            unit_year_id="QNG-TB-T3:2025",
            year=2025,
            unit=UNIT,
            documents=example_payload("UnitYearRegistrationSubmitted")["documents"],
            households_total=212,
            households_registered=212,
        )
    )
    env = build_envelope(
        event_type="UnitYearRegistered",
        payload=payload,
        producer="registration",
        actor={"id": "officer-1", "role": "officer", "jurisdiction": "province:51"},
        stream_id="QNG-TB-T3:2025",
        unit_year_id="QNG-TB-T3:2025",
        sequence=1,
        prev_hash=None,
        correlation_id=str(uuid.uuid4()),
        causation_id=str(uuid.uuid4()),
    )
    env = json.loads(json.dumps(env))  # as a consumer reads it
    envelope_schema = load(CONTRACTS / "envelope.schema.json")
    event_schema = load(CONTRACTS / "events" / "UnitYearRegistered.schema.json")
    assert errors(envelope_schema, env) == []
    assert errors(event_schema, env) == []
    assert errors(event_schema, {**env, "event_type": "UnitYearWithdrawn"})
    assert errors(event_schema, {**env, "payload": {**payload, "year": "2025"}})
    assert errors(envelope_schema, {**env, "hash": "x"})
    assert errors(envelope_schema, {**env, "occurred_at": "12/11/2025"})
    assert errors(envelope_schema, {**env, "event_id": "not-a-uuid"})
    assert errors(envelope_schema, {k: v for k, v in env.items() if k != "prev_hash"})


def test_unit_event_has_no_unit_year_and_validates() -> None:
    env = build_envelope(
        event_type="UnitRegistered",
        payload=dump(UnitRegistered(unit=UNIT)),
        producer="registration",
        actor={"id": "officer-1", "role": "officer"},
        stream_id="unit:QNG-TB-T3",
        unit_year_id=None,
        sequence=1,
        prev_hash=None,
        correlation_id="c",
        causation_id="c",
    )
    assert errors(load(CONTRACTS / "events" / "UnitRegistered.schema.json"), env) == []
    assert errors(load(CONTRACTS / "envelope.schema.json"), env) == []


# --------------------------------------------------------------------------- dead letters
async def test_dead_letter_matches_its_schema_and_the_documented_headers() -> None:
    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = async_sessionmaker(engine)
        async with sessions() as session, session.begin():
            for value in (b'{"event_type": "Nope"}', b"\xff\xfe not utf-8"):
                row = dead_letter_row(
                    service="registration",
                    source_topic=topics.INBOUND,
                    partition=None if value.startswith(b"\xff") else 2,
                    offset=None if value.startswith(b"\xff") else 41,
                    key=b"QNG-TB-T3",
                    value=value,
                    code="unknown_event_type",
                    reason="unknown event_type 'Nope'",
                    message_id=None,
                )
                await session.execute(insert(infra.outbox), [row])
        async with sessions() as session:
            rows = (await session.execute(select(infra.outbox).order_by(infra.outbox.c.id))).all()
    finally:
        await engine.dispose()
    schema = load(CONTRACTS / "dlq.schema.json")
    assert [r.topic for r in rows] == [topics.dlq(topics.INBOUND)] * 2
    for row in rows:
        body = json.loads(row.value)
        assert errors(schema, body) == []
        assert set(json.loads(row.headers)) == set(docs.DLQ_HEADERS["properties"])
    assert json.loads(rows[1].value)["original"]["encoding"] == "base64"
    assert errors(schema, {**json.loads(rows[0].value), "original": {"encoding": "hex", "data": ""}})


# --------------------------------------------------------------------------- error codes
CODE_CALL = re.compile(r'(?:\b\w*Error|\bRejected|\bNotYetKnown|\b_unclaimable)\(\s*(?:msg,\s*)?"([a-z_]+)"', re.S)


def codes_in_code() -> set[str]:
    found: set[str] = set()
    for package in ("services", "shared"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(CODE_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_error_code_in_the_code_is_documented() -> None:
    found = codes_in_code()
    assert {"bad_signature", "unknown_unit_year", "processing_failed"} <= found  # the scan works
    assert found - set(docs.ERROR_CODES) == set(), "document these codes in shared/contracts/docs.py ERROR_CODES"
    assert set(docs.ERROR_CODES) - found == set(), "these documented codes are no longer used"
    readme = README.read_text(encoding="utf-8")
    assert [c for c in docs.ERROR_CODES if f"`{c}`" not in readme] == []


# --------------------------------------------------------------------------- README examples
def readme_json_blocks() -> list[Any]:
    text = README.read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)]


def test_readme_examples_are_signed_hashed_and_valid() -> None:
    blocks = readme_json_blocks()
    senders = load(SENDERS_FILE)
    messages = [b for b in blocks if "signature" in b]
    events = [b for b in blocks if "hash" in b and "stream_id" in b]
    dead_letters = [b for b in blocks if "dlq_id" in b]
    assert sorted(m["event_type"] for m in messages) == sorted(INBOUND_TYPES)
    assert events and dead_letters
    for message in messages:
        key = senders[message["source_system"]]["key"]
        assert message["signature"] == hmac_sha256_hex(key, signing_bytes(message)), message["event_type"]
        assert message == sign(message, key)
        schema = load(CONTRACTS / "inbound" / f"{message['event_type']}.schema.json")
        assert errors(schema, message) == [], message["event_type"]
        assert message["payload"] == example_payload(message["event_type"])
    for event in events:
        assert verify_hash(event), event["event_id"]
        assert errors(load(CONTRACTS / "events" / f"{event['event_type']}.schema.json"), event) == []
        assert event["causation_id"] in {m["event_id"] for m in messages}
    for body in dead_letters:
        assert errors(load(CONTRACTS / "dlq.schema.json"), body) == []
        original = json.loads(body["original"]["data"])
        assert original in messages


def test_readme_test_vector_is_the_canonical_form() -> None:
    text = README.read_text(encoding="utf-8")
    vector = re.search(r"```text\n(.*?)\n```", text, re.S)
    assert vector is not None
    withdrawal = next(b for b in readme_json_blocks() if b.get("event_type") == "UnitYearWithdrawalSubmitted")
    assert vector.group(1).encode("utf-8") == signing_bytes(withdrawal)
    assert withdrawal["signature"] in text.split("```text", 1)[1].split("##", 1)[0]


def test_readme_names_every_type() -> None:
    text = README.read_text(encoding="utf-8")
    assert [t for t in (*INBOUND_TYPES, *EVENT_TYPES) if f"`{t}`" not in text] == []


def test_verify_chain_accepts_a_chain_and_rejects_a_gap() -> None:
    chain, prev = [], None
    for seq in (1, 2, 3):
        env = build_envelope(
            event_type="UnitYearSelfScored",
            payload={
                "unit_year_id": "X:2025",
                "round": seq,
                "verdict": "met",
                "state": "self_scored",
                "pending_level": "commune",
            },
            producer="approval",
            actor={"id": "a", "role": "r"},
            stream_id="X:2025",
            unit_year_id="X:2025",
            sequence=seq,
            prev_hash=prev,
            correlation_id="c",
            causation_id="c",
        )
        prev = env["hash"]
        chain.append(env)
    verify_chain(chain)
    with pytest.raises(Exception, match="sequence 3 where 2"):
        verify_chain([chain[0], chain[2]])


# --------------------------------------------------------------------------- AsyncAPI
def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


@pytest.mark.parametrize("spec", docs.SERVICES, ids=lambda s: s.name)
def test_asyncapi_describes_what_the_service_reads_and_publishes(spec: docs.ServiceSpec) -> None:
    doc = load(ASYNCAPI / f"{spec.name}.json")
    assert doc["asyncapi"] == "3.0.0"
    for ref in all_refs(doc):
        resolve(doc, ref)

    app = importlib.import_module(spec.app_module)
    runtime = app.create_runtime(docs._settings(spec))
    consumed = set(runtime.processors)

    def addresses(action: str) -> set[str]:
        return {resolve(doc, op["channel"]["$ref"])["address"] for op in doc["operations"].values() if op["action"] == action}

    assert addresses("receive") == consumed
    assert addresses("send") == {spec.events_topic, topics.CHECKPOINTS, *(topics.dlq(t) for t in consumed)}

    schemas = doc["components"]["schemas"]
    published = {t for t, (topic, _m) in EVENT_TYPES.items() if topic == spec.events_topic}
    assert {f"{t}Event" for t in published} <= set(schemas)
    inbound_owned = {t for t, (_m, owner) in INBOUND_TYPES.items() if owner == spec.name}
    assert {f"{t}Message" for t in inbound_owned} <= set(schemas)
    assert "DeadLetter" in schemas


def test_sign_cli_prints_one_signed_line(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setenv("CONTRACT_TEST_KEY", KEY)
    payload_file = CONTRACTS / "examples" / "UnitYearWithdrawalSubmitted.payload.json"
    args = ["--source-system", SENDER, "--key-env", "CONTRACT_TEST_KEY", "--event-type", "UnitYearWithdrawalSubmitted"]
    assert sign_main([*args, "--payload-file", str(payload_file), "--with-kafka-key", "|"]) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert out.count("\n") == 1
    key, line = out.rstrip("\n").split("|", 1)
    assert key == "QNG-TB-T3"
    message = json.loads(line)
    claim = gate_claim(message, "registration")
    assert claim.rejection is None

    # a whole message, as written, re-signed
    unsigned = {k: v for k, v in message.items() if k != "signature"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(unsigned)))
    assert sign_main(["--source-system", SENDER, "--key", KEY, "--message-file", "-"]) == 0
    assert json.loads(capsysbinary.readouterr().out) == message

    # a payload that breaks the contract is refused before signing
    monkeypatch.setattr("sys.stdin", io.StringIO('{"unit_year_id": "QNG-TB-T3:2025"}'))
    assert sign_main([*args, "--payload-file", "-"]) == 2
    assert b"reason" in capsysbinary.readouterr().err
