"""Every HTTP write of the registration and assessment services takes an ``Idempotency-Key``,
as the approval service's decisions do (``tests/unit/test_decision_retries.py``): a retry with
the same key and body gets the first answer back (``Idempotent-Replayed: true``) and acts no
second time; the same key with another body is refused (422) with a reason.

The services run in process (a SQLite file, faststream's in-memory broker, the HTTP API through
``httpx.ASGITransport``), with the read-scoping tests' set-up.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.assessment import api as assessment_api
from services.assessment import app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.registration import api as registration_api
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from tests.unit.auth_provider import TestProvider
from tests.unit.builders import Stream, all_criteria
from tests.unit.harness import Service
from tests.unit.test_read_scoping import YEAR, auth, provider, service, the_unit, uy

__all__ = ["provider"]  # the identity provider fixture the services' settings name

CODE = "QN-KDC-001"


def keyed(key: str) -> dict[str, str]:
    return {**auth("t-p51"), "Idempotency-Key": key}


@pytest.fixture
async def registration(tmp_path: Path, provider: TestProvider) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with service(
        tmp_path, registration_app.create_runtime, RegistrationSettings, registration_api.build_router, provider
    ) as (svc, c):
        yield svc, c


async def test_registration_writes_answer_a_retry_from_the_first_answer(registration: Any) -> None:
    svc, c = registration
    key = str(uuid.uuid4())
    body = {"unit": the_unit(CODE)}
    first = await c.post("/units", json=body, headers=keyed(key))
    again = await c.post("/units", json=body, headers=keyed(key))
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    other = await c.post("/units", json={"unit": {**the_unit(CODE), "name": "another name"}}, headers=keyed(key))
    assert other.status_code == 422 and other.json()["error_code"] == "idempotency_key_reused", other.text

    form = {"kind": "registration_form", "ref": f"BĐK-{CODE}", "issued_on": "2025-02-10"}
    year = {"unit_code": CODE, "year": YEAR, "documents": [form], "households_total": 100, "households_registered": 95}
    key = str(uuid.uuid4())
    first = await c.post("/unit-years", json=year, headers=keyed(key))
    again = await c.post("/unit-years", json=year, headers=keyed(key))
    assert first.status_code == again.status_code == 201 and again.json() == first.json(), again.text
    # without the key, the same registration a second time is refused: the key made the retry safe
    unkeyed = await c.post("/unit-years", json=year, headers=auth("t-p51"))
    assert unkeyed.status_code == 409 and unkeyed.json()["error_code"] == "already_registered", unkeyed.text

    key = str(uuid.uuid4())
    reason = {"reason": "Đơn vị sáp nhập"}
    first = await c.post(f"/unit-years/{uy(CODE)}/withdrawal", json=reason, headers=keyed(key))
    again = await c.post(f"/unit-years/{uy(CODE)}/withdrawal", json=reason, headers=keyed(key))
    assert first.status_code == again.status_code == 200 and again.json() == first.json(), again.text
    assert first.json()["state"] == "withdrawn"
    events = [e["event_type"] for e in await svc.events(topics.REGISTRATION_EVENTS)]
    assert events.count("UnitRegistered") == 1 and events.count("UnitYearRegistered") == 1
    assert events.count("UnitYearWithdrawn") == 1


@pytest.fixture
async def assessment(tmp_path: Path, provider: TestProvider) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with service(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_api.build_router, provider) as (
        svc,
        c,
    ):
        payload = {
            "unit_year_id": uy(CODE),
            "year": YEAR,
            "unit": the_unit(CODE),
            "documents": [{"kind": "registration_form", "ref": f"BĐK-{CODE}", "issued_on": "2025-02-10"}],
            "households_total": 100,
            "households_registered": 95,
        }
        await svc.publish_event(Stream("registration", uy(CODE)).next("UnitYearRegistered", payload), topics.REGISTRATION_EVENTS)
        yield svc, c


async def test_a_retried_self_assessment_is_recorded_once(assessment: Any) -> None:
    svc, c = assessment
    body = {"criteria": all_criteria("residential_area"), "meeting_date": "2025-10-20", "documents": []}
    key = str(uuid.uuid4())
    first = await c.post(f"/unit-years/{uy(CODE)}/self-assessment", json=body, headers=keyed(key))
    again = await c.post(f"/unit-years/{uy(CODE)}/self-assessment", json=body, headers=keyed(key))
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    recorded = [e for e in await svc.events(topics.ASSESSMENT_EVENTS) if e["event_type"] == "SelfAssessmentRecorded"]
    assert [e["payload"]["round"] for e in recorded] == [1]
