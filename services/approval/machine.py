"""The unit-year lifecycle as the approval service advances it."""

from __future__ import annotations

from enum import StrEnum

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
LEVELS = ("commune", "district", "province", "ministry")
REVIEWED = [f"{lvl}_reviewed" for lvl in LEVELS]
#: states in which a review decision is awaited
UNDER_REVIEW = [S.self_scored.value, *REVIEWED]
FINAL = frozenset({S.recognized.value, S.not_recognized.value, S.withdrawn.value, S.revoked.value})

MACHINE = build_machine(
    states=[s.value for s in S],
    transitions=[
        {"trigger": "self_score", "source": [S.registered.value, S.returned.value], "dest": S.self_scored.value},
        *({"trigger": f"review_{lvl}", "source": UNDER_REVIEW, "dest": f"{lvl}_reviewed"} for lvl in LEVELS),
        {"trigger": "recognize", "source": UNDER_REVIEW, "dest": S.recognized.value},
        {"trigger": "refuse", "source": UNDER_REVIEW, "dest": S.not_recognized.value},
        {"trigger": "return_for_supplement", "source": UNDER_REVIEW, "dest": S.returned.value},
        {"trigger": "withdraw", "source": [S.registered.value, S.returned.value, *UNDER_REVIEW], "dest": S.withdrawn.value},
        {"trigger": "revoke", "source": S.recognized.value, "dest": S.revoked.value},
    ],
)
