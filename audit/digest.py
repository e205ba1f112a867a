"""Per-record work of ``verify`` that needs no other record: parse, validate, re-hash.

It is the bulk of the CPU time and is independent record by record; ``verify``'s worker
processes run it on the records of the partitions they read (:mod:`audit.verify`). A record's
result is a small tuple (:data:`EVENT_FIELDS`).

The hash is the SHA-256 of the canonical JSON of the envelope without ``hash``; the
definition is ``shared.contracts.envelope.compute_hash``. orjson with sorted keys writes the
same bytes as the reference for every document without a floating-point number (same key
order, same string escaping, no spaces), so that path is taken when the output shows no float
token; otherwise, and whenever the fast hash disagrees with the stored one, the reference is
computed: the fast path can only be faster, never different.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, cast

import orjson

from shared.contracts.envelope import compute_hash
from shared.contracts.lifecycle import EXEMPLARY_STREAM, LIFECYCLES, lifecycle_for
from shared.contracts.upcasting import CURRENT_VERSION, UnsupportedVersion, upcast

_SORT = orjson.OPT_SORT_KEYS
#: orjson writes a float with a fraction as digits, '.', digits (then maybe an exponent) and then
#: ',', '}' or ']'; a float without a fraction with an exponent that always has a sign ("1e+16",
#: "1e-07"). Each pattern starts with a literal the regex engine scans for quickly; a string
#: that merely looks like one of them only costs the reference hash.
_FRACTION = re.compile(rb"\.[0-9]+[,}\]eE]").search
_EXP_MINUS = re.compile(rb"e-[0-9]+[,}\]]").search
_EXP_PLUS = re.compile(rb"e\+[0-9]+[,}\]]").search


def may_hold_float(canonical: bytes) -> bool:
    """Whether orjson's output may contain a float (then orjson and the reference may differ).
    The substring tests skip the exponent patterns for most documents."""
    return bool(
        _FRACTION(canonical) or (b"e-" in canonical and _EXP_MINUS(canonical)) or (b"e+" in canonical and _EXP_PLUS(canonical))
    )


_sha256 = hashlib.sha256

#: fields of the tuple :func:`digest_events` returns for each record
EVENT_FIELDS = (
    "problem",  # None, or (code, message) when the record is unusable or its hash is wrong
    "schema_error",  # None or the first schema error
    "event_id",
    "event_type",
    "stream_id",
    "producer",
    "sequence",
    "prev_hash",
    "hash",
    "unit_year_id",
    "causation_id",
    "recorded_at",
    "jurisdiction",
    "trigger",  # the lifecycle trigger the event records (None: no change; "": opens the stream; WRONG_TRACK)
    "state",  # payload.state, or MISSING
    # ApprovalCaseOpened, ExemplaryTitleCaseOpened: (last step level, body, unit dict);
    # UnitYearRecognized, ExemplaryTitleRecognized: (level, body, decision_no, decided_by);
    # UnitYearRevoked: (decision_no,); ExemplaryTitleRevoked: (because_of,);
    # ExemplaryTitleLapsed: (reason,); None otherwise
    "extra",
    "leaf",  # RFC 6962 leaf hash of the record value
)
MISSING = "\x00missing"
#: the trigger of an event whose type its stream's lifecycle table does not know but the
#: producer's other track's table does (an exemplary event on an ANTT stream, or the reverse)
WRONG_TRACK = "\x00wrong_track"
_UNSET = object()

_orjson_loads = orjson.loads


def _trigger_table() -> dict[tuple[str, str, bool], Any]:
    """(producer, event type, exemplary stream?) -> the function giving the trigger the event
    records. The tables are the ones :func:`lifecycle_for` gives a stream of each track, looked
    up once instead of per event; a record only tests its stream's prefix."""
    out: dict[tuple[str, str, bool], Any] = {}
    for producer in LIFECYCLES:
        for exemplary, stream in ((False, ""), (True, EXEMPLARY_STREAM)):
            lc = lifecycle_for(producer, stream)
            if lc is not None:
                out.update(((producer, t, exemplary), fn) for t, fn in lc.event_triggers.items())
    return out


_TRIGGERS = _trigger_table()
#: the event types of the openings and decisions whose details the verifier checks
_OPENED = frozenset({"ApprovalCaseOpened", "ExemplaryTitleCaseOpened"})
_RECOGNIZED = frozenset({"UnitYearRecognized", "ExemplaryTitleRecognized"})
#: the schema version each event type is published in today (``shared.contracts.upcasting``)
_CURRENT = CURRENT_VERSION

_schemas: Any = None
#: event type -> the fast yes-or-no validator of its schema
_quick: dict[str, Any] = {}
#: event type -> the same, true only for a document without a float (``fastschema`` plain mode)
_plain: dict[str, Any] = {}


def init(contracts: str | None) -> None:
    """Compile the schemas once per process (worker initialiser)."""
    global _schemas
    import gc

    from audit.schemas import DEFAULT_CONTRACTS, Schemas

    # a replay allocates millions of short-lived, acyclic objects: the cycle collector would
    # only rescan them (a third of the time of a run)
    gc.disable()

    _schemas = Schemas(Path(contracts) if contracts else DEFAULT_CONTRACTS)
    _quick.clear()
    _plain.clear()


def _validator(table: dict[str, Any], etype: str, kind: str) -> Any:
    """``table[etype]``, compiled on first use (None: no such type, or not compilable)."""
    v = _schemas.events.get(etype)
    fn = getattr(v, kind)() if v is not None else None
    table[etype] = fn
    return fn


def content_hash(env: dict[str, Any], *, parsed_by_orjson: bool = True) -> str:
    """The hash the envelope should carry (see the module docstring)."""
    if parsed_by_orjson:
        body = dict(env)
        body.pop("hash", None)
        try:
            fast = orjson.dumps(body, option=_SORT)
        except (TypeError, orjson.JSONEncodeError):
            fast = None
        if fast is not None and not may_hold_float(fast):
            return _sha256(fast).hexdigest()
    try:
        return compute_hash(env)
    except (TypeError, ValueError):
        return ""


def _loads(value: bytes) -> tuple[Any, bool]:
    try:
        return orjson.loads(value), True
    except orjson.JSONDecodeError:
        try:
            return json.loads(value), False  # e.g. an integer beyond 64 bits: the reference reads it
        except (ValueError, UnicodeDecodeError):
            return None, False


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def digest_event(value: bytes | None) -> tuple[Any, ...]:
    leaf = _sha256(b"\x00" + (value or b"")).digest()
    if value is None:
        return (("not_json", "the record has no value"), None, *([None] * 14), leaf)
    try:
        env = _orjson_loads(value)
        fast = True
    except orjson.JSONDecodeError:
        env, fast = _loads(value)
    if type(env) is not dict:
        return (("not_json", "the record is not a JSON object"), None, *([None] * 14), leaf)
    etype = env.get("event_type")
    # the common case first: an event of today's version, valid and without a float (one
    # function, fastschema's plain mode); its canonical JSON is orjson's sorted output
    plain = None
    if fast and type(etype) is str and env.get("schema_version") == _CURRENT.get(etype, 1):
        fn = _plain.get(etype, _UNSET)
        if fn is _UNSET:
            fn = _validator(_plain, etype, "plain")
        if fn is not None and fn(env):
            plain = True
    # content_hash() inlined, without copying the envelope: hash it without "hash", put it back
    stored = env.pop("hash", None)
    computed = None
    if fast:
        try:
            canonical = orjson.dumps(env, option=_SORT)
            if plain or not may_hold_float(canonical):
                computed = _sha256(canonical).hexdigest()
        except (TypeError, orjson.JSONEncodeError):
            pass
    if computed != stored:
        try:
            computed = compute_hash(env)  # the reference decides
        except (TypeError, ValueError):
            computed = ""
    if stored is not None or "hash" in env:
        env["hash"] = stored
    problem = None
    if computed != stored:
        problem = (
            "payload_edited",
            f"the event's content does not match its hash (recomputed {(computed or '')[:12]}…, recorded {str(stored)[:12]}…)",
        )
    checked = env
    version_error = None
    if plain:
        schema_error = None
    else:
        if isinstance(etype, str) and env.get("schema_version") != _CURRENT.get(etype, 1):
            try:
                checked = upcast(env)
            except (UnsupportedVersion, KeyError, TypeError) as exc:
                version_error = str(exc)
        quick = _quick.get(etype, _UNSET) if checked is env and type(etype) is str else None
        if quick is _UNSET:
            quick = _validator(_quick, cast(str, etype), "quick")
        if version_error is not None:
            schema_error = version_error
        elif quick is not None and quick(env):
            schema_error = None
        else:
            schema_error = _schemas.validate(checked)
    payload = checked.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    producer = _str(env.get("producer"))
    trigger = None
    if type(etype) is str:
        sid = env.get("stream_id")
        exemplary = type(sid) is str and sid.startswith(EXEMPLARY_STREAM)
        fn = _TRIGGERS.get((producer or "", etype, exemplary))
        if fn is not None:
            try:
                trigger = fn(payload)
            except Exception:  # noqa: BLE001 - a malformed payload is reported by the schema check
                trigger = None
        elif (producer or "", etype, not exemplary) in _TRIGGERS:
            trigger = WRONG_TRACK
    extra: tuple[Any, ...] | None = None
    if type(etype) is not str:
        pass  # a schema finding; and a list or an object cannot be looked up
    elif etype in _OPENED:
        chain = payload.get("chain")
        last = chain[-1] if isinstance(chain, list) and chain and isinstance(chain[-1], dict) else {}
        unit_v = payload.get("unit")
        unit = unit_v if isinstance(unit_v, dict) else {}
        extra = (
            _str(last.get("level")),
            _str(last.get("body")),
            {k: unit.get(k) for k in ("code", "province_code", "district_code", "commune_code")},
        )
    elif etype in _RECOGNIZED:
        extra = (
            _str(payload.get("level")),
            _str(payload.get("deciding_body")),
            _str(payload.get("decision_no")),
            _str(payload.get("decided_by")),
        )
    elif etype == "UnitYearRevoked":
        extra = (_str(payload.get("decision_no")),)
    elif etype == "ExemplaryTitleRevoked":
        extra = (_str(payload.get("because_of")),)
    elif etype == "ExemplaryTitleLapsed":
        extra = (_str(payload.get("reason")),)
    if schema_error is None and checked is env:
        # the schema guarantees the types: no checks needed
        actor = env["actor"]
        seq = env["sequence"]
        return (
            problem,
            None,
            env["event_id"],
            etype,
            env["stream_id"],
            producer,
            seq if type(seq) is int else int(seq),
            env["prev_hash"],
            stored,
            env["unit_year_id"],
            env["causation_id"],
            env["recorded_at"],
            actor.get("jurisdiction", "*"),
            trigger,
            payload.get("state", MISSING),
            extra,
            leaf,
        )
    actor = env.get("actor")
    jurisdiction = _str(actor.get("jurisdiction", "*")) if isinstance(actor, dict) else None
    seq = env.get("sequence")
    return (
        problem,
        schema_error,
        _str(env.get("event_id")),
        _str(etype),
        _str(env.get("stream_id")),
        producer,
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        _str(env.get("prev_hash")),
        _str(stored),
        _str(env.get("unit_year_id")),
        _str(env.get("causation_id")),
        _str(env.get("recorded_at")),
        jurisdiction,
        trigger,
        payload.get("state", MISSING),
        extra,
        leaf,
    )


def digest_events(values: list[bytes | None]) -> list[tuple[Any, ...]]:
    return [digest_event(v) for v in values]


def inbound_ids(values: list[bytes | None]) -> list[str | None]:
    """The ``event_id`` of each inbound message (None when it has none)."""
    out: list[str | None] = []
    for v in values:
        try:
            d = orjson.loads(v) if v is not None else None
        except orjson.JSONDecodeError:
            d = None
        out.append(d.get("event_id") if isinstance(d, dict) and isinstance(d.get("event_id"), str) else None)
    return out
