"""The administrators' web console (bảng điều khiển), served by the approval service under
``/console``: server-rendered pages (Jinja2) with htmx for the partial updates, in Vietnamese.

It is a sub-application with its own session (signed, HttpOnly, SameSite=Lax cookie) and CSRF
protection (double-submit cookie, ``starlette-csrf``; htmx sends the token as a header on every
request that changes state), so the JSON API beside it keeps its bearer tokens and JSON errors.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette_csrf import CSRFMiddleware

from services.approval.console.routes import BASE, build_console
from services.approval.console.session import install_session
from services.approval.console.settings import ConsoleSettings
from shared.infra.runtime import ServiceRuntime

CSRF_COOKIE = "antt_csrf"
CSRF_HEADER = "x-csrftoken"


def mount_console(app: FastAPI, runtime: ServiceRuntime, settings: ConsoleSettings | None = None) -> None:
    settings = settings or ConsoleSettings()
    console = build_console(runtime, settings)
    # every unsafe request under /console must carry the token; static files are read-only
    console.add_middleware(
        CSRFMiddleware,
        secret=settings.signing_key,
        cookie_name=CSRF_COOKIE,
        cookie_path=BASE,
        cookie_secure=settings.https_only,
        cookie_samesite="lax",
        header_name=CSRF_HEADER,
        exempt_urls=[re.compile(r"^/console/(static|vendor)/")],
    )
    app.mount(BASE, install_session(console, settings, path=BASE), name="console")


__all__ = ["BASE", "ConsoleSettings", "mount_console"]
