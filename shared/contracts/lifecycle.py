"""The lifecycles of the three services, as data: states, transitions, and which event records
which transition (public contract).

Each service builds its ``transitions`` machine from these tables (``services/*/machine.py``),
and the auditors' tool (``python -m audit``) replays a unit-year's events through the same
tables, so what the services may do and what an auditor accepts can never drift apart.

A transition is ``{"trigger", "source", "dest"}`` as the ``transitions`` library takes it.
:data:`EVENT_TRIGGERS` maps an event type to the trigger it records (``None``: the event opens
the stream in the machine's initial state; a missing type changes no state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LEVELS = ("commune", "district", "province", "ministry")


@dataclass(frozen=True)
class Lifecycle:
    """One machine: its producer, states, initial state and transitions."""

    producer: str
    states: tuple[str, ...]
    initial: str
    transitions: tuple[dict[str, Any], ...]
    #: event_type -> function of the payload giving the trigger it records ("" opens the stream)
    event_triggers: Mapping[str, Callable[[dict[str, Any]], str | None]]

    def index(self) -> dict[tuple[str, str], str]:
        """``(state, trigger) -> dest`` for fast replays (built from :attr:`transitions`)."""
        out: dict[tuple[str, str], str] = {}
        for t in self.transitions:
            sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
            for s in sources:
                out[(s, t["trigger"])] = t["dest"]
        return out

    def trigger_for(self, event_type: str, payload: dict[str, Any]) -> str | None:
        """The trigger an event records; ``""`` for the event that opens the stream, ``None``
        for an event of this producer that changes no state (or not of this producer)."""
        fn = self.event_triggers.get(event_type)
        return None if fn is None else fn(payload)


# --- registration: the unit-year as registered (đăng ký phấn đấu) ---------------------------
REGISTRATION = Lifecycle(
    producer="registration",
    states=("registered", "withdrawn"),
    initial="registered",
    transitions=({"trigger": "withdraw", "source": "registered", "dest": "withdrawn"},),
    event_triggers={
        "UnitYearRegistered": lambda p: "",
        "UnitYearWithdrawn": lambda p: "withdraw",
    },
)

# --- assessment: the self-assessment case (tự đánh giá) --------------------------------------
ASSESSMENT = Lifecycle(
    producer="assessment",
    states=("awaiting_self_assessment", "self_scored", "returned", "closed", "withdrawn"),
    initial="awaiting_self_assessment",
    transitions=(
        {"trigger": "submit", "source": ["awaiting_self_assessment", "returned"], "dest": "self_scored"},
        {"trigger": "reopen", "source": "self_scored", "dest": "returned"},
        {"trigger": "close", "source": ["self_scored", "returned"], "dest": "closed"},
        {"trigger": "withdraw", "source": ["awaiting_self_assessment", "self_scored", "returned"], "dest": "withdrawn"},
    ),
    event_triggers={
        "AssessmentOpened": lambda p: "",
        "SelfAssessmentRecorded": lambda p: "submit",
        "AssessmentReopened": lambda p: "reopen",
        "AssessmentClosed": lambda p: "withdraw" if p.get("outcome") == "withdrawn" else "close",
    },
)

# --- approval: the unit-year along its approval chain (thẩm định, công nhận) ----------------
_UNDER_REVIEW = ["self_scored", *(f"{lvl}_reviewed" for lvl in LEVELS)]
APPROVAL = Lifecycle(
    producer="approval",
    states=(
        "registered",
        "self_scored",
        *(f"{lvl}_reviewed" for lvl in LEVELS),
        "recognized",  # đạt chuẩn, được công nhận
        "not_recognized",  # không công nhận
        "returned",  # trả lại để bổ sung
        "withdrawn",
        "revoked",  # thu hồi
    ),
    initial="registered",
    transitions=(
        {"trigger": "self_score", "source": ["registered", "returned"], "dest": "self_scored"},
        *({"trigger": f"review_{lvl}", "source": list(_UNDER_REVIEW), "dest": f"{lvl}_reviewed"} for lvl in LEVELS),
        {"trigger": "recognize", "source": list(_UNDER_REVIEW), "dest": "recognized"},
        {"trigger": "refuse", "source": list(_UNDER_REVIEW), "dest": "not_recognized"},
        {"trigger": "return_for_supplement", "source": list(_UNDER_REVIEW), "dest": "returned"},
        {"trigger": "withdraw", "source": ["registered", "returned", *_UNDER_REVIEW], "dest": "withdrawn"},
        {"trigger": "revoke", "source": "recognized", "dest": "revoked"},
    ),
    event_triggers={
        "ApprovalCaseOpened": lambda p: "",
        "UnitYearSelfScored": lambda p: "self_score",
        "UnitYearReviewed": lambda p: f"review_{p.get('level')}",
        "UnitYearRecognized": lambda p: "recognize",
        "UnitYearNotRecognized": lambda p: "refuse",
        "UnitYearReturned": lambda p: "return_for_supplement",
        "ApprovalCaseWithdrawn": lambda p: "withdraw",
        "UnitYearRevoked": lambda p: "revoke",
        # claims (who works the dossier) are in the history but change no state
        "CaseClaimed": lambda p: None,
        "CaseReleased": lambda p: None,
        "CaseReassigned": lambda p: None,
    },
)

#: states of the approval lifecycle in which a review decision is awaited
UNDER_REVIEW = tuple(_UNDER_REVIEW)
#: final states of the approval lifecycle
FINAL = frozenset({"recognized", "not_recognized", "withdrawn", "revoked"})

LIFECYCLES: dict[str, Lifecycle] = {lc.producer: lc for lc in (REGISTRATION, ASSESSMENT, APPROVAL)}

# --- the exemplary track (điển hình): its own streams, ``exemplary:<unit_year_id>`` ---------
#: the prefix of an exemplary-track stream; the rest is the unit-year's id
EXEMPLARY_STREAM = "exemplary:"


def exemplary_stream(unit_year_id: str) -> str:
    """The stream of a unit-year's exemplary track, apart from its ANTT stream: each stream
    replays through one lifecycle table, and the two tracks move independently."""
    return f"{EXEMPLARY_STREAM}{unit_year_id}"


#: the exemplary case of the assessment service: proposed, self-assessed, returned, closed
ASSESSMENT_EXEMPLARY = Lifecycle(
    producer="assessment",
    states=("proposed", "self_assessed", "returned", "closed"),
    initial="proposed",
    transitions=(
        {"trigger": "submit", "source": ["proposed", "returned"], "dest": "self_assessed"},
        {"trigger": "reopen", "source": "self_assessed", "dest": "returned"},
        {"trigger": "close", "source": ["proposed", "self_assessed", "returned"], "dest": "closed"},
    ),
    event_triggers={
        "ExemplaryCaseOpened": lambda p: "",
        "ExemplarySelfAssessmentRecorded": lambda p: "submit",
        "ExemplaryCaseReopened": lambda p: "reopen",
        "ExemplaryCaseClosed": lambda p: "close",
        "ExemplaryEvaluationRevised": lambda p: None,
    },
)

_EX_UNDER_REVIEW = ["self_scored", *(f"{lvl}_reviewed" for lvl in LEVELS)]
#: the exemplary title along its chain in the approval service
APPROVAL_EXEMPLARY = Lifecycle(
    producer="approval",
    states=(
        "proposed",
        "self_scored",
        *(f"{lvl}_reviewed" for lvl in LEVELS),
        "recognized",  # công nhận điển hình
        "not_recognized",
        "returned",
        "revoked",
        "lapsed",  # the ANTT recognition it rested on was revoked before a decision
    ),
    initial="proposed",
    transitions=(
        {"trigger": "self_score", "source": ["proposed", "returned"], "dest": "self_scored"},
        *({"trigger": f"review_{lvl}", "source": list(_EX_UNDER_REVIEW), "dest": f"{lvl}_reviewed"} for lvl in LEVELS),
        {"trigger": "recognize", "source": list(_EX_UNDER_REVIEW), "dest": "recognized"},
        {"trigger": "refuse", "source": list(_EX_UNDER_REVIEW), "dest": "not_recognized"},
        {"trigger": "return_for_supplement", "source": list(_EX_UNDER_REVIEW), "dest": "returned"},
        {"trigger": "revoke", "source": "recognized", "dest": "revoked"},
        {"trigger": "lapse", "source": ["proposed", "returned", *_EX_UNDER_REVIEW], "dest": "lapsed"},
    ),
    event_triggers={
        "ExemplaryTitleCaseOpened": lambda p: "",
        "ExemplaryTitleSelfScored": lambda p: "self_score",
        "ExemplaryTitleReviewed": lambda p: f"review_{p.get('level')}",
        "ExemplaryTitleRecognized": lambda p: "recognize",
        "ExemplaryTitleNotRecognized": lambda p: "refuse",
        "ExemplaryTitleReturned": lambda p: "return_for_supplement",
        "ExemplaryTitleRevoked": lambda p: "revoke",
        "ExemplaryTitleLapsed": lambda p: "lapse",
        "ExemplaryTitleVerdictChanged": lambda p: None,
        # claims on the title's steps change no state, as on the ANTT chain
        "ExemplaryTitleClaimed": lambda p: None,
        "ExemplaryTitleReleased": lambda p: None,
        "ExemplaryTitleReassigned": lambda p: None,
    },
)
EXEMPLARY_UNDER_REVIEW = tuple(_EX_UNDER_REVIEW)
EXEMPLARY_FINAL = frozenset({"recognized", "not_recognized", "revoked", "lapsed"})

#: the lifecycles of the exemplary track, by producer
EXEMPLARY_LIFECYCLES: dict[str, Lifecycle] = {lc.producer: lc for lc in (ASSESSMENT_EXEMPLARY, APPROVAL_EXEMPLARY)}


def lifecycle_for(producer: str, stream_id: str) -> Lifecycle | None:
    """The table a stream of ``producer`` replays through: the exemplary track's for an
    ``exemplary:`` stream, the ANTT one otherwise (None: the producer keeps no lifecycle)."""
    if stream_id.startswith(EXEMPLARY_STREAM):
        return EXEMPLARY_LIFECYCLES.get(producer)
    return LIFECYCLES.get(producer)
