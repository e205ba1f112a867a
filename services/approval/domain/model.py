"""Approval domain: the approval case of a unit-year, moved level by level along its chain.

No I/O imports. Every method either changes the case and returns the event to publish, or
raises :class:`ApprovalError` with a reason, leaving the case unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, ClassVar

from services.approval.domain.chains import Chain
from services.approval.domain.machine import (
    EXEMPLARY_FINAL,
    EXEMPLARY_MACHINE,
    EXEMPLARY_UNDER_REVIEW,
    FINAL,
    MACHINE,
    UNDER_REVIEW,
    ApprovalState,
)
from shared.contracts import events as ev
from shared.contracts.jurisdiction import may_decide
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire


class ApprovalError(DomainError):
    """A decision refused, with a code and a reason."""


def commune_code_of(unit: dict[str, Any]) -> str:
    """The commune a commune unit stands for (its commune_code, else its own code)."""
    return str(unit.get("commune_code") or unit["code"])


@dataclass(frozen=True)
class Rollup:
    """A commune's criterion 4 from its children (Art. 5.4): the residential areas, agencies,
    enterprises and schools it manages; 100% registered and at least 70% recognised."""

    commune_code: str
    year: int
    total: int
    registered: int
    decided: int
    recognized: int
    pending: tuple[str, ...]
    unregistered: tuple[str, ...]
    children_deadline: date | None

    @staticmethod
    def _ratio(n: int, d: int) -> float | None:
        return None if d == 0 else round(100 * n / d, 1)

    def view(self) -> dict[str, Any]:
        return {
            "commune_code": self.commune_code,
            "children_total": self.total,
            "registered": self.registered,
            "decided": self.decided,
            "recognized": self.recognized,
            "registered_pct": self._ratio(self.registered, self.total),
            "recognized_pct": self._ratio(self.recognized, self.total),
            "pending": list(self.pending),
            "unregistered": list(self.unregistered),
            "children_deadline": self.children_deadline.isoformat() if self.children_deadline else None,
        }

    def check(self, registered_min: float, recognized_min: float, criterion: str, today: date) -> None:
        """Raise ApprovalError unless the commune may be recognised now."""
        if self.total == 0:
            raise ApprovalError(
                "criteria_not_met",
                f"{criterion}: no residential area or unit managed by commune {self.commune_code} is known; "
                "criterion 4 cannot be established",
            )
        if self.pending and (self.children_deadline is None or today <= self.children_deadline):
            shown = ", ".join(self.pending[:10]) + (" ..." if len(self.pending) > 10 else "")
            raise ApprovalError(
                "children_pending",
                f"{len(self.pending)} of {self.registered} registered children of commune {self.commune_code} "
                f"are not decided yet ({shown}); the commune can be decided when they are, "
                f"or after their deadline ({self.children_deadline})",
            )
        if Fraction(self.registered, self.total) < Fraction(str(registered_min)):
            raise ApprovalError(
                "criteria_not_met",
                f"{criterion}: {self.registered} of {self.total} units managed by commune {self.commune_code} "
                f"registered ({self._ratio(self.registered, self.total)}%), "
                f"{round(registered_min * 100)}% required; not registered: {', '.join(self.unregistered[:10])}",
            )
        if Fraction(self.recognized, self.total) < Fraction(str(recognized_min)):
            raise ApprovalError(
                "criteria_not_met",
                f"{criterion}: {self.recognized} of {self.total} units managed by commune {self.commune_code} "
                f"recognised ({self._ratio(self.recognized, self.total)}%), below {round(recognized_min * 100)}%",
            )


@dataclass(frozen=True)
class TrackEvents:
    """The events one track's case publishes: the ANTT recognition's, or the exemplary title's.
    The rules of a chain (steps, levels, jurisdiction, returns and refusals with reasons) are
    the same for both; what differs is the record they leave."""

    track: str
    self_scored: Callable[..., ev.Event]
    reviewed: Callable[..., ev.Event]
    recognized: Callable[..., ev.Event]
    not_recognized: Callable[..., ev.Event]
    returned: Callable[..., ev.Event]
    verdict_changed: Callable[..., ev.Event]
    #: who works the pending step ("Tôi xử lý"): each track's claims are its own
    claimed: Callable[..., ev.Event]
    released: Callable[..., ev.Event]
    reassigned: Callable[..., ev.Event]
    #: how the case names itself in a reason
    what: str


ANTT_EVENTS = TrackEvents(
    track="antt",
    self_scored=ev.UnitYearSelfScored,
    reviewed=ev.UnitYearReviewed,
    recognized=ev.UnitYearRecognized,
    not_recognized=ev.UnitYearNotRecognized,
    returned=ev.UnitYearReturned,
    verdict_changed=ev.VerdictChanged,
    claimed=ev.CaseClaimed,
    released=ev.CaseReleased,
    reassigned=ev.CaseReassigned,
    what="unit-year",
)
EXEMPLARY_EVENTS = TrackEvents(
    track="exemplary",
    self_scored=ev.ExemplaryTitleSelfScored,
    reviewed=ev.ExemplaryTitleReviewed,
    recognized=ev.ExemplaryTitleRecognized,
    not_recognized=ev.ExemplaryTitleNotRecognized,
    returned=ev.ExemplaryTitleReturned,
    verdict_changed=ev.ExemplaryTitleVerdictChanged,
    claimed=ev.ExemplaryTitleClaimed,
    released=ev.ExemplaryTitleReleased,
    reassigned=ev.ExemplaryTitleReassigned,
    what="the exemplary title of unit-year",
)


@dataclass(eq=False)
class ChainCase:
    """A case moved level by level along its chain: the ANTT recognition of a unit-year
    (:class:`ApprovalCase`) or its exemplary title (:class:`ExemplaryTitle`)."""

    EVENTS: ClassVar[TrackEvents] = ANTT_EVENTS
    MACHINE: ClassVar[Any] = MACHINE
    UNDER_REVIEW: ClassVar[frozenset[str]] = frozenset(UNDER_REVIEW)
    FINAL: ClassVar[frozenset[str]] = FINAL

    unit_year_id: str
    year: int
    unit: dict[str, Any]
    chain: list[dict[str, str]]
    chain_profile: str
    deadline: date | None
    kind: str = ""
    province_code: str = ""
    commune_code: str | None = None
    unit_code: str = ""
    state: str = ApprovalState.registered.value
    step: int = 0
    pending_level: str | None = None
    #: the role of the pending step: review (thẩm định) or decide (công nhận)
    pending_role: str | None = None
    round: int = 0
    verdict: str | None = None
    unmet: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0

    @classmethod
    def _fields(cls, unit_year_id: str, year: int, unit: dict[str, Any], chain: Chain) -> dict[str, Any]:
        return {
            "unit_year_id": unit_year_id,
            "year": year,
            "unit": unit,
            "chain": list(chain.steps),
            "chain_profile": chain.profile,
            "deadline": chain.deadline,
            "kind": unit["kind"],
            "province_code": unit["province_code"],
            "commune_code": unit.get("commune_code"),
            "unit_code": unit["code"],
        }

    # --- views ---------------------------------------------------------------------------
    @property
    def pending_step(self) -> dict[str, str] | None:
        return self.chain[self.step] if self.state in self.UNDER_REVIEW else None

    def is_late(self, today: date) -> bool:
        return self.deadline is not None and self.state not in self.FINAL and today > self.deadline

    # --- transitions ---------------------------------------------------------------------
    def _fire(self, trigger: str) -> None:
        try:
            fire(self.MACHINE, self, trigger)
        except IllegalTransition as exc:
            raise ApprovalError("illegal_transition", f"{self.EVENTS.what} {self.unit_year_id}: {exc}") from None

    def self_score(self, round_: int, verdict: str, unmet: list[str]) -> ev.Event:
        self._fire("self_score")
        self.round = round_
        self.verdict = verdict
        self.unmet = list(unmet)
        self.step = 0
        self.pending_level = self.chain[0]["level"]
        self.pending_role = self.chain[0]["role"]
        return self.EVENTS.self_scored(
            unit_year_id=self.unit_year_id,
            round=round_,
            verdict=verdict,
            unmet=list(unmet),
            state=self.state,
            pending_level=self.pending_level,
            deadline=None if self.deadline is None else self.deadline.isoformat(),
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
        jurisdiction: list[str] | None = None,
        rollup: Rollup | None = None,
        rollup_rule: tuple[float, float, str] | None = None,
        step_role: str | None = None,
        expected_version: int | None = None,
    ) -> ev.Event:
        """Take the decision of the current step.

        ``step_role`` and ``expected_version`` say what the decision is for: without them a
        decision applies to whatever step is current, so the same decision sent twice (a retry)
        from ``self_scored`` of a residential area would be both the commune's review and its
        recognition. With them the second copy is refused."""
        self.check_version(expected_version)
        if step_role is not None:
            self._check_step(step_role, level)
        if self.state not in self.UNDER_REVIEW:
            raise ApprovalError("illegal_transition", f"{self.EVENTS.what} {self.unit_year_id}: {self._why_not_reviewable()}")
        step = self.chain[self.step]
        if level != step["level"]:
            raise ApprovalError(
                "wrong_level",
                f"{self.EVENTS.what} {self.unit_year_id} awaits a decision at {step['level']} level "
                f"({step['body']}, step {self.step + 1} of {len(self.chain)}), not at {level} level",
            )
        if jurisdiction is not None and not may_decide(jurisdiction, level, self.unit):
            raise ApprovalError(
                "out_of_jurisdiction",
                f"an actor for {', '.join(jurisdiction)} may not decide at {level} level for unit "
                f"{self.unit_code} (province {self.province_code}, commune {self.commune_code})",
            )
        record: dict[str, Any] = {
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
        events = self.EVENTS
        outcome: ev.Event
        if decision == "pass":
            if self.verdict != "met":
                raise ApprovalError(
                    "criteria_not_met",
                    f"{events.what} {self.unit_year_id} cannot pass: its self-assessment verdict is chưa đạt "
                    f"(criteria not met: {', '.join(self.unmet) or 'unknown'}); refuse or return it instead",
                )
            if step["role"] == "decide":
                if self.kind == "commune":
                    if rollup is None or rollup_rule is None:
                        raise ApprovalError("criteria_not_met", "the commune's children results are not available")
                    rollup.check(rollup_rule[0], rollup_rule[1], rollup_rule[2], today)
                    record["rollup"] = rollup.view()
                self._fire("recognize")
                self.pending_level = None
                self.pending_role = None
                outcome = events.recognized(
                    **base,
                    deciding_body=step["body"],
                    decided_on=record["decided_on"],
                    certificate_no=certificate_no,
                    state=self.state,
                )
            else:
                self._fire(f"review_{level}")
                self.step += 1
                self.pending_level = self.chain[self.step]["level"]
                self.pending_role = self.chain[self.step]["role"]
                outcome = events.reviewed(**base, state=self.state, pending_level=self.pending_level)
        elif decision in ("return", "reject"):
            if not reasons:
                what = "what must be supplemented" if decision == "return" else "why it is not recognised"
                raise ApprovalError("invalid_payload", f"a {decision} decision must give reasons ({what})")
            if decision == "return":
                self._fire("return_for_supplement")
                self.step = 0
                self.pending_level = None
                self.pending_role = None
                outcome = events.returned(**base, reasons=list(reasons), state=self.state)
            else:
                self._fire("refuse")
                self.pending_level = None
                self.pending_role = None
                outcome = events.not_recognized(**base, reasons=list(reasons), state=self.state)
        else:
            raise ApprovalError("invalid_payload", f"unknown decision {decision!r}: pass, return or reject")
        self.decisions = [*self.decisions, record]
        return outcome

    def check_version(self, expected_version: int | None) -> None:
        """Refuse (``version_mismatch``) a decision taken on another version of the case."""
        if expected_version is not None and expected_version != self.version:
            raise ApprovalError(
                "version_mismatch",
                f"{self.EVENTS.what} {self.unit_year_id} is at version {self.version} ({self._where()}), not {expected_version}: "
                "it changed since the decision was prepared; read it again",
            )

    def _where(self) -> str:
        pending = self.pending_step
        if pending is None:
            return f"state {self.state}, no step awaits a decision"
        return f"state {self.state}, awaiting the {pending['role']} step at {pending['level']} level ({pending['body']})"

    def _check_step(self, step_role: str, level: str) -> None:
        pending = self.pending_step
        if pending is not None and pending["role"] == step_role:
            return
        taken = [
            d for d in self.decisions if d.get("role") == step_role and d.get("level") == level and d.get("round") == self.round
        ]
        done = f"; the {step_role} step at {level} level was already taken in round {self.round}" if taken else ""
        raise ApprovalError(
            "step_not_current",
            f"a decision for the {step_role} step is not current for {self.EVENTS.what} {self.unit_year_id} ({self._where()}){done}; "
            "nothing was changed",
        )

    @property
    def deciding_level(self) -> str:
        return self.chain[-1]["level"]

    def change_verdict(self, verdict: str, unmet: list[str], reason: str) -> ev.Event | None:
        """A new verdict from the assessment (e.g. an incident) while the case is open."""
        if self.state in self.FINAL or (verdict == self.verdict and list(unmet) == self.unmet):
            return None
        self.verdict = verdict
        self.unmet = list(unmet)
        return self.EVENTS.verdict_changed(
            unit_year_id=self.unit_year_id, verdict=verdict, unmet=list(unmet), reason=reason, state=self.state
        )

    def _revocation(
        self,
        *,
        reasons: list[str],
        decided_by: str,
        decision_no: str | None,
        decided_on: date | None,
        today: date,
        jurisdiction: list[str] | None,
        expected_version: int | None,
        what: str,
    ) -> str:
        """Check and record a revocation (thu hồi) of the recognition; return its date."""
        self.check_version(expected_version)
        if self.state != "recognized":
            raise ApprovalError(
                "illegal_transition", f"{self.EVENTS.what} {self.unit_year_id} is {self.state}: only {what} can be revoked"
            )
        level = self.deciding_level
        if jurisdiction is not None and not may_decide(jurisdiction, level, self.unit):
            raise ApprovalError(
                "out_of_jurisdiction",
                f"an actor for {', '.join(jurisdiction)} may not revoke {what} decided at {level} level",
            )
        if not reasons:
            raise ApprovalError("invalid_payload", "a revocation must give its reasons")
        self._fire("revoke")
        on = (decided_on or today).isoformat()
        self.decisions = [
            *self.decisions,
            {
                "level": level,
                "role": "revoke",
                "body": self.chain[-1]["body"],
                "decision": "revoke",
                "reasons": list(reasons),
                "decided_by": decided_by,
                "decision_no": decision_no,
                "decided_on": on,
                "certificate_no": None,
                "round": self.round,
            },
        ]
        return on


@dataclass(eq=False)
class ApprovalCase(ChainCase):
    """The approval case of a unit-year's recognition "An toàn về ANTT"."""

    flags: list[dict[str, Any]] = field(default_factory=list)
    open_flags: int = 0

    @classmethod
    def open(cls, unit_year_id: str, year: int, unit: dict[str, Any], chain: Chain) -> ApprovalCase:
        return cls(**cls._fields(unit_year_id, year, unit, chain))

    def flag_incident(
        self, incident_id: str, criterion: str | None, reason: str, source_system: str | None = None
    ) -> ev.Event | None:
        """An incident failing a criterion, reported after recognition: a flag, never a
        revocation. An incident is one per (sender, incident_id): two senders may use the same id."""
        if self.state != ApprovalState.recognized or any(
            f["incident_id"] == incident_id and f.get("source_system") == source_system for f in self.flags
        ):
            return None
        flag = {"incident_id": incident_id, "criterion": criterion, "reason": reason, "open": True}
        if source_system is not None:
            flag["source_system"] = source_system
        self.flags = [*self.flags, flag]
        self.open_flags = sum(1 for f in self.flags if f["open"])
        return ev.IncidentFlagged(
            unit_year_id=self.unit_year_id,
            incident_id=incident_id,
            criterion=criterion,
            reason=reason,
            state=self.state,
            flag_for_level=self.deciding_level,
            source_system=source_system,
        )

    def revoke(
        self,
        *,
        reasons: list[str],
        decided_by: str,
        decision_no: str | None,
        decided_on: date | None,
        today: date,
        jurisdiction: list[str] | None = None,
        expected_version: int | None = None,
    ) -> ev.Event:
        """Thu hồi: an explicit, audited decision of the recognising level."""
        on = self._revocation(
            reasons=reasons,
            decided_by=decided_by,
            decision_no=decision_no,
            decided_on=decided_on,
            today=today,
            jurisdiction=jurisdiction,
            expected_version=expected_version,
            what="a recognition",
        )
        self.flags = [{**f, "open": False} for f in self.flags]
        self.open_flags = 0
        return ev.UnitYearRevoked(
            unit_year_id=self.unit_year_id,
            reasons=list(reasons),
            decided_by=decided_by,
            decision_no=decision_no,
            decided_on=on,
            state=self.state,
        )

    def withdraw(self, reason: str) -> ev.Event:
        self._fire("withdraw")
        self.pending_level = None
        self.pending_role = None
        return ev.ApprovalCaseWithdrawn(unit_year_id=self.unit_year_id, reason=reason, state=self.state)


@dataclass(eq=False)
class ExemplaryTitle(ChainCase):
    """The approval case of a unit-year's exemplary title (điển hình, kiểu mẫu về ANTT và
    phong trào toàn dân bảo vệ ANTQ), on the province's chain for it (e.g. the province steering
    committee appraises, the provincial chairman decides). It rests on the unit-year's ANTT
    recognition: revoking that revokes the title with it (:meth:`follow_antt_revocation`)."""

    EVENTS: ClassVar[TrackEvents] = EXEMPLARY_EVENTS
    MACHINE: ClassVar[Any] = EXEMPLARY_MACHINE
    UNDER_REVIEW: ClassVar[frozenset[str]] = frozenset(EXEMPLARY_UNDER_REVIEW)
    FINAL: ClassVar[frozenset[str]] = EXEMPLARY_FINAL

    criteria_catalog: str = ""
    antt_decision_no: str | None = None

    @classmethod
    def open(cls, antt: ApprovalCase, criteria_catalog: str, chain: Chain) -> tuple[ExemplaryTitle, list[ev.Event]]:
        """Open the title's case of a recognised unit-year; if the ANTT recognition is no
        longer in force (revoked while the proposal travelled), the case opens and lapses."""
        recognised = next(
            (d for d in reversed(antt.decisions) if d.get("decision") == "pass" and d.get("role") == "decide"), None
        )
        title = cls(
            **cls._fields(antt.unit_year_id, antt.year, antt.unit, chain),
            state="proposed",
            criteria_catalog=criteria_catalog,
            antt_decision_no=None if recognised is None else recognised.get("decision_no"),
        )
        opened = ev.ExemplaryTitleCaseOpened(
            unit_year_id=title.unit_year_id,
            unit=title.unit,
            year=title.year,
            criteria_catalog=criteria_catalog,
            chain=title.chain,
            chain_profile=title.chain_profile,
            deadline=title.deadline,
            antt_decision_no=title.antt_decision_no,
            state=title.state,
        )
        out: list[ev.Event] = [opened]
        if antt.state != ApprovalState.recognized:
            out.append(title.lapse(f"unit-year {antt.unit_year_id} is {antt.state}, not recognised “An toàn về ANTT”"))
        return title, out

    def _why_not_reviewable(self) -> str:
        if self.state == "proposed":
            return "its exemplary self-assessment has not been recorded yet; no decision can be taken"
        if self.state == "returned":
            return "it was returned for supplement and awaits a new exemplary self-assessment"
        return f"it is {self.state}; the decision is final"

    def revoke(
        self,
        *,
        reasons: list[str],
        decided_by: str,
        decision_no: str | None,
        decided_on: date | None,
        today: date,
        jurisdiction: list[str] | None = None,
        expected_version: int | None = None,
        because_of: str = "decision",
    ) -> ev.Event:
        """Thu hồi the exemplary title alone, by its recognising level."""
        on = self._revocation(
            reasons=reasons,
            decided_by=decided_by,
            decision_no=decision_no,
            decided_on=decided_on,
            today=today,
            jurisdiction=jurisdiction,
            expected_version=expected_version,
            what="an exemplary title",
        )
        return ev.ExemplaryTitleRevoked(
            unit_year_id=self.unit_year_id,
            reasons=list(reasons),
            decided_by=decided_by,
            decision_no=decision_no,
            decided_on=on,
            because_of=because_of,
            state=self.state,
        )

    def lapse(self, reason: str) -> ev.Event:
        self._fire("lapse")
        self.pending_level = None
        self.pending_role = None
        return ev.ExemplaryTitleLapsed(unit_year_id=self.unit_year_id, reason=reason, state=self.state)

    def follow_antt_revocation(self, revoked: ev.UnitYearRevoked, today: date) -> ev.Event | None:
        """The ANTT recognition the title rests on was revoked (criterion 8 of seed 003): a
        title granted is revoked with it, by the same decision; a proposal not yet decided
        lapses. None when the title is already over."""
        why = f"the recognition “An toàn về ANTT” was revoked ({revoked.decision_no or 'no decision number'}): " + "; ".join(
            revoked.reasons
        )
        if self.state == "recognized":
            return self.revoke(
                reasons=[why],
                decided_by=revoked.decided_by,
                decision_no=revoked.decision_no,
                decided_on=revoked.decided_on,
                today=today,
                because_of="antt_revoked",
            )
        if self.state in self.FINAL:
            return None
        return self.lapse(why)


# --- claims ("Tôi xử lý") ----------------------------------------------------------------
class ClaimConflictError(ApprovalError):
    """The unit-year's pending step is claimed by another official (``holder``)."""

    holder: dict[str, str]


def claimed_by_other(unit_year_id: str, holder: dict[str, str], what: str = "unit-year") -> ClaimConflictError:
    err = ClaimConflictError(
        "claimed_by_other",
        f"{what} {unit_year_id} is being handled by {holder['name']} ({holder['id']}); "
        "they must release it, or a supervisor reassign it, before anyone else acts on it",
    )
    err.holder = holder
    return err


@dataclass(frozen=True)
class Claim:
    """Who works the pending step of a unit-year's case (its ANTT recognition, or its exemplary
    title: each has its own). It holds for that step and round only: once a decision moves the
    case on, it no longer applies."""

    unit_year_id: str
    level: str
    step: int
    round: int
    official_id: str
    official_name: str

    def applies_to(self, case: ChainCase) -> bool:
        return case.state in case.UNDER_REVIEW and (self.step, self.round) == (case.step, case.round)

    @property
    def holder(self) -> dict[str, str]:
        return {"id": self.official_id, "name": self.official_name}


def _claimable(case: ChainCase, jurisdiction: list[str]) -> str:
    """The pending level of a case an actor of ``jurisdiction`` may claim, or ApprovalError."""
    if case.state not in case.UNDER_REVIEW or case.pending_level is None:
        raise ApprovalError(
            "illegal_transition",
            f"{case.EVENTS.what} {case.unit_year_id} awaits no review decision: {case._why_not_reviewable()}",
        )
    if not may_decide(jurisdiction, case.pending_level, case.unit):
        raise ApprovalError(
            "out_of_jurisdiction",
            f"an actor for {', '.join(jurisdiction)} may not act at {case.pending_level} level for unit {case.unit_code}",
        )
    return case.pending_level


def claim_case(case: ChainCase, current: Claim | None, official: dict[str, str], jurisdiction: list[str]) -> ev.Event | None:
    """Take the pending step; ``None`` when the official holds it already."""
    level = _claimable(case, jurisdiction)
    if current is not None and current.applies_to(case):
        if current.official_id == official["id"]:
            return None
        raise claimed_by_other(case.unit_year_id, current.holder, case.EVENTS.what)
    return case.EVENTS.claimed(unit_year_id=case.unit_year_id, level=level, step=case.step, round=case.round, claimed_by=official)


def release_case(
    case: ChainCase,
    current: Claim | None,
    official: dict[str, str],
    *,
    supervisor: bool,
    jurisdiction: list[str],
    reason: str | None,
) -> ev.Event:
    """Give up a claim: its holder may, and so may a supervisor of the same jurisdiction."""
    level = _claimable(case, jurisdiction)
    if current is None or not current.applies_to(case):
        raise ApprovalError("not_claimed", f"{case.EVENTS.what} {case.unit_year_id} is not claimed by anyone")
    if current.official_id != official["id"] and not supervisor:
        raise claimed_by_other(case.unit_year_id, current.holder, case.EVENTS.what)
    return case.EVENTS.released(
        unit_year_id=case.unit_year_id, level=level, claimed_by=current.holder, released_by=official, reason=reason
    )


def reassign_case(
    case: ChainCase,
    current: Claim | None,
    to: dict[str, str],
    to_jurisdiction: str,
    by: dict[str, str],
    *,
    supervisor: bool,
    jurisdiction: list[str],
    reason: str | None,
) -> ev.Event:
    """A supervisor of the same jurisdiction gives the pending step to another official, who
    must be able to act on it."""
    level = _claimable(case, jurisdiction)
    if not supervisor:
        raise ApprovalError("forbidden", "only a supervisor (role supervise) may reassign a unit-year")
    if not may_decide([to_jurisdiction], level, case.unit):
        raise ApprovalError(
            "out_of_jurisdiction",
            f"{to['name']} ({to_jurisdiction}) may not act at {level} level for unit {case.unit_code}",
        )
    held = current.holder if current is not None and current.applies_to(case) else None
    if held is not None and held["id"] == to["id"]:
        raise ApprovalError("invalid_payload", f"{case.EVENTS.what} {case.unit_year_id} is already handled by {to['name']}")
    return case.EVENTS.reassigned(
        unit_year_id=case.unit_year_id,
        level=level,
        step=case.step,
        round=case.round,
        claimed_by=held,
        assigned_to=to,
        reassigned_by=by,
        reason=reason,
    )
