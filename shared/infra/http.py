"""HTTP helpers: bearer-token actors, errors as JSON with a reason, health."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from shared.contracts.envelope import Actor
from shared.infra.errors import DomainError
from shared.infra.outbox import ConcurrencyConflict
from shared.infra.inbound import describe_validation
from shared.infra.settings import ApiToken

STATUS_BY_CODE = {
    "not_found": 404,
    "unknown_unit": 404,
    "unknown_unit_year": 404,
    "out_of_jurisdiction": 403,
    "forbidden": 403,
    "illegal_transition": 409,
    "conflict": 409,
    "duplicate_event_id": 409,
    "already_registered": 409,
    "invalid_payload": 422,
    "invalid_message": 422,
    "ineligible": 422,
    "wrong_level": 409,
    "criteria_not_met": 409,
}

_bearer = HTTPBearer(auto_error=False)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _rejected(_req: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS_BY_CODE.get(exc.code, 400),
            content={"error_code": exc.code, "reason": exc.reason},
        )

    @app.exception_handler(StaleDataError)
    @app.exception_handler(ConcurrencyConflict)
    @app.exception_handler(IntegrityError)
    async def _conflict(_req: Request, exc: Exception) -> JSONResponse:
        # another decision or message changed the same unit-year first: nothing was written
        return JSONResponse(
            status_code=409,
            content={
                "error_code": "conflict",
                "reason": "the unit-year was changed concurrently by another request; nothing was written, "
                "read it again and retry",
            },
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:10]:
            loc = ".".join(str(p) for p in err["loc"])
            parts.append(f"{loc}: {err['msg']}")
        return JSONResponse(status_code=422, content={"error_code": "invalid_payload", "reason": "; ".join(parts)})


def actor_dependency(tokens: dict[str, ApiToken]):  # type: ignore[no-untyped-def]
    """A FastAPI dependency resolving the bearer token to the acting official or system."""

    async def _actor(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        if creds is None:
            raise HTTPException(status_code=401, detail="missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        tok = tokens.get(creds.credentials)
        if tok is None:
            raise HTTPException(status_code=401, detail="unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
        return Actor(id=tok.id, role=tok.role, jurisdiction=tok.jurisdiction)

    return _actor


__all__ = ["actor_dependency", "describe_validation", "install_error_handlers"]


def http_command(event_type: str, payload: object, actor: Actor) -> "Command":
    """A command from an authenticated HTTP caller (same path as the inbound topic).

    Its id, which the events it causes carry as ``causation_id``, is ``http:<uuid>``: an
    auditor replaying the topics then knows the cause is an HTTP request of the actor named in
    the envelope, not a missing inbound message.
    """
    import uuid

    from shared.infra.inbound import Command

    mid = f"http:{uuid.uuid4()}"
    return Command(
        event_type=event_type,
        message_id=mid,
        payload=payload,
        actor=actor,
        source=f"http:{actor.id}",
        correlation_id=mid,
        jurisdiction=[actor.jurisdiction],
    )


def health_router(runtime: object):  # type: ignore[no-untyped-def]
    """``/health`` (process up), ``/ready`` (database reachable, relay state) and
    ``/audit/checkpoint`` (the latest signed checkpoint this service published).

    The checkpoint needs no bearer token: it is signed, public data, and an auditor comparing
    it with the topic must not depend on an account the operators grant.
    """
    from fastapi import APIRouter
    from sqlalchemy import text

    from shared.infra.relay import latest_checkpoint

    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        rt = runtime
        try:
            async with rt.sessions() as s:  # type: ignore[attr-defined]
                await s.execute(text("select 1"))
                pending = (await s.execute(text("select count(*) from outbox"))).scalar_one()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return JSONResponse(status_code=503, content={"status": "db_unavailable", "error": str(exc)})
        try:
            latest = await latest_checkpoint(rt.sessions, rt.infra, rt.settings.service_name)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a detail of the answer, not a readiness condition
            latest = None
        return JSONResponse(
            content={
                "status": "ready",
                "relay_leader": rt.relay.is_leader,  # type: ignore[attr-defined]
                "outbox_pending": pending,
                "published": rt.relay.published,  # type: ignore[attr-defined]
                "last_checkpoint_sequence": None if latest is None else latest["sequence"],
                "relay_alarms": list(rt.relay.alarms),  # type: ignore[attr-defined]
                "consumers": {t: p.stats for t, p in rt.processors.items()},  # type: ignore[attr-defined]
            }
        )

    @router.get("/audit/checkpoint", tags=["audit"])
    async def checkpoint() -> JSONResponse:
        rt = runtime
        producer = rt.settings.service_name  # type: ignore[attr-defined]
        body = await latest_checkpoint(rt.sessions, rt.infra, producer)  # type: ignore[attr-defined]
        if body is None:
            return JSONResponse(
                status_code=404,
                content={"error_code": "not_found", "reason": f"{producer} has not published a checkpoint yet"},
            )
        return JSONResponse(content=body)

    return router


def service_app(
    runtime: object,
    *,
    title: str,
    description: str,
    build_router: Callable[[object, object], APIRouter],
) -> FastAPI:
    """The FastAPI application of a service: lifespan of its runtime, JSON errors with a
    reason, ``/health``, ``/ready`` and ``/audit/checkpoint``, and the service's own routes
    behind bearer tokens."""
    settings = runtime.settings  # type: ignore[attr-defined]
    app = FastAPI(title=title, description=description, version="1", lifespan=runtime.lifespan)  # type: ignore[attr-defined]
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health_router(runtime))
    app.include_router(build_router(runtime, actor_dependency(settings.load_api_tokens())))
    return app
