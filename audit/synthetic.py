"""A synthetic but realistic history: lifecycles of unit-years as the three services write
them, with valid hash chains and signed checkpoints; for some agencies, enterprises and schools
also the exemplary track (điển hình) on its own streams, ``exemplary:<unit_year_id>``.

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
from shared.contracts.lifecycle import exemplary_stream

PRODUCERS = {
    "registration": topics.REGISTRATION_EVENTS,
    "assessment": topics.ASSESSMENT_EVENTS,
    "approval": topics.APPROVAL_EVENTS,
}
CHAIN = [
    {"level": "commune", "role": "review", "body": "Ban Chỉ đạo xã (Công an xã thẩm định)"},
    {"level": "commune", "role": "decide", "body": "Chủ tịch UBND xã"},
]
#: the ANTT chain of a unit managed at province level (agency, enterprise, school)
PROVINCE_CHAIN = [
    {"level": "province", "role": "review", "body": "Ban Chỉ đạo tỉnh (Công an tỉnh thẩm định)"},
    {"level": "province", "role": "decide", "body": "Chủ tịch UBND tỉnh"},
]
#: the exemplary title's chain (services/approval/chains.json, "exemplary")
EXEMPLARY_CHAIN = [
    {"level": "province", "role": "review", "body": "Ban Chỉ đạo tỉnh (thẩm định)"},
    {"level": "province", "role": "decide", "body": "Chủ tịch UBND tỉnh"},
]
EXEMPLARY_CATALOG = "exemplary.51.2023"
SYSTEM = {"id": "dvc-quang-ngai", "role": "system", "jurisdiction": "province:51"}
#: kind -> (name prefix, criterion code prefix)
KINDS = {
    "residential_area": ("Thôn", "KDC"),
    "agency": ("Cơ quan", "CQ"),
    "enterprise": ("Doanh nghiệp", "DN"),
    "school": ("Trường", "TH"),
}
#: the outcomes of :meth:`HistoryBuilder.exemplary`
EXEMPLARY_OUTCOMES = ("recognized", "not_recognized", "revoked")


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
        #: unit_year_id -> the unit and the ANTT recognition of :meth:`lifecycle`
        self.unit_years: dict[str, dict[str, Any]] = {}

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
        level: str | None = None,
        body: str | None = None,
        kind: str = "residential_area",
    ) -> str:
        """One unit-year from registration to recognition (or to review with ``decide=False``);
        returns its unit_year_id. A residential area (the default) is recognised by its
        commune; an agency, enterprise or school managed by the province, by the province."""
        uy = f"{code}:{year}"
        prefix, criterion = KINDS[kind]
        by_province = kind != "residential_area"
        chain = PROVINCE_CHAIN if by_province else CHAIN
        unit: dict[str, Any] = {
            "code": code,
            "name": f"{prefix} {code}",
            "kind": kind,
            "province_code": province,
            "commune_code": None if by_province else commune,
            "district_code": None,
            "managing_level": "province" if by_province else "commune",
            "attributes": {},
        }
        review_level, decide_level = chain[0]["level"], chain[-1]["level"]
        police = "Công an tỉnh" if by_province else "Công an xã"
        chairman = "Nguyễn Văn A, Chủ tịch UBND tỉnh" if by_province else "Nguyễn Văn A, Chủ tịch UBND xã"
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
                "criteria_catalog": f"{kind}.2021",
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
                "chain": chain,
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
            {
                "code": f"{criterion}-{i}",
                "title": f"Tiêu chí {i}",
                "claimed_met": True,
                "result": "met",
                "reason": None,
                "note": None,
            }
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
                "pending_level": review_level,
                "deadline": f"{year}-11-15",
            },
            stream=uy,
            unit_year_id=uy,
            cause=s["event_id"],
            correlation=m3,
        )
        m4 = self.inbound("ReviewDecisionSubmitted", {"unit_year_id": uy, "level": review_level, "decision": "pass"}, key=code)
        self.emit(
            "approval",
            "UnitYearReviewed",
            {
                "unit_year_id": uy,
                "level": review_level,
                "decided_by": police,
                "decision_no": None,
                "state": f"{review_level}_reviewed",
                "pending_level": decide_level,
            },
            stream=uy,
            unit_year_id=uy,
            cause=m4,
            correlation=m4,
        )
        self.unit_years[uy] = {"unit": unit, "year": year, "code": code}
        if not decide:
            return uy
        level = level or decide_level
        m5 = self.inbound("ReviewDecisionSubmitted", {"unit_year_id": uy, "level": level, "decision": "pass"}, key=code)
        rec = self.emit(
            "approval",
            "UnitYearRecognized",
            {
                "unit_year_id": uy,
                "level": level,
                "deciding_body": body or chain[-1]["body"],
                "decided_by": chairman,
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
        self.unit_years[uy]["antt_decision_no"] = f"{code}/QĐ-UBND"
        return uy

    # ------------------------------------------------------------------ the exemplary track
    def exemplary(
        self, unit_year_id: str, *, outcome: str = "recognized", returned: bool = False, actor: dict[str, Any] | None = None
    ) -> None:
        """The exemplary track of a unit-year :meth:`lifecycle` recognised ANTT, as the
        assessment and approval services write it on ``exemplary:<unit_year_id>``: the
        movement's classification (on the ANTT stream), the proposal, the exemplary
        self-assessment, the steering committee's appraisal, with ``returned`` one return for
        supplement and a second self-assessment, then the chairman's decision: ``recognized``,
        ``not_recognized`` (a refusal with its reason), or ``revoked`` (recognised, then the ANTT
        recognition revoked, which revokes the title with it)."""
        if outcome not in EXEMPLARY_OUTCOMES:
            raise ValueError(f"outcome must be one of {EXEMPLARY_OUTCOMES}")
        info = self.unit_years[unit_year_id]
        uy, unit, year, code = unit_year_id, info["unit"], info["year"], info["code"]
        ex = exemplary_stream(uy)
        m = self.inbound(
            "MovementClassificationSubmitted",
            {"unit_year_id": uy, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh"},
            key=code,
        )
        self.emit(
            "assessment",
            "MovementClassificationRecorded",
            {
                "unit_year_id": uy,
                "rating": "xuat_sac",
                "classified_by": "Ban Chỉ đạo tỉnh",
                "decision_no": f"PL-{code}/QĐ-BCĐ",
                "classified_on": f"{year}-11-20",
            },
            stream=uy,
            unit_year_id=uy,
            cause=m,
            correlation=m,
        )
        m = self.inbound("ExemplaryProposalSubmitted", {"unit_year_id": uy, "proposed_by": "Công an tỉnh"}, key=code)
        opened = self.emit(
            "assessment",
            "ExemplaryCaseOpened",
            {
                "unit_year_id": uy,
                "year": year,
                "unit": unit,
                "criteria_catalog": EXEMPLARY_CATALOG,
                "proposed_by": "Công an tỉnh",
                "submission_ref": f"TT-{code}",
                "proposed_on": f"{year}-11-25",
                "antt_recognition": {"decision_no": info.get("antt_decision_no"), "level": "province"},
            },
            stream=ex,
            unit_year_id=uy,
            cause=m,
            correlation=m,
        )
        self.open_title(uy, cause=opened["event_id"], correlation=m)
        rounds = 2 if returned else 1
        info["exemplary_round"] = rounds
        for n in range(1, rounds + 1):
            m = self.inbound("ExemplarySelfAssessmentSubmitted", {"unit_year_id": uy, "meeting_date": f"{year}-11-28"}, key=code)
            criteria = [
                {"code": f"DH-{i}", "title": f"Tiêu chí {i}", "claimed_met": True, "result": "met", "reason": None, "note": None}
                for i in range(1, 15)
            ]
            recorded = self.emit(
                "assessment",
                "ExemplarySelfAssessmentRecorded",
                {
                    "unit_year_id": uy,
                    "round": n,
                    "unit": unit,
                    "year": year,
                    "meeting_date": f"{year}-11-28",
                    "criteria_catalog": EXEMPLARY_CATALOG,
                    "criteria": criteria,
                    "verdict": "met",
                    "unmet": [],
                    "documents": [],
                    "movement_rating": "xuat_sac",
                },
                stream=ex,
                unit_year_id=uy,
                cause=m,
                correlation=m,
            )
            self.emit(
                "approval",
                "ExemplaryTitleSelfScored",
                {
                    "unit_year_id": uy,
                    "round": n,
                    "verdict": "met",
                    "unmet": [],
                    "state": "self_scored",
                    "pending_level": "province",
                    "deadline": None,
                },
                stream=ex,
                unit_year_id=uy,
                cause=recorded["event_id"],
                correlation=m,
            )
            m = self.inbound(
                "ExemplaryDecisionSubmitted", {"unit_year_id": uy, "level": "province", "decision": "pass"}, key=code
            )
            self.emit(
                "approval",
                "ExemplaryTitleReviewed",
                {
                    "unit_year_id": uy,
                    "level": "province",
                    "decided_by": "Ban Chỉ đạo tỉnh",
                    "decision_no": None,
                    "state": "province_reviewed",
                    "pending_level": "province",
                },
                stream=ex,
                unit_year_id=uy,
                cause=m,
                correlation=m,
            )
            if n < rounds:
                m = self.inbound(
                    "ExemplaryDecisionSubmitted", {"unit_year_id": uy, "level": "province", "decision": "return"}, key=code
                )
                reasons = ["thiếu biên bản tổ chức Tháng hành động phòng, chống ma túy (tiêu chí 5)"]
                back = self.emit(
                    "approval",
                    "ExemplaryTitleReturned",
                    {
                        "unit_year_id": uy,
                        "level": "province",
                        "reasons": reasons,
                        "decided_by": "Nguyễn Văn A, Chủ tịch UBND tỉnh",
                        "decision_no": None,
                        "state": "returned",
                    },
                    stream=ex,
                    unit_year_id=uy,
                    cause=m,
                    correlation=m,
                )
                self.emit(
                    "assessment",
                    "ExemplaryCaseReopened",
                    {"unit_year_id": uy, "round": n, "reasons": reasons, "level": "province"},
                    stream=ex,
                    unit_year_id=uy,
                    cause=back["event_id"],
                    correlation=m,
                )
        decision = "reject" if outcome == "not_recognized" else "pass"
        m = self.inbound("ExemplaryDecisionSubmitted", {"unit_year_id": uy, "level": "province", "decision": decision}, key=code)
        if outcome == "not_recognized":
            verdict = self.emit(
                "approval",
                "ExemplaryTitleNotRecognized",
                {
                    "unit_year_id": uy,
                    "level": "province",
                    "reasons": ["một vụ trộm cắp tài sản trong năm (tiêu chí 9: không để xảy ra tội phạm)"],
                    "decided_by": "Nguyễn Văn A, Chủ tịch UBND tỉnh",
                    "decision_no": f"DH-{code}/QĐ-UBND",
                    "state": "not_recognized",
                },
                stream=ex,
                unit_year_id=uy,
                cause=m,
                correlation=m,
                actor=actor,
            )
        else:
            verdict = self.emit(
                "approval",
                "ExemplaryTitleRecognized",
                {
                    "unit_year_id": uy,
                    "level": "province",
                    "deciding_body": EXEMPLARY_CHAIN[-1]["body"],
                    "decided_by": "Nguyễn Văn A, Chủ tịch UBND tỉnh",
                    "decision_no": f"DH-{code}/QĐ-UBND",
                    "decided_on": f"{year}-12-10",
                    "certificate_no": f"BK-{code}",
                    "state": "recognized",
                },
                stream=ex,
                unit_year_id=uy,
                cause=m,
                correlation=m,
                actor=actor,
            )
        self.emit(
            "assessment",
            "ExemplaryCaseClosed",
            {"unit_year_id": uy, "outcome": outcome if outcome != "revoked" else "recognized"},
            stream=ex,
            unit_year_id=uy,
            cause=verdict["event_id"],
            correlation=m,
        )
        if outcome == "revoked":
            self.revoke(uy)

    def open_title(self, unit_year_id: str, *, cause: str, correlation: str) -> dict[str, Any]:
        """The approval service's opening of the unit-year's exemplary title case (state
        ``proposed``), caused by ``cause``; its envelope."""
        info = self.unit_years[unit_year_id]
        return self.emit(
            "approval",
            "ExemplaryTitleCaseOpened",
            {
                "unit_year_id": unit_year_id,
                "unit": info["unit"],
                "year": info["year"],
                "criteria_catalog": EXEMPLARY_CATALOG,
                "chain": EXEMPLARY_CHAIN,
                "chain_profile": "exemplary.province",
                "deadline": None,
                "antt_decision_no": info.get("antt_decision_no"),
                "state": "proposed",
            },
            stream=exemplary_stream(unit_year_id),
            unit_year_id=unit_year_id,
            cause=cause,
            correlation=correlation,
        )

    def revoke(self, unit_year_id: str, *, title: str = "recognized") -> None:
        """Thu hồi the ANTT recognition of a unit-year; an exemplary title granted on it is
        revoked with it (``because_of: antt_revoked``, caused by the ANTT revocation), and the
        exemplary self-assessment is judged again (criterion DH-8 no longer met). ``title``:
        the state of the unit-year's exemplary title, if it has one; a proposal still under
        review lapses instead (``ExemplaryTitleLapsed``), as the approval service writes it."""
        uy = unit_year_id
        info = self.unit_years[uy]
        code = info["code"]
        m = self.inbound(
            "RecognitionRevocationSubmitted",
            {"unit_year_id": uy, "reasons": ["vụ giết người ngày 02/12"], "decided_by": "Chủ tịch UBND tỉnh"},
            key=code,
        )
        reasons = ["để xảy ra vụ giết người ngày 02/12 (tiêu chí 2)"]
        revoked = self.emit(
            "approval",
            "UnitYearRevoked",
            {
                "unit_year_id": uy,
                "reasons": reasons,
                "decided_by": "Nguyễn Văn A, Chủ tịch UBND tỉnh",
                "decision_no": f"TH-{code}/QĐ-UBND",
                "decided_on": f"{info['year']}-12-20",
                "state": "revoked",
            },
            stream=uy,
            unit_year_id=uy,
            cause=m,
            correlation=m,
        )
        ex = exemplary_stream(uy)
        if self.heads.get((ex, "approval")) is None:
            return
        why = f"the recognition “An toàn về ANTT” was revoked (TH-{code}/QĐ-UBND): " + "; ".join(reasons)
        if title != "recognized":
            self.emit(
                "approval",
                "ExemplaryTitleLapsed",
                {"unit_year_id": uy, "reason": why, "state": "lapsed"},
                stream=ex,
                unit_year_id=uy,
                cause=revoked["event_id"],
                correlation=m,
            )
            return
        self.emit(
            "approval",
            "ExemplaryTitleRevoked",
            {
                "unit_year_id": uy,
                "reasons": [why],
                "decided_by": "Nguyễn Văn A, Chủ tịch UBND tỉnh",
                "decision_no": f"TH-{code}/QĐ-UBND",
                "decided_on": f"{info['year']}-12-20",
                "because_of": "antt_revoked",
                "state": "revoked",
            },
            stream=ex,
            unit_year_id=uy,
            cause=revoked["event_id"],
            correlation=m,
        )
        self.emit(
            "assessment",
            "ExemplaryEvaluationRevised",
            {"unit_year_id": uy, "round": info.get("exemplary_round", 1), "verdict": "not_met", "unmet": ["DH-8"], "reason": why},
            stream=ex,
            unit_year_id=uy,
            cause=revoked["event_id"],
            correlation=m,
        )


#: the exemplary lifecycles of :func:`build`, in turn: (kind, outcome, returned once)
EXEMPLARY_PLAN = (
    ("agency", "recognized", True),
    ("enterprise", "not_recognized", False),
    ("school", "revoked", False),
)


def build(n: int, *, checkpoint_every: int = 1000, partitions: int = 6, exemplary_every: int = 100) -> HistoryBuilder:
    """``n`` residential-area lifecycles with a checkpoint of every producer each
    ``checkpoint_every`` lifecycles and at the end; after every ``exemplary_every``-th of them
    (0: never) one more unit-year with its exemplary track: an agency, enterprise or school in
    turn, recognised ANTT by the province and proposed, then (:data:`EXEMPLARY_PLAN`) returned
    once and recognised exemplary, refused, or recognised and revoked with its ANTT recognition.
    The residential areas' part of the history is the same whatever ``exemplary_every``."""
    b = HistoryBuilder(partitions=partitions, step=timedelta(milliseconds=50))
    extra = 0
    for i in range(n):
        b.lifecycle(f"KDC{i:06d}", commune=f"C{i % 50:03d}")
        if exemplary_every and (i + 1) % exemplary_every == 0:
            kind, outcome, returned = EXEMPLARY_PLAN[extra % len(EXEMPLARY_PLAN)]
            uy = b.lifecycle(f"DH{extra:06d}", kind=kind)
            b.exemplary(uy, outcome=outcome, returned=returned)
            extra += 1
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
    p.add_argument("--n", type=int, default=100, help="residential-area lifecycles (default %(default)s)")
    p.add_argument(
        "--exemplary-every",
        type=int,
        default=100,
        help="after every this many, an agency, enterprise or school with its exemplary track (default %(default)s; 0: none)",
    )
    args = p.parse_args(list(argv) if argv is not None else None)
    b = build(args.n, exemplary_every=args.exemplary_every)
    out = Path(args.out)
    b.write(out)
    write_keys(out.with_suffix("").with_suffix(".keys"), b.public_keys())
    print(json.dumps({"archive": str(out), "keys": str(out.with_suffix("").with_suffix(".keys")), "records": len(b.records())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["EXEMPLARY_PLAN", "HistoryBuilder", "build", "write_keys"]
