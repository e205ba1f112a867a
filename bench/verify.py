"""Speed of the auditors' ``verify`` against the raw read of the same topics.

``python -m bench.verify [--n 10000] [--rounds 2] [--jobs N] [--keep DIR] [--out docs/benchmarks.md]``

One run:

1. starts a fresh single-node Apache Kafka (``deploy.localkafka.LocalKafka``, temporary
   folder, free ports) and creates the project topics;
2. writes a synthetic but realistic history straight to the topics (``audit.synthetic``):
   ``--n`` residential-area lifecycles from registration to recognition, as the three services
   would write them (9 events and 5 inbound messages each, valid hash chains), with a signed
   checkpoint of every producer each 1,000 lifecycles and at the end; and after every 100th
   of them an agency, enterprise or school with its exemplary track as well (``build``'s
   fixed share: 1 % more unit-years, about 2.2 % more events), so that verify's exemplary
   checks are timed too;
3. times the raw read of the same topics with the same reader and no work per record (the
   ceiling): in one process with one consumer, and as ``verify`` reads them, the checkpoints
   first, then the same shares of the partitions in as many worker processes, each with its
   own consumer; then ``python -m audit verify --bootstrap ... --keys ... --json`` as a
   separate process, side by side; verify must find nothing;
4. writes ``bench/results/<timestamp>-verify.json`` with the machine, the command and the
   ratios, and appends a section with the same numbers to ``--out`` (``docs/benchmarks.md``;
   ``--out ''``: none).

The target is at least 50,000 events/s for ``verify`` on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiokafka
from aiokafka import AIOKafkaProducer

from audit.sources import KafkaSource
from audit.synthetic import build, write_keys
from audit.verify import VERIFY_TOPICS, split
from deploy.localkafka import KAFKA_VERSION, PROJECT_TOPICS, LocalKafka, create_topics
from shared.contracts import topics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    mem_kb = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "aiokafka": aiokafka.__version__,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


async def publish(bootstrap: str, records: list[Any]) -> float:
    """Write the records to their topic and partition, in order; return the seconds taken."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        futs = []
        for r in records:
            futs.append(await producer.send(r.topic, r.value, key=r.key, partition=r.partition, headers=list(r.headers)))
            if len(futs) >= 20000:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def raw_read(bootstrap: str) -> dict[str, Any]:
    """The ceiling: the same reader and topics as ``verify``, no work per record."""
    src = KafkaSource(bootstrap)
    t0 = time.perf_counter()
    n = 0
    events = 0
    async for topic, _p, records in src.batches(VERIFY_TOPICS):
        n += len(records)
        if topic.endswith(".events.v1"):
            events += len(records)
    dt = time.perf_counter() - t0
    return {
        "seconds": round(dt, 3),
        "records": n,
        "events": events,
        "events_per_second": round(events / dt),
        "records_per_second": round(n / dt),
    }


def _read_share(bootstrap: str, ranges: list[tuple[str, int, int, int]]) -> int:
    async def run() -> int:
        n = 0
        async for _t, _p, records in KafkaSource(bootstrap).read(ranges):
            n += len(records)
        return n

    return asyncio.run(run())


async def raw_read_shares(bootstrap: str, jobs: int) -> dict[str, Any]:
    """The ceiling of ``verify``'s way of reading: the checkpoint topic in this process, then
    the other topics planned and split as ``verify`` splits them, each share read by a worker
    process with its own consumer, no work per record (the workers' start included, as in
    ``verify``)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    src = KafkaSource(bootstrap)
    n = 0
    async for _t, _p, records in src.batches((topics.CHECKPOINTS,)):
        n += len(records)
    ranges = await src.plan(VERIFY_TOPICS[1:])
    by_key = {(t, p): (t, p, a, b) for t, p, a, b in ranges}
    groups = split({k: r[3] - r[2] for k, r in by_key.items()}, jobs)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        counts = await asyncio.gather(
            *(loop.run_in_executor(pool, _read_share, bootstrap, [by_key[k] for k in g]) for g in groups)
        )
    dt = time.perf_counter() - t0
    n += sum(counts)
    events = sum(b - a for t, _p, a, b in ranges if t in topics.EVENT_TOPICS)
    return {
        "seconds": round(dt, 3),
        "processes": len(groups),
        "records": n,
        "events": events,
        "events_per_second": round(events / dt),
        "records_per_second": round(n / dt),
    }


def run_verify(bootstrap: str, keys: Path, jobs: int | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "audit", "verify", "--bootstrap", bootstrap, "--keys", str(keys), "--json"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    report = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    s = report.get("summary", {})
    return {
        "command": " ".join(["python", "-m", "audit", *cmd[3:]]),
        "exit_status": proc.returncode,
        "wall_seconds": round(wall, 3),
        "seconds": s.get("seconds"),
        "events": s.get("events"),
        "records": s.get("records"),
        "events_per_second": s.get("events_per_second"),
        "events_per_second_wall": round(s.get("events", 0) / wall) if wall else None,
        "errors": s.get("errors"),
        "stderr_tail": proc.stderr.strip().splitlines()[-3:] if proc.returncode not in (0,) else [],
        "findings": [f["code"] for f in report.get("findings", [])][:10],
    }


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (proc.stdout.strip() or "?") + (" + local changes" if dirty else "")


def report_section(result: dict[str, Any], results_file: str) -> str:
    """The markdown section a run appends to ``docs/benchmarks.md``."""
    best = result["best"]
    m = result["machine"]
    when = result["started_at"][:19].replace("T", " ")
    verdict = "target met" if best["target_met"] else "target NOT met"
    lines = [
        f"## Verify run {when} UTC — N = {result['n']:,} — {best['verify_events_per_second']:,} events/s, {verdict}",
        "",
        f"`{result['command']}` on commit {result.get('commit', '?')} ({m['nproc']} cores, {m['cpu_model']}, "
        f"Python {m['python']}, Kafka {m['kafka']}, aiokafka {m['aiokafka']}); load average "
        f"{' / '.join(m['loadavg_at_start'])} at the start, {' / '.join(result.get('loadavg_at_end', ['?']))} at the "
        f"end; {result['records_published']:,} records; raw numbers in `{results_file}`.",
        "",
        "| round | raw read, 1 consumer | raw read, verify's shares | verify | verify ÷ raw | verify ÷ shares read |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    shares = result.get("raw_read_shares") or []
    for i, (raw, ver) in enumerate(zip(result["raw_read"], result["verify"], strict=True)):
        share = shares[i] if i < len(shares) else None
        v = ver["events_per_second"] or 0
        lines.append(
            f"| {i + 1} | {raw['events_per_second']:,} | {share['events_per_second']:,} | {v:,} | "
            f"{v / raw['events_per_second']:.2f} | {v / share['events_per_second']:.2f} |"
            if share
            else f"| {i + 1} | {raw['events_per_second']:,} | – | {v:,} | {v / raw['events_per_second']:.2f} | – |"
        )
    lines += [
        "",
        f"Best verify: **{best['verify_events_per_second']:,} events/s** (its own clock; "
        f"{best['verify_events_per_second_wall']:,} events/s over the whole command, start-up included); "
        f"target {best['target_events_per_second']:,} events/s: **{verdict}**; every verify run exited 0: "
        f"{'yes' if best['verify_clean'] else 'NO'}.",
        "",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.verify", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="lifecycles (default %(default)s)")
    p.add_argument("--jobs", type=int, default=None, help="verify --jobs (default: the tool's default)")
    p.add_argument("--rounds", type=int, default=2, help="raw read and verify, alternately, this many times")
    p.add_argument("--keep", metavar="DIR", help="keep the broker's folder here (default: a temporary one)")
    p.add_argument(
        "--out",
        default=str(ROOT / "docs" / "benchmarks.md"),
        help="markdown report to append a section to (default docs/benchmarks.md; '' for none)",
    )
    args = p.parse_args(argv)

    machine = machine_info()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="antt-bench-verify-"))
    kafka = LocalKafka(work / "kafka")
    result: dict[str, Any] = {
        "benchmark": "verify",
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine,
        "command": "python -m bench.verify " + " ".join(argv or sys.argv[1:]),
        "n": args.n,
        "commit": _commit(),
    }
    try:
        t0 = time.perf_counter()
        history = build(args.n)
        records = history.records()
        result["build_seconds"] = round(time.perf_counter() - t0, 2)
        keys = work / "keys"
        write_keys(keys, history.public_keys())
        kafka.start()
        asyncio.run(create_topics(kafka.bootstrap, PROJECT_TOPICS))
        result["publish_seconds"] = round(asyncio.run(publish(kafka.bootstrap, records)), 2)
        result["records_published"] = len(records)
        jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
        raws, shares, verifies = [], [], []
        for _ in range(args.rounds):
            raws.append(asyncio.run(raw_read(kafka.bootstrap)))
            if jobs > 0:
                shares.append(asyncio.run(raw_read_shares(kafka.bootstrap, jobs)))
            verifies.append(run_verify(kafka.bootstrap, keys, args.jobs))
        raw = max(raws, key=lambda r: r["events_per_second"])
        ver = max(verifies, key=lambda r: r["events_per_second"] or 0)
        share = max(shares, key=lambda r: r["events_per_second"]) if shares else None
        result.update(
            loadavg_at_end=Path("/proc/loadavg").read_text().split()[:3],
            raw_read=raws,
            raw_read_shares=shares,
            verify=verifies,
            best={
                "raw_events_per_second": raw["events_per_second"],
                "raw_shares_events_per_second": share["events_per_second"] if share else None,
                "verify_events_per_second": ver["events_per_second"],
                "verify_events_per_second_wall": ver["events_per_second_wall"],
                "ratio_verify_to_raw": round(ver["events_per_second"] / raw["events_per_second"], 3),
                "ratio_verify_to_raw_shares": round(ver["events_per_second"] / share["events_per_second"], 3) if share else None,
                "ratio_verify_wall_to_raw": round(ver["events_per_second_wall"] / raw["events_per_second"], 3),
                "target_events_per_second": 50000,
                "target_met": (ver["events_per_second"] or 0) >= 50000,
                "verify_clean": all(v["exit_status"] == 0 for v in verifies),
            },
        )
    finally:
        kafka.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-verify.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["best"], indent=2))
    print(f"written {out.relative_to(ROOT)}")
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n" + report_section(result, str(out.relative_to(ROOT))))
        print(f"appended a section to {args.out}")
    return 0 if result["best"]["verify_clean"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
