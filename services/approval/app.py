"""Composition root of the approval service: ``create_app()``; nothing connects at import."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.approval import commands, policies, queries
from services.approval.api import build_router
from services.approval.console import mount_console
from services.approval.domain.model import ClaimConflictError
from services.approval.orm import infra
from services.approval.settings import ApprovalSettings
from shared.contracts import topics
from shared.infra.adapters import EventHandler, InboundHandler
from shared.infra.http import service_app
from shared.infra.inbound import InboundGate
from shared.infra.logging import configure_logging
from shared.infra.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: ApprovalSettings | None = None) -> ServiceRuntime:
    settings = settings or ApprovalSettings()
    rt = ServiceRuntime(settings, infra, MIGRATIONS)
    rt.consume(
        topics.INBOUND,
        InboundHandler(
            InboundGate(settings.service_name, settings.load_senders()), commands.COMMANDS, prefetch=queries.prefetch_commands
        ),
        description="Review and recognition decisions (thẩm định, công nhận) from other systems.",
    )
    rt.consume(
        topics.ASSESSMENT_EVENTS,
        EventHandler(policies.ASSESSMENT_EVENTS, prefetch=queries.prefetch),
        description="Opens the approval case and puts self-scored unit-years in the review queue.",
    )
    rt.consume(
        topics.REGISTRATION_EVENTS,
        EventHandler(policies.REGISTRATION_EVENTS),
        description="Registration events kept in each unit-year's audit history.",
    )
    return rt


def create_app(settings: ApprovalSettings | None = None) -> FastAPI:
    settings = settings or ApprovalSettings()
    configure_logging(settings.service_name, json=settings.log_json, level=settings.log_level)
    rt = create_runtime(settings)
    app = service_app(
        rt,
        title="ANTT approval service",
        description="Thẩm định và công nhận đạt tiêu chuẩn “An toàn về an ninh, trật tự”, level by level.",
        build_router=build_router,
    )

    @app.exception_handler(ClaimConflictError)
    async def _claimed(_req: Request, exc: ClaimConflictError) -> JSONResponse:
        # another official works the dossier: a conflict, like a concurrent decision
        return JSONResponse(status_code=409, content={"error_code": exc.code, "reason": exc.reason})

    # the administrators' web console (server-rendered, in Vietnamese) under /console
    mount_console(app, rt)
    return app
