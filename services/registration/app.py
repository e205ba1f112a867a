"""Composition root of the registration service: ``create_app()``; nothing connects at import."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.registration import commands, projections, queries
from services.registration.api import build_router
from services.registration.orm import infra
from services.registration.settings import RegistrationSettings
from shared.contracts import topics
from shared.infra.adapters import EventHandler, InboundHandler
from shared.infra.http import service_app
from shared.infra.inbound import InboundGate
from shared.infra.logging import configure_logging
from shared.infra.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: RegistrationSettings | None = None) -> ServiceRuntime:
    settings = settings or RegistrationSettings()
    rt = ServiceRuntime(settings, infra, MIGRATIONS)
    rt.consume(
        topics.INBOUND,
        InboundHandler(InboundGate(settings.service_name, settings.load_senders()), commands.COMMANDS, prefetch=queries.prefetch),
        description="Unit and unit-year registrations and withdrawals from other systems; "
        "this service also dead-letters inbound messages no service can read.",
    )
    rt.consume(
        topics.APPROVAL_EVENTS,
        EventHandler(projections.APPROVAL_EVENTS, read_as=projections.ApprovalStateView, prefetch=queries.prefetch_unit_years),
        description="Read model of each unit-year's approval state.",
    )
    return rt


def create_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()
    configure_logging(settings.service_name, json=settings.log_json, level=settings.log_level)
    rt = create_runtime(settings)
    return service_app(
        rt,
        title="ANTT registration service",
        description="Đăng ký xây dựng đạt tiêu chuẩn “An toàn về an ninh, trật tự” (Circular 124/2021/TT-BCA).",
        build_router=build_router,
    )
