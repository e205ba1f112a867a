"""Alembic environment of the assessment service."""

from services.assessment.orm import metadata
from shared.infra.alembic_env import run

run(metadata)
