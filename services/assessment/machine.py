"""Lifecycle of a unit-year's assessment case."""

from __future__ import annotations

from enum import StrEnum

from shared.infra.statemachine import build_machine


class AssessmentState(StrEnum):
    awaiting_self_assessment = "awaiting_self_assessment"
    self_scored = "self_scored"
    returned = "returned"  # trả lại để bổ sung
    closed = "closed"
    withdrawn = "withdrawn"


S = AssessmentState
MACHINE = build_machine(
    states=[s.value for s in S],
    transitions=[
        {"trigger": "submit", "source": [S.awaiting_self_assessment.value, S.returned.value], "dest": S.self_scored.value},
        {"trigger": "reopen", "source": S.self_scored.value, "dest": S.returned.value},
        {"trigger": "close", "source": [S.self_scored.value, S.returned.value], "dest": S.closed.value},
        {
            "trigger": "withdraw",
            "source": [S.awaiting_self_assessment.value, S.self_scored.value, S.returned.value],
            "dest": S.withdrawn.value,
        },
    ],
)
