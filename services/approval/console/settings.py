"""Settings of the administrators' console (environment ``ANTT_CONSOLE_<FIELD>``). The session
(secret, cookie, lifetime, HTTPS) and the environment are the service's settings
(``ANTT_APPROVAL_SESSION_*``, ``ANTT_APPROVAL_ENVIRONMENT``); the development officials are the
named development tokens of ``api_tokens.json``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANTT_CONSOLE_", extra="ignore")

    #: how often an open queue asks for new rows (htmx polling)
    poll_interval_s: int = 5
    page_size: int = 20
