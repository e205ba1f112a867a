"""``fire``'s table (``shared.infra.statemachine._plain_table``) moves a state exactly as the
``transitions`` library does, and machines with callbacks keep the library's path."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from transitions import Machine, MachineError

from services.approval.domain import machine as approval_machine
from services.assessment.domain import machine as assessment_machine
from services.registration.domain import machine as registration_machine
from shared.infra.statemachine import IllegalTransition, _plain_table, build_machine, fire

MACHINES = [
    getattr(module, name)
    for module in (approval_machine, assessment_machine, registration_machine)
    for name in dir(module)
    if isinstance(getattr(module, name), Machine)
]


def _library(machine: Machine, state: str, trigger: str) -> str | None:
    obj = SimpleNamespace(state=state)
    try:
        ok = machine.events[trigger].trigger(obj)
    except MachineError:
        return None
    return obj.state if ok else None


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: ",".join(list(m.states)[:2]))
def test_the_table_agrees_with_the_library_for_every_state_and_trigger(machine: Machine) -> None:
    assert _plain_table(machine) is not None  # the services' machines run no callbacks
    for state in machine.states:
        for trigger in machine.events:
            expected = _library(machine, state, trigger)
            obj = SimpleNamespace(state=state)
            if expected is None:
                with pytest.raises(IllegalTransition):
                    fire(machine, obj, trigger)
                assert obj.state == state
            else:
                fire(machine, obj, trigger)
                assert obj.state == expected


def test_a_machine_with_a_callback_fires_through_the_library() -> None:
    seen: list[str] = []
    machine = build_machine(["a", "b"], [{"trigger": "go", "source": "a", "dest": "b", "after": lambda: seen.append("after")}])
    assert _plain_table(machine) is None
    obj = SimpleNamespace(state="a")
    fire(machine, obj, "go")
    assert obj.state == "b" and seen == ["after"]
    with pytest.raises(IllegalTransition):
        fire(machine, obj, "go")


def test_an_unknown_trigger_or_state_is_refused() -> None:
    machine = build_machine(["a", "b"], [{"trigger": "go", "source": "a", "dest": "b"}])
    with pytest.raises(IllegalTransition):
        fire(machine, SimpleNamespace(state="a"), "nope")
    with pytest.raises((IllegalTransition, ValueError)):
        fire(machine, SimpleNamespace(state="zz"), "go")
