"""Adapters from Kafka records to a service's command and event handlers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.envelope import verify_hash
from shared.contracts.upcasting import UnsupportedVersion, upcast
from shared.infra.consumer import Claim, Received, Rejected, position_id
from shared.infra.inbound import Command, InboundGate

CommandFn = Callable[[AsyncSession, Command], Awaitable[str]]
EventFn = Callable[[AsyncSession, dict[str, Any]], Awaitable[str]]


class InboundHandler:
    """Claims the inbound types a service owns and dispatches them as commands."""

    def __init__(self, gate: InboundGate, commands: dict[str, CommandFn]) -> None:
        self.gate = gate
        self.commands = commands

    def claim(self, msg: Received) -> Claim | None:
        return self.gate.claim(msg)

    async def handle(self, session: AsyncSession, msg: Received, claim: Claim) -> str:
        cmd: Command = claim.parsed
        fn = self.commands.get(cmd.event_type)
        if fn is None:  # owned by this service but not wired: a deployment error
            raise Rejected("unknown_event_type", f"{cmd.event_type} is not handled by this service")
        return await fn(session, cmd)


class EventHandler:
    """Consumes another service's event topic into this service's state or read model.

    Only the event types in ``handlers`` are claimed; the others are skipped without a
    trace (they are not meant for this service). The envelope hash is verified.
    """

    def __init__(self, handlers: dict[str, EventFn]) -> None:
        self.handlers = handlers

    def claim(self, msg: Received) -> Claim | None:
        et = msg.headers.get("event_type")
        if et is not None and et.decode("utf-8", "replace") not in self.handlers:
            return None
        try:
            env = json.loads(msg.value)
            if not isinstance(env, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            return Claim(message_id=position_id(msg), rejection=Rejected("bad_json", f"event is not a JSON object: {exc}"))
        if env.get("event_type") not in self.handlers:
            return None
        event_id = env.get("event_id")
        if not isinstance(event_id, str):
            return Claim(message_id=position_id(msg), rejection=Rejected("invalid_message", "event has no event_id"))
        if not verify_hash(env):
            return Claim(
                message_id=event_id,
                rejection=Rejected("bad_hash", f"event {event_id}: hash does not match its content (tampered or corrupt)"),
            )
        try:
            env = upcast(env)
        except UnsupportedVersion as exc:
            return Claim(message_id=event_id, rejection=Rejected("unsupported_schema_version", str(exc)))
        return Claim(message_id=event_id, parsed=env)

    async def handle(self, session: AsyncSession, msg: Received, claim: Claim) -> str:
        env: dict[str, Any] = claim.parsed
        return await self.handlers[env["event_type"]](session, env)
