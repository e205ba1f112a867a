"""The criteria catalogs: data files under ``criteria/``, one per unit kind and version.

``<kind>.<version>.json`` holds the criteria of one unit kind as the Circular states them
(Circular 124/2021/TT-BCA: Art. 4 residential areas, Art. 5 communes, Art. 6 agencies and
enterprises, Art. 7 schools). Each criterion has a stable ``code``, its ``type`` (gate,
event, threshold, judgement), its Vietnamese text and the ``checks`` the evaluation engine
(:mod:`services.assessment.domain.rules`) runs on the evidence:

- ``q1_documents``: documents dated in Quarter I of the assessed year (``required``, and
  ``required_where_party`` where the unit has a Party organisation);
- ``internal_rules``: the rule topics the unit must have (nội quy, quy định);
- ``ratio``: ``numerator / denominator >= at_least_percent`` (exact, no rounding);
- ``count_at_least``: an evidence count at least ``at_least`` (e.g. 1 model);
- ``rating``: the security force's rating is one of ``accepted``;
- ``none_disciplined``: nobody of a group disciplined (``evidence.disciplined_members``);
- ``year_on_year``: this year's count below last year's (kiềm chế, kéo giảm);
- ``claims``: statements only a reviewer can judge (judgement);
- ``incidents``: the incident categories the criterion covers and the policy of each
  (``fails``; ``conditional_pass`` for serious crime or worse; ``min_severity``;
  ``force_majeure_exempt`` where the Circular says "trừ trường hợp bất khả kháng");
- ``derived_from_children``: computed elsewhere (the commune's criterion 4);

and, for the exemplary track's catalogs (``criteria/exemplary/``, seed 003):

- ``activities``: the named yearly activities (``activities``: code, Vietnamese name, month
  and, for a day, the day) all held (``evidence.activities_held``), each in its month when a
  date is given;
- ``no_sanction``: nobody of ``groups`` (all when null) fined (for a security-related
  violation) or disciplined at ``discipline_from`` or above (``evidence.sanctions``);
  ``security_related_only`` limits the discipline counted to security-related violations;
- ``antt_recognition``: the unit-year is recognised "An toàn về ANTT" (the system's record);
- ``value_in``: an evidence value is one of ``accepted`` (named in the vocabulary's ``names``
  table); ``only_where`` a flag of the evidence is not false;
- ``count_at_most``: an evidence count at most ``at_most``; ``only_where`` as above;
- ``claims`` may be limited to some unit ``kinds`` (e.g. taxes paid: enterprises).

``vocabulary.json`` names what the catalogs, the scoring sheets, the evidence and the
incidents share (incident categories, rule topics, ratings, discipline groups).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).parent.parent / "criteria"
CHECKS = (
    "q1_documents",
    "internal_rules",
    "ratio",
    "count_at_least",
    "rating",
    "none_disciplined",
    "year_on_year",
    "claims",
    "incidents",
    "derived_from_children",
    # the exemplary track (criteria/exemplary/, services.assessment.domain.exemplary)
    "activities",
    "no_sanction",
    "antt_recognition",
    "value_in",
    "count_at_most",
)
POLICIES = ("fails", "conditional_pass")


@dataclass(frozen=True)
class IncidentRule:
    """How one incident category counts against an event criterion."""

    category: str
    policy: str  # fails | conditional_pass
    clause: str | None = None
    min_severity: str | None = None
    force_majeure_exempt: bool = False


@dataclass(frozen=True)
class Criterion:
    code: str
    type: str  # gate | event | threshold | judgement
    title_vi: str
    text_vi: str = ""
    article: str = ""
    checks: tuple[dict[str, Any], ...] = ()
    province_added: bool = False

    def incident_rules(self) -> dict[str, IncidentRule]:
        rules: dict[str, IncidentRule] = {}
        for chk in self.checks:
            if chk["check"] != "incidents":
                continue
            for cat, spec in chk["categories"].items():
                rules[cat] = IncidentRule(category=cat, **spec)
        return rules

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "type": self.type,
            "title_vi": self.title_vi,
            "text_vi": self.text_vi,
            "article": self.article,
            "checks": [dict(c) for c in self.checks],
            "province_added": self.province_added,
        }


@dataclass(frozen=True)
class Catalog:
    kind: str
    version: str
    legal_basis: str
    criteria: tuple[Criterion, ...]
    valid_from: int = 2022
    not_applicable: dict[str, str] = field(default_factory=dict)
    #: a province's own catalog (the exemplary track): its province, the unit kinds it covers
    province_code: str | None = None
    applies_to: tuple[str, ...] = ()
    source: str = ""

    @property
    def ref(self) -> str:
        if self.province_code is not None:
            return f"{self.kind}.{self.province_code}.{self.version}"
        return f"{self.kind}.{self.version}"

    def codes(self) -> list[str]:
        return [c.code for c in self.criteria]

    def criterion_for(self, category: str) -> tuple[Criterion, IncidentRule] | None:
        """The event criterion of this kind that covers an incident category, if any."""
        for crit in self.criteria:
            rule = crit.incident_rules().get(category)
            if rule is not None:
                return crit, rule
        return None


@dataclass(frozen=True)
class Vocabulary:
    incident_categories: dict[str, str]
    severities: tuple[str, ...]
    rule_topics: dict[str, str]
    ratings: dict[str, str]
    discipline_groups: dict[str, str]
    document_kinds: dict[str, str]
    #: phân loại phong trào toàn dân bảo vệ ANTQ (Xuất sắc, Khá, Trung bình, Yếu)
    movement_ratings: dict[str, str] = field(default_factory=dict)
    #: sanctions, lightest first: an administrative fine, then discipline from khiển trách up
    sanctions: dict[str, str] = field(default_factory=dict)
    merit_certificates: dict[str, str] = field(default_factory=dict)

    def severity_rank(self, severity: str) -> int:
        return self.severities.index(severity)

    def sanction_rank(self, sanction: str) -> int:
        return list(self.sanctions).index(sanction)

    def names(self, table: str) -> dict[str, str]:
        """One of the vocabulary's named tables (for a check's ``names``)."""
        found = getattr(self, table, None)
        if not isinstance(found, dict):
            raise KeyError(f"no vocabulary table {table!r}")
        return found


@cache
def vocabulary() -> Vocabulary:
    data = json.loads((CATALOG_DIR / "vocabulary.json").read_text(encoding="utf-8"))
    return Vocabulary(
        incident_categories=data["incident_categories"],
        severities=tuple(data["severities"]),
        rule_topics=data["rule_topics"],
        ratings=data["ratings"],
        discipline_groups=data["discipline_groups"],
        document_kinds=data["document_kinds"],
        movement_ratings=data.get("movement_ratings", {}),
        sanctions=data.get("sanctions", {}),
        merit_certificates=data.get("merit_certificates", {}),
    )


def _criterion(c: dict[str, Any]) -> Criterion:
    checks = tuple(c.get("checks", ()))
    for chk in checks:
        if chk.get("check") not in CHECKS:
            raise ValueError(f"criterion {c['code']}: unknown check {chk.get('check')!r}")
    return Criterion(
        code=c["code"],
        type=c["type"],
        title_vi=c["title_vi"],
        text_vi=c.get("text_vi", ""),
        article=c.get("article", ""),
        checks=checks,
    )


@cache
def load_catalog(kind: str, version: str = "2021") -> Catalog:
    data = json.loads((CATALOG_DIR / f"{kind}.{version}.json").read_text(encoding="utf-8"))
    return Catalog(
        kind=data["kind"],
        version=data["version"],
        legal_basis=data["legal_basis"],
        criteria=tuple(_criterion(c) for c in data["criteria"]),
        valid_from=int(data.get("valid_from", 2022)),
        not_applicable=dict(data.get("not_applicable", {})),
    )


def catalog_versions(kind: str) -> list[str]:
    return list(_catalog_versions(kind))


@cache
def _catalog_versions(kind: str) -> tuple[str, ...]:
    # the catalogs ship with the code: the folder is listed once per kind, not per message
    return tuple(sorted(p.name.split(".")[1] for p in CATALOG_DIR.glob(f"{kind}.*.json")))


@cache
def catalog_for(kind: str, year: int) -> Catalog:
    """The catalog of ``kind`` in force in ``year``: the latest version valid from that year
    (the earliest version when the year predates them all)."""
    versions = [load_catalog(kind, v) for v in catalog_versions(kind)]
    if not versions:
        raise FileNotFoundError(f"no criteria catalog for unit kind {kind!r}")
    valid = [c for c in versions if c.valid_from <= year]
    return max(valid, key=lambda c: c.valid_from) if valid else min(versions, key=lambda c: c.valid_from)
