"""Settings of the administrators' console (environment ``ANTT_CONSOLE_<FIELD>``)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.infra.settings import ROOT


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANTT_CONSOLE_", extra="ignore")

    #: ``production`` turns the development sign-in off (officials then sign in through the
    #: province's identity provider) and requires ``secret_key``
    environment: str = "development"
    #: signs the session and CSRF cookies; every replica of the service needs the same one.
    #: Unset outside production: a random key per process (signing in again after a restart)
    secret_key: str = ""
    #: the development officials the sign-in page lists (and a supervisor may reassign to)
    officials_file: Path = ROOT / "deploy" / "config" / "officials.json"
    #: cookies only over HTTPS (set behind a TLS terminator)
    https_only: bool = False
    session_max_age_s: int = 8 * 3600
    #: how often an open queue asks for new rows (htmx polling)
    poll_interval_s: int = 5
    page_size: int = 20

    @property
    def production(self) -> bool:
        return self.environment.lower() in ("production", "prod")

    @property
    def dev_signin(self) -> bool:
        return not self.production

    @cached_property
    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        if self.production:
            raise RuntimeError("ANTT_CONSOLE_SECRET_KEY must be set in production (it signs the console's cookies)")
        return secrets.token_urlsafe(32)
