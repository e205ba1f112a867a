"""Run the whole system locally: Apache Kafka (KRaft), the topics, and the three services.

``python -m deploy.run`` (what ``make run`` does). Embedded defaults: a single-node Kafka
under ``var/kafka`` on 127.0.0.1:9092 and one SQLite database per service under ``var/``.
Ctrl-C stops the services, then Kafka. ``--postgres`` uses a local PostgreSQL instead
(one database per service, under ``var/pg``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from deploy.localkafka import PROJECT_TOPICS, LocalKafka, create_topics
from deploy.processes import ROOT, SERVICES, make_services


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kafka-port", type=int, default=9092)
    ap.add_argument("--var", default=str(ROOT / "var"), help="folder for data and logs (default: var/)")
    ap.add_argument("--postgres", action="store_true", help="use a local PostgreSQL 15 instead of SQLite")
    ap.add_argument("--pg-port", type=int, default=5433)
    args = ap.parse_args(argv)

    from pathlib import Path

    var = Path(args.var)
    var.mkdir(parents=True, exist_ok=True)
    stop_requested = False

    def _request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    print(f"starting Apache Kafka on 127.0.0.1:{args.kafka_port} (data in {var / 'kafka'}) ...", flush=True)
    kafka = LocalKafka(var / "kafka", port=args.kafka_port)
    pg = None
    services = {}
    try:
        kafka.start()
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        print(f"kafka ready at {kafka.bootstrap}", flush=True)
        urls: dict[str, str | None] = {name: f"sqlite+aiosqlite:///{var.resolve() / (name + '.db')}" for name in SERVICES}
        if args.postgres:
            from deploy.localpg import LocalPostgres

            pg = LocalPostgres(var / "pg", port=args.pg_port)
            pg.start()
            for name in SERVICES:
                pg.create_database(f"antt_{name}")
                urls[name] = pg.dsn(f"antt_{name}")
            print(f"postgresql ready on 127.0.0.1:{args.pg_port}", flush=True)
        services = make_services(kafka_bootstrap=kafka.bootstrap, database_urls=urls, log_dir=var / "logs")
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready(timeout=90)
            print(f"{svc.name:<13} {svc.url}  (API docs {svc.url}/docs, log {svc.log_path})", flush=True)
        console = services["approval"].url + "/console/"
        print(
            f"\nadministrators' console: {console}  (development sign-in: the named officials of deploy/config/api_tokens.json)",
            flush=True,
        )
        print("ANTT system running. Ctrl-C to stop.", flush=True)
        while not stop_requested:
            for svc in services.values():
                if not svc.running():
                    print(f"{svc.name} exited unexpectedly; see {svc.log_path}:\n{svc.tail()}", file=sys.stderr)
                    stop_requested = True
            time.sleep(0.5)
    finally:
        print("stopping ...", flush=True)
        for svc in services.values():
            svc.stop()
        kafka.stop()
        if pg is not None:
            pg.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
