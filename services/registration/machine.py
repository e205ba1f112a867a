"""Lifecycle of a unit-year as the registration service sees it."""

from __future__ import annotations

from enum import StrEnum

from shared.infra.statemachine import build_machine


class RegistrationState(StrEnum):
    registered = "registered"
    withdrawn = "withdrawn"


MACHINE = build_machine(
    states=[s.value for s in RegistrationState],
    transitions=[
        {"trigger": "withdraw", "source": RegistrationState.registered.value, "dest": RegistrationState.withdrawn.value},
    ],
)
