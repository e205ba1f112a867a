"""A year of the ANTT programme for the units of the seed documents, over Kafka.

``python -m deploy.demo`` (what ``make demo`` does) against the running system
(``make run``). As another e-government system would, it publishes signed inbound messages
to ``antt.inbound.v1`` and reacts to the services' events:

- Sở Khoa học và Công nghệ tỉnh Quảng Ngãi (seeds 000, 001), a provincial agency, 2024;
- Văn phòng UBND tỉnh Quảng Ngãi (seed 004), a provincial agency, 2025: returned for
  supplement at the commune review (the meeting minutes are missing), re-submitted, recognised;
- xã Phú Đình (seed 002), 2025, with five of its hamlets (xóm) and its lower-secondary school;
  one hamlet assesses a criterion as not met and is refused with the reason; the commune is
  decided last, after its children; its preschool is refused at registration (excluded kind);
  an incident reported after recognition raises a flag for the recognising level;
- and a few unit-years left waiting in the administrators' queues (console): Xóm 6, xã Phú
  Đình awaits the commune police's appraisal (thẩm định), Sở Tư pháp tỉnh Quảng Ngãi the
  province's appraisal, Sở Y tế tỉnh Quảng Ngãi the province's recognition (công nhận).

At the end it prints each unit-year's final state and the decision that put it there, or the
step it waits at.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from deploy.client import AnttClient
from deploy.driver import CRITERIA


class DemoError(Exception):
    pass


@dataclass
class DemoUnit:
    code: str
    name: str
    kind: str
    province_code: str
    commune_code: str | None
    managing_level: str
    year: int
    attributes: dict[str, Any] = field(default_factory=dict)
    unmet: tuple[str, ...] = ()
    return_first: str | None = None  # reason for a return for supplement at the first review
    households: tuple[int, int] | None = None
    #: leave the unit-year waiting in a queue: after its self-assessment ("self_scored") or
    #: after its first review ("reviewed")
    stop_at: str | None = None

    @property
    def unit_year_id(self) -> str:
        return f"{self.code}:{self.year}"


QN, TN = "51", "19"  # Quảng Ngãi, Thái Nguyên
PHU_DINH = "PD"
UNITS = [
    DemoUnit("QNG-SKHCN", "Sở Khoa học và Công nghệ tỉnh Quảng Ngãi", "agency", QN, "QNG-TP", "province", 2024),
    DemoUnit(
        "QNG-VPUBND",
        "Văn phòng UBND tỉnh Quảng Ngãi",
        "agency",
        QN,
        "QNG-TP",
        "province",
        2025,
        return_first="Bổ sung biên bản họp đánh giá (biên bản họp) và bảng tự chấm điểm",
    ),
    *(
        DemoUnit(
            f"TNG-PD-XOM{i}",
            f"Xóm {i}, xã Phú Đình",
            "residential_area",
            TN,
            PHU_DINH,
            "commune",
            2025,
            households=(120 + i, 120 + i),
            unmet=("KDC-4",) if i == 3 else (),
        )
        for i in range(1, 6)
    ),
    DemoUnit(
        "TNG-PD-THCS",
        "Trường THCS Phú Đình",
        "school",
        TN,
        PHU_DINH,
        "commune",
        2025,
        attributes={"school_level": "lower_secondary"},
    ),
    DemoUnit("TNG-PD", "Xã Phú Đình", "commune", TN, PHU_DINH, "district", 2025),
    # left waiting in the queues, for the console
    DemoUnit(
        "TNG-PD-XOM6",
        "Xóm 6, xã Phú Đình",
        "residential_area",
        TN,
        PHU_DINH,
        "commune",
        2025,
        households=(98, 98),
        stop_at="self_scored",
    ),
    DemoUnit("QNG-STP", "Sở Tư pháp tỉnh Quảng Ngãi", "agency", QN, "QNG-TP", "province", 2025, stop_at="self_scored"),
    DemoUnit("QNG-SYT", "Sở Y tế tỉnh Quảng Ngãi", "agency", QN, "QNG-TP", "province", 2025, stop_at="reviewed"),
]
WAITING = [u for u in UNITS if u.stop_at]
EXCLUDED = DemoUnit(
    "TNG-PD-MN", "Trường Mầm non Phú Đình", "school", TN, PHU_DINH, "commune", 2025, attributes={"school_level": "preschool"}
)


def unit_payload(u: DemoUnit) -> dict[str, Any]:
    return {
        "unit": {
            "code": u.code,
            "name": u.name,
            "kind": u.kind,
            "province_code": u.province_code,
            "commune_code": u.commune_code,
            "managing_level": u.managing_level,
            "attributes": u.attributes,
        }
    }


def registration_payload(u: DemoUnit) -> dict[str, Any]:
    p: dict[str, Any] = {
        "unit_code": u.code,
        "year": u.year,
        "documents": [
            {"kind": "party_resolution", "ref": f"NQ-{u.code}-{u.year}", "issued_on": f"{u.year}-01-20"},
            {"kind": "security_plan", "ref": f"KH-{u.code}-{u.year}", "issued_on": f"{u.year}-02-10"},
            {"kind": "registration_form", "ref": f"DK-{u.code}-{u.year}", "issued_on": f"{u.year}-02-15"},
        ],
    }
    if u.households:
        p["households_total"], p["households_registered"] = u.households
    return p


def self_assessment_payload(u: DemoUnit, round_: int) -> dict[str, Any]:
    return {
        "unit_year_id": u.unit_year_id,
        "criteria": [
            {
                "code": c,
                "met": c not in u.unmet,
                "note": "xảy ra 01 vụ trộm cắp tài sản, tăng so với năm trước" if c in u.unmet else None,
            }
            for c in CRITERIA[u.kind]
        ],
        "documents": [
            {"kind": "results_report", "ref": f"BC-{u.code}-{u.year}-{round_}", "issued_on": f"{u.year}-11-05"},
            {"kind": "meeting_minutes", "ref": f"BB-{u.code}-{u.year}-{round_}", "issued_on": f"{u.year}-11-04"},
        ],
        "meeting_date": f"{u.year}-11-04",
        "score": 96 if u.code == "QNG-VPUBND" else None,
    }


async def run_unit(client: AnttClient, u: DemoUnit, children_done: asyncio.Event | None, log: list[str]) -> None:
    key = u.code
    uy = u.unit_year_id
    sent = await client.send("UnitYearRegistrationSubmitted", registration_payload(u), key=key)
    await client.wait_until(
        lambda: client.find(uy, "AssessmentOpened") or client.dead_letters.get(sent), what=f"AssessmentOpened of {uy}"
    )
    refused = client.dead_letters.get(sent)
    if refused is not None:
        raise DemoError(
            f"{uy} was refused: {refused['reason']}. The demo registers the seed units once; "
            "to run it again, stop the system, `make clean`, and start it again."
        )
    round_ = 1
    await client.send("SelfAssessmentSubmitted", self_assessment_payload(u, round_), key=key)
    ev = await client.wait_event(uy, "UnitYearSelfScored")
    if u.stop_at == "self_scored":
        log.append(f"{uy}: waits at {ev['payload']['pending_level']} level (appraisal)")
        return
    while True:
        level = ev["payload"]["pending_level"]
        if u.kind == "commune" and children_done is not None:
            await children_done.wait()
        n = len(client.events[uy])
        if u.unmet:
            decision = {
                "decision": "reject",
                "reasons": [f"Tiêu chí {', '.join(u.unmet)} chưa đạt theo tự đánh giá của khu dân cư"],
            }
        elif u.return_first and round_ == 1:
            decision = {"decision": "return", "reasons": [u.return_first]}
        else:
            decision = {"decision": "pass"}
        body = {
            "unit_year_id": uy,
            "level": level,
            "decided_by": f"demo officer ({level})",
            "decision_no": f"{len(log) + 100}/QĐ-UBND",
            "certificate_no": f"GCN-{u.code}-{u.year}",
            **decision,
        }
        await client.send("ReviewDecisionSubmitted", body, key=key)
        ev = await client.wait_event(
            uy, "UnitYearReviewed", "UnitYearRecognized", "UnitYearNotRecognized", "UnitYearReturned", after=n
        )
        log.append(f"{uy}: {level} {decision['decision']} -> {ev['payload']['state']}")
        if ev["event_type"] == "UnitYearReturned":
            await client.wait_event(uy, "AssessmentReopened", after=n)
            round_ += 1
            n = len(client.events[uy])
            await client.send("SelfAssessmentSubmitted", self_assessment_payload(u, round_), key=key)
            ev = await client.wait_event(uy, "UnitYearSelfScored", after=n)
            continue
        if ev["event_type"] != "UnitYearReviewed":
            return
        if u.stop_at == "reviewed":
            log.append(f"{uy}: waits at {ev['payload']['pending_level']} level (recognition)")
            return


async def demo(bootstrap: str) -> int:
    log: list[str] = []
    async with AnttClient(bootstrap) as client:
        for u in UNITS:
            await client.send("UnitRegistrationSubmitted", unit_payload(u), key=u.code)
        excluded_id = await client.send("UnitRegistrationSubmitted", unit_payload(EXCLUDED), key=EXCLUDED.code)
        children = [u for u in UNITS if u.commune_code == PHU_DINH and u.kind != "commune"]
        others = [u for u in UNITS if u not in children]
        children_done = asyncio.Event()

        async def run_children() -> None:
            await asyncio.gather(*(run_unit(client, u, None, log) for u in children))
            children_done.set()

        await asyncio.gather(run_children(), *(run_unit(client, u, children_done, log) for u in others))
        dl = await client.wait_dead_letter(excluded_id)

        # after the decisions, the police report a theft at Xóm 1 on 20 Sep 2025, inside its
        # assessment window, not reported in time: the recognising level gets a flag
        flagged = UNITS[2]
        n = len(client.events[flagged.unit_year_id])
        await client.send(
            "IncidentReported",
            {
                "incident_id": f"CA-TNG-{flagged.code}-2025-01",
                "unit_code": flagged.code,
                "occurred_on": "2025-09-20",
                "reported_on": "2025-12-02",
                "category": "crime",
                "severity": "serious",
                "description": "Trộm cắp tài sản nghiêm trọng, phát hiện và báo cáo muộn",
                "reported_by": "Công an xã Phú Đình",
            },
            key=flagged.code,
        )
        flag = await client.wait_event(flagged.unit_year_id, "IncidentFlagged", after=n)

        print("\nDecisions, in the order they were taken:")
        for line in log:
            print("  " + line)
        print(f"\n{'unit-year':<20} {'unit':<42} {'final state':<15} decision")
        print("-" * 130)
        for u in UNITS:
            if u.stop_at:
                continue
            final = next(
                ev
                for ev in reversed(client.events[u.unit_year_id])
                if ev["event_type"] in ("UnitYearRecognized", "UnitYearNotRecognized", "UnitYearRevoked", "ApprovalCaseWithdrawn")
            )
            p = final["payload"]
            if final["event_type"] == "UnitYearRecognized":
                what = f"công nhận by {p['deciding_body']} ({p['level']}), QĐ {p['decision_no']}, GCN {p['certificate_no']}"
            elif final["event_type"] == "UnitYearNotRecognized":
                what = f"không công nhận at {p['level']}: {'; '.join(p['reasons'])}"
            else:
                what = final["event_type"]
            print(f"{u.unit_year_id:<20} {u.name:<42} {p['state']:<15} {what}")
        print(f"{EXCLUDED.unit_year_id:<20} {EXCLUDED.name:<42} {'(refused)':<15} DLQ {dl['error_code']}: {dl['reason']}")
        print("\nWaiting in the administrators' queues (console, see `make run`'s output for its URL):")
        for u in WAITING:
            last = next(e["payload"] for e in reversed(client.events[u.unit_year_id]) if e["payload"].get("pending_level"))
            step = "appraisal (thẩm định)" if u.stop_at == "self_scored" else "recognition (công nhận)"
            print(f"  {u.unit_year_id:<20} {u.name:<42} awaits {step} at {last.get('pending_level')} level")
        fp = flag["payload"]
        print(
            f"\nIncident reported after recognition: {fp['unit_year_id']} flagged for the {fp['flag_for_level']} level "
            f"({fp['criterion']}): {fp['reason']}\nRevocation is a separate, explicit decision (RecognitionRevocationSubmitted)."
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = ap.parse_args(argv)
    try:
        return asyncio.run(demo(args.bootstrap))
    except TimeoutError as exc:
        print(f"demo failed: {exc}. Is the system running (make run)?", file=sys.stderr)
        return 1
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
