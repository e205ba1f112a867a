"""The inbound gate: which service claims an inbound record, and why a record is rejected."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.contracts import inbound
from shared.contracts.inbound import INBOUND_TYPES, sign
from shared.infra.consumer import Claim
from shared.infra.inbound import Command, InboundGate, in_jurisdiction
from tests.unit.builders import COMMUNE, NATIONAL, OFFICER, SENDER, SENDERS, all_criteria, message, received, unit

SERVICES = ("registration", "assessment", "approval")
UY = "QN-KDC-001:2025"


@pytest.fixture(scope="module")
def gates() -> dict[str, InboundGate]:
    return {s: InboundGate(s, SENDERS) for s in SERVICES}


def review(**overrides: Any) -> dict[str, Any]:
    return {"unit_year_id": UY, "level": "commune", "decision": "pass", "decided_by": "Công an xã Phú Đình", **overrides}


VALID: list[tuple[str, dict[str, Any], str, type]] = [
    ("UnitRegistrationSubmitted", {"unit": unit()}, "registration", inbound.UnitRegistrationSubmitted),
    (
        "UnitYearRegistrationSubmitted",
        {
            "unit_code": "QN-KDC-001",
            "year": 2025,
            "documents": [{"kind": "registration_form", "ref": "BĐK-01/2025"}],
            "households_total": 120,
            "households_registered": 120,
        },
        "registration",
        inbound.UnitYearRegistrationSubmitted,
    ),
    (
        "UnitYearWithdrawalSubmitted",
        {"unit_year_id": UY, "reason": "sáp nhập tổ dân phố"},
        "registration",
        inbound.UnitYearWithdrawalSubmitted,
    ),
    (
        "SelfAssessmentSubmitted",
        {"unit_year_id": UY, "criteria": all_criteria("residential_area"), "meeting_date": "2025-10-20", "score": 96},
        "assessment",
        inbound.SelfAssessmentSubmitted,
    ),
    ("ReviewDecisionSubmitted", review(), "approval", inbound.ReviewDecisionSubmitted),
    (
        "IncidentReported",
        {
            "incident_id": "CA-51-2025-0042",
            "unit_code": "QN-KDC-001",
            "occurred_on": "2025-06-03",
            "category": "serious_crime",
            "severity": "serious",
            "detected_promptly": True,
            "reported_by": "Công an tỉnh Quảng Ngãi",
        },
        "assessment",
        inbound.IncidentReported,
    ),
    (
        "RecognitionRevocationSubmitted",
        {
            "unit_year_id": UY,
            "reasons": ["Vụ án nghiêm trọng xảy ra 03/6/2025, báo cáo sau khi công nhận"],
            "decided_by": "Chủ tịch UBND xã",
        },
        "approval",
        inbound.RecognitionRevocationSubmitted,
    ),
    (
        "MovementClassificationSubmitted",
        {"unit_year_id": UY, "rating": "xuat_sac", "classified_by": "Ban Chỉ đạo tỉnh"},
        "assessment",
        inbound.MovementClassificationSubmitted,
    ),
    (
        "ExemplaryDecisionSubmitted",
        {"unit_year_id": UY, "level": "province", "step": "review", "decision": "pass", "decided_by": "Ban Chỉ đạo tỉnh"},
        "approval",
        inbound.ExemplaryDecisionSubmitted,
    ),
    (
        "ExemplaryRevocationSubmitted",
        {"unit_year_id": UY, "reasons": ["Kỷ luật khiển trách, báo cáo sau khi công nhận"], "decided_by": "Chủ tịch UBND tỉnh"},
        "approval",
        inbound.ExemplaryRevocationSubmitted,
    ),
    (
        "ExemplaryProposalSubmitted",
        {"unit_year_id": UY, "proposed_by": "Giám đốc Sở"},
        "assessment",
        inbound.ExemplaryProposalSubmitted,
    ),
    (
        "ExemplarySelfAssessmentSubmitted",
        {
            "unit_year_id": UY,
            "criteria": [{"code": "DH-1", "met": True}],
            "meeting_date": "2025-11-20",
            "evidence": {"sanctions": [{"group": "staff", "sanction": "khien_trach"}], "welfare_activities_count": 2},
        },
        "assessment",
        inbound.ExemplarySelfAssessmentSubmitted,
    ),
]


def test_every_inbound_type_is_covered_here() -> None:
    assert {v[0] for v in VALID} == set(INBOUND_TYPES)


@pytest.mark.parametrize("event_type,payload,owner,model", VALID, ids=[v[0] for v in VALID])
def test_a_valid_message_is_claimed_by_its_owner_only(
    gates: dict[str, InboundGate], event_type: str, payload: dict[str, Any], owner: str, model: type
) -> None:
    msg = message(event_type, payload, correlation_id="hồ-sơ-42")
    rec = received(msg, partition=2, offset=17)
    for service, gate in gates.items():
        claim = gate.claim(rec)
        if service != owner:
            assert claim is None, f"{service} must ignore {event_type}"
            continue
        assert isinstance(claim, Claim)
        assert claim.rejection is None
        assert claim.message_id == msg["event_id"]
        assert claim.duplicate_is_error is True
        cmd = claim.parsed
        assert isinstance(cmd, Command)
        assert cmd.event_type == event_type
        assert cmd.message_id == msg["event_id"]
        assert isinstance(cmd.payload, model)
        assert cmd.source == SENDER
        assert cmd.jurisdiction == ["province:51"]  # the sender's, not what the actor claims
        assert cmd.actor_dict() == OFFICER
        assert cmd.correlation_id == "hồ-sơ-42"


def test_correlation_id_defaults_to_the_message_id(gates: dict[str, InboundGate]) -> None:
    msg = message("UnitRegistrationSubmitted", {"unit": unit()})
    claim = gates["registration"].claim(received(msg))
    assert claim is not None and claim.parsed.correlation_id == msg["event_id"]


def test_an_upper_case_signature_verifies(gates: dict[str, InboundGate]) -> None:
    msg = message("UnitRegistrationSubmitted", {"unit": unit()})
    msg["signature"] = msg["signature"].upper()
    claim = gates["registration"].claim(received(msg))
    assert claim is not None and claim.rejection is None


def test_the_national_sender_gets_its_own_jurisdiction(gates: dict[str, InboundGate]) -> None:
    msg = message("UnitRegistrationSubmitted", {"unit": unit(province_code="01")}, sender=NATIONAL)
    claim = gates["registration"].claim(received(msg))
    assert claim is not None and claim.rejection is None
    assert claim.parsed.jurisdiction == ["*"]


# --- records no service can read: the gatekeeper alone dead-letters them ---------------------
UNCLAIMABLE = [
    (b"{not json", "bad_json", "not valid UTF-8 JSON"),
    (b"\xff\xfe\x00garbage", "bad_json", "not valid UTF-8 JSON"),
    (b"", "bad_json", "not valid UTF-8 JSON"),
    (b"[1, 2, 3]", "bad_json", "must be a JSON object"),
    (b'"UnitRegistrationSubmitted"', "bad_json", "must be a JSON object"),
    (b'{"payload": {}}', "unknown_event_type", "missing event_type"),
    (b'{"event_type": "UnitDeleted", "payload": {}}', "unknown_event_type", "unknown event_type 'UnitDeleted'"),
    (b'{"event_type": 42}', "unknown_event_type", "unknown event_type 42"),
    (b'{"event_type": "unitregistrationsubmitted"}', "unknown_event_type", "unknown event_type"),
]


@pytest.mark.parametrize("value,code,reason", UNCLAIMABLE)
def test_unreadable_records_are_rejected_by_the_gatekeeper_only(
    gates: dict[str, InboundGate], value: bytes, code: str, reason: str
) -> None:
    rec = received(value, partition=4, offset=99)
    assert gates["assessment"].claim(rec) is None
    assert gates["approval"].claim(rec) is None
    claim = gates["registration"].claim(rec)
    assert claim is not None
    assert claim.parsed is None
    assert claim.rejection is not None
    assert claim.rejection.code == code
    assert reason in claim.rejection.reason
    # no event id can be trusted: the record is known by its position
    assert claim.message_id == "pos:antt.inbound.v1:4:99"


def test_unknown_type_reason_lists_the_accepted_types(gates: dict[str, InboundGate]) -> None:
    claim = gates["registration"].claim(received(b'{"event_type": "UnitDeleted"}'))
    assert claim is not None and claim.rejection is not None
    for t in INBOUND_TYPES:
        assert t in claim.rejection.reason


@pytest.mark.parametrize(
    "event_id,message_id",
    [
        ("3f1c2b9e-0000-4000-8000-000000000001", "3f1c2b9e-0000-4000-8000-000000000001"),
        ("legacy-42", "legacy-42"),
        ("x" * 101, "pos:antt.inbound.v1:2:7"),  # too long to be an inbox key
        (42, "pos:antt.inbound.v1:2:7"),
        ("", "pos:antt.inbound.v1:2:7"),
    ],
)
def test_an_unknown_type_is_known_by_its_event_id_when_it_has_one(
    gates: dict[str, InboundGate], event_id: Any, message_id: str
) -> None:
    rec = received({"event_id": event_id, "event_type": "UnitDeleted"}, partition=2, offset=7)
    claim = gates["registration"].claim(rec)
    assert claim is not None and claim.rejection is not None
    assert claim.rejection.code == "unknown_event_type"
    assert claim.message_id == message_id
    assert gates["assessment"].claim(rec) is None and gates["approval"].claim(rec) is None


# --- rejections by the owning service ------------------------------------------------------
def _unknown_sender() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit()}, sender=SENDER) | {"source_system": "dvc-nowhere"}


def _unknown_sender_signed() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    m["source_system"] = "dvc-nowhere"
    return sign(m, "some-key-0123456789abcdef")


def _tampered_payload() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    m["payload"]["unit"]["province_code"] = "79"
    return m


def _tampered_actor() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    m["actor"]["jurisdiction"] = "*"
    return m


def _other_senders_key() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit()}, key=SENDERS[NATIONAL].key)


def _missing_actor() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    del m["actor"]
    return sign(m, SENDERS[SENDER].key)


def _actor_without_id() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit()}, actor={"role": "officer"})


def _bad_event_id() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit()}, event_id="not-a-uuid")


def _schema_version_2() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    m["schema_version"] = 2
    return sign(m, SENDERS[SENDER].key)


def _no_signature() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    del m["signature"]
    return m


def _unexpected_field() -> dict[str, Any]:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    m["priority"] = "high"
    return sign(m, SENDERS[SENDER].key)


def _payload_not_object() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", ["not", "an", "object"])  # type: ignore[arg-type]


def _hospital() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit(kind="hospital")})


def _bad_unit_code() -> dict[str, Any]:
    return message("UnitRegistrationSubmitted", {"unit": unit(code="QN KDC/001")})


def _year_1999() -> dict[str, Any]:
    return message("UnitYearRegistrationSubmitted", {"unit_code": "QN-KDC-001", "year": 1999})


def _negative_households() -> dict[str, Any]:
    return message("UnitYearRegistrationSubmitted", {"unit_code": "QN-KDC-001", "year": 2025, "households_total": -1})


def _withdrawal_bad_uy_id() -> dict[str, Any]:
    return message("UnitYearWithdrawalSubmitted", {"unit_year_id": "QN-KDC-001", "reason": "x"})


def _no_criteria() -> dict[str, Any]:
    return message("SelfAssessmentSubmitted", {"unit_year_id": UY, "criteria": [], "meeting_date": "2025-10-20"})


def _score_over_100() -> dict[str, Any]:
    return message(
        "SelfAssessmentSubmitted",
        {"unit_year_id": UY, "criteria": all_criteria("residential_area"), "meeting_date": "2025-10-20", "score": 101},
    )


def _decision_maybe() -> dict[str, Any]:
    return message("ReviewDecisionSubmitted", review(decision="maybe"))


def _level_hamlet() -> dict[str, Any]:
    return message("ReviewDecisionSubmitted", review(level="hamlet"))


def _blank_reason() -> dict[str, Any]:
    return message("ReviewDecisionSubmitted", review(decision="return", reasons=["thiếu biên bản", "  "]))


def _no_decided_by() -> dict[str, Any]:
    p = review()
    del p["decided_by"]
    return message("ReviewDecisionSubmitted", p)


REJECTIONS = [
    (_unknown_sender, "registration", "unknown_sender", "'dvc-nowhere'"),
    (_unknown_sender_signed, "registration", "unknown_sender", "'dvc-nowhere'"),
    (_tampered_payload, "registration", "bad_signature", f"'{SENDER}'"),
    (_tampered_actor, "registration", "bad_signature", f"'{SENDER}'"),
    (_other_senders_key, "registration", "bad_signature", f"'{SENDER}'"),
    (_missing_actor, "registration", "invalid_message", "actor: Field required"),
    (_actor_without_id, "registration", "invalid_message", "actor.id: Field required"),
    (_bad_event_id, "registration", "invalid_message", "event_id"),
    (_schema_version_2, "registration", "invalid_message", "schema_version"),
    (_no_signature, "registration", "invalid_message", "signature: Field required"),
    (_unexpected_field, "registration", "invalid_message", "priority"),
    (_payload_not_object, "registration", "invalid_message", "payload"),
    (_hospital, "registration", "invalid_payload", "payload.unit.kind"),
    (_bad_unit_code, "registration", "invalid_payload", "payload.unit.code"),
    (_year_1999, "registration", "invalid_payload", "payload.year"),
    (_negative_households, "registration", "invalid_payload", "payload.households_total"),
    (_withdrawal_bad_uy_id, "registration", "invalid_payload", "payload.unit_year_id"),
    (_no_criteria, "assessment", "invalid_payload", "payload.criteria"),
    (_score_over_100, "assessment", "invalid_payload", "payload.score"),
    (_decision_maybe, "approval", "invalid_payload", "payload.decision"),
    (_level_hamlet, "approval", "invalid_payload", "payload.level"),
    (_blank_reason, "approval", "invalid_payload", "payload.reasons"),
    (_no_decided_by, "approval", "invalid_payload", "payload.decided_by"),
]


@pytest.mark.parametrize("build,owner,code,fragment", REJECTIONS, ids=[r[0].__name__.strip("_") for r in REJECTIONS])
def test_owner_rejects_with_a_precise_reason(
    gates: dict[str, InboundGate], build: Any, owner: str, code: str, fragment: str
) -> None:
    msg = build()
    rec = received(msg, partition=1, offset=5)
    for service, gate in gates.items():
        if service != owner:
            assert gate.claim(rec) is None
    claim = gates[owner].claim(rec)
    assert claim is not None
    assert claim.parsed is None
    assert claim.rejection is not None
    assert claim.rejection.code == code, claim.rejection.reason
    assert fragment in claim.rejection.reason
    eid = msg.get("event_id")
    if code in UNAUTHENTICATED:
        # the message is known by its position: its event_id is not used up
        assert claim.message_id == "pos:antt.inbound.v1:1:5"
        assert claim.duplicate_is_error is False
    else:
        assert claim.message_id == (eid if isinstance(eid, str) else "pos:antt.inbound.v1:1:5")


UNAUTHENTICATED = {"unknown_sender", "bad_signature"}


def test_authenticated_rejections_treat_a_reused_event_id_as_an_error(gates: dict[str, InboundGate]) -> None:
    claim = gates["registration"].claim(received(_hospital()))
    assert claim is not None and claim.duplicate_is_error is True


def test_unauthenticated_rejections_leave_the_event_id_free_for_a_corrected_resend(gates: dict[str, InboundGate]) -> None:
    for build in (_unknown_sender, _tampered_payload):
        msg = build()
        claim = gates["registration"].claim(received(msg, partition=2, offset=7))
        assert claim is not None and claim.rejection is not None
        assert claim.rejection.code in UNAUTHENTICATED
        assert claim.duplicate_is_error is False
        assert claim.message_id == "pos:antt.inbound.v1:2:7" != msg["event_id"]


def test_invalid_envelope_without_event_id_is_known_by_position(gates: dict[str, InboundGate]) -> None:
    m = message("UnitRegistrationSubmitted", {"unit": unit()})
    del m["event_id"]
    claim = gates["registration"].claim(received(m, partition=3, offset=8))
    assert claim is not None and claim.rejection is not None
    assert claim.rejection.code == "invalid_message"
    assert "event_id: Field required" in claim.rejection.reason
    assert claim.message_id == "pos:antt.inbound.v1:3:8"


def test_event_id_is_normalised_to_the_uuid_form(gates: dict[str, InboundGate]) -> None:
    eid = uuid.uuid4()
    msg = message("UnitRegistrationSubmitted", {"unit": unit()}, event_id=str(eid).upper())
    claim = gates["registration"].claim(received(msg))
    assert claim is not None and claim.rejection is None
    assert claim.message_id == str(eid)


# --- jurisdiction -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "jurisdiction,province,commune,expected",
    [
        (["*"], "51", None, True),
        (["*"], None, None, True),
        (["province:51"], "51", None, True),
        (["province:51"], "51", COMMUNE, True),
        (["province:51"], "52", None, False),
        (["province:51"], None, None, False),
        (["province:5"], "51", None, False),
        (["commune:51001"], "51", "51001", True),
        (["commune:51001"], "51", "51002", False),
        (["commune:51001"], "51", None, False),
        (["province:52", "commune:51001"], "51", "51001", True),
        (["province:52", "province:51"], "51", None, True),
        ([], "51", "51001", False),
        (["ministry"], "51", None, False),
        (["51"], "51", None, False),
    ],
)
def test_in_jurisdiction(jurisdiction: list[str], province: str | None, commune: str | None, expected: bool) -> None:
    assert in_jurisdiction(jurisdiction, province_code=province, commune_code=commune) is expected


def test_a_district_may_act_for_the_units_of_its_district_only() -> None:
    """``district:D`` (the 2021 profile's district officials and systems) acts for the units of
    district D, as ``may_decide`` lets it decide at district level and below there."""
    from shared.infra.inbound import in_jurisdiction

    assert in_jurisdiction(["district:511"], province_code="51", district_code="511", commune_code="51101")
    assert not in_jurisdiction(["district:511"], province_code="51", district_code="512", commune_code="51201")
    assert not in_jurisdiction(["district:511"], province_code="51", commune_code="51101")  # a unit of no district
