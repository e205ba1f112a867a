"""Lifecycle of a unit-year's assessment case. The transition table is the public contract
``shared.contracts.lifecycle.ASSESSMENT``, which auditors replay too."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.lifecycle import ASSESSMENT, ASSESSMENT_EXEMPLARY
from shared.infra.statemachine import build_machine


class AssessmentState(StrEnum):
    awaiting_self_assessment = "awaiting_self_assessment"
    self_scored = "self_scored"
    returned = "returned"  # trả lại để bổ sung
    closed = "closed"
    withdrawn = "withdrawn"


S = AssessmentState
MACHINE = build_machine(states=[s.value for s in S], transitions=list(ASSESSMENT.transitions))


class ExemplaryState(StrEnum):
    """The exemplary case of a unit-year (the exemplary track, điển hình)."""

    proposed = "proposed"  # đề nghị, awaiting its exemplary self-assessment
    self_assessed = "self_assessed"
    returned = "returned"  # trả lại để bổ sung (by the approval chain of the exemplary title)
    closed = "closed"


EXEMPLARY_MACHINE = build_machine(states=[s.value for s in ExemplaryState], transitions=list(ASSESSMENT_EXEMPLARY.transitions))
