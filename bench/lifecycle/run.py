"""The command line and the orchestration of one run (``python -m bench.lifecycle``).

The order of the phases is part of the measurement: the raw baseline runs on the fresh broker
before the services start; the lifecycle phase alone is timed and its CPU counted; the audit
reads the history back after the relays are idle and every consumer group has caught up;
peak RSS is read while the processes still run; and the peer runs only after the broker and
the services are stopped, so nothing competes with it for the cores. See
:mod:`bench.lifecycle` for what each phase does and the checks a run must pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench.lifecycle as package
from bench.lifecycle.baseline import raw_baseline
from bench.lifecycle.checks import (
    AUDITED_TOPICS,
    checks,
    end_offsets_total,
    group_deliveries,
    settle,
    stats,
)
from bench.lifecycle.driver import BenchDriver, Stalled
from bench.lifecycle.hops import hop_delays
from bench.lifecycle.peer import DEFAULT_RUNNERS, parse_runners, run_peers
from bench.lifecycle.peer import ratios as peer_ratios
from bench.lifecycle.population import population
from bench.lifecycle.profiling import (
    ProcCpu,
    Profiler,
    SqlCounter,
    consumer_transactions,
    cpu_snapshot,
    peak_rss_snapshot,
    total_cpu_busy,
)
from bench.lifecycle.report import (
    DEFAULT_OUT,
    RESULTS_DIR,
    git_revision,
    machine_info,
    percentile,
    print_summary,
    write_report,
)
from deploy.driver import audit_records
from deploy.localkafka import KAFKA_VERSION, PROJECT_TOPICS, LocalKafka, create_topics
from deploy.ports import free_ports
from deploy.processes import SERVICES, ServiceProcess, make_services
from shared.contracts import topics
from shared.infra.kafka import read_to_end


def postmaster_pid(pg: Any) -> int | None:
    try:
        return int((pg.cluster_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


async def _freeze_what_piles_up(every_s: float = 0.5) -> None:
    """Keep what the client has read out of the cyclic collector's reach while it drives.

    The client keeps every event it reads (the checks read them at the end): some 90,000
    envelopes at N = 10,000. Each full collection walked all of them again, a tenth of a second
    and more each time, growing with the run (``gc.callbacks``: 13 full collections, 1.3 s, in
    an N = 3,000 run), on the same two cores as the services; with this, the client's CPU in
    the lifecycle phase went from 0.94 to 0.62 ms per lifecycle at N = 10,000. ``gc.freeze``
    moves what is alive to the permanent generation in constant time; the phase ends with
    ``gc.unfreeze``.
    """
    while True:
        await asyncio.sleep(every_s)
        gc.freeze()


async def lifecycle_phase(
    args: argparse.Namespace,
    bootstrap: str,
    services: dict[str, ServiceProcess],
    result: dict[str, Any],
    cpu_probe: Callable[[], dict[str, float]],
    profiler: Profiler | None,
    sql: SqlCounter | None = None,
) -> None:
    specs = population(args.n, uuid.uuid4().hex[:4].upper())
    result["_specs"] = [s.unit_year_id for s in specs]
    driver = BenchDriver(specs, inflight=args.inflight, window=args.window, bootstrap=bootstrap)
    offsets_before = await end_offsets_total(bootstrap, PROJECT_TOPICS)
    deliveries_before = await group_deliveries(bootstrap)
    lc: dict[str, Any] = {}
    result["lifecycle"] = lc
    await driver.client.start()
    try:
        if profiler:
            profiler.start()
        if sql:
            sql.start(services)
        cpu0, busy0 = cpu_probe(), total_cpu_busy()[0]
        t0 = time.monotonic()
        error: BaseException | None = None
        freezer = asyncio.create_task(_freeze_what_piles_up())
        try:
            await driver.run(services=services, stall_timeout=args.stall_timeout, progress=not args.quiet)
        except Stalled as exc:
            error = exc
        finally:
            freezer.cancel()
            gc.unfreeze()
        t_end = max(driver.recognized.values()) if driver.recognized else time.monotonic()
        cpu1, busy1 = cpu_probe(), total_cpu_busy()[0]
        if profiler:
            result["profile"] = profiler.stop()
        first = driver.client.first_send or t0
        wall = t_end - first
        lat = driver.latencies()
        done = len(driver.recognized)
        lc.update(
            {
                "completed": done,
                "wall_s": round(wall, 3),
                "lifecycles_per_s": round(done / wall, 2) if wall > 0 else 0.0,
                "latency_p50_s": round(percentile(lat, 0.50), 4),
                "latency_p90_s": round(percentile(lat, 0.90), 4),
                "latency_p99_s": round(percentile(lat, 0.99), 4),
                "latency_max_s": round(lat[-1], 4) if lat else float("nan"),
                "latency_min_s": round(lat[0], 4) if lat else float("nan"),
                "inbound_sent": driver.client.sent,
                "inbound_per_lifecycle": round(driver.client.sent / max(1, done), 3),
                "inbound_bytes_avg": round(driver.client.bytes_sent / max(1, driver.client.sent), 1),
                "events_seen_by_client": dict(sorted(driver.events_by_type.items())),
                "anomalies": dict(driver.anomalies),
                "anomaly_examples": driver.anomaly_examples,
                "client_duplicate_event_ids": sum(1 for v in driver.client.seen_ids.values() if v > 1),
                "client_dead_letters": len(driver.client.dead_letters),
                "inflight": driver.inflight,
            }
        )
        wall_cpu = max(1e-9, time.monotonic() - t0)
        result["cpu_lifecycle_phase"] = {
            "wall_s": round(wall_cpu, 2),
            "per_process": {k: round(cpu1[k] - cpu0.get(k, 0.0), 2) for k in cpu1},
            "machine_busy_s": round(busy1 - busy0, 2),
        }
        if error is not None:
            raise error
    finally:
        await driver.client.stop()
    # let the relays publish the last closing events (AssessmentClosed) before the audit
    lc["consumer_lag_after_settle"] = await settle(bootstrap, timeout=60)
    if sql:
        # after the settle, so that the consumers trailing the last recognition are counted too
        result["sql_counts"] = sql.stop(services, lc["completed"])
    offsets_after = await end_offsets_total(bootstrap, PROJECT_TOPICS)
    written = sum(offsets_after.values()) - sum(offsets_before.values())
    deliveries_after = await group_deliveries(bootstrap)
    delivered = sum(deliveries_after.values()) - sum(deliveries_before.values())
    lc["records_written_by_topic"] = {t: offsets_after.get(t, 0) - offsets_before.get(t, 0) for t in PROJECT_TOPICS}
    lc["records_per_lifecycle"] = round(written / max(1, lc["completed"]), 3)
    lc["deliveries_by_group"] = {g: deliveries_after[g] - deliveries_before.get(g, 0) for g in deliveries_after}
    lc["deliveries_per_lifecycle"] = round(delivered / max(1, lc["completed"]), 3)
    if any(lc["consumer_lag_after_settle"].values()):
        print(f"bench: consumer groups still lagging 60 s after the run: {lc['consumer_lag_after_settle']}", flush=True)


async def audit_phase(bootstrap: str) -> tuple[Any, dict[str, int], dict[str, Any]]:
    """The audit of the history, the records the broker holds (taken just before reading) and
    the hop delays (``bench.lifecycle.hops``, which needs the inbound topic too)."""
    ends = await end_offsets_total(bootstrap, AUDITED_TOPICS)
    records = await read_to_end(bootstrap, (*AUDITED_TOPICS, topics.INBOUND))
    audited = [r for r in records if r.topic != topics.INBOUND]
    return audit_records(audited), ends, hop_delays(r for r in records if not r.topic.endswith(".dlq"))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.lifecycle", description=package.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10000, help="unit-years to drive through the lifecycle (default 10000)")
    ap.add_argument("--postgres", action="store_true", help="one fresh PostgreSQL database per service instead of SQLite")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="markdown report to append to (default docs/benchmarks.md)")
    ap.add_argument(
        "--raw-m", type=int, default=100000, help="messages in the raw aiokafka baseline (default 100000; 0 skips it)"
    )
    ap.add_argument(
        "--inflight",
        type=int,
        default=2000,
        help="unit-years in progress at once (0 = all N at once; default 2000; 10 measures the latency without queueing)",
    )
    ap.add_argument("--window", type=int, default=2000, help="unacknowledged inbound sends at most (default 2000)")
    ap.add_argument("--stall-timeout", type=float, default=120, help="fail when no event arrives for this long (s)")
    ap.add_argument("--profile", action="store_true", help="attach py-spy to each service during the lifecycle phase")
    ap.add_argument(
        "--count-sql",
        action="store_true",
        help="count each service's SQL statements and transactions (a sitecustomize hook; slower)",
    )
    ap.add_argument("--profile-rate", type=int, default=67, help="py-spy samples per second (default 67)")
    ap.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (py-spy --gil), so that a thread "
        "waiting for it does not count as working",
    )
    ap.add_argument(
        "--peer-runners",
        type=parse_runners,
        default=list(DEFAULT_RUNNERS),
        help="runners of the eventsourcing peer, run after the broker and services are stopped (default multi; e.g. single,multi)",
    )
    ap.add_argument("--no-peer", action="store_true", help="do not run the eventsourcing peer")
    ap.add_argument("--note", default="", help="a note to print in the report section")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (broker data, databases, logs)")
    ap.add_argument("--no-report", action="store_true", help="print the results only; write neither the doc nor the JSON")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m bench.lifecycle" + ("" if not given else " " + shlex.join(given))
    result: dict[str, Any] = {
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
        "revision": git_revision(),
        "n": args.n,
        "database": "PostgreSQL" if args.postgres else "SQLite",
        "settings": {
            "inflight": args.inflight or args.n,
            "window": args.window,
            "raw_m": args.raw_m,
            "profile": args.profile,
            "count_sql": args.count_sql,
            "peer_runners": [] if args.no_peer else args.peer_runners,
        },
        "note": args.note,
        "machine": machine_info(args.postgres),
        "raw_baseline": {},
        "lifecycle": {},
        "ratios": {},
        "ok": False,
    }
    work = Path(tempfile.mkdtemp(prefix="antt-bench-"))
    print(f"bench: N={args.n}, {result['database']}, work folder {work}", flush=True)
    kafka = LocalKafka(work / "kafka")
    pg = None
    kafka_pid: int | None = None
    pg_pid: int | None = None
    services: dict[str, ServiceProcess] = {}
    failed = True
    project_done = False
    try:
        t = time.monotonic()
        kafka.start()
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        kafka_pid = int((kafka.data_dir / "kafka.pid").read_text())
        print(f"bench: Kafka {KAFKA_VERSION} ready at {kafka.bootstrap} ({time.monotonic() - t:.1f}s)", flush=True)

        if args.raw_m > 0:
            print(f"bench: raw baseline, {args.raw_m:,} messages ...", flush=True)
            k0 = ProcCpu.of(kafka_pid)
            raw = asyncio.run(raw_baseline(kafka.bootstrap, args.raw_m, window=args.window * 5))
            raw["kafka_cpu_s"] = round(ProcCpu.of(kafka_pid) - k0, 2)
            result["raw_baseline"] = raw
            print(
                f"bench: raw {raw['msgs_per_s']:,.0f} msgs/s end to end (produce {raw['produce_msgs_per_s']:,.0f} msgs/s)",
                flush=True,
            )

        urls: dict[str, str | None] = {}
        if args.postgres:
            from deploy.localpg import LocalPostgres

            pg_dir = Path(tempfile.mkdtemp(prefix="antt-bench-pg-"))
            pg = LocalPostgres(pg_dir)
            pg.start()
            for name in SERVICES:
                pg.create_database(f"antt_{name}")
                urls[name] = pg.dsn(f"antt_{name}")
        else:
            for name in SERVICES:
                urls[name] = f"sqlite+aiosqlite:///{work / 'db' / f'{name}.db'}"
        ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        sql = SqlCounter(work) if args.count_sql else None
        services = make_services(kafka_bootstrap=kafka.bootstrap, database_urls=urls, ports=ports, log_dir=work / "logs")
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready(timeout=120)
        print(f"bench: services ready ({', '.join(f'{n} pid {s.proc.pid}' for n, s in services.items() if s.proc)})", flush=True)

        pg_pid = postmaster_pid(pg) if pg is not None else None
        profiler = Profiler(services, RESULTS_DIR, stamp, args.profile_rate, gil=args.profile_gil) if args.profile else None
        print(
            f"bench: driving {args.n:,} unit-years through the lifecycle, at most {args.inflight or args.n:,} at once ...",
            flush=True,
        )
        try:
            asyncio.run(
                lifecycle_phase(
                    args, kafka.bootstrap, services, result, lambda: cpu_snapshot(kafka_pid, services, pg_pid), profiler, sql
                )
            )
        except Stalled as exc:
            result["error"] = str(exc)
            print(f"bench: STALLED: {exc}", file=sys.stderr, flush=True)

        print("bench: auditing the topics from offset 0 ...", flush=True)
        expected = result.pop("_specs", [])
        aud, ends, hops = asyncio.run(audit_phase(kafka.bootstrap))
        lc = result["lifecycle"]
        lc["hops"] = hops
        result["checks"] = checks(aud, expected, lag=lc.get("consumer_lag_after_settle"), end_offsets=ends)
        st = stats(aud)
        lc["events_per_lifecycle"] = round(st["events_total"] / max(1, lc.get("completed", 0)), 3)
        lc["events_by_type"] = st["events_by_type"]
        lc["avg_event_bytes"] = st["avg_event_bytes"]
        raw = result["raw_baseline"]
        lps = lc.get("lifecycles_per_s", 0.0)
        if raw.get("msgs_per_s"):
            rpl = lc.get("records_per_lifecycle", 0.0)
            result["ratios"] = {
                "lifecycles_per_raw_msg": round(lps / raw["msgs_per_s"], 6),
                "kafka_bound_lifecycles_per_s": round(raw["msgs_per_s"] / rpl, 1) if rpl else 0.0,
                "fraction_of_kafka_bound": round(lps * rpl / raw["msgs_per_s"], 4),
            }
        result["ok"] = "error" not in result and lc.get("completed") == args.n and all(c["ok"] for c in result["checks"].values())
        failed = not result["ok"]
        project_done = True
    except KeyboardInterrupt:
        result["_interrupted"] = True
        raise
    except BaseException as exc:
        result.setdefault("error", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if services:
            # VmHWM is the high-water mark over each process's life: read it before stopping them
            result["peak_rss_mb"] = peak_rss_snapshot(kafka_pid, services, pg_pid)
            result["consumer_transactions"] = consumer_transactions(services)
        result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        for svc in services.values():
            svc.stop()
        kafka.stop()
        if pg is not None:
            pg.stop()
        if project_done:
            run_the_peer(args, result, work)
        if not args.no_report and not result.get("_interrupted") and (result.get("lifecycle") or result.get("error")):
            json_path = write_report(result, Path(args.out), stamp)
            print(f"bench: report appended to {args.out}; raw numbers in {json_path}", flush=True)
        if failed or args.keep:
            print(f"bench: work folder kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
            if pg is not None:
                shutil.rmtree(pg.data_dir, ignore_errors=True)

    print_summary(result)
    return 0 if result["ok"] else 1


def run_the_peer(args: argparse.Namespace, result: dict[str, Any], work: Path) -> None:
    """The eventsourcing peer on the same N and in-flight bound, once nothing else runs."""
    if args.no_peer:
        return
    if not result["ok"]:
        result["peer_skipped"] = "the project's run failed, so there is no figure to compare with"
        return
    peers = run_peers(
        args.n, args.peer_runners, work / "peer", inflight=args.inflight, timeout=max(900.0, args.n * 0.5), quiet=args.quiet
    )
    result["peer"] = peers
    result["ratios"]["project_per_peer"] = peer_ratios(result["lifecycle"].get("lifecycles_per_s", 0.0), peers)
    result["peer_ok"] = all("error" not in p and p.get("ok") for p in peers.values())


if __name__ == "__main__":
    raise SystemExit(main())
