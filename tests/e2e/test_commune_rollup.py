"""A commune's criterion 4 from its children, over real Kafka: with 10 children of which
exactly 7 are recognised the commune is recognised; with 6 it is not, and the reason says
so. Under the 2021 profile (year 2024) the commune is appraised and decided at district
level, under the 2025 profile (year 2025) at province level. A commune cannot be decided
while its children are undecided and their deadline has not passed."""

from __future__ import annotations

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.e2e.conftest import System, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

FINAL = ("UnitYearRecognized", "UnitYearNotRecognized")


async def register(client: AnttClient, plan: Plan) -> None:
    await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
    await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)


async def decide(client: AnttClient, plan: Plan, level: str, decision: str, reasons: list[str] | None = None) -> str:
    return await client.send(
        "ReviewDecisionSubmitted",
        {
            "unit_year_id": plan.unit_year_id,
            "level": level,
            "decision": decision,
            "reasons": reasons or [],
            "decided_by": f"officer@{level}",
            "decision_no": f"QĐ/{plan.code}/{level}",
            "certificate_no": f"GCN/{plan.code}" if decision == "pass" else None,
        },
        key=plan.code,
    )


async def self_score(client: AnttClient, plan: Plan) -> dict:
    await client.wait_event(plan.unit_year_id, "AssessmentOpened", timeout=60)
    await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
    return await client.wait_event(plan.unit_year_id, "UnitYearSelfScored", timeout=60)


async def settle_child(client: AnttClient, plan: Plan, recognise: bool) -> None:
    ev = await self_score(client, plan)
    while True:
        level = ev["payload"]["pending_level"]
        n = len(client.events[plan.unit_year_id])
        if recognise:
            await decide(client, plan, level, "pass")
        else:
            await decide(client, plan, level, "reject", ["Để xảy ra tội phạm nghiêm trọng trên địa bàn"])
        ev = await client.wait_event(plan.unit_year_id, "UnitYearReviewed", *FINAL, after=n, timeout=60)
        if ev["event_type"] in FINAL:
            assert ev["event_type"] == ("UnitYearRecognized" if recognise else "UnitYearNotRecognized")
            return


def family(tag: str, year: int, province: str = "51") -> tuple[Plan, list[Plan]]:
    cc = f"X{tag[-6:]}"
    commune = Plan(
        code=f"{tag}-XA", kind="commune", year=year, province_code=province, commune_code=cc, managing_level="district"
    )
    kinds = ["residential_area"] * 7 + ["agency", "school", "enterprise"]
    children = [
        Plan(code=f"{tag}-{i:02d}", kind=k, year=year, province_code=province, commune_code=cc, managing_level="commune")
        for i, k in enumerate(kinds)
    ]
    return commune, children


@pytest.mark.parametrize("year,level", [(2024, "district"), (2025, "province")])
async def test_seven_of_ten_recognised_and_six_of_ten_not(system: System, year: int, level: str) -> None:
    async with AnttClient(system.bootstrap) as client:
        seven, children7 = family(unique("C7"), year)
        six, children6 = family(unique("C6"), year)
        for p in [*children7, *children6, seven, six]:
            await register(client, p)
        for i, p in enumerate(children7):
            await settle_child(client, p, recognise=i < 7)
        for i, p in enumerate(children6):
            await settle_child(client, p, recognise=i < 6)

        for commune, expect_ok in ((seven, True), (six, False)):
            ev = await self_score(client, commune)
            assert ev["payload"]["pending_level"] == level  # appraised above the commune
            n = len(client.events[commune.unit_year_id])
            await decide(client, commune, level, "pass")
            ev = await client.wait_event(commune.unit_year_id, "UnitYearReviewed", after=n)
            assert ev["payload"]["state"] == f"{level}_reviewed"
            n = len(client.events[commune.unit_year_id])
            eid = await decide(client, commune, level, "pass")
            if expect_ok:
                ev = await client.wait_event(commune.unit_year_id, *FINAL, after=n)
                assert ev["event_type"] == "UnitYearRecognized"
                assert ev["payload"]["level"] == level
            else:
                dl = await client.wait_dead_letter(eid)
                assert dl["error_code"] == "criteria_not_met"
                assert "XA-4: 6 of 10" in dl["reason"] and "60.0%" in dl["reason"] and "below 70%" in dl["reason"]
                await decide(client, commune, level, "reject", [dl["reason"]])
                ev = await client.wait_event(commune.unit_year_id, *FINAL, after=n)
                assert ev["event_type"] == "UnitYearNotRecognized" and "6 of 10" in ev["payload"]["reasons"][0]

    v7 = system.get("approval", f"/unit-years/{seven.unit_year_id}").json()
    assert v7["state"] == "recognized" and v7["chain_profile"] == ("2021" if year == 2024 else "2025")
    assert v7["children"]["children_total"] == 10 and v7["children"]["registered"] == 10
    assert v7["children"]["recognized"] == 7 and v7["children"]["recognized_pct"] == 70.0
    assert [d["level"] for d in v7["decisions"]] == [level, level]
    v6 = system.get("approval", f"/unit-years/{six.unit_year_id}").json()
    assert v6["state"] == "not_recognized" and v6["children"]["recognized"] == 6


async def test_commune_waits_for_its_children(system: System) -> None:
    year = 2027  # the children's deadline (15/20 Nov 2027) has not passed
    tag = unique("CW")
    commune, children = family(tag, year)
    children = children[:2]
    async with AnttClient(system.bootstrap) as client:
        for p in [*children, commune]:
            await register(client, p)
        await settle_child(client, children[0], recognise=True)
        await self_score(client, children[1])  # self-scored, not decided
        ev = await self_score(client, commune)
        level = ev["payload"]["pending_level"]
        n = len(client.events[commune.unit_year_id])
        await decide(client, commune, level, "pass")
        await client.wait_event(commune.unit_year_id, "UnitYearReviewed", after=n)
        eid = await decide(client, commune, level, "pass")
        dl = await client.wait_dead_letter(eid)
        assert dl["error_code"] == "children_pending"
        assert children[1].unit_year_id in dl["reason"] and "1 of 2" in dl["reason"]
    view = system.get("approval", f"/unit-years/{commune.unit_year_id}").json()
    assert view["state"] == f"{level}_reviewed"
    assert view["children"]["pending"] == [children[1].unit_year_id]
