"""Adapters from Kafka records to a service's command handlers and event policies.

Both registries are keyed by class, as a message bus is: commands by their inbound payload
model (``shared.contracts.inbound``), events by their payload model
(``shared.contracts.events``). A handler receives the parsed, validated (and, for events,
upcast) message and the unit of work of its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import verify_hash
from shared.contracts.upcasting import UnsupportedVersion, upcast
from shared.infra.consumer import Claim, Received, Rejected, position_id
from shared.infra.inbound import Command, InboundGate
from shared.infra.uow import Cause, UnitOfWork

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class EventMessage(Generic[P]):
    """An event of another service (or of this one), as a policy receives it: the envelope as
    published and its payload parsed into the event's model."""

    envelope: dict[str, Any]
    payload: P
    #: the record's bytes when they are this envelope (it was not upcast): what a policy that
    #: keeps the event as published can store without serialising the envelope again
    raw: bytes | None = None

    @property
    def event_id(self) -> str:
        return str(self.envelope["event_id"])

    @property
    def event_type(self) -> str:
        return str(self.envelope["event_type"])

    @property
    def unit_year_id(self) -> str | None:
        return self.envelope.get("unit_year_id")

    @property
    def cause(self) -> Cause:
        """The cause of an event this one leads to: same actor and correlation, caused by it."""
        return Cause(actor=self.envelope["actor"], correlation_id=self.envelope["correlation_id"], causation_id=self.event_id)


CommandFn = Callable[[UnitOfWork, Command], str]
EventFn = Callable[[UnitOfWork, EventMessage[Any]], str]
#: loads, for a batch, the aggregates and stream heads of these unit-years in a few statements
PrefetchFn = Callable[[UnitOfWork, list[str]], None]


def _no_prefetch(uow: UnitOfWork, unit_year_ids: list[str]) -> None:
    return None


class InboundHandler:
    """Claims the inbound types a service owns and dispatches them as commands, by the class of
    their payload."""

    def __init__(
        self, gate: InboundGate, commands: Mapping[type[BaseModel], CommandFn], *, prefetch: PrefetchFn = _no_prefetch
    ) -> None:
        self.gate = gate
        self.commands = dict(commands)
        self._prefetch = prefetch

    def claim(self, msg: Received) -> Claim | None:
        return self.gate.claim(msg)

    def prefetch(self, uow: UnitOfWork, claims: list[Claim]) -> None:
        ids = [uy for c in claims if (uy := _unit_year_of(c.parsed.payload)) is not None]
        if ids:
            self._prefetch(uow, ids)

    def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
        cmd: Command = claim.parsed
        fn = self.commands.get(type(cmd.payload))
        if fn is None:  # owned by this service but not wired: a deployment error
            raise Rejected("unknown_event_type", f"{cmd.event_type} is not handled by this service")
        return fn(uow, cmd)

    def handled_types(self) -> list[str]:
        return [cls.__name__ for cls in self.commands]


class EventHandler:
    """Consumes an event topic into this service's state or read model.

    Only the event types of ``policies`` are claimed; the others are skipped without a trace
    (they are not meant for this service), before parsing when the record has the
    ``event_type`` header. The envelope hash is verified, the envelope upcast to the current
    version, and its payload parsed into the event's model (or the ``read_as`` view) for the
    policy.
    """

    def __init__(
        self,
        policies: Mapping[type[BaseModel], EventFn],
        *,
        read_as: type[BaseModel] | None = None,
        prefetch: PrefetchFn = _no_prefetch,
    ) -> None:
        #: ``read_as``: a tolerant reader's view of the payloads (a model of just the fields the
        #: policies use), instead of each event's own model
        self.policies = {cls.__name__: (read_as or cls, fn) for cls, fn in policies.items()}
        self._prefetch = prefetch

    def prefetch(self, uow: UnitOfWork, claims: list[Claim]) -> None:
        ids = [uy for c in claims if (uy := c.parsed.get("unit_year_id"))]
        if ids:
            self._prefetch(uow, ids)

    def handled_types(self) -> list[str]:
        return list(self.policies)

    def claim(self, msg: Received) -> Claim | None:
        et = msg.headers.get("event_type")
        if et is not None and et.decode("utf-8", "replace") not in self.policies:
            return None
        try:
            env = orjson.loads(msg.value)
            if not isinstance(env, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            return Claim(message_id=position_id(msg), rejection=Rejected("bad_json", f"event is not a JSON object: {exc}"))
        spec = self.policies.get(env.get("event_type"))  # type: ignore[arg-type]
        if spec is None:
            return None
        event_id = env.get("event_id")
        if not isinstance(event_id, str):
            return Claim(message_id=position_id(msg), rejection=Rejected("invalid_message", "event has no event_id"))
        if not verify_hash(env, parsed_by_orjson=True):
            return Claim(
                message_id=event_id,
                rejection=Rejected("bad_hash", f"event {event_id}: hash does not match its content (tampered or corrupt)"),
            )
        try:
            current = upcast(env)
        except UnsupportedVersion as exc:
            return Claim(message_id=event_id, rejection=Rejected("unsupported_schema_version", str(exc)))
        return Claim(message_id=event_id, parsed=current, as_read=current is env)

    def handle(self, uow: UnitOfWork, msg: Received, claim: Claim) -> str:
        # The payload is parsed here, not in ``claim``: a hashed event of a trusted producer that
        # this service cannot read is a fault to retry and then dead-letter (processing_failed),
        # like any other failure to apply it.
        env: dict[str, Any] = claim.parsed
        model, fn = self.policies[env["event_type"]]
        return fn(uow, EventMessage(env, read_payload(model, env), msg.value if claim.as_read else None))


def read_payload(model: type[P], env: dict[str, Any]) -> P:
    """The payload of ``env`` as ``model``. A missing required field is a ``KeyError`` naming it,
    as a reader of the JSON meets it; any other mismatch is pydantic's ``ValidationError``."""
    try:
        return model.model_validate(env.get("payload"))
    except ValidationError as exc:
        missing = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "missing"]
        if missing:
            raise KeyError(f"{env.get('event_type')} {env.get('event_id')}: payload lacks {', '.join(missing)}") from exc
        raise


def _unit_year_of(payload: Any) -> str | None:
    """The unit-year an inbound command is about, if it names one."""
    uy = getattr(payload, "unit_year_id", None)
    if isinstance(uy, str):
        return uy
    code, year = getattr(payload, "unit_code", None), getattr(payload, "year", None)
    return f"{code}:{year}" if isinstance(code, str) and isinstance(year, int) else None
