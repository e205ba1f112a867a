"""Where a lifecycle's latency goes: the delay of every hop, read from the history itself.

Each event names its cause (``causation_id``: an inbound message or an earlier event), and
every record carries the broker's timestamp of its production. A hop's delay is the effect's
timestamp minus its cause's, split at the envelope's ``recorded_at`` (the service's clock,
when the unit of work built the event) into

- *to the service*: the cause's delivery to the consumer, its batch and its transaction up to
  the event's creation, and
- *to the topic*: the rest of the transaction, its commit, the relay's wake-up and the
  publication.

The bench client's own reaction (an event to the next inbound message) is not a hop here: the
inbound contract does not name the event that prompted a message. The timestamps come from
the services' and the client's clocks, one machine here, so the differences are meaningful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from bench.lifecycle.report import percentile


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0


def hop_delays(records: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per hop (``cause type -> event type``): count and p50 / p99 of the whole delay and of
    its two parts, in milliseconds, over ``records`` of the inbound and event topics."""
    stamp: dict[str, tuple[float, str]] = {}
    events: list[tuple[dict[str, Any], float]] = []
    for rec in records:
        try:
            body = orjson.loads(rec.value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(body, dict) or not isinstance(body.get("event_id"), str):
            continue
        stamp[body["event_id"]] = (float(rec.timestamp), str(body.get("event_type")))
        if "causation_id" in body and "recorded_at" in body:
            events.append((body, float(rec.timestamp)))
    parts: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"total": [], "to_service": [], "to_topic": []})
    for env, ts in events:
        cause = stamp.get(env.get("causation_id") or "")
        if cause is None:
            continue
        recorded = _ms(env["recorded_at"])
        p = parts[f"{cause[1]} → {env['event_type']}"]
        p["total"].append(ts - cause[0])
        p["to_service"].append(recorded - cause[0])
        p["to_topic"].append(ts - recorded)
    out: dict[str, dict[str, Any]] = {}
    for hop, p in sorted(parts.items(), key=lambda kv: -len(kv[1]["total"])):
        row: dict[str, Any] = {"count": len(p["total"])}
        for name, values in p.items():
            values.sort()
            row[f"{name}_p50_ms"] = round(percentile(values, 0.50), 1)
            row[f"{name}_p99_ms"] = round(percentile(values, 0.99), 1)
        out[hop] = row
    return out


def render_hops(hops: dict[str, dict[str, Any]]) -> list[str]:
    if not hops:
        return []
    lines = [
        "Hop delays (broker timestamps; *to the service*: delivery, batch and transaction up to the event's "
        "creation; *to the topic*: commit, relay, publication), ms:",
        "",
        "| hop (cause → event) | count | total p50 / p99 | to the service p50 / p99 | to the topic p50 / p99 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for hop, h in hops.items():
        lines.append(
            f"| {hop} | {h['count']:,} | {h['total_p50_ms']:.0f} / {h['total_p99_ms']:.0f} | "
            f"{h['to_service_p50_ms']:.0f} / {h['to_service_p99_ms']:.0f} | {h['to_topic_p50_ms']:.0f} / {h['to_topic_p99_ms']:.0f} |"
        )
    lines.append("")
    return lines
