"""Lifecycle of a unit-year's assessment case. The transition table is the public contract
``shared.contracts.lifecycle.ASSESSMENT``, which auditors replay too."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.lifecycle import ASSESSMENT
from shared.infra.statemachine import build_machine


class AssessmentState(StrEnum):
    awaiting_self_assessment = "awaiting_self_assessment"
    self_scored = "self_scored"
    returned = "returned"  # trả lại để bổ sung
    closed = "closed"
    withdrawn = "withdrawn"


S = AssessmentState
MACHINE = build_machine(states=[s.value for s in S], transitions=list(ASSESSMENT.transitions))
