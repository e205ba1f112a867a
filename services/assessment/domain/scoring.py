"""Province scoring sheets (bảng điểm), as configuration: a province may score its units on
100 points and add a criterion on that score (Circular 124/2021/TT-BCA Art. 8.1).

A sheet is ``scoring/<province_code>.<kind or "all">.<version>.json``; ``version`` is the
first year it applies. For a unit-year the sheet is the one of its province and kind (else
its province and ``all``) with the latest version not after the year; none, no sheet.

A sheet has groups of items; each item has ``max_points`` and a ``rule``:

- ``manual``: the unit gives the points (``evidence.self_scores[item]``, 0..max);
- ``per_missing``: ``required`` things (``document:<kind>``, ``rule:<topic>``,
  ``evidence:<field>``, optionally ``{"need": ..., "when": <evidence flag>}``), minus
  ``points_each`` per one missing;
- ``per_step_below`` / ``per_step_below_threshold``: the lowest of ``ratios`` (pairs of
  evidence fields) against ``target_percent``: minus ``points_per_step`` per ``step_percent``
  below it (whole steps; ``"partial_step": "counts"`` to count a started step);
- ``per_occurrence``: minus ``points_each`` per incident of ``categories`` in the window
  (``forfeit_at_severity``: one that grave takes all the points) and per person counted in
  ``evidence_count`` (e.g. ``disciplined_members.security_force``);
- ``rating``: all the points if ``field`` is one of ``accepted``, else none.

An item's points never go below 0. An item whose evidence is missing is left unscored
(``no_evidence``): the score is then incomplete and the sheet's criterion, if any, is left
to the reviewer unless even full points on the missing items could not reach the pass mark.
Points are computed exactly (fractions) and shown as numbers.

The pass mark (mức đạt chuẩn) is the province's to set, and a sheet must say it explicitly:
``"pass_mark": <points>`` with ``"pass_mark_basis"`` naming the document that sets it (the
province's decision or guidance), or ``"pass_mark": null`` while the province has not set
one. There is no default: a sheet without a configured pass mark computes its score but
cannot pass (or fail) a unit on it, and the sheet's criterion is left to the reviewer with
that reason. A sheet that leaves the key out, or gives a mark without its basis, is refused
when it is loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from services.assessment.domain.criteria import vocabulary
from services.assessment.domain.rules import Facts, percent

SHEET_DIR = Path(__file__).parent.parent / "scoring"
RULES = ("manual", "per_missing", "per_step_below", "per_step_below_threshold", "per_occurrence", "rating")
ALL_KINDS = "all"


class SheetError(ValueError):
    """The submission does not fit the sheet (e.g. points above an item's maximum)."""


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _opt_num(x: Fraction | None) -> int | float | None:
    return None if x is None else _num(x)


@dataclass(frozen=True)
class Item:
    code: str
    text_vi: str
    max_points: Fraction
    rule: Mapping[str, Any]


@dataclass(frozen=True)
class Group:
    code: str
    title_vi: str
    max_points: Fraction
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Sheet:
    province_code: str
    kind: str
    version: str
    title_vi: str
    source: str
    max_points: Fraction
    #: None: the province has set no pass mark for this sheet (no score passes automatically)
    pass_mark: Fraction | None
    groups: tuple[Group, ...]
    criterion: Mapping[str, Any] | None = None
    pass_mark_basis: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.province_code}.{self.kind}.{self.version}"

    def items(self) -> list[Item]:
        return [i for g in self.groups for i in g.items]

    def item_codes(self) -> list[str]:
        return [i.code for i in self.items()]


def parse_sheet(data: Mapping[str, Any]) -> Sheet:
    groups = []
    for g in data["groups"]:
        items = []
        for i in g["items"]:
            rule = dict(i["rule"])
            if rule.get("type") not in RULES:
                raise ValueError(f"sheet item {i['code']}: unknown rule {rule.get('type')!r}")
            items.append(Item(code=i["code"], text_vi=i.get("text_vi", ""), max_points=Fraction(str(i["max_points"])), rule=rule))
        group = Group(
            code=g["code"], title_vi=g.get("title_vi", ""), max_points=Fraction(str(g["max_points"])), items=tuple(items)
        )
        if sum((i.max_points for i in items), Fraction(0)) != group.max_points:
            raise ValueError(f"sheet group {group.code}: its items' maxima do not add up to {group.max_points}")
        groups.append(group)
    ref = f"{data.get('province_code')}.{data.get('kind')}.{data.get('version')}"
    if "pass_mark" not in data:
        raise ValueError(
            f"sheet {ref}: no pass_mark key; a province states its pass mark explicitly "
            "(points, with pass_mark_basis), or null while it has set none"
        )
    pass_mark = None if data["pass_mark"] is None else Fraction(str(data["pass_mark"]))
    basis = data.get("pass_mark_basis")
    if pass_mark is not None and not (isinstance(basis, str) and basis.strip()):
        raise ValueError(
            f"sheet {ref}: pass_mark {data['pass_mark']} is given without pass_mark_basis (the document that sets it)"
        )
    sheet = Sheet(
        province_code=str(data["province_code"]),
        kind=data["kind"],
        version=str(data["version"]),
        title_vi=data.get("title_vi", ""),
        source=data.get("source", ""),
        max_points=Fraction(str(data["max_points"])),
        pass_mark=pass_mark,
        pass_mark_basis=basis if pass_mark is not None else None,
        groups=tuple(groups),
        criterion=data.get("criterion"),
    )
    if pass_mark is not None and not 0 < pass_mark <= sheet.max_points:
        raise ValueError(f"sheet {sheet.ref}: pass_mark {data['pass_mark']} is not within 0 and {_num(sheet.max_points)}")
    if sum((g.max_points for g in sheet.groups), Fraction(0)) != sheet.max_points:
        raise ValueError(f"sheet {sheet.ref}: its groups' maxima do not add up to {sheet.max_points}")
    codes = sheet.item_codes()
    if len(codes) != len(set(codes)):
        raise ValueError(f"sheet {sheet.ref}: item codes repeat")
    return sheet


@cache
def load_sheet(name: str) -> Sheet:
    return parse_sheet(json.loads((SHEET_DIR / f"{name}.json").read_text(encoding="utf-8")))


@cache
def _sheet_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in SHEET_DIR.glob("*.json")))


def select_sheet(province_code: str, kind: str, year: int) -> Sheet | None:
    """The sheet for a unit of ``kind`` in ``province_code`` in ``year``, or None."""
    for wanted in (kind, ALL_KINDS):
        versions = []
        for name in _sheet_names():
            prov, k, version = name.split(".", 2)
            if prov == province_code and k == wanted and version.isdigit() and int(version) <= year:
                versions.append((int(version), name))
        if versions:
            return load_sheet(max(versions)[1])
    return None


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class ItemScore:
    points: Fraction | None  # None: no evidence
    reason: str
    evidence: dict[str, Any]


def _clamp(max_points: Fraction, deduction: Fraction) -> Fraction:
    return max(Fraction(0), max_points - deduction)


def _manual(item: Item, facts: Facts) -> ItemScore:
    given = (facts.stated("self_scores") or {}).get(item.code)
    if given is None:
        return ItemScore(None, f"no evidence given (self_scores[{item.code}]): the unit gives these points", {})
    pts = Fraction(str(given))
    return ItemScore(pts, f"given by the unit: {_num(pts)}/{_num(item.max_points)}", {"self_score": given})


def _have(need: str, facts: Facts) -> bool | None:
    source, _, name = need.partition(":")
    if source == "document":
        return bool(facts.docs(name))
    if source == "rule":
        topics = facts.stated("internal_rules")
        return None if topics is None else name in topics
    if source == "evidence":
        v = facts.stated(name)
        return None if v is None else bool(v)
    raise ValueError(f"unknown requirement {need!r} (document:, rule: or evidence:)")


def _per_missing(item: Item, facts: Facts) -> ItemScore:
    rule = item.rule
    each = Fraction(str(rule["points_each"]))
    missing: list[str] = []
    unknown: list[str] = []
    present: list[str] = []
    for req in rule["required"]:
        need, when = (req, None) if isinstance(req, str) else (req["need"], req.get("when"))
        if when is not None:
            flag = facts.stated(when)
            if flag is False:
                continue
            if flag is None:
                unknown.append(f"{need} (where {when}: not stated)")
                continue
        if need.startswith("document:") and not facts.evidence_given:
            unknown.append(need)
            continue
        have = _have(need, facts)
        if have is None:
            unknown.append(need)
        elif have:
            present.append(need)
        else:
            missing.append(need)
    evidence = {"present": present, "missing": missing}
    if unknown:
        return ItemScore(None, f"no evidence given ({', '.join(unknown)})", evidence)
    pts = _clamp(item.max_points, each * len(missing))
    if missing:
        return ItemScore(pts, f"missing {', '.join(missing)}: −{_num(each)} each", evidence)
    return ItemScore(pts, "nothing missing", evidence)


def _per_step_below(item: Item, facts: Facts) -> ItemScore:
    rule = item.rule
    target = Fraction(str(rule.get("target_percent", rule.get("threshold_percent", 100))))
    step = Fraction(str(rule["step_percent"]))
    per_step = Fraction(str(rule["points_per_step"]))
    lowest: tuple[Fraction, int, int, str] | None = None
    evidence: dict[str, Any] = {}
    for num_f, den_f in rule["ratios"]:
        n, d = facts.stated(num_f), facts.stated(den_f)
        evidence[num_f], evidence[den_f] = n, d
        if n is None or d is None or d == 0:
            return ItemScore(None, f"no evidence given ({num_f}, {den_f})", evidence)
        r = Fraction(n * 100, d)
        if lowest is None or r < lowest[0]:
            lowest = (r, n, d, f"{num_f}/{den_f} = {n}/{d}")
    assert lowest is not None
    ratio, n, d, shown = lowest
    shortfall = max(Fraction(0), target - ratio)
    steps = math.ceil(shortfall / step) if rule.get("partial_step") == "counts" else math.floor(shortfall / step)
    pts = _clamp(item.max_points, per_step * steps)
    pct = percent(n, d)
    if steps:
        return ItemScore(
            pts, f"{shown} = {pct}: {steps} step(s) of {_num(step)}% below {_num(target)}%, −{_num(per_step)} each", evidence
        )
    if shortfall == 0:
        return ItemScore(pts, f"{shown} = {pct}: at or above {_num(target)}%", evidence)
    return ItemScore(pts, f"{shown} = {pct}: not a whole step of {_num(step)}% below {_num(target)}%", evidence)


def _per_occurrence(item: Item, facts: Facts) -> ItemScore:
    rule = item.rule
    each = Fraction(str(rule["points_each"]))
    categories = set(rule.get("categories", ()))
    severities = set(rule.get("severities", ()))
    vocab = vocabulary()
    found = [
        i
        for i in facts.incidents
        if i["category"] in categories and (not severities or (i.get("severity") or "serious") in severities)
    ]
    evidence: dict[str, Any] = {"incidents": [i["incident_id"] for i in found]}
    count = len(found)
    parts = []
    if found:
        parts.append(f"{len(found)} incident(s) in the window: {', '.join(str(i['incident_id']) for i in found)}")
    path = rule.get("evidence_count")
    if path:
        head, _, group = path.partition(".")
        v = facts.stated(head)
        if isinstance(v, Mapping):
            v = v.get(group) if group else None
        evidence[path] = v
        if v is None:
            return ItemScore(None, f"no evidence given ({path})", evidence)
        count += int(v)
        if v:
            parts.append(f"{path}: {v}")
    forfeit = rule.get("forfeit_at_severity")
    if forfeit:
        grave = [i for i in found if vocab.severity_rank(i.get("severity") or "serious") >= vocab.severity_rank(forfeit)]
        if grave:
            ids = ", ".join(str(i["incident_id"]) for i in grave)
            return ItemScore(Fraction(0), f"{ids}: {forfeit} or worse, all points lost", evidence)
    if not count:
        return ItemScore(item.max_points, "no occurrence", evidence)
    return ItemScore(_clamp(item.max_points, each * count), "; ".join(parts) + f": −{_num(each)} each", evidence)


def _rating(item: Item, facts: Facts) -> ItemScore:
    name = item.rule["field"]
    v = facts.stated(name)
    accepted = list(item.rule["accepted"])
    evidence = {name: v}
    if v is None:
        return ItemScore(None, f"no evidence given ({name})", evidence)
    if v in accepted:
        return ItemScore(item.max_points, f"{name}: {v}", evidence)
    return ItemScore(Fraction(0), f"{name}: {v}, not one of {', '.join(accepted)}", evidence)


_RULE_FNS = {
    "manual": _manual,
    "per_missing": _per_missing,
    "per_step_below": _per_step_below,
    "per_step_below_threshold": _per_step_below,
    "per_occurrence": _per_occurrence,
    "rating": _rating,
}


# --------------------------------------------------------------------------- the score
@dataclass(frozen=True)
class Score:
    sheet: Sheet
    computed: Fraction
    max_possible: Fraction
    complete: bool
    claimed: float | None
    breakdown: dict[str, Any]

    @property
    def passes(self) -> bool | None:
        """True / False when the pass mark is reached / out of reach; None while incomplete,
        and always None when the sheet has no pass mark."""
        if self.sheet.pass_mark is None:
            return None
        if self.complete:
            return self.computed >= self.sheet.pass_mark
        if self.max_possible < self.sheet.pass_mark:
            return False
        return None


def check_self_scores(sheet: Sheet, self_scores: Mapping[str, float] | None) -> None:
    if not self_scores:
        return
    items = {i.code: i for i in sheet.items()}
    unknown = [c for c in self_scores if c not in items]
    if unknown:
        raise SheetError(f"self_scores name items not on sheet {sheet.ref}: {', '.join(unknown)}; items: {', '.join(items)}")
    over = [f"{c} ({v} > {_num(items[c].max_points)})" for c, v in self_scores.items() if Fraction(str(v)) > items[c].max_points]
    if over:
        raise SheetError(f"self_scores above the item's maximum on sheet {sheet.ref}: {', '.join(over)}")


def compute(sheet: Sheet, facts: Facts, claimed: float | None = None) -> Score:
    self_scores = facts.stated("self_scores") or {}
    check_self_scores(sheet, self_scores)
    computed = Fraction(0)
    unscored = Fraction(0)
    groups = []
    for g in sheet.groups:
        g_points = Fraction(0)
        g_complete = True
        items = []
        for item in g.items:
            s = _RULE_FNS[item.rule["type"]](item, facts)
            if s.points is None:
                g_complete = False
                unscored += item.max_points
            else:
                g_points += s.points
            own = self_scores.get(item.code)
            items.append(
                {
                    "code": item.code,
                    "text_vi": item.text_vi,
                    "max_points": _num(item.max_points),
                    "points": None if s.points is None else _num(s.points),
                    "claimed": own,
                    "rule": item.rule["type"],
                    "status": "no_evidence" if s.points is None else "scored",
                    "reason": s.reason,
                    "evidence": s.evidence,
                }
            )
        computed += g_points
        groups.append(
            {
                "code": g.code,
                "title_vi": g.title_vi,
                "max_points": _num(g.max_points),
                "points": _num(g_points),
                "complete": g_complete,
                "items": items,
            }
        )
    complete = unscored == 0
    score = Score(
        sheet=sheet, computed=computed, max_possible=computed + unscored, complete=complete, claimed=claimed, breakdown={}
    )
    breakdown = {
        "sheet": sheet.ref,
        "title_vi": sheet.title_vi,
        "computed": _num(computed),
        "claimed": claimed,
        "complete": complete,
        "max_points": _num(sheet.max_points),
        "max_possible": _num(score.max_possible),
        "pass_mark": _opt_num(sheet.pass_mark),
        "pass_mark_basis": sheet.pass_mark_basis,
        "passes": score.passes,
        "groups": groups,
    }
    return replace(score, breakdown=breakdown)


def score_criterion(score: Score, claimed: Mapping[str, Any] | None) -> dict[str, Any]:
    """The province-added criterion on the score (e.g. TINH-DIEM), as a criterion result."""
    spec = score.sheet.criterion or {}
    sheet = score.sheet
    shown = f"{_num(score.computed)}/{_num(sheet.max_points)}"
    if sheet.pass_mark is None:
        done = (
            f"computed score {shown}"
            if score.complete
            else f"incomplete score {shown} (up to {_num(score.max_possible)} possible)"
        )
        result, reason = (
            "needs_review",
            f"{done}, but no pass mark is configured for sheet {sheet.ref} (the province sets "
            f"pass_mark in services/assessment/scoring/{sheet.ref}.json): the score cannot pass automatically, "
            "the reviewer's call",
        )
    elif score.passes is True:
        result, reason = "met", f"computed score {shown} is at or above the pass mark {_num(sheet.pass_mark)} (sheet {sheet.ref})"
    elif score.passes is False and score.complete:
        result, reason = "not_met", f"computed score {shown} is below the pass mark {_num(sheet.pass_mark)} (sheet {sheet.ref})"
    elif score.passes is False:
        result, reason = (
            "not_met",
            f"at most {_num(score.max_possible)}/{_num(sheet.max_points)} even with full points on the unscored items: "
            f"below the pass mark {_num(sheet.pass_mark)} (sheet {sheet.ref})",
        )
    else:
        missing = [i["code"] for g in score.breakdown["groups"] for i in g["items"] if i["status"] == "no_evidence"]
        result, reason = (
            "needs_review",
            f"no evidence given for sheet items {', '.join(missing)}: {_num(score.computed)} scored, up to "
            f"{_num(score.max_possible)} possible against the pass mark {_num(sheet.pass_mark)} (sheet {sheet.ref})",
        )
    claim_given = claimed is not None
    if claim_given:
        assert claimed is not None
        claimed_met = bool(claimed["met"])
    elif score.claimed is not None and sheet.pass_mark is not None:
        claimed_met = Fraction(str(score.claimed)) >= sheet.pass_mark
    else:
        claimed_met = True
    if claim_given and not claimed_met:
        result = "not_met"
        reason = f"{reason}; the unit assesses this criterion as not met"
    return {
        "code": spec.get("code", "TINH-DIEM"),
        "title": spec.get("title_vi", "Tổng điểm theo bảng điểm của tỉnh đạt từ mức đạt chuẩn trở lên"),
        "type": spec.get("type", "threshold"),
        "claimed_met": claimed_met,
        "claim_given": claim_given,
        "result": result,
        "reason": reason,
        "note": None if claimed is None else claimed.get("note"),
        "evidence": {
            "sheet": sheet.ref,
            "computed": _num(score.computed),
            "claimed": score.claimed,
            "complete": score.complete,
            "max_possible": _num(score.max_possible),
            "pass_mark": _opt_num(sheet.pass_mark),
        },
        "checks": [],
        "province_added": True,
        "in_verdict": bool(spec.get("in_verdict", True)),
    }


def province_criterion_codes(sheet: Sheet | None) -> Sequence[str]:
    if sheet is None or not sheet.criterion:
        return ()
    return (sheet.criterion.get("code", "TINH-DIEM"),)
