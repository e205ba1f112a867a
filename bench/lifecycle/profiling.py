"""Where the resources go: CPU seconds and peak memory of each process (from /proc), py-spy
profiles of the services, and counts of their SQL statements.

These are measurements of the run, not parts of it: a run without ``--profile`` or
``--count-sql`` only reads /proc (CPU before and after the lifecycle phase; each process's
``VmHWM``, its resident-memory high-water mark, before the processes are stopped), which
costs nothing the services would notice. py-spy and the SQL hook slow the services down, so
a run with them measures where the time goes, not how fast the system is.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.processes import ROOT, ServiceProcess


class ProcCpu:
    """CPU seconds (user + system, all threads) of processes, from /proc."""

    TICK = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def of(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ProcCpu.TICK

    @staticmethod
    def other_threads(pid: int) -> float:
        """CPU seconds of the threads of ``pid`` other than its main thread."""
        total = 0.0
        try:
            tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir() if t.name.isdigit()]
        except OSError:
            return 0.0
        for tid in tids:
            if tid == pid:
                continue
            try:
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ProcCpu.TICK
        return total

    @staticmethod
    def children(ppid: int) -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                fields = (d / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == ppid:
                pids.append(int(d.name))
        return pids

    @staticmethod
    def snapshot_self() -> float:
        t = os.times()
        return t.user + t.system


def cpu_snapshot(kafka_pid: int | None, services: dict[str, ServiceProcess], pg_pid: int | None) -> dict[str, float]:
    snap: dict[str, float] = {}
    if kafka_pid:
        snap["kafka (JVM)"] = ProcCpu.of(kafka_pid)
    for name, svc in services.items():
        if svc.proc is not None:
            snap[name] = ProcCpu.of(svc.proc.pid)
            snap[f"{name}: threads other than the event loop (the write path's worker threads, drivers, ...)"] = (
                ProcCpu.other_threads(svc.proc.pid)
            )
    if pg_pid:
        snap["postgresql"] = ProcCpu.of(pg_pid) + sum(ProcCpu.of(p) for p in ProcCpu.children(pg_pid))
    snap["bench client"] = ProcCpu.snapshot_self()
    return snap


def total_cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(v) for v in first]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return (total - idle) / ProcCpu.TICK, total / ProcCpu.TICK


# ----------------------------------------------------------------------------- memory


def peak_rss_mb(pid: int) -> float | None:
    """The resident-memory high-water mark of ``pid`` (``VmHWM``, MiB), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_snapshot(kafka_pid: int | None, services: dict[str, ServiceProcess], pg_pid: int | None) -> dict[str, float]:
    """Each process's peak RSS over its life so far (MiB); read it before stopping them."""
    snap: dict[str, float] = {}
    for name, svc in services.items():
        if svc.proc is not None and (v := peak_rss_mb(svc.proc.pid)) is not None:
            snap[name] = v
    if kafka_pid and (v := peak_rss_mb(kafka_pid)) is not None:
        snap["kafka (JVM)"] = v
    if pg_pid:
        vals = [x for x in (peak_rss_mb(p) for p in [pg_pid, *ProcCpu.children(pg_pid)]) if x is not None]
        if vals:
            snap["postgresql (sum of its processes' peaks)"] = round(sum(vals), 1)
    own = peak_rss_mb(os.getpid())
    snap["bench client"] = own if own is not None else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return snap


def committed_batches(exposition: str) -> dict[str, int]:
    """Committed consumer transactions by topic, from a service's ``/metrics`` text (the count
    of ``antt_consumer_batch_duration_seconds`` with ``result="committed"``)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, int] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != "antt_consumer_batch_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("result") == "committed":
                out[sample.labels["topic"]] = out.get(sample.labels["topic"], 0) + int(sample.value)
    return out


def consumer_transactions(services: dict[str, ServiceProcess]) -> dict[str, dict[str, int]]:
    """Each service's committed consumer transactions, by topic, read from its ``/metrics``
    before it is stopped. Each costs a commit and the batch's fixed statements (about 3 ms of
    CPU in ``bench.replay``): deliveries per transaction say how well the batches filled."""
    import urllib.request

    out: dict[str, dict[str, int]] = {}
    for name, svc in services.items():
        try:
            with urllib.request.urlopen(f"{svc.url}/metrics", timeout=10) as resp:
                out[name] = committed_batches(resp.read().decode())
        except OSError:
            continue
    return out


# ----------------------------------------------------------------------------- profiling


class Profiler:
    """py-spy attached to each service process for the lifecycle phase."""

    def __init__(self, services: dict[str, ServiceProcess], out_dir: Path, stamp: str, rate: int, *, gil: bool = False) -> None:
        self.services = services
        #: sample only the thread that holds the GIL: with the event loop and the writer thread
        #: both busy, the one waiting for the GIL would otherwise count as working where it waits
        self.gil = gil
        self.out_dir = out_dir
        self.stamp = stamp
        self.rate = rate
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.files: dict[str, Path] = {}
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.exe = exe

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, svc in self.services.items():
            assert svc.proc is not None
            path = self.out_dir / f"{self.stamp}-{name}.folded"
            self.files[name] = path
            self.procs[name] = subprocess.Popen(
                [
                    self.exe,
                    "record",
                    "--pid",
                    str(svc.proc.pid),
                    "--rate",
                    str(self.rate),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(path),
                    "--duration",
                    "7200",
                    *(["--gil"] if self.gil else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

    def stop(self) -> dict[str, Any]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out = {}
        for name, path in self.files.items():
            if path.exists():
                out[name] = summarize_folded(path)
                out[name]["file"] = str(path.relative_to(ROOT))
            else:
                stderr = self.procs[name].stderr
                err = stderr.read().decode(errors="replace") if stderr is not None else ""
                out[name] = {"error": f"py-spy wrote nothing: {err[-500:]}"}
        return out


#: leaf frames where a thread waits rather than works (py-spy does not always tell)
IDLE_LEAVES = (
    "EpollSelector.select (selectors.py",
    "_connection_worker_thread (aiosqlite/core.py:59)",  # worker thread waiting for work
    "Connection._execute (aiosqlite/core.py:158)",  # a coroutine awaiting the worker thread
    "Condition.wait (threading.py",
    "Queue.get (queue.py",
)

#: (category, predicate on the frame's file) -- the innermost frame with a category wins
CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    (
        "SQLite C library (aiosqlite worker thread running a statement)",
        lambda fn, f: fn == "_connection_worker_thread" and f.startswith("aiosqlite/core.py:6"),
    ),
    (
        "aiosqlite thread hand-off (queue, futures, loop wake-ups)",
        lambda fn, f: (
            f.startswith("aiosqlite/")
            or fn
            in (
                "BaseSelectorEventLoop._read_from_self",
                "BaseSelectorEventLoop._write_to_self",
                "BaseEventLoop.call_soon_threadsafe",
            )
        ),
    ),
    ("json encode/decode", lambda fn, f: f.startswith("json/")),
    ("SQLAlchemy (ORM, Core, compile, async adaption)", lambda fn, f: f.startswith(("sqlalchemy/", "greenlet"))),
    ("asyncpg", lambda fn, f: f.startswith("asyncpg/")),
    ("aiokafka (fetch, produce, protocol)", lambda fn, f: f.startswith(("aiokafka/", "kafka/"))),
    ("faststream / fast_depends", lambda fn, f: f.startswith(("faststream/", "fast_depends/"))),
    ("pydantic", lambda fn, f: f.startswith("pydantic")),
    ("structlog (one log line per transition)", lambda fn, f: f.startswith("structlog/")),
    ("transitions (state machine)", lambda fn, f: f.startswith("transitions/")),
    ("hashlib / hmac / uuid", lambda fn, f: f.startswith(("hashlib", "hmac", "uuid"))),
    ("uvicorn / starlette / anyio", lambda fn, f: f.startswith(("uvicorn/", "starlette/", "anyio/", "fastapi/"))),
    ("project code (shared/, services/)", lambda fn, f: f.startswith(("shared/", "services/"))),
    ("asyncio event loop", lambda fn, f: f.startswith(("asyncio/", "selectors.py"))),
)

#: project functions worth seeing inclusively (SQLAlchemy's async layer runs the ORM in
#: greenlets, whose stacks py-spy shows without their callers; this counts what is left)
PROJECT_FUNCS = (
    "BatchProcessor.process (shared/infra/consumer.py",
    "BatchProcessor._apply (shared/infra/consumer.py",
    "EventHandler.claim (shared/infra/adapters.py",
    "InboundGate.claim (shared/infra/inbound.py",
    "UnitOfWork.emit (shared/infra/uow.py",
    "UnitOfWork.flush (shared/infra/uow.py",
    "UnitOfWork.commit (shared/infra/uow.py",
    "OutboxRelay._publish_once (shared/infra/relay.py",
    "OutboxRelay._pending (shared/infra/relay.py",
    "OutboxRelay._commit_published (shared/infra/relay.py",
    "OutboxRelay._reconcile (shared/infra/relay.py",
    "OutboxRelay._ensure_lease (shared/infra/relay.py",
    "OutboxRelay._maybe_checkpoint (shared/infra/relay.py",
    "record_history (services/approval/projections.py",
    "verify_hash (shared/contracts/envelope.py",
    "build_envelope (shared/contracts/envelope.py",
)

#: entry points of the SQLAlchemy work done in greenlets (roots of those stacks)
SQLA_ROOTS = ("Session.", "AsyncSession.", "Connection.", "TransactionalContext.", "SessionTransaction.", "AsyncAdapt")


def _split(frame: str) -> tuple[str, str]:
    fn, _, rest = frame.partition(" (")
    return fn, rest.rstrip(")")


def summarize_folded(path: Path, top: int = 15) -> dict[str, Any]:
    total = 0
    idle = 0
    self_fn: Counter[str] = Counter()
    category: Counter[str] = Counter()
    proj: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = frames[-1]
        if leaf.startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_fn[leaf.rsplit(":", 1)[0] + ")"] += count
        cat = "other (stdlib, runtime)"
        for frame in reversed(frames):
            fn, file = _split(frame)
            hit = next((name for name, pred in CATEGORIES if pred(fn, file)), None)
            if hit:
                cat = hit
                break
        category[cat] += count
        root_fn, root_file = _split(frames[0])
        if root_fn.startswith(SQLA_ROOTS) and root_file.startswith("sqlalchemy/"):
            roots["greenlet: " + root_fn] += count
        elif root_fn.startswith("Thread._bootstrap"):
            roots["aiosqlite worker threads"] += count
        else:
            roots["event loop thread"] += count
        seen: set[str] = set()
        for f in frames:
            for p in PROJECT_FUNCS:
                if f.startswith(p) and p not in seen:
                    seen.add(p)
                    proj[p.replace(" (", " (") + ")"] += count

    def pct(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * v / total, 1)) for name, v in c.most_common(k)] if total else []

    return {
        "busy_samples": total,
        "idle_samples_dropped": idle,
        "categories": pct(category, len(CATEGORIES) + 1),
        "stack_roots": pct(roots, 12),
        "project_functions_inclusive": pct(proj, len(PROJECT_FUNCS)),
        "self_functions": pct(self_fn, top),
    }


SQL_HOOK = r"""
# Written by bench.lifecycle --count-sql: counts the SQL statements and transactions of this
# process (SQLAlchemy engine events); SIGUSR2 writes a snapshot to $ANTT_BENCH_SQL_COUNTS.
import collections, json, os, re, signal

_stmts = collections.Counter()
_tx = collections.Counter()
_seq = [0]


def _install():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def _before(conn, cursor, statement, parameters, context, executemany):
        _stmts[re.sub(r"sa_savepoint_\d+", "sa_savepoint_N", re.sub(r"\s+", " ", statement.strip()))[:100]] += 1

    def _commit(conn):
        _tx["commit"] += 1

    def _rollback(conn):
        _tx["rollback"] += 1

    def _savepoint(conn, name):
        _tx["savepoint"] += 1

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)
    event.listen(Engine, "savepoint", _savepoint)


def _dump(*_a):
    out = os.environ.get("ANTT_BENCH_SQL_COUNTS")
    if not out:
        return
    _seq[0] += 1
    path = os.path.join(out, f"{os.getpid()}-{_seq[0]}.json")
    with open(path + ".tmp", "w") as fh:
        json.dump({"statements": dict(_stmts), "transactions": dict(_tx)}, fh)
    os.replace(path + ".tmp", path)


if os.environ.get("ANTT_BENCH_SQL_COUNTS"):
    try:
        _install()
        signal.signal(signal.SIGUSR2, _dump)
    except Exception:  # noqa: BLE001 - measuring must never break the service
        pass
"""


class SqlCounter:
    """Statement and transaction counts of each service during the lifecycle phase."""

    def __init__(self, work: Path) -> None:
        self.hook_dir = work / "sqlhook"
        self.out_dir = work / "sqlcounts"
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(SQL_HOOK)
        os.environ["PYTHONPATH"] = str(self.hook_dir) + (
            os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""
        )
        os.environ["ANTT_BENCH_SQL_COUNTS"] = str(self.out_dir)
        self.before: dict[str, dict[str, Any]] = {}

    def _snapshot(self, services: dict[str, ServiceProcess]) -> dict[str, dict[str, Any]]:
        seqs = {}
        for name, svc in services.items():
            assert svc.proc is not None
            seqs[name] = len(list(self.out_dir.glob(f"{svc.proc.pid}-*.json"))) + 1
            os.kill(svc.proc.pid, signal.SIGUSR2)
        out = {}
        for name, svc in services.items():
            assert svc.proc is not None
            path = self.out_dir / f"{svc.proc.pid}-{seqs[name]}.json"
            deadline = time.monotonic() + 10
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            out[name] = json.loads(path.read_text()) if path.exists() else {"statements": {}, "transactions": {}}
        return out

    def start(self, services: dict[str, ServiceProcess]) -> None:
        self.before = self._snapshot(services)

    def stop(self, services: dict[str, ServiceProcess], completed: int) -> dict[str, Any]:
        after = self._snapshot(services)
        result: dict[str, Any] = {}
        for name in services:
            b, a = self.before.get(name, {}), after[name]
            stm = Counter(a["statements"]) - Counter(b.get("statements", {}))
            tx = Counter(a["transactions"]) - Counter(b.get("transactions", {}))
            per = max(1, completed)
            result[name] = {
                "statements_per_lifecycle": round(sum(stm.values()) / per, 2),
                "savepoints_per_lifecycle": round(tx.get("savepoint", 0) / per, 2),
                "top_statements_per_lifecycle": [(k, round(v / per, 2)) for k, v in stm.most_common(25)],
            }
        return result
