"""One static ``transitions`` machine per aggregate class (no per-object machine).

The machine has no models; a trigger is fired on an object through the machine's event,
which reads and writes the object's ``state`` attribute. Callbacks do no I/O.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError


class IllegalTransition(Exception):
    def __init__(self, trigger: str, state: str) -> None:
        super().__init__(f"'{trigger}' is not allowed in state '{state}'")
        self.trigger = trigger
        self.state = state


def build_machine(states: list[str], transitions: list[dict[str, Any]]) -> Machine:
    return Machine(
        model=None,
        states=states,
        transitions=transitions,
        initial=None,
        auto_transitions=False,
        send_event=False,
    )


def fire(machine: Machine, obj: Any, trigger: str) -> None:
    """Fire ``trigger`` on ``obj``; raise :class:`IllegalTransition` if not allowed."""
    event = machine.events.get(trigger)
    if event is None:
        raise IllegalTransition(trigger, str(obj.state))
    try:
        ok = event.trigger(obj)
    except MachineError:
        raise IllegalTransition(trigger, str(obj.state)) from None
    if not ok:
        raise IllegalTransition(trigger, str(obj.state))


def allowed(machine: Machine, state: str) -> list[str]:
    return sorted(machine.get_triggers(state))
