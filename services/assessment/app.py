"""Composition root of the assessment service: ``create_app()``; nothing connects at import."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.assessment import commands, policies, queries
from services.assessment.api import build_router
from services.assessment.orm import infra
from services.assessment.settings import AssessmentSettings
from shared.contracts import topics
from shared.infra.adapters import EventHandler, InboundHandler
from shared.infra.http import service_app
from shared.infra.inbound import InboundGate
from shared.infra.logging import configure_logging
from shared.infra.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: AssessmentSettings | None = None) -> ServiceRuntime:
    settings = settings or AssessmentSettings()
    rt = ServiceRuntime(settings, infra, MIGRATIONS)
    rt.consume(
        topics.INBOUND,
        InboundHandler(
            InboundGate(settings.service_name, settings.load_senders()),
            {**commands.COMMANDS, **commands.EXEMPLARY_COMMANDS},
            prefetch=queries.prefetch,
        ),
        description="Self-assessments (with their evidence) and incidents (IncidentReported) submitted by other systems; "
        "exemplary-title proposals, their self-assessments and the movement's yearly classification.",
    )
    rt.consume(
        topics.REGISTRATION_EVENTS,
        EventHandler(policies.REGISTRATION_EVENTS, prefetch=queries.prefetch),
        description="Opens an assessment case for every registered unit-year (and counts the incidents already "
        "recorded in its window); closes it on withdrawal; keeps the units' kind and place.",
    )
    rt.consume(
        topics.APPROVAL_EVENTS,
        EventHandler(policies.APPROVAL_EVENTS, prefetch=queries.prefetch),
        description="Reopens a case returned for supplement; closes it on the final decision, which it keeps (the "
        "exemplary title rests on the recognition); a revocation judges an exemplary self-assessment again.",
    )
    return rt


def create_app(settings: AssessmentSettings | None = None) -> FastAPI:
    settings = settings or AssessmentSettings()
    configure_logging(settings.service_name, json=settings.log_json, level=settings.log_level)
    rt = create_runtime(settings)
    return service_app(
        rt,
        title="ANTT assessment service",
        description="Tự đánh giá theo tiêu chí “An toàn về an ninh, trật tự” (Circular 124/2021/TT-BCA).",
        build_router=build_router,
    )
