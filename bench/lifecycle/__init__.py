"""End-to-end lifecycle benchmark: N unit-years from registration to recognition, over Kafka.

``python -m bench.lifecycle [--n 10000] [--postgres] [--inflight 2000] [--out docs/benchmarks.md]``

One run does, on a broker and services of its own:

1. starts a fresh single-node Apache Kafka (temporary data folder, free ports), creates the
   project topics, starts the three services as processes with fresh SQLite files (or one
   fresh PostgreSQL database each with ``--postgres``) and waits until they are ready;
2. measures a raw aiokafka baseline on that broker: M JSON messages of about 1 KB produced
   with an idempotent ``acks=all`` producer to a fresh 6-partition topic and consumed by a
   consumer group that commits its offsets after every batch;
3. drives N unit-years through the whole lifecycle as an external e-government system
   would, reacting to the services' events: registration of the unit and the unit-year,
   on ``AssessmentOpened`` a self-assessment with every criterion met, on
   ``UnitYearSelfScored`` / ``UnitYearReviewed`` a ``pass`` decision at
   ``payload.pending_level``, until ``UnitYearRecognized``. At most ``--inflight``
   unit-years are in progress at once (``--inflight 10`` measures the latency of one
   lifecycle without queueing). Messages are signed inbound messages keyed by the unit code
   and go through a bounded send pipeline (at most ``--window`` unacknowledged sends;
   delivery is never awaited one by one);
4. audits the topics from offset 0 with a fresh consumer and fails (exit 1) unless every
   unit-year was recognised exactly once, no event_id appears twice, every (stream,
   producer) sequence is 1..k and its hash chain verifies, the dead-letter topics are
   empty, every consumer group of the services is at zero lag and the audit read every
   record the broker holds;
5. records each process's peak RSS, stops the broker and the services, and only then runs
   the peer built with the ``eventsourcing`` library (``bench/peer_eventsourcing.py``; one
   process, no Kafka) on the same N and in-flight bound, so that nothing competes with it
   for the cores (``--peer-runners single,multi``; ``--no-peer`` skips it);
6. appends a section to ``--out`` (``docs/benchmarks.md``) and writes the raw numbers to
   ``bench/results/<timestamp>.json``.

``--profile`` attaches ``py-spy`` (``pip install py-spy``) to each service process during the
lifecycle phase and summarises where their CPU time goes. Profiling slows the services down:
use the numbers of a run without ``--profile`` as the result.

Layout, by role, so that each piece can be read (and tested) on its own:

- :mod:`bench.lifecycle.population` -- the unit-years and the payloads of their steps, built
  on the end-to-end tests' ``deploy.driver`` plans and messages (the benchmark adds the
  complete dossier); the eventsourcing peer uses the same functions;
- :mod:`bench.lifecycle.driver` -- the pipelined client and the run loop (stall and
  dead-letter detection, progress) around ``deploy.driver.LifecycleDriver``;
- :mod:`bench.lifecycle.baseline` -- the raw aiokafka baseline, the ceiling;
- :mod:`bench.lifecycle.checks` -- the correctness checks over ``deploy.driver.audit_records``
  and the broker's offsets and consumer groups;
- :mod:`bench.lifecycle.profiling` -- CPU and memory from /proc, py-spy, SQL counting;
- :mod:`bench.lifecycle.peer` -- running the eventsourcing peer and comparing it;
- :mod:`bench.lifecycle.report` -- the docs/benchmarks.md section, the JSON, the summary;
- :mod:`bench.lifecycle.run` -- the command line and the orchestration of one run.

The names the peer and the tests use (``population``, the payload functions,
``criteria_codes``, ``YEAR``) are importable from ``bench.lifecycle`` itself.
"""

from __future__ import annotations

from bench.lifecycle.population import (
    BENCH_MESSAGES,
    COMMUNES,
    YEAR,
    Spec,
    criteria_codes,
    decision_payload,
    population,
    registration_payload,
    self_assessment_payload,
    unit_payload,
)

__all__ = [
    "BENCH_MESSAGES",
    "COMMUNES",
    "YEAR",
    "Spec",
    "criteria_codes",
    "decision_payload",
    "main",
    "population",
    "registration_payload",
    "self_assessment_payload",
    "unit_payload",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.lifecycle`` (see :func:`bench.lifecycle.run.main`)."""
    from bench.lifecycle.run import main as _main

    return _main(argv)
