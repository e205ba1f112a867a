"""Alembic helpers: each service has its own migration history under ``migrations/``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(script_location: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_head(script_location: Path, url: str) -> None:
    command.upgrade(alembic_config(script_location, url), "head")


async def upgrade_head_async(script_location: Path, url: str) -> None:
    await asyncio.to_thread(upgrade_head, script_location, url)
