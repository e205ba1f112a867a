from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.infra.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Environment: ``ANTT_REGISTRATION_<FIELD>``, e.g. ``ANTT_REGISTRATION_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="ANTT_REGISTRATION_", extra="ignore")

    service_name: str = "registration"
    http_port: int = 8101
