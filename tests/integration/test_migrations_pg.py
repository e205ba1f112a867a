"""Each service's Alembic history builds exactly the schema its ORM maps (PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures_infra import PostgresServer
from tests.unit.migration_checks import SERVICES, check_round_trip

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_matches_the_orm_and_downgrade_round_trips(service: str, postgres: PostgresServer) -> None:
    migrations, metadata = SERVICES[service]
    db = f"antt_migrations_{service}_{uuid.uuid4().hex[:8]}"
    postgres.create_database(db)
    check_round_trip(migrations, metadata, postgres.dsn(db), postgres.dsn(db, driver="psycopg"))
