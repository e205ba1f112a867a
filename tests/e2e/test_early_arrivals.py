"""Early arrivals are held, not refused, on a real broker with the services as processes.

A sender sends a unit's registration, its year registration and its self-assessment at once:
each service reads ``antt.inbound.v1`` on its own, so the assessment service meets the
self-assessment before it has consumed the ``UnitYearRegistered`` that opens the unit-year.
The message is parked and applied when that event arrives. A message whose announcement never
comes is dead-lettered after the time-to-live (20 s here instead of an hour).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.e2e.conftest import System, _start_system, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TTL_S = 20


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    """The whole system, once per backend, holding early arrivals for ``TTL_S``."""
    pg = request.getfixturevalue("postgres") if request.param == "postgres" else None
    yield from _start_system(request.param, pg, extra={"PARKING_TTL_S": str(TTL_S), "PARKING_SWEEP_INTERVAL_S": "1"})


def parked_count(system: System, service: str) -> int:
    """Inbound messages ``service`` has parked since it started."""
    return int(system.get(service, "/ready").json()["consumers"]["antt.inbound.v1"]["parked"])


async def poll(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait for a condition on the services' HTTP answers (no event tells the client)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_registration_year_and_self_assessment_sent_at_once(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        sent = [
            await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code),
            await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code),
            await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code),
        ]
        await client.flush()
        scored = await client.wait_event(plan.unit_year_id, "UnitYearSelfScored", timeout=60)
        assert scored["payload"]["verdict"] == "met"
        assert not [eid for eid in sent if eid in client.dead_letters]
    view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
    assert view["state"] == "self_scored" and view["round"] == 1


async def test_every_message_before_its_announcement_is_held_then_applied(system: System) -> None:
    """The strict order backwards: the self-assessment first, then the year registration under
    another key (so it may overtake the unit's registration), then the unit's registration."""
    plan = Plan(code=unique("KDC"), kind="residential_area")
    parked_before = {s: parked_count(system, s) for s in ("registration", "assessment")}
    async with AnttClient(system.bootstrap) as client:
        sa = await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
        await client.flush()
        await poll(lambda: parked_count(system, "assessment") > parked_before["assessment"], "the self-assessment parked")
        year = await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=f"{plan.code}-year")
        await client.flush()
        await poll(lambda: parked_count(system, "registration") > parked_before["registration"], "the year registration parked")
        await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
        scored = await client.wait_event(plan.unit_year_id, "UnitYearSelfScored", timeout=60)
        assert scored["payload"]["verdict"] == "met"
        registered = await client.wait_event(plan.unit_year_id, "UnitYearRegistered")
        recorded = await client.wait_event(plan.unit_year_id, "SelfAssessmentRecorded")
        assert registered["causation_id"] == year and recorded["causation_id"] == sa
        assert sa not in client.dead_letters and year not in client.dead_letters
    for service in ("registration", "assessment"):
        await_ready = system.get(service, "/ready").json()
        assert await_ready["parked_messages"] == 0, (service, await_ready)
    metrics = system.get("assessment", "/metrics").text
    assert 'antt_parked_released_total{outcome="applied",service="assessment"}' in metrics


async def test_an_early_arrival_whose_announcement_never_comes_is_dead_lettered_after_the_ttl(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    async with AnttClient(system.bootstrap) as client:
        sa = await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
        year = await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
        await client.flush()
        await poll(lambda: system.get("assessment", "/ready").json()["parked_messages"] >= 1, "the self-assessment parked")
        dl_sa = await client.wait_dead_letter(sa, timeout=TTL_S + 40)
        dl_year = await client.wait_dead_letter(year, timeout=30)
    assert dl_sa["error_code"] == "expired_waiting_for_unit_year" and dl_sa["service"] == "assessment"
    assert f"held {TTL_S} s" in dl_sa["reason"] and f"unit-year {plan.unit_year_id} is not registered" in dl_sa["reason"]
    assert dl_year["error_code"] == "expired_waiting_for_unit" and dl_year["service"] == "registration"
    assert f"unit {plan.code} is not registered" in dl_year["reason"]
    assert system.get("registration", f"/unit-years/{plan.unit_year_id}").status_code == 404
    assert system.get("assessment", "/ready").json()["parked_messages"] == 0
