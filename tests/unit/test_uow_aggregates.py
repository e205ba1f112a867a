"""The unit of work's read-ahead of aggregates and its queued updates, on a real SQLite file.

``preload``/``get`` exist so that a batch of messages costs a few statements instead of a few
per message; these tests pin down the answers (found, absent, added in the transaction, taken
out again by a refused message's savepoint) and count the statements that reach the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select
from sqlalchemy.orm import registry

from shared.infra.db import create_sync_engine, sync_session_factory
from shared.infra.errors import DomainError
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork


@dataclass
class Thing:
    code: str
    label: str


metadata = MetaData()
infra = InfraTables(metadata)
things = Table("things", metadata, Column("code", String(20), primary_key=True), Column("label", String(50), nullable=False))
tallies = Table(
    "tallies",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("state", String(20)),
    Column("n", Integer, nullable=False),
)
registry(metadata=metadata).map_imperatively(Thing, things)


@pytest.fixture()
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_sync_engine(f"sqlite+pysqlite:///{tmp_path / 'u.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"code": f"t{i}", "label": f"thing {i}"} for i in range(3)])
        conn.execute(tallies.insert(), [{"code": f"t{i}", "state": None, "n": i} for i in range(3)])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    yield engine, sync_session_factory(engine), statements
    engine.dispose()


def _uow(sessions) -> UnitOfWork:  # type: ignore[no-untyped-def]
    return UnitOfWork(sessions(), infra, producer="t", topic=None)


def test_preloaded_and_absent_aggregates_cost_no_statement(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload(Thing, ["t0", "t1", "nope"])
        before = len(statements)
        # nothing else references the loaded objects: the unit of work must keep them
        assert uow.get(Thing, "t1").label == "thing 1"  # type: ignore[union-attr]
        assert uow.get(Thing, "t0") is not None
        assert uow.get(Thing, "nope") is None
        assert len(statements) == before
        assert uow.get(Thing, "t2").label == "thing 2"  # type: ignore[union-attr]  # not preloaded: one statement
        assert len(statements) == before + 1


def test_an_added_aggregate_is_found_before_the_flush_and_undone_with_its_savepoint(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, _ = db
    with _uow(sessions) as uow:
        uow.preload(Thing, ["new", "other"])
        uow.add(Thing("new", "brand new"))
        assert uow.get(Thing, "new").label == "brand new"  # type: ignore[union-attr]
        with pytest.raises(DomainError), uow.savepoint():
            uow.add(Thing("other", "refused"))
            assert uow.get(Thing, "other") is not None
            raise DomainError("refused", "the message is refused")
        assert uow.get(Thing, "other") is None
        uow.commit()
    with sessions() as s:
        assert s.execute(select(things.c.code).order_by(things.c.code)).scalars().all() == ["new", "t0", "t1", "t2"]


def test_queued_updates_are_written_in_order_and_undone_with_their_savepoint(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, statements = db
    with _uow(sessions) as uow:
        before = len(statements)
        uow.update_row(tallies, {"code": "t0"}, {"state": "a"})
        uow.update_row(tallies, {"code": "t1"}, {"state": "b"})
        uow.update_row(tallies, {"code": "t0"}, {"state": "c"})
        uow.update_row(tallies, {"code": "t2"}, {"state": "x", "n": 9})
        with pytest.raises(DomainError), uow.savepoint():
            uow.update_row(tallies, {"code": "t1"}, {"state": "refused"})
            raise DomainError("refused", "the message is refused")
        uow.commit()
        updates = [s for s in statements[before:] if s.lstrip().upper().startswith("UPDATE")]
    # one executemany per shape of update, not one statement per row
    assert len(updates) == 2
    with sessions() as s:
        rows = s.execute(select(tallies.c.code, tallies.c.state, tallies.c.n).order_by(tallies.c.code)).all()
    assert [tuple(r) for r in rows] == [("t0", "c", 0), ("t1", "b", 1), ("t2", "x", 9)]


def test_queued_upserts_are_read_back_in_the_transaction_and_keep_the_per_key_rule(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, statements = db
    with _uow(sessions) as uow:
        before = len(statements)
        uow.upsert_row(tallies, {"code": "t0"}, {"state": "new", "n": 10})
        uow.upsert_row(tallies, {"code": "t9"}, {"state": "first", "n": 1})
        uow.upsert_row(tallies, {"code": "t9"}, {"state": "second", "n": 2})
        uow.upsert_row(tallies, {"code": "t8"}, {"state": "kept", "n": 1}, overwrite=False)
        uow.upsert_row(tallies, {"code": "t8"}, {"state": "ignored", "n": 2}, overwrite=False)
        uow.upsert_row(tallies, {"code": "t1"}, {"state": "ignored", "n": 2}, overwrite=False)
        assert len(statements) == before  # queued, nothing written yet
        # a query through the session reads them: they are written first
        read = dict(uow.session.execute(select(tallies.c.code, tallies.c.state)).all())
        assert read == {"t0": "new", "t1": None, "t2": None, "t8": "kept", "t9": "second"}
        uow.commit()
    with sessions() as s:
        assert dict(s.execute(select(tallies.c.code, tallies.c.n)).all()) == {"t0": 10, "t1": 1, "t2": 2, "t8": 1, "t9": 2}


def test_a_stream_that_moved_on_concurrently_fails_the_commit(db) -> None:  # type: ignore[no-untyped-def]
    from shared.infra.outbox import ConcurrencyConflict
    from shared.infra.uow import Cause

    _, sessions, _ = db
    cause = Cause(actor={"id": "t", "role": "system", "jurisdiction": "*"}, correlation_id="c", causation_id=None)

    def append(uow: UnitOfWork, stream: str) -> None:
        uow.append("UnitRegistered", {"n": 1}, cause, unit_year_id=None, stream_id=stream, topic="t.events")

    for stream in ("s1", "s2", "s3"):
        with UnitOfWork(sessions(), infra, producer="t", topic="t.events") as uow:
            append(uow, stream)
            uow.commit()
    # SQLite lets one writer in at a time, so the concurrent writer is played by a stale read:
    # this transaction believes s2 is still at 0, as it would had another committed since
    with UnitOfWork(sessions(), infra, producer="t", topic="t.events") as slow:
        slow.load_streams(["s1", "s2", "s3"])
        slow._streams["s2"].stored = 0
        for stream in ("s1", "s2", "s3"):
            append(slow, stream)
        with pytest.raises(ConcurrencyConflict, match="1 of the streams s1, s2, s3 moved on"):
            slow.commit()
    with sessions() as s:
        heads = dict(s.execute(select(infra.event_streams.c.stream_id, infra.event_streams.c.sequence)).all())
    assert heads == {"s1": 1, "s2": 1, "s3": 1}


def test_keys_read_ahead_answer_exists_without_loading_the_objects(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload_keys(Thing, ["t0", "gone"])
        before = len(statements)
        assert uow.exists(Thing, "t0") and not uow.exists(Thing, "gone")
        assert len(statements) == before
        assert not list(uow.session.identity_map.values())  # nothing loaded
        uow.add(Thing("gone", "added since"))
        assert uow.exists(Thing, "gone")


def test_read_ahead_rows_of_a_plain_table_cost_no_statement_and_a_write_forgets_them(db) -> None:  # type: ignore[no-untyped-def]
    _, sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload_rows(tallies, ["t1", "t2", "nope"])
        before = len(statements)
        assert uow.row(tallies, "t1").n == 1
        assert uow.row(tallies, "nope") is None
        assert len(statements) == before
        # a write forgets the row read ahead: the next read sees the write
        uow.write_row(tallies, "t1", tallies.update().where(tallies.c.code == "t1").values(n=10))
        assert uow.row(tallies, "t1").n == 10
        # a refused message's savepoint undoes its write; the row is read again, not remembered
        with pytest.raises(DomainError), uow.savepoint():
            uow.write_row(tallies, "t2", tallies.delete().where(tallies.c.code == "t2"))
            assert uow.row(tallies, "t2") is None
            raise DomainError("refused", "no")
        assert uow.row(tallies, "t2").n == 2
        assert uow.row(tallies, "t0").n == 0  # not read ahead: one statement
        uow.commit()
