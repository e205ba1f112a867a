"""What an actor's ``jurisdiction`` allows it to decide (public contract).

A jurisdiction is ``*`` (everywhere), ``ministry``, ``province:<code>``, ``district:<code>``
or ``commune:<code>`` (``shared.contracts.envelope.Actor``). The approval service refuses a
decision the rule does not allow, and the auditors' tool checks every recorded decision
against the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LEVEL_ORDER = ("commune", "district", "province", "ministry")


def may_decide(jurisdiction: Iterable[str], level: str, unit: Mapping[str, Any]) -> bool:
    """Whether an actor or sender with ``jurisdiction`` may decide at ``level`` for ``unit``.

    ``*`` may decide anything; ``ministry`` decides at ministry level; ``province:P`` at the
    province level and below for units of province P (a provincial system relays its communes'
    decisions); ``district:D`` at district level and below in district D; ``commune:C`` only at
    commune level for units of commune C.
    """
    rank = LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)
    for j in jurisdiction:
        kind, _, code = j.partition(":")
        if j == "*":
            return True
        if kind == "ministry" and level == "ministry":
            return True
        if kind == "province" and code == unit.get("province_code") and rank <= LEVEL_ORDER.index("province"):
            return True
        if kind == "district" and code == unit.get("district_code") and rank <= LEVEL_ORDER.index("district"):
            return True
        if kind == "commune" and code == unit.get("commune_code") and level == "commune":
            return True
    return False
