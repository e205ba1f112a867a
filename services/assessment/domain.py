"""Assessment domain: the assessment case of a unit-year and the evaluation of a
self-assessment against the criteria catalog of the unit's kind. No I/O imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from services.assessment.criteria import Catalog, load_catalog
from services.assessment.machine import MACHINE, AssessmentState
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire


class AssessmentError(DomainError):
    """A self-assessment refused, with a code and a reason."""


def assessment_window(kind: str, year: int) -> tuple[date, date]:
    """Mốc thời gian đánh giá: 1 Nov–31 Oct for residential areas, 16 Nov–15 Nov otherwise."""
    if kind == "residential_area":
        return date(year - 1, 11, 1), date(year, 10, 31)
    return date(year - 1, 11, 16), date(year, 11, 15)


@dataclass(frozen=True)
class Evaluation:
    criteria: list[dict[str, Any]]
    verdict: str  # met (đạt) | not_met (chưa đạt)
    unmet: list[str]


def evaluate(catalog: Catalog, submitted: list[dict[str, Any]]) -> Evaluation:
    """Check the submission covers the catalog exactly, then judge each criterion."""
    codes = catalog.codes()
    seen: dict[str, dict[str, Any]] = {}
    for c in submitted:
        if c["code"] in seen:
            raise AssessmentError("invalid_payload", f"criterion {c['code']} is given twice")
        seen[c["code"]] = c
    unknown = [c for c in seen if c not in codes]
    if unknown:
        raise AssessmentError(
            "invalid_payload",
            f"unknown criteria for {catalog.kind} ({catalog.legal_basis}): {', '.join(unknown)}; expected {', '.join(codes)}",
        )
    missing = [c for c in codes if c not in seen]
    if missing:
        raise AssessmentError("invalid_payload", f"criteria missing from the self-assessment: {', '.join(missing)}")
    results = []
    unmet = []
    for crit in catalog.criteria:
        claimed = seen[crit.code]
        met = bool(claimed["met"])
        if not met:
            unmet.append(crit.code)
        results.append(
            {
                "code": crit.code,
                "title": crit.title_vi,
                "claimed_met": met,
                "result": "met" if met else "not_met",
                "reason": None if met else "the unit assesses this criterion as not met",
                "note": claimed.get("note"),
            }
        )
    return Evaluation(criteria=results, verdict="not_met" if unmet else "met", unmet=unmet)


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
    version: int = 0

    @classmethod
    def open(cls, unit_year_id: str, year: int, unit: dict[str, Any]) -> AssessmentCase:
        catalog = load_catalog(unit["kind"])
        return cls(unit_year_id=unit_year_id, year=year, unit=unit, catalog_ref=catalog.ref)

    @property
    def catalog(self) -> Catalog:
        kind, _, version = self.catalog_ref.partition(".")
        return load_catalog(kind, version)

    def window(self) -> tuple[date, date]:
        return assessment_window(self.unit["kind"], self.year)

    def _fire(self, trigger: str, what: str) -> None:
        try:
            fire(MACHINE, self, trigger)
        except IllegalTransition:
            raise AssessmentError(
                "illegal_transition", f"unit-year {self.unit_year_id} is {self.state}: {what} is not possible now"
            ) from None

    def submit(self, criteria: list[dict[str, Any]], meeting_date: date, score: float | None) -> Evaluation:
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
        ev = evaluate(self.catalog, criteria)
        self._fire("submit", "a self-assessment")
        self.round += 1
        self.verdict = ev.verdict
        self.result = {
            "round": self.round,
            "meeting_date": meeting_date.isoformat(),
            "criteria": ev.criteria,
            "verdict": ev.verdict,
            "unmet": ev.unmet,
            "score": score,
        }
        return ev

    def reopen(self) -> None:
        self._fire("reopen", "a return for supplement")

    def close(self) -> None:
        self._fire("close", "closing")

    def withdraw(self) -> None:
        self._fire("withdraw", "withdrawal")
