"""Incidents (IncidentReported): what each category does to each unit kind, the window an
incident counts in (the day it happened, not the day it was reported), and the handler path
over the in-memory broker: before and after the unit-year is registered, duplicates,
jurisdiction, and the verdict an incident changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from services.assessment import app as assessment_app
from services.assessment import orm, queries
from services.assessment.api import case_view
from services.assessment.domain.criteria import load_catalog
from services.assessment.domain.model import Incident, assessment_window, window_year
from services.assessment.domain.rules import classify_incident
from services.assessment.queries import incidents_in_window
from services.assessment.settings import AssessmentSettings
from shared.contracts import topics
from shared.contracts.envelope import verify_chain
from shared.contracts.inbound import IncidentReported
from tests.unit.builders import NATIONAL, PROVINCE, Stream, all_criteria, message, unit
from tests.unit.harness import Service, running

INBOUND = topics.INBOUND
DLQ = topics.dlq(INBOUND)
EVENTS = topics.ASSESSMENT_EVENTS


# --------------------------------------------------------------------------- classification
def incident(category: str, **kw: Any) -> dict[str, Any]:
    return {
        "incident_id": kw.pop("incident_id", "INC-1"),
        "category": category,
        "occurred_on": date(2025, 5, 1),
        "severity": "serious",
        **kw,
    }


PROMPT = {"detected_promptly": True, "mitigated": True, "reported_promptly": True}

EFFECTS: list[tuple[str, str, dict[str, Any], str | None, str, str]] = [
    # (id, kind, incident, criterion, effect, fragment)
    (
        "crime-serious",
        "agency",
        incident("crime"),
        "CQ-3",
        "fails_criterion",
        "serious crime or worse passes only if promptly detected, mitigated and reported; not detected_promptly",
    ),
    (
        "crime-serious-handled",
        "agency",
        incident("crime", **PROMPT),
        "CQ-3",
        "conditional_pass",
        "promptly detected, mitigated and reported: passes CQ-3, Art. 6.3.đ (conditional pass)",
    ),
    (
        "crime-especially-serious-not-reported",
        "agency",
        incident("crime", severity="especially_serious", detected_promptly=True, mitigated=True),
        "CQ-3",
        "fails_criterion",
        "not reported_promptly",
    ),
    (
        "crime-minor",
        "agency",
        incident("crime", severity="minor"),
        "CQ-3",
        "below_severity",
        "below serious, not an event of CQ-3",
    ),
    (
        "crime-force-majeure",
        "agency",
        incident("crime", force_majeure=True),
        "CQ-3",
        "force_majeure",
        "force majeure (trừ trường hợp bất khả kháng), exempt under CQ-3, Art. 6.3.đ",
    ),
    (
        "fire-force-majeure",
        "enterprise",
        incident("fire_explosion", force_majeure=True),
        "DN-3",
        "force_majeure",
        "exempt under DN-3, Art. 6.3.g",
    ),
    ("fire-minor", "enterprise", incident("fire_explosion", severity="minor"), "DN-3", "below_severity", "below serious"),
    ("fatal-accident", "enterprise", incident("fatal_work_accident"), "DN-3", "fails_criterion", "fails DN-3, Art. 6.3.g"),
    (
        "secret-force-majeure",
        "agency",
        incident("state_secret_breach", force_majeure=True),
        "CQ-3",
        "fails_criterion",
        "force majeure is no exemption for this category",
    ),
    ("agency-strike", "agency", incident("strike"), "CQ-3", "fails_criterion", "fails CQ-3, Art. 6.3.d"),
    ("enterprise-strike", "enterprise", incident("strike"), "DN-3", "fails_criterion", "Art. 6.3.d"),
    ("school-strike", "school", incident("strike"), None, "no_criterion_for_kind", "not d (đình công, lãn công)"),
    ("school-clause-h", "school", incident("staff_discipline"), None, "no_criterion_for_kind", "not h"),
    ("school-violence", "school", incident("school_violence"), "GD-3", "fails_criterion", "fails GD-3, Art. 7.4"),
    ("school-member", "school", incident("school_member_discipline"), "GD-3", "fails_criterion", "Art. 7.4"),
    ("school-crime-handled", "school", incident("crime", **PROMPT), "GD-3", "conditional_pass", "conditional pass"),
    (
        "area-strike",
        "residential_area",
        incident("strike"),
        None,
        "no_criterion_for_kind",
        "strike is not an event of the residential_area criteria",
    ),
    ("area-mass-complaint", "residential_area", incident("mass_complaint"), "KDC-3", "fails_criterion", "fails KDC-3, Art. 4.3"),
    ("area-hotspot", "residential_area", incident("social_order_hotspot"), "KDC-4", "fails_criterion", "KDC-4, Art. 4.4"),
    (
        "area-crime-force-majeure",
        "residential_area",
        incident("crime", force_majeure=True),
        "KDC-4",
        "force_majeure",
        "bất khả kháng",
    ),
    (
        "area-crime-handled",
        "residential_area",
        incident("crime", severity="very_serious", **PROMPT),
        "KDC-4",
        "conditional_pass",
        "conditional pass",
    ),
    ("commune-separatism", "commune", incident("separatism"), "XA-2", "fails_criterion", "XA-2, Art. 4.3"),
    ("commune-crime", "commune", incident("crime"), "XA-2", "fails_criterion", "XA-2, Art. 4.4"),
    (
        "agency-theft",
        "agency",
        incident("major_theft"),
        None,
        "no_criterion_for_kind",
        "major_theft is not an event of the agency criteria",
    ),
]


@pytest.mark.parametrize("kind,inc,criterion,effect,fragment", [e[1:] for e in EFFECTS], ids=[e[0] for e in EFFECTS])
def test_effect_of_an_incident(kind: str, inc: dict[str, Any], criterion: str | None, effect: str, fragment: str) -> None:
    e = classify_incident(load_catalog(kind), inc)
    assert (e.criterion, e.effect) == (criterion, effect), e.reason
    assert fragment in e.reason
    assert e.reason.startswith(f"incident INC-1 ({inc['category']}, {inc['severity']}) on 2025-05-01")


# --------------------------------------------------------------------------- windows
@pytest.mark.parametrize(
    "kind,day,year",
    [
        ("agency", date(2025, 11, 15), 2025),
        ("agency", date(2025, 11, 16), 2026),
        ("agency", date(2024, 11, 16), 2025),
        ("school", date(2025, 1, 1), 2025),
        ("commune", date(2025, 12, 31), 2026),
        ("residential_area", date(2025, 10, 31), 2025),
        ("residential_area", date(2025, 11, 1), 2026),
        ("residential_area", date(2024, 11, 1), 2025),
    ],
)
def test_an_incident_counts_in_the_window_that_contains_its_day(kind: str, day: date, year: int) -> None:
    assert window_year(kind, day) == year
    start, end = assessment_window(kind, year)
    assert start <= day <= end


# --------------------------------------------------------------------------- handlers
@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_app.MIGRATIONS) as s:
        yield s


CODE = "QN-CQ-7"
UY = f"{CODE}:2025"
Q1 = [
    {"kind": "party_resolution", "ref": "NQ-12", "issued_on": "2025-01-16"},
    {"kind": "security_plan", "ref": "KH-03", "issued_on": "2025-02-10"},
    {"kind": "registration_form", "ref": "ĐK-01", "issued_on": "2025-02-15"},
]


def registered(kind: str = "agency", code: str = CODE, year: int = 2025, **kw: Any) -> dict[str, Any]:
    u = unit(code=code, kind=kind, managing_level="province", **kw)
    payload: dict[str, Any] = {"unit_year_id": f"{code}:{year}", "year": year, "unit": u, "documents": Q1}
    if kind == "residential_area":
        payload |= {"households_total": 90, "households_registered": 90}
    return Stream("registration", f"{code}:{year}").next("UnitYearRegistered", payload)


def report(incident_id: str = "CA-51-2025-0042", **kw: Any) -> dict[str, Any]:
    payload = {
        "incident_id": incident_id,
        "unit_code": CODE,
        "occurred_on": "2025-06-03",
        "reported_on": "2025-11-28",
        "category": "crime",
        "severity": "very_serious",
        "reported_by": "Công an tỉnh Quảng Ngãi (PC02)",
        **kw,
    }
    IncidentReported.model_validate(payload)
    return payload


def self_assessment(kind: str = "agency", unit_year_id: str = UY) -> dict[str, Any]:
    return {"unit_year_id": unit_year_id, "criteria": all_criteria(kind), "meeting_date": "2025-11-04"}


async def recorded(s: Service) -> list[dict[str, Any]]:
    return [e for e in await s.events(EVENTS) if e["event_type"] == "IncidentRecorded"]


async def test_an_incident_after_the_self_assessment_turns_the_verdict(svc: Service) -> None:
    await svc.publish_event(registered(), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment()), INBOUND)
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "met"

    msg = message("IncidentReported", report(), correlation_id="vụ-42")
    await svc.publish(msg, INBOUND, key=CODE.encode())
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "not_met" and case["result"]["unmet"] == ["CQ-3"]
    assert case["incident_ids"] == ["dvc-quang-ngai/CA-51-2025-0042"] and case["round"] == 1 and case["state"] == "self_scored"
    cq3 = case["result"]["criteria"][2]
    assert (
        cq3["result"] == "not_met" and "incident CA-51-2025-0042 (crime, very_serious) on 2025-06-03 fails CQ-3" in cq3["reason"]
    )

    [ev] = await recorded(svc)
    assert ev["unit_year_id"] == ev["stream_id"] == UY
    assert ev["causation_id"] == msg["event_id"] and ev["correlation_id"] == "vụ-42"
    p = ev["payload"]
    assert (p["effect"], p["criterion"], p["verdict"], p["unmet"]) == ("fails_criterion", "CQ-3", "not_met", ["CQ-3"])
    assert (p["occurred_on"], p["assessed_year"], p["severity"], p["after_recognition"]) == (
        "2025-06-03",
        2025,
        "very_serious",
        False,
    )
    assert "not detected_promptly" in p["reason"]
    events = await svc.events(EVENTS)
    assert [e["event_type"] for e in events] == ["AssessmentOpened", "SelfAssessmentRecorded", "IncidentRecorded"]
    verify_chain(events)
    [row] = await svc.rows(orm.incidents)
    assert (row["unit_year_id"], row["effect"], row["criterion"]) == (UY, "fails_criterion", "CQ-3")


async def test_an_incident_before_the_unit_is_known_counts_once_its_year_registers(svc: Service) -> None:
    msg = message("IncidentReported", report())
    await svc.publish(msg, INBOUND, key=CODE.encode())
    [row] = await svc.rows(orm.incidents)
    assert row["unit_year_id"] is None and row["effect"] == "pending_registration"
    [pending] = await recorded(svc)
    assert pending["unit_year_id"] is None and pending["stream_id"] == f"unit:{CODE}"
    p = pending["payload"]
    assert (p["effect"], p["verdict"], p["assessed_year"], p["criterion"]) == ("pending_registration", None, None, None)
    assert f"unit {CODE} is not known here yet" in p["reason"]

    reg = registered()
    await svc.publish_event(reg, topics.REGISTRATION_EVENTS)
    events = await svc.events(EVENTS)
    assert [(e["event_type"], e["stream_id"]) for e in events] == [
        ("IncidentRecorded", f"unit:{CODE}"),
        ("AssessmentOpened", UY),
        ("IncidentRecorded", UY),
    ]
    linked = events[2]
    assert linked["causation_id"] == reg["event_id"] and linked["sequence"] == 2
    assert (linked["payload"]["effect"], linked["payload"]["criterion"], linked["payload"]["verdict"]) == (
        "fails_criterion",
        "CQ-3",
        None,
    )
    [case] = await svc.rows(orm.cases)
    assert case["incident_ids"] == ["dvc-quang-ngai/CA-51-2025-0042"]

    await svc.publish(message("SelfAssessmentSubmitted", self_assessment()), INBOUND, partition=1)
    sa = (await svc.events(EVENTS))[-1]
    assert sa["event_type"] == "SelfAssessmentRecorded"
    assert sa["payload"]["verdict"] == "not_met" and sa["payload"]["unmet"] == ["CQ-3"]
    assert "CA-51-2025-0042" in sa["payload"]["criteria"][2]["reason"]


async def test_a_known_unit_whose_year_is_not_registered(svc: Service) -> None:
    """The unit is known (a 2025 unit-year): an incident on 16 Nov 2025 belongs to 2026, not 2025."""
    await svc.publish_event(registered(), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment()), INBOUND)
    await svc.publish(message("IncidentReported", report("A-16NOV", occurred_on="2025-11-16")), INBOUND, partition=1)
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "met" and not case["incident_ids"]
    [ev] = await recorded(svc)
    assert ev["stream_id"] == f"unit:{CODE}" and ev["unit_year_id"] is None
    p = ev["payload"]
    assert (p["effect"], p["assessed_year"], p["criterion"]) == ("pending_registration", 2026, "CQ-3")
    assert f"unit-year {CODE}:2026 (the window that contains 2025-11-16) is not registered yet" in p["reason"]

    # 15 Nov is still in the 2025 window
    await svc.publish(message("IncidentReported", report("A-15NOV", occurred_on="2025-11-15")), INBOUND, partition=2)
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "not_met" and case["incident_ids"] == ["dvc-quang-ngai/A-15NOV"]

    # the 2026 unit-year picks up the 16 Nov incident, and only that one
    await svc.publish_event(registered(year=2026), topics.REGISTRATION_EVENTS)
    case26 = next(c for c in await svc.rows(orm.cases) if c["unit_year_id"] == f"{CODE}:2026")
    assert case26["incident_ids"] == ["dvc-quang-ngai/A-16NOV"]


@pytest.mark.parametrize(
    "day,counts",
    [("2025-10-31", True), ("2025-11-01", False)],
)
async def test_residential_area_window_edge(svc: Service, day: str, counts: bool) -> None:
    code = "QN-KDC-9"
    await svc.publish_event(registered("residential_area", code=code), topics.REGISTRATION_EVENTS)
    sa = self_assessment("residential_area", f"{code}:2025")
    await svc.publish(message("SelfAssessmentSubmitted", sa), INBOUND)
    await svc.publish(
        message("IncidentReported", report(unit_code=code, category="mass_complaint", occurred_on=day)), INBOUND, partition=1
    )
    case = next(c for c in await svc.rows(orm.cases) if c["unit_year_id"] == f"{code}:2025")
    assert case["verdict"] == ("not_met" if counts else "met")
    [ev] = await recorded(svc)
    assert ev["payload"]["assessed_year"] == (2025 if counts else 2026)
    assert ev["payload"]["effect"] == ("fails_criterion" if counts else "pending_registration")


async def test_a_strike_at_a_school_is_recorded_without_effect(svc: Service) -> None:
    code = "QN-THPT-1"
    await svc.publish_event(registered("school", code=code), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment("school", f"{code}:2025")), INBOUND)
    await svc.publish(message("IncidentReported", report(unit_code=code, category="strike")), INBOUND, partition=1)
    [ev] = await recorded(svc)
    p = ev["payload"]
    assert (p["effect"], p["criterion"], p["verdict"], p["unmet"]) == ("no_criterion_for_kind", None, "met", [])
    assert "not d (đình công, lãn công)" in p["reason"]
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "met" and case["incident_ids"] == ["dvc-quang-ngai/CA-51-2025-0042"]


async def test_force_majeure_and_the_conditional_pass_leave_the_verdict_met(svc: Service) -> None:
    await svc.publish_event(registered(), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment()), INBOUND)
    await svc.publish(
        message("IncidentReported", report("FM-1", category="fire_explosion", force_majeure=True)), INBOUND, partition=1
    )
    await svc.publish(
        message("IncidentReported", report("CP-1", detected_promptly=True, mitigated=True, reported_promptly=True)),
        INBOUND,
        partition=2,
    )
    effects = [(e["payload"]["incident_id"], e["payload"]["effect"], e["payload"]["verdict"]) for e in await recorded(svc)]
    assert effects == [("FM-1", "force_majeure", "met"), ("CP-1", "conditional_pass", "met")]
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "met"
    assert "2 incident(s) in the window, none fails it" in case["result"]["criteria"][2]["reason"]


async def test_the_same_incident_twice(svc: Service) -> None:
    await svc.publish_event(registered(), topics.REGISTRATION_EVENTS)
    first = message("IncidentReported", report())
    await svc.publish(first, INBOUND)
    again = message("IncidentReported", report())  # a new message, same content
    await svc.publish(again, INBOUND, partition=1)
    assert len(await recorded(svc)) == 1
    assert (await svc.inbox())[again["event_id"]]["outcome"] == "ignored"

    other = message("IncidentReported", report(severity="serious", occurred_on="2025-06-04"))
    await svc.publish(other, INBOUND, partition=2)
    [dl] = await svc.outbox(DLQ)
    body = dl["value"]
    assert body["error_code"] == "conflict" and body["message_id"] == other["event_id"]
    assert "incident CA-51-2025-0042 is already recorded with other content" in body["reason"]
    assert (
        "occurred_on: '2025-06-03' → '2025-06-04'" in body["reason"] and "severity: 'very_serious' → 'serious'" in body["reason"]
    )
    [row] = await svc.rows(orm.incidents)
    assert row["occurred_on"] == date(2025, 6, 3)
    assert len(await recorded(svc)) == 1


@pytest.mark.parametrize(
    "changes,code,fragment",
    [
        ({"category": "arson_attack"}, "invalid_payload", "unknown incident category 'arson_attack'"),
        ({"category": "Crime"}, "invalid_payload", "payload.category"),
        ({"severity": "grave"}, "invalid_payload", "payload.severity"),
        ({"occurred_on": "03/06/2025"}, "invalid_payload", "payload.occurred_on"),
    ],
)
async def test_bad_incidents_are_refused(svc: Service, changes: dict[str, Any], code: str, fragment: str) -> None:
    payload = {**report(), **changes}
    msg = message("IncidentReported", payload)
    await svc.publish(msg, INBOUND)
    [dl] = await svc.outbox(DLQ)
    assert dl["value"]["error_code"] == code and fragment in dl["value"]["reason"]
    assert await svc.rows(orm.incidents) == []
    assert await recorded(svc) == []


async def test_jurisdiction_of_an_incident(svc: Service) -> None:
    # a unit known to be in province 79: the Quảng Ngãi sender may not report for it
    reg = Stream("registration", "unit:HCM-CQ-1").next(
        "UnitRegistered", {"unit": unit(code="HCM-CQ-1", kind="agency", province_code="79", commune_code=None)}
    )
    await svc.publish_event(reg, topics.REGISTRATION_EVENTS)
    msg = message("IncidentReported", report(unit_code="HCM-CQ-1"))
    await svc.publish(msg, INBOUND, partition=1)
    [dl] = await svc.outbox(DLQ)
    assert dl["value"]["error_code"] == "out_of_jurisdiction" and "province 79" in dl["value"]["reason"]
    # the national sender may; the unit's kind is known, so the year is too
    await svc.publish(message("IncidentReported", report("N-1", unit_code="HCM-CQ-1"), sender=NATIONAL), INBOUND, partition=2)
    [ev] = await recorded(svc)
    assert (ev["payload"]["effect"], ev["payload"]["assessed_year"]) == ("pending_registration", 2025)


async def test_an_incident_from_outside_the_jurisdiction_does_not_count_when_the_unit_appears(svc: Service) -> None:
    """Unknown unit: the sender's jurisdiction cannot be checked yet; when the unit-year arrives
    in another province, the incident is recorded as out of jurisdiction and not counted."""
    await svc.publish(message("IncidentReported", report(unit_code="HCM-CQ-2")), INBOUND)
    await svc.publish_event(registered(code="HCM-CQ-2", province_code="79", commune_code=None), topics.REGISTRATION_EVENTS)
    linked = (await recorded(svc))[-1]
    assert linked["unit_year_id"] == "HCM-CQ-2:2025" and linked["payload"]["effect"] == "out_of_jurisdiction"
    assert "dvc-quang-ngai, which may act for province:51" in linked["payload"]["reason"]
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment(unit_year_id="HCM-CQ-2:2025"), sender=NATIONAL), INBOUND, partition=1
    )
    [case] = await svc.rows(orm.cases)
    assert case["verdict"] == "met"


async def test_the_case_view_shows_the_incidents_and_the_results(svc: Service) -> None:
    await svc.publish_event(registered(), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment()), INBOUND)
    await svc.publish(message("IncidentReported", report()), INBOUND, partition=1)
    await svc.publish(message("IncidentReported", report("LATER", occurred_on="2025-12-01")), INBOUND, partition=2)
    view = await svc.rt.read(lambda s: _view(s, UY))
    assert view["verdict"] == "not_met" and view["unmet"] == ["CQ-3"]
    # a Quảng Ngãi agency: the province's scoring sheet adds TINH-DIEM, left to the reviewer without evidence
    assert [c["code"] for c in view["criteria"]] == ["CQ-1", "CQ-2", "CQ-3", "CQ-4", "CQ-5", "TINH-DIEM"]
    assert view["criteria"][5]["result"] == "needs_review"
    cq1 = view["criteria"][0]
    assert cq1["result"] == "needs_review" and "no evidence given (internal_rules)" in cq1["reason"]
    assert [(d["ref"], d["source"]) for d in cq1["evidence"]["documents"]] == [
        ("KH-03", "registration"),
        ("ĐK-01", "registration"),
        ("NQ-12", "registration"),
    ]
    [inc] = view["incidents"]  # the 1 Dec incident is in the 2026 window
    assert (inc["incident_id"], inc["effect"], inc["criterion"], inc["reported_on"]) == (
        "CA-51-2025-0042",
        "fails_criterion",
        "CQ-3",
        "2025-11-28",
    )
    assert view["registration"]["documents"] == Q1
    assert view["score"] == {"claimed": None, "scoring_sheet": "51.agency.2018", "breakdown": view["result"]["score_breakdown"]}


def _view(s: Session, uy: str) -> dict[str, Any]:
    case = queries.case(s, uy)
    assert case is not None
    return case_view(case, incidents_in_window(s, case))


def test_an_incident_is_kept_as_reported() -> None:
    rep = IncidentReported.model_validate(report()).model_dump(mode="json")
    inc = Incident.record(rep, source_system="dvc", jurisdiction=[f"province:{PROVINCE}"])
    assert inc.same_report(rep) and inc.effect == "pending_registration"
    assert inc.as_fact()["occurred_on"] == date(2025, 6, 3)
    assert inc.differences({**rep, "category": "strike"}) == ["category: 'crime' → 'strike'"]


def test_revision_0002_fills_the_units_from_the_existing_cases(tmp_path: Path) -> None:
    """Cases opened before revision 0002 make their units known (the latest snapshot wins)."""
    import json
    import sqlite3

    from tests.unit.migration_checks import upgrade

    db = tmp_path / "a.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(assessment_app.MIGRATIONS, url, "0001")
    with sqlite3.connect(db) as conn:
        for year, province in ((2024, "51"), (2025, "52")):
            u = unit(code="QN-CQ-1", kind="agency", province_code=province, commune_code=None)
            conn.execute(
                "insert into assessment_cases values (?, ?, ?, 'agency.2021', 'awaiting_self_assessment', 0, null, null, 1)",
                (f"QN-CQ-1:{year}", year, json.dumps(u)),
            )
    upgrade(assessment_app.MIGRATIONS, url)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select code, kind, province_code from assessment_units").fetchall()
        cases = conn.execute("select registration, submission, incident_ids from assessment_cases").fetchall()
    assert rows == [("QN-CQ-1", "agency", "52")]
    assert cases == [(None, None, None), (None, None, None)]
