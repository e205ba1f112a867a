from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.contracts.services import ASSESSMENT
from shared.infra.settings import ServiceSettings


class AssessmentSettings(ServiceSettings):
    """Environment: ``ANTT_ASSESSMENT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ANTT_ASSESSMENT_", extra="ignore")

    service_name: str = ASSESSMENT.name
    http_port: int = ASSESSMENT.default_port
