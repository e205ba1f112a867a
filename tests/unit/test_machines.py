"""The three static state machines: their triggers, and every (state, trigger) pair."""

from __future__ import annotations

from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Enum, Table
from transitions import Machine

from services.approval import orm as approval_orm
from services.approval.domain import machine as approval_machine
from services.assessment import orm as assessment_orm
from services.assessment.domain import machine as assessment_machine
from services.registration import orm as registration_orm
from services.registration.domain import machine as registration_machine
from shared.infra.statemachine import IllegalTransition, allowed, fire

UNDER_REVIEW = ("self_scored", "commune_reviewed", "district_reviewed", "province_reviewed", "ministry_reviewed")

# trigger -> {source state: destination}; anything not listed is illegal
EXPECTED: dict[str, dict[str, dict[str, str]]] = {
    "registration": {
        "withdraw": {"registered": "withdrawn"},
    },
    "assessment": {
        "submit": {"awaiting_self_assessment": "self_scored", "returned": "self_scored"},
        "reopen": {"self_scored": "returned"},
        "close": {"self_scored": "closed", "returned": "closed"},
        "withdraw": {"awaiting_self_assessment": "withdrawn", "self_scored": "withdrawn", "returned": "withdrawn"},
    },
    "approval": {
        "self_score": {"registered": "self_scored", "returned": "self_scored"},
        **{
            f"review_{lvl}": {s: f"{lvl}_reviewed" for s in UNDER_REVIEW}
            for lvl in ("commune", "district", "province", "ministry")
        },
        "recognize": {s: "recognized" for s in UNDER_REVIEW},
        "refuse": {s: "not_recognized" for s in UNDER_REVIEW},
        "return_for_supplement": {s: "returned" for s in UNDER_REVIEW},
        "withdraw": {s: "withdrawn" for s in ("registered", "returned", *UNDER_REVIEW)},
        "revoke": {"recognized": "revoked"},
    },
}

MACHINES: dict[str, tuple[Machine, type[StrEnum], Table]] = {
    "registration": (registration_machine.MACHINE, registration_machine.RegistrationState, registration_orm.unit_years),
    "assessment": (assessment_machine.MACHINE, assessment_machine.AssessmentState, assessment_orm.cases),
    "approval": (approval_machine.MACHINE, approval_machine.ApprovalState, approval_orm.cases),
}

FINAL = {
    "registration": {"withdrawn"},
    "assessment": {"closed", "withdrawn"},
    "approval": {"not_recognized", "withdrawn", "revoked"},  # recognized can still be revoked
}


@pytest.mark.parametrize("name", MACHINES)
def test_no_auto_transitions(name: str) -> None:
    m, states, _ = MACHINES[name]
    assert m.auto_transitions is False
    assert not [t for t in m.events if t.startswith("to_")]
    obj = SimpleNamespace(state=next(iter(states)).value)
    for s in states:
        with pytest.raises(IllegalTransition):
            fire(m, obj, f"to_{s.value}")


@pytest.mark.parametrize("name", MACHINES)
def test_one_static_machine_without_models(name: str) -> None:
    m, _, _ = MACHINES[name]
    assert m.models == []


@pytest.mark.parametrize("name", MACHINES)
def test_triggers_and_states_are_exactly_the_expected_ones(name: str) -> None:
    m, states, _ = MACHINES[name]
    assert set(m.events) == set(EXPECTED[name])
    assert set(m.states) == {s.value for s in states}


@pytest.mark.parametrize("name", MACHINES)
def test_terminal_states_have_no_way_out(name: str) -> None:
    m, states, _ = MACHINES[name]
    for s in states:
        assert (allowed(m, s.value) == []) is (s.value in FINAL[name]), s.value


def _cases() -> list[Any]:
    out = []
    for name, (_, states, _) in MACHINES.items():
        for state in states:
            for trigger, moves in EXPECTED[name].items():
                out.append(pytest.param(name, state.value, trigger, moves.get(state.value), id=f"{name}:{state.value}:{trigger}"))
    return out


@pytest.mark.parametrize("name,state,trigger,dest", _cases())
def test_transition_table(name: str, state: str, trigger: str, dest: str | None) -> None:
    m, states, _ = MACHINES[name]
    obj = SimpleNamespace(state=states(state))  # as loaded from the database (an enum member)
    other = SimpleNamespace(state=state)
    if dest is None:
        with pytest.raises(IllegalTransition) as exc:
            fire(m, obj, trigger)
        assert (exc.value.trigger, exc.value.state) == (trigger, state)
        assert obj.state == state
        assert trigger not in allowed(m, state)
    else:
        fire(m, obj, trigger)
        assert obj.state == dest
        assert trigger in allowed(m, state)
    assert other.state == state  # the machine keeps no per-object state


@pytest.mark.parametrize("name", MACHINES)
def test_stored_state_column_covers_every_machine_state(name: str) -> None:
    m, states, table = MACHINES[name]
    col_type = table.c.state.type
    assert isinstance(col_type, Enum)
    assert col_type.native_enum is False
    assert set(col_type.enums) == set(m.states) == {s.value for s in states}
    assert max(len(s) for s in m.states) <= col_type.length


def test_service_states_are_the_published_lifecycles() -> None:
    """The services' state enums and the lifecycle contract that auditors replay agree."""
    from shared.contracts import lifecycle

    assert [s.value for s in registration_machine.RegistrationState] == list(lifecycle.REGISTRATION.states)
    assert [s.value for s in assessment_machine.AssessmentState] == list(lifecycle.ASSESSMENT.states)
    assert [s.value for s in approval_machine.ApprovalState] == list(lifecycle.APPROVAL.states)
