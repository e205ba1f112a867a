"""HTTP helpers: bearer-token actors, errors as JSON with a reason, health, readiness, metrics.

Every error a client can see is JSON ``{"error_code", "reason"}``: refusals, conflicts,
validation, unknown routes and methods, and unexpected exceptions (``internal_error``, with no
traceback: that goes to the log). A database that is locked, busy or unreachable is a 503
with ``Retry-After``: the request changed nothing and can be sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contracts.envelope import Actor, new_event_id
from shared.infra.auth import BearerVerifier, bearer_verifier, looks_like_jwt
from shared.infra.errors import DomainError
from shared.infra.inbound import Command, describe_validation
from shared.infra.logging import get_logger
from shared.infra.outbox import ConcurrencyConflict
from shared.infra.settings import ApiToken

if TYPE_CHECKING:
    from shared.infra.observed import ObservedRuntime
    from shared.infra.runtime import ServiceRuntime

#: the FastAPI dependency that resolves a request's bearer token to its actor (``actor_dependency``)
ActorDependency = Callable[..., Awaitable[Actor]]

log = get_logger(__name__)

#: the ``error_code`` of an HTTP error raised by the framework or a dependency, by status
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_payload",
    429: "too_many_requests",
    503: "unavailable",
}

#: what a client should wait before retrying after a database 503 (seconds)
DB_RETRY_AFTER_S = 1

_BUSY_MARKERS = ("database is locked", "database is busy", "database table is locked", "lock timeout", "locknotavailable")

STATUS_BY_CODE = {
    "not_found": 404,
    "unknown_unit": 404,
    "unknown_unit_year": 404,
    # a decision or revocation of a title whose case is not open: there is no such title
    "no_exemplary_title": 404,
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
    "step_not_current": 409,
    "version_mismatch": 409,
    "precondition_failed": 412,
    "invalid_idempotency_key": 400,
    "idempotency_key_reused": 422,
    "bad_request": 400,
}

_bearer = HTTPBearer(auto_error=False)


class ErrorBody(BaseModel):
    """Every error answer of the HTTP API."""

    error_code: str = Field(description="Machine-readable reason (docs/contracts/README.md, section 6).")
    reason: str = Field(description="What is wrong, for a person to act on.")


_ERROR_TEXT = {
    400: "Bad request: a malformed header (the reason says which).",
    401: "No bearer token, or one the service does not know.",
    403: "The caller's jurisdiction does not cover the unit.",
    404: "No such resource.",
    409: "The request conflicts with the state (e.g. an illegal transition, a step that is no longer current, "
    "a concurrent change): nothing was written.",
    412: "If-Match names no version the resource is at: nothing was written.",
    422: "The body or a parameter is invalid (the reason names the fields), or an Idempotency-Key was reused "
    "for another request.",
    503: "The database is busy or unavailable: nothing was written; retry after Retry-After seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error answers (JSON ``ErrorBody``), so that a client's generated
    code and a schema checker know every status the API answers with."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _ERROR_TEXT[status]}
        if status == 503:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
        out[status] = entry
    return out


#: the error answers every route behind a bearer token may give
ROUTE_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 503)


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

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "error_code", None) or CODE_BY_STATUS.get(
            exc.status_code, "internal_error" if exc.status_code >= 500 else "bad_request"
        )
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        if exc.status_code == 404 and detail in (None, "Not Found"):
            detail = f"no such resource: {_req.method} {_req.url.path}"
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            allowed = _allowed_methods(_req, headers.get("Allow") or headers.get("allow"))
            headers.pop("allow", None)
            if detail in (None, "Method Not Allowed"):
                detail = f"{_req.method} is not allowed on {_req.url.path}" + (
                    f"; allowed: {', '.join(allowed)}" if allowed else ""
                )
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return JSONResponse(
            status_code=exc.status_code,
            content={"error_code": code, "reason": detail or str(exc.status_code)},
            headers=headers or None,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(req: Request, exc: Exception) -> JSONResponse:
        # nothing was committed: the transaction failed before or at its commit
        text = str(getattr(exc, "orig", None) or exc).lower()
        busy = any(m in text for m in _BUSY_MARKERS) or type(getattr(exc, "orig", None)).__name__ == "LockNotAvailable"
        log.warning("http.database_unavailable", path=req.url.path, busy=busy, error=f"{type(exc).__name__}: {exc}"[:500])
        if busy:
            code, reason = "database_busy", "the database is busy with other writes; nothing was written, retry shortly"
        else:
            code, reason = "database_unavailable", "the database is unavailable; nothing was written, retry shortly"
        return JSONResponse(
            status_code=503,
            content={"error_code": code, "reason": reason},
            headers={"Retry-After": str(DB_RETRY_AFTER_S)},
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(req: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_unavailable(req, exc)
        return await _internal(req, exc)

    @app.exception_handler(Exception)
    async def _internal(req: Request, exc: Exception) -> JSONResponse:
        # the traceback is for the operators' log, never for the client
        log.error(
            "http.internal_error", path=req.url.path, method=req.method, error=f"{type(exc).__name__}: {exc}"[:1000], exc_info=exc
        )
        return JSONResponse(
            status_code=500,
            content={"error_code": "internal_error", "reason": "an unexpected error occurred; it has been logged"},
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(req: Request, exc: Exception) -> JSONResponse:
        # e.g. ?offset=9223372036854775808: a number the database cannot store (SQLite raises
        # OverflowError, PostgreSQL a DataError); nothing was read or written
        log.info("http.value_out_of_range", path=req.url.path, error=f"{type(exc).__name__}: {exc}"[:300])
        return JSONResponse(
            status_code=422,
            content={
                "error_code": "invalid_payload",
                "reason": "a value of the request is out of the range the service can store or compare (e.g. a number over 2^63 - 1)",
            },
        )

    @app.exception_handler(ValidationError)
    async def _invalid_model(_req: Request, exc: ValidationError) -> JSONResponse:
        # a value the route's own parameters let through but the contract refuses (e.g. a
        # unit-year id in the path that is not <unit_code>:<year>): the caller's error, not ours
        return JSONResponse(status_code=422, content={"error_code": "invalid_payload", "reason": describe_validation(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:10]:
            loc = ".".join(str(p) for p in err["loc"])
            parts.append(f"{loc}: {err['msg']}")
        return JSONResponse(status_code=422, content={"error_code": "invalid_payload", "reason": "; ".join(parts)})


def _allowed_methods(req: Request, already: str | None) -> list[str]:
    """Every method the API serves at the request's path, for the ``Allow`` header of a 405.

    Starlette names only the methods of the route it matched, but a path may have several
    (``GET /unit-years`` and ``POST /unit-years``): the OpenAPI document knows them all."""
    from starlette.routing import compile_path

    cache = getattr(req.app.state, "allowed_methods", None)
    if cache is None:
        cache = [
            (compile_path(path)[0], {m.upper() for m in item if m.lower() in _HTTP_METHODS})
            for path, item in req.app.openapi().get("paths", {}).items()
        ]
        req.app.state.allowed_methods = cache
    methods = {m.strip().upper() for m in (already or "").split(",") if m.strip()}
    for regex, found in cache:
        if regex.match(req.url.path):
            methods |= found
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def actor_dependency(tokens: dict[str, ApiToken], verifier: BearerVerifier | None = None) -> ActorDependency:
    """A FastAPI dependency resolving the bearer token to the acting official or system.

    A development token of ``api_tokens.json`` is looked up first (its actor as configured);
    any other token that has the shape of a JWT is verified against the configured identity
    provider (``shared.infra.auth.BearerVerifier``) and its official becomes the actor (also
    left in ``request.state.official``). Without a provider only the development tokens exist.
    """

    async def _actor(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Actor:
        if creds is None:
            raise HTTPException(status_code=401, detail="missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        tok = tokens.get(creds.credentials)
        if tok is not None:
            return Actor(id=tok.id, role=tok.role, jurisdiction=tok.jurisdiction)
        if verifier is not None and looks_like_jwt(creds.credentials):
            official = await verifier.verify(creds.credentials)
            request.state.official = official
            return official.actor()
        raise HTTPException(status_code=401, detail="unknown bearer token", headers={"WWW-Authenticate": "Bearer"})

    return _actor


__all__ = ["actor_dependency", "describe_validation", "install_error_handlers"]


def http_command(event_type: str, payload: object, actor: Actor) -> Command:
    """A command from an authenticated HTTP caller (same path as the inbound topic).

    Its id, which the events it causes carry as ``causation_id``, is ``http:<uuid>``: an
    auditor replaying the topics then knows the cause is an HTTP request of the actor named in
    the envelope, not a missing inbound message.
    """
    mid = f"http:{new_event_id()}"
    return Command(
        event_type=event_type,
        message_id=mid,
        payload=payload,
        actor=actor,
        source=f"http:{actor.id}",
        correlation_id=mid,
        jurisdiction=[actor.jurisdiction],
    )


def health_router(runtime: ObservedRuntime) -> APIRouter:
    """``/health`` (process up), ``/ready`` (doing its work: see ``shared.infra.readiness``),
    ``/metrics`` (Prometheus) and ``/audit/checkpoint`` (the latest signed checkpoint this
    service published).

    ``/ready`` is 200 ``{"status": "ready", ...}`` or 503 ``{"status": "not_ready", "reasons":
    [...], "problems": {reason: explanation}, ...}`` with the same details either way, so an
    operator reading a 503 sees the state that caused it.

    The checkpoint needs no bearer token: it is signed, public data, and an auditor comparing
    it with the topic must not depend on an account the operators grant.
    """
    from sqlalchemy import text

    from shared.infra.metrics import CONTENT_TYPE_LATEST, ServiceMetrics
    from shared.infra.readiness import BrokerProbe, assess
    from shared.infra.relay import latest_checkpoint

    router = APIRouter(tags=["health"])
    settings = runtime.settings
    probe = BrokerProbe(
        settings.kafka_bootstrap, timeout_s=settings.ready_broker_timeout_s, cache_s=settings.ready_broker_cache_s
    )
    metrics = getattr(runtime, "metrics", None) or ServiceMetrics(runtime, settings.service_name)

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        response_model=None,
        responses={
            200: {"description": "The instance does its work.", "content": {"application/json": {"schema": {"type": "object"}}}},
            503: {
                "description": "The instance is not ready: `reasons` and `problems` say why (broker unreachable, relay "
                "failing, outbox stale, consumer stuck, database unavailable).",
                "content": {"application/json": {"schema": {"type": "object", "required": ["status", "reasons"]}}},
            },
        },
    )
    async def ready() -> JSONResponse:
        rt = runtime
        try:
            async with rt.sessions() as s:
                await s.execute(text("select 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return JSONResponse(
                status_code=503,
                content={
                    "status": "not_ready",
                    "reasons": ["database_unavailable"],
                    "problems": {"database_unavailable": f"{type(exc).__name__}: {exc}"[:500]},
                },
            )
        try:
            verdict = await assess(rt, probe)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a reason, not a crash
            return JSONResponse(
                status_code=503,
                content={
                    "status": "not_ready",
                    "reasons": ["check_failed"],
                    "problems": {"check_failed": f"{type(exc).__name__}: {exc}"[:500]},
                },
            )
        try:
            latest = await latest_checkpoint(rt.sessions, rt.infra, rt.settings.service_name)
        except Exception:  # noqa: BLE001 - a detail of the answer, not a readiness condition
            latest = None
        relay = rt.relay
        body = {
            "status": "not_ready" if verdict.reasons else "ready",
            "reasons": verdict.reasons,
            "problems": verdict.problems,
            "relay_leader": relay.is_leader,
            "outbox_pending": verdict.details.pop("outbox_pending"),
            "published": relay.published,
            "last_checkpoint_sequence": None if latest is None else latest["sequence"],
            "relay_alarms": list(relay.alarms),
            "relay_parked": _jsonable(getattr(relay, "parked", None)),
            "consumers": {t: p.stats for t, p in rt.processors.items()},
            **verdict.details,
        }
        return JSONResponse(status_code=503 if verdict.reasons else 200, content=body)

    @router.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            }
        },
    )
    async def prometheus_metrics() -> Response:
        return Response(content=await metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/audit/checkpoint",
        tags=["audit"],
        response_model=None,
        responses={
            200: {
                "description": "The latest signed checkpoint (docs/contracts/checkpoint.schema.json).",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **error_responses(404),
        },
    )
    async def checkpoint() -> JSONResponse:
        rt = runtime
        producer = rt.settings.service_name
        body = await latest_checkpoint(rt.sessions, rt.infra, producer)
        if body is None:
            return JSONResponse(
                status_code=404,
                content={"error_code": "not_found", "reason": f"{producer} has not published a checkpoint yet"},
            )
        return JSONResponse(content=body)

    return router


def _jsonable(value: object) -> object:
    """A relay attribute as JSON: a count or list as it is, anything else by its size."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    build_router: Callable[[ServiceRuntime, ActorDependency], APIRouter],
) -> FastAPI:
    """The FastAPI application of a service: lifespan of its runtime, JSON errors with a
    reason, ``/health``, ``/ready`` and ``/audit/checkpoint``, and the service's own routes
    behind bearer tokens (development tokens, and the identity provider's JWTs when one is
    configured)."""
    settings = runtime.settings
    app = FastAPI(title=title, description=description, version="1", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health_router(runtime))
    app.include_router(
        build_router(runtime, actor_dependency(settings.load_api_tokens(), bearer_verifier(settings))), responses=ROUTE_ERRORS
    )
    return app
