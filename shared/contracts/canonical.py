"""Canonical JSON and hashing used by the envelope hash chain and inbound signatures.

Canonical form: UTF-8, keys sorted, no insignificant white space, non-ASCII kept as is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson


def _normalise(value: Any) -> Any:
    """Whole-number floats become integers, so ``96.0`` and ``96`` sign and hash alike
    whatever JSON library the sender uses."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def canonical_json_reference(value: Any) -> bytes:
    """The definition of the canonical form (the standard library's encoder)."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only str keys, strings, booleans, null and 64-bit integers: then
    orjson's sorted output is byte for byte the reference's. Floats (whose exponent notation
    differs, e.g. ``1e+16`` and ``1e16``) and big integers take the reference path."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        x = pop()
        t = type(x)
        if t is dict:
            for k in x:
                if type(k) is not str:
                    return False
            extend(x.values())
        elif t is list:
            extend(x)
        elif t is str or t is bool or x is None:
            continue
        elif t is int:
            if not _INT_MIN <= x <= _INT_MAX:
                return False
        else:
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value`` (see the module docstring): orjson when that is
    provably identical (:func:`_plain`), else the reference; a golden-hash test holds the two
    together."""
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return canonical_json_reference(value)


def compact_json(value: Any) -> bytes:
    """Compact UTF-8 JSON of JSON-ready values, as written on the topics (what
    ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` writes): orjson, or the standard
    library for what orjson refuses (an integer beyond 64 bits). Hashes and signatures are over
    :func:`canonical_json`, not these bytes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256_hex(key: str, data: bytes) -> str:
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
