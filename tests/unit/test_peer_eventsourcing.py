"""The eventsourcing peer benchmark (bench/peer_eventsourcing.py) at a small N: its lifecycle
completes with both of the library's runners and its own checks hold, so the figure it adds
to the benchmark report comes from a run that did the same work as the project's."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("eventsourcing")

from bench.peer_eventsourcing import EVENTS_PER_LIFECYCLE, Refused, run_peer  # noqa: E402


@pytest.mark.parametrize("runner", ["single", "multi"])
def test_peer_lifecycle_passes_its_checks(runner: str, tmp_path: Path) -> None:
    r = run_peer(30, runner, tmp_path, isolated=False, inflight=10)
    failed = {name: c for name, c in r["checks"].items() if not c["ok"]}
    assert not failed, failed
    assert r["ok"]
    assert r["checks"]["recognized_exactly_once"]["recognized"] == 30
    assert r["events"] == 30 * len(EVENTS_PER_LIFECYCLE)
    assert r["events_by_type"] == {t: 30 for t in sorted(EVENTS_PER_LIFECYCLE)}
    assert r["commands_per_lifecycle"] == 5  # like the project's 5 inbound messages
    assert r["checks"]["versions_without_gaps"]["aggregates"] == 4 * 30
    assert r["sqlite"]["Registration_journal_mode"] == "wal"
    assert r["lifecycles_per_s"] > 0 and r["cpu_s"] >= 0 and r["peak_rss_mb"] > 0


def test_an_illegal_decision_is_refused(tmp_path: Path) -> None:
    """A decision at the wrong level is refused by the aggregate, as the approval service
    dead-letters it: the peer enforces the same rules rather than only recording events."""
    from eventsourcing.system import SingleThreadedRunner

    from bench import lifecycle as lc
    from bench.peer_eventsourcing import SYSTEM, Approval, Assessment, Registration

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    env.update({f"{n.upper()}_SQLITE_DBNAME": str(tmp_path / f"{n}.sqlite") for n in ("Registration", "Assessment", "Approval")})
    runner = SingleThreadedRunner(SYSTEM, env=env)
    runner.start()
    try:
        s = lc.population(1, "t")[0]
        runner.get(Registration).register_unit(lc.unit_payload(s))
        runner.get(Registration).register_unit_year(lc.registration_payload(s))
        with pytest.raises(Refused):  # not self-assessed yet
            runner.get(Approval).decide(lc.decision_payload(s, "commune", 1))
        runner.get(Assessment).record_self_assessment(lc.self_assessment_payload(s, lc.criteria_codes(s.kind)))
        with pytest.raises(Refused):  # the chain's first step is at commune level
            runner.get(Approval).decide(lc.decision_payload(s, "province", 2))
        runner.get(Approval).decide(lc.decision_payload(s, "commune", 3))
        runner.get(Approval).decide(lc.decision_payload(s, "commune", 4))
        with pytest.raises(Refused):  # recognised: the decision is final
            runner.get(Approval).decide(lc.decision_payload(s, "commune", 5))
    finally:
        runner.stop()


def test_a_refused_command_fails_the_run_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of the benchmark is valid; if the peer refused one, the run must fail
    and say why (the peer of a dead letter), not wait out a stall timeout."""
    from bench import lifecycle as lc
    from bench.peer_eventsourcing import Stalled, run_in_process

    real = lc.self_assessment_payload

    def outside_window(s, codes):  # type: ignore[no-untyped-def]
        return {**real(s, codes), "meeting_date": "2019-01-01"}

    monkeypatch.setattr(lc, "self_assessment_payload", outside_window)
    with pytest.raises(Stalled, match="outside the window"):
        run_in_process(3, "single", tmp_path, stall_timeout=60)
