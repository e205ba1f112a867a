"""Signed checkpoints of the event log (public contract, topic ``antt.audit.checkpoints.v1``).

A SHA-256 hash chain per stream only catches accidents: whoever can write a topic can rewrite a
whole stream and recompute every hash, or drop the newest events, and the chain still holds.
Transparency logs (RFC 6962/9162, C2SP tlog-checkpoint) close both holes with a signed tree
head, and so does this project:

- Each service's event topic is, per partition, an append-only log of records in offset order.
  The service's outbox relay, which alone writes the topic, keeps an RFC 6962 Merkle tree over
  every partition: the leaf of the record at offset ``i`` is ``SHA-256(0x00 || value)`` over the
  record's value bytes exactly as published (the event's JSON), inner nodes are
  ``SHA-256(0x01 || left || right)``.
- Periodically and at shutdown the relay publishes a checkpoint: for each partition its
  ``size`` (records 0..size-1 covered) and Merkle ``root``, the total, the time, the
  checkpoint's own ``sequence`` (1, 2, ... per producer) and the hash of the previous
  checkpoint, signed with the service's Ed25519 key. The leaves of the relay's tree come only from
  the rows of its own outbox, never from reading the topic, so a record someone else wrote is
  never signed. (One exception, logged: on the first start of a deployment that predates the
  trees, the records already on the topic are adopted once.)
- An auditor with the services' public keys recomputes the roots from the topic (or an export)
  and compares: an edited, dropped, reordered, duplicated or inserted record, a rewritten
  stream with recomputed hashes, a dropped tail, and a deleted or forged checkpoint are each
  detected.

The signed bytes are the canonical JSON (``shared.contracts.canonical``) of the checkpoint
without ``signature``; ``signature`` is the base64 of the 64-byte Ed25519 signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.canonical import canonical_json, sha256_hex

FORMAT = "antt-checkpoint/1"


# --------------------------------------------------------------------------- RFC 6962 hashing


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def mth(leaves: list[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of *leaf hashes* (RFC 6962 section 2.1), by definition.

    Recursive and O(n log n) in hashing: the reference that :class:`CompactRange` is tested
    against; use :class:`CompactRange` for long logs.
    """
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


@dataclass
class CompactRange:
    """The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first.

    Appending a leaf costs one hash plus one per carried level (amortised two), and the root of
    the whole tree is folded from at most log2(size) hashes, so a relay keeps the tree of a
    partition of any length in a few hundred bytes, and a verifier checks a history in one pass.
    """

    size: int = 0
    #: (height, hash) of each perfect subtree, left to right; heights strictly decreasing
    peaks: list[tuple[int, bytes]] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Append one *leaf hash*."""
        height, h = 0, leaf
        while self.peaks and self.peaks[-1][0] == height:
            _, left = self.peaks.pop()
            h = node_hash(left, h)
            height += 1
        self.peaks.append((height, h))
        self.size += 1

    def append_value(self, value: bytes) -> None:
        """Append the leaf of a record value."""
        self.append(leaf_hash(value))

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        h = self.peaks[-1][1]
        for _, left in reversed(self.peaks[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.peaks))

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "peaks": [[ht, h.hex()] for ht, h in self.peaks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompactRange:
        return cls(int(data["size"]), [(int(ht), bytes.fromhex(h)) for ht, h in data["peaks"]])


# --------------------------------------------------------------------------- the checkpoint


class PartitionHead(BaseModel):
    """The tree head of one partition of the producer's event topic."""

    model_config = ConfigDict(extra="forbid")

    partition: int = Field(ge=0)
    size: int = Field(ge=0, description="records at offsets 0..size-1 are covered")
    root: str = Field(pattern=r"^[0-9a-f]{64}$", description="RFC 6962 Merkle root (hex) of those records")


class Checkpoint(BaseModel):
    """One signed checkpoint, as published on ``antt.audit.checkpoints.v1`` (key: producer)."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(FORMAT, description=f"always {FORMAT!r}")
    producer: str = Field(description="the service whose event topic is covered")
    topic: str = Field(description="its event topic")
    sequence: int = Field(ge=1, description="1, 2, ... per producer, without gaps")
    prev_checkpoint: str | None = Field(description="SHA-256 (hex) of the previous checkpoint's signed bytes; null for the first")
    issued_at: str = Field(description="RFC 3339 UTC")
    partitions: list[PartitionHead] = Field(description="every partition of the topic, by number")
    size: int = Field(ge=0, description="the sum of the partitions' sizes")
    root: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="RFC 6962 root over the leaves SHA-256(0x00 || canonical JSON of each partition head)",
    )
    key_id: str = Field(description="the first 16 hex digits of SHA-256 over the raw Ed25519 public key")
    signature: str = Field(description="base64 Ed25519 signature over the canonical JSON without 'signature'")


def heads_root(partitions: Iterable[Mapping[str, Any]]) -> str:
    """The ``root`` of a checkpoint from its partition heads (ordered by partition)."""
    ordered = sorted(partitions, key=lambda p: int(p["partition"]))
    return mth([leaf_hash(canonical_json(dict(p))) for p in ordered]).hex()


def key_id(public_key: Ed25519PublicKey) -> str:
    return sha256_hex(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))[:16]


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers (canonical JSON without ``signature``)."""
    return canonical_json({k: v for k, v in checkpoint.items() if k != "signature"})


def checkpoint_hash(checkpoint: Mapping[str, Any]) -> str:
    """What the next checkpoint names as ``prev_checkpoint``."""
    return sha256_hex(signed_bytes(checkpoint))


def build_checkpoint(
    *,
    producer: str,
    topic: str,
    sequence: int,
    prev_checkpoint: str | None,
    issued_at: str,
    partitions: Mapping[int, CompactRange],
    private_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """A signed checkpoint of the trees ``partitions`` (partition number -> tree)."""
    heads = [{"partition": p, "size": t.size, "root": t.root().hex()} for p, t in sorted(partitions.items())]
    body: dict[str, Any] = {
        "format": FORMAT,
        "producer": producer,
        "topic": topic,
        "sequence": sequence,
        "prev_checkpoint": prev_checkpoint,
        "issued_at": issued_at,
        "partitions": heads,
        "size": sum(h["size"] for h in heads),
        "root": heads_root(heads),
        "key_id": key_id(private_key.public_key()),
    }
    body["signature"] = base64.b64encode(private_key.sign(signed_bytes(body))).decode("ascii")
    return body


class PublicKeys:
    """The checkpoint keys an auditor trusts: producer -> public keys (several while a key is
    rotated). Configuration, never taken from the history being checked."""

    def __init__(self, keys: Mapping[str, Iterable[Ed25519PublicKey]] | None = None) -> None:
        self._by_producer: dict[str, dict[str, Ed25519PublicKey]] = {}
        for producer, pubs in (keys or {}).items():
            for pub in pubs:
                self.add(producer, pub)

    def add(self, producer: str, public_key: Ed25519PublicKey) -> None:
        self._by_producer.setdefault(producer, {})[key_id(public_key)] = public_key

    def producers(self) -> list[str]:
        return sorted(self._by_producer)

    def __bool__(self) -> bool:
        return bool(self._by_producer)

    def get(self, producer: str, kid: str) -> Ed25519PublicKey | None:
        return self._by_producer.get(producer, {}).get(kid)

    @classmethod
    def load(cls, path: Path) -> PublicKeys:
        """From a JSON file ``{"<producer>": ["<base64 raw public key>", ...]}``, or a folder of
        ``<producer>.pub`` files (one base64 key per line), as the services write them."""
        keys = cls()
        path = Path(path)
        if path.is_dir():
            for f in sorted(path.glob("*.pub")):
                for line in f.read_text(encoding="utf-8").split():
                    keys.add(f.stem, load_public_key(line))
            return keys
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of producer -> list of keys")
        for producer, values in data.items():
            for value in [values] if isinstance(values, str) else values:
                keys.add(producer, load_public_key(value))
        return keys


def load_public_key(b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64.strip(), validate=True))


def verify_signature(checkpoint: Mapping[str, Any], keys: PublicKeys) -> str | None:
    """``None`` when the checkpoint is signed by a trusted key of its producer, else what is wrong."""
    producer = str(checkpoint.get("producer"))
    kid = str(checkpoint.get("key_id"))
    pub = keys.get(producer, kid)
    if pub is None:
        return f"signed with key {kid}, which is not a trusted key of {producer}"
    try:
        sig = base64.b64decode(str(checkpoint.get("signature", "")), validate=True)
        pub.verify(sig, signed_bytes(checkpoint))
    except (InvalidSignature, ValueError):
        return f"the signature does not verify with {producer}'s key {kid}"
    return None
