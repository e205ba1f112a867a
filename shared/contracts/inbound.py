"""Inbound messages: what other e-government systems publish to ``antt.inbound.v1``.

A message is one JSON object (UTF-8)::

    {
      "event_id": "<uuid>",               # unique per message; a repeat is rejected
      "event_type": "UnitRegistrationSubmitted",
      "schema_version": 1,
      "source_system": "dvc-quang-ngai",  # a sender known to configuration
      "occurred_at": "2025-02-10T08:00:00Z",
      "actor": {"id": "...", "role": "...", "jurisdiction": "province:51"},
      "correlation_id": "<optional>",
      "payload": {...},
      "signature": "<hex HMAC-SHA256>"
    }

``signature`` is HMAC-SHA256, keyed with the sender's key, over the canonical JSON (sorted
keys, no spaces, UTF-8) of the whole message without ``signature``. The Kafka key should be
the unit code, so that all the messages of one unit stay in order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.canonical import canonical_json, hmac_sha256_hex
from shared.contracts.envelope import Actor


class UnitKind(StrEnum):
    residential_area = "residential_area"  # khu dân cư
    commune = "commune"  # xã, phường, thị trấn, đặc khu
    agency = "agency"  # cơ quan
    enterprise = "enterprise"  # doanh nghiệp
    school = "school"  # cơ sở giáo dục


class Level(StrEnum):
    commune = "commune"
    district = "district"
    province = "province"
    ministry = "ministry"


class Decision(StrEnum):
    pass_ = "pass"
    return_ = "return"
    reject = "reject"


UNIT_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
UNIT_YEAR_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}:(19|20)[0-9]{2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Unit(_Strict):
    code: str = Field(pattern=UNIT_CODE, description="Stable unit code, unique nationally.")
    name: str = Field(min_length=1, max_length=300)
    kind: UnitKind
    province_code: str = Field(min_length=1, max_length=16)
    commune_code: str | None = Field(
        default=None,
        max_length=16,
        description="The commune the unit belongs to (required for residential areas).",
    )
    district_code: str | None = Field(default=None, max_length=16)
    managing_level: Level
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="Facts used by eligibility rules, e.g. armed_forces, enterprise_size, school_level.",
    )


class Document(_Strict):
    kind: str = Field(min_length=1, max_length=100)
    ref: str = Field(min_length=1, max_length=300)
    issued_on: date | None = None


class UnitRegistrationSubmitted(_Strict):
    unit: Unit


class UnitYearRegistrationSubmitted(_Strict):
    unit_code: str = Field(pattern=UNIT_CODE)
    year: int = Field(ge=2022, le=2100)
    documents: list[Document] = Field(default_factory=list)
    households_total: int | None = Field(default=None, ge=0)
    households_registered: int | None = Field(default=None, ge=0)


class UnitYearWithdrawalSubmitted(_Strict):
    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    reason: str = Field(min_length=1, max_length=2000)


class CriterionResult(_Strict):
    code: str = Field(min_length=1, max_length=32)
    met: bool
    note: str | None = Field(default=None, max_length=4000)


class SelfAssessmentSubmitted(_Strict):
    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    score: float | None = Field(default=None, ge=0, le=100, description="Self-score on a 100-point sheet, where the province uses one.")


class ReviewDecisionSubmitted(_Strict):
    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    level: Level
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = Field(default=None, max_length=100)
    decided_on: date | None = None
    certificate_no: str | None = Field(default=None, max_length=100)

    @field_validator("reasons")
    @classmethod
    def _reasons_not_blank(cls, v: list[str]) -> list[str]:
        if any(not r.strip() for r in v):
            raise ValueError("reasons must not contain blank entries")
        return v


class Severity(StrEnum):
    minor = "minor"  # ít nghiêm trọng
    serious = "serious"  # nghiêm trọng
    very_serious = "very_serious"  # rất nghiêm trọng
    especially_serious = "especially_serious"  # đặc biệt nghiêm trọng


class IncidentReported(_Strict):
    """An incident reported by the police or another system (vụ việc, sự cố).

    It counts in the assessment window that contains ``occurred_on``, whatever the date it
    was reported. ``category`` names what happened; each unit kind's criteria catalog maps
    categories to its event criteria (a category with no criterion for the kind has no effect).
    """

    incident_id: str = Field(min_length=1, max_length=100, description="The reporting system's id of the incident.")
    unit_code: str = Field(pattern=UNIT_CODE)
    occurred_on: date
    reported_on: date | None = None
    category: str = Field(
        pattern=r"^[a-z][a-z0-9_]{1,63}$",
        description="e.g. serious_crime, illegal_religion, mass_complaint, strike, state_secret_breach, "
        "fire_explosion, work_accident, school_violence, staff_discipline, social_order_hotspot",
    )
    severity: Severity = Severity.serious
    force_majeure: bool = Field(default=False, description="bất khả kháng")
    detected_promptly: bool = Field(default=False, description="kịp thời phát hiện")
    mitigated: bool = Field(default=False, description="sử dụng đồng bộ các biện pháp giảm thiểu hậu quả")
    reported_promptly: bool = Field(default=False, description="báo cáo ngay cấp có thẩm quyền")
    description: str | None = Field(default=None, max_length=4000)
    reported_by: str = Field(min_length=1, max_length=300)


class RecognitionRevocationSubmitted(_Strict):
    """An explicit decision to revoke a recognition (thu hồi), e.g. after a late-reported incident."""

    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    reasons: list[str] = Field(min_length=1)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = Field(default=None, max_length=100)
    decided_on: date | None = None


#: inbound event type -> (payload model, owning service)
INBOUND_TYPES: dict[str, tuple[type[BaseModel], str]] = {
    "UnitRegistrationSubmitted": (UnitRegistrationSubmitted, "registration"),
    "UnitYearRegistrationSubmitted": (UnitYearRegistrationSubmitted, "registration"),
    "UnitYearWithdrawalSubmitted": (UnitYearWithdrawalSubmitted, "registration"),
    "SelfAssessmentSubmitted": (SelfAssessmentSubmitted, "assessment"),
    "ReviewDecisionSubmitted": (ReviewDecisionSubmitted, "approval"),
    "IncidentReported": (IncidentReported, "assessment"),
    "RecognitionRevocationSubmitted": (RecognitionRevocationSubmitted, "approval"),
}

#: the service that dead-letters inbound messages no service can claim (bad JSON, unknown type)
GATEKEEPER = "registration"


class InboundMessage(_Strict):
    event_id: uuid.UUID
    event_type: str
    schema_version: Literal[1] = 1
    source_system: str = Field(min_length=1, max_length=100)
    occurred_at: datetime | None = None
    actor: Actor
    correlation_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any]
    signature: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


def signing_bytes(message: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in message.items() if k != "signature"})


def sign(message: dict[str, Any], key: str) -> dict[str, Any]:
    """Return ``message`` with its ``signature`` set (used by senders and tests)."""
    signed = {k: v for k, v in message.items() if k != "signature"}
    signed["signature"] = hmac_sha256_hex(key, signing_bytes(signed))
    return signed


def new_message(
    event_type: str,
    payload: dict[str, Any],
    *,
    source_system: str,
    key: str,
    actor: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build and sign an inbound message (for senders, the demo and the tests)."""
    return sign(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "event_type": event_type,
            "schema_version": 1,
            "source_system": source_system,
            "occurred_at": datetime.now().astimezone().isoformat(),
            "actor": actor or {"id": source_system, "role": "system", "jurisdiction": "*"},
            "correlation_id": correlation_id,
            "payload": payload,
        },
        key,
    )
