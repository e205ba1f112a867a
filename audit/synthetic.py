"""A synthetic but realistic history: lifecycles of unit-years as the three services write
them, with valid hash chains and signed checkpoints.

For the tool's tests and benchmark, and for auditors who want to see what each finding looks
like on a history they can tamper with themselves (``python -m audit.synthetic --out h.jsonl.gz``
writes an archive and the public keys beside it). It uses only the public contract
(``shared.contracts``): envelopes built with ``build_envelope``, checkpoints with
``build_checkpoint``.
"""

from __future__ import annotations

import argparse
import json
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.sources import Record, write_archive
from shared.contracts import topics
from shared.contracts.checkpoint import (
    CompactRange,
    build_checkpoint,
    checkpoint_hash,
    public_key_b64,
)
from shared.contracts.envelope import build_envelope, rfc3339

PRODUCERS = {
    "registration": topics.REGISTRATION_EVENTS,
    "assessment": topics.ASSESSMENT_EVENTS,
    "approval": topics.APPROVAL_EVENTS,
}
CHAIN = [
    {"level": "commune", "role": "review", "body": "Ban Chỉ đạo xã (Công an xã thẩm định)"},
    {"level": "commune", "role": "decide", "body": "Chủ tịch UBND xã"},
]
SYSTEM = {"id": "dvc-quang-ngai", "role": "system", "jurisdiction": "province:51"}


def partition_of(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % partitions


@dataclass
class _Log:
    records: list[Record] = field(default_factory=list)
    tree: CompactRange = field(default_factory=CompactRange)


class HistoryBuilder:
    """Writes events and inbound messages as the services would, partition by partition."""

    def __init__(
        self,
        *,
        keys: dict[str, Ed25519PrivateKey] | None = None,
        partitions: int = 6,
        start: datetime | None = None,
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.keys = keys if keys is not None else {p: Ed25519PrivateKey.generate() for p in PRODUCERS}
        self.partitions = partitions
        self.clock = start or datetime(2025, 2, 10, 1, 0, tzinfo=UTC)
        self.step = step
        self.logs: dict[tuple[str, int], _Log] = {}
        self.heads: dict[tuple[str, str], tuple[int, str | None]] = {}
        self.cp_seq: dict[str, int] = {}
        self.cp_prev: dict[str, str | None] = {}
        self.checkpoints: list[Record] = []

    # ------------------------------------------------------------------ low level
    def tick(self, by: timedelta | None = None) -> datetime:
        self.clock += by or self.step
        return self.clock

    def _append(self, topic: str, key: str, value: bytes, partition: int | None = None) -> Record:
        p = partition_of(key, self.partitions) if partition is None else partition
        log = self.logs.setdefault((topic, p), _Log())
        rec = Record(
            topic,
            p,
            len(log.records),
            int(self.clock.timestamp() * 1000),
            key.encode("utf-8"),
            value,
            (("content-type", b"application/json"),),
        )
        log.records.append(rec)
        if topic in PRODUCERS.values():
            log.tree.append_value(value)
        return rec

    def emit(
        self,
        producer: str,
        event_type: str,
        payload: dict[str, Any],
        *,
        stream: str,
        unit_year_id: str | None,
        cause: str | None,
        correlation: str,
        actor: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        seq, prev = self.heads.get((stream, producer), (0, None))
        env = build_envelope(
            event_type=event_type,
            payload=payload,
            producer=producer,
            actor=actor or SYSTEM,
            stream_id=stream,
            unit_year_id=unit_year_id,
            sequence=seq + 1,
            prev_hash=prev,
            correlation_id=correlation,
            causation_id=cause,
            recorded_at=self.tick(),
        )
        self.heads[(stream, producer)] = (seq + 1, env["hash"])
        self._append(PRODUCERS[producer], unit_year_id or stream, orjson.dumps(env))
        return env

    def inbound(self, event_type: str, payload: dict[str, Any], *, key: str, actor: dict[str, Any] | None = None) -> str:
        eid = str(uuid.uuid4())
        msg = {
            "event_id": eid,
            "event_type": event_type,
            "schema_version": 1,
            "source_system": SYSTEM["id"],
            "occurred_at": rfc3339(self.tick()),
            "actor": actor or SYSTEM,
            "correlation_id": None,
            "payload": payload,
            "signature": "0" * 64,
        }
        self._append(topics.INBOUND, key, orjson.dumps(msg))
        return eid

    def checkpoint(self, producer: str) -> dict[str, Any]:
        """A signed checkpoint of the producer's topic as it is now."""
        topic = PRODUCERS[producer]
        trees = {
            p: (self.logs[(topic, p)].tree.copy() if (topic, p) in self.logs else CompactRange()) for p in range(self.partitions)
        }
        seq = self.cp_seq.get(producer, 0) + 1
        cp = build_checkpoint(
            producer=producer,
            topic=topic,
            sequence=seq,
            prev_checkpoint=self.cp_prev.get(producer),
            issued_at=rfc3339(self.tick()),
            partitions=trees,
            private_key=self.keys[producer],
        )
        self.cp_seq[producer] = seq
        self.cp_prev[producer] = checkpoint_hash(cp)
        self.checkpoints.append(
            Record(
                topics.CHECKPOINTS,
                0,
                len(self.checkpoints),
                int(self.clock.timestamp() * 1000),
                producer.encode(),
                orjson.dumps(cp),
            )
        )
        return cp

    def checkpoint_all(self) -> None:
        for p in PRODUCERS:
            self.checkpoint(p)

    def records(self) -> list[Record]:
        out = list(self.checkpoints)
        for (_t, _p), log in sorted(self.logs.items()):
            out.extend(log.records)
        return out

    def public_keys(self) -> dict[str, list[str]]:
        return {p: [public_key_b64(k.public_key())] for p, k in self.keys.items()}

    def write(self, path: Path) -> dict[str, Any]:
        return write_archive(path, self.records())

    # ------------------------------------------------------------------ a lifecycle
    def lifecycle(
        self,
        code: str,
        *,
        year: int = 2025,
        province: str = "51",
        commune: str = "C001",
        decide: bool = True,
        actor: dict[str, Any] | None = None,
        level: str = "commune",
        body: str | None = None,
    ) -> str:
        """One residential area from registration to recognition (or to review with
        ``decide=False``); returns its unit_year_id."""
        uy = f"{code}:{year}"
        unit: dict[str, Any] = {
            "code": code,
            "name": f"Thôn {code}",
            "kind": "residential_area",
            "province_code": province,
            "commune_code": commune,
            "district_code": None,
            "managing_level": "commune",
            "attributes": {},
        }
        m1 = self.inbound("UnitRegistrationSubmitted", {"unit": unit}, key=code)
        self.emit(
            "registration", "UnitRegistered", {"unit": unit}, stream=f"unit:{code}", unit_year_id=None, cause=m1, correlation=m1
        )
        m2 = self.inbound("UnitYearRegistrationSubmitted", {"unit_code": code, "year": year}, key=code)
        docs = [{"kind": "registration_form", "ref": f"DK-{code}", "issued_on": f"{year}-02-15"}]
        r = self.emit(
            "registration",
            "UnitYearRegistered",
            {
                "unit_year_id": uy,
                "year": year,
                "unit": unit,
                "documents": docs,
                "households_total": 100,
                "households_registered": 100,
            },
            stream=uy,
            unit_year_id=uy,
            cause=m2,
            correlation=m2,
        )
        a = self.emit(
            "assessment",
            "AssessmentOpened",
            {
                "unit_year_id": uy,
                "year": year,
                "unit": unit,
                "window_start": f"{year - 1}-11-01",
                "window_end": f"{year}-10-31",
                "criteria_catalog": "residential_area.2021",
            },
            stream=uy,
            unit_year_id=uy,
            cause=r["event_id"],
            correlation=m2,
        )
        self.emit(
            "approval",
            "ApprovalCaseOpened",
            {
                "unit_year_id": uy,
                "unit": unit,
                "year": year,
                "chain": CHAIN,
                "chain_profile": "2025",
                "deadline": f"{year}-11-15",
                "state": "registered",
            },
            stream=uy,
            unit_year_id=uy,
            cause=a["event_id"],
            correlation=m2,
        )
        m3 = self.inbound("SelfAssessmentSubmitted", {"unit_year_id": uy, "meeting_date": f"{year}-10-04"}, key=code)
        criteria = [
            {"code": f"KDC-{i}", "title": f"Tiêu chí {i}", "claimed_met": True, "result": "met", "reason": None, "note": None}
            for i in range(1, 6)
        ]
        s = self.emit(
            "assessment",
            "SelfAssessmentRecorded",
            {
                "unit_year_id": uy,
                "round": 1,
                "unit": unit,
                "year": year,
                "meeting_date": f"{year}-10-04",
                "criteria": criteria,
                "verdict": "met",
                "unmet": [],
                "score": None,
                "documents": [],
                "scoring_sheet": None,
                "score_breakdown": None,
            },
            stream=uy,
            unit_year_id=uy,
            cause=m3,
            correlation=m3,
        )
        self.emit(
            "approval",
            "UnitYearSelfScored",
            {
                "unit_year_id": uy,
                "round": 1,
                "verdict": "met",
                "state": "self_scored",
                "pending_level": "commune",
                "deadline": f"{year}-11-15",
            },
            stream=uy,
            unit_year_id=uy,
            cause=s["event_id"],
            correlation=m3,
        )
        m4 = self.inbound("ReviewDecisionSubmitted", {"unit_year_id": uy, "level": "commune", "decision": "pass"}, key=code)
        self.emit(
            "approval",
            "UnitYearReviewed",
            {
                "unit_year_id": uy,
                "level": "commune",
                "decided_by": "Công an xã",
                "decision_no": None,
                "state": "commune_reviewed",
                "pending_level": "commune",
            },
            stream=uy,
            unit_year_id=uy,
            cause=m4,
            correlation=m4,
        )
        if not decide:
            return uy
        m5 = self.inbound("ReviewDecisionSubmitted", {"unit_year_id": uy, "level": level, "decision": "pass"}, key=code)
        rec = self.emit(
            "approval",
            "UnitYearRecognized",
            {
                "unit_year_id": uy,
                "level": level,
                "deciding_body": body or CHAIN[-1]["body"],
                "decided_by": "Nguyễn Văn A, Chủ tịch UBND xã",
                "decision_no": f"{code}/QĐ-UBND",
                "decided_on": f"{year}-11-10",
                "certificate_no": f"GCN-{code}",
                "state": "recognized",
            },
            stream=uy,
            unit_year_id=uy,
            cause=m5,
            correlation=m5,
            actor=actor,
        )
        self.emit(
            "assessment",
            "AssessmentClosed",
            {"unit_year_id": uy, "outcome": "recognized"},
            stream=uy,
            unit_year_id=uy,
            cause=rec["event_id"],
            correlation=m5,
        )
        return uy


def build(n: int, *, checkpoint_every: int = 1000, partitions: int = 6) -> HistoryBuilder:
    """``n`` lifecycles with a checkpoint of every producer each ``checkpoint_every`` lifecycles
    and at the end."""
    b = HistoryBuilder(partitions=partitions, step=timedelta(milliseconds=50))
    for i in range(n):
        b.lifecycle(f"KDC{i:06d}", commune=f"C{i % 50:03d}")
        if checkpoint_every and (i + 1) % checkpoint_every == 0:
            b.checkpoint_all()
    b.checkpoint_all()
    return b


def write_keys(folder: Path, keys: dict[str, list[str]]) -> None:
    """``<producer>.pub`` files, as the services write their public keys."""
    folder.mkdir(parents=True, exist_ok=True)
    for producer, values in keys.items():
        (folder / f"{producer}.pub").write_text("\n".join(values) + "\n", encoding="utf-8")


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m audit.synthetic", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="archive to write (FILE.jsonl.gz); keys go to FILE.keys/")
    p.add_argument("--n", type=int, default=100, help="lifecycles (default %(default)s)")
    args = p.parse_args(list(argv) if argv is not None else None)
    b = build(args.n)
    out = Path(args.out)
    b.write(out)
    write_keys(out.with_suffix("").with_suffix(".keys"), b.public_keys())
    print(json.dumps({"archive": str(out), "keys": str(out.with_suffix("").with_suffix(".keys")), "records": len(b.records())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["HistoryBuilder", "build", "write_keys"]
