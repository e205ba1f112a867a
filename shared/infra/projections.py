"""The one upsert of the services' read models (projections of other services' events).

Read models are written by key: the newest event wins (``overwrite``), or a row is only filled
in when absent (``overwrite=False``: an older snapshot must not replace a newer one arriving on
another partition). SQLite and PostgreSQL both have ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(session: Session, table: Table, key: dict[str, Any], values: dict[str, Any], *, overwrite: bool = True) -> None:
    """Insert ``key`` + ``values`` into ``table``, or on a conflict of ``key`` update ``values``
    (``overwrite``) or leave the row as it is."""
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).values(**key, **values)
    if overwrite:
        session.execute(ins.on_conflict_do_update(index_elements=list(key), set_=values))
    else:
        session.execute(ins.on_conflict_do_nothing(index_elements=list(key)))
