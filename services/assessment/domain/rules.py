"""The evaluation engine: each criterion of a catalog judged on the evidence (no I/O).

Every criterion gets one result, with the evidence used and the reason:

- ``met`` (đạt): every check holds on the evidence given;
- ``not_met`` (chưa đạt): a check fails on the evidence (a document dated outside Quarter I,
  a ratio below its threshold, an incident in the window...), or the unit itself says so;
- ``needs_review``: the evidence is missing ("no evidence given") or the criterion is a
  judgement, which is the reviewer's call.

The verdict is binary as the Circular says: not_met iff any criterion is not_met.

Thresholds are compared exactly (integer arithmetic): 699/1000 is below 70%, 118/120 below 100%.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from services.assessment.domain.criteria import Catalog, Criterion, IncidentRule, vocabulary

MET, NOT_MET, REVIEW = "met", "not_met", "needs_review"
NO_EVIDENCE = "no evidence given"

# effects of an incident on the unit-year whose window contains it
FAILS = "fails_criterion"
CONDITIONAL_PASS = "conditional_pass"
FORCE_MAJEURE = "force_majeure"
BELOW_SEVERITY = "below_severity"
NO_CRITERION = "no_criterion_for_kind"
PENDING = "pending_registration"
OUT_OF_JURISDICTION = "out_of_jurisdiction"


def quarter_one(year: int) -> tuple[date, date]:
    """Quý I: 1 January to 31 March of the assessed year."""
    return date(year, 1, 1), date(year, 3, 31)


def percent(n: int, d: int) -> str:
    """``n/d`` as a percentage, truncated (never rounded up) to two decimals: 699/1000 -> 69.9%."""
    hundredths = (n * 10000) // d
    whole, frac = divmod(hundredths, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0") + "%"


def _as_date(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


@dataclass(frozen=True)
class PreviousYear:
    """What the system recorded for the same unit the year before, for the year-on-year
    criteria (Art. 4.4: kiềm chế, kéo giảm so với năm trước): the evidence of that unit-year's
    last self-assessment. ``evidence`` is None when there is none (``why`` says which)."""

    unit_year_id: str
    evidence: Mapping[str, Any] | None = None
    round: int = 0
    why: str = ""

    def figure(self, name: str) -> Any:
        return None if self.evidence is None else self.evidence.get(name)


@dataclass(frozen=True)
class Facts:
    """What one unit-year's criteria are judged on."""

    kind: str
    year: int
    window: tuple[date, date]
    #: the registration's documents and the self-assessment's (kind, ref, issued_on, source)
    documents: tuple[Mapping[str, Any], ...] = ()
    #: the evidence fields stated (a field absent or None is "not stated")
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: an evidence object was given: the documents listed are then the unit's whole dossier
    evidence_given: bool = False
    #: the incidents recorded for the unit in the window (IncidentReported fields + incident_id)
    incidents: tuple[Mapping[str, Any], ...] = ()
    #: False when the incidents are not known (an evaluation of the claims alone)
    incidents_known: bool = True
    #: the previous unit-year's recorded figures; None when not looked up (year-on-year
    #: criteria are then left to the reviewer)
    previous_year: PreviousYear | None = None
    #: the exemplary track: the unit-year's ANTT outcome as the system recorded it
    #: (``recognised``: True / False, ``unit_year_id``, ``decision_no``...); None: not known
    recognition: Mapping[str, Any] | None = None

    def docs(self, kind: str) -> list[Mapping[str, Any]]:
        return [d for d in self.documents if d.get("kind") == kind]

    def stated(self, name: str) -> Any:
        return self.evidence.get(name)


@dataclass(frozen=True)
class CheckResult:
    check: str
    result: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    incidents: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "result": self.result, "reason": self.reason, "evidence": self.evidence}
        if self.incidents:
            out["incidents"] = list(self.incidents)
        return out


def _combine(check: str, parts: Sequence[tuple[str, str]], evidence: dict[str, Any]) -> CheckResult:
    failed = [r for res, r in parts if res == NOT_MET]
    review = [r for res, r in parts if res == REVIEW]
    if failed:
        return CheckResult(check, NOT_MET, "; ".join(failed), evidence)
    if review:
        return CheckResult(check, REVIEW, "; ".join(review), evidence)
    return CheckResult(check, MET, "; ".join(r for _res, r in parts), evidence)


# --------------------------------------------------------------------------- checks
def check_q1_documents(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    start, end = quarter_one(facts.year)
    has_party = facts.stated("has_party_organisation")
    parts: list[tuple[str, str]] = []
    used: list[dict[str, Any]] = []
    not_given: list[str] = []  # absent, and no evidence object: the reviewer's call
    absent: list[str] = []  # absent from the dossier the unit gave
    party_kinds = list(spec.get("required_where_party", ()))
    for kind in [*spec.get("required", ()), *party_kinds]:
        where_party = kind in party_kinds
        if where_party and has_party is False:
            parts.append((MET, f"{kind}: not required (no Party organisation)"))
            continue
        docs = facts.docs(kind)
        used += [
            {"kind": kind, "ref": d.get("ref"), "issued_on": _iso(d.get("issued_on")), "source": d.get("source")} for d in docs
        ]
        if not docs:
            if not facts.evidence_given:
                not_given.append(kind)
            elif where_party and has_party is None:
                parts.append((REVIEW, f"no {kind} among the documents and has_party_organisation is not stated"))
            else:
                absent.append(kind)
            continue
        dated = [(d, _as_date(d.get("issued_on"))) for d in docs]
        in_q1 = [(d, on) for d, on in dated if on is not None and start <= on <= end]
        if in_q1:
            d, on = in_q1[0]
            parts.append((MET, f"{kind} {d.get('ref')} issued {on.isoformat()}, in Quarter I"))
            continue
        outside = [(d, on) for d, on in dated if on is not None]
        for d, on in outside:
            parts.append(
                (
                    NOT_MET,
                    f"{kind} {d.get('ref')} dated {on.isoformat()} is outside Quarter I of {facts.year} "
                    f"(Quý I: {start.isoformat()} to {end.isoformat()})",
                )
            )
        if not outside:
            parts.append((REVIEW, f"{kind} {docs[0].get('ref')} has no issued_on date"))
    if absent:
        parts.append((NOT_MET, f"no {', '.join(absent)} among the documents given (required in Quarter I)"))
    if not_given:
        parts.append((REVIEW, f"{NO_EVIDENCE}: no {', '.join(not_given)} among the documents"))
    evidence: dict[str, Any] = {"documents": used, "quarter_one": [start.isoformat(), end.isoformat()]}
    if party_kinds:
        evidence["has_party_organisation"] = has_party
    return _combine("q1_documents", parts, evidence)


def check_internal_rules(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    topics = facts.stated("internal_rules")
    required = list(spec["topics"])
    if topics is None:
        docs = facts.docs("internal_rules")
        if docs:
            refs = ", ".join(str(d.get("ref")) for d in docs)
            return CheckResult(
                "internal_rules",
                REVIEW,
                f"internal rules {refs} given without their topics (evidence.internal_rules)",
                {"documents": [d.get("ref") for d in docs]},
            )
        return CheckResult("internal_rules", REVIEW, f"{NO_EVIDENCE} (internal_rules)", {"internal_rules": None})
    names = vocabulary().rule_topics
    missing = [t for t in required if t not in topics]
    if missing:
        listed = ", ".join(f"{t} ({names.get(t, t)})" for t in missing)
        return CheckResult("internal_rules", NOT_MET, f"internal rules missing: {listed}", {"internal_rules": list(topics)})
    return CheckResult("internal_rules", MET, f"internal rules cover {', '.join(required)}", {"internal_rules": list(topics)})


def check_ratio(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    num_f, den_f = spec["numerator"], spec["denominator"]
    n, d = facts.stated(num_f), facts.stated(den_f)
    label = spec.get("label", num_f)
    at_least = Fraction(str(spec["at_least_percent"]))
    evidence = {num_f: n, den_f: d, "at_least_percent": spec["at_least_percent"]}
    if n is None or d is None:
        return CheckResult("ratio", REVIEW, f"{NO_EVIDENCE} ({num_f}, {den_f})", evidence)
    if d == 0:
        return CheckResult("ratio", REVIEW, f"{label}: {den_f} is 0, no ratio to judge", evidence)
    shown = f"{label}: {n}/{d} = {percent(n, d)}"
    if Fraction(n * 100, d) >= at_least:
        return CheckResult("ratio", MET, f"{shown}, at least {spec['at_least_percent']}%", evidence)
    return CheckResult("ratio", NOT_MET, f"{shown}, below {spec['at_least_percent']}%", evidence)


def check_count_at_least(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    name = spec["field"]
    v = facts.stated(name)
    label = spec.get("label", name)
    evidence = {name: v, "at_least": spec["at_least"]}
    if v is None:
        return CheckResult("count_at_least", REVIEW, f"{NO_EVIDENCE} ({name})", evidence)
    if v >= spec["at_least"]:
        return CheckResult("count_at_least", MET, f"{label}: {v}, at least {spec['at_least']}", evidence)
    return CheckResult("count_at_least", NOT_MET, f"{label}: {v}, fewer than {spec['at_least']}", evidence)


def check_rating(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    name = spec["field"]
    v = facts.stated(name)
    accepted = list(spec["accepted"])
    evidence = {name: v, "accepted": accepted}
    if v is None:
        return CheckResult("rating", REVIEW, f"{NO_EVIDENCE} ({name})", evidence)
    names = vocabulary().ratings
    if v in accepted:
        return CheckResult("rating", MET, f"security force: {v} ({names.get(v, v)})", evidence)
    return CheckResult(
        "rating",
        NOT_MET,
        f"security force: {v} ({names.get(v, v)}); the criterion needs one of {', '.join(accepted)}",
        evidence,
    )


def check_none_disciplined(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    group = spec["group"]
    members = facts.stated("disciplined_members")
    label = spec.get("label", f"{group} disciplined")
    n = None if members is None else members.get(group)
    evidence = {f"disciplined_members.{group}": n}
    if n is None:
        return CheckResult("none_disciplined", REVIEW, f"{NO_EVIDENCE} (disciplined_members.{group})", evidence)
    if n == 0:
        return CheckResult("none_disciplined", MET, f"{label}: none", evidence)
    return CheckResult("none_disciplined", NOT_MET, f"{label}: {n}", evidence)


def check_year_on_year(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    """This year's count against the previous unit-year's as the system recorded it (its last
    self-assessment's ``current`` figure). The unit's own figure for the previous year
    (``previous``) is shown but does not decide: where the system has no record of the
    previous year, the criterion is the reviewer's call, with both figures in the reason."""
    prev_f, cur_f = spec["previous"], spec["current"]
    cur, stated_prev = facts.stated(cur_f), facts.stated(prev_f)
    label = spec.get("label", cur_f)
    last = facts.previous_year
    recorded = None if last is None else last.figure(cur_f)
    evidence: dict[str, Any] = {
        cur_f: cur,
        prev_f: stated_prev,
        "previous_unit_year": None if last is None else last.unit_year_id,
        "previous_recorded": recorded,
    }
    year, before = facts.year, facts.year - 1
    if cur is None:
        return CheckResult("year_on_year", REVIEW, f"{NO_EVIDENCE} ({cur_f})", evidence)
    stated = "" if stated_prev is None else f"; the unit states {stated_prev} for {before}"
    if recorded is None:
        if last is None:
            unknown = f"the figures of {before} were not looked up"
        else:
            unknown = f"{last.unit_year_id} has no recorded {cur_f} ({last.why or 'not stated in its self-assessment'})"
        return CheckResult(
            "year_on_year",
            REVIEW,
            f"{label}: {cur} in {year}; the previous year is unknown here: {unknown}{stated}: "
            "the reviewer compares the two years",
            evidence,
        )
    source = f"as recorded by {last.unit_year_id}'s self-assessment, round {last.round}" if last is not None else ""
    differs = "" if stated_prev is None or stated_prev == recorded else f"{stated}, the recorded figure is used"
    shown = f"{label}: {cur} in {year} against {recorded} in {before} ({source}){differs}"
    if cur == 0:
        return CheckResult("year_on_year", MET, f"{shown}: none this year (kéo giảm)", evidence)
    if cur < recorded:
        return CheckResult("year_on_year", MET, f"{shown}: reduced (kéo giảm)", evidence)
    return CheckResult("year_on_year", NOT_MET, f"{shown}: not reduced (không kéo giảm)", evidence)


def check_claims(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    fields = list(spec.get("fields", ()))
    kinds = spec.get("kinds")
    if kinds and facts.kind not in kinds:
        return CheckResult("claims", MET, f"{', '.join(fields)}: not applicable to {facts.kind} units", {})
    values = {f: facts.stated(f) for f in fields}
    denied = [f for f, v in values.items() if v is False]
    if denied:
        return CheckResult("claims", NOT_MET, f"the unit states it has not: {', '.join(denied)}", values)
    unstated = [f for f, v in values.items() if v is None]
    if unstated:
        return CheckResult("claims", REVIEW, f"{NO_EVIDENCE} ({', '.join(unstated)}); a judgement: the reviewer's call", values)
    stated = ", ".join(fields) if fields else "nothing to state"
    return CheckResult("claims", REVIEW, f"the unit states {stated}; a judgement: the reviewer's call", values)


def _not_applicable(spec: Mapping[str, Any], facts: Facts) -> str | None:
    """``only_where``: the check applies where an evidence flag is not false (None: it does)."""
    flag = spec.get("only_where")
    if flag and facts.stated(flag) is False:
        return f"not applicable ({flag} is false)"
    return None


def check_value_in(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    name = spec["field"]
    label = spec.get("label", name)
    accepted = list(spec["accepted"])
    v = facts.stated(name)
    evidence = {name: v, "accepted": accepted}
    skip = _not_applicable(spec, facts)
    if skip:
        return CheckResult("value_in", MET, f"{label}: {skip}", evidence)
    if v is None:
        return CheckResult("value_in", REVIEW, f"{NO_EVIDENCE} ({name})", evidence)
    names = vocabulary().names(spec["names"]) if spec.get("names") else {}
    shown = f"{label}: {v} ({names[v]})" if v in names else f"{label}: {v}"
    if v in accepted:
        return CheckResult("value_in", MET, shown, evidence)
    wanted = ", ".join(f"{a} ({names[a]})" if a in names else a for a in accepted)
    return CheckResult("value_in", NOT_MET, f"{shown}; the criterion needs {wanted}", evidence)


def check_count_at_most(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    name = spec["field"]
    label = spec.get("label", name)
    v = facts.stated(name)
    evidence = {name: v, "at_most": spec["at_most"]}
    skip = _not_applicable(spec, facts)
    if skip:
        return CheckResult("count_at_most", MET, f"{label}: {skip}", evidence)
    if v is None:
        return CheckResult("count_at_most", REVIEW, f"{NO_EVIDENCE} ({name})", evidence)
    if v <= spec["at_most"]:
        return CheckResult("count_at_most", MET, f"{label}: {v}, at most {spec['at_most']}", evidence)
    return CheckResult("count_at_most", NOT_MET, f"{label}: {v}, more than {spec['at_most']}", evidence)


def check_activities(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    """The named yearly activities all held (each in its month, where a date is given)."""
    name = spec["field"]
    held = facts.stated(name)
    required = list(spec["activities"])
    evidence: dict[str, Any] = {name: held, "required": [a["code"] for a in required]}
    if held is None:
        return CheckResult("activities", REVIEW, f"{NO_EVIDENCE} ({name})", evidence)
    by_code = {str(a["code"]): a for a in held}
    missing, misdated = [], []
    for act in required:
        when = f"{act['day']}/{act['month']}" if act.get("day") else f"tháng {act['month']}"
        got = by_code.get(act["code"])
        if got is None:
            missing.append(f"{act['name_vi']} ({when})")
            continue
        on = _as_date(got.get("held_on"))
        if on is not None and (on.month != act["month"] or on.year != facts.year):
            misdated.append(f"{act['name_vi']} ({when}) held on {on.isoformat()}")
    parts = []
    if missing:
        parts.append(f"not held: {'; '.join(missing)}")
    if misdated:
        parts.append(f"outside its month of {facts.year}: {'; '.join(misdated)}")
    if parts:
        return CheckResult("activities", NOT_MET, "; ".join(parts), evidence)
    return CheckResult("activities", MET, f"all {len(required)} yearly activities held", evidence)


def check_no_sanction(spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    """Nobody of the groups fined for a security-related violation, or disciplined at
    ``discipline_from`` or above (stricter than the ANTT criteria's "cảnh cáo")."""
    sanctions = facts.stated("sanctions")
    groups = spec.get("groups")
    label = spec.get("label", "sanctioned")
    vocab = vocabulary()
    floor = vocab.sanction_rank(spec["discipline_from"])
    evidence: dict[str, Any] = {"sanctions": sanctions, "groups": groups, "discipline_from": spec["discipline_from"]}
    if sanctions is None:
        return CheckResult("no_sanction", REVIEW, f"{NO_EVIDENCE} (sanctions)", evidence)
    counted = []
    for x in sanctions:
        if groups and x.get("group") not in groups:
            continue
        kind = x["sanction"]
        related = bool(x.get("security_related"))
        if kind == "administrative_fine":
            if related:
                counted.append(x)
        elif vocab.sanction_rank(kind) >= floor and (related or not spec.get("security_related_only")):
            counted.append(x)
    if not counted:
        return CheckResult("no_sanction", MET, f"{label}: none", evidence)
    shown = ", ".join(f"{x.get('group')} {x['sanction']} ({vocab.sanctions.get(x['sanction'], x['sanction'])})" for x in counted)
    return CheckResult("no_sanction", NOT_MET, f"{label}: {len(counted)} ({shown})", evidence)


def check_antt_recognition(_spec: Mapping[str, Any], facts: Facts) -> CheckResult:
    rec = facts.recognition
    if rec is None or rec.get("recognised") is None:
        return CheckResult(
            "antt_recognition",
            REVIEW,
            "the unit-year's recognition “An toàn về ANTT” is not known here: the reviewer checks it",
            {"recognition": None if rec is None else dict(rec)},
        )
    uy = rec.get("unit_year_id", "the unit-year")
    if rec["recognised"]:
        by = f" ({rec['decision_no']})" if rec.get("decision_no") else ""
        return CheckResult("antt_recognition", MET, f"{uy} is recognised “An toàn về ANTT”{by}", {"recognition": dict(rec)})
    state = f": {rec['state']}" if rec.get("state") else ""
    return CheckResult(
        "antt_recognition", NOT_MET, f"{uy} is not recognised “An toàn về ANTT”{state}", {"recognition": dict(rec)}
    )


def check_derived_from_children(spec: Mapping[str, Any], _facts: Facts) -> CheckResult:
    return CheckResult(
        "derived_from_children",
        REVIEW,
        f"derived from the commune's residential areas, agencies, enterprises and schools "
        f"({spec.get('registered_percent', 100)}% registered, at least {spec.get('recognised_at_least_percent', 70)}% "
        "recognised, Art. 5.4): the approval service computes it from their results",
        {},
    )


# --------------------------------------------------------------------------- incidents
@dataclass(frozen=True)
class IncidentEffect:
    """What one incident does to the criteria of one unit kind."""

    incident_id: str
    criterion: str | None
    effect: str
    reason: str

    @property
    def fails(self) -> bool:
        return self.effect == FAILS

    def as_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "criterion": self.criterion, "effect": self.effect, "reason": self.reason}


def _describe(incident: Mapping[str, Any]) -> str:
    on = _iso(incident.get("occurred_on"))
    what = f"incident {incident['incident_id']} ({incident['category']}, {incident.get('severity', 'serious')}) on {on}"
    area = incident.get("at_residential_area")
    if area:
        what += f" at residential area {area} (Art. 5.2: its criteria 2-4 hold across the commune)"
    return what


def _where(crit: Criterion, rule: IncidentRule) -> str:
    if rule.clause and rule.clause.startswith("Art."):
        return f"{crit.code}, {rule.clause}"
    if rule.clause:
        return f"{crit.code}, {crit.article}.{rule.clause}"
    return f"{crit.code}, {crit.article}" if crit.article else crit.code


def classify_incident(catalog: Catalog, incident: Mapping[str, Any]) -> IncidentEffect:
    """The effect of an incident on a unit of the catalog's kind (its window aside)."""
    iid = str(incident["incident_id"])
    category = incident["category"]
    what = _describe(incident)
    found = catalog.criterion_for(category)
    if found is None:
        why = catalog.not_applicable.get(category) or (
            f"{category} is not an event of the {catalog.kind} criteria ({catalog.legal_basis})"
        )
        return IncidentEffect(iid, None, NO_CRITERION, f"{what}: no criterion for {catalog.kind}: {why}")
    crit, rule = found
    where = _where(crit, rule)
    vocab = vocabulary()
    severity = incident.get("severity") or "serious"
    if rule.min_severity and vocab.severity_rank(severity) < vocab.severity_rank(rule.min_severity):
        return IncidentEffect(iid, crit.code, BELOW_SEVERITY, f"{what}: below {rule.min_severity}, not an event of {where}")
    if incident.get("force_majeure") and rule.force_majeure_exempt:
        return IncidentEffect(
            iid, crit.code, FORCE_MAJEURE, f"{what}: force majeure (trừ trường hợp bất khả kháng), exempt under {where}"
        )
    if rule.policy == "conditional_pass":
        steps = {
            "detected_promptly": "kịp thời phát hiện",
            "mitigated": "giảm thiểu hậu quả",
            "reported_promptly": "báo cáo ngay cấp có thẩm quyền",
        }
        missing = [f"{k} ({v})" for k, v in steps.items() if not incident.get(k)]
        if not missing:
            return IncidentEffect(
                iid,
                crit.code,
                CONDITIONAL_PASS,
                f"{what}: promptly detected, mitigated and reported: passes {where} (conditional pass)",
            )
        return IncidentEffect(
            iid,
            crit.code,
            FAILS,
            f"{what} fails {where}: serious crime or worse passes only if promptly detected, mitigated and "
            f"reported; not {', '.join(missing)}",
        )
    fm = " (force majeure is no exemption for this category)" if incident.get("force_majeure") else ""
    return IncidentEffect(iid, crit.code, FAILS, f"{what} fails {where}: không để xảy ra, one occurrence in the window{fm}")


def check_incidents(spec: Mapping[str, Any], facts: Facts, catalog: Catalog, crit: Criterion) -> CheckResult:
    categories = set(spec["categories"])
    relevant = [i for i in facts.incidents if i["category"] in categories]
    start, end = facts.window
    window = f"{start.isoformat()} to {end.isoformat()}"
    if not facts.incidents_known:
        return CheckResult("incidents", REVIEW, f"{NO_EVIDENCE} (the incidents in the window are not known)", {})
    evidence: dict[str, Any] = {"window": [start.isoformat(), end.isoformat()], "incidents": len(relevant)}
    if not relevant:
        return CheckResult("incidents", MET, f"no incident of its categories recorded in the window ({window})", evidence)
    effects = [classify_incident(catalog, i) for i in relevant]
    effects = [e for e in effects if e.criterion == crit.code]
    listed = tuple(e.as_dict() for e in effects)
    failing = [e for e in effects if e.fails]
    if failing:
        return CheckResult("incidents", NOT_MET, "; ".join(e.reason for e in failing), evidence, listed)
    return CheckResult(
        "incidents",
        MET,
        f"{len(effects)} incident(s) in the window, none fails it: " + "; ".join(e.reason for e in effects),
        evidence,
        listed,
    )


# --------------------------------------------------------------------------- criteria
def run_check(spec: Mapping[str, Any], facts: Facts, catalog: Catalog, crit: Criterion) -> CheckResult:
    kind = spec["check"]
    if kind == "incidents":
        return check_incidents(spec, facts, catalog, crit)
    fn = {
        "q1_documents": check_q1_documents,
        "internal_rules": check_internal_rules,
        "ratio": check_ratio,
        "count_at_least": check_count_at_least,
        "rating": check_rating,
        "none_disciplined": check_none_disciplined,
        "year_on_year": check_year_on_year,
        "claims": check_claims,
        "derived_from_children": check_derived_from_children,
        "activities": check_activities,
        "no_sanction": check_no_sanction,
        "antt_recognition": check_antt_recognition,
        "value_in": check_value_in,
        "count_at_most": check_count_at_most,
    }[kind]
    return fn(spec, facts)


def judge(
    crit: Criterion,
    checks: Sequence[CheckResult],
    claimed_met: bool | None,
) -> tuple[str, str]:
    """One criterion's result and reason from its checks and the unit's own claim."""
    failed = [c.reason for c in checks if c.result == NOT_MET]
    if claimed_met is False:
        failed.append("the unit assesses this criterion as not met")
    if failed:
        return NOT_MET, "; ".join(failed)
    review = [c.reason for c in checks if c.result == REVIEW]
    if review:
        return REVIEW, "; ".join(review)
    if crit.type == "judgement":
        return REVIEW, "a judgement criterion: the reviewer's call"
    return MET, "; ".join(c.reason for c in checks) or "nothing to check"


def evaluate_criterion(catalog: Catalog, crit: Criterion, facts: Facts, claimed: Mapping[str, Any] | None) -> dict[str, Any]:
    checks = [run_check(spec, facts, catalog, crit) for spec in crit.checks]
    claimed_met = None if claimed is None else bool(claimed["met"])
    result, reason = judge(crit, checks, claimed_met)
    evidence: dict[str, Any] = {}
    for c in checks:
        evidence.update(c.evidence)
    incidents = [i for c in checks for i in c.incidents]
    out: dict[str, Any] = {
        "code": crit.code,
        "title": crit.title_vi,
        "type": crit.type,
        "claimed_met": True if claimed_met is None else claimed_met,
        "result": result,
        "reason": reason,
        "note": None if claimed is None else claimed.get("note"),
        "evidence": evidence,
        "checks": [c.as_dict() for c in checks],
    }
    if incidents:
        out["incidents"] = incidents
    return out


def index_claims(
    catalog: Catalog, submitted: Iterable[Mapping[str, Any]], optional: Sequence[str] = ()
) -> dict[str, Mapping[str, Any]]:
    """The unit's claims by code; the catalog must be covered exactly (``optional`` codes,
    e.g. a province-added criterion, may be given or left out). Raises ``ValueError``."""
    codes = catalog.codes()
    seen: dict[str, Mapping[str, Any]] = {}
    for c in submitted:
        if c["code"] in seen:
            raise ValueError(f"criterion {c['code']} is given twice")
        seen[c["code"]] = c
    unknown = [c for c in seen if c not in codes and c not in optional]
    if unknown:
        raise ValueError(
            f"unknown criteria for {catalog.kind} ({catalog.legal_basis}): {', '.join(unknown)}; expected {', '.join(codes)}"
        )
    missing = [c for c in codes if c not in seen]
    if missing:
        raise ValueError(f"criteria missing from the self-assessment: {', '.join(missing)}")
    return seen


def verdict_of(criteria: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    unmet = [c["code"] for c in criteria if c["result"] == NOT_MET and c.get("in_verdict", True)]
    return ("not_met" if unmet else "met"), unmet


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return v.isoformat() if isinstance(v, date) else str(v)
