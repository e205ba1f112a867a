"""The exemplary track (điển hình, kiểu mẫu về ANTT và phong trào toàn dân bảo vệ ANTQ): a
province's own, stricter set of criteria for agencies, enterprises and schools that are
already recognised "An toàn về ANTT" (seed 003: 14 criteria, a decision of the province
steering committee, June 2023). No I/O imports.

The catalog is data, one file per province and version:
``criteria/exemplary/<province_code>.<version>.json``, ``version`` being the first year it
applies. Its criteria use the checks of :mod:`services.assessment.domain.rules` (the file is
validated on loading against the models below: unknown checks, vocabulary names, incident
categories or malformed parameters are refused with the criterion that has them), so an
exemplary self-assessment is judged by the same engine as an ANTT one, with its own, stricter
parameters: any crime fails criterion 9 (not only serious crime, and no conditional pass),
a reprimand (khiển trách) fails criteria 6 and 11 (ANTT counts from a warning, cảnh cáo), and
the unit's recognition "An toàn về ANTT" and the movement's classification "Xuất sắc" are
criterion 8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.assessment.domain import rules
from services.assessment.domain.criteria import CATALOG_DIR, Catalog, Criterion, vocabulary
from services.assessment.domain.machine import EXEMPLARY_MACHINE, ExemplaryState
from services.assessment.domain.model import AssessmentCase, Incident, assessment_window
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire

EXEMPLARY_DIR = CATALOG_DIR / "exemplary"
TRACK = "exemplary"
ELIGIBLE_KINDS = ("agency", "enterprise", "school")
#: phân loại phong trào toàn dân bảo vệ ANTQ, best first
MOVEMENT_RATINGS = ("xuat_sac", "kha", "trung_binh", "yeu")


class ExemplaryError(DomainError):
    """An exemplary self-assessment refused, with a code and a reason."""


# --------------------------------------------------------------------------- the file's models
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Field = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
_Label = Annotated[str, Field(min_length=1, max_length=300)]


def _known(table: str, values: Sequence[str], what: str) -> None:
    names = vocabulary().names(table)
    unknown = [v for v in values if v not in names]
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(names)}")


class Q1DocumentsCheck(_Spec):
    check: Literal["q1_documents"]
    required: list[str] = Field(default_factory=list)
    required_where_party: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kinds(self) -> Q1DocumentsCheck:
        if not self.required and not self.required_where_party:
            raise ValueError("q1_documents requires at least one document kind")
        _known("document_kinds", [*self.required, *self.required_where_party], "document kinds")
        return self


class ClaimsCheck(_Spec):
    check: Literal["claims"]
    fields: list[_Field] = Field(min_length=1)
    kinds: list[Literal["agency", "enterprise", "school"]] | None = None


class CountAtLeastCheck(_Spec):
    check: Literal["count_at_least"]
    field: _Field
    at_least: int = Field(ge=1)
    label: _Label | None = None


class CountAtMostCheck(_Spec):
    check: Literal["count_at_most"]
    field: _Field
    at_most: int = Field(ge=0)
    label: _Label | None = None
    only_where: _Field | None = None


class RatioCheck(_Spec):
    check: Literal["ratio"]
    numerator: _Field
    denominator: _Field
    at_least_percent: int | float = Field(gt=0, le=100)
    label: _Label | None = None


class ValueInCheck(_Spec):
    check: Literal["value_in"]
    field: _Field
    accepted: list[str] = Field(min_length=1)
    names: Literal["movement_ratings", "ratings", "merit_certificates"] | None = None
    label: _Label | None = None
    only_where: _Field | None = None

    @model_validator(mode="after")
    def _named(self) -> ValueInCheck:
        if self.names:
            _known(self.names, self.accepted, f"values of {self.names}")
        return self


class Activity(_Spec):
    code: _Field
    name_vi: _Label
    month: int = Field(ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)

    @model_validator(mode="after")
    def _a_real_day(self) -> Activity:
        if self.day is not None:
            date(2024, self.month, self.day)  # a leap year: 29/2 is a day; 31/4 is not (ValueError)
        return self


class ActivitiesCheck(_Spec):
    check: Literal["activities"]
    field: _Field
    activities: list[Activity] = Field(min_length=1)

    @field_validator("activities")
    @classmethod
    def _unique(cls, v: list[Activity]) -> list[Activity]:
        codes = [a.code for a in v]
        if len(codes) != len(set(codes)):
            raise ValueError("activity codes repeat")
        return v


class NoSanctionCheck(_Spec):
    check: Literal["no_sanction"]
    groups: list[Literal["security_force", "staff", "teachers", "learners"]] | None
    discipline_from: str
    security_related_only: bool
    label: _Label | None = None

    @field_validator("discipline_from")
    @classmethod
    def _a_discipline(cls, v: str) -> str:
        _known("sanctions", [v], "sanction")
        if v == "administrative_fine":
            raise ValueError("discipline_from names a disciplinary form (khien_trach and above), not the fine")
        return v


class AnttRecognitionCheck(_Spec):
    check: Literal["antt_recognition"]


class IncidentRuleSpec(_Spec):
    policy: Literal["fails", "conditional_pass"]
    clause: str | None = None
    min_severity: str | None = None
    force_majeure_exempt: bool = False

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, v: str | None) -> str | None:
        if v is not None and v not in vocabulary().severities:
            raise ValueError(f"unknown severity {v!r}; known: {', '.join(vocabulary().severities)}")
        return v


class IncidentsCheck(_Spec):
    check: Literal["incidents"]
    categories: dict[str, IncidentRuleSpec] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: dict[str, IncidentRuleSpec]) -> dict[str, IncidentRuleSpec]:
        _known("incident_categories", list(v), "incident categories")
        return v


Check = Annotated[
    Q1DocumentsCheck
    | ClaimsCheck
    | CountAtLeastCheck
    | CountAtMostCheck
    | RatioCheck
    | ValueInCheck
    | ActivitiesCheck
    | NoSanctionCheck
    | AnttRecognitionCheck
    | IncidentsCheck,
    Field(discriminator="check"),
]


class CriterionSpec(_Spec):
    code: str = Field(pattern=r"^DH-[0-9]{1,2}$")
    type: Literal["gate", "event", "threshold", "judgement"]
    article: str = Field(min_length=1)
    title_vi: _Label
    text_vi: str = Field(min_length=1)
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _event_has_incidents(self) -> CriterionSpec:
        if self.type == "event" and not any(isinstance(c, IncidentsCheck) for c in self.checks):
            raise ValueError(f"{self.code} is an event criterion without an incidents check")
        return self


class ExemplaryCatalogFile(_Spec):
    track: Literal["exemplary"]
    province_code: str = Field(pattern=r"^[0-9A-Za-z]{1,16}$")
    version: str = Field(pattern=r"^(19|20)[0-9]{2}$")
    valid_from: int = Field(ge=2000, le=2100)
    applies_to: list[Literal["agency", "enterprise", "school"]] = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    source: str = ""
    requires: str = ""
    criteria: list[CriterionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _whole(self) -> ExemplaryCatalogFile:
        codes = [c.code for c in self.criteria]
        if len(codes) != len(set(codes)):
            raise ValueError(f"criterion codes repeat: {', '.join(sorted({c for c in codes if codes.count(c) > 1}))}")
        owner: dict[str, str] = {}
        for crit in self.criteria:
            for chk in crit.checks:
                if isinstance(chk, IncidentsCheck):
                    for cat in chk.categories:
                        if cat in owner:
                            raise ValueError(f"incident category {cat} is counted by both {owner[cat]} and {crit.code}")
                        owner[cat] = crit.code
        gates = [c.code for c in self.criteria if any(isinstance(k, AnttRecognitionCheck) for k in c.checks)]
        if len(gates) != 1:
            raise ValueError(
                "an exemplary catalog has exactly one criterion checking the recognition “An toàn về ANTT” "
                f"(the title sits on it); found {len(gates)}"
            )
        return self


# --------------------------------------------------------------------------- loading
def parse_catalog(data: Mapping[str, Any], *, name: str = "catalog") -> Catalog:
    """Validate an exemplary catalog's data and build the :class:`Catalog` the engine runs."""
    try:
        spec = ExemplaryCatalogFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"exemplary catalog {name}: {problems}") from None
    criteria = tuple(
        Criterion(
            code=c.code,
            type=c.type,
            title_vi=c.title_vi,
            text_vi=c.text_vi,
            article=c.article,
            checks=tuple(chk.model_dump(mode="json", exclude_none=True) for chk in c.checks),
            province_added=True,
        )
        for c in spec.criteria
    )
    return Catalog(
        kind=TRACK,
        version=spec.version,
        legal_basis=spec.legal_basis,
        criteria=criteria,
        valid_from=spec.valid_from,
        province_code=spec.province_code,
        applies_to=tuple(spec.applies_to),
        source=spec.source,
    )


@cache
def load_catalog(province_code: str, version: str) -> Catalog:
    path = EXEMPLARY_DIR / f"{province_code}.{version}.json"
    catalog = parse_catalog(json.loads(path.read_text(encoding="utf-8")), name=path.name)
    if (catalog.province_code, catalog.version) != (province_code, version):
        raise ValueError(
            f"exemplary catalog {path.name} says province {catalog.province_code}, version {catalog.version}: "
            "the file name must match"
        )
    return catalog


def catalog_names() -> list[tuple[str, str]]:
    """(province_code, version) of every exemplary catalog configured."""
    return sorted(tuple(p.stem.split(".", 1)) for p in EXEMPLARY_DIR.glob("*.json"))  # type: ignore[misc]


def catalog_for(province_code: str, year: int) -> Catalog | None:
    """The province's exemplary catalog in force in ``year`` (the latest valid from it), or
    None: a province without one has no exemplary track."""
    found = [load_catalog(p, v) for p, v in catalog_names() if p == province_code]
    valid = [c for c in found if c.valid_from <= year]
    return max(valid, key=lambda c: c.valid_from) if valid else None


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class ExemplaryEvaluation:
    catalog: str
    criteria: list[dict[str, Any]]
    verdict: str  # met (đạt) | not_met (chưa đạt)
    unmet: list[str]

    @property
    def needs_review(self) -> list[str]:
        return [c["code"] for c in self.criteria if c["result"] == rules.REVIEW]


def evaluate(catalog: Catalog, submitted: Sequence[Mapping[str, Any]], facts: rules.Facts) -> ExemplaryEvaluation:
    """Judge an exemplary self-assessment: ``submitted`` is the unit's claims (code, met,
    note) covering the catalog exactly; ``facts`` its evidence, the incidents of the unit-year's
    window and ``facts.recognition`` (the ANTT outcome the system recorded). The engine is the
    ANTT one; the stricter rules are the catalog's parameters."""
    if facts.kind not in catalog.applies_to:
        raise ExemplaryError(
            "ineligible",
            f"the exemplary track ({catalog.ref}) is for {', '.join(catalog.applies_to)} units, not {facts.kind}",
        )
    try:
        claims = rules.index_claims(catalog, submitted)
    except ValueError as exc:
        raise ExemplaryError("invalid_payload", str(exc)) from None
    results = [rules.evaluate_criterion(catalog, crit, facts, claims[crit.code]) for crit in catalog.criteria]
    verdict, unmet = rules.verdict_of(results)
    return ExemplaryEvaluation(catalog=catalog.ref, criteria=results, verdict=verdict, unmet=unmet)


# --------------------------------------------------------------------------- the case
@dataclass(eq=False)
class ExemplaryCase:
    """A unit-year's proposal for the exemplary title: its own case, with its own
    self-assessment against the province's exemplary catalog. It rests on the unit-year's
    ANTT case (its window, its incidents, its recognition and movement classification); the
    approval of the title is the approval service's."""

    unit_year_id: str
    year: int
    unit: dict[str, Any]
    catalog_ref: str
    proposal: dict[str, Any]
    state: str = ExemplaryState.proposed.value
    round: int = 0
    verdict: str | None = None
    result: dict[str, Any] | None = None
    submission: dict[str, Any] | None = None
    version: int = 0

    @classmethod
    def propose(cls, antt: AssessmentCase, proposal: Mapping[str, Any]) -> ExemplaryCase:
        """Open the exemplary case of an ANTT-recognised unit-year of an eligible kind, in a
        province with an exemplary catalog for the year; refused otherwise, with the reason."""
        kind, province = antt.unit["kind"], str(antt.unit.get("province_code"))
        catalog = catalog_for(province, antt.year)
        if catalog is None:
            raise ExemplaryError(
                "no_exemplary_track", f"province {province} has no exemplary-track catalog in force in {antt.year}"
            )
        if kind not in catalog.applies_to:
            raise ExemplaryError(
                "ineligible", f"the exemplary title ({catalog.ref}) is for {', '.join(catalog.applies_to)} units, not {kind}"
            )
        rec = antt.recognition()
        if rec["recognised"] is not True:
            now = rec.get("state") or f"{antt.state}, not decided"
            raise ExemplaryError(
                "not_recognized",
                f"unit-year {antt.unit_year_id} is not recognised “An toàn về ANTT” ({now}): it can be proposed "
                "for the exemplary title only once it is",
            )
        return cls(
            unit_year_id=antt.unit_year_id,
            year=antt.year,
            unit=dict(antt.unit),
            catalog_ref=catalog.ref,
            proposal={k: (v.isoformat() if isinstance(v, date) else v) for k, v in proposal.items()},
        )

    @property
    def catalog(self) -> Catalog:
        _track, province, version = self.catalog_ref.split(".", 2)
        return load_catalog(province, version)

    def facts(self, antt: AssessmentCase, submission: Mapping[str, Any], incidents: Sequence[Incident]) -> rules.Facts:
        evidence = dict(submission.get("evidence") or {})
        # the movement's classification is the unit-year's record, not the unit's claim
        evidence["movement_rating"] = (antt.movement or {}).get("rating")
        documents = [{**d, "source": "registration"} for d in (antt.registration or {}).get("documents") or []]
        documents += [{**d, "source": "exemplary_self_assessment"} for d in submission.get("documents") or []]
        start, end = assessment_window(self.unit["kind"], self.year)
        return rules.Facts(
            kind=self.unit["kind"],
            year=self.year,
            window=(start, end),
            documents=tuple(documents),
            evidence=evidence,
            evidence_given=submission.get("evidence") is not None,
            incidents=tuple(i.as_fact() for i in incidents if i.counts and start <= i.occurred_on <= end),
            recognition=antt.recognition(),
        )

    def _judge(self, antt: AssessmentCase, submission: Mapping[str, Any], incidents: Sequence[Incident]) -> ExemplaryEvaluation:
        return evaluate(self.catalog, submission["criteria"], self.facts(antt, submission, incidents))

    def _record(self, ev: ExemplaryEvaluation, antt: AssessmentCase) -> None:
        assert self.submission is not None
        self.verdict = ev.verdict
        self.result = {
            "round": self.round,
            "meeting_date": self.submission["meeting_date"],
            "criteria": ev.criteria,
            "verdict": ev.verdict,
            "unmet": ev.unmet,
            "movement_rating": (antt.movement or {}).get("rating"),
        }

    def submit(
        self,
        antt: AssessmentCase,
        criteria: list[dict[str, Any]],
        meeting_date: date,
        *,
        documents: Sequence[Mapping[str, Any]] = (),
        evidence: Mapping[str, Any] | None = None,
        incidents: Sequence[Incident] = (),
    ) -> ExemplaryEvaluation:
        start, end = assessment_window(self.unit["kind"], self.year)
        if meeting_date < start:
            raise ExemplaryError(
                "invalid_payload", f"meeting_date {meeting_date} is before the assessment window ({start} to {end})"
            )
        submission = {
            "criteria": [dict(c) for c in criteria],
            "documents": [dict(d) for d in documents],
            "evidence": None if evidence is None else dict(evidence),
            "meeting_date": meeting_date.isoformat(),
        }
        ev = self._judge(antt, submission, incidents)
        try:
            fire(EXEMPLARY_MACHINE, self, "submit")
        except IllegalTransition:
            raise ExemplaryError(
                "illegal_transition",
                f"the exemplary case of {self.unit_year_id} is {self.state}: a self-assessment is accepted once, "
                "and again only after a return for supplement",
            ) from None
        self.round += 1
        self.submission = submission
        self._record(ev, antt)
        return ev

    def reopen(self) -> None:
        """The title's chain returned the proposal for supplement: a new self-assessment is due."""
        try:
            fire(EXEMPLARY_MACHINE, self, "reopen")
        except IllegalTransition:
            raise ExemplaryError(
                "illegal_transition", f"the exemplary case of {self.unit_year_id} is {self.state}: it cannot be returned"
            ) from None

    def close(self) -> bool:
        """The title was decided, revoked or lapsed; False if the case was already closed."""
        if self.state == ExemplaryState.closed:
            return False
        fire(EXEMPLARY_MACHINE, self, "close")
        return True

    def reevaluate(self, antt: AssessmentCase, incidents: Sequence[Incident]) -> ExemplaryEvaluation | None:
        """Judge the last exemplary self-assessment again; None if there is none, or nothing changed."""
        if self.submission is None:
            return None
        before = (self.verdict, list((self.result or {}).get("unmet") or []))
        ev = self._judge(antt, self.submission, incidents)
        self._record(ev, antt)
        return None if (ev.verdict, ev.unmet) == before else ev


def catalog_view(catalog: Catalog) -> dict[str, Any]:
    """The catalog as the API shows it."""
    return {
        "track": TRACK,
        "catalog": catalog.ref,
        "province_code": catalog.province_code,
        "version": catalog.version,
        "valid_from": catalog.valid_from,
        "applies_to": list(catalog.applies_to),
        "legal_basis": catalog.legal_basis,
        "source": catalog.source,
        "criteria": [c.as_dict() for c in catalog.criteria],
        "movement_ratings": vocabulary().movement_ratings,
    }


__all__ = [
    "ELIGIBLE_KINDS",
    "ExemplaryCase",
    "EXEMPLARY_DIR",
    "MOVEMENT_RATINGS",
    "ExemplaryError",
    "ExemplaryEvaluation",
    "catalog_for",
    "catalog_view",
    "evaluate",
    "load_catalog",
    "parse_catalog",
]
