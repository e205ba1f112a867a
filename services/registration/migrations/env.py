"""Alembic environment of the registration service."""

from services.registration.orm import metadata
from shared.infra.alembic_env import run

run(metadata)
