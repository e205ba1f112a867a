"""A JSON Schema compiler for the subset the published contracts use, tuned for replays.

fastjsonschema compiles a schema into Python that walks every property with set operations
and raises an exception at the first error: about 10-40 µs for one of our events, the largest
single cost of ``verify``. An auditor's replay only needs a yes or no per event (the message of
the rare failure is asked of fastjsonschema afterwards), so this compiler writes one plain
boolean function per object schema: a ``dict.get`` and a ``type(x) is str`` per property, the
patterns and formats as precompiled regular expressions.

It understands: ``type`` (one or a list), ``properties``, ``required``, ``additionalProperties``
(boolean or schema), ``items``, ``enum``, ``const``, ``anyOf``, local ``$ref``, ``minLength``,
``maxLength``, ``pattern``, ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
``minItems``, ``maxItems`` and the formats ``date-time``, ``date`` and ``uuid`` (the same
expressions fastjsonschema uses); annotations are ignored. A schema using anything else raises
:class:`Unsupported`, and the caller uses fastjsonschema for it. The tests compare both on
thousands of altered events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

FORMATS = {
    "date-time": (
        r"^(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
        r"|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)(t|T)(?:[01]\d|2[0-3]):[0-5]\d:"
        r"(?:[0-5]\d|60)(?:\.\d+)?(?:[+-](?:[01]\d|2[0-3]):[0-5]\d|[+-](?:[01]\d|2[0-3])[0-5]\d|z|Z)\Z"
    ),
    "date": (
        r"^(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
        r"|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)\Z"
    ),
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z",
}
ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "$schema", "$defs", "$id", "readOnly",
               "writeOnly", "deprecated"}
STRING_KW = {"minLength", "maxLength", "pattern", "format"}
NUMBER_KW = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
ARRAY_KW = {"items", "minItems", "maxItems"}
OBJECT_KW = {"properties", "required", "additionalProperties"}
OTHER_KW = {"type", "enum", "const", "anyOf", "$ref"}
TYPE_TEST = {
    "string": "type({v}) is str",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "array": "type({v}) is list",
    "object": "type({v}) is dict",
}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not know."""


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.consts: dict[str, Any] = {"_json_equal": _json_equal, "_M": object()}
        self.funcs: list[str] = []
        self.by_ref: dict[str, str] = {}
        self.objects: dict[int, str] = {}
        self.expanding: set[str] = set()
        self.n = 0

    def const(self, value: Any, prefix: str) -> str:
        self.n += 1
        name = f"{prefix}{self.n}"
        self.consts[name] = value
        return name

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unsupported(f"non-local $ref {ref}")
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def ref_func(self, ref: str) -> str:
        if ref not in self.by_ref:
            self.n += 1
            name = f"r{self.n}"
            self.by_ref[ref] = name
            target = self.resolve(ref)
            body = self.expr(target, "v")
            self.funcs.append(f"def {name}(v):\n    return {body}\n")
        return self.by_ref[ref]

    def expr(self, s: Any, v: str) -> str:
        if s is True or s == {}:
            return "True"
        if s is False:
            return "False"
        if not isinstance(s, dict):
            raise Unsupported(f"schema {s!r}")
        unknown = set(s) - ANNOTATIONS - STRING_KW - NUMBER_KW - ARRAY_KW - OBJECT_KW - OTHER_KW
        unknown = {k for k in unknown if not k.startswith("x-")}
        if unknown:
            raise Unsupported(f"keywords {sorted(unknown)}")
        parts: list[str] = []
        types = s.get("type")
        if types is not None:
            tl = [types] if isinstance(types, str) else list(types)
            if any(t not in TYPE_TEST for t in tl):
                raise Unsupported(f"type {types!r}")
            parts.append("(" + " or ".join(TYPE_TEST[t].format(v=v) for t in tl) + ")")
        else:
            tl = None
        if "$ref" in s:
            ref = s["$ref"]
            if ref in self.expanding:  # a recursive schema: through a function
                parts.append(f"{self.ref_func(ref)}({v})")
            else:
                self.expanding.add(ref)
                parts.append(self.expr(self.resolve(ref), v))
                self.expanding.discard(ref)
        if "enum" in s:
            values = s["enum"]
            if all(isinstance(x, str) for x in values):
                parts.append(f"(type({v}) is str and {v} in {self.const(frozenset(values), 'E')})")
            else:
                name = self.const(list(values), "E")
                parts.append(f"any(_json_equal({v}, _e) for _e in {name})")
        if "const" in s:
            c = s["const"]
            if isinstance(c, str):
                parts.append(f"{v} == {c!r}")
            else:
                parts.append(f"_json_equal({v}, {self.const(c, 'C')})")
        if "anyOf" in s:
            parts.append("(" + " or ".join(self.expr(b, v) for b in s["anyOf"]) + ")")

        def guarded(kind: str, conds: list[str]) -> None:
            if not conds:
                return
            joined = " and ".join(conds)
            if tl == [kind] or (kind == "number" and tl in (["number"], ["integer"])):
                parts.append(f"({joined})")
            else:
                test = TYPE_TEST["number" if kind == "number" else kind].format(v=v)
                parts.append(f"(not {test} or ({joined}))")

        sc = []
        if "minLength" in s:
            sc.append(f"len({v}) >= {int(s['minLength'])}")
        if "maxLength" in s:
            sc.append(f"len({v}) <= {int(s['maxLength'])}")
        if "pattern" in s:
            pat = s["pattern"]
            pat = pat[:-1] + r"\Z" if pat.endswith("$") and not pat.endswith(r"\$") else pat
            sc.append(f"{self.const(re.compile(pat), 'P')}.search({v}) is not None")
        if "format" in s and s["format"] in FORMATS:
            sc.append(f"{self.const(re.compile(FORMATS[s['format']]), 'F')}.match({v}) is not None")
        guarded("string", sc)
        nc = []
        for kw, op in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if kw in s:
                nc.append(f"{v} {op} {s[kw]!r}")
        if nc:
            test = TYPE_TEST["number"].format(v=v)
            parts.append(f"(not {test} or ({' and '.join(nc)}))")
        ac = []
        if "minItems" in s:
            ac.append(f"len({v}) >= {int(s['minItems'])}")
        if "maxItems" in s:
            ac.append(f"len({v}) <= {int(s['maxItems'])}")
        if "items" in s and s["items"] is not True and s["items"] != {}:
            if not isinstance(s["items"], dict):
                raise Unsupported("items as a list")
            self.n += 1
            name = f"a{self.n}"
            self.funcs.append(f"def {name}(v):\n    for x in v:\n        if not ({self.expr(s['items'], 'x')}):\n"
                              "            return False\n    return True\n")
            ac.append(f"{name}({v})")
        guarded("array", ac)
        if set(s) & OBJECT_KW and id(s) in self.objects:
            guarded("object", [f"{self.objects[id(s)]}({v})"])
        elif set(s) & OBJECT_KW:
            props = s.get("properties") or {}
            req = s.get("required") or []
            addl = s.get("additionalProperties", True)
            self.n += 1
            name = f"o{self.n}"
            self.objects[id(s)] = name
            lines = [f"def {name}(v):"]
            for k in req:
                if k not in props:
                    lines.append(f"    if {k!r} not in v:\n        return False")
            for k, sub in props.items():
                e = self.expr(sub, "x")
                if k in req:
                    lines.append(f"    x = v.get({k!r}, _M)\n    if x is _M or not ({e}):\n        return False")
                elif e != "True":
                    lines.append(f"    x = v.get({k!r}, _M)\n    if x is not _M and not ({e}):\n        return False")
            if addl is False:
                allowed = self.const(frozenset(props), "K")
                lines.append(f"    for k in v:\n        if k not in {allowed}:\n            return False")
            elif addl is not True and addl != {}:
                allowed = self.const(frozenset(props), "K")
                e = self.expr(addl, "x")
                lines.append(f"    for k, x in v.items():\n        if k not in {allowed} and not ({e}):\n"
                             "            return False")
            lines.append("    return True\n")
            self.funcs.append("\n".join(lines))
            guarded("object", [f"{name}({v})"])
        return " and ".join(parts) if parts else "True"


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A function ``valid(document) -> bool``; raises :class:`Unsupported`."""
    c = _Compiler(schema)
    top = c.expr(schema, "v")
    src = "\n".join(c.funcs) + f"\ndef validate(v):\n    return {top}\n"
    ns: dict[str, Any] = dict(c.consts)
    exec(compile(src, "<audit.fastschema>", "exec"), ns)  # noqa: S102 - our own generated code
    fn = ns["validate"]
    fn.source = src  # type: ignore[attr-defined]
    return fn


def load(path: str) -> Callable[[Any], bool]:
    with open(path, encoding="utf-8") as f:
        return compile_schema(json.load(f))
