"""The Core repositories (``shared.infra.repository``) through the unit of work, on a real
SQLite file: what is loaded, what is written at the commit and in how many statements, the
version check, a refused message's undo, reads of the transaction's own writes, absent keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, event, select, text, update

from shared.infra.db import create_sync_engine, sync_session_factory
from shared.infra.errors import DomainError
from shared.infra.outbox import ConcurrencyConflict
from shared.infra.repository import register, repository_for
from shared.infra.tables import InfraTables
from shared.infra.uow import UnitOfWork


@dataclass(eq=False)
class Box:
    code: str
    owner: str
    state: str = "open"
    items: list[str] = field(default_factory=list)
    version: int = 0


@dataclass(eq=False)
class Part:
    box: str
    n: int
    label: str
    version: int = 0


metadata = MetaData()
infra = InfraTables(metadata)
boxes = Table(
    "boxes",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("owner", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("items", JSON, nullable=False),
    Column("version", Integer, nullable=False),
)
parts = Table(
    "parts",
    metadata,
    Column("box", String(20), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("label", String(50), nullable=False),
    Column("version", Integer, nullable=False),
)
box_repo = register(Box, boxes)
part_repo = register(Part, parts)


@pytest.fixture()
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_sync_engine(f"sqlite+pysqlite:///{tmp_path / 'r.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            boxes.insert(),
            [{"code": f"b{i}", "owner": "ana", "state": "open", "items": [f"i{i}"], "version": 1} for i in range(4)],
        )
        conn.execute(parts.insert(), [{"box": "b0", "n": n, "label": f"part {n}", "version": 1} for n in range(2)])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(" ".join(a[2].split())))
    yield sessions_of(engine), statements
    engine.dispose()


def sessions_of(engine: Any) -> Any:
    return sync_session_factory(engine)


def _uow(sessions: Any) -> UnitOfWork:
    return UnitOfWork(sessions(), infra, producer="t", topic=None)


def _rows(sessions: Any) -> dict[str, tuple[Any, ...]]:
    with sessions() as s:
        return {r.code: (r.owner, r.state, r.items, r.version) for r in s.execute(select(boxes))}


def _writes(statements: list[str], verb: str) -> list[str]:
    return [s for s in statements if s.upper().startswith(verb)]


def test_registration_is_checked_and_the_orm_is_not_involved() -> None:
    assert repository_for(Box) is box_repo and register(Box, boxes) is box_repo
    with pytest.raises(ValueError, match="already mapped"):
        register(Box, parts)

    @dataclass
    class Short:
        code: str

    with pytest.raises(TypeError, match="no field for the columns"):
        register(Short, boxes)
    assert not hasattr(Box, "__mapper__")  # a plain dataclass


def test_changed_objects_are_written_once_per_shape_with_the_version_bumped(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload(Box, ["b0", "b1", "b2", "b3"])
        assert len(_writes(statements, "SELECT")) == 1  # one SELECT ... IN for the four
        b0, b1, b2 = (uow.get(Box, k) for k in ("b0", "b1", "b2"))
        assert isinstance(b0, Box) and b0.items == ["i0"] and b0.version == 1
        b0.state = "closed"
        assert b1 is not None and b2 is not None
        b1.state = "closed"
        b2.items.append("more")  # in place: compared by its serialised form
        before = len(statements)
        uow.commit()
        updates = _writes(statements[before:], "UPDATE")
    # two shapes (state; items), one executemany each; b3 untouched is not written
    assert len(updates) == 2
    assert all("version=(boxes.version + ?)" in u and "boxes.version = ?" in u for u in updates)
    assert (b0.version, b1.version, b2.version) == (2, 2, 2)
    assert _rows(sessions) == {
        "b0": ("ana", "closed", ["i0"], 2),
        "b1": ("ana", "closed", ["i1"], 2),
        "b2": ("ana", "open", ["i2", "more"], 2),
        "b3": ("ana", "open", ["i3"], 1),
    }


def test_new_objects_are_inserted_in_one_statement_with_version_one(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload(Box, ["n1", "n2"])
        assert uow.get(Box, "n1") is None
        a, b = Box("n1", "bo"), Box("n2", "bo", items=["x"])
        uow.add(a)
        uow.add(b)
        assert uow.get(Box, "n1") is a
        before = len(statements)
        uow.commit()
        assert len(_writes(statements[before:], "INSERT")) == 1
    assert a.version == 1 and b.version == 1
    rows = _rows(sessions)
    assert rows["n1"] == ("bo", "open", [], 1) and rows["n2"] == ("bo", "open", ["x"], 1)


def test_a_row_changed_by_another_writer_fails_the_commit_with_a_conflict(db) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = db
    with _uow(sessions) as uow:
        b1 = uow.get(Box, "b1")
        b2 = uow.get(Box, "b2")
        assert b1 is not None and b2 is not None
        # another writer committed b2 in between (its version moved on under our snapshot)
        uow.session.connection().execute(update(boxes).where(boxes.c.code == "b2").values(owner="eve", version=5))
        b1.state = b2.state = "closed"
        with pytest.raises(ConcurrencyConflict, match="1 of the boxes rows b1, b2 were changed concurrently"):
            uow.commit()
    # rolled back: neither change, nor the other writer's (played inside the same transaction)
    assert _rows(sessions)["b1"] == ("ana", "open", ["i1"], 1)


def test_absent_keys_are_remembered_and_a_miss_costs_one_statement(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        uow.preload(Box, ["b0", "gone"])
        n = len(statements)
        assert uow.get(Box, "gone") is None and uow.get(Box, "b0") is not None
        assert not uow.exists(Box, "gone")
        assert len(statements) == n
        assert uow.get(Box, "nowhere") is None  # not read ahead: one statement
        assert uow.get(Box, "nowhere") is None  # then known absent
        assert len(statements) == n + 1
        uow.preload_keys(Box, ["b3", "void"])
        n = len(statements)
        assert uow.exists(Box, "b3") and not uow.exists(Box, "void")
        assert len(statements) == n
        # a composite key, as Session.get takes it
        assert uow.get(Part, ("b0", 1)).label == "part 1"  # type: ignore[union-attr]
        assert uow.get(Part, ("b0", 7)) is None


def test_a_query_through_the_session_reads_the_pending_changes(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        b0 = uow.get(Box, "b0")
        assert b0 is not None
        b0.state = "closed"
        uow.add(Box("b9", "zoe"))
        n = len(statements)
        # a read of another table does not write them
        assert uow.session.execute(select(parts.c.label).where(parts.c.box == "b0")).scalars().all() == ["part 0", "part 1"]
        assert not _writes(statements[n:], "UPDATE") and not _writes(statements[n:], "INSERT")
        # a read of theirs does, first (in a subquery too)
        assert uow.session.execute(select(boxes.c.state).where(boxes.c.code == "b0")).scalar_one() == "closed"
        codes = select(boxes.c.code).where(boxes.c.owner == "zoe")
        assert uow.session.execute(select(parts.c.box).where(parts.c.box.in_(codes))).all() == []
        assert [b.code for b in uow.select(Box, boxes.c.owner == "zoe")] == ["b9"]
        # the same objects, not copies: a change made since is still there
        b0.owner = "max"
        [again] = uow.select(Box, boxes.c.code == "b0")
        assert again is b0 and again.owner == "max"
        uow.commit()
    rows = _rows(sessions)
    assert rows["b0"] == ("max", "closed", ["i0"], 3)  # written before the read, then at the commit
    assert rows["b9"] == ("zoe", "open", [], 1)


def test_children_read_ahead_include_those_added_and_keep_identity(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        p0 = uow.get(Part, ("b0", 0))
        uow.add(Part("b1", 0, "new part"))
        n = len(statements)
        uow.preload_children(Part, "box", ["b0", "b1", "b2"])
        assert len(_writes(statements[n:], "INSERT")) == 1 and len(_writes(statements[n:], "SELECT")) == 1
        b0_parts = uow.children(Part, "box", "b0")
        assert b0_parts is not None and b0_parts[0] is p0 and [p.n for p in b0_parts] == [0, 1]
        assert [p.label for p in uow.children(Part, "box", "b1") or []] == ["new part"]
        assert uow.children(Part, "box", "b2") == [] and uow.children(Part, "box", "b3") is None
        uow.add(Part("b2", 5, "later"))
        assert [p.n for p in uow.children(Part, "box", "b2") or []] == [5]
        uow.commit()


def test_a_refused_message_leaves_its_objects_as_they_were(db) -> None:  # type: ignore[no-untyped-def]
    sessions, statements = db
    with _uow(sessions) as uow:
        b0, b1, b2 = (uow.get(Box, k) for k in ("b0", "b1", "b2"))
        assert b0 is not None and b1 is not None and b2 is not None
        b0.state = "accepted"  # before the savepoint: kept
        with pytest.raises(DomainError), uow.savepoint():
            # a message's handler is handed its aggregates by the unit of work, as here
            assert uow.get(Box, "b0") is b0 and uow.get(Box, "b1") is b1 and uow.get(Box, "b2") is b2
            b1.state = "refused"
            b1.items.append("refused")
            b0.owner = "refused"
            uow.add(Box("r1", "refused"))
            # a read of the table inside the message writes its changes there and then ...
            assert uow.session.execute(select(boxes.c.state).where(boxes.c.code == "b1")).scalar_one() == "refused"
            b2.state = "refused too"  # ... and some are changed after that write
            raise DomainError("refused", "the message is refused")
        # the objects are back as the message found them, the added one forgotten
        assert (b1.state, b1.items, b1.version) == ("open", ["i1"], 1)
        assert (b0.state, b0.owner, b0.version) == ("accepted", "ana", 2)
        assert b2.state == "open"
        assert uow.get(Box, "r1") is None
        with uow.savepoint():  # the next message goes on from there
            assert uow.get(Box, "b1") is b1
            b1.owner = "bea"
            uow.add(Box("ok", "bea"))
        uow.commit()
    rows = _rows(sessions)
    assert rows["b0"] == ("ana", "accepted", ["i0"], 2)
    assert rows["b1"] == ("bea", "open", ["i1"], 2)
    assert rows["b2"] == ("ana", "open", ["i2"], 1)
    assert "r1" not in rows and rows["ok"] == ("bea", "open", [], 1)


def test_leaving_without_commit_writes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = db
    with _uow(sessions) as uow:
        b0 = uow.get(Box, "b0")
        assert b0 is not None
        b0.state = "closed"
        uow.add(Box("lost", "x"))
    assert _rows(sessions)["b0"][1] == "open" and "lost" not in _rows(sessions)


def test_plain_reads_build_untracked_objects(db) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = db
    with sessions() as s:
        got = box_repo.get(s, "b2")
        assert isinstance(got, Box) and got.items == ["i2"] and got.version == 1
        assert box_repo.get(s, "nope") is None
        assert [b.code for b in box_repo.select(s, boxes.c.owner == "ana", order_by=[boxes.c.code.desc()], limit=2)] == [
            "b3",
            "b2",
        ]
        assert part_repo.get(s, ("b0", 0)).label == "part 0"  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="has the key"):
            part_repo.get(s, "b0")


def test_a_message_compares_only_the_aggregates_it_was_handed(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Savepoint by savepoint, a batch costs what its messages touch: the read-ahead of the
    whole batch is compared once, at the commit, not at every message."""
    sessions, _ = db
    with _uow(sessions) as uow:
        for i in range(200):
            uow.add(Box(f"m{i}", "many"))
        uow.commit()
    compared = 0
    real = box_repo.snapshot

    def counting(values: Any) -> tuple[Any, ...]:
        nonlocal compared
        compared += 1
        return real(values)

    with _uow(sessions) as uow:
        uow.preload(Box, [f"m{i}" for i in range(200)])
        monkeypatch.setattr(box_repo, "snapshot", counting)
        for i in range(200):
            with uow.savepoint():
                box = uow.get(Box, f"m{i}")
                assert box is not None
                box.state = "seen"
        uow.commit()
    # each object compared when its message ends (and rewritten), then once more at the commit
    assert compared <= 4 * 200
    assert {r[1] for r in _rows(sessions).values() if r[0] == "many"} == {"seen"}


def test_json_stored_in_another_form_is_not_a_change_until_it_changes(db: Any) -> None:
    """A snapshot is the JSON column's stored text; a row written by another encoder (spaces
    after the separators) holds the same values, so loading it and leaving it is no write,
    while a real change is."""
    sessions, statements = db
    with sessions() as s, s.begin():
        s.execute(text("UPDATE boxes SET items = '[\"i0\", \"x\"]' WHERE code = 'b0'"))
    n = len(statements)
    with _uow(sessions) as uow:
        b0 = uow.get(Box, "b0")
        assert b0 is not None and b0.items == ["i0", "x"]
        uow.commit()
    assert _writes(statements[n:], "UPDATE") == []
    with _uow(sessions) as uow:
        b0 = uow.get(Box, "b0")
        assert b0 is not None
        b0.items.append("y")
        uow.commit()
    assert _rows(sessions)["b0"] == ("ana", "open", ["i0", "x", "y"], 2)
