"""Each service's Alembic history builds exactly the schema its ORM maps (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, String

from tests.unit.migration_checks import SERVICES, check_round_trip, heads, schema_diff, upgrade


@pytest.mark.parametrize("service", SERVICES)
def test_one_linear_history(service: str) -> None:
    migrations, _ = SERVICES[service]
    assert len(heads(migrations)) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_matches_the_orm_and_downgrade_round_trips(service: str, tmp_path: Path) -> None:
    migrations, metadata = SERVICES[service]
    db = tmp_path / f"{service}.db"
    check_round_trip(migrations, metadata, f"sqlite+aiosqlite:///{db}", f"sqlite:///{db}")


def test_the_comparison_does_see_a_difference(tmp_path: Path) -> None:
    """Guard against a comparison that always says 'equal': drop a table, narrow a column."""
    migrations, metadata = SERVICES["registration"]
    db = tmp_path / "r.db"
    upgrade(migrations, f"sqlite+aiosqlite:///{db}")
    partial = MetaData()
    for name, table in metadata.tables.items():
        if name != "units":
            table.to_metadata(partial)
    partial.tables["unit_years"].c.withdrawal_reason.type = String(50)
    diff = schema_diff(f"sqlite:///{db}", partial)
    removed = {d[1].name for d in diff if isinstance(d, tuple) and d[0] in ("remove_table", "remove_index")}
    assert removed == {"units", "ix_units_province_code", "ix_units_commune_code"}
    modified = [(op[0], op[2], op[3]) for d in diff if isinstance(d, list) for op in d]
    assert modified == [("modify_type", "unit_years", "withdrawal_reason")]
