from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.contracts.services import REGISTRATION
from shared.infra.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Environment: ``ANTT_REGISTRATION_<FIELD>``, e.g. ``ANTT_REGISTRATION_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="ANTT_REGISTRATION_", extra="ignore")

    service_name: str = REGISTRATION.name
    http_port: int = REGISTRATION.default_port
