"""Canonical JSON and hashing used by the envelope hash chain and inbound signatures.

Canonical form: UTF-8, keys sorted, no insignificant white space, non-ASCII kept as is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


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


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256_hex(key: str, data: bytes) -> str:
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
