"""Lifecycle of a unit-year as the registration service sees it. The transition table is the
public contract ``shared.contracts.lifecycle.REGISTRATION``, which auditors replay too."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.lifecycle import REGISTRATION
from shared.infra.statemachine import build_machine


class RegistrationState(StrEnum):
    registered = "registered"
    withdrawn = "withdrawn"


MACHINE = build_machine(states=[s.value for s in RegistrationState], transitions=list(REGISTRATION.transitions))
