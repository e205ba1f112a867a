"""On PostgreSQL the HTTP engine's short lock wait is the session's ``lock_timeout``; the
consumers' engine sets none (it waits as long as the lock is held)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from shared.infra.db import create_sync_engine

pytestmark = pytest.mark.integration


def test_http_engine_bounds_lock_waits(postgres) -> None:  # type: ignore[no-untyped-def]
    name = f"lt_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    http = create_sync_engine(postgres.dsn(name), busy_timeout_s=2.0)
    consumers = create_sync_engine(postgres.dsn(name))
    try:
        with http.connect() as conn:
            assert conn.execute(text("show lock_timeout")).scalar_one() == "2s"
        with consumers.connect() as conn:
            assert conn.execute(text("show lock_timeout")).scalar_one() == "0"
    finally:
        http.dispose()
        consumers.dispose()
