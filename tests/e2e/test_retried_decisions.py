"""The reproduction of issue 8 point 4 on the services as processes (SQLite and PostgreSQL): two identical decisions
from ``self_scored`` of a residential area must not move it two steps. With an
``Idempotency-Key``, a ``step`` or an ``If-Match`` the retry cannot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from tests.e2e.conftest import TOKEN, System, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_a_retried_decision_does_not_take_the_next_step(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    url = f"/unit-years/{plan.unit_year_id}/decisions"
    async with AnttClient(system.bootstrap) as client:
        await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
        await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
        await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
        await client.wait_event(plan.unit_year_id, "UnitYearSelfScored", timeout=60)

        read = system.get("approval", f"/unit-years/{plan.unit_year_id}")
        tag = read.headers["ETag"]
        assert read.json()["pending_step"]["role"] == "review"
        review = {"level": "commune", "step": "review", "decision": "pass", "decided_by": "Công an xã"}
        headers = {**TOKEN, "If-Match": tag, "Idempotency-Key": f"review-{plan.code}"}

        # the client times out and sends again, several times, at once: one of them acts
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: system.post("approval", url, review, headers=headers), range(4)))
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
        assert len({a.text for a in answers}) == 1
        first = next(a for a in answers if "Idempotent-Replayed" not in a.headers)
        retry = system.post("approval", url, review, headers=headers)  # and once more, later
        assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true" and retry.json() == first.json()
        assert first.json()["state"] == "commune_reviewed"

        # without the key the same request is refused by its step, or by its If-Match
        again = system.post("approval", url, review, headers={**TOKEN})
        assert again.status_code == 409 and again.json()["error_code"] == "step_not_current"
        stale = system.post("approval", url, {**review, "step": "decide"}, headers={**TOKEN, "If-Match": tag})
        assert stale.status_code == 412 and stale.json()["error_code"] == "precondition_failed"

        view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
        assert view["state"] == "commune_reviewed" and [d["role"] for d in view["decisions"]] == ["review"]

        # the step that is current, on the version just read, is taken
        decide = {**review, "step": "decide", "decided_by": "Chủ tịch UBND xã"}
        done = system.post(
            "approval",
            url,
            decide,
            headers={**TOKEN, "If-Match": first.headers["ETag"], "Idempotency-Key": f"decide-{plan.code}"},
        )
        assert done.status_code == 200 and done.json()["state"] == "recognized", done.text

        # on the topic: one review, one recognition (a unit-year's events are in order on its key)
        await client.wait_event(plan.unit_year_id, "UnitYearRecognized")
        approval = [e["event_type"] for e in client.events[plan.unit_year_id] if e["producer"] == "approval"]
        assert approval == ["ApprovalCaseOpened", "UnitYearSelfScored", "UnitYearReviewed", "UnitYearRecognized"]
