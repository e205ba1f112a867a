"""``cross-check``: the state each service reports over HTTP against the state folded from the
events, and each service's latest checkpoint against the newest one on the topic.

A service's database is a cache of its own events: if the two disagree, either the database or
the topic was changed behind the service's back. The approval service also keeps every event
about a unit-year (its ``history``); that copy must be the topics' events, one for one.
A checkpoint the service has published but the topic no longer holds means checkpoints were
deleted from the topic. A unit-year's exemplary track (điển hình) is compared the same way: the
title's state the approval service shows with the unit-year (``exemplary``) and the exemplary
case's state of the assessment service (``/unit-years/{id}/exemplary``) against the states
folded from the ``exemplary:<unit_year_id>`` streams.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from audit.findings import Finding
from audit.timeline import Folder
from shared.contracts.checkpoint import checkpoint_hash

DEFAULT_URLS = {
    "registration": "http://127.0.0.1:8101",
    "assessment": "http://127.0.0.1:8102",
    "approval": "http://127.0.0.1:8103",
}


async def _get(client: httpx.AsyncClient, url: str) -> tuple[int | None, Any]:
    try:
        r = await client.get(url)
    except httpx.HTTPError as exc:
        return None, str(exc) or type(exc).__name__
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


async def cross_check(
    folder: Folder,
    checkpoints: dict[str, dict[str, Any]],
    *,
    urls: dict[str, str],
    token: str,
    unit_years: list[str] | None = None,
    concurrency: int = 16,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Every drift between the services' answers and the events (``transport``: for tests)."""
    findings: list[Finding] = []
    ids = unit_years or sorted(folder.by_unit_year)
    unavailable: set[str] = set()
    sem = asyncio.Semaphore(concurrency)
    stats: dict[str, Any] = {"unit_years": len(ids), "requests": 0}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=15, transport=transport) as client:

        async def one(uy: str) -> None:
            st = folder.fold(uy)
            topic_events = {e["event_id"]: e for e in folder.events_of(uy) if isinstance(e.get("event_id"), str)}
            for service in ("registration", "assessment", "approval"):
                if service in unavailable:
                    continue
                async with sem:
                    code, body = await _get(client, f"{urls[service].rstrip('/')}/unit-years/{uy}")
                stats["requests"] += 1
                if code is None:
                    unavailable.add(service)
                    findings.append(Finding("service_unavailable", f"{service} at {urls[service]}: {body}", producer=service))
                    continue
                expected = st.states.get(service) if st else None
                if code == 404:
                    if expected is not None:
                        findings.append(
                            Finding(
                                "unit_year_unknown_to_service",
                                f"{service} does not know {uy}; the events say {expected}",
                                stream=uy,
                                producer=service,
                            )
                        )
                    continue
                if code != 200 or not isinstance(body, dict):
                    findings.append(
                        Finding("service_unavailable", f"{service} answered {code} for {uy}", stream=uy, producer=service)
                    )
                    continue
                reported = body.get("state")
                if expected is not None and reported != expected:
                    findings.append(
                        Finding(
                            "state_drift",
                            f"{service} reports {reported!r}, the events say {expected!r}",
                            stream=uy,
                            producer=service,
                            extra={"reported": reported, "folded": expected},
                        )
                    )
                if service == "registration" and st is not None and "approval_state" in body:
                    folded = st.states.get("approval")
                    if folded is not None and body.get("approval_state") != folded:
                        findings.append(
                            Finding(
                                "state_drift",
                                f"registration's read model says approval state "
                                f"{body.get('approval_state')!r}, the approval events say {folded!r}",
                                stream=uy,
                                producer=service,
                            )
                        )
                if service == "approval" and st is not None:
                    title = body.get("exemplary")
                    reported_title = title.get("state") if isinstance(title, dict) else None
                    folded_title = st.exemplary_states.get("approval")
                    if "exemplary" in body and reported_title != folded_title:
                        findings.append(
                            Finding(
                                "state_drift",
                                f"approval reports the exemplary title {reported_title!r}, the events say {folded_title!r}",
                                stream=f"exemplary:{uy}",
                                producer=service,
                                extra={"reported": reported_title, "folded": folded_title, "track": "exemplary"},
                            )
                        )
                if service == "assessment" and st is not None and st.exemplary_states.get("assessment") is not None:
                    async with sem:
                        xcode, xbody = await _get(client, f"{urls[service].rstrip('/')}/unit-years/{uy}/exemplary")
                    stats["requests"] += 1
                    folded_case = st.exemplary_states["assessment"]
                    reported_case = xbody.get("state") if xcode == 200 and isinstance(xbody, dict) else None
                    if xcode is None:
                        findings.append(Finding("service_unavailable", f"{service}: {xbody}", stream=uy, producer=service))
                    elif reported_case != folded_case:
                        what = f"reports the exemplary case {reported_case!r}" if xcode == 200 else f"answered {xcode}"
                        findings.append(
                            Finding(
                                "state_drift",
                                f"{service} {what} for {uy}, the events say {folded_case!r}",
                                stream=f"exemplary:{uy}",
                                producer=service,
                                extra={"reported": reported_case, "folded": folded_case, "track": "exemplary"},
                            )
                        )
                if service == "approval" and isinstance(body.get("history"), list):
                    held = {h.get("event_id"): h for h in body["history"] if isinstance(h, dict)}
                    for eid, env in topic_events.items():
                        mine = held.get(eid)
                        if mine is None:
                            findings.append(
                                Finding(
                                    "history_missing_event",
                                    f"{env.get('event_type')} "
                                    f"({env.get('producer')} #{env.get('sequence')}) is on the topics "
                                    "but not in the approval service's history",
                                    stream=uy,
                                    event_id=eid,
                                    producer="approval",
                                )
                            )
                        elif mine.get("hash") != env.get("hash"):
                            findings.append(
                                Finding(
                                    "history_event_differs",
                                    "the approval service's copy has hash "
                                    f"{str(mine.get('hash'))[:12]}…, the topic's "
                                    f"{str(env.get('hash'))[:12]}…",
                                    stream=uy,
                                    event_id=eid,
                                    producer="approval",
                                )
                            )
                    for eid, mine in held.items():
                        if eid not in topic_events:
                            findings.append(
                                Finding(
                                    "history_unknown_event",
                                    f"{mine.get('event_type')} "
                                    f"({mine.get('producer')} #{mine.get('sequence')}) is in the "
                                    "approval service's history but on no topic",
                                    stream=uy,
                                    event_id=eid,
                                    producer="approval",
                                )
                            )

        await asyncio.gather(*(one(uy) for uy in ids))
        stats["unavailable"] = sorted(unavailable)

        stats["checkpoints"] = {}
        for service in ("registration", "assessment", "approval"):
            code, body = await _get(client, f"{urls[service].rstrip('/')}/audit/checkpoint")
            if code is None or code == 404 or not isinstance(body, dict):
                stats["checkpoints"][service] = "not available"
                continue
            inner = body.get("checkpoint")
            cp: dict[str, Any] = inner if isinstance(inner, dict) else body
            seq = cp.get("sequence")
            on_topic = checkpoints.get(service)
            stats["checkpoints"][service] = {"service": seq, "topic": on_topic.get("sequence") if on_topic else None}
            if not isinstance(seq, int):
                continue
            if on_topic is None or seq > int(on_topic.get("sequence", 0)):
                findings.append(
                    Finding(
                        "checkpoint_deleted",
                        f"{service} has published checkpoint #{seq}; the "
                        f"newest on the topic is "
                        f"{'#' + str(on_topic.get('sequence')) if on_topic else 'none'}: "
                        "checkpoints were deleted from the topic",
                        producer=service,
                    )
                )
            elif seq == on_topic.get("sequence"):
                try:
                    same = checkpoint_hash(cp) == checkpoint_hash(on_topic)
                except (TypeError, ValueError):
                    same = False
                if not same:
                    findings.append(
                        Finding(
                            "checkpoint_differs",
                            f"{service}'s checkpoint #{seq} differs from the one on the topic",
                            producer=service,
                        )
                    )
    return findings, stats
