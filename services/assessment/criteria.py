"""The criteria catalogs (data files under ``criteria/``, one per unit kind and version)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "criteria"


@dataclass(frozen=True)
class Criterion:
    code: str
    type: str  # gate | event | threshold | judgement
    title_vi: str


@dataclass(frozen=True)
class Catalog:
    kind: str
    version: str
    legal_basis: str
    criteria: tuple[Criterion, ...]

    @property
    def ref(self) -> str:
        return f"{self.kind}.{self.version}"

    def codes(self) -> list[str]:
        return [c.code for c in self.criteria]


@cache
def load_catalog(kind: str, version: str = "2021") -> Catalog:
    data = json.loads((CATALOG_DIR / f"{kind}.{version}.json").read_text(encoding="utf-8"))
    return Catalog(
        kind=data["kind"],
        version=data["version"],
        legal_basis=data["legal_basis"],
        criteria=tuple(Criterion(**c) for c in data["criteria"]),
    )
