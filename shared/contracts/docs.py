"""Generate the published contract from the code: JSON Schemas and AsyncAPI documents.

``python -m shared.contracts.docs`` writes:

- ``docs/contracts/envelope.schema.json``: the event envelope (:class:`Envelope`);
- ``docs/contracts/inbound/<EventType>.schema.json``: the whole inbound message of each type
  in ``INBOUND_TYPES`` (the :class:`InboundMessage` with its ``payload`` schema and
  ``event_type`` fixed);
- ``docs/contracts/events/<EventType>.schema.json``: the envelope of each type in
  ``EVENT_TYPES`` with its payload schema, ``event_type`` fixed and ``x-topic``;
- ``docs/contracts/dlq.schema.json``: the body of a dead letter on ``<topic>.dlq``;
- ``docs/contracts/checkpoint.schema.json``: a signed checkpoint on ``antt.audit.checkpoints.v1``
  (:class:`shared.contracts.checkpoint.Checkpoint`);
- ``docs/asyncapi/<service>.json``: the AsyncAPI 3.0 document faststream generates from the
  service's broker, with the topics the service publishes to (its event topic and the
  dead-letter topics of the topics it reads) and the message schemas filled in.

``--check`` writes nothing and exits 1, listing the files that differ from what the code
generates (stale, missing or no longer generated).

Output is deterministic: keys sorted, two-space indent, UTF-8, no timestamps.

The services are imported by name (``importlib``) and only here: this is a build-time
generator, not something a service runs; ``shared`` still has no import-time dependency
on ``services``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import uuid
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from shared.contracts import topics
from shared.contracts.checkpoint import Checkpoint
from shared.contracts.envelope import ENVELOPE_FIELDS, Envelope
from shared.contracts.events import EVENT_TYPES
from shared.contracts.inbound import INBOUND_TYPES, InboundMessage
from shared.contracts.services import SERVICES, ServiceDescriptor

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = Path("docs/contracts")
ASYNCAPI_DIR = Path("docs/asyncapi")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.4.0"


# --------------------------------------------------------------------------- services
# --------------------------------------------------------------------------- descriptions
#: one sentence per type, shown in the schemas and the AsyncAPI documents
TYPE_DOCS: dict[str, str] = {
    # inbound
    "UnitRegistrationSubmitted": "Register a unit (đơn vị: khu dân cư, xã, cơ quan, doanh nghiệp, cơ sở giáo dục) "
    "or update its registered facts. Owned by the registration service.",
    "UnitYearRegistrationSubmitted": "A registered unit signs up for a year of the programme "
    "(bản đăng ký phấn đấu đạt tiêu chuẩn “An toàn về an ninh, trật tự”). Owned by the registration service.",
    "UnitYearWithdrawalSubmitted": "A unit withdraws its registration for a year (before a final decision). "
    "Owned by the registration service.",
    "SelfAssessmentSubmitted": "The unit's self-assessment (tự đánh giá) of every criterion of its kind, "
    "after its assessment meeting. Owned by the assessment service.",
    "ReviewDecisionSubmitted": "A review (thẩm định) or recognition (công nhận) decision at the level the "
    "unit-year awaits: pass, return for supplement (trả lại để bổ sung) or reject (không công nhận). "
    "Owned by the approval service.",
    "IncidentReported": "An incident (vụ việc, sự cố) reported by the police or another system for a unit; it counts "
    "in the assessment window that contains the date it happened. Owned by the assessment service.",
    "RecognitionRevocationSubmitted": "An explicit decision of the recognising level to revoke a recognition "
    "(thu hồi), with reasons. Owned by the approval service.",
    # registration events
    "UnitRegistered": "A unit entered the register. Stream and Kafka key: unit:<code>; unit_year_id is null.",
    "UnitUpdated": "A registered unit's facts changed. Stream and Kafka key: unit:<code>; unit_year_id is null.",
    "UnitYearRegistered": "A unit-year was registered (đăng ký); the assessment service opens its case.",
    "UnitYearWithdrawn": "A unit-year's registration was withdrawn.",
    # assessment events
    "AssessmentOpened": "The assessment case of a unit-year is open, with its assessment window "
    "(mốc thời gian đánh giá) and criteria catalog.",
    "SelfAssessmentRecorded": "A self-assessment was recorded and evaluated: verdict met (đạt) or not_met (chưa đạt).",
    "AssessmentReopened": "The case was returned for supplement; a new self-assessment round is expected.",
    "AssessmentClosed": "The case is closed: recognized, not_recognized or withdrawn.",
    "IncidentRecorded": "An incident was recorded and evaluated against the criteria of the unit-year whose window "
    "contains it: its effect, the criterion, and the verdict after it.",
    # approval events
    "ApprovalCaseOpened": "The approval case of a unit-year is open, with its approval chain and deadline.",
    "UnitYearSelfScored": "The self-assessment is in, with its verdict and the criteria found not met; a decision is "
    "awaited at pending_level.",
    "UnitYearReviewed": "A review step passed (thẩm định); a decision is awaited at pending_level.",
    "UnitYearRecognized": "The unit-year is recognised (công nhận đạt tiêu chuẩn “An toàn về an ninh, trật tự”).",
    "UnitYearNotRecognized": "The unit-year is not recognised (không công nhận), with the reasons.",
    "UnitYearReturned": "The unit-year was returned for supplement (trả lại để bổ sung), with what to supplement.",
    "ApprovalCaseWithdrawn": "The approval case ended because the registration was withdrawn.",
    "UnitYearRevoked": "A recognition was revoked (thu hồi) by an explicit decision of the recognising level.",
    "IncidentFlagged": "An incident failing a criterion was reported after recognition: a flag for the recognising "
    "level, which decides on revocation (never automatic).",
    "VerdictChanged": "The assessment verdict of a unit-year under review changed (e.g. after an incident).",
    "CaseClaimed": "An official took the pending step of a unit-year (Tôi xử lý) so that no other officer works "
    "the same dossier; no state changes. A decision by anyone else is refused while it holds.",
    "CaseReleased": "An official gave up their claim on a unit-year, or a supervisor of the same jurisdiction "
    "released it; no state changes.",
    "CaseReassigned": "A supervisor of the same jurisdiction gave the pending step of a unit-year to another "
    "official; no state changes.",
    # the exemplary track (điển hình): inbound, owned by the assessment service
    "ExemplaryProposalSubmitted": "Propose a unit-year recognised “An toàn về ANTT” (agency, enterprise or school) for "
    "the province's exemplary title (điển hình, kiểu mẫu về ANTT). Owned by the assessment service.",
    "ExemplarySelfAssessmentSubmitted": "The self-assessment of an exemplary proposal against the province's exemplary "
    "catalog (DH-1…DH-14 for seed 003), with its evidence. Owned by the assessment service.",
    "MovementClassificationSubmitted": "The yearly classification of a unit-year's “toàn dân bảo vệ ANTQ” movement "
    "(phân loại phong trào: xuat_sac, kha, trung_binh, yeu). Owned by the assessment service.",
    # the exemplary track: assessment events
    "ExemplaryCaseOpened": "A recognised unit-year was proposed for the exemplary title: its exemplary case is open, "
    "with the catalog it is judged against and the recognition it rests on.",
    "ExemplarySelfAssessmentRecorded": "An exemplary self-assessment was judged against the exemplary catalog: per "
    "criterion the result and reason, the verdict and the unmet criteria.",
    "ExemplaryEvaluationRevised": "An exemplary self-assessment was judged again (an incident, the movement's "
    "classification, a revoked recognition) and its verdict or unmet criteria changed.",
    "MovementClassificationRecorded": "The movement's yearly classification was recorded for a unit-year.",
    "ExemplaryCaseReopened": "The exemplary title's chain returned the proposal for supplement: a new exemplary "
    "self-assessment is accepted. Stream: exemplary:<unit_year_id>.",
    "ExemplaryCaseClosed": "The exemplary case is over (outcome recognized, not_recognized, revoked or lapsed). "
    "Stream: exemplary:<unit_year_id>.",
    # the exemplary track: inbound
    "ExemplaryDecisionSubmitted": "A decision of the exemplary title's chain (the province steering committee's "
    "appraisal, the provincial chairman's recognition): the fields and rules of ReviewDecisionSubmitted, on the "
    "title's own case. Owned by the approval service.",
    "ExemplaryRevocationSubmitted": "Revoke the exemplary title alone (thu hồi), with reasons; the ANTT "
    "recognition stays. Owned by the approval service.",
    # the exemplary track: approval events (stream exemplary:<unit_year_id>, Kafka key the unit_year_id)
    "ExemplaryTitleCaseOpened": "The exemplary title's case opened on the province's chain for it, resting on the "
    "unit-year's ANTT recognition (antt_decision_no).",
    "ExemplaryTitleSelfScored": "The exemplary self-assessment reached the title's chain: the first step awaits a decision.",
    "ExemplaryTitleReviewed": "A review step (thẩm định) of the exemplary title passed; the next level decides.",
    "ExemplaryTitleRecognized": "The exemplary title was granted (công nhận điển hình), with the deciding body, "
    "decision and certificate numbers.",
    "ExemplaryTitleNotRecognized": "The exemplary title was refused, with reasons; the ANTT recognition stays.",
    "ExemplaryTitleReturned": "The exemplary proposal was returned for supplement (trả lại để bổ sung), with reasons.",
    "ExemplaryTitleVerdictChanged": "The exemplary self-assessment's verdict changed while the title is under review.",
    "ExemplaryTitleRevoked": "The exemplary title was revoked (thu hồi): by its own decision (because_of decision) or "
    "with the ANTT recognition it rests on (because_of antt_revoked; causation_id is the UnitYearRevoked).",
    "ExemplaryTitleLapsed": "The exemplary proposal ended without a decision: the ANTT recognition it rested on was revoked.",
    "ExemplaryTitleClaimed": "An official took the pending step of a unit-year's exemplary title (Tôi xử lý); no state "
    "changes. A decision on the title by anyone else is refused while it holds; the ANTT chain's claims are separate.",
    "ExemplaryTitleReleased": "A claim on an exemplary title's pending step was given up, by its holder or a supervisor "
    "of the same jurisdiction; no state changes.",
    "ExemplaryTitleReassigned": "A supervisor of the same jurisdiction gave the pending step of an exemplary title to "
    "another official; no state changes.",
}

ENVELOPE_DOCS: dict[str, str] = {
    "event_id": "Unique id of the event (UUID). Consumers use it to ignore a redelivery.",
    "event_type": "PascalCase, past tense; one schema per type under docs/contracts/events/.",
    "schema_version": "Version of this event type's schema. Within a version fields are only added.",
    "occurred_at": "When the fact happened (RFC 3339, UTC, microseconds, 'Z').",
    "recorded_at": "When the producer recorded the event (RFC 3339, UTC, microseconds, 'Z').",
    "unit_year_id": "'<unit_code>:<year>'; null for events about a unit itself (UnitRegistered, UnitUpdated). "
    "It is the Kafka key of the event.",
    "stream_id": "The hash-chained stream the event belongs to: the unit_year_id, 'exemplary:<unit_year_id>' for the "
    "exemplary track of a unit-year, or 'unit:<unit_code>' for the "
    "unit register. Kafka key when unit_year_id is null.",
    "producer": "The service that wrote the event: registration, assessment or approval.",
    "actor": "Who caused the event: the official or system of the inbound message or HTTP call; an event caused "
    "by another event carries the actor of that event.",
    "correlation_id": "Shared by everything one request set off: the inbound message's correlation_id, "
    "or its event_id when it had none.",
    "causation_id": "event_id of the inbound message or event that directly caused this one.",
    "sequence": "Position of the event in its stream for this producer: 1, 2, 3, ... without gaps.",
    "prev_hash": "The hash of the previous event of the same stream and producer; null for sequence 1.",
    "hash": "SHA-256 (lower-case hex) of the canonical JSON of the envelope without 'hash' "
    "(keys sorted, separators ',' and ':', UTF-8, no ASCII escaping).",
    "payload": "The event type's data; see the event type's schema.",
}

INBOUND_DOCS: dict[str, str] = {
    "event_id": "UUID chosen by the sender, unique per message. The same event_id at another offset is "
    "dead-lettered as duplicate_event_id and changes nothing.",
    "event_type": "One of the inbound types; it decides which service handles the message.",
    "schema_version": "Always 1 in this version of the contract.",
    "source_system": "The sender's id, as configured in the services' senders file; it selects the key that "
    "verifies the signature and the jurisdiction the sender may act for.",
    "occurred_at": "When the sender recorded the fact (RFC 3339 with an offset). Optional.",
    "actor": "The official or system acting (id, role, jurisdiction); recorded in the resulting events. "
    "What a sender may do is decided by the sender's configured jurisdiction, not by this field.",
    "correlation_id": "Optional; carried into every event the message causes. Defaults to event_id.",
    "payload": "The data of the event type; see the type's payload schema.",
    "signature": "HMAC-SHA256 (hex) with the sender's key over the canonical JSON of the whole message "
    "without 'signature' (keys sorted, separators ',' and ':', UTF-8, no ASCII escaping).",
}

#: every error code the services put on a dead letter (or return over HTTP), with its meaning
ERROR_CODES: dict[str, str] = {
    "bad_json": "The record is not UTF-8 JSON or not a JSON object.",
    "too_large": "The inbound record is larger than 512 KiB (524,288 bytes); it is refused before parsing "
    "(dead-lettered once, by the registration service); the reason gives both sizes.",
    "unknown_event_type": "No event_type, or one that is not an inbound type (dead-lettered once, by the registration service).",
    "invalid_message": "The message does not match the inbound message schema (a field missing, extra or "
    "malformed), or an event has no event_id.",
    "unknown_sender": "source_system is not a configured sender.",
    "bad_signature": "The signature does not verify with the sender's key.",
    "invalid_payload": "The payload does not match its schema, or breaks a rule of the programme (e.g. a "
    "residential area without commune_code, no registration_form document, criteria not matching the "
    "catalog, a meeting date before the assessment window, a return or rejection without reasons).",
    "duplicate_event_id": "An event_id that was already processed, at another offset; the copy changes nothing.",
    "out_of_jurisdiction": "The unit is outside the jurisdiction configured for the sender.",
    "ineligible": "The unit is of a kind excluded by Circular 124/2021/TT-BCA Art. 2.",
    "conflict": "A new registration of a unit tries to change its kind, an incident_id is already recorded "
    "from the same sender with other content, or a unit-year is already proposed for the exemplary title "
    "with other content.",
    "unknown_unit": "HTTP API only (404): the unit is not registered. Over Kafka such a message is held (parked) "
    "until the unit is registered; see expired_waiting_for_unit.",
    "already_registered": "The unit-year is already registered.",
    "unknown_unit_year": "The unit-year is not (yet) known to the service that must act on it: over HTTP a 404; "
    "an inbound message about it is held (parked) until it is known (see expired_waiting_for_unit_year); an event "
    "about a unit-year the consumer has no case of is dead-lettered.",
    "expired_waiting_for_unit": "The message was about a unit the service had not heard of; it was held for the "
    "parking time-to-live (default 1 hour) and the unit's registration did not come.",
    "expired_waiting_for_unit_year": "The message was about a unit-year the service had not heard of; it was held for "
    "the parking time-to-live (default 1 hour) and the event announcing the unit-year did not come.",
    "illegal_transition": "The unit-year is not in a state that allows this step.",
    "wrong_level": "The decision is for another level than the one the unit-year awaits.",
    "claimed_by_other": "Another official has claimed the unit-year's pending step (Tôi xử lý); they must "
    "release it, or a supervisor reassign it, first.",
    "not_claimed": "A release of a unit-year nobody has claimed.",
    "forbidden": "The official's role does not allow the action (e.g. a reassignment by someone who is not a supervisor).",
    "criteria_not_met": "A pass decision for a unit-year whose self-assessment verdict is chưa đạt.",
    "no_chain": "No approval chain is configured for the unit's kind, managing level, province and year.",
    "children_pending": "A commune's recognition before its children (residential areas, units it manages) are "
    "decided and before their deadline; the reason lists them.",
    "unsupported_schema_version": "An event's schema_version is newer than the consumer understands, or has no upcaster.",
    "bad_hash": "An event's hash does not match its content (tampered or corrupt).",
    "processing_failed": "The message failed with an unexpected error on every attempt; the reason has the error.",
    "unreadable_message": "The record parsed but could not be read further (e.g. a payload nested about a "
    "thousand levels deep); the reason has the error. It is dead-lettered at once, so it cannot stop the consumer.",
    "step_not_current": "The decision names a step (review or decide) that is not the unit-year's current step, "
    "e.g. a retried review after the review was taken; nothing changes.",
    "version_mismatch": "The decision or revocation names an expected_version of the approval case that is not "
    "its version: the case changed since it was read.",
    "no_exemplary_track": "The unit's province has no exemplary-track catalog in force for the year.",
    "not_recognized": "An exemplary proposal for a unit-year that is not recognised “An toàn về ANTT” (not "
    "decided yet, not recognised, withdrawn or revoked).",
    "no_exemplary_title": "A decision or revocation of the exemplary title of a unit-year whose title case is not open "
    "(it has not been proposed, or its ExemplaryCaseOpened has not reached the approval service yet).",
    "no_exemplary_case": "An exemplary self-assessment for a unit-year that has not been proposed for the exemplary title.",
    "not_found": "HTTP API only (404): the requested unit, unit-year or case does not exist.",
    "bad_request": "HTTP API only (400): a malformed header, e.g. an If-Match that is not a list of quoted entity tags.",
    "precondition_failed": "HTTP API only (412): If-Match names no version the unit-year is at; nothing was written.",
    "invalid_idempotency_key": "HTTP API only (400): an Idempotency-Key that is not 1 to 200 printable ASCII characters.",
    "idempotency_key_reused": "HTTP API only (422): the Idempotency-Key was first used for another request "
    "(another body, method or path).",
}

#: the codes that are answers of the HTTP API only, never in a dead letter
HTTP_ONLY_CODES = (
    "unknown_unit",
    "not_found",
    "bad_request",
    "precondition_failed",
    "invalid_idempotency_key",
    "idempotency_key_reused",
)


# --------------------------------------------------------------------------- models
def _describe(fields: Mapping[str, str]) -> Callable[[dict[str, Any], type], None]:
    def extra(schema: dict[str, Any], _cls: type) -> None:
        props = schema.get("properties", {})
        for name, text in fields.items():
            if name in props:
                props[name]["description"] = text

    return extra


class DocumentedEnvelope(Envelope):
    """The envelope of every event on antt.*.events.v1 (JSON, UTF-8), hash-chained per stream
    and producer."""

    model_config = ConfigDict(json_schema_extra=_describe(ENVELOPE_DOCS))


class DocumentedInboundMessage(InboundMessage):
    """A message another system publishes to antt.inbound.v1 (JSON, UTF-8, signed)."""

    model_config = ConfigDict(json_schema_extra=_describe(INBOUND_DOCS))


class DeadLetterOriginal(BaseModel):
    """The rejected record's value: as text when it is UTF-8, else base64."""

    model_config = ConfigDict(extra="forbid")

    encoding: Literal["utf-8", "base64"]
    data: str


class DeadLetterBytes(BaseModel):
    """Bytes of the rejected record (its key or a header value), cut to a bound."""

    model_config = ConfigDict(extra="forbid")

    encoding: Literal["utf-8", "base64"]
    data: str
    truncated: bool = Field(description="True when data holds only a prefix.")


class DeadLetterHeader(BaseModel):
    """One header of the rejected record."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="The header's name (cut to 1 KiB of JSON text).")
    value: DeadLetterBytes | None = Field(description="Its value; null when it had none.")


class DeadLetter(BaseModel):
    """The body of a dead letter on <topic>.dlq: a rejected message and why."""

    model_config = ConfigDict(extra="allow")

    dlq_id: uuid.UUID = Field(description="Id of the dead letter (also its event_id header).")
    error_code: str = Field(
        description="Machine-readable reason: " + ", ".join(c for c in ERROR_CODES if c not in HTTP_ONLY_CODES) + ".",
        examples=["bad_signature"],
    )
    reason: str = Field(description="What is wrong, for a person to act on.")
    service: str = Field(description="The service that rejected the message.")
    source_topic: str = Field(description="The topic the message was read from.")
    source_partition: int | None = Field(description="Its partition.")
    source_offset: int | None = Field(description="Its offset.")
    message_id: str | None = Field(description="The message's event_id, or 'pos:<topic>:<partition>:<offset>' when it has none.")
    failed_at: datetime = Field(description="When it was rejected (RFC 3339, UTC).")
    original: DeadLetterOriginal = Field(
        description="The longest prefix of the rejected record's value whose JSON text in this body takes at most "
        "256 KiB (262,144 bytes); the whole value when truncated is false."
    )
    # added within version 1 (optional: dead letters written before carry none of these)
    truncated: bool | None = Field(
        default=None, description="True when original.data holds only a prefix of the rejected record's value."
    )
    original_size: int | None = Field(default=None, ge=0, description="Size of the rejected record's value, in bytes.")
    original_sha256: str | None = Field(
        default=None, pattern="^[0-9a-f]{64}$", description="SHA-256 (hex) of the whole rejected value."
    )
    original_key: DeadLetterBytes | None = Field(
        default=None, description="The rejected record's key (at most 1 KiB of JSON text); null when it had none."
    )
    original_headers: list[DeadLetterHeader] | None = Field(
        default=None, description="The rejected record's headers, in order: at most 32, each name and value cut to 1 KiB."
    )
    original_headers_omitted: int | None = Field(
        default=None, ge=0, description="How many headers beyond the first 32 were left out."
    )


def inbound_model(event_type: str) -> type[BaseModel]:
    """The whole inbound message of ``event_type`` as a model (for its JSON Schema)."""
    payload_model, _owner = INBOUND_TYPES[event_type]
    return create_model(
        f"{event_type}Message",
        __base__=DocumentedInboundMessage,
        __doc__=_type_doc(event_type),
        event_type=(Literal[event_type], Field(description=INBOUND_DOCS["event_type"])),  # type: ignore[arg-type]
        payload=(payload_model, Field(description=INBOUND_DOCS["payload"])),
    )


def event_model(event_type: str) -> type[BaseModel]:
    """The envelope of ``event_type`` with its payload model (for its JSON Schema)."""
    _topic, payload_model = EVENT_TYPES[event_type]
    return create_model(
        f"{event_type}Event",
        __base__=DocumentedEnvelope,
        __doc__=_type_doc(event_type),
        event_type=(Literal[event_type], Field(description=ENVELOPE_DOCS["event_type"])),  # type: ignore[arg-type]
        payload=(payload_model, Field(description=ENVELOPE_DOCS["payload"])),
    )


def _type_doc(event_type: str) -> str:
    try:
        return TYPE_DOCS[event_type]
    except KeyError:
        raise SystemExit(f"shared/contracts/docs.py: TYPE_DOCS has no description of {event_type}") from None


def _union(models: list[type[BaseModel]]) -> Any:
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="event_type")]  # noqa: UP007


# --------------------------------------------------------------------------- JSON Schemas
def _schema(model: type[BaseModel], **extra: Any) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, **extra}


def envelope_schema() -> dict[str, Any]:
    schema = _schema(DocumentedEnvelope, **{"x-topics": list(topics.EVENT_TOPICS)})
    schema["title"] = "Envelope"
    return schema


def inbound_schema(event_type: str) -> dict[str, Any]:
    _model, owner = INBOUND_TYPES[event_type]
    return _schema(
        inbound_model(event_type),
        **{
            "x-topic": topics.INBOUND,
            "x-kafka-key": "the unit code (unit.code, unit_code, or the part of unit_year_id before ':')",
            "x-handled-by": owner,
        },
    )


def event_schema(event_type: str) -> dict[str, Any]:
    topic, _model = EVENT_TYPES[event_type]
    return _schema(
        event_model(event_type),
        **{"x-topic": topic, "x-kafka-key": "unit_year_id, or stream_id when unit_year_id is null"},
    )


def dead_letter_schema() -> dict[str, Any]:
    return _schema(DeadLetter, **{"x-topics": sorted(topics.dlq(t) for t in topics.ALL_TOPICS)})


#: the Kafka headers of a checkpoint record
CHECKPOINT_HEADERS = {
    "event_type": "Always 'Checkpoint'.",
    "event_id": "'<producer>:checkpoint:<sequence>'.",
    "content-type": "application/json",
}


def checkpoint_schema() -> dict[str, Any]:
    return _schema(
        Checkpoint,
        **{
            "x-topic": topics.CHECKPOINTS,
            "x-kafka-key": "producer",
            "x-kafka-headers": CHECKPOINT_HEADERS,
            "x-signed-bytes": "canonical JSON (keys sorted, separators ',' and ':', UTF-8, no ASCII escaping) of the "
            "checkpoint without 'signature'",
        },
    )


# --------------------------------------------------------------------------- AsyncAPI
COMPONENT_REF = "#/components/schemas/{model}"

EVENT_HEADERS = {
    "type": "object",
    "properties": {
        "event_type": {"type": "string", "description": "Same as the envelope's event_type."},
        "event_id": {"type": "string", "description": "Same as the envelope's event_id."},
        "content-type": {"type": "string", "const": "application/json"},
    },
}

DLQ_HEADERS = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string", "description": "The dlq_id."},
        "x-dlq-error-code": {"type": "string", "description": "Same as error_code in the body."},
        "x-dlq-reason": {"type": "string", "description": "The reason, cut to 1000 characters."},
        "x-dlq-service": {"type": "string", "description": "The service that rejected the message."},
        "x-original-topic": {"type": "string"},
        "x-original-partition": {"type": "string", "description": "Decimal, or empty when unknown."},
        "x-original-offset": {"type": "string", "description": "Decimal, or empty when unknown."},
        "content-type": {"type": "string", "const": "application/json"},
    },
}

KEY_INBOUND = {"type": "string", "description": "The unit code, so that one unit's messages stay in order."}
KEY_EVENTS = {
    "type": "string",
    "description": "unit_year_id ('<unit_code>:<year>'), or 'unit:<unit_code>' for events about a unit itself.",
}
KEY_DLQ = {"type": "string", "description": "The rejected record's key, unchanged."}
KEY_CHECKPOINTS = {"type": "string", "description": "The producer (service name) whose event topic is covered."}


def _settings(spec: ServiceDescriptor) -> Any:
    module, _, cls_name = spec.settings.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(
        service_name=spec.name,
        kafka_bootstrap=cls.model_fields["kafka_bootstrap"].default,
        database_url="sqlite+aiosqlite://",
        senders_file=Path("/nonexistent/senders.json"),
        api_tokens_file=Path("/nonexistent/api_tokens.json"),
    )


def _handled_types(processor: Any) -> list[str]:
    """The message types a subscriber's handler claims (inbound commands or events)."""
    handler = getattr(processor, "handler", None) or getattr(processor, "_handler")  # noqa: B009
    return list(handler.handled_types())


def _channel(service: str, topic: str) -> str:
    return f"{service}:{topic}"


def _add_component_schemas(components: dict[str, Any], annotation: Any) -> dict[str, Any]:
    """JSON Schema of ``annotation`` with its definitions moved into ``components``."""
    schema = TypeAdapter(annotation).json_schema(mode="validation", ref_template=COMPONENT_REF)
    for name, definition in schema.pop("$defs", {}).items():
        if name in components and components[name] != definition:
            raise RuntimeError(f"two different schemas are named {name} in the AsyncAPI components")
        components[name] = definition
    disc = schema.get("discriminator")
    if isinstance(disc, dict):  # OpenAPI style -> AsyncAPI style
        schema["discriminator"] = disc["propertyName"]
    return schema


def asyncapi_document(spec: ServiceDescriptor) -> dict[str, Any]:
    from faststream.specification import AsyncAPI

    app = importlib.import_module(spec.app_module)
    runtime = app.create_runtime(_settings(spec))
    broker = runtime.broker
    consumed = dict(runtime.processors)

    # What the service publishes. These publishers live on this throw-away runtime only, for
    # the document: the service itself publishes through its outbox relay.
    produced = [name for name, (topic, _m) in EVENT_TYPES.items() if topic == spec.events_topic]
    broker.publisher(
        spec.events_topic,
        title=_channel(spec.name, spec.events_topic),
        description=f"Every event of the {spec.name} service, keyed by unit_year_id (or 'unit:<code>' for "
        "events about a unit); hash-chained per stream and producer (docs/contracts/README.md).",
        schema=_union([event_model(t) for t in produced]),
    )
    broker.publisher(
        topics.CHECKPOINTS,
        title=_channel(spec.name, topics.CHECKPOINTS),
        description=f"Signed checkpoints (RFC 6962 Merkle tree heads, Ed25519) of {spec.events_topic}, every "
        "checkpoint interval while it grows and at shutdown, keyed by the producer (docs/contracts/README.md).",
        schema=Checkpoint,
    )
    for topic in sorted(consumed):
        broker.publisher(
            topics.dlq(topic),
            title=_channel(spec.name, topics.dlq(topic)),
            description=f"Messages of {topic} the {spec.name} service rejects, with the reason "
            "(body and x-dlq-* headers), keyed like the original.",
            schema=DeadLetter,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        doc: dict[str, Any] = (
            AsyncAPI(
                broker,
                title=spec.title,
                version="1",
                description=spec.description,
                schema_version=ASYNCAPI_VERSION,
            )
            .to_specification()
            .to_jsonable()
        )

    components = doc["components"]["schemas"]
    messages = doc["components"]["messages"]

    # Subscribers: faststream sees raw bytes; document the message types each one handles.
    for topic, processor in consumed.items():
        channel = doc["channels"][_channel(spec.name, topic)]
        for msg_ref in channel["messages"].values():
            message = messages[msg_ref["$ref"].rsplit("/", 1)[1]]
            types = _handled_types(processor)
            if topic == topics.INBOUND:
                models = [inbound_model(t) for t in types]
            else:
                models = [event_model(t) for t in types]
            payload_name = message["payload"]["$ref"].rsplit("/", 1)[1]
            body = _add_component_schemas(components, _union(models))
            if len(models) == 1:  # the model itself, under its own name
                del components[payload_name]
                payload_name = models[0].__name__
            components[payload_name] = {**body, "title": payload_name}
            message["payload"] = {"$ref": COMPONENT_REF.format(model=payload_name)}

    # Every message: correlation id, headers and the Kafka key.
    addresses = {
        ref["$ref"].rsplit("/", 1)[1]: channel["address"]
        for channel in doc["channels"].values()
        for ref in channel["messages"].values()
    }
    for name, message in messages.items():
        address = addresses[name]
        if address.endswith(".dlq"):
            message.pop("correlationId", None)
            message["headers"] = copy.deepcopy(DLQ_HEADERS)
            key = KEY_DLQ
        elif address == topics.CHECKPOINTS:
            message.pop("correlationId", None)
            message["headers"] = {
                "type": "object",
                "properties": {k: {"type": "string", "description": v} for k, v in CHECKPOINT_HEADERS.items()},
            }
            key = KEY_CHECKPOINTS
        else:
            message["correlationId"] = {"location": "$message.payload#/correlation_id"}
            if address == topics.INBOUND:
                key = KEY_INBOUND
            else:
                message["headers"] = copy.deepcopy(EVENT_HEADERS)
                key = KEY_EVENTS
        message["bindings"] = {"kafka": {"key": copy.deepcopy(key), "bindingVersion": KAFKA_BINDING_VERSION}}

    for server in doc.get("servers", {}).values():
        env = f"ANTT_{spec.name.upper()}_KAFKA_BOOTSTRAP"
        server["description"] = f"Local development broker; a deployment sets its brokers in {env}."
    return doc


# --------------------------------------------------------------------------- files
def render_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[Path, str]:
    """Every generated file (path relative to the repository root) and its content."""
    missing = sorted((set(INBOUND_TYPES) | set(EVENT_TYPES)) - set(TYPE_DOCS))
    if missing:
        raise SystemExit(f"shared/contracts/docs.py: TYPE_DOCS lacks {', '.join(missing)}")
    undocumented = [f for f in ENVELOPE_FIELDS if f not in ENVELOPE_DOCS]
    if undocumented:
        raise SystemExit(f"shared/contracts/docs.py: ENVELOPE_DOCS lacks {', '.join(undocumented)}")
    files: dict[Path, str] = {
        CONTRACTS_DIR / "envelope.schema.json": render_json(envelope_schema()),
        CONTRACTS_DIR / "dlq.schema.json": render_json(dead_letter_schema()),
        CONTRACTS_DIR / "checkpoint.schema.json": render_json(checkpoint_schema()),
    }
    for event_type in INBOUND_TYPES:
        files[CONTRACTS_DIR / "inbound" / f"{event_type}.schema.json"] = render_json(inbound_schema(event_type))
    for event_type in EVENT_TYPES:
        files[CONTRACTS_DIR / "events" / f"{event_type}.schema.json"] = render_json(event_schema(event_type))
    for spec in SERVICES:
        files[ASYNCAPI_DIR / f"{spec.name}.json"] = render_json(asyncapi_document(spec))
    return files


def _generated_globs() -> list[tuple[Path, str]]:
    return [
        (CONTRACTS_DIR, "*.schema.json"),
        (CONTRACTS_DIR / "inbound", "*.schema.json"),
        (CONTRACTS_DIR / "events", "*.schema.json"),
        (ASYNCAPI_DIR, "*.json"),
    ]


def stale_files(root: Path = ROOT, files: dict[Path, str] | None = None) -> list[str]:
    """Files under ``root`` that differ from what the code generates, and why."""
    files = generate() if files is None else files
    problems = []
    for rel, content in sorted(files.items()):
        path = root / rel
        if not path.exists():
            problems.append(f"{rel} (missing)")
        elif path.read_bytes() != content.encode("utf-8"):
            problems.append(f"{rel} (differs)")
    for folder, pattern in _generated_globs():
        for path in sorted((root / folder).glob(pattern)):
            rel = path.relative_to(root)
            if rel not in files:
                problems.append(f"{rel} (no longer generated)")
    return problems


def write(root: Path = ROOT) -> list[Path]:
    files = generate()
    written = []
    for rel, content in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written.append(rel)
    for folder, pattern in _generated_globs():
        for path in sorted((root / folder).glob(pattern)):
            if path.relative_to(root) not in files:
                path.unlink()
                written.append(path.relative_to(root))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.contracts.docs",
        description="Generate docs/contracts/ (JSON Schemas) and docs/asyncapi/ (AsyncAPI) from the code.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing the stale files")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        if stale:
            print("The published contract is stale; run `python -m shared.contracts.docs`:", file=sys.stderr)
            for line in stale:
                print(f"  {line}", file=sys.stderr)
            return 1
        print("docs/contracts and docs/asyncapi match the code.")
        return 0
    changed = write(args.root)
    for rel in changed:
        print(f"wrote {rel}" if (args.root / rel).exists() else f"removed {rel}")
    if not changed:
        print("docs/contracts and docs/asyncapi were already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
