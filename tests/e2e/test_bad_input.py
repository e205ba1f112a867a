"""Bad inbound messages go to ``antt.inbound.v1.dlq`` with a precise reason, the state does
not change, and the consumers go on with the next message."""

from __future__ import annotations

import json
import uuid

import pytest

from deploy.client import AnttClient
from deploy.driver import Plan, registration_msg, self_assessment_msg, unit_msg
from shared.contracts.inbound import new_message
from tests.e2e.conftest import System, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def _raw(client: AnttClient, data: bytes, key: str = "X") -> None:
    await client.send("", {}, key=key, raw=data)


async def test_bad_messages_are_dead_lettered_and_nothing_changes(system: System) -> None:
    plan = Plan(code=unique("KDC"), kind="residential_area")
    other_province = Plan(code=unique("KDC"), kind="residential_area", province_code="79")
    async with AnttClient(system.bootstrap) as client:
        await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code)
        await client.send("UnitYearRegistrationSubmitted", registration_msg(plan), key=plan.code)
        await client.wait_event(plan.unit_year_id, "ApprovalCaseOpened")

        cases: list[tuple[str, str, str]] = []  # (message_id or marker, expected code, expected words)

        # 1. bad JSON: no event id to follow, so look it up by its reason afterwards
        await _raw(client, b'{"event_type": "UnitRegistrationSubmitted", oops')
        # 2. unknown event type
        msg = new_message("UnitTeleported", {}, source_system=client.source_system, key=client.key)
        await _raw(client, json.dumps(msg).encode())
        cases.append((msg["event_id"], "unknown_event_type", "UnitTeleported"))
        # 3. missing / wrong fields
        eid = await client.send("UnitYearRegistrationSubmitted", {"unit_code": plan.code, "year": "next"}, key=plan.code)
        cases.append((eid, "invalid_payload", "payload.year"))
        # 4. (a year registration of an unknown unit is held, not refused: tests/e2e/test_early_arrivals.py)
        await client.send("UnitYearRegistrationSubmitted", {**registration_msg(plan), "unit_code": "NO-SUCH"}, key="NO-SUCH")
        # 5. a decision for a unit-year that was never self-scored
        eid = await client.send(
            "ReviewDecisionSubmitted",
            {"unit_year_id": plan.unit_year_id, "level": "commune", "decision": "pass", "decided_by": "x"},
            key=plan.code,
        )
        cases.append((eid, "illegal_transition", "not been self-assessed"))
        # 6. a duplicate event_id (same content, sent twice)
        dup_id = str(uuid.uuid4())
        await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code, event_id=dup_id)
        await client.send("UnitRegistrationSubmitted", unit_msg(plan), key=plan.code, event_id=dup_id)
        cases.append((dup_id, "duplicate_event_id", dup_id))
        # 7. bad signature: the payload changed after signing
        signed = new_message("UnitRegistrationSubmitted", unit_msg(plan), source_system=client.source_system, key=client.key)
        signed["payload"]["unit"]["name"] = "tampered"
        await _raw(client, json.dumps(signed).encode(), key=plan.code)
        cases.append((signed["event_id"], "bad_signature", "signature"))
        # 8. unknown sender
        stranger = new_message("UnitRegistrationSubmitted", unit_msg(plan), source_system="nobody", key="k" * 20)
        await _raw(client, json.dumps(stranger).encode(), key=plan.code)
        cases.append((stranger["event_id"], "unknown_sender", "nobody"))
        # 9. a unit outside the sender's jurisdiction (the Quảng Ngãi sender, a unit in province 79)
        qn = AnttClient(system.bootstrap, source_system="dvc-quang-ngai", key="dev-key-quang-ngai-0123456789abcdef")
        await qn.start()
        try:
            eid = await qn.send("UnitRegistrationSubmitted", unit_msg(other_province), key=other_province.code)
            await qn.flush()
        finally:
            await qn.stop()
        cases.append((eid, "out_of_jurisdiction", "province 79"))
        # 10. a self-assessment that leaves out criteria
        partial = self_assessment_msg(plan)
        partial["criteria"] = partial["criteria"][:2]
        eid = await client.send("SelfAssessmentSubmitted", partial, key=plan.code)
        cases.append((eid, "invalid_payload", "KDC-3"))

        # and the consumers go on: a valid message after all of them is applied
        await client.send("SelfAssessmentSubmitted", self_assessment_msg(plan), key=plan.code)
        await client.wait_event(plan.unit_year_id, "UnitYearSelfScored", timeout=60)

        for message_id, code, words in cases:
            dl = await client.wait_dead_letter(message_id, timeout=30)
            assert dl["error_code"] == code, (message_id, dl)
            assert words in dl["reason"], (words, dl["reason"])
            assert dl["source_topic"] == "antt.inbound.v1"
            assert dl["original"]["data"]
        bad_json = await client.wait_until(
            lambda: [d for d in client.dead_letters.values() if d["error_code"] == "bad_json"], what="bad_json dead letter"
        )
        assert len(bad_json) == 1 and "oops" in bad_json[0]["original"]["data"]

    # state unchanged by any of them: one registration, self-scored once, nothing else
    view = system.get("approval", f"/unit-years/{plan.unit_year_id}").json()
    assert view["state"] == "self_scored" and view["round"] == 1 and view["decisions"] == []
    assert system.get("registration", f"/units/{plan.code}").json()["name"] == f"Đơn vị {plan.code}"
    assert system.get("registration", f"/units/{other_province.code}").status_code == 404
    assert system.get("registration", "/unit-years/NO-SUCH:2025").status_code == 404
