"""Rules of the first year, over the in-memory broker: an incident at a residential area
counts against its commune's criterion 2 (Art. 5.2) without being reported for the commune;
``incident_id`` is unique per sender; the year-on-year criterion (Art. 4.4) reads the previous
unit-year's recorded figures."""

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
from tests.unit.builders import COMMUNE, NATIONAL, Stream, all_criteria, message, unit
from tests.unit.harness import Service, running

INBOUND = topics.INBOUND
DLQ = topics.dlq(INBOUND)
EVENTS = topics.ASSESSMENT_EVENTS

COMMUNE_CODE = "QN-XA-PD"
AREA = "QN-KDC-PD1"
OTHER_AREA = "QN-KDC-X9"  # in another commune


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_app.MIGRATIONS) as s:
        yield s


def registered(code: str, kind: str, year: int = 2025, commune_code: str | None = COMMUNE, **kw: Any) -> dict[str, Any]:
    u = unit(code=code, kind=kind, commune_code=commune_code, **kw)
    payload: dict[str, Any] = {"unit_year_id": f"{code}:{year}", "year": year, "unit": u, "documents": []}
    if kind == "residential_area":
        payload |= {"households_total": 90, "households_registered": 90}
    return Stream("registration", f"{code}:{year}").next("UnitYearRegistered", payload)


def unit_registered(code: str, kind: str, commune_code: str | None = COMMUNE) -> dict[str, Any]:
    return Stream("registration", f"unit:{code}").next(
        "UnitRegistered", {"unit": unit(code=code, kind=kind, commune_code=commune_code)}
    )


def report(incident_id: str, unit_code: str, occurred_on: str = "2025-06-03", **kw: Any) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "unit_code": unit_code,
        "occurred_on": occurred_on,
        "category": "mass_complaint",
        "reported_by": "Công an xã Phú Đình",
        **kw,
    }


def self_assessment(code: str, kind: str, year: int = 2025, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"unit_year_id": f"{code}:{year}", "criteria": all_criteria(kind), "meeting_date": f"{year}-11-04"}
    if evidence is not None:
        body["evidence"] = evidence
    return body


async def recorded(s: Service, stream_id: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in await s.events(EVENTS)
        if e["event_type"] == "IncidentRecorded" and (stream_id is None or e["stream_id"] == stream_id)
    ]


async def case_of(s: Service, unit_year_id: str) -> dict[str, Any]:
    return next(c for c in await s.rows(orm.cases) if c["unit_year_id"] == unit_year_id)


def criterion(case: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in case["result"]["criteria"] if c["code"] == code)


# --------------------------------------------------------------------------- Art. 5.2
async def test_an_incident_at_a_residential_area_fails_its_communes_criterion_2(svc: Service) -> None:
    await svc.publish_event(registered(COMMUNE_CODE, "commune", managing_level="district"), topics.REGISTRATION_EVENTS)
    await svc.publish_event(registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS, partition=1)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(COMMUNE_CODE, "commune")), INBOUND)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(AREA, "residential_area")), INBOUND, partition=1)
    assert (await case_of(svc, f"{COMMUNE_CODE}:2025"))["verdict"] == "met"

    msg = message("IncidentReported", report("CA-PD-7", AREA))
    await svc.publish(msg, INBOUND, key=AREA.encode(), partition=2)

    # the area's own criterion 3, and the commune's criterion 2, reported once, for the area
    area_case = await case_of(svc, f"{AREA}:2025")
    assert area_case["verdict"] == "not_met" and area_case["result"]["unmet"] == ["KDC-3"]
    commune = await case_of(svc, f"{COMMUNE_CODE}:2025")
    assert commune["verdict"] == "not_met" and commune["result"]["unmet"] == ["XA-2"]
    assert commune["incident_ids"] == ["dvc-quang-ngai/CA-PD-7"]
    xa2 = criterion(commune, "XA-2")
    assert "incident CA-PD-7 (mass_complaint, serious) on 2025-06-03 at residential area QN-KDC-PD1 (Art. 5.2" in xa2["reason"]
    assert "fails XA-2, Art. 4.3" in xa2["reason"]
    [row] = await svc.rows(orm.incidents)
    assert (row["unit_code"], row["unit_year_id"], row["criterion"]) == (AREA, f"{AREA}:2025", "KDC-3")

    [own] = await recorded(svc, f"{AREA}:2025")
    assert own["payload"]["counted_for_commune"] is False and own["payload"]["source_system"] == "dvc-quang-ngai"
    [for_commune] = await recorded(svc, f"{COMMUNE_CODE}:2025")
    p = for_commune["payload"]
    assert for_commune["unit_year_id"] == f"{COMMUNE_CODE}:2025" and for_commune["causation_id"] == msg["event_id"]
    assert (p["unit_code"], p["counted_for_commune"], p["criterion"], p["effect"]) == (AREA, True, "XA-2", "fails_criterion")
    assert (p["verdict"], p["unmet"], p["assessed_year"]) == ("not_met", ["XA-2"], 2025)
    verify_chain([e for e in await svc.events(EVENTS) if e["stream_id"] == f"{COMMUNE_CODE}:2025"])

    # the same report again changes nothing, for the area or the commune
    await svc.publish(message("IncidentReported", report("CA-PD-7", AREA)), INBOUND, key=AREA.encode(), partition=3)
    assert len(await recorded(svc)) == 2


async def test_the_communes_window_not_the_areas(svc: Service) -> None:
    """5 Nov 2025 is in the 2026 window of a residential area (1 Nov–31 Oct) but in the 2025
    window of its commune (16 Nov–15 Nov): it counts against the commune's 2025 unit-year."""
    await svc.publish_event(registered(COMMUNE_CODE, "commune"), topics.REGISTRATION_EVENTS)
    await svc.publish_event(unit_registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS, partition=1)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(COMMUNE_CODE, "commune")), INBOUND)
    await svc.publish(message("IncidentReported", report("CA-PD-8", AREA, "2025-11-05")), INBOUND, partition=1)
    [pending] = await recorded(svc, f"unit:{AREA}")
    assert (pending["payload"]["effect"], pending["payload"]["assessed_year"]) == ("pending_registration", 2026)
    [counted] = await recorded(svc, f"{COMMUNE_CODE}:2025")
    assert counted["payload"]["counted_for_commune"] is True and counted["payload"]["verdict"] == "not_met"
    # 16 Nov 2025 is the commune's 2026 window: not this unit-year
    await svc.publish(message("IncidentReported", report("CA-PD-9", AREA, "2025-11-16")), INBOUND, partition=2)
    assert len(await recorded(svc, f"{COMMUNE_CODE}:2025")) == 1
    assert (await case_of(svc, f"{COMMUNE_CODE}:2025"))["incident_ids"] == ["dvc-quang-ngai/CA-PD-8"]


async def test_an_area_incident_before_the_commune_opens_counts_when_it_does(svc: Service) -> None:
    await svc.publish_event(unit_registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS)
    await svc.publish(message("IncidentReported", report("CA-PD-1", AREA, category="crime", severity="very_serious")), INBOUND)
    await svc.publish_event(registered(COMMUNE_CODE, "commune"), topics.REGISTRATION_EVENTS, partition=1)
    [linked] = await recorded(svc, f"{COMMUNE_CODE}:2025")
    assert linked["payload"]["counted_for_commune"] is True and linked["payload"]["criterion"] == "XA-2"
    assert linked["payload"]["verdict"] is None  # no self-assessment yet
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(COMMUNE_CODE, "commune")), INBOUND, partition=1)
    commune = await case_of(svc, f"{COMMUNE_CODE}:2025")
    assert commune["verdict"] == "not_met" and commune["result"]["unmet"] == ["XA-2"]
    assert "serious crime or worse passes only if promptly detected" in criterion(commune, "XA-2")["reason"]
    # the area's own unit-year registering later links it to the area, not again to the commune
    await svc.publish_event(registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS, partition=2)
    assert len(await recorded(svc, f"{COMMUNE_CODE}:2025")) == 1
    [row] = await svc.rows(orm.incidents)
    assert row["unit_year_id"] == f"{AREA}:2025"


async def test_an_area_unknown_when_reported_counts_for_its_commune_once_its_year_registers(svc: Service) -> None:
    await svc.publish_event(registered(COMMUNE_CODE, "commune"), topics.REGISTRATION_EVENTS)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(COMMUNE_CODE, "commune")), INBOUND)
    await svc.publish(message("IncidentReported", report("CA-PD-2", AREA)), INBOUND, partition=1)  # area not known yet
    assert await recorded(svc, f"{COMMUNE_CODE}:2025") == []
    await svc.publish_event(registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS, partition=1)
    [counted] = await recorded(svc, f"{COMMUNE_CODE}:2025")
    assert counted["payload"]["verdict"] == "not_met" and counted["payload"]["unmet"] == ["XA-2"]


async def test_an_area_of_another_commune_and_an_out_of_scope_category_do_not_count(svc: Service) -> None:
    await svc.publish_event(registered(COMMUNE_CODE, "commune"), topics.REGISTRATION_EVENTS)
    await svc.publish_event(
        unit_registered(OTHER_AREA, "residential_area", commune_code="51999"), topics.REGISTRATION_EVENTS, partition=1
    )
    await svc.publish_event(unit_registered(AREA, "residential_area"), topics.REGISTRATION_EVENTS, partition=2)
    await svc.publish(message("SelfAssessmentSubmitted", self_assessment(COMMUNE_CODE, "commune")), INBOUND)
    await svc.publish(message("IncidentReported", report("X-1", OTHER_AREA)), INBOUND, partition=1)
    assert await recorded(svc, f"{COMMUNE_CODE}:2025") == []
    # a minor crime is below what the criteria count, for the area and the commune alike
    await svc.publish(message("IncidentReported", report("X-2", AREA, category="crime", severity="minor")), INBOUND, partition=2)
    [below] = await recorded(svc, f"{COMMUNE_CODE}:2025")
    assert (below["payload"]["effect"], below["payload"]["verdict"]) == ("below_severity", "met")


# --------------------------------------------------------------------------- incident_id per sender
async def test_incident_id_is_unique_per_sender(svc: Service) -> None:
    code = "QN-CQ-7"
    await svc.publish_event(registered(code, "agency", commune_code=None, managing_level="province"), topics.REGISTRATION_EVENTS)
    first = report("2025-0042", code, category="strike")
    await svc.publish(message("IncidentReported", first), INBOUND)
    # another system's incident 2025-0042 is another incident, whatever it says
    other = report("2025-0042", code, "2025-07-01", category="state_secret_breach", reported_by="Công an tỉnh (PA03)")
    await svc.publish(message("IncidentReported", other, sender=NATIONAL), INBOUND, partition=1)
    rows = await svc.rows(orm.incidents)
    assert sorted((r["source_system"], r["incident_id"], r["category"]) for r in rows) == [
        ("dvc-national", "2025-0042", "state_secret_breach"),
        ("dvc-quang-ngai", "2025-0042", "strike"),
    ]
    case = await case_of(svc, f"{code}:2025")
    assert case["incident_ids"] == ["dvc-quang-ngai/2025-0042", "dvc-national/2025-0042"]
    events = await recorded(svc)
    assert [e["payload"]["source_system"] for e in events] == ["dvc-quang-ngai", "dvc-national"]

    # from the same sender: the same content is a repeat, other content a conflict
    again = message("IncidentReported", other, sender=NATIONAL)
    await svc.publish(again, INBOUND, partition=2)
    assert (await svc.inbox())[again["event_id"]]["outcome"] == "ignored"
    changed = message("IncidentReported", {**other, "severity": "minor"}, sender=NATIONAL)
    await svc.publish(changed, INBOUND, partition=3)
    [dl] = await svc.outbox(DLQ)
    assert dl["value"]["error_code"] == "conflict" and dl["value"]["message_id"] == changed["event_id"]
    assert "incident 2025-0042 is already recorded with other content from dvc-national" in dl["value"]["reason"]
    assert len(await recorded(svc)) == 2


# --------------------------------------------------------------------------- Art. 4.4 year on year
async def test_year_on_year_reads_the_previous_unit_years_figures(svc: Service) -> None:
    code = "QN-KDC-YOY"
    for year, partition in ((2024, 0), (2025, 1)):
        await svc.publish_event(registered(code, "residential_area", year=year), topics.REGISTRATION_EVENTS, partition=partition)
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment(code, "residential_area", 2024, {"crimes_this_year": 4})), INBOUND
    )
    first = await case_of(svc, f"{code}:2024")
    assert (
        "the previous year is unknown here: QN-KDC-YOY:2023 has no recorded crimes_this_year (not registered here)"
        in criterion(first, "KDC-4")["reason"]
    )
    assert criterion(first, "KDC-4")["result"] == "needs_review"

    # the unit misremembers last year's figure: the recorded one decides
    ev25 = {"crimes_previous_year": 2, "crimes_this_year": 3}
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment(code, "residential_area", 2025, ev25)), INBOUND, partition=1
    )
    second = await case_of(svc, f"{code}:2025")
    kdc4 = criterion(second, "KDC-4")
    assert kdc4["result"] == "met", kdc4["reason"]
    assert (
        "3 in 2025 against 4 in 2024 (as recorded by QN-KDC-YOY:2024's self-assessment, round 1); "
        "the unit states 2 for 2024, the recorded figure is used: reduced (kéo giảm)" in kdc4["reason"]
    )
    assert (kdc4["evidence"]["previous_unit_year"], kdc4["evidence"]["previous_recorded"]) == (f"{code}:2024", 4)

    # an incident re-judges the 2025 self-assessment with the same previous-year figure
    await svc.publish(message("IncidentReported", report("Y-1", code, category="crime", severity="minor")), INBOUND, partition=2)
    assert criterion(await case_of(svc, f"{code}:2025"), "KDC-4")["result"] == "met"


async def test_year_on_year_not_reduced(svc: Service) -> None:
    code = "QN-XA-YOY"
    for year, partition in ((2024, 0), (2025, 1)):
        await svc.publish_event(registered(code, "commune", year=year), topics.REGISTRATION_EVENTS, partition=partition)
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment(code, "commune", 2024, {"crimes_this_year": 9})), INBOUND
    )
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment(code, "commune", 2025, {"crimes_this_year": 9})), INBOUND, partition=1
    )
    case = await case_of(svc, f"{code}:2025")
    xa2 = criterion(case, "XA-2")
    assert (
        xa2["result"] == "not_met"
        and "9 in 2025 against 9 in 2024" in xa2["reason"]
        and "not reduced (không kéo giảm)" in xa2["reason"]
    )
    assert case["verdict"] == "not_met"


async def test_an_area_incident_from_a_sender_outside_the_commune_does_not_count(svc: Service) -> None:
    """Reported before the area was known, its sender unchecked: the Quảng Ngãi sender may not
    act for a commune of province 79, so the incident does not count against it."""
    await svc.publish(message("IncidentReported", report("OUT-1", "HCM-KDC-1")), INBOUND)
    area = Stream("registration", "unit:HCM-KDC-1").next(
        "UnitRegistered", {"unit": unit(code="HCM-KDC-1", kind="residential_area", province_code="79", commune_code="79001")}
    )
    await svc.publish_event(area, topics.REGISTRATION_EVENTS)
    await svc.publish_event(
        registered("HCM-XA-1", "commune", commune_code="79001", province_code="79"), topics.REGISTRATION_EVENTS, partition=1
    )
    await svc.publish(
        message("SelfAssessmentSubmitted", self_assessment("HCM-XA-1", "commune"), sender=NATIONAL), INBOUND, partition=1
    )
    case = await case_of(svc, "HCM-XA-1:2025")
    assert case["verdict"] == "met" and not case["incident_ids"]
    assert await recorded(svc, "HCM-XA-1:2025") == []
