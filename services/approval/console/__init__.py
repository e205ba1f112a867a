"""The administrators' web console (bảng điều khiển), served by the approval service under
``/console``: server-rendered pages (Jinja2) with htmx for the partial updates, in Vietnamese.

It is a sub-application with its own CSRF protection (double-submit cookie, ``starlette-csrf``;
htmx sends the token as a header on every request that changes state) and HTML errors, so the
JSON API beside it keeps its bearer tokens and JSON errors. The session (signed, HttpOnly,
SameSite=Lax cookie) and the OpenID Connect sign-in (``/console/auth/...``, when a provider is
configured) are ``shared.infra.auth``'s, installed on the service's application.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette_csrf import CSRFMiddleware

from services.approval.console.routes import BASE, build_console
from services.approval.console.settings import ConsoleSettings
from shared.infra.auth import install_sessions, sign_in_router
from shared.infra.runtime import ServiceRuntime

CSRF_COOKIE = "antt_csrf"
CSRF_HEADER = "x-csrftoken"


def mount_console(app: FastAPI, runtime: ServiceRuntime, settings: ConsoleSettings | None = None) -> None:
    settings = settings or ConsoleSettings()
    service = runtime.settings
    console = build_console(runtime, settings)
    # every unsafe request under /console must carry the token; static files are read-only
    console.add_middleware(
        CSRFMiddleware,
        secret=service.session_secret,
        cookie_name=CSRF_COOKIE,
        cookie_path=BASE,
        cookie_secure=service.is_production or service.session_https_only,
        cookie_samesite="lax",
        header_name=CSRF_HEADER,
        exempt_urls=[re.compile(r"^/console/(static|vendor)/")],
    )
    install_sessions(app, service)
    oidc = sign_in_router(service)
    if oidc is not None:
        app.include_router(oidc)  # /console/auth/...: before the mount, which would take the path
    app.mount(BASE, console, name="console")


__all__ = ["BASE", "ConsoleSettings", "mount_console"]
