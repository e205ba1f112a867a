from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.contracts.services import APPROVAL
from shared.infra.settings import ServiceSettings


class ApprovalSettings(ServiceSettings):
    """Environment: ``ANTT_APPROVAL_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ANTT_APPROVAL_", extra="ignore")

    service_name: str = APPROVAL.name
    http_port: int = APPROVAL.default_port
