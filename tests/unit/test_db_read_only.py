"""``shared.infra.db.read_only_engine``: on SQLite a read neither waits for nor takes the write lock."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text

from shared.infra.db import create_sync_engine, read_only_engine


def test_a_read_only_transaction_begins_deferred_and_reads_past_a_held_write_lock(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite+pysqlite:///{tmp_path / 'r.db'}", busy_timeout_s=0.2)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    begins: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: begins.append(stmt) if stmt.startswith("BEGIN") else None
    )
    writer = engine.connect()
    writer.begin()
    writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the write lock, uncommitted
    try:
        with read_only_engine(engine).connect() as conn:
            # no busy wait (the busy timeout is 0.2 s and would raise), the committed state only
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        writer.rollback()
        writer.close()
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]
    engine.dispose()
