"""Checks shared by the SQLite and PostgreSQL migration tests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect

from services.approval import app as approval_app
from services.approval import orm as approval_orm
from services.assessment import app as assessment_app
from services.assessment import orm as assessment_orm
from services.registration import app as registration_app
from services.registration import orm as registration_orm
from shared.infra.migrate import alembic_config

#: service -> (migrations folder, the metadata the code maps)
SERVICES: dict[str, tuple[Path, MetaData]] = {
    "registration": (registration_app.MIGRATIONS, registration_orm.metadata),
    "assessment": (assessment_app.MIGRATIONS, assessment_orm.metadata),
    "approval": (approval_app.MIGRATIONS, approval_orm.metadata),
}

T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in a worker thread: the migration env runs its own event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def upgrade(migrations: Path, async_url: str, revision: str = "head") -> None:
    off_loop(command.upgrade, alembic_config(migrations, async_url), revision)


def downgrade(migrations: Path, async_url: str, revision: str = "base") -> None:
    off_loop(command.downgrade, alembic_config(migrations, async_url), revision)


def heads(migrations: Path) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(migrations, "sqlite://")).get_heads())


def schema_diff(sync_url: str, metadata: MetaData) -> list[Any]:
    """What autogenerate would still emit for ``metadata`` against the migrated database."""
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True, "render_as_batch": conn.dialect.name == "sqlite"},
            )
            return list(compare_metadata(ctx, metadata))
    finally:
        engine.dispose()


def tables(sync_url: str) -> set[str]:
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def current_revision(sync_url: str) -> str | None:
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_round_trip(migrations: Path, metadata: MetaData, async_url: str, sync_url: str) -> None:
    """upgrade head == the ORM schema; downgrade base leaves nothing; upgrade again == same."""
    [head] = heads(migrations)
    expected_tables = set(metadata.tables)

    upgrade(migrations, async_url)
    assert current_revision(sync_url) == head
    assert tables(sync_url) == expected_tables | {"alembic_version"}
    assert schema_diff(sync_url, metadata) == []

    downgrade(migrations, async_url)
    assert current_revision(sync_url) is None
    assert tables(sync_url) - {"alembic_version"} == set()

    upgrade(migrations, async_url)
    assert current_revision(sync_url) == head
    assert schema_diff(sync_url, metadata) == []

    # upgrading an up-to-date database is a no-op
    upgrade(migrations, async_url)
    assert schema_diff(sync_url, metadata) == []
