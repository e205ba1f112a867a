"""Assessment domain: the assessment case of a unit-year, the incidents recorded against
units, and the evaluation of a self-assessment (criteria catalog of the unit's kind, the
evidence, the incidents in the window, the province's scoring sheet). No I/O imports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.assessment.domain import rules, scoring
from services.assessment.domain.criteria import Catalog, catalog_for, load_catalog, vocabulary
from services.assessment.domain.machine import MACHINE, AssessmentState
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire


class AssessmentError(DomainError):
    """A self-assessment or an incident refused, with a code and a reason."""


def assessment_window(kind: str, year: int) -> tuple[date, date]:
    """Mốc thời gian đánh giá: 1 Nov–31 Oct for residential areas, 16 Nov–15 Nov otherwise."""
    if kind == "residential_area":
        return date(year - 1, 11, 1), date(year, 10, 31)
    return date(year - 1, 11, 16), date(year, 11, 15)


def window_year(kind: str, day: date) -> int:
    """The assessed year whose window contains ``day`` (an incident counts where it happened)."""
    last = (10, 31) if kind == "residential_area" else (11, 15)
    return day.year if (day.month, day.day) <= last else day.year + 1


@dataclass(frozen=True)
class Evaluation:
    criteria: list[dict[str, Any]]
    verdict: str  # met (đạt) | not_met (chưa đạt)
    unmet: list[str]
    score: dict[str, Any] | None = None  # the province sheet's breakdown, if one applies
    scoring_sheet: str | None = None


def evaluate(
    catalog: Catalog,
    submitted: Sequence[Mapping[str, Any]],
    facts: rules.Facts | None = None,
    *,
    sheet: scoring.Sheet | None = None,
    claimed_score: float | None = None,
) -> Evaluation:
    """Judge every criterion of ``catalog`` (and the sheet's criterion, if configured).

    ``submitted`` is the unit's claims (code, met, note), which must cover the catalog exactly.
    Without ``facts`` only the claims are known: the criteria that need evidence are left to
    the reviewer.
    """
    try:
        claims = rules.index_claims(catalog, submitted, optional=scoring.province_criterion_codes(sheet))
    except ValueError as exc:
        raise AssessmentError("invalid_payload", str(exc)) from None
    if facts is None:
        facts = rules.Facts(kind=catalog.kind, year=1, window=(date.min, date.max), incidents_known=False)
    results = [rules.evaluate_criterion(catalog, crit, facts, claims[crit.code]) for crit in catalog.criteria]
    breakdown = None
    if sheet is not None:
        try:
            score = scoring.compute(sheet, facts, claimed_score)
        except scoring.SheetError as exc:
            raise AssessmentError("invalid_payload", str(exc)) from None
        breakdown = score.breakdown
        if sheet.criterion:
            code = scoring.province_criterion_codes(sheet)[0]
            results.append(scoring.score_criterion(score, claims.get(code)))
    elif (facts.stated("self_scores") or None) is not None:
        raise AssessmentError(
            "invalid_payload",
            f"self_scores are given but no province scoring sheet applies to {catalog.kind} units of this province and year",
        )
    verdict, unmet = rules.verdict_of(results)
    return Evaluation(
        criteria=results, verdict=verdict, unmet=unmet, score=breakdown, scoring_sheet=None if sheet is None else sheet.ref
    )


# --------------------------------------------------------------------------- incidents
@dataclass(eq=False)
class Incident:
    """An incident reported against a unit (IncidentReported), kept once per sender and
    incident_id: ``incident_id`` is the sender's own number, so the same id from two senders
    is two incidents, and from one sender a repeat (or a conflict)."""

    incident_id: str
    unit_code: str
    occurred_on: date
    category: str
    report: dict[str, Any]  # the reported payload, as JSON
    source_system: str
    jurisdiction: list[str]
    unit_year_id: str | None = None
    criterion: str | None = None
    effect: str = rules.PENDING
    reason: str = ""
    version: int = 0

    @classmethod
    def record(cls, report: dict[str, Any], *, source_system: str, jurisdiction: list[str]) -> Incident:
        category = report["category"]
        known = vocabulary().incident_categories
        if category not in known:
            raise AssessmentError(
                "invalid_payload", f"payload.category: unknown incident category {category!r}; known: {', '.join(known)}"
            )
        return cls(
            incident_id=report["incident_id"],
            unit_code=report["unit_code"],
            occurred_on=date.fromisoformat(report["occurred_on"]),
            category=category,
            report=dict(report),
            source_system=source_system,
            jurisdiction=list(jurisdiction),
        )

    @property
    def key(self) -> str:
        """How a case lists the incident: ``<source_system>/<incident_id>``."""
        return f"{self.source_system}/{self.incident_id}"

    def same_report(self, report: Mapping[str, Any]) -> bool:
        return dict(self.report) == dict(report)

    def differences(self, report: Mapping[str, Any]) -> list[str]:
        keys = sorted(set(self.report) | set(report))
        return [f"{k}: {self.report.get(k)!r} → {report.get(k)!r}" for k in keys if self.report.get(k) != report.get(k)]

    def as_fact(self) -> dict[str, Any]:
        return {
            **self.report,
            "incident_id": self.incident_id,
            "occurred_on": self.occurred_on,
            "source_system": self.source_system,
        }

    def assign(self, unit_year_id: str | None, effect: rules.IncidentEffect | None, *, pending_reason: str = "") -> None:
        self.unit_year_id = unit_year_id
        if effect is None:
            self.criterion, self.effect, self.reason = None, rules.PENDING, pending_reason
        else:
            self.criterion, self.effect, self.reason = effect.criterion, effect.effect, effect.reason

    def refuse_for_jurisdiction(self, unit_year_id: str, reason: str) -> None:
        self.unit_year_id = unit_year_id
        self.criterion, self.effect, self.reason = None, rules.OUT_OF_JURISDICTION, reason

    @property
    def counts(self) -> bool:
        return self.effect != rules.OUT_OF_JURISDICTION

    def view(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "unit_code": self.unit_code,
            "occurred_on": self.occurred_on.isoformat(),
            "category": self.category,
            "severity": self.report.get("severity"),
            "force_majeure": self.report.get("force_majeure", False),
            "detected_promptly": self.report.get("detected_promptly", False),
            "mitigated": self.report.get("mitigated", False),
            "reported_promptly": self.report.get("reported_promptly", False),
            "reported_on": self.report.get("reported_on"),
            "reported_by": self.report.get("reported_by"),
            "description": self.report.get("description"),
            "source_system": self.source_system,
            "unit_year_id": self.unit_year_id,
            "criterion": self.criterion,
            "effect": self.effect,
            "reason": self.reason,
        }


# --------------------------------------------------------------------------- the case
@dataclass(eq=False)
class AssessmentCase:
    unit_year_id: str
    year: int
    unit: dict[str, Any]
    catalog_ref: str
    state: str = AssessmentState.awaiting_self_assessment.value
    round: int = 0
    verdict: str | None = None
    result: dict[str, Any] | None = None
    #: the year registration's documents and household figures (UnitYearRegistered)
    registration: dict[str, Any] | None = None
    #: the last self-assessment as submitted (claims, documents, evidence, meeting date, score)
    submission: dict[str, Any] | None = None
    #: the incidents recorded against this unit-year, in the order recorded
    incident_ids: list[str] = field(default_factory=list)
    version: int = 0
    #: the final ANTT decision as the approval service announced it (outcome: recognized,
    #: not_recognized, withdrawn, revoked; decision_no, level, decided_by...); None while open
    outcome: dict[str, Any] | None = None
    #: the movement's yearly classification (phân loại phong trào): rating, classified_by...
    movement: dict[str, Any] | None = None

    @classmethod
    def open(
        cls, unit_year_id: str, year: int, unit: dict[str, Any], registration: Mapping[str, Any] | None = None
    ) -> AssessmentCase:
        catalog = catalog_for(unit["kind"], year)
        reg = {
            "documents": list((registration or {}).get("documents") or []),
            "households_total": (registration or {}).get("households_total"),
            "households_registered": (registration or {}).get("households_registered"),
        }
        return cls(unit_year_id=unit_year_id, year=year, unit=unit, catalog_ref=catalog.ref, registration=reg)

    @property
    def unit_code(self) -> str:
        return str(self.unit["code"])

    @property
    def catalog(self) -> Catalog:
        kind, _, version = self.catalog_ref.partition(".")
        return load_catalog(kind, version)

    def window(self) -> tuple[date, date]:
        return assessment_window(self.unit["kind"], self.year)

    def contains(self, day: date) -> bool:
        start, end = self.window()
        return start <= day <= end

    def sheet(self) -> scoring.Sheet | None:
        return scoring.select_sheet(str(self.unit.get("province_code")), self.unit["kind"], self.year)

    def _fire(self, trigger: str, what: str) -> None:
        try:
            fire(MACHINE, self, trigger)
        except IllegalTransition:
            raise AssessmentError(
                "illegal_transition", f"unit-year {self.unit_year_id} is {self.state}: {what} is not possible now"
            ) from None

    # --- evaluation ---------------------------------------------------------------------
    def previous_year_id(self) -> str:
        return f"{self.unit_code}:{self.year - 1}"

    def recorded_figures(self) -> rules.PreviousYear:
        """What this unit-year recorded, as the next year's year-on-year criteria read it."""
        if self.submission is None:
            return rules.PreviousYear(self.unit_year_id, None, self.round, "no self-assessment recorded")
        given = self.submission.get("evidence")
        if given is None:
            return rules.PreviousYear(self.unit_year_id, None, self.round, "its self-assessment gave no evidence")
        return rules.PreviousYear(self.unit_year_id, dict(given), self.round)

    def facts(
        self, submission: Mapping[str, Any], incidents: Iterable[Incident], previous: rules.PreviousYear | None = None
    ) -> rules.Facts:
        reg = self.registration or {}
        documents = [{**d, "source": "registration"} for d in reg.get("documents") or []]
        documents += [{**d, "source": "self_assessment"} for d in submission.get("documents") or []]
        given = submission.get("evidence")
        evidence: dict[str, Any] = {
            "households_total": reg.get("households_total"),
            "households_registered": reg.get("households_registered"),
        }
        evidence.update({k: v for k, v in (given or {}).items() if v is not None})
        return rules.Facts(
            kind=self.unit["kind"],
            year=self.year,
            window=self.window(),
            documents=tuple(documents),
            evidence=evidence,
            evidence_given=given is not None,
            incidents=tuple(self._fact(i) for i in incidents if i.counts and self.contains(i.occurred_on)),
            previous_year=previous,
        )

    def _fact(self, incident: Incident) -> dict[str, Any]:
        fact = incident.as_fact()
        if incident.unit_code != self.unit_code:
            # a commune's unit-year: an incident at one of its residential areas (Art. 5.2)
            fact["at_residential_area"] = incident.unit_code
        return fact

    def _evaluate(
        self, submission: Mapping[str, Any], incidents: Iterable[Incident], previous: rules.PreviousYear | None
    ) -> Evaluation:
        return evaluate(
            self.catalog,
            submission["criteria"],
            self.facts(submission, incidents, previous),
            sheet=self.sheet(),
            claimed_score=submission.get("score"),
        )

    def _record(self, ev: Evaluation, meeting_date: str, score: float | None) -> None:
        self.verdict = ev.verdict
        self.result = {
            "round": self.round,
            "meeting_date": meeting_date,
            "criteria": ev.criteria,
            "verdict": ev.verdict,
            "unmet": ev.unmet,
            "score": score,
            "scoring_sheet": ev.scoring_sheet,
            "score_breakdown": ev.score,
        }

    def submit(
        self,
        criteria: list[dict[str, Any]],
        meeting_date: date,
        score: float | None,
        *,
        documents: Sequence[Mapping[str, Any]] = (),
        evidence: Mapping[str, Any] | None = None,
        incidents: Iterable[Incident] = (),
        previous: rules.PreviousYear | None = None,
    ) -> Evaluation:
        """Judge and record a self-assessment. ``previous`` is what the unit's previous
        unit-year recorded (:meth:`recorded_figures`), for the year-on-year criteria."""
        if self.state not in (AssessmentState.awaiting_self_assessment, AssessmentState.returned):
            raise AssessmentError(
                "illegal_transition",
                f"unit-year {self.unit_year_id} is {self.state}: a self-assessment is accepted only before review "
                "or after a return for supplement",
            )
        start, end = self.window()
        if meeting_date < start:
            raise AssessmentError(
                "invalid_payload",
                f"meeting_date {meeting_date} is before the assessment window ({start} to {end})",
            )
        submission = {
            "criteria": [dict(c) for c in criteria],
            "documents": [dict(d) for d in documents],
            "evidence": None if evidence is None else dict(evidence),
            "meeting_date": meeting_date.isoformat(),
            "score": score,
        }
        ev = self._evaluate(submission, incidents, previous)
        self._fire("submit", "a self-assessment")
        self.round += 1
        self.submission = submission
        self._record(ev, str(submission["meeting_date"]), score)
        return ev

    def reevaluate(self, incidents: Iterable[Incident], previous: rules.PreviousYear | None = None) -> Evaluation | None:
        """Judge the last self-assessment again (an incident was recorded); None if there is none."""
        if self.submission is None:
            return None
        ev = self._evaluate(self.submission, incidents, previous)
        self._record(ev, self.submission["meeting_date"], self.submission.get("score"))
        return ev

    def note_incident(self, incident: Incident) -> rules.IncidentEffect:
        """Link an incident in this unit-year's window; its effect on this unit's criteria."""
        if not self.contains(incident.occurred_on):
            raise ValueError(f"{incident.incident_id} on {incident.occurred_on} is outside {self.unit_year_id}'s window")
        known = list(self.incident_ids or [])
        if incident.key not in known:
            self.incident_ids = [*known, incident.key]
        effect = rules.classify_incident(self.catalog, incident.as_fact())
        incident.assign(self.unit_year_id, effect)
        return effect

    def note_area_incident(self, incident: Incident) -> rules.IncidentEffect | None:
        """A commune's unit-year: link an incident at one of its residential areas, which
        counts against the commune's criterion 2 (Art. 5.2: residential-area criteria 2, 3
        and 4 hold across the commune) without being reported for the commune. The incident
        stays the area's (its own effect is the area's); None if it is linked already."""
        if self.unit["kind"] != "commune":
            raise ValueError(f"{self.unit_year_id} is not a commune's unit-year")
        if not self.contains(incident.occurred_on):
            raise ValueError(f"{incident.incident_id} on {incident.occurred_on} is outside {self.unit_year_id}'s window")
        known = list(self.incident_ids or [])
        if incident.key in known:
            return None
        self.incident_ids = [*known, incident.key]
        return rules.classify_incident(self.catalog, self._fact(incident))

    def recognition(self) -> dict[str, Any]:
        """The ANTT recognition as the exemplary criteria read it (``recognised``: True, False,
        or None while no final decision is known)."""
        outcome = self.outcome or {}
        state = outcome.get("outcome")
        rec: dict[str, Any] = {"unit_year_id": self.unit_year_id, "recognised": None if state is None else state == "recognized"}
        if state is not None:
            rec["state"] = state
        for k in ("decision_no", "level", "decided_by", "decided_on"):
            if outcome.get(k) is not None:
                rec[k] = outcome[k]
        return rec

    def record_outcome(self, outcome: str, **details: Any) -> None:
        self.outcome = {"outcome": outcome, **{k: v for k, v in details.items() if v is not None}}

    def classify_movement(
        self, rating: str, classified_by: str, decision_no: str | None, classified_on: date | None
    ) -> dict[str, Any]:
        """Record the movement's classification for the year (the latest one stands)."""
        self.movement = {
            "rating": rating,
            "classified_by": classified_by,
            "decision_no": decision_no,
            "classified_on": None if classified_on is None else classified_on.isoformat(),
        }
        return self.movement

    # --- lifecycle ----------------------------------------------------------------------
    def reopen(self) -> None:
        self._fire("reopen", "a return for supplement")

    def close(self) -> None:
        self._fire("close", "closing")

    def withdraw(self) -> None:
        self._fire("withdraw", "withdrawal")
