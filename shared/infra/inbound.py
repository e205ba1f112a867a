"""Reading ``antt.inbound.v1``: parse, authenticate and validate, or reject with a reason.

Every service reads the inbound topic in its own consumer group and claims the event
types it owns (``shared.contracts.inbound.INBOUND_TYPES``). Messages no service can claim
(bad JSON, no or unknown ``event_type``) are dead-lettered by the gatekeeper service only,
so each bad message lands in the DLQ once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from shared.contracts.canonical import constant_time_equal, hmac_sha256_hex
from shared.contracts.envelope import Actor
from shared.contracts.inbound import GATEKEEPER, INBOUND_TYPES, MAX_INBOUND_BYTES, InboundMessage, signing_bytes
from shared.infra.consumer import Claim, Received, Rejected, position_id
from shared.infra.settings import Sender
from shared.infra.uow import Cause


@dataclass(slots=True)
class Command:
    """An authenticated, validated request to change state (from Kafka or HTTP)."""

    event_type: str
    message_id: str
    payload: Any
    actor: Actor
    source: str
    correlation_id: str
    jurisdiction: list[str]

    def actor_dict(self) -> dict[str, Any]:
        return self.actor.model_dump()

    @property
    def cause(self) -> Cause:
        """The cause of the events this command leads to."""
        return Cause(actor=self.actor_dict(), correlation_id=self.correlation_id, causation_id=self.message_id)

    def require_jurisdiction(
        self,
        *,
        province_code: str,
        commune_code: str | None = None,
        unit_code: str | None = None,
        district_code: str | None = None,
    ) -> None:
        """Refuse (``out_of_jurisdiction``) a command for a unit outside the sender's jurisdiction."""
        if not in_jurisdiction(
            self.jurisdiction, province_code=province_code, commune_code=commune_code, district_code=district_code
        ):
            unit = f"unit {unit_code}" if unit_code else "unit"
            raise Rejected(
                "out_of_jurisdiction",
                f"{self.source} may act for {', '.join(self.jurisdiction)}; {unit} is in province {province_code}",
            )


def describe_validation(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        parts.append(f"{loc or '(root)'}: {err['msg']}")
    more = len(exc.errors()) - 10
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def validate_payload(model: type[BaseModel], payload: Any, prefix: str = "payload") -> BaseModel:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise Rejected("invalid_payload", describe_validation(exc, prefix)) from None


def in_jurisdiction(
    jurisdiction: list[str], *, province_code: str | None, commune_code: str | None = None, district_code: str | None = None
) -> bool:
    """Whether a sender or official acting for ``jurisdiction`` may act for a unit of this
    province, district and commune at all (what it may decide, level by level, is
    ``shared.contracts.jurisdiction.may_decide``)."""
    for j in jurisdiction:
        if j == "*":
            return True
        if province_code and j == f"province:{province_code}":
            return True
        if district_code and j == f"district:{district_code}":
            return True
        if commune_code and j == f"commune:{commune_code}":
            return True
    return False


class InboundGate:
    def __init__(self, service: str, senders: dict[str, Sender]) -> None:
        self.service = service
        self.senders = senders
        self.gatekeeper = service == GATEKEEPER

    def _unclaimable(self, msg: Received, code: str, reason: str, message_id: str | None = None) -> Claim | None:
        if not self.gatekeeper:
            return None
        return Claim(message_id=message_id or position_id(msg), rejection=Rejected(code, reason))

    def claim(self, msg: Received) -> Claim | None:
        if len(msg.value) > MAX_INBOUND_BYTES:
            # refused before parsing: no service can tell whose it is, so the gatekeeper alone
            # dead-letters it
            return self._unclaimable(
                msg,
                "too_large",
                f"message is {len(msg.value)} bytes; inbound messages may be at most {MAX_INBOUND_BYTES} bytes",
            )
        try:
            data = orjson.loads(msg.value)  # a depth limit: deeply nested input is bad_json, not a RecursionError
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._unclaimable(msg, "bad_json", f"message is not valid UTF-8 JSON: {exc}")
        if not isinstance(data, dict):
            return self._unclaimable(msg, "bad_json", "message must be a JSON object")
        eid = data.get("event_id")
        message_id = eid if isinstance(eid, str) and 0 < len(eid) <= 100 else position_id(msg)
        event_type = data.get("event_type")
        spec = INBOUND_TYPES.get(event_type) if isinstance(event_type, str) else None
        if spec is None:
            known = ", ".join(sorted(INBOUND_TYPES))
            what = "missing event_type" if event_type is None else f"unknown event_type {event_type!r}"
            return self._unclaimable(msg, "unknown_event_type", f"{what}; accepted types: {known}", message_id)
        model, owner = spec
        if owner != self.service:
            return None
        try:
            return self._claim_owned(msg, data, model, message_id)
        except Exception as exc:  # noqa: BLE001 - e.g. a RecursionError on a payload nested ~1,000 deep
            # the owner dead-letters what it cannot read, rather than let it escape the consumer
            return Claim(
                message_id=position_id(msg),
                declared_id=message_id,
                rejection=Rejected(
                    "unreadable_message", f"the message could not be read: {type(exc).__name__}: {str(exc)[:300]}"
                ),
            )

    def _claim_owned(self, msg: Received, data: dict[str, Any], model: type[BaseModel], message_id: str) -> Claim:
        """Authenticate and validate a message of a type this service owns."""
        try:
            env = InboundMessage.model_validate(data)
        except ValidationError as exc:
            return Claim(message_id=message_id, rejection=Rejected("invalid_message", describe_validation(exc)))
        message_id = str(env.event_id)
        sender = self.senders.get(env.source_system)
        # an unauthenticated message does not use up its event_id: the sender may fix its key
        # and send it again
        if sender is None:
            return Claim(
                message_id=position_id(msg),
                declared_id=message_id,
                rejection=Rejected("unknown_sender", f"source_system {env.source_system!r} is not a configured sender"),
            )
        expected = hmac_sha256_hex(sender.key, signing_bytes(data))
        if not constant_time_equal(expected, env.signature.lower()):
            return Claim(
                message_id=position_id(msg),
                declared_id=message_id,
                rejection=Rejected(
                    "bad_signature",
                    f"signature does not verify with the key of {env.source_system!r} "
                    "(HMAC-SHA256 over the canonical JSON without 'signature')",
                ),
            )
        try:
            payload = validate_payload(model, env.payload)
        except Rejected as rej:
            return Claim(message_id=message_id, duplicate_is_error=True, rejection=rej)
        return Claim(
            message_id=message_id,
            duplicate_is_error=True,
            parsed=Command(
                event_type=env.event_type,
                message_id=message_id,
                payload=payload,
                actor=env.actor,
                source=env.source_system,
                correlation_id=env.correlation_id or message_id,
                jurisdiction=sender.jurisdiction,
            ),
        )
