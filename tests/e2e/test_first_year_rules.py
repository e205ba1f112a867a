"""Rules of the first year over real Kafka, the three services as processes: an incident at a
residential area changes its commune's verdict (Art. 5.2) so the commune's pass is refused;
two senders' incidents with the same incident_id are two incidents; the year-on-year
criterion compares with the previous unit-year's recorded figure."""

from __future__ import annotations

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, unit_msg
from tests.e2e.conftest import System, unique
from tests.e2e.test_commune_rollup import FINAL, decide, register, self_score

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

QUANG_NGAI = ("dvc-quang-ngai", "dev-key-quang-ngai-0123456789abcdef")


def incident(code: str, incident_id: str, occurred_on: str, category: str = "mass_complaint") -> dict:
    return {
        "incident_id": incident_id,
        "unit_code": code,
        "occurred_on": occurred_on,
        "category": category,
        "severity": "serious",
        "reported_by": "Công an xã",
    }


async def test_an_incident_at_a_residential_area_stops_its_communes_recognition(system: System) -> None:
    tag = unique("R5")
    cc = f"X{tag[-6:]}"
    commune = Plan(code=f"{tag}-XA", kind="commune", commune_code=cc, managing_level="district")
    area = Plan(code=f"{tag}-KDC", kind="residential_area", commune_code=cc)
    async with AnttClient(system.bootstrap) as client:
        for p in (area, commune):
            await register(client, p)
        ev = await self_score(client, area)
        await decide(client, area, ev["payload"]["pending_level"], "pass")
        ev = await self_score(client, commune)
        level = ev["payload"]["pending_level"]

        # reported for the area only, on 20 Sep 2025
        n_area, n_commune = len(client.events[area.unit_year_id]), len(client.events[commune.unit_year_id])
        await client.send("IncidentReported", incident(area.code, f"{tag}-I1", "2025-09-20"), key=area.code)
        counted = await client.wait_event(commune.unit_year_id, "IncidentRecorded", after=n_commune)
        p = counted["payload"]
        assert (p["unit_code"], p["counted_for_commune"], p["criterion"], p["effect"]) == (
            area.code,
            True,
            "XA-2",
            "fails_criterion",
        )
        changed = await client.wait_event(commune.unit_year_id, "VerdictChanged", after=n_commune)
        assert changed["payload"]["verdict"] == "not_met" and changed["payload"]["unmet"] == ["XA-2"]
        own = await client.wait_event(area.unit_year_id, "IncidentRecorded", after=n_area)
        assert (own["payload"]["criterion"], own["payload"]["counted_for_commune"]) == ("KDC-3", False)

        eid = await decide(client, commune, level, "pass")
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "criteria_not_met" and "XA-2" in dl["reason"]
        assert not any(e["event_type"] in FINAL for e in client.events[commune.unit_year_id])

    view = system.get("assessment", f"/unit-years/{commune.unit_year_id}").json()
    assert view["verdict"] == "not_met" and view["unmet"] == ["XA-2"]
    assert [(i["incident_id"], i["unit_code"]) for i in view["incidents"]] == [(f"{tag}-I1", area.code)]
    xa2 = next(c for c in view["criteria"] if c["code"] == "XA-2")
    assert f"at residential area {area.code} (Art. 5.2" in xa2["reason"]
    assert system.get("approval", f"/unit-years/{commune.unit_year_id}").json()["verdict"] == "not_met"


async def test_the_same_incident_id_from_two_senders(system: System) -> None:
    plan = Plan(code=unique("CQ"), kind="agency", managing_level="province", commune_code=None)
    async with (
        AnttClient(system.bootstrap) as national,
        AnttClient(system.bootstrap, source_system=QUANG_NGAI[0], key=QUANG_NGAI[1]) as province,
    ):
        await national.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
        await national.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
        await national.wait_event(plan.unit_year_id, "AssessmentOpened")
        iid = f"{plan.code}-0042"
        await province.send("IncidentReported", incident(plan.code, iid, "2025-05-02", "strike"), key=plan.code)
        await national.wait_event(plan.unit_year_id, "IncidentRecorded")
        n = len(national.events[plan.unit_year_id])
        other = incident(plan.code, iid, "2025-07-01", "state_secret_breach")
        await national.send("IncidentReported", other, key=plan.code)
        second = await national.wait_event(plan.unit_year_id, "IncidentRecorded", after=n)
        assert (second["payload"]["source_system"], second["payload"]["criterion"]) == ("dvc-national", "CQ-3")
        recorded = [e["payload"] for e in national.events[plan.unit_year_id] if e["event_type"] == "IncidentRecorded"]
        assert sorted((r["source_system"], r["category"]) for r in recorded) == [
            ("dvc-national", "state_secret_breach"),
            ("dvc-quang-ngai", "strike"),
        ]
        # the same sender again with other content: a conflict, named with its sender
        eid = await national.send("IncidentReported", {**other, "severity": "minor"}, key=plan.code)
        dl = await national.wait_dead_letter(eid)
        assert (
            dl["error_code"] == "conflict"
            and f"incident {iid} is already recorded with other content from dvc-national" in dl["reason"]
        )
    view = system.get("assessment", f"/unit-years/{plan.unit_year_id}").json()
    assert sorted((i["source_system"], i["incident_id"]) for i in view["incidents"]) == [
        ("dvc-national", iid),
        ("dvc-quang-ngai", iid),
    ]


async def test_year_on_year_against_the_recorded_previous_year(system: System) -> None:
    code = unique("KDC")
    last, this = (Plan(code=code, kind="residential_area", year=y) for y in (2024, 2025))
    async with AnttClient(system.bootstrap) as client:
        await client.send("UnitRegistrationSubmitted", unit_msg(this), key=code)
        for plan, crimes in ((last, 2), (this, 3)):
            await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=code)
            await client.wait_event(plan.unit_year_id, "AssessmentOpened")
            body = {
                "unit_year_id": plan.unit_year_id,
                "criteria": [{"code": c, "met": True} for c in ("KDC-1", "KDC-2", "KDC-3", "KDC-4", "KDC-5")],
                "meeting_date": f"{plan.year}-10-20",
                "evidence": {"crimes_this_year": crimes},
            }
            await client.send("SelfAssessmentSubmitted", body, key=code)
            await client.wait_event(plan.unit_year_id, "SelfAssessmentRecorded")
        recorded = next(e for e in client.events[this.unit_year_id] if e["event_type"] == "SelfAssessmentRecorded")
    kdc4 = next(c for c in recorded["payload"]["criteria"] if c["code"] == "KDC-4")
    assert kdc4["result"] == "not_met" and "KDC-4" in recorded["payload"]["unmet"]
    assert f"3 in 2025 against 2 in 2024 (as recorded by {code}:2024's self-assessment, round 1)" in kdc4["reason"]
    first = system.get("assessment", f"/unit-years/{last.unit_year_id}").json()
    kdc4_2024 = next(c for c in first["criteria"] if c["code"] == "KDC-4")
    assert kdc4_2024["result"] == "needs_review" and f"{code}:2023 has no recorded crimes_this_year" in kdc4_2024["reason"]
