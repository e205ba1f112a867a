"""Approval domain: the approval case of a unit-year, moved level by level along its chain.

No I/O imports. Every method either changes the case and returns the event to publish, or
raises :class:`ApprovalError` with a reason, leaving the case unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.approval.chains import Chain
from services.approval.machine import FINAL, MACHINE, UNDER_REVIEW, ApprovalState
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire


class ApprovalError(DomainError):
    """A decision refused, with a code and a reason."""


@dataclass(frozen=True)
class Outcome:
    event_type: str
    payload: dict[str, Any]


@dataclass(eq=False)
class ApprovalCase:
    unit_year_id: str
    year: int
    unit: dict[str, Any]
    chain: list[dict[str, str]]
    chain_profile: str
    deadline: date
    kind: str = ""
    province_code: str = ""
    commune_code: str | None = None
    state: str = ApprovalState.registered.value
    step: int = 0
    pending_level: str | None = None
    round: int = 0
    verdict: str | None = None
    unmet: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0

    @classmethod
    def open(cls, unit_year_id: str, year: int, unit: dict[str, Any], chain: Chain) -> ApprovalCase:
        return cls(
            unit_year_id=unit_year_id,
            year=year,
            unit=unit,
            chain=list(chain.steps),
            chain_profile=chain.profile,
            deadline=chain.deadline,
            kind=unit["kind"],
            province_code=unit["province_code"],
            commune_code=unit.get("commune_code"),
        )

    # --- views ---------------------------------------------------------------------------
    @property
    def pending_step(self) -> dict[str, str] | None:
        return self.chain[self.step] if self.state in UNDER_REVIEW else None

    def is_late(self, today: date) -> bool:
        return self.state not in FINAL and today > self.deadline

    # --- transitions ---------------------------------------------------------------------
    def _fire(self, trigger: str) -> None:
        try:
            fire(MACHINE, self, trigger)
        except IllegalTransition as exc:
            raise ApprovalError("illegal_transition", f"unit-year {self.unit_year_id}: {exc}") from None

    def self_score(self, round_: int, verdict: str, unmet: list[str]) -> Outcome:
        self._fire("self_score")
        self.round = round_
        self.verdict = verdict
        self.unmet = list(unmet)
        self.step = 0
        self.pending_level = self.chain[0]["level"]
        return Outcome(
            "UnitYearSelfScored",
            {
                "unit_year_id": self.unit_year_id,
                "round": round_,
                "verdict": verdict,
                "state": self.state,
                "pending_level": self.pending_level,
                "deadline": self.deadline.isoformat(),
            },
        )

    def _why_not_reviewable(self) -> str:
        if self.state == ApprovalState.registered:
            return "it has not been self-assessed yet (no self-assessment recorded); no review decision can be taken"
        if self.state == ApprovalState.returned:
            return "it was returned for supplement and awaits a new self-assessment"
        return f"it is {self.state}; the decision is final"

    def decide(
        self,
        *,
        level: str,
        decision: str,
        reasons: list[str],
        decided_by: str,
        decision_no: str | None,
        decided_on: date | None,
        certificate_no: str | None,
        today: date,
    ) -> Outcome:
        if self.state not in UNDER_REVIEW:
            raise ApprovalError("illegal_transition", f"unit-year {self.unit_year_id}: {self._why_not_reviewable()}")
        step = self.chain[self.step]
        if level != step["level"]:
            raise ApprovalError(
                "wrong_level",
                f"unit-year {self.unit_year_id} awaits a decision at {step['level']} level "
                f"({step['body']}, step {self.step + 1} of {len(self.chain)}), not at {level} level",
            )
        record = {
            "level": level,
            "role": step["role"],
            "body": step["body"],
            "decision": decision,
            "reasons": list(reasons),
            "decided_by": decided_by,
            "decision_no": decision_no,
            "decided_on": (decided_on or today).isoformat(),
            "certificate_no": certificate_no,
            "round": self.round,
        }
        base = {"unit_year_id": self.unit_year_id, "level": level, "decided_by": decided_by, "decision_no": decision_no}
        if decision == "pass":
            if self.verdict != "met":
                raise ApprovalError(
                    "criteria_not_met",
                    f"unit-year {self.unit_year_id} cannot pass: its self-assessment verdict is chưa đạt "
                    f"(criteria not met: {', '.join(self.unmet) or 'unknown'}); refuse or return it instead",
                )
            if step["role"] == "decide":
                self._fire("recognize")
                self.pending_level = None
                outcome = Outcome(
                    "UnitYearRecognized",
                    {
                        **base,
                        "deciding_body": step["body"],
                        "decided_on": record["decided_on"],
                        "certificate_no": certificate_no,
                        "state": self.state,
                    },
                )
            else:
                self._fire(f"review_{level}")
                self.step += 1
                self.pending_level = self.chain[self.step]["level"]
                outcome = Outcome("UnitYearReviewed", {**base, "state": self.state, "pending_level": self.pending_level})
        elif decision in ("return", "reject"):
            if not reasons:
                what = "what must be supplemented" if decision == "return" else "why it is not recognised"
                raise ApprovalError("invalid_payload", f"a {decision} decision must give reasons ({what})")
            if decision == "return":
                self._fire("return_for_supplement")
                self.step = 0
                self.pending_level = None
                outcome = Outcome("UnitYearReturned", {**base, "reasons": list(reasons), "state": self.state})
            else:
                self._fire("refuse")
                self.pending_level = None
                outcome = Outcome("UnitYearNotRecognized", {**base, "reasons": list(reasons), "state": self.state})
        else:
            raise ApprovalError("invalid_payload", f"unknown decision {decision!r}: pass, return or reject")
        self.decisions = [*self.decisions, record]
        return outcome

    def withdraw(self, reason: str) -> Outcome:
        self._fire("withdraw")
        self.pending_level = None
        return Outcome("ApprovalCaseWithdrawn", {"unit_year_id": self.unit_year_id, "reason": reason, "state": self.state})
