"""The one upsert of the services' read models (projections of other services' events).

Read models are written by key: the newest event wins (``overwrite``), or a row is only filled
in when absent (``overwrite=False``: an older snapshot must not replace a newer one arriving on
another partition). SQLite and PostgreSQL both have ``INSERT ... ON CONFLICT``.

The upsert is queued in the unit of work and written with the batch's others in one
executemany (``UnitOfWork.upsert_row``); a query through the session writes the queued
upserts first, so a handler still reads what an earlier message of its batch wrote.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from shared.infra.uow import UnitOfWork


def upsert(uow: UnitOfWork, table: Table, key: dict[str, Any], values: dict[str, Any], *, overwrite: bool = True) -> None:
    """Insert ``key`` + ``values`` into ``table``, or on a conflict of ``key`` update ``values``
    (``overwrite``) or leave the row as it is."""
    uow.upsert_row(table, key, values, overwrite=overwrite)
