"""The published JSON Schemas (docs/contracts), compiled once into fast validators.

The schemas are the contract the services publish and that other systems validate against, so
the auditor validates with *them*, not with the services' pydantic models. Each schema is
compiled twice: by :mod:`audit.fastschema` into a yes-or-no function for the common case of a
valid event, and by fastjsonschema, which gives the verdict and the message when the first says
no. Before compiling, one exact rewrite is made
for speed: ``anyOf: [S, {"type": "null"}]``, where ``S`` has one ``type`` and otherwise only
keywords that apply to that type, becomes ``S`` with ``type: [T, "null"]``. The two accept the
same documents (type-specific keywords such as ``format`` or ``pattern`` ignore a null), but
the second needs no exception on the null branch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema

from audit.fastschema import Unsupported, compile_schema

#: where the contracts live in a checkout of the repository
DEFAULT_CONTRACTS = Path(__file__).resolve().parents[1] / "docs" / "contracts"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"

#: keywords that constrain only one JSON type (and ignore values of any other type)
_TYPE_KEYWORDS = {
    "string": {"format", "pattern", "minLength", "maxLength", "contentEncoding", "contentMediaType"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"},
    "object": {"properties", "required", "additionalProperties", "patternProperties", "minProperties", "maxProperties"},
}
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment"}


def _nullable(branches: list[Any]) -> dict[str, Any] | None:
    if len(branches) != 2 or {"type": "null"} not in branches:
        return None
    other = branches[0] if branches[1] == {"type": "null"} else branches[1]
    if not isinstance(other, dict) or not isinstance(other.get("type"), str):
        return None
    allowed = _TYPE_KEYWORDS.get(other["type"], set()) | _ANNOTATIONS | {"type"}
    if set(other) - allowed:
        return None
    return {**other, "type": [other["type"], "null"]}


def simplify(schema: Any) -> Any:
    """The rewrite described in the module docstring, applied at every depth."""
    if isinstance(schema, list):
        return [simplify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: simplify(v) for k, v in schema.items()}
    if "anyOf" in out:
        merged = _nullable(out["anyOf"])
        if merged is not None:
            rest = {k: v for k, v in out.items() if k != "anyOf"}
            if not (set(rest) - _ANNOTATIONS):
                return {**merged, **{k: v for k, v in rest.items()}} | {"type": merged["type"]}
    return out


class ContractError(Exception):
    """The contracts folder is missing or unreadable (a usage error)."""


class _Validator:
    """A validator that is fast when the document is valid (:mod:`audit.fastschema`) and asks
    fastjsonschema otherwise, for its verdict and its message. Each function is compiled on
    first use (in each worker process, for the event types it meets): compiling all of them
    up front takes longer than checking thousands of events."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._quick: Any = _UNSET
        self._plain: Any = _UNSET
        self._full: Callable[[Any], Any] | None = None

    def quick(self) -> Callable[[Any], bool] | None:
        """The yes-or-no function (None: the schema uses what fastschema does not know)."""
        if self._quick is _UNSET:
            try:
                self._quick = compile_schema(self.schema)
            except Unsupported:
                self._quick = None
        return self._quick

    def plain(self) -> Callable[[Any], bool] | None:
        """The same, true only for a document without a float (fastschema's plain mode)."""
        if self._plain is _UNSET:
            try:
                self._plain = compile_schema(self.schema, plain=True)
            except Unsupported:
                self._plain = None
        return self._plain

    def __call__(self, document: Any) -> str | None:
        quick = self.quick()
        if quick is not None and quick(document):
            return None
        if self._full is None:
            self._full = fastjsonschema.compile(self.schema, formats={"uuid": UUID_PATTERN}, use_default=False)
        try:
            self._full(document)
        except fastjsonschema.JsonSchemaException as exc:
            return str(getattr(exc, "message", exc))
        return None


_UNSET = object()


class Schemas:
    """The envelope schema and one whole-event schema per event type."""

    def __init__(self, folder: Path = DEFAULT_CONTRACTS) -> None:
        folder = Path(folder)
        env_path = folder / "envelope.schema.json"
        if not env_path.is_file():
            raise ContractError(f"{folder}: no envelope.schema.json (pass --contracts DIR)")
        self.folder = folder
        self.envelope = self._compile(env_path)
        self.events: dict[str, _Validator] = {}
        #: event type -> the topic the contract puts it on (x-topic)
        self.topic_of: dict[str, str] = {}
        for path in sorted((folder / "events").glob("*.schema.json")):
            name = path.name.removesuffix(".schema.json")
            self.events[name] = self._compile(path)
            self.topic_of[name] = json.loads(path.read_text(encoding="utf-8")).get("x-topic", "")

    def _compile(self, path: Path) -> _Validator:
        return _Validator(simplify(json.loads(path.read_text(encoding="utf-8"))))

    def validate(self, envelope: Any) -> str | None:
        """``None`` when the event is valid against its type's schema (the envelope schema for a
        type the contract does not know), else the first error."""
        etype = envelope.get("event_type") if isinstance(envelope, dict) else None
        fn = self.events.get(etype) if isinstance(etype, str) else None
        return (fn or self.envelope)(envelope)
