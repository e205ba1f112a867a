"""Incidents from other systems over real Kafka: one during review makes the verdict chưa đạt
so a pass is refused; one reported after recognition raises a flag for the recognising level,
and only an explicit revocation revokes."""

from __future__ import annotations

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.e2e.conftest import System, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def incident(plan: Plan, incident_id: str, occurred_on: str, **flags: bool) -> dict:
    return {
        "incident_id": incident_id,
        "unit_code": plan.code,
        "occurred_on": occurred_on,
        "category": "crime",
        "severity": "serious",
        "reported_by": "Công an xã",
        **flags,
    }


async def _to_review(client: AnttClient, plan: Plan) -> None:
    await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
    await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
    await client.wait_event(plan.unit_year_id, "AssessmentOpened")
    await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
    await client.wait_event(plan.unit_year_id, "UnitYearSelfScored")


async def _decide(client: AnttClient, plan: Plan, decision: str = "pass") -> str:
    return await client.send(
        "ReviewDecisionSubmitted",
        {"unit_year_id": plan.unit_year_id, "level": "commune", "decision": decision, "decided_by": "Chủ tịch UBND xã"},
        key=plan.code,
    )


async def test_incident_during_review_changes_the_verdict(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        await _to_review(client, plan)
        # on 31 Oct 2025, inside the 2025 window of a residential area; promptly handled: passes
        await client.send(
            "IncidentReported",
            incident(plan, f"{plan.code}-A", "2025-10-31", detected_promptly=True, mitigated=True, reported_promptly=True),
            key=plan.code,
        )
        ev = await client.wait_event(plan.unit_year_id, "IncidentRecorded")
        assert ev["payload"]["effect"] == "conditional_pass" and ev["payload"]["verdict"] == "met"
        # on 1 Nov 2025: it belongs to the 2026 window, not this unit-year
        await client.send("IncidentReported", incident(plan, f"{plan.code}-B", "2025-11-01"), key=plan.code)
        ev = await client.wait_event(f"unit:{plan.code}", "IncidentRecorded")
        assert ev["payload"]["unit_year_id"] is None and ev["payload"]["effect"] == "pending_registration"
        # on 3 Jun 2025, not handled in time: KDC-4 fails, the verdict changes
        n = len(client.events[plan.unit_year_id])
        await client.send("IncidentReported", incident(plan, f"{plan.code}-C", "2025-06-03"), key=plan.code)
        ev = await client.wait_event(plan.unit_year_id, "VerdictChanged", after=n)
        assert ev["payload"]["verdict"] == "not_met" and "KDC-4" in ev["payload"]["unmet"]
        eid = await _decide(client, plan)
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "criteria_not_met" and "KDC-4" in dl["reason"]
    view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
    assert view["state"] == "self_scored" and view["verdict"] == "not_met"


async def test_incident_after_recognition_flags_then_explicit_revocation(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        await _to_review(client, plan)
        for _ in range(2):
            n = len(client.events[plan.unit_year_id])
            await _decide(client, plan)
            await client.wait_event(plan.unit_year_id, "UnitYearReviewed", "UnitYearRecognized", after=n)
        n = len(client.events[plan.unit_year_id])
        await client.send("IncidentReported", incident(plan, f"{plan.code}-L", "2025-09-20"), key=plan.code)
        flag = await client.wait_event(plan.unit_year_id, "IncidentFlagged", after=n)
        assert flag["payload"]["flag_for_level"] == "commune" and flag["payload"]["criterion"] == "KDC-4"
        assert system.get("approval", f"/unit-years/{plan.unit_year_id}").json()["state"] == "recognized"
        flagged = system.get("approval", "/flags").json()["items"]
        assert plan.unit_year_id in [i["unit_year_id"] for i in flagged]

        # revocation is an explicit decision of the recognising level
        await client.send(
            "RecognitionRevocationSubmitted",
            {
                "unit_year_id": plan.unit_year_id,
                "reasons": ["Vụ trộm nghiêm trọng 20/9/2025, báo cáo muộn"],
                "decided_by": "Chủ tịch UBND xã",
                "decision_no": "9/QĐ-UBND",
            },
            key=plan.code,
        )
        ev = await client.wait_event(plan.unit_year_id, "UnitYearRevoked", after=n)
        assert ev["payload"]["state"] == "revoked"
    view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
    assert view["state"] == "revoked" and view["decisions"][-1]["decision"] == "revoke"
    assert plan.unit_year_id not in [i["unit_year_id"] for i in system.get("approval", "/flags").json()["items"]]
