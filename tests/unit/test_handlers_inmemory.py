"""The handler path of each service, end to end inside one process: in-memory Kafka
(faststream's ``TestKafkaBroker``) -> consumer runtime -> domain -> SQLite (state, inbox, outbox).

The in-memory broker gives every record offset 0 in the partition it is published to, so a
"redelivery" is the same bytes at the same partition, and a "copy at another offset" is the
same bytes published to another partition.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.approval import app as approval_app
from services.approval import orm as approval_orm
from services.approval.settings import ApprovalSettings
from services.assessment import app as assessment_app
from services.assessment import orm as assessment_orm
from services.assessment.settings import AssessmentSettings
from services.registration import app as registration_app
from services.registration import orm as registration_orm
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from shared.contracts.envelope import compute_hash, verify_chain
from shared.infra.consumer import Received
from tests.unit.builders import OFFICER, SENDER, Stream, all_criteria, message, to_bytes, unit
from tests.unit.harness import Service, running

INBOUND = topics.INBOUND
DLQ = topics.dlq(INBOUND)
UY = "QN-KDC-001:2025"
FORM = {"kind": "registration_form", "ref": "BĐK-01/2025", "issued_on": "2025-02-10"}


@pytest.fixture
async def registration(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, registration_app.create_runtime, RegistrationSettings, registration_app.MIGRATIONS) as svc:
        yield svc


@pytest.fixture
async def assessment(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, assessment_app.create_runtime, AssessmentSettings, assessment_app.MIGRATIONS) as svc:
        yield svc


@pytest.fixture
async def approval(tmp_path: Path) -> AsyncIterator[Service]:
    async with running(tmp_path, approval_app.create_runtime, ApprovalSettings, approval_app.MIGRATIONS) as svc:
        yield svc


def register_unit_msg(**kw: Any) -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit(**kw)})


def register_year_msg(code: str = "QN-KDC-001", year: int = 2025, **kw: Any) -> dict[str, Any]:
    payload = {"unit_code": code, "year": year, "documents": [FORM], "households_total": 120, "households_registered": 118}
    return message("UnitYearRegistrationSubmitted", {**payload, **kw})


async def dead_letters(svc: Service, topic: str = DLQ) -> list[dict[str, Any]]:
    return await svc.outbox(topic)


def assert_dead_letter(row: dict[str, Any], *, code: str, original: bytes, fragment: str, message_id: str | None = None) -> None:
    body, headers = row["value"], row["headers"]
    assert body["error_code"] == code, body["reason"]
    assert fragment in body["reason"]
    assert body["original"] == {"encoding": "utf-8", "data": original.decode("utf-8")}
    assert headers["x-dlq-error-code"] == code
    assert headers["x-dlq-reason"] == body["reason"][:1000]
    assert headers["event_id"] == body["dlq_id"] == row["event_id"]
    if message_id is not None:
        assert body["message_id"] == message_id


# === registration =============================================================================
async def test_registration_writes_state_events_and_inbox_in_one_go(registration: Service) -> None:
    svc = registration
    m_unit = register_unit_msg()
    m_year = register_year_msg()
    await svc.publish(m_unit, INBOUND, key=b"QN-KDC-001")
    await svc.publish(m_year, INBOUND, key=b"QN-KDC-001", partition=1)

    [u] = await svc.rows(registration_orm.units)
    assert u["code"] == "QN-KDC-001" and u["name"] == "Tổ dân phố Phú Đình 1" and u["kind"] == "residential_area"
    assert u["version"] == 1
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["id"] == UY and uy["state"] == "registered" and uy["year"] == 2025
    assert (uy["households_total"], uy["households_registered"]) == (120, 118)
    assert uy["documents"] == [FORM]

    out = await svc.outbox()
    assert [(r["topic"], r["key"], r["headers"]["event_type"]) for r in out] == [
        (topics.REGISTRATION_EVENTS, "unit:QN-KDC-001", "UnitRegistered"),
        (topics.REGISTRATION_EVENTS, UY, "UnitYearRegistered"),
    ]
    e_unit, e_year = (r["value"] for r in out)
    assert e_unit["stream_id"] == "unit:QN-KDC-001" and e_unit["unit_year_id"] is None
    assert e_unit["payload"]["unit"]["name"] == "Tổ dân phố Phú Đình 1"
    assert e_year["stream_id"] == UY and e_year["unit_year_id"] == UY
    assert e_year["payload"]["unit"]["code"] == "QN-KDC-001" and e_year["payload"]["households_registered"] == 118
    for env, msg in ((e_unit, m_unit), (e_year, m_year)):
        assert env["producer"] == "registration"
        assert (env["sequence"], env["prev_hash"]) == (1, None)
        assert env["hash"] == compute_hash(env)
        assert env["causation_id"] == msg["event_id"] and env["correlation_id"] == msg["event_id"]
        assert env["actor"] == OFFICER
    assert [r["headers"]["event_id"] for r in out] == [r["event_id"] for r in out] == [e_unit["event_id"], e_year["event_id"]]

    inbox = await svc.inbox()
    assert set(inbox) == {m_unit["event_id"], m_year["event_id"]}
    assert {r["outcome"] for r in inbox.values()} == {"applied"}
    assert (inbox[m_year["event_id"]]["topic"], inbox[m_year["event_id"]]["partition"]) == (INBOUND, 1)
    assert svc.stats(INBOUND)["applied"] == 2


async def test_a_stream_is_sequenced_and_hash_chained(registration: Service) -> None:
    svc = registration
    await svc.publish(register_unit_msg(), INBOUND)
    await svc.publish(register_year_msg(), INBOUND)
    await svc.publish(register_unit_msg(name="Tổ dân phố Phú Đình 1 (mới)"), INBOUND)
    withdraw = message("UnitYearWithdrawalSubmitted", {"unit_year_id": UY, "reason": "sáp nhập tổ dân phố"})
    await svc.publish(withdraw, INBOUND)

    events = await svc.events(topics.REGISTRATION_EVENTS)
    unit_stream = [e for e in events if e["stream_id"] == "unit:QN-KDC-001"]
    year_stream = [e for e in events if e["stream_id"] == UY]
    assert [(e["event_type"], e["sequence"]) for e in unit_stream] == [("UnitRegistered", 1), ("UnitUpdated", 2)]
    assert [(e["event_type"], e["sequence"]) for e in year_stream] == [("UnitYearRegistered", 1), ("UnitYearWithdrawn", 2)]
    verify_chain(unit_stream)
    verify_chain(year_stream)
    assert unit_stream[1]["payload"]["changed"] == ["name"]
    assert year_stream[1]["payload"] == {"unit_year_id": UY, "reason": "sáp nhập tổ dân phố"}

    streams = {r["stream_id"]: r for r in await svc.rows(registration_orm.infra.event_streams)}
    assert streams["unit:QN-KDC-001"]["sequence"] == 2 and streams["unit:QN-KDC-001"]["last_hash"] == unit_stream[-1]["hash"]
    assert streams[UY]["sequence"] == 2 and streams[UY]["last_hash"] == year_stream[-1]["hash"]

    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["state"] == "withdrawn" and uy["withdrawal_reason"] == "sáp nhập tổ dân phố" and uy["version"] == 2


async def test_an_identical_unit_registration_changes_nothing(registration: Service) -> None:
    svc = registration
    await svc.publish(register_unit_msg(), INBOUND)
    again = register_unit_msg()  # a new message with the same content
    await svc.publish(again, INBOUND, partition=2)
    assert [e["event_type"] for e in await svc.events(topics.REGISTRATION_EVENTS)] == ["UnitRegistered"]
    assert (await svc.inbox())[again["event_id"]]["outcome"] == "ignored"
    assert svc.stats(INBOUND)["ignored"] == 1


async def test_redelivery_and_a_copy_at_another_offset(registration: Service) -> None:
    svc = registration
    msg = register_unit_msg()
    raw = to_bytes(msg)
    await svc.publish(raw, INBOUND, partition=0, key=b"QN-KDC-001")
    outbox_before = await svc.outbox()
    inbox_before = await svc.inbox()
    [unit_before] = await svc.rows(registration_orm.units)

    # the same record again (a redelivery after a crash before the offset commit)
    await svc.publish(raw, INBOUND, partition=0, key=b"QN-KDC-001")
    assert await svc.outbox() == outbox_before
    assert await svc.inbox() == inbox_before
    assert svc.stats(INBOUND)["redelivered"] == 1

    # the same bytes at another position: a replayed or re-sent message, dead-lettered
    await svc.publish(raw, INBOUND, partition=3, key=b"QN-KDC-001")
    [dl] = await dead_letters(svc)
    assert_dead_letter(
        dl,
        code="duplicate_event_id",
        original=raw,
        fragment=f"event_id {msg['event_id']} was already used",
        message_id=msg["event_id"],
    )
    assert "partition 0 offset 0" in dl["value"]["reason"]
    assert (dl["value"]["source_topic"], dl["value"]["source_partition"], dl["value"]["source_offset"]) == (INBOUND, 3, 0)
    assert dl["headers"]["x-original-partition"] == "3"
    assert dl["key"] == "QN-KDC-001"
    assert [e["event_type"] for e in await svc.events(topics.REGISTRATION_EVENTS)] == ["UnitRegistered"]
    assert await svc.rows(registration_orm.units) == [unit_before]
    inbox = await svc.inbox()
    assert inbox[f"dup:{INBOUND}:3:0"]["outcome"] == "rejected"
    assert inbox[msg["event_id"]] == inbox_before[msg["event_id"]]

    # and that copy redelivered is not dead-lettered twice
    await svc.publish(raw, INBOUND, partition=3, key=b"QN-KDC-001")
    assert len(await dead_letters(svc)) == 1


async def test_unit_year_of_an_unknown_unit_is_held_until_the_unit_is_registered(registration: Service) -> None:
    """An early arrival: the year registration overtook the unit's (another key, another
    partition). It is parked, not refused, and applied when the unit is registered."""
    svc = registration
    msg = register_year_msg()
    await svc.publish(msg, INBOUND, key=b"another-key", partition=4)
    assert await dead_letters(svc) == []
    [parked] = await svc.rows(registration_orm.infra.parked_messages)
    assert (parked["message_id"], parked["stream_id"], parked["waiting_for"]) == (msg["event_id"], "unit:QN-KDC-001", "unit")
    assert "unit QN-KDC-001 is not registered" in parked["reason"] and parked["value"] == to_bytes(msg)
    assert (await svc.inbox())[msg["event_id"]]["outcome"] == "parked"
    assert svc.stats(INBOUND)["parked"] == 1
    assert await svc.rows(registration_orm.unit_years) == []

    # a redelivery changes nothing
    await svc.publish(msg, INBOUND, key=b"another-key", partition=4)
    assert await svc.count(registration_orm.infra.parked_messages) == 1

    await svc.publish(register_unit_msg(), INBOUND)
    assert await svc.rt.parking.sweep() == 1
    assert await svc.rows(registration_orm.infra.parked_messages) == []
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["id"] == UY
    assert [e["event_type"] for e in await svc.events(topics.REGISTRATION_EVENTS)] == ["UnitRegistered", "UnitYearRegistered"]
    assert (await svc.inbox())[msg["event_id"]]["outcome"] == "applied"
    assert dict(svc.rt.parking.released) == {"applied": 1}


async def _registered(svc: Service) -> None:
    await svc.publish(register_unit_msg(), INBOUND)
    await svc.publish(register_year_msg(), INBOUND)


@pytest.mark.parametrize(
    "build,code,fragment",
    [
        (lambda: register_unit_msg(code="QN-MN-1", kind="school", school_level="preschool"), "ineligible", "preschools"),
        (
            lambda: register_unit_msg(code="QN-CQ-9", kind="agency", province_code="79", commune_code=None),
            "out_of_jurisdiction",
            "province 79",
        ),
        (lambda: register_year_msg(), "already_registered", f"unit-year {UY} is already registered"),
        (lambda: register_year_msg(year=2026, households_registered=121), "invalid_payload", "exceeds households_total"),
        (lambda: register_year_msg(year=2026, documents=[]), "invalid_payload", "registration_form"),
        (lambda: register_unit_msg(kind="commune"), "conflict", "cannot change to commune"),
        (
            lambda: message("UnitYearWithdrawalSubmitted", {"unit_year_id": UY, "reason": "x"}, key="wrong-key-0123456789abcdef"),
            "bad_signature",
            SENDER,
        ),
    ],
)
async def test_refusals_change_no_state(registration: Service, build: Any, code: str, fragment: str) -> None:
    svc = registration
    await _registered(svc)
    units_before = await svc.rows(registration_orm.units)
    years_before = await svc.rows(registration_orm.unit_years)
    events_before = await svc.events(topics.REGISTRATION_EVENTS)
    msg = build()
    await svc.publish(msg, INBOUND, partition=5)
    [dl] = await dead_letters(svc)
    assert_dead_letter(dl, code=code, original=to_bytes(msg), fragment=fragment, message_id=msg["event_id"])
    assert await svc.rows(registration_orm.units) == units_before
    assert await svc.rows(registration_orm.unit_years) == years_before
    assert await svc.events(topics.REGISTRATION_EVENTS) == events_before


async def test_the_gatekeeper_dead_letters_unreadable_records(registration: Service) -> None:
    svc = registration
    await svc.publish(b"\x00not json", INBOUND, partition=4, key=b"k")
    await svc.publish(b'{"event_type": "UnitDeleted"}', INBOUND, partition=5)
    dls = await dead_letters(svc)
    assert [d["value"]["error_code"] for d in dls] == ["bad_json", "unknown_event_type"]
    assert dls[0]["value"]["message_id"] == f"pos:{INBOUND}:4:0"
    assert dls[0]["key"] == "k"
    assert set(await svc.inbox()) == {f"pos:{INBOUND}:4:0", f"pos:{INBOUND}:5:0"}


async def test_messages_of_other_services_are_not_touched(registration: Service) -> None:
    svc = registration
    await svc.publish(
        message(
            "SelfAssessmentSubmitted",
            {"unit_year_id": UY, "criteria": all_criteria("residential_area"), "meeting_date": "2025-10-01"},
        ),
        INBOUND,
    )
    await svc.publish(
        message("ReviewDecisionSubmitted", {"unit_year_id": UY, "level": "commune", "decision": "maybe", "decided_by": "x"}),
        INBOUND,
        partition=1,
    )
    assert await svc.inbox() == {}
    assert await svc.outbox() == []


async def test_a_batch_with_a_rejected_record_keeps_the_others(registration: Service) -> None:
    """Straight through the batch processor with real, distinct offsets (one transaction)."""
    svc = registration
    good_unit, bad_year, good_year = (
        register_unit_msg(),
        register_unit_msg(code="QN-MN-1", kind="school", school_level="preschool"),
        register_year_msg(),
    )
    records = [
        Received(topic=INBOUND, partition=0, offset=10 + i, key=b"QN-KDC-001", value=to_bytes(m))
        for i, m in enumerate((good_unit, bad_year, good_year))
    ]
    await svc.rt.processors[INBOUND].process(records)
    inbox = await svc.inbox()
    assert {k: (v["outcome"], v["offset"]) for k, v in inbox.items()} == {
        good_unit["event_id"]: ("applied", 10),
        bad_year["event_id"]: ("rejected", 11),
        good_year["event_id"]: ("applied", 12),
    }
    assert [e["event_type"] for e in await svc.events(topics.REGISTRATION_EVENTS)] == ["UnitRegistered", "UnitYearRegistered"]
    [dl] = await dead_letters(svc)
    assert dl["value"]["source_offset"] == 11 and dl["value"]["error_code"] == "ineligible"

    # the whole batch redelivered: nothing happens twice
    await svc.rt.processors[INBOUND].process(records)
    assert len(await svc.outbox()) == 3
    assert svc.stats(INBOUND)["redelivered"] == 3


async def test_approval_read_model_blocks_a_late_withdrawal(registration: Service) -> None:
    svc = registration
    await _registered(svc)
    approval = Stream("approval", UY)
    await svc.publish_event(
        approval.next("ApprovalCaseOpened", {"unit_year_id": UY, "state": "registered"}), topics.APPROVAL_EVENTS
    )
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["approval_state"] == "registered"
    await svc.publish_event(
        approval.next("UnitYearRecognized", {"unit_year_id": UY, "state": "recognized"}), topics.APPROVAL_EVENTS
    )
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["approval_state"] == "recognized"

    msg = message("UnitYearWithdrawalSubmitted", {"unit_year_id": UY, "reason": "muộn"})
    await svc.publish(msg, INBOUND)
    [dl] = await dead_letters(svc)
    assert dl["value"]["error_code"] == "illegal_transition" and "already recognized" in dl["value"]["reason"]
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["state"] == "registered"


async def test_a_tampered_event_is_dead_lettered_on_its_own_dlq(registration: Service) -> None:
    svc = registration
    await _registered(svc)
    env = Stream("approval", UY).next("UnitYearRecognized", {"unit_year_id": UY, "state": "recognized"})
    env["payload"]["state"] = "revoked"
    await svc.publish_event(env, topics.APPROVAL_EVENTS)
    [dl] = await dead_letters(svc, topics.dlq(topics.APPROVAL_EVENTS))
    assert dl["value"]["error_code"] == "bad_hash" and env["event_id"] in dl["value"]["reason"]
    [uy] = await svc.rows(registration_orm.unit_years)
    assert uy["approval_state"] is None


async def test_event_types_not_meant_for_the_service_are_skipped(registration: Service) -> None:
    svc = registration
    env = Stream("approval", UY).next("SomethingElseHappened", {"unit_year_id": UY, "state": "x"})
    await svc.publish_event(env, topics.APPROVAL_EVENTS)
    assert await svc.inbox() == {}


# === assessment ===============================================================================
def registered_event(
    stream: Stream, kind: str = "residential_area", *, households: tuple[int, int] = (120, 120), **kw: Any
) -> dict[str, Any]:
    u = unit(kind=kind, **kw)
    total, registered = households
    return stream.next(
        "UnitYearRegistered",
        {
            "unit_year_id": stream.unit_year_id,
            "year": 2025,
            "unit": u,
            "documents": [FORM],
            "households_total": total,
            "households_registered": registered,
        },
    )


def self_assessment_msg(**kw: Any) -> dict[str, Any]:
    payload = {"unit_year_id": UY, "criteria": all_criteria("residential_area"), "meeting_date": "2025-10-20", "score": 96.0}
    return message("SelfAssessmentSubmitted", {**payload, **kw})


async def test_assessment_path(assessment: Service) -> None:
    svc = assessment
    reg = Stream("registration", UY, correlation_id="hồ-sơ-1")
    reg_event = registered_event(reg)
    await svc.publish_event(reg_event, topics.REGISTRATION_EVENTS)

    [case] = await svc.rows(assessment_orm.cases)
    assert case["state"] == "awaiting_self_assessment" and case["catalog_ref"] == "residential_area.2021" and case["round"] == 0
    [opened] = await svc.events(topics.ASSESSMENT_EVENTS)
    assert opened["event_type"] == "AssessmentOpened"
    assert opened["payload"]["window_start"] == "2024-11-01" and opened["payload"]["window_end"] == "2025-10-31"
    assert opened["causation_id"] == reg_event["event_id"] and opened["correlation_id"] == "hồ-sơ-1"

    sa = self_assessment_msg(criteria=all_criteria("residential_area", unmet=("KDC-4",)))
    await svc.publish(sa, INBOUND)
    [case] = await svc.rows(assessment_orm.cases)
    assert (case["state"], case["round"], case["verdict"]) == ("self_scored", 1, "not_met")
    assert case["result"]["unmet"] == ["KDC-4"]

    # a second self-assessment during review is refused
    again = self_assessment_msg()
    await svc.publish(again, INBOUND, partition=1)
    [dl] = await dead_letters(svc)
    assert dl["value"]["error_code"] == "illegal_transition" and dl["value"]["message_id"] == again["event_id"]
    [case] = await svc.rows(assessment_orm.cases)
    assert (case["state"], case["round"]) == ("self_scored", 1)

    # returned for supplement by the approval service, then assessed again
    approval = Stream("approval", UY)
    approval.next("ApprovalCaseOpened", {"unit_year_id": UY, "state": "registered"})
    await svc.publish_event(
        approval.next(
            "UnitYearReturned",
            {"unit_year_id": UY, "level": "commune", "reasons": ["Thiếu biên bản họp"], "decided_by": "x", "state": "returned"},
        ),
        topics.APPROVAL_EVENTS,
    )
    [case] = await svc.rows(assessment_orm.cases)
    assert case["state"] == "returned"

    incomplete = self_assessment_msg(criteria=all_criteria("residential_area")[:4])
    await svc.publish(incomplete, INBOUND, partition=2)
    dls = await dead_letters(svc)
    assert dls[-1]["value"]["error_code"] == "invalid_payload" and "KDC-5" in dls[-1]["value"]["reason"]
    [case] = await svc.rows(assessment_orm.cases)
    assert (case["state"], case["round"]) == ("returned", 1)

    await svc.publish(self_assessment_msg(), INBOUND, partition=3)
    await svc.publish_event(
        approval.next(
            "UnitYearRecognized",
            {"unit_year_id": UY, "level": "commune", "decided_by": "x", "deciding_body": "y", "state": "recognized"},
        ),
        topics.APPROVAL_EVENTS,
    )
    [case] = await svc.rows(assessment_orm.cases)
    assert (case["state"], case["round"], case["verdict"]) == ("closed", 2, "met")

    events = await svc.events(topics.ASSESSMENT_EVENTS)
    assert [(e["event_type"], e["sequence"]) for e in events] == [
        ("AssessmentOpened", 1),
        ("SelfAssessmentRecorded", 2),
        ("AssessmentReopened", 3),
        ("SelfAssessmentRecorded", 4),
        ("AssessmentClosed", 5),
    ]
    verify_chain(events)
    recorded = events[1]["payload"]
    assert recorded["verdict"] == "not_met" and recorded["unmet"] == ["KDC-4"] and recorded["round"] == 1
    assert recorded["meeting_date"] == "2025-10-20" and recorded["score"] == 96.0
    by_code = {c["code"]: c for c in recorded["criteria"]}
    assert by_code["KDC-4"]["result"] == "not_met" and by_code["KDC-4"]["reason"] == "the unit assesses this criterion as not met"
    # the registration's figures are evidence: 120 of 120 households registered
    assert by_code["KDC-1"]["evidence"]["households_registered"] == 120
    assert events[3]["payload"]["verdict"] == "met" and events[3]["payload"]["unmet"] == []
    assert events[2]["payload"]["reasons"] == ["Thiếu biên bản họp"]
    assert events[4]["payload"]["outcome"] == "recognized"


async def test_the_registration_household_figures_count_as_evidence(assessment: Service) -> None:
    """118 of 120 households registered at the year registration: KDC-1 is not met (100% needed),
    even in a self-assessment that gives no evidence of its own."""
    svc = assessment
    await svc.publish_event(registered_event(Stream("registration", UY), households=(120, 118)), topics.REGISTRATION_EVENTS)
    await svc.publish(self_assessment_msg(), INBOUND)
    recorded = (await svc.events(topics.ASSESSMENT_EVENTS))[-1]["payload"]
    assert recorded["verdict"] == "not_met" and recorded["unmet"] == ["KDC-1"]
    kdc1 = recorded["criteria"][0]
    assert kdc1["result"] == "not_met" and "118/120 = 98.33%, below 100%" in kdc1["reason"]


async def test_assessment_refuses_an_out_of_jurisdiction_sender(assessment: Service) -> None:
    svc = assessment
    await svc.publish_event(
        registered_event(Stream("registration", UY), province_code="79", commune_code="79001"), topics.REGISTRATION_EVENTS
    )
    await svc.publish(self_assessment_msg(), INBOUND)
    [dl] = await dead_letters(svc)
    assert dl["value"]["error_code"] == "out_of_jurisdiction" and "province 79" in dl["value"]["reason"]
    [case] = await svc.rows(assessment_orm.cases)
    assert case["state"] == "awaiting_self_assessment"


async def test_a_self_assessment_before_the_registration_is_held_then_applied(assessment: Service) -> None:
    svc = assessment
    msg = self_assessment_msg()
    await svc.publish(msg, INBOUND)
    assert await dead_letters(svc) == []
    assert await svc.rows(assessment_orm.cases) == []
    [parked] = await svc.rows(assessment_orm.infra.parked_messages)
    assert (parked["stream_id"], parked["waiting_for"]) == (UY, "unit_year")
    assert svc.rt.parking.sweep_interval_s == 5.0 and await svc.rt.parking.sweep() == 0  # not due yet

    await svc.publish_event(registered_event(Stream("registration", UY)), topics.REGISTRATION_EVENTS)
    assert await svc.rt.parking.sweep() == 1
    [case] = await svc.rows(assessment_orm.cases)
    assert case["state"] == "self_scored"
    events = await svc.events(topics.ASSESSMENT_EVENTS)
    assert [e["event_type"] for e in events] == ["AssessmentOpened", "SelfAssessmentRecorded"]
    assert events[1]["causation_id"] == msg["event_id"]
    assert (await svc.inbox())[msg["event_id"]]["outcome"] == "applied"
    assert await svc.rows(assessment_orm.infra.parked_messages) == []


async def test_an_early_arrival_whose_unit_year_never_comes_is_dead_lettered_after_the_ttl(assessment: Service) -> None:
    svc = assessment
    msg = self_assessment_msg()
    await svc.publish(msg, INBOUND)
    [parked] = await svc.rows(assessment_orm.infra.parked_messages)
    later = parked["next_try_at"].replace(tzinfo=UTC) + timedelta(seconds=1)
    assert await svc.rt.parking.sweep(now=later) == 1  # retried: still unknown, parked again
    [again] = await svc.rows(assessment_orm.infra.parked_messages)
    assert again["attempts"] == 1 and again["next_try_at"] > parked["next_try_at"]
    assert await dead_letters(svc) == []

    expiry = parked["expires_at"].replace(tzinfo=UTC) + timedelta(seconds=1)
    assert await svc.rt.parking.sweep(now=expiry) == 1
    [dl] = await dead_letters(svc)
    assert_dead_letter(
        dl, code="expired_waiting_for_unit_year", original=to_bytes(msg), fragment="held 3600 s", message_id=msg["event_id"]
    )
    assert f"unit-year {UY} is not registered" in dl["value"]["reason"]
    assert (dl["value"]["source_topic"], dl["value"]["service"]) == (INBOUND, "assessment")
    assert await svc.rows(assessment_orm.infra.parked_messages) == []
    assert (await svc.inbox())[msg["event_id"]]["outcome"] == "rejected"
    assert dict(svc.rt.parking.released) == {"expired_waiting_for_unit_year": 1}
    assert await svc.rows(assessment_orm.cases) == []


async def test_a_registration_event_redelivered_at_another_offset_opens_one_case(assessment: Service) -> None:
    svc = assessment
    env = registered_event(Stream("registration", UY))
    await svc.publish_event(env, topics.REGISTRATION_EVENTS, partition=0)
    await svc.publish_event(env, topics.REGISTRATION_EVENTS, partition=2)
    assert len(await svc.rows(assessment_orm.cases)) == 1
    assert [e["event_type"] for e in await svc.events(topics.ASSESSMENT_EVENTS)] == ["AssessmentOpened"]
    assert await dead_letters(svc, topics.dlq(topics.REGISTRATION_EVENTS)) == []


# === approval =================================================================================
def decision_msg(level: str, decision: str = "pass", **kw: Any) -> dict[str, Any]:
    payload = {"unit_year_id": UY, "level": level, "decision": decision, "decided_by": f"cán bộ {level}", **kw}
    return message("ReviewDecisionSubmitted", payload)


async def test_approval_path(approval: Service) -> None:
    svc = approval
    ass = Stream("assessment", UY, correlation_id="hồ-sơ-1")
    u = unit()
    opened = ass.next(
        "AssessmentOpened",
        {
            "unit_year_id": UY,
            "year": 2025,
            "unit": u,
            "window_start": "2024-11-01",
            "window_end": "2025-10-31",
            "criteria_catalog": "residential_area.2021",
        },
    )
    await svc.publish_event(opened, topics.ASSESSMENT_EVENTS)
    [case] = await svc.rows(approval_orm.cases)
    assert case["state"] == "registered" and case["chain_profile"] == "2025" and case["deadline"] == date(2025, 11, 15)
    assert [(s["level"], s["role"]) for s in case["chain"]] == [("commune", "review"), ("commune", "decide")]

    # a decision before any self-assessment
    early = decision_msg("commune")
    await svc.publish(early, INBOUND)
    [dl] = await dead_letters(svc)
    assert dl["value"]["error_code"] == "illegal_transition" and "not been self-assessed" in dl["value"]["reason"]

    recorded = ass.next(
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
    )
    await svc.publish_event(recorded, topics.ASSESSMENT_EVENTS)
    await svc.publish(decision_msg("province"), INBOUND, partition=1)  # wrong level
    await svc.publish(decision_msg("commune"), INBOUND, partition=2)
    await svc.publish(
        decision_msg("commune", decision_no="QĐ-15", certificate_no="GCN-7", decided_on="2025-11-10"), INBOUND, partition=3
    )

    dls = await dead_letters(svc)
    assert [d["value"]["error_code"] for d in dls] == ["illegal_transition", "wrong_level"]
    [case] = await svc.rows(approval_orm.cases)
    assert (case["state"], case["pending_level"], case["round"], case["verdict"]) == ("recognized", None, 1, "met")
    assert [(d["role"], d["decision"]) for d in case["decisions"]] == [("review", "pass"), ("decide", "pass")]
    assert case["version"] == 4  # opened, self-scored, reviewed, recognised

    events = await svc.events(topics.APPROVAL_EVENTS)
    assert [(e["event_type"], e["sequence"], e["payload"]["state"]) for e in events] == [
        ("ApprovalCaseOpened", 1, "registered"),
        ("UnitYearSelfScored", 2, "self_scored"),
        ("UnitYearReviewed", 3, "commune_reviewed"),
        ("UnitYearRecognized", 4, "recognized"),
    ]
    verify_chain(events)
    assert events[0]["causation_id"] == opened["event_id"] and events[0]["correlation_id"] == "hồ-sơ-1"
    assert events[1]["causation_id"] == recorded["event_id"]
    rec = events[3]["payload"]
    assert (rec["deciding_body"], rec["decision_no"], rec["certificate_no"], rec["decided_on"]) == (
        "Chủ tịch UBND xã",
        "QĐ-15",
        "GCN-7",
        "2025-11-10",
    )

    # the audit history holds the incoming and the outgoing events of the unit-year, once each
    history = await svc.rows(approval_orm.history)
    assert {h["event_id"] for h in history} == {opened["event_id"], recorded["event_id"], *(e["event_id"] for e in events)}
    assert {h["topic"] for h in history} == {topics.ASSESSMENT_EVENTS, topics.APPROVAL_EVENTS}
    # an incoming event is kept as its record's bytes, an outgoing one as built: both read back
    # as the envelopes published
    kept = {h["event_id"]: h["envelope"] for h in history}
    assert kept[opened["event_id"]] == opened and kept[recorded["event_id"]] == recorded
    assert [kept[e["event_id"]] for e in events] == events


async def test_approval_refuses_to_pass_a_not_met_verdict_and_takes_a_rejection(approval: Service) -> None:
    svc = approval
    ass = Stream("assessment", UY)
    u = unit(code="QN-CQ-1", kind="agency", managing_level="district", commune_code="51001")
    await svc.publish_event(
        ass.next(
            "AssessmentOpened",
            {
                "unit_year_id": UY,
                "year": 2024,
                "unit": u,
                "window_start": "2023-11-16",
                "window_end": "2024-11-15",
                "criteria_catalog": "agency.2021",
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
                "year": 2024,
                "meeting_date": "2024-11-01",
                "criteria": [],
                "verdict": "not_met",
                "unmet": ["CQ-3"],
            },
        ),
        topics.ASSESSMENT_EVENTS,
    )
    # a district-managed agency is appraised at district level (2021 profile)
    await svc.publish(decision_msg("district"), INBOUND)
    await svc.publish(decision_msg("district", "reject", reasons=["Để xảy ra vi phạm bí mật nhà nước"]), INBOUND, partition=1)
    [dl] = await dead_letters(svc)
    assert dl["value"]["error_code"] == "criteria_not_met" and "CQ-3" in dl["value"]["reason"]
    [case] = await svc.rows(approval_orm.cases)
    assert case["state"] == "not_recognized" and case["chain_profile"] == "2021" and case["deadline"] == date(2024, 11, 20)
    last = (await svc.events(topics.APPROVAL_EVENTS))[-1]
    assert last["event_type"] == "UnitYearNotRecognized" and last["payload"]["reasons"] == ["Để xảy ra vi phạm bí mật nhà nước"]


async def test_a_withdrawal_closes_the_approval_case(approval: Service) -> None:
    svc = approval
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
    closed = ass.next("AssessmentClosed", {"unit_year_id": UY, "outcome": "withdrawn"})
    await svc.publish_event(closed, topics.ASSESSMENT_EVENTS)
    await svc.publish_event(closed, topics.ASSESSMENT_EVENTS, partition=4)  # a copy changes nothing
    [case] = await svc.rows(approval_orm.cases)
    assert case["state"] == "withdrawn"
    assert [e["event_type"] for e in await svc.events(topics.APPROVAL_EVENTS)] == ["ApprovalCaseOpened", "ApprovalCaseWithdrawn"]


async def test_a_self_assessment_for_an_unknown_case_is_dead_lettered(approval: Service) -> None:
    svc = approval
    env = Stream("assessment", UY).next(
        "SelfAssessmentRecorded",
        {
            "unit_year_id": UY,
            "round": 1,
            "unit": unit(),
            "year": 2025,
            "meeting_date": "2025-10-20",
            "criteria": [],
            "verdict": "met",
        },
    )
    await svc.publish_event(env, topics.ASSESSMENT_EVENTS)
    [dl] = await dead_letters(svc, topics.dlq(topics.ASSESSMENT_EVENTS))
    assert dl["value"]["error_code"] == "unknown_unit_year"
    assert json.loads(dl["value"]["original"]["data"])["event_id"] == env["event_id"]
    assert await svc.rows(approval_orm.cases) == []
    # the rejected event leaves no trace in the audit history either
    assert await svc.rows(approval_orm.history) == []


# === poison messages ===========================================================================
async def test_a_poison_event_is_retried_a_bounded_number_of_times_then_dead_lettered(assessment: Service) -> None:
    """A correctly hashed event the handler cannot apply must not block its partition."""
    svc = assessment
    good_a = registered_event(Stream("registration", "QN-A:2025"))
    poison = Stream("registration", "QN-B:2025").next(
        "UnitYearRegistered", {"unit_year_id": "QN-B:2025", "year": 2025}
    )  # no unit
    good_c = registered_event(Stream("registration", "QN-C:2025"))
    records = [
        Received(
            topic=topics.REGISTRATION_EVENTS,
            partition=2,
            offset=40 + i,
            key=env["unit_year_id"].encode(),
            value=to_bytes(env),
            headers={"event_type": b"UnitYearRegistered"},
        )
        for i, env in enumerate((good_a, poison, good_c))
    ]
    await svc.rt.processors[topics.REGISTRATION_EVENTS].process(records)

    assert sorted(c["unit_year_id"] for c in await svc.rows(assessment_orm.cases)) == ["QN-A:2025", "QN-C:2025"]
    [dl] = await dead_letters(svc, topics.dlq(topics.REGISTRATION_EVENTS))
    body = dl["value"]
    assert body["error_code"] == "processing_failed"
    assert body["reason"].startswith("processing failed 2 times: KeyError")
    assert (body["source_partition"], body["source_offset"], body["message_id"]) == (2, 41, poison["event_id"])
    inbox = await svc.inbox()
    assert inbox[poison["event_id"]]["outcome"] == "failed"
    assert inbox[good_a["event_id"]]["outcome"] == inbox[good_c["event_id"]]["outcome"] == "applied"

    # redelivered after the dead letter: skipped, not retried again
    await svc.rt.processors[topics.REGISTRATION_EVENTS].process(records[1:2])
    assert len(await dead_letters(svc, topics.dlq(topics.REGISTRATION_EVENTS))) == 1


async def test_approval_without_a_configured_chain_is_dead_lettered(approval: Service) -> None:
    svc = approval
    env = Stream("assessment", "QN-KDC-001:2021").next(
        "AssessmentOpened",
        {
            "unit_year_id": "QN-KDC-001:2021",
            "year": 2021,
            "unit": unit(),
            "window_start": "2020-11-01",
            "window_end": "2021-10-31",
            "criteria_catalog": "residential_area.2021",
        },
    )
    await svc.publish_event(env, topics.ASSESSMENT_EVENTS)
    [dl] = await dead_letters(svc, topics.dlq(topics.ASSESSMENT_EVENTS))
    assert dl["value"]["error_code"] == "no_chain" and "2021" in dl["value"]["reason"]
    assert await svc.rows(approval_orm.cases) == []
    assert await svc.rows(approval_orm.history) == []
    assert await svc.outbox(topics.APPROVAL_EVENTS) == []


async def test_a_withdrawal_after_recognition_is_refused_by_approval(approval: Service) -> None:
    svc = approval
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
    await svc.publish(decision_msg("commune"), INBOUND)
    await svc.publish(decision_msg("commune"), INBOUND, partition=1)
    await svc.publish_event(ass.next("AssessmentClosed", {"unit_year_id": UY, "outcome": "withdrawn"}), topics.ASSESSMENT_EVENTS)
    [dl] = await dead_letters(svc, topics.dlq(topics.ASSESSMENT_EVENTS))
    assert dl["value"]["error_code"] == "illegal_transition" and "recognized" in dl["value"]["reason"]
    [case] = await svc.rows(approval_orm.cases)
    assert case["state"] == "recognized"


async def test_parked_messages_are_shown_by_ready_and_metrics(assessment: Service) -> None:
    import socket

    import httpx
    from fastapi import APIRouter

    from shared.infra.http import service_app

    svc = assessment
    await svc.publish(self_assessment_msg(), INBOUND)
    with socket.socket() as sock:  # a closed port for the readiness probe's broker
        sock.bind(("127.0.0.1", 0))
        svc.rt.settings.kafka_bootstrap = f"127.0.0.1:{sock.getsockname()[1]}"
    svc.rt.settings.ready_broker_timeout_s = 0.5
    app = service_app(svc.rt, title="t", description="t", build_router=lambda _rt, _actor: APIRouter())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = (await client.get("/ready")).json()
        metrics = (await client.get("/metrics")).text
    assert ready["parked_messages"] == 1 and ready["parked_oldest_age_s"] is not None
    assert ready["consumers"][INBOUND]["parked"] == 1
    assert "antt_parked_messages 1.0" in metrics
    assert 'antt_consumer_records_total{outcome="parked",service="assessment",topic="antt.inbound.v1"} 1.0' in metrics
