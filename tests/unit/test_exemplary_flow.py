"""The exemplary track in the assessment service, over the in-memory broker: the movement's
classification, the proposal of an ANTT-recognised unit-year, its exemplary self-assessment,
and what judges it again (an incident counted with the stricter rules, a revoked
recognition); the refusals with their reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.assessment import app as assessment_app
from services.assessment import orm
from services.assessment.settings import AssessmentSettings
from shared.contracts import topics
from shared.contracts.envelope import verify_chain
from tests.unit.builders import Stream, all_criteria, message, unit
from tests.unit.harness import Service, running

INBOUND = topics.INBOUND
DLQ = topics.dlq(INBOUND)
EVENTS = topics.ASSESSMENT_EVENTS
CODE = "QN-DN-9"
UY = f"{CODE}:2025"

EVIDENCE: dict[str, Any] = {
    "has_party_organisation": False,
    "has_emulation_review": True,
    "directives_disseminated": True,
    "exemplary_plan_implemented": True,
    "movement_conference_held": True,
    "topics_or_models_reviewed": 1,
    "innovations_count": 1,
    "legal_dissemination_sessions": 2,
    "activities_held": [
        {"code": c}
        for c in (
            "anti_drug_month",
            "anti_drug_day",
            "world_environment_day",
            "anti_trafficking_day",
            "traffic_safety_month",
            "national_security_festival",
            "fire_prevention_day",
        )
    ],
    "security_force_total": 4,
    "security_force_trained": 4,
    "sanctions": [],
    "commendations_count": 1,
    "movement_exemplars_count": 1,
    "models_count": 1,
    "models_publicised_by_province": 1,
    "complaints_outstanding": 0,
    "welfare_activities_count": 2,
    "collective_title": "lao_dong_tien_tien",
    "merit_certificate": "provincial_chairman",
}


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_app.MIGRATIONS) as s:
        yield s


def exemplary_claims(unmet: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"code": f"DH-{i}", "met": f"DH-{i}" not in unmet} for i in range(1, 15)]


async def recognised(svc: Service, kind: str = "enterprise", code: str = CODE, *, decide: bool = True) -> Stream:
    uy = f"{code}:2025"
    u = unit(code=code, kind=kind, managing_level="province", commune_code=None if kind != "residential_area" else "51001")
    docs = [{"kind": "exemplary_plan", "ref": "KH-ĐH", "issued_on": "2025-02-01"}]
    await svc.publish_event(
        Stream("registration", uy).next("UnitYearRegistered", {"unit_year_id": uy, "year": 2025, "unit": u, "documents": docs}),
        topics.REGISTRATION_EVENTS,
    )
    await svc.publish(
        message("SelfAssessmentSubmitted", {"unit_year_id": uy, "criteria": all_criteria(kind), "meeting_date": "2025-11-04"}),
        INBOUND,
    )
    approval = Stream("approval", uy)
    if decide:
        payload = {
            "unit_year_id": uy, "level": "province", "deciding_body": "UBND tỉnh", "decided_by": "Chủ tịch UBND tỉnh",
            "decision_no": "1234/QĐ-UBND", "decided_on": "2025-11-20", "certificate_no": None, "state": "recognized",
        }  # fmt: skip
        await svc.publish_event(approval.next("UnitYearRecognized", payload), topics.APPROVAL_EVENTS)
    return approval


async def events_of(svc: Service, *types: str) -> list[dict[str, Any]]:
    return [e for e in await svc.events(EVENTS) if e["event_type"] in types]


async def dead_letter(svc: Service, msg: dict[str, Any]) -> dict[str, Any]:
    return next(d["value"] for d in await svc.outbox(DLQ) if d["value"]["message_id"] == msg["event_id"])


async def test_a_recognised_enterprise_is_proposed_and_judged_exemplary(svc: Service) -> None:
    approval = await recognised(svc)
    [case] = await svc.rows(orm.cases)
    assert case["outcome"] == {
        "outcome": "recognized",
        "level": "province",
        "decided_by": "Chủ tịch UBND tỉnh",
        "decision_no": "1234/QĐ-UBND",
        "decided_on": "2025-11-20",
    }

    classify = {"unit_year_id": UY, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh", "decision_no": "88/QĐ-BCĐ"}
    await svc.publish(message("MovementClassificationSubmitted", classify), INBOUND, partition=1)
    again = message("MovementClassificationSubmitted", classify)
    await svc.publish(again, INBOUND, partition=1)
    assert (await svc.inbox())[again["event_id"]]["outcome"] == "ignored"
    [mov] = await events_of(svc, "MovementClassificationRecorded")
    assert (mov["payload"]["rating"], mov["payload"]["decision_no"]) == ("xuat_sac", "88/QĐ-BCĐ")

    proposal = message(
        "ExemplaryProposalSubmitted", {"unit_year_id": UY, "proposed_by": "Giám đốc công ty", "submission_ref": "15/TTr"}
    )
    await svc.publish(proposal, INBOUND, partition=2)
    [opened] = await events_of(svc, "ExemplaryCaseOpened")
    p = opened["payload"]
    assert opened["causation_id"] == proposal["event_id"] and opened["unit_year_id"] == UY
    assert (p["criteria_catalog"], p["proposed_by"], p["antt_recognition"]["decision_no"]) == (
        "exemplary.51.2023",
        "Giám đốc công ty",
        "1234/QĐ-UBND",
    )

    body = {"unit_year_id": UY, "criteria": exemplary_claims(), "meeting_date": "2025-11-25", "evidence": EVIDENCE}
    await svc.publish(message("ExemplarySelfAssessmentSubmitted", body), INBOUND, partition=3)
    [rec] = await events_of(svc, "ExemplarySelfAssessmentRecorded")
    p = rec["payload"]
    assert (p["verdict"], p["unmet"], p["round"], p["movement_rating"]) == ("met", [], 1, "xuat_sac")
    results = {c["code"]: c["result"] for c in p["criteria"]}
    assert results["DH-8"] == "met" and results["DH-13"] == "met" and len(results) == 14
    [x] = await svc.rows(orm.exemplary_cases)
    assert (x["state"], x["verdict"], x["round"]) == ("self_assessed", "met", 1)

    # a minor crime: below what ANTT counts, but it fails DH-9
    await svc.publish(
        message(
            "IncidentReported",
            {
                "incident_id": "V-1",
                "unit_code": CODE,
                "occurred_on": "2025-08-02",
                "category": "crime",
                "severity": "minor",
                "reported_by": "Công an phường",
            },
        ),
        INBOUND,
        partition=4,
    )
    [inc] = await events_of(svc, "IncidentRecorded")
    assert (inc["payload"]["effect"], inc["payload"]["verdict"]) == ("below_severity", "met")
    [revised] = await events_of(svc, "ExemplaryEvaluationRevised")
    assert (revised["payload"]["verdict"], revised["payload"]["unmet"]) == ("not_met", ["DH-9"])
    assert revised["payload"]["reason"].startswith("incident V-1:")
    [antt] = await svc.rows(orm.cases)
    assert antt["verdict"] == "met"

    # the ANTT recognition revoked: DH-8 fails too
    revoke = {
        "unit_year_id": UY,
        "reasons": ["Vụ việc báo cáo muộn"],
        "decided_by": "Chủ tịch UBND tỉnh",
        "decision_no": "9/QĐ-UBND",
        "decided_on": "2025-12-10",
        "state": "revoked",
    }
    await svc.publish_event(approval.next("UnitYearRevoked", revoke), topics.APPROVAL_EVENTS)
    revised = (await events_of(svc, "ExemplaryEvaluationRevised"))[-1]
    assert (revised["payload"]["verdict"], revised["payload"]["unmet"]) == ("not_met", ["DH-8", "DH-9"])
    assert "the recognition “An toàn về ANTT” was revoked (9/QĐ-UBND): Vụ việc báo cáo muộn" in revised["payload"]["reason"]
    [x] = await svc.rows(orm.exemplary_cases)
    dh8 = next(c for c in x["result"]["criteria"] if c["code"] == "DH-8")
    assert f"{UY} is not recognised “An toàn về ANTT”: revoked" in dh8["reason"]
    verify_chain([e for e in await svc.events(EVENTS) if e["stream_id"] == UY])


async def test_the_movement_classified_kha_after_the_self_assessment(svc: Service) -> None:
    await recognised(svc)
    await svc.publish(
        message("ExemplaryProposalSubmitted", {"unit_year_id": UY, "proposed_by": "Giám đốc"}), INBOUND, partition=1
    )
    body = {"unit_year_id": UY, "criteria": exemplary_claims(), "meeting_date": "2025-11-25", "evidence": EVIDENCE}
    await svc.publish(message("ExemplarySelfAssessmentSubmitted", body), INBOUND, partition=1)
    [rec] = await events_of(svc, "ExemplarySelfAssessmentRecorded")
    dh8 = next(c for c in rec["payload"]["criteria"] if c["code"] == "DH-8")
    assert dh8["result"] == "needs_review" and rec["payload"]["verdict"] == "met"  # not classified yet
    await svc.publish(
        message("MovementClassificationSubmitted", {"unit_year_id": UY, "rating": "kha", "classified_by": "Ban Chỉ đạo tỉnh"}),
        INBOUND,
        partition=2,
    )
    [revised] = await events_of(svc, "ExemplaryEvaluationRevised")
    assert (revised["payload"]["verdict"], revised["payload"]["unmet"]) == ("not_met", ["DH-8"])
    assert revised["payload"]["reason"] == "the movement is classified kha by Ban Chỉ đạo tỉnh"


@pytest.mark.parametrize(
    "setup,payload,code,fragment",
    [
        (
            "undecided",
            {"unit_year_id": UY, "proposed_by": "x"},
            "not_recognized",
            f"unit-year {UY} is not recognised “An toàn về ANTT” (self_scored, not decided)",
        ),
        (
            "area",
            {"unit_year_id": "QN-KDC-1:2025", "proposed_by": "x"},
            "ineligible",
            "is for agency, enterprise, school units, not residential_area",
        ),
        (
            "recognised",
            {"unit_year_id": "NOPE-1:2025", "proposed_by": "x"},
            "unknown_unit_year",
            "unit-year NOPE-1:2025 is not registered",
        ),
    ],
)
async def test_a_proposal_is_refused_with_its_reason(
    svc: Service, setup: str, payload: dict[str, Any], code: str, fragment: str
) -> None:
    if setup == "area":
        await recognised(svc, "residential_area", "QN-KDC-1")
    else:
        await recognised(svc, decide=setup == "recognised")
    msg = message("ExemplaryProposalSubmitted", payload)
    await svc.publish(msg, INBOUND, partition=1)
    dl = await dead_letter(svc, msg)
    assert dl["error_code"] == code and fragment in dl["reason"], dl["reason"]
    assert await svc.rows(orm.exemplary_cases) == []


async def test_the_exemplary_self_assessment_needs_a_proposal_and_is_taken_once(svc: Service) -> None:
    await recognised(svc)
    body = {"unit_year_id": UY, "criteria": exemplary_claims(), "meeting_date": "2025-11-25"}
    early = message("ExemplarySelfAssessmentSubmitted", body)
    await svc.publish(early, INBOUND, partition=1)
    assert (await dead_letter(svc, early))["error_code"] == "no_exemplary_case"
    await svc.publish(
        message("ExemplaryProposalSubmitted", {"unit_year_id": UY, "proposed_by": "Giám đốc"}), INBOUND, partition=1
    )
    other = message("ExemplaryProposalSubmitted", {"unit_year_id": UY, "proposed_by": "Phó Giám đốc"})
    await svc.publish(other, INBOUND, partition=1)
    assert (await dead_letter(svc, other))["error_code"] == "conflict"
    missing = message("ExemplarySelfAssessmentSubmitted", {**body, "criteria": exemplary_claims()[:13]})
    await svc.publish(missing, INBOUND, partition=2)
    dl = await dead_letter(svc, missing)
    assert dl["error_code"] == "invalid_payload" and "criteria missing from the self-assessment: DH-14" in dl["reason"]
    await svc.publish(message("ExemplarySelfAssessmentSubmitted", body), INBOUND, partition=2)
    [rec] = await events_of(svc, "ExemplarySelfAssessmentRecorded")
    # without evidence the criteria that need it are the reviewer's, never failed for that alone
    assert rec["payload"]["verdict"] == "met"
    assert {c["result"] for c in rec["payload"]["criteria"]} == {"needs_review"}
    twice = message("ExemplarySelfAssessmentSubmitted", body)
    await svc.publish(twice, INBOUND, partition=3)
    assert (await dead_letter(svc, twice))["error_code"] == "illegal_transition"


async def test_the_exemplary_track_over_http(svc: Service) -> None:
    import httpx
    from fastapi import FastAPI

    from services.assessment.api import build_router
    from shared.contracts.envelope import Actor
    from shared.infra.http import install_error_handlers

    await recognised(svc)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(svc.rt, lambda: Actor(id="cb-51", role="province_officer", jurisdiction="province:51")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get(f"/unit-years/{UY}/exemplary")
        assert r.status_code == 404 and "not proposed for the exemplary title" in r.json()["reason"]
        r = await client.post(
            f"/unit-years/{UY}/movement-classification", json={"rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh"}
        )
        assert r.status_code == 200 and r.json()["movement"]["rating"] == "xuat_sac"
        assert r.json()["antt_outcome"]["outcome"] == "recognized"
        r = await client.post(f"/unit-years/{UY}/movement-classification", json={"rating": "tot", "classified_by": "x"})
        assert r.status_code == 422
        r = await client.post(
            f"/unit-years/{UY}/exemplary-self-assessment", json={"criteria": exemplary_claims(), "meeting_date": "2025-11-25"}
        )
        assert (
            r.status_code == 400 and r.json()["error_code"] == "no_exemplary_case"
        )  # a code without its own HTTP status (shared/infra/http.py): 400
        r = await client.post(f"/unit-years/{UY}/exemplary-proposal", json={"proposed_by": "Giám đốc"})
        assert r.status_code == 200 and (r.json()["state"], r.json()["criteria_catalog"]) == ("proposed", "exemplary.51.2023")
        body = {
            "criteria": exemplary_claims(),
            "meeting_date": "2025-11-25",
            "evidence": {**EVIDENCE, "welfare_activities_count": 1},
        }
        r = await client.post(f"/unit-years/{UY}/exemplary-self-assessment", json=body)
        assert r.status_code == 200, r.text
        view = r.json()
        assert (view["state"], view["verdict"], view["unmet"]) == ("self_assessed", "not_met", ["DH-13"])
        assert view["antt_recognition"]["decision_no"] == "1234/QĐ-UBND" and view["movement"]["rating"] == "xuat_sac"
    kinds = [e["event_type"] for e in await svc.events(EVENTS) if e["event_type"].startswith(("Exemplary", "Movement"))]
    assert kinds == ["MovementClassificationRecorded", "ExemplaryCaseOpened", "ExemplarySelfAssessmentRecorded"]
