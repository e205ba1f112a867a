"""Read scoping on PostgreSQL: the registration list's join on the unit register and the
approval queue's and flags' conditions (the district through a JSON path of the case's unit)
are the same SQL on the production database as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.approval import api as approval_api
from services.approval import app as approval_app
from services.approval.settings import ApprovalSettings
from services.registration import api as registration_api
from services.registration import app as registration_app
from services.registration.settings import RegistrationSettings
from tests.unit.auth_provider import TestProvider
from tests.unit.test_read_scoping import (
    TOKENS,
    assert_approval_scoped,
    assert_registration_scoped,
    populate_approval,
    populate_registration,
    service,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    p = TestProvider().start()
    try:
        yield p
    finally:
        p.stop()


async def test_reads_are_scoped_on_postgresql(postgres: Any, tmp_path: Path, provider: TestProvider) -> None:
    suffix = uuid.uuid4().hex[:8]
    reg_db, app_db = f"rs_reg_{suffix}", f"rs_app_{suffix}"
    postgres.create_database(reg_db)
    postgres.create_database(app_db)
    (tmp_path / "reg").mkdir()
    (tmp_path / "app").mkdir()
    async with service(
        tmp_path / "reg",
        registration_app.create_runtime,
        RegistrationSettings,
        registration_api.build_router,
        provider,
        postgres.dsn(reg_db),
    ) as (svc, c):
        await populate_registration(svc, c)
        for token in sorted(TOKENS):
            await assert_registration_scoped(c, token)
    async with service(
        tmp_path / "app", approval_app.create_runtime, ApprovalSettings, approval_api.build_router, provider, postgres.dsn(app_db)
    ) as (svc, c):
        await populate_approval(svc, c)
        for token in sorted(TOKENS):
            await assert_approval_scoped(c, token)
