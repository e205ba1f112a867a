"""The HTTP layer turns refusals and concurrent changes into 4xx answers with a reason."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.orm.exc import StaleDataError

from shared.infra.errors import DomainError
from shared.infra.http import install_error_handlers
from shared.infra.outbox import ConcurrencyConflict


def app() -> FastAPI:
    a = FastAPI()
    install_error_handlers(a)

    @a.get("/refused")
    async def refused() -> None:
        raise DomainError("wrong_level", "unit-year X awaits a decision at commune level")

    @a.get("/no-title")
    async def no_title() -> None:
        raise DomainError("no_exemplary_title", "unit-year X has not been proposed for the exemplary title")

    @a.get("/stale")
    async def stale() -> None:
        raise StaleDataError("UPDATE statement on table 'approval_cases' expected to update 1 row(s); 0 were matched.")

    @a.get("/stream")
    async def stream() -> None:
        raise ConcurrencyConflict("stream X:2025 moved on concurrently")

    return a


async def test_refusals_and_conflicts_are_4xx_with_a_reason() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/refused")
        assert r.status_code == 409 and r.json() == {
            "error_code": "wrong_level",
            "reason": "unit-year X awaits a decision at commune level",
        }
        r = await client.get("/no-title")  # a title whose case is not open does not exist
        assert r.status_code == 404 and r.json()["error_code"] == "no_exemplary_title"
        for path in ("/stale", "/stream"):
            r = await client.get(path)
            assert r.status_code == 409 and r.json()["error_code"] == "conflict"
            assert "retry" in r.json()["reason"]
