"""``cross-check`` against services that tell another story than the events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import orjson

from audit.crosscheck import DEFAULT_URLS, cross_check
from audit.synthetic import HistoryBuilder
from audit.timeline import Folder
from shared.contracts import topics


def history() -> tuple[Folder, dict[str, dict[str, Any]], HistoryBuilder]:
    b = HistoryBuilder(partitions=2)
    b.lifecycle("X1")
    b.lifecycle("X2", decide=False)
    b.exemplary(b.lifecycle("X3", kind="agency"), returned=True)
    b.checkpoint_all()
    folder = Folder()
    latest: dict[str, dict[str, Any]] = {}
    for r in b.records():
        d = orjson.loads(r.value)
        if r.topic == topics.CHECKPOINTS:
            latest[d["producer"]] = d
        elif r.topic.endswith(".events.v1"):
            folder.add(d)
    return folder, latest, b


def services(
    folder: Folder,
    latest: dict[str, dict[str, Any]],
    *,
    approval_state: dict[str, str] | None = None,
    drop_history: str | None = None,
    checkpoint_ahead: str | None = None,
    title_state: dict[str, str] | None = None,
    exemplary_case_state: dict[str, str] | None = None,
) -> httpx.MockTransport:
    """The three services as the events say they should answer, with the changes asked for."""
    by_port = {httpx.URL(u).port: name for name, u in DEFAULT_URLS.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        service = by_port[request.url.port]
        path = request.url.path
        if path == "/audit/checkpoint":
            if service not in latest:
                return httpx.Response(404, json={"error_code": "not_found"})
            cp = dict(latest[service])
            if service == checkpoint_ahead:
                cp["sequence"] += 1
            return httpx.Response(200, json=cp)
        exemplary = path.endswith("/exemplary")
        uy = path.removesuffix("/exemplary").rsplit("/", 1)[1]
        st = folder.fold(uy)
        if st is None:
            return httpx.Response(404, json={"error_code": "not_found"})
        if exemplary:  # the assessment service's exemplary case
            state = (exemplary_case_state or {}).get(uy, st.exemplary_states["assessment"])
            if state is None:
                return httpx.Response(404, json={"error_code": "not_found"})
            return httpx.Response(200, json={"unit_year_id": uy, "track": "exemplary", "state": state})
        if service == "approval":
            state = (approval_state or {}).get(uy, st.states["approval"])
            hist = [e for e in folder.events_of(uy) if e["event_type"] != drop_history]
            title = (title_state or {}).get(uy, st.exemplary_states["approval"])
            view = None if title is None else {"track": "exemplary", "state": title}
            return httpx.Response(200, json={"unit_year_id": uy, "state": state, "exemplary": view, "history": hist})
        if service == "registration":
            return httpx.Response(200, json={"state": st.states["registration"], "approval_state": st.states["approval"]})
        return httpx.Response(200, json={"state": st.states["assessment"]})

    return httpx.MockTransport(handler)


def run(folder: Folder, latest: dict[str, dict[str, Any]], transport: httpx.MockTransport) -> list[str]:
    findings, _stats = asyncio.run(cross_check(folder, latest, urls=DEFAULT_URLS, token="t", transport=transport))
    return sorted(f.code for f in findings if f.severity == "error")


def test_no_drift() -> None:
    folder, latest, _ = history()
    assert run(folder, latest, services(folder, latest)) == []


def test_state_drift_and_history_gaps_and_deleted_checkpoints() -> None:
    folder, latest, _ = history()
    assert run(folder, latest, services(folder, latest, approval_state={"X2:2025": "recognized"})) == ["state_drift"]
    assert run(folder, latest, services(folder, latest, drop_history="SelfAssessmentRecorded")) == [
        "history_missing_event",
        "history_missing_event",
        "history_missing_event",
    ]
    assert run(folder, latest, services(folder, latest, checkpoint_ahead="approval")) == ["checkpoint_deleted"]


def test_the_exemplary_track_is_folded_apart_and_compared() -> None:
    """The title's events carry states of their own ("self_scored", "recognized"): they never
    become the unit-year's ANTT state, and each service's exemplary state is compared."""
    folder, latest, _ = history()
    st = folder.fold("X3:2025")
    assert st is not None
    assert (st.states["approval"], st.states["assessment"]) == ("recognized", "closed")
    assert st.exemplary_states == {"assessment": "closed", "approval": "recognized"}
    drift = services(folder, latest, title_state={"X3:2025": "province_reviewed"})
    assert run(folder, latest, drift) == ["state_drift"]
    drift = services(folder, latest, exemplary_case_state={"X3:2025": "returned"})
    assert run(folder, latest, drift) == ["state_drift"]
    # a unit-year never proposed: no exemplary request, no drift
    assert folder.fold("X1:2025").exemplary_states == {"assessment": None, "approval": None}


def test_the_command_line_reports_unreachable_services(tmp_path, capsys) -> None:
    from audit.cli import main

    _folder, _latest, b = history()
    path = tmp_path / "h.jsonl.gz"
    b.write(path)
    rc = main(
        [
            "cross-check",
            "--archive",
            str(path),
            "--approval-url",
            "http://127.0.0.1:9",
            "--assessment-url",
            "http://127.0.0.1:9",
            "--registration-url",
            "http://127.0.0.1:9",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    # nothing could be compared: a connection error, not a clean result
    assert rc == 2 and {f["code"] for f in data["findings"]} == {"service_unavailable"}
