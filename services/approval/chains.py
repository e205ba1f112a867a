"""Approval chains as configuration (``chains.json``): who reviews and who decides, at which
levels, with which deadline, per unit kind, managing level, province and year."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

CHAINS_FILE = Path(__file__).parent / "chains.json"


@dataclass(frozen=True)
class Chain:
    profile: str
    steps: tuple[dict[str, str], ...]
    deadline: date


class ChainConfig:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    @cache
    def load(cls, path: Path = CHAINS_FILE) -> ChainConfig:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def profile_for(self, province_code: str, year: int) -> str:
        sel = self.data["selection"]
        rules = sel["provinces"].get(province_code, sel["default"])
        chosen = None
        for rule in sorted(rules, key=lambda r: r["from_year"]):
            if year >= rule["from_year"]:
                chosen = rule["profile"]
        if chosen is None:
            raise LookupError(f"no approval profile for province {province_code} in {year}")
        return chosen

    def chain_for(self, unit: dict[str, Any], year: int) -> Chain:
        name = self.profile_for(unit["province_code"], year)
        profile = self.data["profiles"][name]
        by_level = profile["chains"].get(unit["kind"])
        if by_level is None:
            raise LookupError(f"profile {name} has no chain for unit kind {unit['kind']}")
        steps = by_level.get(unit["managing_level"]) or by_level.get("*")
        if not steps:
            raise LookupError(f"profile {name} has no chain for {unit['kind']} managed at {unit['managing_level']} level")
        dl = profile["deadlines"].get(unit["kind"]) or profile["deadlines"]["*"]
        month, day = (int(x) for x in dl.split("-"))
        return Chain(profile=name, steps=tuple(dict(s) for s in steps), deadline=date(year, month, day))
