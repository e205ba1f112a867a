"""The browser tests' year, sent over Kafka as another e-government system would (province 19,
2025: the two-level profile, commune → province).

Commune TA (xã Thử An, code T-XA) manages seven hamlets: five are recognised, TA-01 and TA-07 wait
for the commune police's appraisal (thẩm định), so 5 of 7 (71.4%) are recognised and the commune
itself waits at province level. Commune TB has one hamlet waiting, which an officer of TA must
never see.
"""

from __future__ import annotations

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg

YEAR = 2025
PROVINCE = "19"
COMMUNE = Plan(
    code="T-XA", kind="commune", year=YEAR, province_code=PROVINCE, commune_code="TA", managing_level="district", name="Xã Thử An"
)
HAMLETS = [
    Plan(
        code=f"TA-{i:02d}",
        kind="residential_area",
        year=YEAR,
        province_code=PROVINCE,
        commune_code="TA",
        managing_level="commune",
        name=f"Thôn {i}, xã Thử An",
    )
    for i in range(1, 8)
]
WAITING = [HAMLETS[0], HAMLETS[6]]
OTHER_COMMUNE = Plan(
    code="TB-01",
    kind="residential_area",
    year=YEAR,
    province_code=PROVINCE,
    commune_code="TB",
    managing_level="commune",
    name="Thôn 1, xã Thử Bình",
)
OTHER_COMMUNE_UNIT = Plan(
    code="T-XB",
    kind="commune",
    year=YEAR,
    province_code=PROVINCE,
    commune_code="TB",
    managing_level="district",
    name="Xã Thử Bình",
)

OFFICIALS = [
    {"id": "ca-ta-1", "name": "Trung úy Nguyễn Văn An", "role": "appraise", "level": "commune", "jurisdiction": "commune:TA"},
    {"id": "ca-ta-2", "name": "Thiếu úy Lê Thị Bình", "role": "appraise", "level": "commune", "jurisdiction": "commune:TA"},
    {"id": "ca-tinh", "name": "Công an tỉnh (thẩm định)", "role": "appraise", "level": "province", "jurisdiction": "province:19"},
    {
        "id": "sup-ta",
        "name": "Đại úy Hoàng Văn Cường (Trưởng Công an xã)",
        "role": "supervise",
        "level": "commune",
        "jurisdiction": "commune:TA",
    },
    {"id": "ubnd-ta", "name": "Văn phòng UBND xã Thử An", "role": "decide", "level": "commune", "jurisdiction": "commune:TA"},
    {
        "id": "ubnd-qn",
        "name": "Văn phòng UBND tỉnh Quảng Ngãi",
        "role": "decide",
        "level": "province",
        "jurisdiction": "province:51",
    },
    {"id": "ubnd-tinh", "name": "Văn phòng UBND tỉnh", "role": "decide", "level": "province", "jurisdiction": "province:19"},
    # the exemplary title's appraisal in Quảng Ngãi (seed 003: the province steering committee)
    {
        "id": "bcd-qn",
        "name": "Ban Chỉ đạo tỉnh Quảng Ngãi (thẩm định)",
        "role": "appraise",
        "level": "province",
        "jurisdiction": "province:51",
    },
]


async def _decide(client: AnttClient, p: Plan, level: str) -> None:
    await client.send(
        "ReviewDecisionSubmitted",
        {
            "unit_year_id": p.unit_year_id,
            "level": level,
            "decision": "pass",
            "decided_by": f"officer@{level}",
            "decision_no": f"{p.code}/QĐ-UBND",
            "certificate_no": f"GCN-{p.code}",
        },
        key=p.code,
    )


async def seed(bootstrap: str) -> None:
    async with AnttClient(bootstrap) as client:
        plans = [*HAMLETS, OTHER_COMMUNE, COMMUNE, OTHER_COMMUNE_UNIT]
        for p in plans:
            await client.send("UnitRegistrationSubmitted", unit_msg(p), key=p.code)
            await client.send("UnitYearRegistrationSubmitted", registration_msg(p), key=p.code)
        for p in [*HAMLETS, OTHER_COMMUNE, COMMUNE]:
            await client.wait_event(p.unit_year_id, "AssessmentOpened", timeout=90)
            await client.send("SelfAssessmentSubmitted", self_assessment_msg(p), key=p.code)
        for p in [*HAMLETS, OTHER_COMMUNE, COMMUNE]:
            await client.wait_event(p.unit_year_id, "UnitYearSelfScored", timeout=90)
        for p in HAMLETS:
            if p in WAITING:
                continue
            n = len(client.events[p.unit_year_id])
            await _decide(client, p, "commune")
            await client.wait_event(p.unit_year_id, "UnitYearReviewed", after=n, timeout=60)
            n = len(client.events[p.unit_year_id])
            await _decide(client, p, "commune")
            await client.wait_event(p.unit_year_id, "UnitYearRecognized", after=n, timeout=60)
