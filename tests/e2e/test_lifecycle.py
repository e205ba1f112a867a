"""A unit-year from registration to recognition over real Kafka, with the services as
processes, on SQLite and on PostgreSQL; returns, refusals, withdrawal and the HTTP API."""

from __future__ import annotations

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.e2e.conftest import System, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def _register(client: AnttClient, plan: Plan) -> None:
    await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
    await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
    await client.wait_event(plan.unit_year_id, "AssessmentOpened")


async def _decide(client: AnttClient, plan: Plan, level: str, decision: str, reasons: list[str] | None = None) -> dict:
    n = len(client.events[plan.unit_year_id])
    await client.send(
        "ReviewDecisionSubmitted",
        {
            "unit_year_id": plan.unit_year_id,
            "level": level,
            "decision": decision,
            "reasons": reasons or [],
            "decided_by": f"officer@{level}",
            "decision_no": f"12/QĐ-{level}",
            "certificate_no": "GCN-1" if decision == "pass" else None,
        },
        key=plan.code,
    )
    return await client.wait_event(
        plan.unit_year_id, "UnitYearReviewed", "UnitYearRecognized", "UnitYearNotRecognized", "UnitYearReturned", after=n
    )


async def test_residential_area_is_recognised_and_history_is_complete(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        await _register(client, plan)
        await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
        ev = await client.wait_event(plan.unit_year_id, "UnitYearSelfScored")
        assert ev["payload"]["pending_level"] == "commune"
        ev = await _decide(client, plan, "commune", "pass")
        assert ev["event_type"] == "UnitYearReviewed" and ev["payload"]["state"] == "commune_reviewed"
        ev = await _decide(client, plan, "commune", "pass")
        assert ev["event_type"] == "UnitYearRecognized"
        assert ev["payload"]["deciding_body"] == "Chủ tịch UBND xã"

    view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
    assert view["state"] == "recognized"
    assert view["level"] == "commune"
    assert [d["decision"] for d in view["decisions"]] == ["pass", "pass"]
    types = [e["event_type"] for e in view["history"]]
    for expected in (
        "UnitYearRegistered",
        "AssessmentOpened",
        "ApprovalCaseOpened",
        "SelfAssessmentRecorded",
        "UnitYearSelfScored",
        "UnitYearReviewed",
        "UnitYearRecognized",
    ):
        assert expected in types, (expected, types)
    assert {e["producer"] for e in view["history"]} == {"registration", "assessment", "approval"}
    # the read models of the other services follow
    reg = system.get("registration", f"/unit-years/{plan.unit_year_id}").json()
    assert reg["state"] == "registered"


async def test_returned_then_passes_and_refused_with_reason(system: System) -> None:
    returned = Plan(code=unique("CQ"), kind="agency", managing_level="province")
    refused = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        for p in (returned, refused):
            await _register(client, p)
            await client.send("SelfAssessmentSubmitted", self_assessment_msg(p), key=p.code)
            await client.wait_event(p.unit_year_id, "UnitYearSelfScored")

        # a province-managed agency is appraised and recognised at province level
        ev = await _decide(client, returned, "province", "return", ["Bổ sung biên bản họp"])
        assert ev["event_type"] == "UnitYearReturned"
        n = len(client.events[returned.unit_year_id])
        await client.wait_event(returned.unit_year_id, "AssessmentReopened")
        await client.send("SelfAssessmentSubmitted", self_assessment_msg(returned), key=returned.code)
        ev = await client.wait_event(returned.unit_year_id, "UnitYearSelfScored", after=n)
        assert ev["payload"]["round"] == 2
        assert (await _decide(client, returned, "province", "pass"))["event_type"] == "UnitYearReviewed"
        ev = await _decide(client, returned, "province", "pass")
        assert ev["event_type"] == "UnitYearRecognized" and ev["payload"]["deciding_body"] == "Chủ tịch UBND tỉnh"

        ev = await _decide(client, refused, "commune", "reject", ["Để xảy ra tội phạm nghiêm trọng"])
        assert ev["event_type"] == "UnitYearNotRecognized"
        assert ev["payload"]["reasons"] == ["Để xảy ra tội phạm nghiêm trọng"]
        # the assessment service closes its case when it reads the decision
        await client.wait_event(refused.unit_year_id, "AssessmentClosed")

    v = system.get("approval", f"/unit-years/{returned.unit_year_id}").json()
    assert v["state"] == "recognized" and v["round"] == 2
    assert [d["decision"] for d in v["decisions"]] == ["return", "pass", "pass"]
    v = system.get("approval", f"/unit-years/{refused.unit_year_id}").json()
    assert v["state"] == "not_recognized"
    assert v["decisions"][-1]["reasons"] == ["Để xảy ra tội phạm nghiêm trọng"]
    a = system.get("assessment", f"/unit-years/{refused.unit_year_id}").json()
    assert a["state"] == "closed"


async def test_withdrawal_reaches_every_service(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        await _register(client, plan)
        await client.send(
            "UnitYearWithdrawalSubmitted", {"unit_year_id": plan.unit_year_id, "reason": "Sáp nhập thôn"}, key=plan.code
        )
        await client.wait_event(plan.unit_year_id, "ApprovalCaseWithdrawn")
    assert system.get("approval", f"/unit-years/{plan.unit_year_id}").json()["state"] == "withdrawn"
    assert system.get("assessment", f"/unit-years/{plan.unit_year_id}").json()["state"] == "withdrawn"
    assert system.get("registration", f"/unit-years/{plan.unit_year_id}").json()["state"] == "withdrawn"


async def test_the_same_actions_over_http(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    r = system.post("registration", "/units", unit_msg(plan))
    assert r.status_code == 201, r.text
    r = system.post("registration", "/unit-years", registration_msg(plan))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "registered"

    # refusals with a reason, nothing changed
    assert system.post("registration", "/unit-years", registration_msg(plan)).status_code == 409
    r = system.post("registration", "/unit-years", {**registration_msg(plan), "unit_code": "NO-SUCH-UNIT"})
    assert r.status_code == 404 and "NO-SUCH-UNIT" in r.json()["reason"]
    r = system.post("registration", "/units", {"unit": {"code": "X"}})
    assert r.status_code == 422 and "kind" in r.json()["reason"]
    assert system.post("registration", "/units", unit_msg(plan), headers={}).status_code == 401

    async with AnttClient(system.bootstrap, from_beginning=False) as client:
        # wait until the assessment service has opened the case
        import asyncio

        for _ in range(100):
            if system.get("approval", f"/unit-years/{plan.unit_year_id}").status_code == 200:
                break
            await asyncio.sleep(0.2)
        r = system.post(
            "approval",
            f"/unit-years/{plan.unit_year_id}/decisions",
            {"level": "commune", "decision": "pass", "decided_by": "x"},
        )
        assert r.status_code == 409
        assert "not been self-assessed" in r.json()["reason"]

        body = self_assessment_msg(plan)
        del body["unit_year_id"]
        r = system.post("assessment", f"/unit-years/{plan.unit_year_id}/self-assessment", body)
        assert r.status_code == 200, r.text
        assert r.json()["verdict"] == "met"
        await client.wait_event(plan.unit_year_id, "UnitYearSelfScored")

        r = system.post(
            "approval", f"/unit-years/{plan.unit_year_id}/decisions", {"level": "province", "decision": "pass", "decided_by": "x"}
        )
        assert r.status_code == 409 and r.json()["error_code"] == "wrong_level"
        for _ in range(2):
            r = system.post(
                "approval",
                f"/unit-years/{plan.unit_year_id}/decisions",
                {"level": "commune", "decision": "pass", "decided_by": "Chủ tịch UBND xã", "decision_no": "5/QĐ-UBND"},
            )
            assert r.status_code == 200, r.text
        assert r.json()["state"] == "recognized"

    q = system.get("approval", "/queue?level=commune").json()
    assert plan.unit_year_id not in [i["unit_year_id"] for i in q["items"]]
