"""What PostgreSQL's compression of large values costs the server: pglz (its default) against
lz4, on the envelopes of a kept benchmark run.

An event's envelope goes into the outbox (``bytea``) and, at the approval service, into the
unit-year's history (``json``). PostgreSQL compresses a row's values once the row passes about
2 kB (TOAST), and ``SelfAssessmentRecorded`` carries every criterion's score (6 kB on average
in the benchmark's lifecycle). This tool inserts a kept run's envelopes, 200 rows per
transaction as the write path does, into one fresh table per column type and compression, and
reads the backend's CPU time from /proc before and after: the server's cost per row, alone
(the client's is left out). Every variant runs ``--rounds`` times, alternated.

    .venv/bin/python -m bench.lifecycle --n 2000 --no-peer --keep     # prints the folder it kept
    .venv/bin/python -m bench.pg_toast /tmp/antt-bench-XXXX

The write path sets ``default_toast_compression = 'lz4'`` on its sessions
(``shared.infra.db``) because of what this measures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.replay import load_records

#: (column type, compression) of each variant
VARIANTS = (("bytea", "pglz"), ("bytea", "lz4"), ("json", "pglz"), ("json", "lz4"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pg_toast", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a folder kept by bench.lifecycle --keep")
    ap.add_argument("--event-type", default="SelfAssessmentRecorded", help="the envelopes to insert (default: the largest)")
    ap.add_argument("--rows", type=int, default=8000, help="rows per variant and round (the envelopes repeat; default 8000)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    import psycopg

    from bench.lifecycle.profiling import ProcCpu
    from deploy.localpg import LocalPostgres

    values = [
        r.value for r in load_records(args.folder) if r.value and dict(r.headers).get("event_type") == args.event_type.encode()
    ]
    if not values:
        print(f"no {args.event_type} in {args.folder}")
        return 1
    rows = (values * (args.rows // len(values) + 1))[: args.rows]
    pg = LocalPostgres(Path(tempfile.mkdtemp(prefix="antt-pg-toast-")))
    pg.start()
    try:
        pg.create_database("toast")
        dsn = pg.dsn("toast", driver=None)
        per_row: dict[tuple[str, str], list[float]] = defaultdict(list)
        sizes: dict[tuple[str, str], int] = {}
        with psycopg.connect(dsn, autocommit=True) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            for _ in range(args.rounds):
                for typ, compression in VARIANTS:
                    conn.execute("DROP TABLE IF EXISTS toast")
                    conn.execute(f"CREATE TABLE toast (id bigserial PRIMARY KEY, v {typ} COMPRESSION {compression} NOT NULL)")
                    params = [(v if typ == "bytea" else v.decode("utf-8"),) for v in rows]
                    before = ProcCpu.of(pid)
                    for i in range(0, len(params), 200):
                        with conn.transaction(), conn.cursor() as cur:
                            cur.executemany("INSERT INTO toast (v) VALUES (%s)", params[i : i + 200])
                    per_row[(typ, compression)].append(1e6 * (ProcCpu.of(pid) - before) / len(params))
                    sizes[(typ, compression)] = conn.execute("SELECT pg_total_relation_size('toast')").fetchone()[0]  # type: ignore[index]
    finally:
        pg.stop()
    avg = sum(map(len, values)) / len(values)
    from bench.lifecycle.report import machine_info

    machine = machine_info(postgres=False)
    print(
        f"PostgreSQL {version}; {machine['nproc']} CPUs ({machine['cpu_model']}), load average {' / '.join(machine['loadavg_at_start'])}"
    )
    print(
        f"{len(rows):,} {args.event_type} envelopes per variant and round ({len(values):,} distinct, {avg:,.0f} bytes on average)\n"
    )
    print("| column | compression | server CPU µs per row, median (rounds) | table + TOAST size |")
    print("| --- | --- | ---: | ---: |")
    for key in VARIANTS:
        runs = ", ".join(f"{x:.0f}" for x in per_row[key])
        print(f"| `{key[0]}` | {key[1]} | **{statistics.median(per_row[key]):.0f}** ({runs}) | {sizes[key] / 2**20:.1f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
