"""The exemplary track (seed 003) over real Kafka, the three services as processes: an agency
recognised ANTT, its movement classified Xuất sắc, proposed and judged exemplary (đạt); an
enterprise with a minor crime, recognised ANTT all the same, judged not exemplary (DH-9); an
ANTT revocation that judges the exemplary self-assessment again (DH-8).

The exemplary title's own approval chain (appraisal by the province steering committee, the
provincial chairman's decision, returns) belongs to the approval service and is not here."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan
from tests.e2e.conftest import System, unique
from tests.e2e.test_commune_rollup import decide, register, self_score

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EVIDENCE: dict[str, Any] = {
    "has_party_organisation": False,
    "has_emulation_review": True,
    "directives_disseminated": True,
    "exemplary_plan_implemented": True,
    "movement_conference_held": True,
    "topics_or_models_reviewed": 1,
    "innovations_count": 2,
    "legal_dissemination_sessions": 1,
    "activities_held": [
        {"code": "anti_drug_month", "held_on": "2025-06-12"},
        {"code": "anti_drug_day", "held_on": "2025-06-26"},
        {"code": "world_environment_day", "held_on": "2025-06-05"},
        {"code": "anti_trafficking_day", "held_on": "2025-07-30"},
        {"code": "traffic_safety_month", "held_on": "2025-09-15"},
        {"code": "national_security_festival", "held_on": "2025-08-19"},
        {"code": "fire_prevention_day", "held_on": "2025-10-04"},
    ],
    "security_force_total": 5,
    "security_force_trained": 5,
    "sanctions": [],
    "commendations_count": 1,
    "movement_exemplars_count": 1,
    "models_count": 1,
    "models_publicised_by_province": 1,
    "no_other_violations": True,
    "complaints_outstanding": 0,
    "complaints_resolved": True,
    "internal_unity": True,
    "targets_exceeded": True,
    "taxes_paid": True,
    "no_wage_or_insurance_arrears": True,
    "policies_fulfilled": True,
    "welfare_activities_count": 2,
    "collective_title": "lao_dong_tien_tien",
    "merit_certificate": "provincial_chairman",
}
EXEMPLARY_PLAN = {"kind": "exemplary_plan", "ref": "KH-ĐH-2025", "issued_on": "2025-02-20"}


async def propose_and_self_assess(client: AnttClient, plan: Plan, evidence: dict[str, Any]) -> dict:
    uy = plan.unit_year_id
    # the assessment service has taken in the recognition (it closes the ANTT case): only now
    # can the proposal be accepted, whatever the order the services read their topics in
    closed = await client.wait_event(uy, "AssessmentClosed", timeout=60)
    assert closed["payload"]["outcome"] == "recognized"
    await client.send(
        "MovementClassificationSubmitted",
        {"unit_year_id": uy, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh"},
        key=plan.code,
    )
    await client.wait_event(uy, "MovementClassificationRecorded")
    await client.send(
        "ExemplaryProposalSubmitted",
        {"unit_year_id": uy, "proposed_by": "Thủ trưởng đơn vị", "submission_ref": "TTr-ĐH"},
        key=plan.code,
    )
    opened = await client.wait_event(uy, "ExemplaryCaseOpened")
    assert opened["payload"]["criteria_catalog"] == "exemplary.51.2023"
    body = {
        "unit_year_id": uy,
        "criteria": [{"code": f"DH-{i}", "met": True} for i in range(1, 15)],
        "documents": [EXEMPLARY_PLAN],
        "meeting_date": "2025-11-25",
        "evidence": evidence,
    }
    await client.send("ExemplarySelfAssessmentSubmitted", body, key=plan.code)
    return await client.wait_event(uy, "ExemplarySelfAssessmentRecorded")


async def test_an_agency_recognised_antt_is_judged_exemplary(system: System) -> None:
    plan = Plan(code=unique("CQ"), kind="agency", managing_level="province", commune_code=None)
    async with AnttClient(system.bootstrap) as client:
        # before its ANTT recognition it cannot be proposed
        await register(client, plan)
        await client.wait_event(plan.unit_year_id, "AssessmentOpened", timeout=60)
        eid = await client.send(
            "ExemplaryProposalSubmitted", {"unit_year_id": plan.unit_year_id, "proposed_by": "x"}, key=plan.code
        )
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "not_recognized"
        ev = await self_score(client, plan)
        while ev["event_type"] != "UnitYearRecognized":
            n = len(client.events[plan.unit_year_id])
            await decide(client, plan, ev["payload"]["pending_level"], "pass")
            ev = await client.wait_event(plan.unit_year_id, "UnitYearReviewed", "UnitYearRecognized", after=n, timeout=60)
        recorded = await propose_and_self_assess(client, plan, EVIDENCE)
    p = recorded["payload"]
    assert p["verdict"] == "met" and p["unmet"] == [] and p["movement_rating"] == "xuat_sac"
    dh8 = next(c for c in p["criteria"] if c["code"] == "DH-8")
    assert dh8["result"] == "met"
    view = system.get("assessment", f"/unit-years/{plan.unit_year_id}/exemplary").json()
    assert (view["state"], view["verdict"], view["antt_recognition"]["recognised"]) == ("self_assessed", "met", True)
    assert view["movement"]["rating"] == "xuat_sac"
    case = system.get("assessment", f"/unit-years/{plan.unit_year_id}").json()
    assert case["antt_outcome"]["outcome"] == "recognized" and case["movement"]["rating"] == "xuat_sac"


async def test_a_minor_crime_keeps_antt_but_not_exemplary_and_a_revocation_takes_dh8(system: System) -> None:
    plan = Plan(code=unique("DN"), kind="enterprise", managing_level="province", commune_code=None)
    uy = plan.unit_year_id
    async with AnttClient(system.bootstrap) as client:
        await register(client, plan)
        await client.wait_event(uy, "AssessmentOpened", timeout=60)
        crime = {
            "incident_id": f"{plan.code}-T1",
            "unit_code": plan.code,
            "occurred_on": "2025-04-12",
            "category": "crime",
            "severity": "minor",
            "reported_by": "Công an phường",
        }
        await client.send("IncidentReported", crime, key=plan.code)
        inc = await client.wait_event(uy, "IncidentRecorded")
        assert inc["payload"]["effect"] == "below_severity"
        ev = await self_score(client, plan)
        assert ev["payload"]["verdict"] == "met"
        while ev["event_type"] != "UnitYearRecognized":
            n = len(client.events[uy])
            await decide(client, plan, ev["payload"]["pending_level"], "pass")
            ev = await client.wait_event(uy, "UnitYearReviewed", "UnitYearRecognized", after=n, timeout=60)
        recorded = await propose_and_self_assess(client, plan, EVIDENCE)
        p = recorded["payload"]
        assert (p["verdict"], p["unmet"]) == ("not_met", ["DH-9"])
        dh9 = next(c for c in p["criteria"] if c["code"] == "DH-9")
        assert f"incident {plan.code}-T1 (crime, minor) on 2025-04-12 fails DH-9" in dh9["reason"]
        assert system.get("approval", f"/unit-years/{uy}").json()["state"] == "recognized"

        n = len(client.events[uy])
        await client.send(
            "RecognitionRevocationSubmitted",
            {
                "unit_year_id": uy,
                "reasons": ["Kiểm tra lại hồ sơ"],
                "decided_by": "Chủ tịch UBND tỉnh",
                "decision_no": "77/QĐ-UBND",
            },
            key=plan.code,
        )
        await client.wait_event(uy, "UnitYearRevoked", after=n)
        revised = await client.wait_event(uy, "ExemplaryEvaluationRevised", after=n)
    assert (revised["payload"]["verdict"], revised["payload"]["unmet"]) == ("not_met", ["DH-8", "DH-9"])
    assert "was revoked (77/QĐ-UBND)" in revised["payload"]["reason"]
    view = system.get("assessment", f"/unit-years/{uy}/exemplary").json()
    assert view["antt_recognition"]["recognised"] is False and view["antt_recognition"]["state"] == "revoked"
