"""What an actor's ``jurisdiction`` allows it to decide and to read (public contract).

A jurisdiction is ``*`` (everywhere), ``ministry``, ``province:<code>``, ``district:<code>``
or ``commune:<code>`` (``shared.contracts.envelope.Actor``). The approval service refuses a
decision the rule does not allow, and the auditors' tool checks every recorded decision
against the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

LEVEL_ORDER = ("commune", "district", "province", "ministry")

#: the grammar of a jurisdiction string; a code is what a unit's ``*_code`` fields hold
JURISDICTION = re.compile(r"^(\*|ministry|(province|district|commune):[A-Za-z0-9][A-Za-z0-9._-]{0,15})$")


def is_jurisdiction(value: str) -> bool:
    """Whether ``value`` is a jurisdiction string this contract knows."""
    return bool(JURISDICTION.match(value))


def level_of(jurisdiction: str) -> str:
    """The level an official of ``jurisdiction`` works at (``*`` counts as the ministry)."""
    kind = jurisdiction.partition(":")[0]
    return kind if kind in ("commune", "district", "province") else "ministry"


def may_read(jurisdiction: str | Iterable[str], unit: Mapping[str, Any]) -> bool:
    """Whether an actor with ``jurisdiction`` may read ``unit``'s records (its unit-years,
    approval case, flags, history and read models).

    Reading follows the same territory as deciding but ignores the level: whoever may decide
    anything for a unit, or follows the area it lies in, may see it. ``*`` and ``ministry``
    read every unit (the ministry follows the whole country); ``province:P`` the units whose
    ``province_code`` is P; ``district:D`` those whose ``district_code`` is D; ``commune:C``
    those whose ``commune_code`` is C (which includes the commune itself, whose own
    ``commune_code`` is its code). An unknown jurisdiction reads nothing.

    The services apply the same rule in SQL for lists (``sql_read_scope`` in each queries
    module), so paging counts only what the caller may see; this function is the definition
    the auditors and the single-record reads use.
    """
    if isinstance(jurisdiction, str):
        jurisdiction = (jurisdiction,)
    for j in jurisdiction:
        if j in ("*", "ministry"):
            return True
        kind, _, code = j.partition(":")
        if not code:
            continue
        if kind == "province" and code == unit.get("province_code"):
            return True
        if kind == "district" and code == unit.get("district_code"):
            return True
        if kind == "commune" and code == unit.get("commune_code"):
            return True
    return False


def read_scope(jurisdiction: str) -> tuple[str, str] | None:
    """``may_read`` as a filter for a query: ``None`` when everything is visible, otherwise
    the unit field (``province_code``, ``district_code``, ``commune_code``) and the value it
    must equal. An unknown jurisdiction yields a filter nothing matches (an empty code)."""
    if jurisdiction in ("*", "ministry"):
        return None
    kind, _, code = jurisdiction.partition(":")
    if kind in ("province", "district", "commune") and code:
        return f"{kind}_code", code
    return "province_code", ""


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
