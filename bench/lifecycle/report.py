"""What a run leaves behind: a section of ``docs/benchmarks.md`` (or ``--out``), the raw
numbers in ``bench/results/<timestamp>.json`` and a summary on the terminal.

Rendering works from the result dict alone, so a section can be rendered again from any
stored JSON (the unit tests do so), including the JSON of runs made before a key existed:
every key added later (the peer, peak RSS, the lag check) is optional here. Keys are only
ever added to the JSON, never removed or renamed, so older results stay comparable.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiokafka

from deploy.localkafka import KAFKA_VERSION
from deploy.processes import ROOT

RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"

DOC_HEADER = """\
# Benchmarks

## How to run

```
.venv/bin/python -m bench.lifecycle                        # N = 10,000 unit-years, SQLite (~9 min here)
.venv/bin/python -m bench.lifecycle --n 500                # a quick run
.venv/bin/python -m bench.lifecycle --postgres             # one PostgreSQL database per service
.venv/bin/python -m bench.lifecycle --n 2000 --profile     # py-spy on each service (pip install py-spy; slower)
.venv/bin/python -m bench.lifecycle --n 2000 --count-sql   # SQL statements per lifecycle (slower)
.venv/bin/python -m bench.lifecycle --n 300 --inflight 10  # latency of one lifecycle without queueing
```

Other options: `--raw-m` (messages in the raw baseline, default 100,000), `--inflight`
(unit-years in progress at once, default 2,000),
`--window` (unacknowledged inbound sends, default 2,000), `--stall-timeout`, `--peer-runners`
(the eventsourcing peer's runners, default `multi`; e.g. `single,multi`), `--no-peer`, `--keep`
(keep the temporary folder with the services' logs), `--out`. A run exits 1 when a check
fails, when no event arrives for `--stall-timeout` seconds, or when a valid inbound message
is dead-lettered.

Each run starts its own Apache Kafka broker (fresh temporary folder, free ports), the project
topics and the three services as processes on fresh databases, then:

- **raw baseline** on the same broker, before the services start: M messages of about 1 KB of
  JSON, produced with an idempotent `acks=all` producer to a fresh 6-partition topic and
  consumed concurrently by a consumer group that commits after every batch. *raw msgs/s* is
  M divided by the time from the first send to the last commit.
- **lifecycle phase**: N unit-years (residential areas in a few communes of two provinces, and
  agencies managed at commune or province level, all for 2025, valid documents) driven from
  registration to recognition by a client that reacts to the services' events as an external
  system would (self-assessment with every criterion met on `AssessmentOpened`, a `pass`
  decision at `payload.pending_level` on `UnitYearSelfScored` and `UnitYearReviewed`).
  Inbound messages are signed, keyed by the unit code and sent through a bounded pipeline;
  at most `--inflight` unit-years are in progress at once. *Latency* is the time from handing
  `UnitYearRegistrationSubmitted` to the producer to seeing `UnitYearRecognized`;
  *lifecycles/s* is N divided by the time from the first send to the last recognition.
- **checks** (the run exits 1 if one fails): every unit-year recognised exactly once; no
  event_id twice on any event topic (read again from offset 0 by a fresh consumer); every
  (stream_id, producer) sequence is exactly 1..k and its hash chain verifies; the DLQs are
  empty; every consumer group of the services is at zero lag once the relays are idle; the
  audit read every record the broker holds on those topics.
- **peak RSS**: each process's resident-memory high-water mark (`VmHWM` in /proc), read just
  before the processes are stopped.
- **peer** (after the broker and the services are stopped, so nothing competes for the
  cores): the same N unit-years, steps, payloads and in-flight bound through a peer built with
  the Python `eventsourcing` library (`bench/peer_eventsourcing.py`). The peer runs in one
  process, without Kafka: its three applications are objects in that process and the
  library's runner moves the events between them through SQLite. It does much less than the
  project (no broker, no signed inbound messages, no hash chains, no relays, no replicas), so
  *project ÷ peer* is what the distributed design costs, not a like-for-like contest.

*Kafka records per lifecycle* counts every record written to the project topics (inbound
messages, events, dead letters) during the lifecycle phase, divided by N. The second ratio
below, lifecycles/s ÷ (raw msgs/s ÷ records per lifecycle), is the fraction of the
throughput that the broker and the Python Kafka client alone would allow for that many
records per lifecycle.

Raw numbers of every run are in `bench/results/<timestamp>.json`.
"""


def machine_info(postgres: bool) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "?")
    mhz = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("cpu MHz")), None)
    mem_kb = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    info = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model + (f" @ {float(mhz):.0f} MHz" if mhz else ""),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # which build: a distribution's (PGO and LTO) and a version manager's differ by ~13 %
        "python_executable": os.path.realpath(sys.executable),
        "kafka": KAFKA_VERSION,
        "aiokafka": aiokafka.__version__,
        "sqlite": sqlite3.sqlite_version,
        "java": _first_line([shutil.which("java") or "java", "-version"], stderr=True),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    if postgres:
        from deploy.localpg import find_bin_dir

        info["postgresql"] = _first_line([str(find_bin_dir() / "postgres"), "--version"])
    return info


def _first_line(cmd: list[str], stderr: bool = False) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (r.stderr if stderr else r.stdout) or r.stdout or r.stderr
    return text.strip().splitlines()[0] if text.strip() else "?"


def git_revision() -> str:
    """HEAD, plus a digest of uncommitted changes to the code under test, if any."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "services", "shared", "deploy"], cwd=ROOT, capture_output=True, check=False
        ).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "services", "shared", "deploy"],
            cwd=ROOT,
            capture_output=True,
            check=False,
        ).stdout
    except OSError:
        return "?"
    if not rev:
        return "(not a git checkout)"
    if not diff and not untracked:
        return rev
    import hashlib

    digest = hashlib.sha256(diff + untracked).hexdigest()[:10]
    return f"{rev} + uncommitted changes to services/shared/deploy (diff sha256 {digest})"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def fmt_s(v: float) -> str:
    return f"{v:.2f} s" if v >= 1 else f"{v * 1000:.0f} ms"


def render_section(r: dict[str, Any]) -> str:
    m = r["machine"]
    lc = r["lifecycle"]
    raw = r["raw_baseline"]
    ratios = r["ratios"]
    checks = r.get("checks", {})
    status = "PASSED" if r["ok"] else "FAILED"
    lines = [
        f"## Run {r['started_at']} — N = {r['n']:,}, {r['database']} — checks {status}",
        "",
        f"- Command: `{r['command']}`",
        f"- Date (UTC): {r['started_at']}; revision {r['revision']}",
        (
            f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
            f"load average before the run {' / '.join(m['loadavg_at_start'])}"
        ),
        f"- Software: Python {m['python']}"
        + (f" ({m['python_executable']})" if "python_executable" in m else "")
        + f", Apache Kafka {m['kafka']} (single node, KRaft; {m['java']}), "
        f"aiokafka {m['aiokafka']}, SQLite {m['sqlite']}" + (f", {m['postgresql']}" if "postgresql" in m else ""),
        f"- Settings: in-flight unit-years {r['settings']['inflight']:,}, send window {r['settings']['window']:,} "
        f"unacknowledged messages, raw baseline M = {raw.get('messages', 0):,}"
        + (", **py-spy attached to the services (slower)**" if r["settings"]["profile"] else "")
        + (", **SQL statement counting hook in the services (slower)**" if r["settings"].get("count_sql") else "")
        + (
            f", eventsourcing peer runners {', '.join(r['settings']['peer_runners'])}"
            if r["settings"].get("peer_runners")
            else ""
        ),
    ]
    if r.get("peer_skipped"):
        lines.append(f"- Peer: skipped ({r['peer_skipped']})")
    if r.get("note"):
        lines.append(f"- Note: {r['note']}")
    lines += [
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| unit-years completed | {lc.get('completed', 0):,} of {r['n']:,} |",
        f"| wall time, first send → last recognition | {lc.get('wall_s', float('nan')):.1f} s |",
        f"| **completed lifecycles/s** | **{lc.get('lifecycles_per_s', 0):.1f}** |",
        f"| lifecycle latency p50 / p99 / max | {fmt_s(lc.get('latency_p50_s', 0))} / {fmt_s(lc.get('latency_p99_s', 0))} / {fmt_s(lc.get('latency_max_s', 0))} |",
        f"| events per lifecycle (event topics) | {lc.get('events_per_lifecycle', 0):.2f} |",
        f"| inbound messages per lifecycle | {lc.get('inbound_per_lifecycle', 0):.2f} |",
        f"| Kafka records written per lifecycle (all project topics) | {lc.get('records_per_lifecycle', 0):.2f} |",
        f"| record deliveries to the services' consumer groups per lifecycle | {lc.get('deliveries_per_lifecycle', 0):.2f} |",
        f"| average event size | {lc.get('avg_event_bytes', 0):,.0f} bytes |",
        f"| raw aiokafka baseline, produce + consume + commit ({raw.get('avg_message_bytes', 0):.0f}-byte messages) | **{raw.get('msgs_per_s', 0):,.0f} msgs/s** (produce alone {raw.get('produce_msgs_per_s', 0):,.0f} msgs/s) |",
        f"| lifecycles/s ÷ raw msgs/s | {ratios.get('lifecycles_per_raw_msg', 0):.4f} |",
        f"| lifecycles/s ÷ (raw msgs/s ÷ records per lifecycle) | {ratios.get('fraction_of_kafka_bound', 0):.3f} ({100 * ratios.get('fraction_of_kafka_bound', 0):.1f} % of the Kafka-bound rate, {ratios.get('kafka_bound_lifecycles_per_s', 0):,.0f} lifecycles/s) |",
        f"| target 1,000 lifecycles/s | {'met' if lc.get('lifecycles_per_s', 0) >= 1000 else 'not met'} ({lc.get('lifecycles_per_s', 0) / 1000:.0%} of it) |",
        "",
    ]
    cpu = r.get("cpu_lifecycle_phase")
    if cpu:
        lines += [
            "CPU time used during the lifecycle phase (user + system, all threads):",
            "",
            "| process | CPU s | CPU ms per lifecycle | share of the 2-core budget |",
            "| --- | ---: | ---: | ---: |",
        ]
        budget = cpu["wall_s"] * m["nproc"]
        for name, sec in cpu["per_process"].items():
            lines.append(
                f"| {name} | {sec:.1f} | {1000 * sec / max(1, lc.get('completed', 1)):.2f} | {100 * sec / budget:.0f} % |"
            )
        ours = sum(v for k, v in cpu["per_process"].items() if ":" not in k)
        other = cpu["machine_busy_s"] - ours
        lines.append(f"| other processes on the machine | {other:.1f} | – | {100 * other / budget:.0f} % |")
        lines.append(
            f"| whole machine (busy) | {cpu['machine_busy_s']:.1f} | {1000 * cpu['machine_busy_s'] / max(1, lc.get('completed', 1)):.2f} | {100 * cpu['machine_busy_s'] / budget:.0f} % |"
        )
        lines.append("")
    from bench.lifecycle.hops import render_hops  # it uses this module's percentile

    lines += render_hops(lc.get("hops") or {})
    lines += render_peak_rss(r)
    lines += render_transactions(r)
    lines += render_peer(r)
    if checks:
        lines += ["Checks:", ""]
        for name, c in checks.items():
            detail = {k: v for k, v in c.items() if k not in ("ok", "examples") and v not in ([], {}, None)}
            lines.append(
                f"- {'ok' if c['ok'] else '**FAILED**'} {name.replace('_', ' ')}: {json.dumps(detail, ensure_ascii=False)}"
            )
            if not c["ok"] and c.get("examples"):
                for ex in c["examples"][:5]:
                    lines.append(f"  - {ex}")
        lines.append("")
    lag = lc.get("consumer_lag_after_settle") or {}
    if any(lag.values()):
        lines += [f"Consumer groups still lagging 60 s after the last recognition: {json.dumps(lag)}", ""]
    if lc.get("anomalies"):
        lines += ["Client observations: " + json.dumps(lc["anomalies"], ensure_ascii=False), ""]
    if r.get("error"):
        lines += ["Run error:", "", "```", r["error"][:3000], "```", ""]
    sqlc = r.get("sql_counts")
    if sqlc:
        lines += [
            "SQL per completed lifecycle (SQLAlchemy engine events, from the first send until every consumer group is idle):",
            "",
            "| service | statements | savepoints | most frequent statements (per lifecycle) |",
            "| --- | ---: | ---: | --- |",
        ]
        for svc, c in sqlc.items():
            top = "; ".join(f"`{k[:60]}` ×{v}" for k, v in c["top_statements_per_lifecycle"][:6])
            lines.append(f"| {svc} | {c['statements_per_lifecycle']} | {c['savepoints_per_lifecycle']} | {top} |")
        lines.append("")
    prof = r.get("profile")
    if prof:
        lines += ["Profile (py-spy, % of the service's samples):", ""]
        for svc, p in prof.items():
            if "error" in p:
                lines.append(f"- {svc}: {p['error']}")
                continue
            b = ", ".join(f"{k} {v}%" for k, v in p["categories"] if v >= 1)
            s = ", ".join(f"`{k}` {v}%" for k, v in p["self_functions"][:6])
            lines.append(f"- **{svc}** ({p['busy_samples']} busy samples, `{p['file']}`): {b}. Top self: {s}.")
        lines.append("")
    return "\n".join(lines)


def project_cpu_ms_per_lifecycle(r: dict[str, Any]) -> float | None:
    """CPU of every process of the project's run (broker, services, client) per lifecycle."""
    cpu = r.get("cpu_lifecycle_phase") or {}
    done = (r.get("lifecycle") or {}).get("completed") or 0
    if not cpu.get("per_process") or not done:
        return None
    return 1000 * sum(v for k, v in cpu["per_process"].items() if ":" not in k) / done


def render_peak_rss(r: dict[str, Any]) -> list[str]:
    rss = r.get("peak_rss_mb")
    if not rss:
        return []
    lines = [
        "Peak resident memory of each process (VmHWM, its high-water mark over the run, read before it was stopped):",
        "",
        "| process | peak RSS |",
        "| --- | ---: |",
    ]
    for name, mb in rss.items():
        lines.append(f"| {name} | {mb:,.0f} MiB |")
    services = [mb for name, mb in rss.items() if name in SERVICE_NAMES]
    if services:
        lines.append(f"| the three services together | {sum(services):,.0f} MiB |")
    lines.append("")
    return lines


def render_transactions(r: dict[str, Any]) -> list[str]:
    """The services' committed consumer transactions beside the deliveries they read."""
    txns = r.get("consumer_transactions")
    if not txns:
        return []
    deliveries = (r.get("lifecycle") or {}).get("deliveries_by_group") or {}
    lines = [
        "Consumer transactions (committed, from each service's `/metrics`) and the records delivered to it; "
        "a batch whose records the service does not own commits nothing and is not counted:",
        "",
        "| service | topic | transactions | records delivered | records per transaction |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for service, by_topic in txns.items():
        for topic, n in sorted(by_topic.items()):
            got = deliveries.get(f"antt-{service}.{topic}")
            per = f"{got / n:,.0f}" if got and n else "–"
            lines.append(f"| {service} | {topic} | {n:,} | {got or 0:,} | {per} |")
    lines.append("")
    return lines


#: the project's service processes (in the peak RSS table)
SERVICE_NAMES = ("registration", "assessment", "approval")


def peer_rss(p: dict[str, Any]) -> str:
    """The peer's own peak RSS: its VmHWM polled from /proc (``bench.lifecycle.peer``); the
    figure it measures itself (ru_maxrss) includes its parent's when run under the benchmark."""
    if p.get("peak_rss_vmhwm_mb") is not None:
        return f"{p['peak_rss_vmhwm_mb']:,.0f} MiB"
    if p.get("peak_rss_mb") is not None:
        return f"{p['peak_rss_mb']:,.0f} MiB (ru_maxrss)"
    return "–"


def render_peer(r: dict[str, Any]) -> list[str]:
    """The project's figure beside the eventsourcing peer's and the raw Kafka ceiling."""
    peers = r.get("peer")
    if not peers:
        return []
    lc, ratios, raw = r["lifecycle"], r.get("ratios", {}), r.get("raw_baseline", {})
    lps = lc.get("lifecycles_per_s", 0) or 0
    rss = r.get("peak_rss_mb") or {}
    svc_rss = sum(mb for name, mb in rss.items() if name in SERVICE_NAMES)
    cpu_ms = project_cpu_ms_per_lifecycle(r)
    intro = (
        "The project beside the peer and the ceiling. The peer (`bench/peer_eventsourcing.py`, the same N unit-years, steps, "
        "payloads and in-flight bound with the Python `eventsourcing` library) ran after the broker and the services "
        "were stopped, so nothing competed with it for the cores. **The peer runs in one process, without Kafka**: "
        "its three applications are objects in that process and the library's runner moves the events between them "
        "through SQLite tables, so it does much less than the project (no broker, no signed inbound messages, no hash "
        "chains, no relays, no replicas). The raw aiokafka baseline, divided by the Kafka records one lifecycle "
        "writes, is the ceiling the broker and the Python Kafka client alone would allow."
    )
    lines = [
        intro,
        "",
        "| system | lifecycles/s | latency p50 / p99 | CPU ms per lifecycle | peak RSS | project ÷ this |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| **project**: 3 service processes + Kafka, {r.get('database', '?')} | **{lps:,.1f}** | "
        f"{fmt_s(lc.get('latency_p50_s', 0))} / {fmt_s(lc.get('latency_p99_s', 0))} | "
        f"{'–' if cpu_ms is None else f'{cpu_ms:.1f}'} (all its processes) | "
        + (
            f"{svc_rss:,.0f} MiB (services)" + (f" + {rss['kafka (JVM)']:,.0f} MiB (Kafka)" if "kafka (JVM)" in rss else "")
            if svc_rss
            else "–"
        )
        + " | 1 |",
    ]
    for runner, p in peers.items():
        if "error" in p:
            lines.append(f"| eventsourcing peer, runner `{runner}`: **failed** | – | – | – | – | – |")
            continue
        status = "" if p.get("ok") else ", **its checks FAILED**"
        ratio = ratios.get("project_per_peer", {}).get(runner)
        lat = p.get("latency_s") or {}
        lines.append(
            f"| eventsourcing {p.get('eventsourcing_version', '?')} peer, {p.get('runner_class', runner)} "
            f"(one process, no Kafka, SQLite{status}) | {p.get('lifecycles_per_s', 0):,.1f} | "
            f"{fmt_s(lat.get('p50') or 0)} / {fmt_s(lat.get('p99') or 0)} | {p.get('cpu_ms_per_lifecycle', 0):.1f} | "
            f"{peer_rss(p)} | {'–' if ratio is None else f'{ratio:.3f}'} |"
        )
    if raw.get("msgs_per_s"):
        lines.append(
            f"| ceiling: raw aiokafka {raw['msgs_per_s']:,.0f} msgs/s ÷ {lc.get('records_per_lifecycle', 0):.2f} Kafka records "
            f"per lifecycle | {ratios.get('kafka_bound_lifecycles_per_s', 0):,.0f} | – | – | – | "
            f"{ratios.get('fraction_of_kafka_bound', 0):.3f} |"
        )
    lines.append("")
    for runner, p in peers.items():
        if "error" in p:
            lines += [f"Peer `{runner}` error:", "", "```", str(p["error"])[:2000], "```", ""]
        elif not p.get("ok"):
            failed = {k: v for k, v in (p.get("checks") or {}).items() if not v.get("ok")}
            lines += [f"Peer `{runner}` checks failed: {json.dumps(failed, ensure_ascii=False, default=str)[:1500]}", ""]
    return lines


def write_report(r: dict[str, Any], out: Path, stamp: str) -> Path:
    r = {k: v for k, v in r.items() if not k.startswith("_")}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{stamp}.json"
    json_path.write_text(json.dumps(r, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    section = render_section(r)
    if out.exists():
        text = out.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = DOC_HEADER + "\n" + section + "\n"
    out.write_text(text, encoding="utf-8")
    return json_path


def print_summary(r: dict[str, Any]) -> None:
    lc, raw, ratios = r["lifecycle"], r["raw_baseline"], r["ratios"]
    print()
    print(
        f"N = {r['n']:,} ({r['database']}): {lc.get('completed', 0):,} recognised in {lc.get('wall_s', 0):.1f} s "
        f"= {lc.get('lifecycles_per_s', 0):.1f} lifecycles/s"
    )
    print(
        f"latency p50 {fmt_s(lc.get('latency_p50_s', 0))}, p99 {fmt_s(lc.get('latency_p99_s', 0))}, max {fmt_s(lc.get('latency_max_s', 0))}"
    )
    print(
        f"events/lifecycle {lc.get('events_per_lifecycle', 0):.2f}, Kafka records/lifecycle {lc.get('records_per_lifecycle', 0):.2f}, "
        f"deliveries/lifecycle {lc.get('deliveries_per_lifecycle', 0):.2f}"
    )
    if raw:
        print(
            f"raw aiokafka {raw.get('msgs_per_s', 0):,.0f} msgs/s; lifecycles/s ÷ raw = {ratios.get('lifecycles_per_raw_msg', 0):.4f}; "
            f"÷ (raw ÷ records/lifecycle) = {ratios.get('fraction_of_kafka_bound', 0):.3f}"
        )
    if r.get("consumer_transactions"):
        print("consumer transactions: " + ", ".join(f"{k} {sum(v.values()):,}" for k, v in r["consumer_transactions"].items()))
    if r.get("peak_rss_mb"):
        print("peak RSS: " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in r["peak_rss_mb"].items()))
    for runner, p in (r.get("peer") or {}).items():
        if "error" in p:
            print(f"peer ({runner}): FAILED to run: {str(p['error'])[:500]}")
            continue
        ratio = ratios.get("project_per_peer", {}).get(runner)
        print(
            f"eventsourcing peer ({p.get('runner_class', runner)}; one process, no Kafka): {p.get('lifecycles_per_s', 0):.1f} lifecycles/s, "
            f"p50 {fmt_s((p.get('latency_s') or {}).get('p50') or 0)}, p99 {fmt_s((p.get('latency_s') or {}).get('p99') or 0)}; "
            f"project ÷ peer = {ratio if ratio is not None else '–'}; peer checks {'passed' if p.get('ok') else 'FAILED'}"
        )
    if r.get("peer_skipped"):
        print(f"peer: skipped ({r['peer_skipped']})")
    for name, c in r.get("checks", {}).items():
        print(f"  [{'ok' if c['ok'] else 'FAILED'}] {name}")
        if not c["ok"]:
            for ex in (c.get("examples") or [])[:5]:
                print(f"      {ex}")
    if r.get("error"):
        print(f"ERROR: {r['error'][:2000]}")
    print("RESULT:", "PASSED" if r["ok"] else "FAILED")
