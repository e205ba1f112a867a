"""The peer in the same run: the eventsourcing-library build of the same lifecycle
(``bench/peer_eventsourcing.py``), run after the project's phase.

It runs after the broker and the services are stopped, so that nothing of the project's run
competes with it for the machine's cores, and in a child process (``run_peer``'s default),
so that its CPU seconds are its own; its peak RSS is read from /proc while it runs
(:class:`ChildPeakRss`), since the figure it takes itself includes ours. It gets the same N and the same in-flight
bound as the project's phase; its population and payloads are ``bench.lifecycle.population``'s.

The peer runs in ONE process, WITHOUT Kafka: its figure is what the same business steps cost
in-process with event-sourced SQLite persistence, not a like-for-like distributed
deployment. The report says so beside the figure, and gives the raw aiokafka ceiling too.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Self

from bench.lifecycle.profiling import ProcCpu, peak_rss_mb

DEFAULT_RUNNERS = ("multi",)


class ChildPeakRss:
    """The peak RSS of the peer's child process, from its ``VmHWM`` in /proc, polled while it runs.

    The peer measures its own peak with ``getrusage(RUSAGE_SELF).ru_maxrss``, but on Linux a
    process started by another inherits that figure from its parent across ``fork``/``exec``
    (it is at least the parent's high-water mark), so from under this benchmark, whose
    process is the larger, the peer would report the benchmark's memory. ``VmHWM`` belongs to
    the address space the child got at ``exec`` and so is the peer's own; it only grows, so
    the last reading before the child exits is its peak to within one polling interval.
    """

    def __init__(self, marker: bytes = b"bench.peer_eventsourcing", interval: float = 0.25) -> None:
        self.marker = marker
        self.interval = interval
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="peer-rss", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _poll(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            for pid in ProcCpu.children(me):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if self.marker in cmdline and (v := peak_rss_mb(pid)) is not None:
                    self.peak = v if self.peak is None else max(self.peak, v)


def parse_runners(text: str) -> list[str]:
    runners = [r.strip() for r in text.split(",") if r.strip()]
    if not runners:
        raise ValueError("no peer runner given")
    return runners


def run_peers(
    n: int, runners: list[str], workdir: Path, *, inflight: int, timeout: float | None = None, quiet: bool = False
) -> dict[str, dict[str, Any]]:
    """``{runner: the peer's result dict}``, or ``{runner: {"error": ...}}`` when it failed."""
    out: dict[str, dict[str, Any]] = {}
    try:
        from bench.peer_eventsourcing import run_peer
    except ImportError as exc:  # the eventsourcing library is a dev requirement
        return {r: {"error": f"cannot import the peer: {exc}"} for r in runners}
    for runner in runners:
        if not quiet:
            print(f"bench: eventsourcing peer, runner {runner}, {n:,} unit-years (one process, no Kafka) ...", flush=True)
        try:
            with ChildPeakRss() as rss:
                out[runner] = run_peer(n, runner, workdir / runner, inflight=inflight, timeout=timeout)
            if rss.peak is not None:
                out[runner]["peak_rss_vmhwm_mb"] = rss.peak
        except Exception as exc:  # noqa: BLE001 - the project's figures stand without the peer
            out[runner] = {"error": f"{type(exc).__name__}: {exc}"}
        p = out[runner]
        if not quiet and "error" not in p:
            print(
                f"bench: peer {runner}: {p.get('lifecycles_per_s')} lifecycles/s, checks {'passed' if p.get('ok') else 'FAILED'}",
                flush=True,
            )
        elif not quiet:
            print(f"bench: peer {runner} failed: {p['error'][:500]}", flush=True)
    return out


def ratios(project_lps: float, peers: dict[str, dict[str, Any]]) -> dict[str, float]:
    """project lifecycles/s ÷ peer lifecycles/s, per runner that produced a figure."""
    return {
        runner: round(project_lps / p["lifecycles_per_s"], 4)
        for runner, p in peers.items()
        if "error" not in p and p.get("lifecycles_per_s")
    }
