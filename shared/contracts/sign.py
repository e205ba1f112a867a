"""Sign an inbound message for ``antt.inbound.v1`` and print it on one line.

From a payload (the message is built around it)::

    python -m shared.contracts.sign --source-system dvc-quang-ngai --key-env ANTT_SENDER_KEY \\
        --event-type UnitRegistrationSubmitted --payload-file unit.json \\
      | kcat -P -b 127.0.0.1:9092 -t antt.inbound.v1 -k QNG-TB-T3

From a whole message (``event_id``, ``occurred_at``, ``actor``, ... as given; a
``signature`` in the file is replaced)::

    python -m shared.contracts.sign --source-system dvc-quang-ngai --key-env ANTT_SENDER_KEY \\
        --message-file message.json

``-`` as a file name reads standard input. The message is checked against the contract
(the inbound message schema and the payload schema of its type) before it is signed;
``--no-validate`` skips that. ``--with-kafka-key D`` prints ``<unit code>D<message>`` for
``kcat -P -K D``. Prefer ``--key-env`` to ``--key``: a key on the command line is visible to
other users of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pydantic import ValidationError

from shared.contracts.inbound import INBOUND_TYPES, InboundMessage, new_message, sign
from shared.contracts.topics import INBOUND


class SignError(Exception):
    """A message that cannot be signed as asked (exit status 2)."""


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise SignError(f"{path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SignError(f"{path}: not valid JSON: {exc}") from None


def _key(args: argparse.Namespace) -> str:
    if args.key is not None:
        key = str(args.key)
    else:
        key = os.environ.get(args.key_env, "")
        if not key:
            raise SignError(f"environment variable {args.key_env} is not set or empty")
    return key


def unit_code_of(message: dict[str, Any]) -> str | None:
    """The Kafka key of an inbound message: the code of the unit it is about."""
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return None
    unit = payload.get("unit")
    if isinstance(unit, dict) and isinstance(code := unit.get("code"), str):
        return code
    if isinstance(unit_code := payload.get("unit_code"), str):
        return unit_code
    uy = payload.get("unit_year_id")
    if isinstance(uy, str) and ":" in uy:
        return uy.rsplit(":", 1)[0]
    return None


def validate(message: dict[str, Any]) -> None:
    """Raise :class:`SignError` when ``message`` breaks the inbound contract."""
    event_type = message.get("event_type")
    if event_type not in INBOUND_TYPES:
        raise SignError(f"unknown event_type {event_type!r}; accepted types: {', '.join(sorted(INBOUND_TYPES))}")
    model, _owner = INBOUND_TYPES[event_type]
    for what, schema, data in (
        ("message", InboundMessage, {**message, "signature": "0" * 64}),
        ("payload", model, message.get("payload")),
    ):
        try:
            schema.model_validate(data)
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:10])
            raise SignError(f"the {what} breaks the contract: {errors}") from None


def build(args: argparse.Namespace) -> dict[str, Any]:
    key = _key(args)
    if args.message_file is not None:
        message = _read_json(args.message_file)
        if not isinstance(message, dict):
            raise SignError("the message file must hold a JSON object")
        found = message.setdefault("source_system", args.source_system)
        if found != args.source_system:
            raise SignError(f"the message's source_system is {found!r}, not {args.source_system!r}")
        if not args.no_validate:
            validate(message)
        try:
            return sign(message, key)
        except ValueError as exc:  # NaN or Infinity: no canonical JSON
            raise SignError(f"the message cannot be signed: {exc}") from None
    payload = _read_json(args.payload_file)
    actor = None
    if args.actor_id or args.actor_role or args.actor_jurisdiction:
        actor = {
            "id": args.actor_id or args.source_system,
            "role": args.actor_role or "system",
            "jurisdiction": args.actor_jurisdiction or "*",
        }
    try:
        message = new_message(
            args.event_type,
            payload,
            source_system=args.source_system,
            key=key,
            actor=actor,
            correlation_id=args.correlation_id,
            event_id=args.event_id,
        )
    except ValueError as exc:  # NaN or Infinity: no canonical JSON
        raise SignError(f"the message cannot be signed: {exc}") from None
    if not args.no_validate:
        validate(message)
    return message


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m shared.contracts.sign",
        description=f"Sign an inbound message for {INBOUND} and print it as one line of JSON.",
    )
    p.add_argument("--source-system", required=True, help="the sender's id, as configured in the services")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-env", metavar="VAR", help="read the sender's HMAC key from this environment variable")
    key.add_argument("--key", metavar="K", help="the sender's HMAC key (visible to other users; prefer --key-env)")
    p.add_argument("--event-type", choices=sorted(INBOUND_TYPES), help="the inbound type (with --payload-file)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--payload-file", metavar="F", help="JSON payload; the message is built around it")
    src.add_argument("--message-file", metavar="F", help="a whole message without (or with a stale) signature")
    p.add_argument("--event-id", help="UUID of the message (default: a new one)")
    p.add_argument("--correlation-id", help="correlation id carried into the resulting events")
    p.add_argument("--actor-id", help="the acting official or system (default: the source system)")
    p.add_argument("--actor-role", help="the actor's role (default: system)")
    p.add_argument("--actor-jurisdiction", help="the actor's jurisdiction (default: *)")
    p.add_argument("--no-validate", action="store_true", help="sign without checking the message against the contract")
    p.add_argument(
        "--with-kafka-key",
        metavar="D",
        help="print '<unit code>D<message>' (for kcat -K D) instead of the message alone",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.payload_file is not None and not args.event_type:
        p.error("--payload-file needs --event-type")
    if args.message_file is not None and (
        args.event_type or args.event_id or args.correlation_id or args.actor_id or args.actor_role or args.actor_jurisdiction
    ):
        p.error("with --message-file, the message itself gives event_type, event_id, actor and correlation_id")
    try:
        message = build(args)
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        if args.with_kafka_key is not None:
            unit_code = unit_code_of(message)
            if unit_code is None:
                raise SignError("no unit code in the payload to use as the Kafka key")
            line = f"{unit_code}{args.with_kafka_key}{line}"
    except SignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write((line + "\n").encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
