"""Every read endpoint of the three services shows a caller only what lies inside their
jurisdiction: a province-51 token sees province 51, a commune token its commune, ``*`` (and
the ministry) everything; a unit-year outside is a 403 with a reason; lists are filtered in
SQL, so paging counts only what the caller may see. Criteria catalogs and scoring sheets stay
readable by everyone. A JWT of the identity provider is scoped like a development token.

Each service runs on a temporary SQLite database fed through faststream's in-memory broker
(the events other services would publish), and is read over its real HTTP app."""

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.approval import api as approval_api
from services.approval import app as approval_app
from services.approval.settings import ApprovalSettings
from services.assessment import api as assessment_api
from services.assessment import app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.registration import api as registration_api
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from shared.contracts.jurisdiction import may_read, read_scope
from shared.infra.http import service_app
from shared.infra.migrate import upgrade_head_async
from shared.infra.settings import OidcSettings, ServiceSettings
from tests.unit.auth_provider import AUDIENCE, TestProvider
from tests.unit.builders import (
    NATIONAL,
    Stream,
    message,
    senders_json,
    unit,
)
from tests.unit.harness import Service

#: (unit code, province, commune)
UNITS = [
    ("QN-KDC-001", "51", "51001"),
    ("QN-KDC-002", "51", "51001"),
    ("QN-KDC-003", "51", "51002"),
    ("TN-KDC-001", "19", "19001"),
    ("TN-KDC-002", "19", "19002"),
]
YEAR = 2025
TOKENS = {
    "t-all": {"id": "admin@local", "role": "admin", "jurisdiction": "*"},
    "t-ministry": {"id": "bca@local", "role": "follow", "jurisdiction": "ministry"},
    "t-p51": {"id": "p51@local", "role": "decide", "jurisdiction": "province:51"},
    "t-c51001": {"id": "c51001@local", "role": "appraise", "jurisdiction": "commune:51001"},
    "t-p19": {"id": "p19@local", "role": "decide", "jurisdiction": "province:19"},
    "t-d9": {"id": "d9@local", "role": "follow", "jurisdiction": "district:D9"},
}
#: what each token may see
VISIBLE = {
    "t-all": {u for u, _, _ in UNITS},
    "t-ministry": {u for u, _, _ in UNITS},
    "t-p51": {"QN-KDC-001", "QN-KDC-002", "QN-KDC-003"},
    "t-c51001": {"QN-KDC-001", "QN-KDC-002"},
    "t-p19": {"TN-KDC-001", "TN-KDC-002"},
    "t-d9": {"TN-KDC-002"},
}


def the_unit(code: str) -> dict[str, Any]:
    prov, commune = next((p, c) for u, p, c in UNITS if u == code)
    u = unit(code, province_code=prov, commune_code=commune, name=f"Khu dân cư {code}")
    if code == "TN-KDC-002":
        u["district_code"] = "D9"
    return u


def uy(code: str) -> str:
    return f"{code}:{YEAR}"


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    p = TestProvider().start()
    try:
        yield p
    finally:
        p.stop()


@contextlib.asynccontextmanager
async def service(
    tmp_path: Path,
    create_runtime: Callable[[Any], Any],
    settings_cls: type[ServiceSettings],
    build_router: Any,
    provider: TestProvider,
    url: str | None = None,
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """The service's runtime on ``url`` (default: a temporary SQLite file) and an HTTP client of its app."""
    senders = tmp_path / "senders.json"
    senders.write_text(senders_json(), encoding="utf-8")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS), encoding="utf-8")
    url = url or f"sqlite+aiosqlite:///{tmp_path}/service.db"
    settings = settings_cls(
        database_url=url,
        senders_file=senders,
        api_tokens_file=tokens,
        oidc=OidcSettings(issuer=provider.issuer, audience=AUDIENCE),
    )
    rt = create_runtime(settings)
    await upgrade_head_async(rt.migrations, url)
    app = service_app(rt, title="t", description="t", build_router=build_router)
    try:
        async with (
            TestKafkaBroker(rt.broker) as br,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            yield Service(rt, br), c
    finally:
        await rt.engine.dispose()
        rt.sync_engine.dispose()
        rt.http_engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def visible_one_by_one(c: httpx.AsyncClient, token: str, path: Callable[[str], str]) -> set[str]:
    seen = set()
    for code, _, _ in UNITS:
        r = await c.get(path(code), headers=auth(token))
        if r.status_code == 200:
            seen.add(code)
        else:
            assert r.status_code == 403, r.text
            body = r.json()
            assert body["error_code"] == "out_of_jurisdiction"
            assert TOKENS[token]["jurisdiction"] in body["reason"] and code in body["reason"]
    return seen


# registration --------------------------------------------------------------------------------
@pytest.fixture
async def registration(tmp_path: Path, provider: TestProvider) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with service(
        tmp_path, registration_app.create_runtime, RegistrationSettings, registration_api.build_router, provider
    ) as (svc, c):
        await populate_registration(svc, c)
        yield svc, c


async def populate_registration(svc: Service, c: httpx.AsyncClient) -> None:
    for code, _, _ in UNITS:
        await svc.publish(message("UnitRegistrationSubmitted", {"unit": the_unit(code)}, sender=NATIONAL), topics.INBOUND)
        form = {"kind": "registration_form", "ref": f"BĐK-{code}", "issued_on": "2025-02-10"}
        payload = {"unit_code": code, "year": YEAR, "documents": [form], "households_total": 100, "households_registered": 95}
        await svc.publish(message("UnitYearRegistrationSubmitted", payload, sender=NATIONAL), topics.INBOUND)
    r = await c.get("/unit-years", headers=auth("t-all"))
    assert {i["unit_code"] for i in r.json()["items"]} == {u for u, _, _ in UNITS}


@pytest.mark.parametrize("token", sorted(TOKENS))
async def test_registration_reads_are_scoped(registration: Any, token: str) -> None:
    _svc, c = registration
    await assert_registration_scoped(c, token)


async def assert_registration_scoped(c: httpx.AsyncClient, token: str) -> None:
    assert await visible_one_by_one(c, token, lambda code: f"/unit-years/{uy(code)}") == VISIBLE[token]
    assert await visible_one_by_one(c, token, lambda code: f"/units/{code}") == VISIBLE[token]
    r = await c.get("/unit-years", headers=auth(token))
    assert r.status_code == 200
    assert {i["unit_code"] for i in r.json()["items"]} == VISIBLE[token]


async def test_registration_lists_are_filtered_before_paging(registration: Any) -> None:
    _svc, c = registration
    # the first page of province 19 holds province 19's unit-years, not the (earlier-sorted)
    # province 51 ones filtered away afterwards
    r = await c.get("/unit-years", params={"limit": 1}, headers=auth("t-p19"))
    assert [i["unit_code"] for i in r.json()["items"]] == ["TN-KDC-001"]
    r = await c.get("/unit-years", params={"limit": 1, "offset": 1}, headers=auth("t-p19"))
    assert [i["unit_code"] for i in r.json()["items"]] == ["TN-KDC-002"]
    r = await c.get("/unit-years", params={"limit": 1, "offset": 2}, headers=auth("t-p19"))
    assert r.json()["items"] == []
    # an explicit filter for a unit outside the jurisdiction finds nothing
    r = await c.get("/unit-years", params={"unit_code": "QN-KDC-001"}, headers=auth("t-p19"))
    assert r.json()["items"] == []


async def test_a_jwt_is_scoped_like_a_token(registration: Any, provider: TestProvider) -> None:
    _svc, c = registration
    commune = provider.token(antt_role="appraise", antt_jurisdiction="commune:51002")
    r = await c.get("/unit-years", headers=auth(commune))
    assert r.status_code == 200, r.text
    assert [i["unit_code"] for i in r.json()["items"]] == ["QN-KDC-003"]
    r = await c.get(f"/unit-years/{uy('QN-KDC-001')}", headers=auth(commune))
    assert r.status_code == 403 and "commune:51002" in r.json()["reason"]
    everywhere = provider.token(antt_role="follow", antt_jurisdiction="*")
    r = await c.get("/unit-years", headers=auth(everywhere))
    assert len(r.json()["items"]) == len(UNITS)


async def test_an_unknown_unit_year_is_still_a_404(registration: Any) -> None:
    _svc, c = registration
    r = await c.get("/unit-years/NOPE:2025", headers=auth("t-p51"))
    assert r.status_code == 404 and r.json()["error_code"] == "not_found"


# assessment ----------------------------------------------------------------------------------
@pytest.fixture
async def assessment(tmp_path: Path, provider: TestProvider) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with service(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_api.build_router, provider) as (
        svc,
        c,
    ):
        for code, _, _ in UNITS:
            stream = Stream("registration", uy(code))
            payload = {
                "unit_year_id": uy(code),
                "year": YEAR,
                "unit": the_unit(code),
                "documents": [{"kind": "registration_form", "ref": f"BĐK-{code}", "issued_on": "2025-02-10"}],
                "households_total": 100,
                "households_registered": 95,
            }
            await svc.publish_event(stream.next("UnitYearRegistered", payload), topics.REGISTRATION_EVENTS)
        yield svc, c


@pytest.mark.parametrize("token", sorted(TOKENS))
async def test_assessment_reads_are_scoped(assessment: Any, token: str) -> None:
    _svc, c = assessment
    assert await visible_one_by_one(c, token, lambda code: f"/unit-years/{uy(code)}") == VISIBLE[token]


@pytest.mark.parametrize("token", ["t-c51001", "t-p19"])
async def test_criteria_and_scoring_sheets_stay_public(assessment: Any, token: str) -> None:
    _svc, c = assessment
    r = await c.get("/criteria/residential_area", params={"year": YEAR}, headers=auth(token))
    assert r.status_code == 200 and r.json()["criteria"]
    r = await c.get("/scoring-sheets/51/commune/2025", headers=auth(token))
    assert r.status_code in (200, 404), r.text  # a sheet exists or not; never a jurisdiction refusal
    assert r.status_code == 200 or r.json()["error_code"] == "not_found"


# approval ------------------------------------------------------------------------------------
@pytest.fixture
async def approval(tmp_path: Path, provider: TestProvider) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with service(tmp_path, approval_app.create_runtime, ApprovalSettings, approval_api.build_router, provider) as (svc, c):
        await populate_approval(svc, c)
        yield svc, c


async def populate_approval(svc: Service, c: httpx.AsyncClient) -> None:
    """Five unit-years under review; two of them recognised, then flagged by an incident."""
    for code, _, _ in UNITS:
        u = the_unit(code)
        ass = Stream("assessment", uy(code))
        opened = {
            "unit_year_id": uy(code),
            "year": YEAR,
            "unit": u,
            "window_start": "2024-11-01",
            "window_end": "2025-10-31",
            "criteria_catalog": "residential_area.2021",
        }
        await svc.publish_event(ass.next("AssessmentOpened", opened), topics.ASSESSMENT_EVENTS)
        recorded = {
            "unit_year_id": uy(code),
            "round": 1,
            "unit": u,
            "year": YEAR,
            "meeting_date": "2025-10-20",
            "criteria": [],
            "verdict": "met",
            "unmet": [],
        }
        await svc.publish_event(ass.next("SelfAssessmentRecorded", recorded), topics.ASSESSMENT_EVENTS)
        if code in ("QN-KDC-002", "TN-KDC-001"):
            # recognised, then an incident after recognition flags it for revocation
            for _ in range(2):
                decision = {"unit_year_id": uy(code), "level": "commune", "decision": "pass", "decided_by": "cán bộ xã"}
                await svc.publish(message("ReviewDecisionSubmitted", decision, sender=NATIONAL), topics.INBOUND)
            incident = {
                "incident_id": f"CA-{code}",
                "unit_code": code,
                "occurred_on": "2025-09-30",
                "category": "serious_crime",
                "unit_year_id": uy(code),
                "criterion": "KDC-4",
                "effect": "fails_criterion",
                "reason": "serious crime on 2025-09-30, reported after recognition",
                "after_recognition": True,
            }
            await svc.publish_event(ass.next("IncidentRecorded", incident), topics.ASSESSMENT_EVENTS)
    r = await c.get("/flags", headers=auth("t-all"))
    assert {i["unit"]["code"] for i in r.json()["items"]} == {"QN-KDC-002", "TN-KDC-001"}, r.text


@pytest.mark.parametrize("token", sorted(TOKENS))
async def test_approval_reads_are_scoped(approval: Any, token: str) -> None:
    _svc, c = approval
    await assert_approval_scoped(c, token)


async def assert_approval_scoped(c: httpx.AsyncClient, token: str) -> None:
    seen = await visible_one_by_one(c, token, lambda code: f"/unit-years/{uy(code)}")
    assert seen == VISIBLE[token]
    r = await c.get("/queue", headers=auth(token))
    assert r.status_code == 200
    queued = {i["unit"]["code"] for i in r.json()["items"]}
    assert queued == VISIBLE[token] - {"QN-KDC-002", "TN-KDC-001"}  # the recognised ones left the queue
    r = await c.get("/flags", headers=auth(token))
    assert {i["unit"]["code"] for i in r.json()["items"]} == VISIBLE[token] & {"QN-KDC-002", "TN-KDC-001"}


async def test_approval_history_is_shown_only_inside_the_jurisdiction(approval: Any) -> None:
    _svc, c = approval
    r = await c.get(f"/unit-years/{uy('QN-KDC-002')}", headers=auth("t-c51001"))
    types = [e["event_type"] for e in r.json()["history"]]
    assert r.status_code == 200 and {"AssessmentOpened", "UnitYearRecognized", "IncidentFlagged"} <= set(types)
    r = await c.get(f"/unit-years/{uy('QN-KDC-002')}", headers=auth("t-p19"))
    assert r.status_code == 403 and "history" not in r.json()


async def test_approval_queue_is_filtered_before_paging(approval: Any) -> None:
    _svc, c = approval
    r = await c.get("/queue", params={"limit": 1}, headers=auth("t-p19"))
    assert [i["unit"]["code"] for i in r.json()["items"]] == ["TN-KDC-002"]
    r = await c.get("/queue", params={"province_code": "51"}, headers=auth("t-p19"))
    assert r.json()["items"] == []


# the rule itself -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("jurisdiction", "expected"),
    [
        ("*", True),
        ("ministry", True),
        ("province:51", True),
        ("province:19", False),
        ("commune:51001", True),
        ("commune:51002", False),
        ("district:D1", True),
        ("district:D2", False),
        ("planet:earth", False),
        ("province:", False),
    ],
)
def test_may_read(jurisdiction: str, expected: bool) -> None:
    u = {"code": "X", "province_code": "51", "commune_code": "51001", "district_code": "D1"}
    assert may_read(jurisdiction, u) is expected
    assert may_read([jurisdiction], u) is expected
    scope = read_scope(jurisdiction)
    assert (scope is None or u.get(scope[0]) == scope[1]) is expected
