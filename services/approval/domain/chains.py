"""Approval chains as configuration (``chains.json``): who appraises and who decides, at which
levels, with which deadline, per unit kind, managing level, province and year; delegation one
level down; the commune roll-up thresholds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

CHAINS_FILE = Path(__file__).parent.parent / "chains.json"
DELEGABLE = frozenset({"agency", "enterprise", "school"})


@dataclass(frozen=True)
class Chain:
    profile: str
    steps: tuple[dict[str, str], ...]
    deadline: date | None
    delegated_from: str | None = None


@dataclass(frozen=True)
class RollupRule:
    criterion: str
    registered_min: float
    recognized_min: float


class ChainConfig:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    @cache
    def load(cls, path: Path = CHAINS_FILE) -> ChainConfig:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @staticmethod
    def _by_year(rules: list[dict[str, Any]], year: int) -> list[dict[str, Any]]:
        return [r for r in sorted(rules, key=lambda r: r["from_year"]) if year >= r["from_year"]]

    def profile_for(self, province_code: str, year: int) -> str:
        sel = self.data["selection"]
        rules = self._by_year(sel["provinces"].get(province_code, sel["default"]), year)
        if not rules:
            raise LookupError(f"no approval profile for province {province_code} in {year}")
        return str(rules[-1]["profile"])

    def _delegation(self, unit: dict[str, Any], year: int, levels: list[str]) -> str | None:
        """The level a delegation moves the unit's chain to, if one applies."""
        if unit["kind"] not in DELEGABLE:
            return None
        rules = self.data.get("delegations", {}).get("provinces", {}).get(unit["province_code"], [])
        for rule in reversed(self._by_year(rules, year)):
            if rule["kind"] in (unit["kind"], "*") and rule["from_level"] == unit["managing_level"]:
                i = levels.index(unit["managing_level"]) if unit["managing_level"] in levels else -1
                if i <= 0:
                    raise LookupError(f"cannot delegate below {unit['managing_level']} level")
                return levels[i - 1]
        return None

    def chain_for(self, unit: dict[str, Any], year: int) -> Chain:
        name = self.profile_for(unit["province_code"], year)
        profile = self.data["profiles"][name]
        by_level = profile["chains"].get(unit["kind"])
        if by_level is None:
            raise LookupError(f"profile {name} has no chain for unit kind {unit['kind']}")
        delegated_to = self._delegation(unit, year, profile.get("levels", []))
        managing = unit["managing_level"]
        if delegated_to is not None:
            steps = profile["chains"][unit["kind"]].get(delegated_to)
        else:
            steps = by_level.get(managing) or by_level.get("*")
        if not steps:
            raise LookupError(f"profile {name} has no chain for {unit['kind']} managed at {managing} level")
        dl = profile["deadlines"].get(unit["kind"]) or profile["deadlines"]["*"]
        month, day = (int(x) for x in dl.split("-"))
        return Chain(
            profile=name,
            steps=tuple(dict(s) for s in steps),
            deadline=date(year, month, day),
            delegated_from=managing if delegated_to else None,
        )

    def deadline_for(self, kind: str, province_code: str, year: int) -> date:
        profile = self.data["profiles"][self.profile_for(province_code, year)]
        dl = profile["deadlines"].get(kind) or profile["deadlines"]["*"]
        month, day = (int(x) for x in dl.split("-"))
        return date(year, month, day)

    def rollup_rule(self) -> RollupRule:
        r = self.data["commune_rollup"]
        return RollupRule(
            criterion=r["criterion"], registered_min=float(r["registered_min"]), recognized_min=float(r["recognized_min"])
        )

    def exemplary_chain_for(self, unit: dict[str, Any], year: int) -> Chain:
        """The chain of a unit-year's exemplary title in its province and year."""
        cfg = self.data.get("exemplary") or {}
        province = unit["province_code"]
        rules = self._by_year(cfg.get("selection", {}).get("provinces", {}).get(province) or [], year) or self._by_year(
            cfg.get("selection", {}).get("default", []), year
        )
        if not rules:
            raise LookupError(f"no exemplary-title chain for province {province} in {year}")
        name = str(rules[-1]["profile"])
        profile = cfg["profiles"][name]
        dl = profile.get("deadline")
        deadline = None
        if dl:
            month, day = (int(x) for x in dl.split("-"))
            deadline = date(year, month, day)
        return Chain(profile=f"exemplary.{name}", steps=tuple(dict(s) for s in profile["steps"]), deadline=deadline)
