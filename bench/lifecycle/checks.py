"""The correctness checks of a run: a throughput figure counts only if the work was right.

The history is read back from offset 0 by a fresh consumer (``shared.infra.kafka.read_to_end``)
and audited by ``deploy.driver.audit_records``, the end-to-end tests' auditor; :func:`checks`
turns that audit into the benchmark's verdicts, each strict:

- every unit-year recognised exactly once (and no unit-year that was not driven);
- no event_id twice on any event topic;
- every (stream_id, producer) sequence exactly 1..k with its hash chain verifying;
- the inbound DLQ and every other DLQ empty;
- every consumer group of the services at zero lag once the relays are idle (nothing left
  unprocessed, so the counts are final);
- the audit read every record the broker holds on those topics (a short read would hide
  a gap behind a passing chain).

The broker-side accounting (records written per topic, records committed per consumer group,
lag, settling) is here too: it is what the checks and the per-lifecycle counts rest on.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from deploy.driver import DLQ_TOPICS, Audit
from deploy.localkafka import PROJECT_TOPICS
from shared.contracts import topics
from shared.infra.kafka import topic_partitions

#: what the audit reads: the event topics and every DLQ
AUDITED_TOPICS = (*topics.EVENT_TOPICS, *DLQ_TOPICS)


def checks(
    a: Audit, expected: list[str], *, lag: dict[str, int] | None = None, end_offsets: dict[str, int] | None = None
) -> dict[str, Any]:
    """The verdicts and the stats of a run from its audit.

    ``lag``: each consumer group's lag after settling (None: never measured, which fails);
    ``end_offsets``: records the broker holds per audited topic (None: not compared).
    """
    out: dict[str, Any] = {}
    recognized = a.recognized_per_unit_year
    # 1. recognised exactly once
    not_once = {uy: recognized.get(uy, 0) for uy in expected if recognized.get(uy, 0) != 1}
    extra = sorted(set(recognized) - set(expected))
    out["recognized_exactly_once"] = {
        "ok": not not_once and not extra,
        "recognized": sum(1 for uy in expected if recognized.get(uy, 0) == 1),
        "expected": len(expected),
        "not_once": dict(list(not_once.items())[:20]),
        "not_once_count": len(not_once),
        "unexpected_unit_years": extra[:20],
    }
    # 2. no event_id twice
    out["no_duplicate_event_ids"] = {
        "ok": not a.duplicates,
        "events": a.events,
        "duplicates": len(a.duplicates),
        "examples": list(a.duplicate_counts.items())[:10],
    }
    # 3. sequences 1..k and hash chains per (stream, producer), in topic order
    out["sequences_and_hash_chains"] = {
        "ok": not a.chain_breaks,
        "streams": a.streams,
        "breaks": len(a.chain_breaks),
        "examples": a.chain_breaks[:10],
    }
    # 4. dead-letter topics empty
    dlq_counts = {t: len(a.dead_letters_in(t)) for t in DLQ_TOPICS}
    examples = [f"{t}: {body.get('error_code')}: {body.get('reason')}" for t in DLQ_TOPICS for body in a.dead_letters_in(t)[:3]]
    inbound_dlq = topics.dlq(topics.INBOUND)
    out["inbound_dlq_empty"] = {"ok": dlq_counts[inbound_dlq] == 0, "count": dlq_counts[inbound_dlq]}
    out["all_dlqs_empty"] = {"ok": not any(dlq_counts.values()), "counts": dlq_counts, "examples": examples[:10]}
    # 5. nothing left unprocessed
    out["consumer_groups_at_zero_lag"] = {
        "ok": lag is not None and bool(lag) and not any(lag.values()),
        "lag": lag if lag is not None else "not measured",
    }
    # 6. the audit saw everything there is
    if end_offsets is not None:
        short = {
            t: end_offsets.get(t, 0) - a.records_by_topic.get(t, 0)
            for t in AUDITED_TOPICS
            if a.records_by_topic.get(t, 0) < end_offsets.get(t, 0)
        }
        out["audit_read_every_record"] = {"ok": not short, "records": sum(a.records_by_topic.values()), "missing_by_topic": short}
    return out


def stats(a: Audit) -> dict[str, Any]:
    return {
        "events_total": a.events,
        "events_by_type": dict(sorted(a.events_by_type.items())),
        "avg_event_bytes": round(a.event_bytes / a.events, 1) if a.events else 0,
    }


# ----------------------------------------------------------------------------- broker accounting


async def end_offsets_total(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    """Records the broker holds per topic (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = await topic_partitions(consumer, list(names))
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    totals: dict[str, int] = defaultdict(int)
    for tp, off in ends.items():
        totals[tp.topic] += off
    return dict(totals)


async def group_deliveries(bootstrap: str) -> dict[str, int]:
    """Records each of the services' consumer groups has committed (= read and applied)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    out: dict[str, int] = {}
    try:
        groups = await admin.list_consumer_groups()
        for g in groups:
            gid = g[0]
            if not gid.startswith("antt-"):
                continue
            offsets = await admin.list_consumer_group_offsets(gid)
            out[gid] = sum(max(0, o.offset) for o in offsets.values())
    finally:
        await admin.close()
    return dict(sorted(out.items()))


async def group_lag(bootstrap: str) -> dict[str, int]:
    """Records not yet committed by each of the services' consumer groups."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    out: dict[str, int] = {}
    try:
        for g in await admin.list_consumer_groups():
            gid = g[0]
            if not gid.startswith("antt-"):
                continue
            topic = gid.split(".", 1)[1]
            parts = await topic_partitions(consumer, [topic])
            ends = await consumer.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(gid)
            out[gid] = sum(ends[tp] - max(0, committed[tp].offset if tp in committed else 0) for tp in parts)
    finally:
        await consumer.stop()
        await admin.close()
    return dict(sorted(out.items()))


async def settle(bootstrap: str, timeout: float) -> dict[str, int]:
    """Wait until the relays are idle and every consumer group has committed up to the end
    of its topic; return the lag left (all zeros when settled)."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        now = await end_offsets_total(bootstrap, PROJECT_TOPICS)
        lag = await group_lag(bootstrap)
        if now == last and not any(lag.values()):
            return lag
        last = now
        await asyncio.sleep(1.0)
    return lag
