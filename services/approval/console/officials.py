"""The configured officials (``deploy/config/officials.json``): the development sign-in lists
them, and a supervisor reassigns a unit-year to one of them."""

from __future__ import annotations

import json
from pathlib import Path

from services.approval.console.session import Official


def load_officials(path: Path) -> dict[str, Official]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("officials", []) if isinstance(data, dict) else data
    out: dict[str, Official] = {}
    for item in items:
        o = Official.from_dict(item)
        out[o.id] = o
    return out
