"""Payloads of the events each service publishes on its topic (schema_version 1).

Payload models allow extra fields: within a version only optional fields are added.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import topics
from shared.contracts.inbound import Decision, Document, Level, Unit


class _Payload(BaseModel):
    """The payload of an event; the class name is the event type, so a domain method returns
    the event itself and the unit of work needs nothing else to publish it."""

    model_config = ConfigDict(extra="allow")

    @property
    def event_type(self) -> str:
        return type(self).__name__

    @property
    def payload(self) -> dict[str, Any]:
        """The payload as published (JSON types: dates as ISO strings)."""
        return self.model_dump(mode="json")


# --- registration -------------------------------------------------------------------------
class UnitRegistered(_Payload):
    unit: Unit


class UnitUpdated(_Payload):
    unit: Unit
    changed: list[str]


class UnitYearRegistered(_Payload):
    unit_year_id: str
    year: int
    unit: Unit
    documents: list[Document] = Field(default_factory=list)
    households_total: int | None = None
    households_registered: int | None = None


class UnitYearWithdrawn(_Payload):
    unit_year_id: str
    reason: str


# --- assessment ---------------------------------------------------------------------------
class AssessmentOpened(_Payload):
    unit_year_id: str
    year: int
    unit: Unit
    window_start: date
    window_end: date
    criteria_catalog: str


class CriterionEvaluation(_Payload):
    code: str
    title: str
    claimed_met: bool
    result: str = Field(description="met | not_met | needs_review")
    reason: str | None = None
    note: str | None = None


class SelfAssessmentRecorded(_Payload):
    unit_year_id: str
    round: int
    unit: Unit
    year: int
    meeting_date: date
    criteria: list[CriterionEvaluation]
    verdict: str = Field(description="met (đạt) | not_met (chưa đạt)")
    unmet: list[str] = Field(default_factory=list)
    score: float | None = Field(default=None, description="The score the unit gave itself (as submitted).")
    documents: list[Document] = Field(default_factory=list)
    scoring_sheet: str | None = Field(
        default=None, description="The province scoring sheet applied (<province>.<kind|all>.<version>), if any."
    )
    score_breakdown: dict[str, Any] | None = Field(
        default=None,
        description="The score computed from the sheet: computed, claimed, complete, max_points, pass_mark, "
        "max_possible, passes, and per group its items (code, max_points, points, claimed, rule, status, reason).",
    )


class AssessmentReopened(_Payload):
    unit_year_id: str
    round: int
    level: Level
    reasons: list[str]


class AssessmentClosed(_Payload):
    unit_year_id: str
    outcome: str = Field(description="recognized | not_recognized | withdrawn")


class IncidentRecorded(_Payload):
    """An incident was recorded against a unit and, where its window's unit-year is known,
    evaluated against that unit-year's criteria."""

    incident_id: str
    unit_code: str
    occurred_on: date
    category: str
    unit_year_id: str | None = Field(default=None, description="the unit-year whose window contains occurred_on")
    criterion: str | None = Field(default=None, description="the event criterion the category maps to, if any")
    effect: str = Field(
        description="fails_criterion | conditional_pass | force_majeure | below_severity | no_criterion_for_kind | "
        "pending_registration | out_of_jurisdiction"
    )
    reason: str
    verdict: str | None = Field(default=None, description="the unit-year's verdict after the incident")
    unmet: list[str] = Field(default_factory=list)
    after_recognition: bool = False
    severity: str | None = None
    assessed_year: int | None = Field(
        default=None, description="The year whose assessment window contains occurred_on, when the unit's kind is known."
    )
    source_system: str | None = Field(
        default=None, description="The sender that reported it: incident_id is unique per sender, not across senders."
    )
    counted_for_commune: bool = Field(
        default=False,
        description="The incident happened at a residential area (unit_code) and counts against criterion 2 of its "
        "commune's unit-year (unit_year_id): Art. 5.2, criteria 2-4 of residential areas hold across the commune.",
    )


# --- approval -----------------------------------------------------------------------------
class ChainStep(_Payload):
    level: Level
    role: str = Field(description="review (thẩm định) | decide (công nhận)")
    body: str = Field(description="who acts at this step, e.g. 'Công an xã' or 'UBND tỉnh'")


class ApprovalCaseOpened(_Payload):
    unit_year_id: str
    unit: Unit
    year: int
    chain: list[ChainStep]
    chain_profile: str
    deadline: date | None = None
    state: str


class UnitYearSelfScored(_Payload):
    unit_year_id: str
    round: int
    verdict: str
    #: the criteria the self-assessment found not met (empty when the verdict is ``met``), so
    #: that a subscriber sees why a unit-year goes to review with a ``not_met`` verdict without
    #: reading the assessment topic; absent from events written before it was added
    unmet: list[str] = Field(default_factory=list)
    state: str
    pending_level: Level
    deadline: date | None = None


class UnitYearReviewed(_Payload):
    unit_year_id: str
    level: Level
    decided_by: str
    decision_no: str | None = None
    state: str
    pending_level: Level


class UnitYearRecognized(_Payload):
    unit_year_id: str
    level: Level
    deciding_body: str
    decided_by: str
    decision_no: str | None = None
    decided_on: date | None = None
    certificate_no: str | None = None
    state: str


class UnitYearNotRecognized(_Payload):
    unit_year_id: str
    level: Level
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    state: str


class UnitYearReturned(_Payload):
    unit_year_id: str
    level: Level
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    state: str


class UnitYearRevoked(_Payload):
    unit_year_id: str
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    decided_on: date | None = None
    state: str


class IncidentFlagged(_Payload):
    """An incident that fails a criterion was reported for an already recognised unit-year:
    the recognising level must decide whether to revoke (never automatic)."""

    unit_year_id: str
    incident_id: str
    criterion: str | None = None
    reason: str
    state: str
    flag_for_level: Level
    source_system: str | None = Field(default=None, description="The sender of the incident (incident_id is unique per sender).")


class VerdictChanged(_Payload):
    """The assessment verdict of a unit-year under review changed (e.g. an incident)."""

    unit_year_id: str
    verdict: str
    unmet: list[str] = Field(default_factory=list)
    reason: str
    state: str


class ApprovalCaseWithdrawn(_Payload):
    unit_year_id: str
    reason: str
    state: str


class Official(_Payload):
    """An official as a claim names them: the id they sign in with and the name shown."""

    id: str
    name: str


class CaseClaimed(_Payload):
    """An official took a unit-year awaiting their level ("Tôi xử lý"), so that two officers
    do not work the same dossier. A claim changes no state; it holds for the step and round
    it was taken at, until it is released, reassigned, or the decision moves the case on."""

    unit_year_id: str
    level: Level
    step: int = Field(description="the index of the pending step of the approval chain")
    round: int
    claimed_by: Official


class CaseReleased(_Payload):
    """A claim was given up (by its holder, or by a supervisor of the same jurisdiction)."""

    unit_year_id: str
    level: Level
    claimed_by: Official
    released_by: Official
    reason: str | None = None


class CaseReassigned(_Payload):
    """A supervisor of the same jurisdiction moved a claim to another official."""

    unit_year_id: str
    level: Level
    step: int
    round: int
    claimed_by: Official | None = Field(default=None, description="who held it before, if anyone")
    assigned_to: Official
    reassigned_by: Official
    reason: str | None = None


class ExemplaryTitleClaimed(CaseClaimed):
    """An official took the pending step of a unit-year's exemplary title ("Tôi xử lý"): the
    title's chain is worked by the same officers as the ANTT chain, and a claim on one is not a
    claim on the other. On the title's stream; the same fields as ``CaseClaimed``."""


class ExemplaryTitleReleased(CaseReleased):
    """A claim on an exemplary title's pending step was given up (by its holder, or by a
    supervisor of the same jurisdiction)."""


class ExemplaryTitleReassigned(CaseReassigned):
    """A supervisor of the same jurisdiction moved the claim on an exemplary title's pending
    step to another official."""


# --- assessment: the exemplary track (điển hình) -----------------------------------------
class ExemplaryCaseOpened(_Payload):
    """A unit-year recognised "An toàn về ANTT" was proposed for the province's exemplary title:
    its exemplary case is open, to be self-assessed against ``criteria_catalog``."""

    unit_year_id: str
    year: int
    unit: Unit
    criteria_catalog: str = Field(description="exemplary.<province_code>.<version>")
    proposed_by: str
    submission_ref: str | None = None
    proposed_on: date | None = None
    antt_recognition: dict[str, Any] = Field(description="The ANTT recognition it rests on (decision_no, level, decided_by).")


class ExemplarySelfAssessmentRecorded(_Payload):
    unit_year_id: str
    round: int
    unit: Unit
    year: int
    meeting_date: date
    criteria_catalog: str
    criteria: list[CriterionEvaluation]
    verdict: str = Field(description="met (đạt) | not_met (chưa đạt)")
    unmet: list[str] = Field(default_factory=list)
    documents: list[Document] = Field(default_factory=list)
    movement_rating: str | None = Field(default=None, description="The movement's classification recorded for the unit-year.")


class ExemplaryEvaluationRevised(_Payload):
    """The exemplary self-assessment was judged again (an incident, a movement
    classification, a change of the ANTT recognition) and its verdict or unmet criteria changed."""

    unit_year_id: str
    round: int
    verdict: str
    unmet: list[str] = Field(default_factory=list)
    reason: str


class MovementClassificationRecorded(_Payload):
    """The movement's yearly classification (phân loại phong trào) recorded for a unit-year."""

    unit_year_id: str
    rating: str = Field(description="xuat_sac | kha | trung_binh | yeu")
    classified_by: str
    decision_no: str | None = None
    classified_on: date | None = None


class ExemplaryCaseReopened(_Payload):
    """The approval chain returned the exemplary proposal for supplement (trả lại để bổ sung):
    a new exemplary self-assessment is accepted."""

    unit_year_id: str
    round: int
    reasons: list[str]
    level: Level


class ExemplaryCaseClosed(_Payload):
    """The exemplary case is over: the title was recognised or refused, or the proposal lapsed
    (the ANTT recognition it rested on was revoked before a decision). A title revoked later
    is the approval service's record (``ExemplaryTitleRevoked``); the case is closed by then."""

    unit_year_id: str
    outcome: str = Field(description="recognized | not_recognized | revoked | lapsed")


# --- approval: the exemplary title along its own chain ---------------------------------------
class ExemplaryTitleCaseOpened(_Payload):
    """The approval case of a unit-year's exemplary title opened, with the province's chain
    (e.g. the province steering committee appraises, the provincial chairman decides)."""

    unit_year_id: str
    unit: Unit
    year: int
    criteria_catalog: str = Field(description="exemplary.<province_code>.<version>")
    chain: list[ChainStep]
    chain_profile: str
    deadline: date | None = Field(default=None, description="None: the province sets no deadline for the title")
    antt_decision_no: str | None = Field(default=None, description="The ANTT recognition the title rests on.")
    state: str


class ExemplaryTitleSelfScored(_Payload):
    unit_year_id: str
    round: int
    verdict: str
    unmet: list[str] = Field(default_factory=list)
    state: str
    pending_level: Level
    deadline: date | None = None


class ExemplaryTitleReviewed(_Payload):
    unit_year_id: str
    level: Level
    decided_by: str
    decision_no: str | None = None
    state: str
    pending_level: Level


class ExemplaryTitleRecognized(_Payload):
    """Công nhận đạt tiêu chuẩn điển hình, kiểu mẫu về ANTT và phong trào toàn dân bảo vệ ANTQ."""

    unit_year_id: str
    level: Level
    deciding_body: str
    decided_by: str
    decision_no: str | None = None
    decided_on: date | None = None
    certificate_no: str | None = None
    state: str


class ExemplaryTitleNotRecognized(_Payload):
    unit_year_id: str
    level: Level
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    state: str


class ExemplaryTitleReturned(_Payload):
    unit_year_id: str
    level: Level
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    state: str


class ExemplaryTitleVerdictChanged(_Payload):
    """The exemplary self-assessment was judged again while the title is under review."""

    unit_year_id: str
    verdict: str
    unmet: list[str] = Field(default_factory=list)
    reason: str
    state: str


class ExemplaryTitleRevoked(_Payload):
    """Thu hồi the exemplary title: by its own decision, or because the ANTT recognition it
    rests on was revoked (``because_of`` names that revocation)."""

    unit_year_id: str
    reasons: list[str]
    decided_by: str
    decision_no: str | None = None
    decided_on: date | None = None
    because_of: str = Field(description="decision (its own revocation) | antt_revoked (the ANTT recognition was)")
    state: str


class ExemplaryTitleLapsed(_Payload):
    """The proposal ends without a decision: the ANTT recognition it rests on is gone."""

    unit_year_id: str
    reason: str
    state: str


#: the base class of every event payload model (the class name is the event type)
Event = _Payload

EVENT_TYPES: dict[str, tuple[str, type[BaseModel]]] = {
    "UnitRegistered": (topics.REGISTRATION_EVENTS, UnitRegistered),
    "UnitUpdated": (topics.REGISTRATION_EVENTS, UnitUpdated),
    "UnitYearRegistered": (topics.REGISTRATION_EVENTS, UnitYearRegistered),
    "UnitYearWithdrawn": (topics.REGISTRATION_EVENTS, UnitYearWithdrawn),
    "AssessmentOpened": (topics.ASSESSMENT_EVENTS, AssessmentOpened),
    "SelfAssessmentRecorded": (topics.ASSESSMENT_EVENTS, SelfAssessmentRecorded),
    "AssessmentReopened": (topics.ASSESSMENT_EVENTS, AssessmentReopened),
    "AssessmentClosed": (topics.ASSESSMENT_EVENTS, AssessmentClosed),
    "IncidentRecorded": (topics.ASSESSMENT_EVENTS, IncidentRecorded),
    "ApprovalCaseOpened": (topics.APPROVAL_EVENTS, ApprovalCaseOpened),
    "UnitYearSelfScored": (topics.APPROVAL_EVENTS, UnitYearSelfScored),
    "UnitYearReviewed": (topics.APPROVAL_EVENTS, UnitYearReviewed),
    "UnitYearRecognized": (topics.APPROVAL_EVENTS, UnitYearRecognized),
    "UnitYearNotRecognized": (topics.APPROVAL_EVENTS, UnitYearNotRecognized),
    "UnitYearReturned": (topics.APPROVAL_EVENTS, UnitYearReturned),
    "ApprovalCaseWithdrawn": (topics.APPROVAL_EVENTS, ApprovalCaseWithdrawn),
    "UnitYearRevoked": (topics.APPROVAL_EVENTS, UnitYearRevoked),
    "IncidentFlagged": (topics.APPROVAL_EVENTS, IncidentFlagged),
    "VerdictChanged": (topics.APPROVAL_EVENTS, VerdictChanged),
    "CaseClaimed": (topics.APPROVAL_EVENTS, CaseClaimed),
    "CaseReleased": (topics.APPROVAL_EVENTS, CaseReleased),
    "CaseReassigned": (topics.APPROVAL_EVENTS, CaseReassigned),
    "ExemplaryCaseOpened": (topics.ASSESSMENT_EVENTS, ExemplaryCaseOpened),
    "ExemplarySelfAssessmentRecorded": (topics.ASSESSMENT_EVENTS, ExemplarySelfAssessmentRecorded),
    "ExemplaryEvaluationRevised": (topics.ASSESSMENT_EVENTS, ExemplaryEvaluationRevised),
    "MovementClassificationRecorded": (topics.ASSESSMENT_EVENTS, MovementClassificationRecorded),
    "ExemplaryCaseReopened": (topics.ASSESSMENT_EVENTS, ExemplaryCaseReopened),
    "ExemplaryCaseClosed": (topics.ASSESSMENT_EVENTS, ExemplaryCaseClosed),
    "ExemplaryTitleCaseOpened": (topics.APPROVAL_EVENTS, ExemplaryTitleCaseOpened),
    "ExemplaryTitleSelfScored": (topics.APPROVAL_EVENTS, ExemplaryTitleSelfScored),
    "ExemplaryTitleReviewed": (topics.APPROVAL_EVENTS, ExemplaryTitleReviewed),
    "ExemplaryTitleRecognized": (topics.APPROVAL_EVENTS, ExemplaryTitleRecognized),
    "ExemplaryTitleNotRecognized": (topics.APPROVAL_EVENTS, ExemplaryTitleNotRecognized),
    "ExemplaryTitleReturned": (topics.APPROVAL_EVENTS, ExemplaryTitleReturned),
    "ExemplaryTitleVerdictChanged": (topics.APPROVAL_EVENTS, ExemplaryTitleVerdictChanged),
    "ExemplaryTitleRevoked": (topics.APPROVAL_EVENTS, ExemplaryTitleRevoked),
    "ExemplaryTitleLapsed": (topics.APPROVAL_EVENTS, ExemplaryTitleLapsed),
    "ExemplaryTitleClaimed": (topics.APPROVAL_EVENTS, ExemplaryTitleClaimed),
    "ExemplaryTitleReleased": (topics.APPROVAL_EVENTS, ExemplaryTitleReleased),
    "ExemplaryTitleReassigned": (topics.APPROVAL_EVENTS, ExemplaryTitleReassigned),
}


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a payload model (dates as ISO strings, enums as values)."""
    return model.model_dump(mode="json", exclude_none=False)


__all__ = ["EVENT_TYPES", "Decision", "Event", "dump", "datetime"]
