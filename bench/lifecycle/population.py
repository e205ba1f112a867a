"""The benchmark's unit-years and the payloads of their lifecycle steps.

The unit-years are ``deploy.driver.Plan`` objects and the payloads are built on the
end-to-end tests' messages (``deploy.driver.unit_msg`` and the others), so the benchmark and
the tests send the same messages by the same code; what the benchmark adds is the complete
dossier an e-government system would send (every document of the registration and of the
self-assessment, a decision with its certificate number), so that each lifecycle carries
realistic payloads. The eventsourcing peer (``bench/peer_eventsourcing.py``) calls these
same functions, so both sides of the comparison do the same business steps on the same data.
"""

from __future__ import annotations

from typing import Any

from deploy.driver import (
    Messages,
    Plan,
    criteria_codes,
    decision_msg,
    registration_msg,
    self_assessment_msg,
    unit_msg,
)

YEAR = 2025

#: a unit-year of the benchmark (``deploy.driver.Plan``; the name is kept for the peer's readers)
Spec = Plan

#: (province code, commune codes): Thái Nguyên and Quảng Ngãi, a few communes each
COMMUNES = (("19", ("TN-PD", "TN-PL", "TN-DH")), ("51", ("QN-TP", "QN-NH", "QN-BS")))


def population(n: int, run_tag: str) -> list[Plan]:
    """N units: 4 in 5 residential areas (xóm, tổ dân phố) spread over six communes, 1 in 5
    agencies managed at commune or province level."""
    communes = [(p, c) for p, cs in COMMUNES for c in cs]
    specs = []
    for i in range(n):
        province, commune = communes[i % len(communes)]
        if i % 5 == 4:
            level = "province" if i % 10 == 9 else "commune"
            specs.append(Plan(f"B{run_tag}-CQ-{i:06d}", "agency", YEAR, province, commune, level, name=f"Cơ quan số {i}"))
        else:
            specs.append(
                Plan(
                    f"B{run_tag}-KDC-{i:06d}",
                    "residential_area",
                    YEAR,
                    province,
                    commune,
                    "commune",
                    name=f"Tổ dân phố số {i}, {commune}",
                    households=150,
                )
            )
    return specs


def unit_payload(s: Plan) -> dict[str, Any]:
    msg = unit_msg(s)
    msg["unit"]["attributes"] = {}
    return msg


def registration_payload(s: Plan) -> dict[str, Any]:
    """The registration with the party resolution and the security plan beside the form."""
    p = registration_msg(s)
    p["documents"] = [
        {"kind": "party_resolution", "ref": f"NQ-{s.code}-{s.year}", "issued_on": f"{s.year}-01-20"},
        {"kind": "security_plan", "ref": f"KH-{s.code}-{s.year}", "issued_on": f"{s.year}-02-10"},
        *p["documents"],
    ]
    return p


def self_assessment_payload(s: Plan, codes: list[str] | None = None) -> dict[str, Any]:
    """Every criterion met, with the results report and the meeting minutes."""
    p = self_assessment_msg(s, codes)
    for c in p["criteria"]:
        c["note"] = None
    p["documents"] = [
        {"kind": "results_report", "ref": f"BC-{s.code}-{s.year}", "issued_on": f"{s.year}-10-21"},
        {"kind": "meeting_minutes", "ref": f"BB-{s.code}-{s.year}", "issued_on": f"{s.year}-10-20"},
    ]
    p["meeting_date"] = f"{s.year}-10-20"
    p["score"] = None
    return p


def decision_payload(s: Plan, level: str, serial: int) -> dict[str, Any]:
    p = decision_msg(s, level, serial)
    p.update(
        {
            "reasons": [],
            "decided_by": f"bench officer ({level})",
            "decision_no": f"{serial}/QĐ-UBND",
            "certificate_no": f"GCN-{s.code}-{s.year}",
        }
    )
    return p


#: the payloads ``deploy.driver.LifecycleDriver`` sends in the benchmark
BENCH_MESSAGES = Messages(
    unit=unit_payload,
    registration=registration_payload,
    self_assessment=self_assessment_payload,
    decision=decision_payload,
)

__all__ = [
    "BENCH_MESSAGES",
    "COMMUNES",
    "YEAR",
    "Spec",
    "criteria_codes",
    "decision_payload",
    "population",
    "registration_payload",
    "self_assessment_payload",
    "unit_payload",
]
