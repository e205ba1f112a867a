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

``compile_schema(schema, plain=True)`` writes a stricter function: true only for a valid
document that holds no floating-point number anywhere (``integer`` and ``number`` accept only
``int``; values the schema leaves open, such as extra properties, are searched for floats).
``verify`` asks it first: such a document's canonical JSON is orjson's sorted output, so the
hash needs no search of that output for float tokens (:mod:`audit.digest`). A document it
refuses is judged by the ordinary function.
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
ANNOTATIONS = {
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "$schema",
    "$defs",
    "$id",
    "readOnly",
    "writeOnly",
    "deprecated",
}
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


#: the type tests of ``plain`` mode: no float passes for an integer or a number
PLAIN_TYPE_TEST = {**TYPE_TEST, "integer": "type({v}) is int", "number": "type({v}) is int"}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not know."""


#: the expression a simple type test compiles to
_SIMPLE_TYPE = re.compile(r"\(type\(x\) is (str|bool|dict|list)\)")

#: format -> the last string found valid (per process; a cache of one)
_LAST: dict[str, list[str | None]] = {f: [None] for f in FORMATS}


def _format_check(fmt: str) -> Callable[[str], bool]:
    match = re.compile(FORMATS[fmt]).match
    last = _LAST[fmt]

    def check(x: str) -> bool:
        if match(x) is None:
            return False
        last[0] = x
        return True

    return check


#: a character class of ASCII letters, digits and ``._-``, e.g. ``[A-Za-z0-9._-]``
_CLASS = r"\[((?:[A-Za-z0-9]-[A-Za-z0-9]|[A-Za-z0-9._]|-(?=\]))+)\]"
_CHARSET_PATTERN = re.compile(rf"\^(?:{_CLASS})?{_CLASS}(\{{[0-9]+\}}|\{{[0-9]+,[0-9]+\}}|\+|\*)?\$")


def _expand(cls: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(cls):
        if i + 2 < len(cls) and cls[i + 1] == "-":
            lo, hi = ord(cls[i]), ord(cls[i + 2])
            if lo > hi:
                raise ValueError(cls)
            out.extend(chr(c) for c in range(lo, hi + 1))
            i += 3
        else:
            out.append(cls[i])
            i += 1
    return "".join(sorted(set(out)))


def charset_test(pattern: str, v: str) -> str | None:
    """The test of a string ``v`` against ``pattern`` as plain string operations, for patterns
    ``^[A][B]{m,n}$`` (the first class optional, ``A`` within ``B``; ``{n}``, ``+``, ``*`` or
    nothing for the count), or None: ``not v.strip(B)`` is true when every character is in
    ``B``, and ``$`` as ``\\Z`` (no newline at the end either)."""
    m = _CHARSET_PATTERN.fullmatch(pattern)
    if m is None:
        return None
    try:
        first = _expand(m[1]) if m[1] else None
        chars = _expand(m[2])
    except ValueError:
        return None
    if first is not None and not set(first) <= set(chars):
        return None
    q = m[3]
    if q is None:
        lo, hi = 1, 1
    elif q == "+":
        lo, hi = 1, None
    elif q == "*":
        lo, hi = 0, None
    elif "," in q:
        lo, hi = (int(x) for x in q[1:-1].split(","))
    else:
        lo = hi = int(q[1:-1])
    if first is not None:
        lo, hi = lo + 1, None if hi is None else hi + 1
    tests = []
    if hi is None:
        tests.append(f"len({v}) >= {lo}")
    elif lo == hi:
        tests.append(f"len({v}) == {lo}")
    else:
        tests.append(f"{lo} <= len({v}) <= {hi}")
    if first is not None:
        tests.append(f"{v}[0] in {first!r}")
    tests.append(f"not {v}.strip({chars!r})")
    return "(" + " and ".join(tests) + ")"


def no_float(value: Any) -> bool:
    """Whether a parsed JSON value holds no float at any depth (iteratively: a payload nested
    a thousand deep is no reason to fail)."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        x = pop()
        t = type(x)
        if t is float:
            return False
        if t is dict:
            push(x.values())
        elif t is list:
            push(x)
    return True


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
    def __init__(self, root: dict[str, Any], plain: bool = False) -> None:
        self.root = root
        self.plain = plain
        self.types = PLAIN_TYPE_TEST if plain else TYPE_TEST
        self.consts: dict[str, Any] = {"_json_equal": _json_equal, "_M": object(), "_nf": no_float}
        self.funcs: list[str] = []
        self.by_ref: dict[str, str] = {}
        self.objects: dict[int, str | None] = {}
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

    def rejects_none(self, s: Any) -> bool:
        """Whether the expression of ``s`` is false for ``None`` (its first test is a type
        without null, a string enum or a string const)."""
        seen = set()
        while isinstance(s, dict) and "$ref" in s and set(s) - ANNOTATIONS == {"$ref"} and s["$ref"] not in seen:
            seen.add(s["$ref"])
            s = self.resolve(s["$ref"])
        if not isinstance(s, dict):
            return False
        types = s.get("type")
        if types is not None:
            return "null" not in ([types] if isinstance(types, str) else types)
        if isinstance(s.get("const"), str):
            return True
        enum = s.get("enum")
        return isinstance(enum, list) and bool(enum) and all(isinstance(x, str) for x in enum)

    def expr(self, s: Any, v: str) -> str:
        if s is True or s == {}:
            return f"_nf({v})" if self.plain else "True"
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
            parts.append("(" + " or ".join(self.types[t].format(v=v) for t in tl) + ")")
        else:
            tl = None
        #: plain mode: whether the keywords seen so far pin the value to float-free values
        pinned = tl is not None
        if "$ref" in s:
            ref = s["$ref"]
            if ref in self.expanding:  # a recursive schema: through a function
                parts.append(f"{self.ref_func(ref)}({v})")
            else:
                self.expanding.add(ref)
                parts.append(self.expr(self.resolve(ref), v))
                self.expanding.discard(ref)
            pinned = True
        if "enum" in s:
            values = s["enum"]
            if all(isinstance(x, str) for x in values):
                if tl == ["string"]:  # the type test is already made
                    parts.append(f"({v} in {self.const(frozenset(values), 'E')})")
                else:
                    parts.append(f"(type({v}) is str and {v} in {self.const(frozenset(values), 'E')})")
                pinned = True
            else:
                name = self.const(list(values), "E")
                parts.append(f"any(_json_equal({v}, _e) for _e in {name})")
        if "const" in s:
            c = s["const"]
            if isinstance(c, str):
                parts.append(f"{v} == {c!r}")
                pinned = True
            else:
                parts.append(f"_json_equal({v}, {self.const(c, 'C')})")
        if "anyOf" in s:
            parts.append("(" + " or ".join(self.expr(b, v) for b in s["anyOf"]) + ")")
            pinned = True
        if self.plain and not pinned:
            parts.append(f"_nf({v})")

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
        if "minLength" in s and "maxLength" in s:
            sc.append(f"{int(s['minLength'])} <= len({v}) <= {int(s['maxLength'])}")
        elif "minLength" in s:
            sc.append(f"len({v}) >= {int(s['minLength'])}")
        elif "maxLength" in s:
            sc.append(f"len({v}) <= {int(s['maxLength'])}")
        if "pattern" in s:
            pat = s["pattern"]
            plain_test = charset_test(pat, v)
            if plain_test is not None:
                sc.append(plain_test)
            else:
                pat = pat[:-1] + r"\Z" if pat.endswith("$") and not pat.endswith(r"\$") else pat
                sc.append(f"{self.const(re.compile(pat), 'P')}.search({v}) is not None")
        if "format" in s and s["format"] in FORMATS:
            # one-entry memory per format: an event's occurred_at and recorded_at are often the same
            fmt = s["format"]
            if fmt == "uuid":  # ids differ from one event to the next: nothing to remember
                sc.append(f"{self.const(re.compile(FORMATS[fmt]).match, 'F')}({v}) is not None")
            else:
                last = self.const(_LAST[fmt], "L")
                check = self.const(_format_check(fmt), "F")
                sc.append(f"({v} == {last}[0] or {check}({v}))")
        guarded("string", sc)
        nc = []
        for kw, op in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if kw in s:
                nc.append(f"{v} {op} {s[kw]!r}")
        guarded("number", nc)
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
            self.funcs.append(
                f"def {name}(v):\n    for x in v:\n        if not ({self.expr(s['items'], 'x')}):\n"
                "            return False\n    return True\n"
            )
            ac.append(f"{name}({v})")
        elif self.plain and tl is not None and "array" in tl:
            ac.append(f"_nf({v})")
        guarded("array", ac)
        if self.plain and tl is not None and "object" in tl and not set(s) & OBJECT_KW:
            guarded("object", [f"_nf({v})"])
        if set(s) & OBJECT_KW and id(s) in self.objects:
            if self.objects[id(s)] is not None:
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
                if k in req and self.rejects_none(sub):  # then a missing property fails as None
                    simple = _SIMPLE_TYPE.fullmatch(e)
                    if simple:
                        lines.append(f"    if type(v.get({k!r})) is not {simple[1]}:\n        return False")
                    else:
                        lines.append(f"    x = v.get({k!r})\n    if not ({e}):\n        return False")
                elif k in req:
                    lines.append(f"    x = v.get({k!r}, _M)\n    if x is _M or not ({e}):\n        return False")
                elif e != "True":
                    lines.append(f"    x = v.get({k!r}, _M)\n    if x is not _M and not ({e}):\n        return False")
            # every required property is there by now: as many keys as required ones, no other
            n_req = len(set(req))
            if addl is False:
                allowed = self.const(frozenset(props), "K")
                lines.append(f"    if len(v) != {n_req} and not v.keys() <= {allowed}:\n        return False")
            elif (addl is not True and addl != {}) or self.plain:
                allowed = self.const(frozenset(props), "K")
                e = self.expr(addl if addl is not True else {}, "x")
                lines.append(
                    f"    if len(v) != {n_req} and not v.keys() <= {allowed}:\n"
                    f"        for k, x in v.items():\n"
                    f"            if k not in {allowed} and not ({e}):\n                return False"
                )
            if len(lines) == 1:  # no check at all: no call either
                self.objects[id(s)] = None
                return " and ".join(parts) if parts else "True"
            lines.append("    return True\n")
            self.funcs.append("\n".join(lines))
            guarded("object", [f"{name}({v})"])
        return " and ".join(parts) if parts else "True"


def compile_schema(schema: dict[str, Any], *, plain: bool = False) -> Callable[[Any], bool]:
    """A function ``valid(document) -> bool`` (with ``plain``: valid and without a float, see
    the module docstring); raises :class:`Unsupported`."""
    c = _Compiler(schema, plain)
    top = c.expr(schema, "v")
    src = "\n".join(c.funcs) + f"\ndef validate(v):\n    return {top}\n"
    ns: dict[str, Any] = dict(c.consts)
    exec(compile(src, "<audit.fastschema>", "exec"), ns)  # noqa: S102 - our own generated code
    fn = ns["validate"]
    fn.source = src
    return fn


def load(path: str) -> Callable[[Any], bool]:
    with open(path, encoding="utf-8") as f:
        return compile_schema(json.load(f))
