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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.canonical import canonical_json, hmac_sha256_hex
from shared.contracts.envelope import Actor, new_event_id


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


class StepRole(StrEnum):
    """The kind of step of an approval chain a decision is taken at."""

    review = "review"  # thẩm định: the appraising body's review
    decide = "decide"  # công nhận: the recognising body's decision


#: The largest inbound record (its value, in bytes) the services accept: a larger one is
#: dead-lettered as ``too_large`` before it is parsed. Real messages are a few KiB; the bound
#: keeps parsing cheap and leaves room under the topic's ``max.message.bytes`` (1 MiB).
MAX_INBOUND_BYTES = 512 * 1024

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


_Count = Annotated[int, Field(ge=0)]
RuleTopic = Literal[
    "unit_protection",  # bảo vệ cơ quan, doanh nghiệp, cơ sở giáo dục
    "state_secrets",  # bảo vệ bí mật Nhà nước
    "internal_political_security",  # bảo vệ chính trị nội bộ
    "labour_safety",  # an toàn lao động
    "fire_explosion",  # phòng, chống cháy, nổ
    "environment",  # bảo vệ môi trường
    "learner_management",  # quản lý, giáo dục người học (schools)
]
Rating = Literal[
    "khong_hoan_thanh",  # không hoàn thành nhiệm vụ
    "hoan_thanh",  # hoàn thành nhiệm vụ
    "hoan_thanh_tot",  # hoàn thành tốt nhiệm vụ
    "hoan_thanh_xuat_sac",  # hoàn thành xuất sắc nhiệm vụ
    "lao_dong_tien_tien",  # danh hiệu "Tập thể lao động tiên tiến"
    "lao_dong_xuat_sac",  # danh hiệu "Tập thể lao động xuất sắc"
]
DisciplineGroup = Literal["security_force", "staff", "teachers", "learners"]


class Evidence(_Strict):
    """What the criteria are judged on (all optional; a field left out is "not stated").

    The Quarter I documents are the year registration's ``documents`` plus the
    self-assessment's ``documents`` (kinds such as ``party_resolution``, ``security_plan``,
    ``registration_form``, ``internal_rules``, ``coordination_plan``, ``meeting_minutes``,
    ``results_report``). When an ``evidence`` object is given, those documents are taken as the
    unit's whole dossier: a required Quarter I document that is not among them fails the gate.
    Without an ``evidence`` object, a criterion that needs evidence is left to the reviewer
    (needs_review, "no evidence given"), never failed for that reason alone.
    """

    has_party_organisation: bool | None = Field(
        default=None,
        description="The unit has a Party organisation (tổ chức Đảng): its resolution is then required in Quarter I.",
    )
    internal_rules: list[RuleTopic] | None = Field(
        default=None, description="The topics of the unit's internal rules (nội quy, quy định)."
    )
    households_total: _Count | None = Field(
        default=None, description="Residential areas: resident households (default: the year registration's figure)."
    )
    households_registered: _Count | None = Field(
        default=None,
        description="Residential areas: households registered to take part (default: the year registration's figure).",
    )
    staff_total: _Count | None = Field(
        default=None, description="Staff (cán bộ, công chức, viên chức, người lao động; schools: and teachers)."
    )
    staff_briefed: _Count | None = Field(
        default=None, description="Staff briefed on the rules and the criteria (được phổ biến, quán triệt)."
    )
    staff_pledged: _Count | None = Field(
        default=None, description="Staff who signed the pledge (ký cam kết), where a province sheet counts it."
    )
    learners_total: _Count | None = Field(default=None, description="Schools: learners (người học).")
    learners_briefed: _Count | None = Field(default=None, description="Schools: learners briefed on the rules and the criteria.")
    models_count: _Count | None = Field(
        default=None, description="Effective models of the movement (mô hình phong trào toàn dân bảo vệ an ninh Tổ quốc)."
    )
    security_force_rating: Rating | None = Field(
        default=None,
        description="The rating or title of the unit's security force (lực lượng nòng cốt, Công an xã, lực lượng bảo vệ).",
    )
    subunits_total: _Count | None = Field(
        default=None, description="Sub-units (phòng, ban, tổ, đội; schools: khoa, phòng, ban, tổ chuyên môn)."
    )
    subunits_titled: _Count | None = Field(
        default=None,
        description="Sub-units titled “Tập thể lao động tiên tiến” or rated “Hoàn thành tốt nhiệm vụ” or above.",
    )
    subunits_pledged: _Count | None = Field(default=None, description="Sub-units that signed the pledge (ký cam kết).")
    disciplined_members: dict[DisciplineGroup, _Count] | None = Field(
        default=None,
        description="People disciplined in the window, per group: at warning (cảnh cáo) or above; for the "
        "security force of a residential area and the commune police, any discipline.",
    )
    crimes_previous_year: _Count | None = Field(
        default=None, description="Crimes, social evils and other offences in the previous window (năm trước)."
    )
    crimes_this_year: _Count | None = Field(default=None, description="The same count in this window.")
    policy_implemented: bool | None = Field(
        default=None,
        description="The unit states it implemented the Party's and State's policy on security and order (a reviewer's call).",
    )
    coordination_with_police: bool | None = Field(
        default=None, description="The unit states it carried out its coordination plan with the police (a reviewer's call)."
    )
    coordination_with_parents: bool | None = Field(
        default=None, description="Schools: coordination with the parents' association (Ban đại diện cha mẹ học sinh)."
    )
    self_scores: dict[Annotated[str, Field(min_length=1, max_length=32)], Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None,
        description="The unit's own points per item of the province's scoring sheet (e.g. {\"I.02\": 5}); "
        "used for the sheet's manual items and recorded next to the computed points.",
    )

    @model_validator(mode="after")
    def _parts_within_totals(self) -> Evidence:
        pairs = (
            ("households_registered", "households_total"),
            ("staff_briefed", "staff_total"),
            ("staff_pledged", "staff_total"),
            ("learners_briefed", "learners_total"),
            ("subunits_titled", "subunits_total"),
            ("subunits_pledged", "subunits_total"),
        )
        for part, total in pairs:
            p, t = getattr(self, part), getattr(self, total)
            if p is not None and t is not None and p > t:
                raise ValueError(f"{part} ({p}) exceeds {total} ({t})")
        return self


class SelfAssessmentSubmitted(_Strict):
    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    score: float | None = Field(
        default=None, ge=0, le=100, description="Self-score on a 100-point sheet, where the province uses one."
    )
    evidence: Evidence | None = Field(
        default=None,
        description="What the criteria are judged on; without it each criterion that needs evidence is left to the reviewer.",
    )


class ReviewDecisionSubmitted(_Strict):
    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    level: Level
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    decided_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = Field(default=None, max_length=100)
    decided_on: date | None = None
    certificate_no: str | None = Field(default=None, max_length=100)
    step: StepRole | None = Field(
        default=None,
        description="The step this decision is for (review: thẩm định, decide: công nhận). Send it: a decision "
        "whose step is no longer the current one is refused (step_not_current) instead of acting on the next "
        "step, so a retried or duplicated decision cannot move a unit-year twice. The chain's steps are in "
        "ApprovalCaseOpened; the current one is GET /unit-years/{id} pending_step.",
    )
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="The approval case's version the decision was taken on (GET /unit-years/{id} version, the "
        "ETag): if the case has changed since, the decision is refused (version_mismatch).",
    )

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

    It counts in the assessment window that contains ``occurred_on`` (1 Nov–31 Oct for
    residential areas, 16 Nov–15 Nov otherwise), whatever the date it was reported. ``category``
    names what happened; each unit kind's criteria catalog maps categories to its event
    criteria (a category with no criterion for the kind is recorded with no effect, e.g. a
    strike at a school). ``incident_id`` identifies the incident: the same id again with the
    same content changes nothing; with other content it is refused (``conflict``).
    """

    incident_id: str = Field(min_length=1, max_length=100, description="The reporting system's id of the incident.")
    unit_code: str = Field(pattern=UNIT_CODE)
    occurred_on: date
    reported_on: date | None = None
    category: str = Field(
        pattern=r"^[a-z][a-z0-9_]{1,63}$",
        description="One of: anti_state_activity, sabotage_key_target, illegal_religion, exploiting_religion_ethnicity, "
        "separatism, prolonged_dispute, mass_complaint, strike, crime, state_secret_breach, fire_explosion, "
        "fatal_work_accident, serious_incident, environmental_violation, food_safety_violation, staff_discipline, "
        "social_order_hotspot, new_social_evil_case, school_violence, school_member_discipline, major_theft, "
        "traffic_accident, staff_crime (services/assessment/criteria/vocabulary.json); another name is refused.",
    )
    severity: Severity = Field(
        default=Severity.serious,
        description="For a crime its class under the Criminal Code; for a fire, explosion or violation the gravity of "
        "its consequences. Serious (nghiêm trọng) or worse is what the criteria count.",
    )
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
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="The approval case's version the revocation was decided on (GET /unit-years/{id} version): "
        "if the case has changed since, the revocation is refused (version_mismatch).",
    )


# --- the exemplary track (điển hình, kiểu mẫu về ANTT; a province's catalog, e.g. seed 003) ---
MovementRating = Literal[
    "xuat_sac",  # Xuất sắc
    "kha",  # Khá
    "trung_binh",  # Trung bình
    "yeu",  # Yếu
]
Sanction = Literal[
    "administrative_fine",  # xử phạt vi phạm hành chính
    "khien_trach",  # kỷ luật khiển trách
    "canh_cao",  # cảnh cáo
    "ha_bac_luong",  # hạ bậc lương
    "giang_chuc",  # giáng chức
    "cach_chuc",  # cách chức
    "buoc_thoi_viec",  # buộc thôi việc
]
MeritCertificate = Literal[
    "district_chairman",  # Chủ tịch UBND cấp huyện / cấp xã
    "provincial_chairman",  # Chủ tịch UBND tỉnh
    "minister",  # Bộ trưởng
    "prime_minister",  # Thủ tướng Chính phủ
    "president",  # Chủ tịch nước
]
_Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class ActivityHeld(_Strict):
    code: _Code = Field(description="An activity of the catalog, e.g. anti_drug_day (26/6), traffic_safety_month (tháng 9).")
    held_on: date | None = None


class SanctionCase(_Strict):
    """One person fined or disciplined in the window."""

    group: DisciplineGroup
    sanction: Sanction
    security_related: bool = Field(default=False, description="For a violation related to security and order (lĩnh vực ANTT).")


class ExemplaryEvidence(_Strict):
    """What the exemplary criteria are judged on (all optional; a field left out is "not
    stated"). The movement's classification is not here: it is recorded for the unit-year by
    MovementClassificationSubmitted, and the ANTT recognition is the system's own record."""

    has_party_organisation: bool | None = None
    has_emulation_review: bool | None = Field(
        default=None, description="The unit takes part in emulation reviews (bình xét thi đua)."
    )
    directives_disseminated: bool | None = Field(
        default=None, description="Criterion 1: policy and directives disseminated (quán triệt, triển khai)."
    )
    exemplary_plan_implemented: bool | None = Field(
        default=None, description="Criterion 2: the programme/plan carried out effectively."
    )
    movement_conference_held: bool | None = Field(
        default=None, description="Criterion 3: the yearly conference on the movement (hội nghị tổng kết, triển khai)."
    )
    topics_or_models_reviewed: _Count | None = Field(
        default=None, description="Criterion 3: topics or models reviewed or launched (chuyên đề, mô hình)."
    )
    innovations_count: _Count | None = Field(
        default=None, description="Criterion 3: good practices, innovations (cách làm hay, đổi mới, sáng tạo)."
    )
    legal_dissemination_sessions: _Count | None = Field(
        default=None, description="Criterion 4: legal dissemination sessions (tuyên truyền, phổ biến pháp luật)."
    )
    activities_held: list[ActivityHeld] | None = Field(default=None, description="Criterion 5: the yearly activities held.")
    security_force_total: _Count | None = Field(default=None, description="Criterion 6: the protection force (lực lượng bảo vệ).")
    security_force_trained: _Count | None = Field(
        default=None, description="Criterion 6: of them, trained (tập huấn, bồi dưỡng nghiệp vụ)."
    )
    sanctions: list[SanctionCase] | None = Field(
        default=None, description="Criteria 6 and 11: everyone fined or disciplined in the window (an empty list: nobody)."
    )
    commendations_count: _Count | None = Field(default=None, description="Criterion 7: collectives or individuals commended.")
    movement_exemplars_count: _Count | None = Field(
        default=None, description="Criterion 7: exemplary collectives or individuals of the movement."
    )
    models_count: _Count | None = Field(default=None, description="Criterion 7: effective models built or maintained.")
    models_publicised_by_province: _Count | None = Field(
        default=None, description="Criterion 7: models publicised by the province steering committee."
    )
    no_other_violations: bool | None = Field(
        default=None, description="Criterion 9: no other violations of the law by staff or learners."
    )
    complaints_outstanding: _Count | None = Field(
        default=None, description="Criterion 10: complaints and denunciations outstanding."
    )
    complaints_resolved: bool | None = Field(default=None, description="Criterion 10: complaints handled within its competence.")
    party_members_violating_27: _Count | None = Field(
        default=None, description="Criterion 11: Party members showing the 27 signs (tự diễn biến, tự chuyển hóa)."
    )
    internal_unity: bool | None = Field(default=None, description="Criterion 11: internal unity, discipline.")
    targets_exceeded: bool | None = Field(default=None, description="Criterion 12: targets and plans exceeded.")
    taxes_paid: bool | None = Field(default=None, description="Criterion 12 (enterprises): taxes paid.")
    no_wage_or_insurance_arrears: bool | None = Field(default=None, description="Criterion 12: no wage or insurance arrears.")
    policies_fulfilled: bool | None = Field(
        default=None, description="Criterion 12: regimes and policies for staff and learners fulfilled."
    )
    welfare_activities_count: _Count | None = Field(
        default=None, description="Criterion 13: social-welfare activities (hoạt động an sinh xã hội)."
    )
    collective_title: Rating | None = Field(
        default=None, description="Criterion 14: the unit's collective title, e.g. lao_dong_tien_tien."
    )
    merit_certificate: MeritCertificate | None = Field(
        default=None, description="Criterion 14: the highest certificate of merit (Bằng khen) received."
    )

    @model_validator(mode="after")
    def _trained_within_force(self) -> ExemplaryEvidence:
        t, n = self.security_force_trained, self.security_force_total
        if t is not None and n is not None and t > n:
            raise ValueError(f"security_force_trained ({t}) exceeds security_force_total ({n})")
        return self


class ExemplaryProposalSubmitted(_Strict):
    """Propose a unit-year recognised "An toàn về ANTT" for the province's exemplary title."""

    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    proposed_by: str = Field(min_length=1, max_length=300)
    submission_ref: str | None = Field(default=None, max_length=300, description="The proposal's submission (tờ trình).")
    proposed_on: date | None = None


class ExemplarySelfAssessmentSubmitted(_Strict):
    """The self-assessment of an exemplary proposal against the province's exemplary catalog."""

    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    criteria: list[CriterionResult] = Field(min_length=1)
    documents: list[Document] = Field(default_factory=list)
    meeting_date: date
    evidence: ExemplaryEvidence | None = None


class MovementClassificationSubmitted(_Strict):
    """The yearly classification of the unit's "toàn dân bảo vệ ANTQ" movement (phân loại
    phong trào), recorded by the unit or the steering committee."""

    unit_year_id: str = Field(pattern=UNIT_YEAR_ID)
    rating: MovementRating
    classified_by: str = Field(min_length=1, max_length=300)
    decision_no: str | None = Field(default=None, max_length=100)
    classified_on: date | None = None


class ExemplaryDecisionSubmitted(ReviewDecisionSubmitted):
    """A decision of the exemplary title's chain (the province steering committee's appraisal,
    the provincial chairman's recognition), with the fields and rules of an ANTT decision:
    ``step`` and ``expected_version`` refer to the exemplary title's case
    (GET /unit-years/{id}/exemplary)."""


class ExemplaryRevocationSubmitted(RecognitionRevocationSubmitted):
    """Revoke the exemplary title alone (the ANTT recognition stays). Revoking the ANTT
    recognition revokes the title with it, without this message."""


#: inbound event type -> (payload model, owning service)
INBOUND_TYPES: dict[str, tuple[type[BaseModel], str]] = {
    "UnitRegistrationSubmitted": (UnitRegistrationSubmitted, "registration"),
    "UnitYearRegistrationSubmitted": (UnitYearRegistrationSubmitted, "registration"),
    "UnitYearWithdrawalSubmitted": (UnitYearWithdrawalSubmitted, "registration"),
    "SelfAssessmentSubmitted": (SelfAssessmentSubmitted, "assessment"),
    "ReviewDecisionSubmitted": (ReviewDecisionSubmitted, "approval"),
    "IncidentReported": (IncidentReported, "assessment"),
    "RecognitionRevocationSubmitted": (RecognitionRevocationSubmitted, "approval"),
    "ExemplaryProposalSubmitted": (ExemplaryProposalSubmitted, "assessment"),
    "ExemplarySelfAssessmentSubmitted": (ExemplarySelfAssessmentSubmitted, "assessment"),
    "MovementClassificationSubmitted": (MovementClassificationSubmitted, "assessment"),
    "ExemplaryDecisionSubmitted": (ExemplaryDecisionSubmitted, "approval"),
    "ExemplaryRevocationSubmitted": (ExemplaryRevocationSubmitted, "approval"),
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
            "event_id": event_id or new_event_id(),
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
