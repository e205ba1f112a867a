"""What ``verify`` and ``cross-check`` can find, each with a stable machine code.

A finding names the first point of divergence it could locate: the topic, partition and
offset of the record, its ``event_id`` and stream, and what is wrong. Codes never change
meaning; new ones may be added. ``severity`` is ``error`` (the history is not proven whole and
unaltered) or ``note`` (worth knowing, e.g. records not yet covered by a signed checkpoint).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERROR = "error"
NOTE = "note"

#: code -> (severity, what it means); the auditors' guide (docs/audit.md) explains each one
CODES: dict[str, tuple[str, str]] = {
    # records and envelopes
    "not_json": (ERROR, "a record of an event topic is not a JSON object"),
    "schema_invalid": (ERROR, "an event breaks the published JSON Schema of its type"),
    "unknown_event_type": (NOTE, "an event type the published contract does not define (checked against the envelope only)"),
    "wrong_topic": (ERROR, "an event on another topic than the one the contract gives its type"),
    "duplicate_event_id": (ERROR, "the same event_id appears more than once"),
    # hash chains (per stream and producer)
    "payload_edited": (ERROR, "an event's content does not match its hash: it was changed after it was written"),
    "event_dropped": (ERROR, "a sequence number is missing from a stream: an event was removed"),
    "reordered": (ERROR, "an event of a stream comes before one it should follow"),
    "sequence_repeated": (ERROR, "two different events claim the same position of a stream"),
    "chain_broken": (ERROR, "an event's prev_hash is not the hash of the event before it: it was inserted or replaced"),
    # signed checkpoints
    "checkpoint_invalid": (ERROR, "a checkpoint record is malformed or inconsistent with itself"),
    "checkpoint_untrusted_key": (ERROR, "a checkpoint is signed with a key the auditor does not trust for its producer"),
    "checkpoint_bad_signature": (ERROR, "a checkpoint's signature does not verify: it was forged or altered"),
    "checkpoint_missing": (ERROR, "a gap in a producer's checkpoint sequence: a checkpoint was deleted"),
    "checkpoint_chain_broken": (ERROR, "a checkpoint does not name the previous checkpoint's hash"),
    "no_trusted_keys": (ERROR, "checkpoints are on the topic but no trusted public key was given (--keys)"),
    "stream_rewritten": (ERROR, "the records of a partition differ from what a signed checkpoint covers"),
    "tail_dropped": (ERROR, "a partition has fewer records than a signed checkpoint covers: its newest records were removed"),
    "records_deleted": (ERROR, "a partition no longer starts at offset 0: its oldest records were deleted"),
    "unprotected_records": (NOTE, "records after the producer's last checkpoint: not protected by a signature yet"),
    "no_checkpoint": (NOTE, "a producer has published no checkpoint: its history is protected by the hash chains only"),
    # the services' rules
    "illegal_transition": (ERROR, "an event records a transition the service's lifecycle does not allow"),
    "state_mismatch": (ERROR, "the state an event states differs from the state replayed from the events before it"),
    "unresolved_causation": (ERROR, "an event's causation_id names no inbound message and no earlier event"),
    "recognition_without_authority": (
        ERROR,
        "a recognition at the wrong level, by the wrong body, or by an actor whose jurisdiction does not allow it",
    ),
    "recognition_incomplete": (ERROR, "a recognition that does not name its deciding body, decision number and decider"),
    "wrong_track": (
        ERROR,
        "an event of one track on the other's stream: an exemplary-title event on a unit-year's ANTT stream, or the reverse",
    ),
    "exemplary_without_antt": (
        ERROR,
        "an exemplary title recognised without a recognition “An toàn về ANTT” of its unit-year in force before it",
    ),
    "exemplary_revocation_without_cause": (
        ERROR,
        "an exemplary title revoked because of the ANTT revocation (antt_revoked) whose cause is no UnitYearRevoked of its unit-year",
    ),
    "exemplary_lapse_without_cause": (
        ERROR,
        "an exemplary title that lapses while the recognition “An toàn về ANTT” of its unit-year is in force",
    ),
    "exemplary_outlived_antt": (
        ERROR,
        "a unit-year's ANTT recognition revoked while its exemplary title stays recognised (no ExemplaryTitleRevoked)",
    ),
    # exports
    "archive_incomplete": (ERROR, "an archive's records disagree with its manifest (counts or offsets)"),
    # cross-check: the services against the topics
    "state_drift": (ERROR, "a service reports another state than the one folded from the events"),
    "history_missing_event": (ERROR, "an event on the topics is missing from the approval service's history"),
    "history_unknown_event": (ERROR, "the approval service's history holds an event that is not on the topics"),
    "history_event_differs": (ERROR, "the approval service's copy of an event differs from the one on the topics"),
    "unit_year_unknown_to_service": (ERROR, "a unit-year on the topics that a service does not know"),
    "checkpoint_deleted": (ERROR, "a service has published a newer checkpoint than the newest on the topic"),
    "checkpoint_differs": (ERROR, "a service's checkpoint differs from the one of the same sequence on the topic"),
    "service_unavailable": (NOTE, "a service or one of its endpoints could not be asked"),
}


@dataclass
class Finding:
    code: str
    message: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    event_id: str | None = None
    stream: str | None = None
    producer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return CODES.get(self.code, (ERROR, ""))[0]

    def where(self) -> str:
        parts = []
        if self.topic is not None:
            loc = self.topic
            if self.partition is not None:
                loc += f"[{self.partition}]"
            if self.offset is not None:
                loc += f"@{self.offset}"
            parts.append(loc)
        if self.stream:
            parts.append(f"stream {self.stream}" + (f" ({self.producer})" if self.producer else ""))
        if self.event_id:
            parts.append(f"event {self.event_id}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity
        if not out["extra"]:
            del out["extra"]
        return out
