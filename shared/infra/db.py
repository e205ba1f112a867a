"""SQLAlchemy engines and session factories for SQLite (embedded) and PostgreSQL.

Two engines on one database, for two kinds of work:

- the **write path** (a consumer's batch, an HTTP command) runs synchronously in a worker
  thread, one thread hop per batch (``create_sync_engine``: pysqlite, psycopg). Every statement
  of an async session costs a hop to a driver thread and an event-loop wake-up; a batch runs
  hundreds of them, so the whole transaction goes to one thread instead;
- the **relay, migrations and small async reads** use the async engine (``create_engine``:
  aiosqlite, asyncpg), which is fine for their few statements.

Both configure SQLite alike: WAL, a busy timeout, ``BEGIN IMMEDIATE`` (the write lock is
taken at the start, so two writers queue instead of failing on upgrade) and SQLAlchemy-driven
transactions so that SAVEPOINT works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


#: JSON columns (aggregates' lists and snapshots, the approval history's envelopes) through
#: orjson: the standard library's encoder was a tenth of the write path's time
_JSON: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}

#: async driver -> the synchronous driver of the same database
_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite+pysqlite", "postgresql+asyncpg": "postgresql+psycopg"}


def sync_url(url: str) -> str:
    """The URL of the same database for the synchronous engine."""
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _configure_sqlite(dbapi_conn: Any, busy_timeout_s: float = 30.0) -> None:
    # Let SQLAlchemy, not the driver, open transactions, so SAVEPOINT works.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def create_sync_engine(url: str, *, busy_timeout_s: float | None = None) -> Engine:
    """The engine of the write path (see the module docstring).

    ``busy_timeout_s`` bounds the wait for a lock: SQLite's busy timeout, PostgreSQL's
    ``lock_timeout``. Consumers wait long (unset: 30 s on SQLite, no bound on PostgreSQL;
    nothing is lost by waiting), the HTTP API briefly (a caller is better served by a quick 503
    with ``Retry-After`` than by a hung request).
    """
    url = sync_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        wait = 30.0 if busy_timeout_s is None else busy_timeout_s
        engine = _create_sync_engine(url, connect_args={"timeout": wait, "check_same_thread": False}, **_JSON)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            _configure_sqlite(dbapi_conn, wait)

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if busy_timeout_s is not None and parsed.get_backend_name() == "postgresql" and parsed.drivername.endswith("psycopg"):
        connect_args["options"] = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
    engine = _create_sync_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args, **_JSON)
    if parsed.get_backend_name() == "postgresql":

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            _prefer_lz4(dbapi_conn)

    return engine


def _prefer_lz4(dbapi_conn: Any) -> None:
    """Compress the write path's large values with lz4 rather than PostgreSQL's default pglz.

    A row over about 2 kB has its values compressed before it is stored: here
    ``SelfAssessmentRecorded``'s envelope (6.6 kB on average, every criterion's score) in the
    outbox and the history, and an assessment's scored result. For that envelope the server
    spent about 100 µs of CPU with pglz and 30 µs with lz4 as ``bytea``, 110 and 60 µs as
    ``json``, for the same stored size (``bench/pg_toast.py``). The setting is the session's,
    so it holds whatever the server's configuration says; a server built without lz4 refuses
    it, and its default stays.
    """
    import psycopg  # the PostgreSQL driver of the write path, present where this runs

    cur = dbapi_conn.cursor()
    try:
        cur.execute("SET default_toast_compression = 'lz4'")
        dbapi_conn.commit()
    except psycopg.Error:  # the server has no lz4: keep its default compression
        dbapi_conn.rollback()
    finally:
        cur.close()


#: the execution option of a read-only use of the synchronous engine (``read_only_engine``)
READ_ONLY = "antt_read_only"


def read_only_engine(engine: Engine) -> Engine:
    """``engine`` for reads that write nothing: on SQLite their transactions begin deferred, so
    in WAL mode they neither wait for the write lock nor hold it (a write transaction begins
    ``IMMEDIATE``). The same engine elsewhere."""
    return engine.execution_options(**{READ_ONLY: True})


def sync_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def create_engine(url: str) -> AsyncEngine:
    """The async engine (relay, migrations, async reads); see the module docstring."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            _configure_sqlite(dbapi_conn)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
