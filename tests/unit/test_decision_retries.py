"""A retried decision cannot move a unit-year twice.

The reproduction of issue 8 point 4: two identical ``POST /unit-years/{id}/decisions`` from
``self_scored`` for a residential area (commune review, then commune decision) both succeeded,
the retry becoming the recognition. A decision now names what it decides (``step``,
``expected_version`` / ``If-Match``) and an HTTP write takes an ``Idempotency-Key``: each of
them alone stops the second copy. Over Kafka the same fields give a dead letter with the reason.

The approval service runs in process (SQLite file, faststream's in-memory broker for the events
that open and self-score the case, the HTTP API through ``httpx.ASGITransport``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.approval import app as approval_app
from services.approval import orm as approval_orm
from services.approval.api import build_router
from services.approval.settings import ApprovalSettings
from shared.contracts import topics
from shared.infra.http import service_app
from shared.infra.migrate import upgrade_head_async
from tests.unit.builders import Stream, message, senders_json, to_bytes, unit
from tests.unit.harness import Service

UY = "QN-KDC-001:2025"
URL = f"/unit-years/{UY}/decisions"
TOKEN = "test-officer-token"
OTHER_TOKEN = "test-other-officer-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REVIEW = {"level": "commune", "decision": "pass", "decided_by": "Công an xã"}


@dataclass
class Approval:
    svc: Service
    http: httpx.AsyncClient


@pytest.fixture
async def approval(tmp_path: Path) -> AsyncIterator[Approval]:
    senders = tmp_path / "senders.json"
    senders.write_text(senders_json(), encoding="utf-8")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                TOKEN: {"id": "officer@quang-ngai", "role": "officer", "jurisdiction": "province:51"},
                OTHER_TOKEN: {"id": "other@quang-ngai", "role": "officer", "jurisdiction": "province:51"},
            }
        ),
        encoding="utf-8",
    )
    url = f"sqlite+aiosqlite:///{tmp_path}/approval.db"
    settings = ApprovalSettings(database_url=url, senders_file=senders, api_tokens_file=tokens, consumer_max_attempts=2)
    rt = approval_app.create_runtime(settings)
    await upgrade_head_async(rt.migrations, url)
    app = service_app(rt, title="t", description="t", build_router=build_router)  # type: ignore[arg-type]
    try:
        async with TestKafkaBroker(rt.broker) as br:
            svc = Service(rt, br)
            await self_scored(svc)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as client:
                yield Approval(svc, client)
    finally:
        await rt.engine.dispose()
        rt.sync_engine.dispose()
        rt.http_engine.dispose()


async def self_scored(svc: Service) -> None:
    """A residential area's case, self-scored (met): the commune reviews it, then decides."""
    ass = Stream("assessment", UY)
    u = unit()
    await svc.publish_event(
        ass.next(
            "AssessmentOpened",
            {
                "unit_year_id": UY,
                "year": 2025,
                "unit": u,
                "window_start": "2024-11-01",
                "window_end": "2025-10-31",
                "criteria_catalog": "residential_area.2021",
            },
        ),
        topics.ASSESSMENT_EVENTS,
    )
    await svc.publish_event(
        ass.next(
            "SelfAssessmentRecorded",
            {
                "unit_year_id": UY,
                "round": 1,
                "unit": u,
                "year": 2025,
                "meeting_date": "2025-10-20",
                "criteria": [],
                "verdict": "met",
                "unmet": [],
            },
        ),
        topics.ASSESSMENT_EVENTS,
    )


async def case_row(a: Approval) -> dict[str, Any]:
    [case] = await a.svc.rows(approval_orm.cases)
    return case


async def approval_events(a: Approval) -> list[str]:
    return [e["event_type"] for e in await a.svc.events(topics.APPROVAL_EVENTS)]


async def test_without_anything_naming_the_step_a_retry_is_the_next_step(approval: Approval) -> None:
    """The behaviour the fields exist for (kept for clients that send none of them): the same
    body twice is the review and then the recognition."""
    first = await approval.http.post(URL, json=REVIEW)
    second = await approval.http.post(URL, json=REVIEW)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (await case_row(approval))["state"] == "recognized"


async def test_a_retry_naming_its_step_is_refused(approval: Approval) -> None:
    body = {**REVIEW, "step": "review"}
    first = await approval.http.post(URL, json=body)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "commune_reviewed" and first.json()["pending_step"]["role"] == "decide"
    second = await approval.http.post(URL, json=body)
    assert second.status_code == 409
    err = second.json()
    assert err["error_code"] == "step_not_current"
    assert "review step at commune level was already taken" in err["reason"] and "awaiting the decide step" in err["reason"]
    assert (await case_row(approval))["state"] == "commune_reviewed"
    assert await approval_events(approval) == ["ApprovalCaseOpened", "UnitYearSelfScored", "UnitYearReviewed"]
    # the step that is current is taken
    decided = await approval.http.post(URL, json={**REVIEW, "step": "decide", "decided_by": "Chủ tịch UBND xã"})
    assert decided.status_code == 200 and decided.json()["state"] == "recognized"


async def test_if_match_carries_the_version_read(approval: Approval) -> None:
    got = await approval.http.get(f"/unit-years/{UY}")
    assert got.status_code == 200
    tag = got.headers["ETag"]
    assert tag == f'"{got.json()["version"]}"'
    first = await approval.http.post(URL, json=REVIEW, headers={"If-Match": tag})
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == f'"{first.json()["version"]}"' != tag
    second = await approval.http.post(URL, json=REVIEW, headers={"If-Match": tag})
    assert second.status_code == 412
    assert second.json()["error_code"] == "precondition_failed" and first.headers["ETag"] in second.json()["reason"]
    assert (await case_row(approval))["state"] == "commune_reviewed"
    # a weak tag or a tag that is not a version matches nothing; a malformed header is a 400
    assert (await approval.http.post(URL, json=REVIEW, headers={"If-Match": f"W/{first.headers['ETag']}"})).status_code == 412
    assert (await approval.http.post(URL, json=REVIEW, headers={"If-Match": '"abc"'})).status_code == 412
    bad = await approval.http.post(URL, json=REVIEW, headers={"If-Match": "3"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "bad_request"
    # the body's expected_version does the same (for clients that cannot set headers)
    stale = await approval.http.post(URL, json={**REVIEW, "expected_version": 1})
    assert stale.status_code == 409 and stale.json()["error_code"] == "version_mismatch"
    assert (await case_row(approval))["state"] == "commune_reviewed"


async def test_an_idempotency_key_returns_the_first_answer(approval: Approval) -> None:
    key = {"Idempotency-Key": "3f6c1d2e-2a4b-4c8d-9e0f-112233445566"}
    first = await approval.http.post(URL, json=REVIEW, headers=key)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    # the same request, its body spelled differently (key order, spacing), is the same request
    raw = json.dumps(dict(reversed(list(REVIEW.items()))), indent=2)
    second = await approval.http.post(URL, content=raw, headers={**key, "Content-Type": "application/json"})
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json() and second.headers["ETag"] == first.headers["ETag"]
    assert (await case_row(approval))["state"] == "commune_reviewed"
    assert await approval_events(approval) == ["ApprovalCaseOpened", "UnitYearSelfScored", "UnitYearReviewed"]
    # the same key with another body is refused
    other = await approval.http.post(URL, json={**REVIEW, "decided_by": "someone else"}, headers=key)
    assert other.status_code == 422
    assert other.json()["error_code"] == "idempotency_key_reused" and "another body" in other.json()["reason"]
    # keys are the caller's: another official's same key is a new request (the decide step)
    theirs = await approval.http.post(URL, json=REVIEW, headers={**key, "Authorization": f"Bearer {OTHER_TOKEN}"})
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["state"] == "recognized"
    # a bad key is a 400, and a refused write stores nothing: sent again, it is judged again
    bad = await approval.http.post(URL, json=REVIEW, headers={"Idempotency-Key": "with space"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "invalid_idempotency_key"
    late = {"Idempotency-Key": "late-1"}
    assert (await approval.http.post(URL, json=REVIEW, headers=late)).status_code == 409
    assert await approval.svc.count(approval.svc.rt.infra.idempotency_keys) == 2


async def test_concurrent_retries_with_one_key_act_once(approval: Approval) -> None:
    key = {"Idempotency-Key": "concurrent-1"}
    answers = await asyncio.gather(*(approval.http.post(URL, json=REVIEW, headers=key) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.text for a in answers}) == 1
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 3
    assert (await case_row(approval))["state"] == "commune_reviewed"


async def test_over_kafka_a_decision_for_a_step_no_longer_current_is_dead_lettered(approval: Approval) -> None:
    svc = approval.svc
    payload = {"unit_year_id": UY, **REVIEW, "step": "review"}
    await svc.publish(message("ReviewDecisionSubmitted", payload), topics.INBOUND, key=b"QN-KDC-001")
    again = message("ReviewDecisionSubmitted", payload)  # a new event_id: a sender's retry
    await svc.publish(again, topics.INBOUND, key=b"QN-KDC-001", partition=1)
    stale = message("ReviewDecisionSubmitted", {**payload, "step": "decide", "expected_version": 2})
    await svc.publish(stale, topics.INBOUND, key=b"QN-KDC-001", partition=2)
    dls = await svc.outbox(topics.dlq(topics.INBOUND))
    assert [(d["value"]["error_code"], d["value"]["message_id"]) for d in dls] == [
        ("step_not_current", again["event_id"]),
        ("version_mismatch", stale["event_id"]),
    ]
    assert dls[0]["value"]["original"]["data"] == to_bytes(again).decode()
    assert "is at version 3" in dls[1]["value"]["reason"]
    assert (await case_row(approval))["state"] == "commune_reviewed"


async def test_answers_are_forgotten_after_their_time_to_live(approval: Approval) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    rt = approval.svc.rt
    key = {"Idempotency-Key": "old-1"}
    assert (await approval.http.post(URL, json=REVIEW, headers=key)).status_code == 200
    table = rt.infra.idempotency_keys
    async with rt.sessions() as s:
        await s.execute(
            update(table).values(created_at=datetime.now(UTC) - timedelta(seconds=rt.settings.idempotency_key_ttl_s + 60))
        )
        await s.commit()
    rt._idempotency_purged_at = None  # type: ignore[attr-defined]  # the next keyed write purges
    assert (
        await approval.http.post(URL, json={**REVIEW, "step": "decide"}, headers={"Idempotency-Key": "new-1"})
    ).status_code == 200
    assert [r["key"] for r in await approval.svc.rows(table)] == ["new-1"]
