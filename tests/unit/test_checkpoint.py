"""The checkpoint format: RFC 6962 Merkle hashing, the relay's compact tree, signatures, and
the service's key file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts.checkpoint import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    PublicKeys,
    build_checkpoint,
    checkpoint_hash,
    heads_root,
    leaf_hash,
    mth,
    verify_signature,
)
from shared.infra.keys import SigningKeyError, load_signing_key
from shared.infra.settings import ServiceSettings

#: the inputs of the Certificate Transparency reference tests (RFC 6962 implementations) and
#: the Merkle Tree Hash of the first n of them, n = 1..8
CT_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def ct_leaves(n: int) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(h)) for h in CT_INPUTS[:n]]


@pytest.mark.parametrize("n", range(1, 9))
def test_mth_matches_the_rfc6962_test_vectors(n: int) -> None:
    assert mth(ct_leaves(n)).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize("n", range(1, 9))
def test_compact_range_matches_the_rfc6962_test_vectors(n: int) -> None:
    tree = CompactRange()
    for value in CT_INPUTS[:n]:
        tree.append_value(bytes.fromhex(value))
    assert tree.size == n
    assert tree.root().hex() == CT_ROOTS[n - 1]


def test_the_empty_tree_is_the_hash_of_nothing() -> None:
    assert mth([]) == EMPTY_ROOT == CompactRange().root()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_compact_range_equals_mth_for_every_size_up_to_70() -> None:
    leaves = [leaf_hash(f"record {i}".encode()) for i in range(71)]
    tree = CompactRange()
    for n in range(71):
        assert tree.size == n
        assert tree.root() == mth(leaves[:n]), n
        # at most one perfect subtree per bit of the size, largest first
        assert [h for h, _ in tree.peaks] == sorted((h for h, _ in tree.peaks), reverse=True)
        assert len(tree.peaks) == bin(n).count("1")
        tree.append(leaves[n])


def test_compact_range_json_round_trip_goes_on_growing_alike() -> None:
    tree = CompactRange()
    for i in range(37):
        tree.append_value(str(i).encode())
    stored = json.loads(json.dumps(tree.to_json()))
    again = CompactRange.from_json(stored)
    assert again == tree and again.root() == tree.root()
    copy = tree.copy()
    copy.append_value(b"next")
    again.append_value(b"next")
    assert again.root() == copy.root() != tree.root()
    assert tree.size == 37  # the copy did not share the peaks


def _checkpoint(key: Ed25519PrivateKey, sequence: int = 1, prev: str | None = None) -> dict:
    trees = {}
    for p, n in enumerate((0, 3, 5)):
        t = CompactRange()
        for i in range(n):
            t.append_value(f"{p}-{i}".encode())
        trees[p] = t
    return build_checkpoint(
        producer="registration",
        topic="antt.registration.events.v1",
        sequence=sequence,
        prev_checkpoint=prev,
        issued_at="2026-12-01T08:00:00.000000Z",
        partitions=trees,
        private_key=key,
    )


def test_a_checkpoint_verifies_with_its_key_and_not_with_another() -> None:
    key = Ed25519PrivateKey.generate()
    cp = _checkpoint(key)
    Checkpoint.model_validate(cp)
    assert cp["size"] == 8 and [h["size"] for h in cp["partitions"]] == [0, 3, 5]
    assert cp["root"] == heads_root(cp["partitions"])
    trusted = PublicKeys({"registration": [key.public_key()]})
    assert verify_signature(cp, trusted) is None

    # an edited head, a forged key, a key of another producer: all refused
    edited = {**cp, "size": 9}
    assert "does not verify" in (verify_signature(edited, trusted) or "")
    forger = Ed25519PrivateKey.generate()
    forged = _checkpoint(forger)
    assert "not a trusted key" in (verify_signature(forged, trusted) or "")
    forged_same_kid = {**forged, "key_id": cp["key_id"]}
    assert "does not verify" in (verify_signature(forged_same_kid, trusted) or "")
    other = PublicKeys({"approval": [key.public_key()]})
    assert verify_signature(cp, other) is not None


def test_checkpoints_chain_by_hash() -> None:
    key = Ed25519PrivateKey.generate()
    first = _checkpoint(key)
    second = _checkpoint(key, sequence=2, prev=checkpoint_hash(first))
    assert second["prev_checkpoint"] == checkpoint_hash(first)
    assert checkpoint_hash({**first, "signature": "x"}) == checkpoint_hash(first)  # the signature is not hashed


def _settings(tmp_path: Path, **extra: object) -> ServiceSettings:
    return ServiceSettings(service_name="registration", keys_dir=tmp_path / "keys", **extra)  # type: ignore[arg-type]


def test_a_development_key_is_generated_once_with_its_public_key(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    key = load_signing_key(settings)
    private = tmp_path / "keys" / "registration.ed25519"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_signing_key(settings)
    assert again.private_bytes_raw() == key.private_bytes_raw()
    pub = (tmp_path / "keys" / "registration.pub").read_text(encoding="utf-8")
    assert pub.endswith("\n") and len(pub.strip()) == 44
    keys = PublicKeys.load(tmp_path / "keys")
    assert keys.producers() == ["registration"]
    assert verify_signature(_checkpoint(key), keys) is None


def test_a_configured_key_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, checkpoint_key_file=tmp_path / "prod" / "registration.pem")
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signing_key(settings)
    assert not (tmp_path / "prod").exists() and not (tmp_path / "keys" / "registration.ed25519").exists()


def test_a_configured_key_file_is_used(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "registration.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    loaded = load_signing_key(_settings(tmp_path, checkpoint_key_file=path))
    assert loaded.private_bytes_raw() == key.private_bytes_raw()
    assert PublicKeys.load(tmp_path / "keys").get("registration", _checkpoint(key)["key_id"]) is not None


async def test_the_latest_published_checkpoint_is_served_without_a_token(tmp_path: Path) -> None:
    """``GET /audit/checkpoint``: 404 with a reason before the first one; then the newest whose
    outbox row is gone (published), never one still waiting in the outbox; ``/ready`` names it."""
    from types import SimpleNamespace

    import httpx
    from fastapi import FastAPI
    from sqlalchemy import MetaData, delete

    from shared.infra.db import create_engine, session_factory
    from shared.infra.http import health_router
    from shared.infra.relay import OutboxRelay
    from shared.infra.tables import InfraTables

    metadata = MetaData()
    infra = InfraTables(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    key = Ed25519PrivateKey.generate()
    relay = OutboxRelay(
        sessions,
        infra,
        "127.0.0.1:1",  # never contacted: the relay is not started
        event_topic="antt.registration.events.v1",
        producer_name="registration",
        signing_key=key,
    )
    settings = ServiceSettings(service_name="registration")
    runtime = SimpleNamespace(sessions=sessions, infra=infra, relay=relay, processors={}, settings=settings)
    app = FastAPI()
    app.include_router(health_router(runtime))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/audit/checkpoint")
            assert r.status_code == 404 and r.json()["error_code"] == "not_found" and r.json()["reason"]
            ready = (await client.get("/ready")).json()
            assert ready["last_checkpoint_sequence"] is None and ready["relay_alarms"] == []

            relay.trees = {0: CompactRange(), 1: CompactRange()}
            relay.trees[1].append_value(b"one")
            rows = [
                {"topic": relay.event_topic, "partition": p, "size": t.size, "peaks": json.dumps(t.to_json()["peaks"])}
                for p, t in relay.trees.items()
            ]
            async with sessions() as s, s.begin():  # what the relay committed for its trees
                await s.execute(infra.relay_log.insert(), rows)
            await relay._write_checkpoint()
            await relay._write_checkpoint()
            assert (await client.get("/audit/checkpoint")).status_code == 404  # both still in the outbox
            async with sessions() as s, s.begin():  # the relay published the first one
                await s.execute(delete(infra.outbox).where(infra.outbox.c.event_id == "registration:checkpoint:1"))
            body = (await client.get("/audit/checkpoint")).json()
            assert body["sequence"] == 1 and body["size"] == 1
            assert verify_signature(body, PublicKeys({"registration": [key.public_key()]})) is None
            assert (await client.get("/ready")).json()["last_checkpoint_sequence"] == 1
            async with sessions() as s, s.begin():
                await s.execute(delete(infra.outbox))
            second = (await client.get("/audit/checkpoint")).json()
            assert second["sequence"] == 2 and second["prev_checkpoint"] == checkpoint_hash(body)
    finally:
        await engine.dispose()
