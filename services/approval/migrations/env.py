"""Alembic environment of the approval service."""

from services.approval.orm import metadata
from shared.infra.alembic_env import run

run(metadata)
