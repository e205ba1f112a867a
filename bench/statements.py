"""The write path's statement forms measured alone: what a batch's key reads and inserts cost
the service (the client) and the database server, one form beside the other.

- **Key reads** (``shared.infra.inlist``): a few hundred keys read from a 20,000-row table
  keyed by UUID strings, with SQLAlchemy's expanding ``IN`` (a placeholder per key) and with
  the list bound as one value (``= ANY`` of an array on PostgreSQL, ``json_each`` on SQLite).
- **Inserts on PostgreSQL** (``shared.infra.bulk``): the write path's inbox, outbox and
  history rows (the service's own tables; envelopes of 1.6 kB), 300 per transaction as a batch
  writes them, row by row through psycopg's executemany and as one insert over arrays.

The client's CPU is this process's (``time.process_time``); the server's is the backend's,
read from /proc. Every form runs ``--rounds`` times, alternated; the medians are printed as
a Markdown table and every round is written to ``bench/results/<stamp>-statements.json``.

    .venv/bin/python -m bench.statements
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql

from services.approval.orm import history as history_table
from shared.infra.bulk import executemany
from shared.infra.inlist import in_list
from shared.infra.tables import InfraTables

RESULTS_DIR = Path(__file__).resolve().parent / "results"

md = MetaData()
keyed = Table("keyed", md, Column("k", String(80), primary_key=True), Column("n", Integer), Column("b", String(200)))
infra = InfraTables(md)
history = history_table.to_metadata(md)

#: an envelope of about 1.6 kB, as the lifecycle's events are on average
ENVELOPE: dict[str, Any] = {
    "event_type": "UnitYearSelfScored",
    "payload": {"criteria": [{"code": f"ANTT-{i:02d}", "score": i, "note": 'Đạt yêu cầu "tiêu chí"'} for i in range(22)]},
}

#: (what, per) -> CPU µs per round, for the client and the server
Samples = dict[tuple[str, str], list[float]]


def _measure(samples: Samples, label: str, n: int, server_pid: int | None, fn: Callable[[], None]) -> None:
    from bench.lifecycle.profiling import ProcCpu

    s0 = ProcCpu.of(server_pid) if server_pid else 0.0
    t0 = time.process_time()
    fn()
    samples[(label, "client")].append(1e6 * (time.process_time() - t0) / n)
    if server_pid:
        samples[(label, "server")].append(1e6 * (ProcCpu.of(server_pid) - s0) / n)


def _backend_pid(conn: Any) -> int | None:
    """The PostgreSQL backend serving ``conn`` (its CPU is the server's), ``None`` on SQLite; the
    connection is left outside a transaction."""
    if conn.dialect.name != "postgresql":
        return None
    pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    conn.commit()
    return pid


def key_reads(engine: Any, db: str, samples: Samples, rounds: int, selects: int) -> None:
    keys = [str(uuid.uuid4()) for _ in range(20_000)]
    with engine.begin() as conn:
        conn.execute(keyed.insert(), [{"k": k, "n": i, "b": "x" * 100} for i, k in enumerate(keys)])
    forms = {
        f"{db}: key read, expanding IN": select(keyed).where(keyed.c.k.in_(bindparam("keys", expanding=True))),
        f"{db}: key read, one bound list": select(keyed).where(in_list(keyed.c.k, "keys")),
    }
    rng = random.Random(7)
    with engine.connect() as conn:
        pid = _backend_pid(conn)
        for _ in range(rounds):
            for label, stmt in forms.items():
                lists = [rng.sample(keys, rng.randint(100, 400)) for _ in range(selects)]

                def run(stmt: Any = stmt, lists: list[list[str]] = lists) -> None:
                    for ks in lists:
                        conn.execute(stmt, {"keys": ks}).fetchall()

                _measure(samples, label, selects, pid, run)


def _inbox_row(i: int, now: datetime) -> dict[str, Any]:
    return {
        "message_id": str(uuid.uuid4()),
        "topic": "antt.inbound.v1",
        "partition": 3,
        "offset": i,
        "outcome": "applied",
        "processed_at": now,
    }


def _outbox_row(i: int, now: datetime) -> dict[str, Any]:
    eid = str(uuid.uuid4())
    return {
        "event_id": eid,
        "topic": "antt.approval.events.v1",
        "key": f"unit-{i}:2025",
        "value": orjson.dumps({**ENVELOPE, "event_id": eid}),
        "headers": orjson.dumps({"event_type": "UnitYearSelfScored"}).decode(),
        "created_at": now,
    }


def _history_row(i: int, now: datetime) -> dict[str, Any]:
    eid = str(uuid.uuid4())
    return {
        "event_id": eid,
        "unit_year_id": f"unit-{i}:2025",
        "topic": "antt.approval.events.v1",
        "event_type": "UnitYearSelfScored",
        "producer": "approval",
        "sequence": 2,
        "recorded_at": now.isoformat(),
        "envelope": {**ENVELOPE, "event_id": eid},
    }


#: (statement, row maker) of the write path's inserts (the history's ignores a repeat)
INSERTS: dict[str, tuple[Any, Callable[[int, datetime], dict[str, Any]]]] = {
    "inbox": (insert(infra.inbox), _inbox_row),
    "outbox": (insert(infra.outbox), _outbox_row),
    "history": (postgresql.insert(history).on_conflict_do_nothing(), _history_row),
}


def pg_inserts(engine: Any, samples: Samples, rounds: int, batches: int) -> None:
    now = datetime.now(UTC)
    with engine.connect() as conn:
        pid = _backend_pid(conn)
        for _ in range(rounds):
            for name, (stmt, make) in INSERTS.items():
                for how, arrays in (("row by row", False), ("over arrays", True)):
                    data = [[make(i, now) for i in range(300)] for _ in range(batches)]

                    def run(data: list[list[dict[str, Any]]] = data, stmt: Any = stmt, arrays: bool = arrays) -> None:
                        for rows in data:
                            with conn.begin():
                                executemany(conn, stmt, rows, arrays=arrays)

                    _measure(samples, f"PostgreSQL: {name} insert, {how}", 300 * batches, pid, run)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--selects", type=int, default=300, help="key reads per form and round (default 300)")
    ap.add_argument("--batches", type=int, default=40, help="transactions of 300 inserts per form and round (default 40)")
    args = ap.parse_args(argv)

    from bench.lifecycle.report import machine_info
    from deploy.localpg import LocalPostgres
    from shared.infra.db import create_sync_engine

    samples: Samples = defaultdict(list)
    work = Path(tempfile.mkdtemp(prefix="antt-statements-"))
    lite = create_sync_engine(f"sqlite:///{work / 'bench.db'}")
    md.create_all(lite)
    key_reads(lite, "SQLite", samples, args.rounds, args.selects)
    lite.dispose()
    pg = LocalPostgres(Path(tempfile.mkdtemp(prefix="antt-statements-pg-")))
    pg.start()
    try:
        pg.create_database("statements")
        engine = create_sync_engine(pg.dsn("statements"))
        md.create_all(engine)
        key_reads(engine, "PostgreSQL", samples, args.rounds, args.selects)
        pg_inserts(engine, samples, args.rounds, args.batches)
        engine.dispose()
    finally:
        pg.stop()

    machine = machine_info(postgres=True)
    print(f"{machine['nproc']} CPUs ({machine['cpu_model']}), load average {' / '.join(machine['loadavg_at_start'])}\n")
    print("| form | client CPU µs, median (rounds) | server CPU µs, median (rounds) | per |")
    print("| --- | ---: | ---: | --- |")
    labels = list(dict.fromkeys(label for label, _ in samples))
    for label in labels:
        cells = []
        for side in ("client", "server"):
            runs = samples.get((label, side))
            cells.append(f"**{statistics.median(runs):.1f}** ({', '.join(f'{x:.1f}' for x in runs)})" if runs else "–")
        per = "select" if "key read" in label else "row"
        print(f"| {label} | {cells[0]} | {cells[1]} | {per} |")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{stamp}-statements.json"
    out.write_text(
        json.dumps(
            {
                "command": "python -m bench.statements " + " ".join(argv or []),
                "machine": machine,
                "settings": vars(args),
                "cpu_us": {f"{label} | {side}": runs for (label, side), runs in samples.items()},
            },
            indent=2,
        )
    )
    print(f"\nraw numbers in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
