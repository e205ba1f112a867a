"""Run a service process: uvicorn with the service's ``create_app`` factory."""

from __future__ import annotations

import importlib

import uvicorn


def _load(path: str):  # type: ignore[no-untyped-def]
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(app_factory: str, settings_cls: str) -> None:
    settings = _load(settings_cls)()
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
