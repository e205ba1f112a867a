"""The unit-year lifecycle as the approval service advances it. The transition table is the
public contract ``shared.contracts.lifecycle.APPROVAL``, which auditors replay too."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts import lifecycle
from shared.infra.statemachine import build_machine


class ApprovalState(StrEnum):
    registered = "registered"
    self_scored = "self_scored"
    commune_reviewed = "commune_reviewed"
    district_reviewed = "district_reviewed"
    province_reviewed = "province_reviewed"
    ministry_reviewed = "ministry_reviewed"
    recognized = "recognized"  # đạt chuẩn, được công nhận
    not_recognized = "not_recognized"  # không công nhận
    returned = "returned"  # trả lại để bổ sung
    withdrawn = "withdrawn"
    revoked = "revoked"  # thu hồi


S = ApprovalState
LEVELS = lifecycle.LEVELS
REVIEWED = [f"{lvl}_reviewed" for lvl in LEVELS]
#: states in which a review decision is awaited
UNDER_REVIEW = list(lifecycle.UNDER_REVIEW)
FINAL = lifecycle.FINAL

MACHINE = build_machine(states=[s.value for s in S], transitions=list(lifecycle.APPROVAL.transitions))

#: the exemplary title's lifecycle (public contract ``shared.contracts.lifecycle.APPROVAL_EXEMPLARY``)
EXEMPLARY_UNDER_REVIEW = list(lifecycle.EXEMPLARY_UNDER_REVIEW)
EXEMPLARY_FINAL = lifecycle.EXEMPLARY_FINAL
EXEMPLARY_MACHINE = build_machine(
    states=list(lifecycle.APPROVAL_EXEMPLARY.states), transitions=list(lifecycle.APPROVAL_EXEMPLARY.transitions)
)
