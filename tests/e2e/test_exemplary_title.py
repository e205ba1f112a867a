"""The exemplary title's own approval chain over real Kafka, the three services as processes:
an agency recognised ANTT, proposed, returned once by the province's chain, then recognised
exemplary; an enterprise refused the title for a minor crime while it stays recognised ANTT;
an ANTT revocation taking a granted title with it (an explicit, caused event)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan
from tests.e2e.conftest import TOKEN, System, unique
from tests.e2e.test_commune_rollup import decide, register, self_score
from tests.e2e.test_exemplary import EVIDENCE, propose_and_self_assess

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def recognise_antt(client: AnttClient, plan: Plan) -> None:
    uy = plan.unit_year_id
    ev = await self_score(client, plan)
    while ev["event_type"] != "UnitYearRecognized":
        n = len(client.events[uy])
        await decide(client, plan, ev["payload"]["pending_level"], "pass")
        ev = await client.wait_event(uy, "UnitYearReviewed", "UnitYearRecognized", after=n, timeout=60)


async def exemplary_decision(
    client: AnttClient, plan: Plan, step: str, decision: str, reasons: list[str] | None = None, **extra: Any
) -> str:
    return await client.send(
        "ExemplaryDecisionSubmitted",
        {
            "unit_year_id": plan.unit_year_id,
            "level": "province",
            "step": step,
            "decision": decision,
            "reasons": reasons or [],
            "decided_by": "Ban Chỉ đạo tỉnh" if step == "review" else "Chủ tịch UBND tỉnh",
            **extra,
        },
        key=plan.code,
    )


def plan_of(kind: str) -> Plan:
    return Plan(code=unique("CQ" if kind == "agency" else "DN"), kind=kind, managing_level="province", commune_code=None)


async def test_an_agency_returned_once_then_recognised_exemplary(system: System) -> None:
    plan = plan_of("agency")
    uy = plan.unit_year_id
    async with AnttClient(system.bootstrap) as client:
        await register(client, plan)
        await recognise_antt(client, plan)
        await propose_and_self_assess(client, plan, EVIDENCE)
        opened = await client.wait_event(uy, "ExemplaryTitleCaseOpened", timeout=60)
        assert opened["stream_id"] == f"exemplary:{uy}" and opened["producer"] == "approval"
        assert [(s["level"], s["role"]) for s in opened["payload"]["chain"]] == [("province", "review"), ("province", "decide")]
        assert opened["payload"]["chain"][0]["body"].startswith("Ban Chỉ đạo tỉnh")
        assert opened["payload"]["antt_decision_no"] == f"QĐ/{plan.code}/province"
        scored = await client.wait_event(uy, "ExemplaryTitleSelfScored", timeout=60)
        assert (scored["payload"]["round"], scored["payload"]["verdict"]) == (1, "met")

        # the queue of the province's officials shows it
        queue = system.get("approval", "/exemplary/queue?level=province").json()["items"]
        assert uy in [t["unit_year_id"] for t in queue]

        # the steering committee appraises, then the chairman returns it for supplement
        n = len(client.events[uy])
        await exemplary_decision(client, plan, "review", "pass", decision_no="05/BC-BCĐ")
        await client.wait_event(uy, "ExemplaryTitleReviewed", after=n, timeout=60)
        n = len(client.events[uy])
        reason = "Bổ sung báo cáo kết quả mô hình phong trào (tiêu chí 3)"
        await exemplary_decision(client, plan, "decide", "return", [reason])
        returned = await client.wait_event(uy, "ExemplaryTitleReturned", after=n, timeout=60)
        assert returned["payload"]["reasons"] == [reason] and returned["payload"]["state"] == "returned"
        reopened = await client.wait_event(uy, "ExemplaryCaseReopened", after=n, timeout=60)
        assert reopened["producer"] == "assessment" and reopened["causation_id"] == returned["event_id"]

        # a decision sent again for the step that was taken is refused, not applied to the next
        eid = await exemplary_decision(client, plan, "decide", "pass", decision_no="x")
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "step_not_current"

        # the second self-assessment, the appraisal, and the recognition through HTTP
        n = len(client.events[uy])
        body = {
            "unit_year_id": uy,
            "criteria": [{"code": f"DH-{i}", "met": True} for i in range(1, 15)],
            "documents": [{"kind": "exemplary_plan", "ref": "KH-ĐH-2025", "issued_on": "2025-02-20"}],
            "meeting_date": "2025-12-02",
            "evidence": EVIDENCE,
        }
        await client.send("ExemplarySelfAssessmentSubmitted", body, key=plan.code)
        scored = await client.wait_event(uy, "ExemplaryTitleSelfScored", after=n, timeout=60)
        assert scored["payload"]["round"] == 2
        n = len(client.events[uy])
        await exemplary_decision(client, plan, "review", "pass", decision_no="09/BC-BCĐ")
        await client.wait_event(uy, "ExemplaryTitleReviewed", after=n, timeout=60)
        title = system.get("approval", f"/unit-years/{uy}/exemplary")
        assert title.json()["pending_step"]["role"] == "decide"
        decision = {
            "level": "province",
            "step": "decide",
            "decision": "pass",
            "decided_by": "Chủ tịch UBND tỉnh",
            "decision_no": "812/QĐ-UBND",
            "certificate_no": "BK-812/2025",
        }
        headers = {**TOKEN, "Idempotency-Key": str(uuid.uuid4()), "If-Match": title.headers["ETag"]}
        r = system.post("approval", f"/unit-years/{uy}/exemplary/decisions", decision, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "recognized"
        again = system.post("approval", f"/unit-years/{uy}/exemplary/decisions", decision, headers=headers)
        assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
        recognised = await client.wait_event(uy, "ExemplaryTitleRecognized", after=n, timeout=60)
        closed = await client.wait_event(uy, "ExemplaryCaseClosed", after=n, timeout=60)
    p = recognised["payload"]
    assert (p["decision_no"], p["certificate_no"], p["deciding_body"]) == ("812/QĐ-UBND", "BK-812/2025", "Chủ tịch UBND tỉnh")
    assert closed["payload"]["outcome"] == "recognized"
    view = system.get("approval", f"/unit-years/{uy}").json()
    assert view["state"] == "recognized" and view["exemplary"]["state"] == "recognized"
    assert [(d["role"], d["decision"], d["round"]) for d in view["exemplary"]["decisions"]] == [
        ("review", "pass", 1),
        ("decide", "return", 1),
        ("review", "pass", 2),
        ("decide", "pass", 2),
    ]
    assert system.get("assessment", f"/unit-years/{uy}/exemplary").json()["state"] == "closed"
    # each track's events are one hash-chained stream of each producer
    mine = [e for e in client.events[uy] if e["stream_id"] == f"exemplary:{uy}" and e["producer"] == "approval"]
    assert [e["sequence"] for e in mine] == list(range(1, len(mine) + 1))


async def test_an_enterprise_refused_exemplary_for_a_minor_crime_stays_recognised(system: System) -> None:
    plan = plan_of("enterprise")
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
        await client.wait_event(uy, "IncidentRecorded")
        await recognise_antt(client, plan)
        await propose_and_self_assess(client, plan, EVIDENCE)
        scored = await client.wait_event(uy, "ExemplaryTitleSelfScored", timeout=60)
        assert (scored["payload"]["verdict"], scored["payload"]["unmet"]) == ("not_met", ["DH-9"])

        # passing a title whose self-assessment is not met is refused with the reason
        eid = await exemplary_decision(client, plan, "review", "pass")
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "criteria_not_met" and "DH-9" in dl["reason"]
        # a refusal needs its reasons
        eid = await exemplary_decision(client, plan, "review", "reject")
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "invalid_payload"
        n = len(client.events[uy])
        reason = "Năm 2025 để xảy ra 01 vụ trộm cắp tài sản (tội phạm ít nghiêm trọng): không đạt tiêu chí 9"
        await exemplary_decision(client, plan, "review", "reject", [reason], decision_no="11/TB-BCĐ")
        refused = await client.wait_event(uy, "ExemplaryTitleNotRecognized", after=n, timeout=60)
        closed = await client.wait_event(uy, "ExemplaryCaseClosed", after=n, timeout=60)
    assert refused["payload"]["reasons"] == [reason] and refused["payload"]["state"] == "not_recognized"
    assert closed["payload"]["outcome"] == "not_recognized"
    view = system.get("approval", f"/unit-years/{uy}").json()
    assert view["state"] == "recognized" and view["exemplary"]["state"] == "not_recognized"


async def test_an_antt_revocation_takes_the_exemplary_title_with_it(system: System) -> None:
    plan = plan_of("agency")
    uy = plan.unit_year_id
    async with AnttClient(system.bootstrap) as client:
        await register(client, plan)
        await recognise_antt(client, plan)
        await propose_and_self_assess(client, plan, EVIDENCE)
        await client.wait_event(uy, "ExemplaryTitleSelfScored", timeout=60)
        n = len(client.events[uy])
        await exemplary_decision(client, plan, "review", "pass")
        await client.wait_event(uy, "ExemplaryTitleReviewed", after=n, timeout=60)
        n = len(client.events[uy])
        await exemplary_decision(client, plan, "decide", "pass", decision_no="812/QĐ-UBND")
        await client.wait_event(uy, "ExemplaryTitleRecognized", after=n, timeout=60)
        closed = await client.wait_event(uy, "ExemplaryCaseClosed", after=n, timeout=60)
        assert closed["payload"]["outcome"] == "recognized"

        n = len(client.events[uy])
        await client.send(
            "RecognitionRevocationSubmitted",
            {
                "unit_year_id": uy,
                "reasons": ["Vụ án nghiêm trọng xảy ra 03/6/2025, báo cáo sau khi công nhận"],
                "decided_by": "Chủ tịch UBND tỉnh",
                "decision_no": "95/QĐ-UBND",
            },
            key=plan.code,
        )
        revoked = await client.wait_event(uy, "UnitYearRevoked", after=n, timeout=60)
        title = await client.wait_event(uy, "ExemplaryTitleRevoked", after=n, timeout=60)
        revised = await client.wait_event(uy, "ExemplaryEvaluationRevised", after=n, timeout=60)
    p = title["payload"]
    assert p["because_of"] == "antt_revoked" and p["decision_no"] == "95/QĐ-UBND" and p["state"] == "revoked"
    assert title["causation_id"] == revoked["event_id"] and title["stream_id"] == f"exemplary:{uy}"
    assert "95/QĐ-UBND" in p["reasons"][0]
    # the assessment service judges the exemplary self-assessment again: DH-8 fails
    assert "DH-8" in revised["payload"]["unmet"]
    view = system.get("approval", f"/unit-years/{uy}").json()
    assert (view["state"], view["exemplary"]["state"]) == ("revoked", "revoked")
    # and the exemplary title alone cannot be revoked again
    r = system.post(
        "approval",
        f"/unit-years/{uy}/exemplary/revocation",
        {"reasons": ["x"], "decided_by": "Chủ tịch UBND tỉnh"},
        headers={**TOKEN, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 409 and r.json()["error_code"] == "illegal_transition"
