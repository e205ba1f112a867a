"""``history`` and ``as-of`` fold the events alone: a unit-year's timeline, and where every
unit-year stood at a past moment."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.cli import main
from audit.synthetic import HistoryBuilder
from audit.timeline import parse_moment, parse_tz


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two communes' residential areas: A1 recognised on 10 Nov 2025 (local time), A2 only
    reviewed, B1 (another commune) recognised the next day."""
    b = HistoryBuilder(partitions=2, start=datetime(2025, 11, 10, 1, 0, tzinfo=UTC), step=timedelta(minutes=1))
    b.lifecycle("A1", commune="C001")
    b.lifecycle("A2", commune="C001", decide=False)
    b.tick(timedelta(days=1))
    b.lifecycle("B1", commune="C002")
    b.checkpoint_all()
    path = tmp_path_factory.mktemp("timeline") / "h.jsonl.gz"
    b.write(path)
    return path


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_as_of_a_date_lists_the_recognised_units(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["as-of", "2025-11-10", "--archive", str(archive), "--province", "51", "--state", "recognized"]) == 0
    got = rows(capsys.readouterr().out)
    assert [r["unit_year_id"] for r in got] == ["A1:2025"]
    assert got[0]["decision_no"] == "A1/QĐ-UBND" and got[0]["certificate_no"] == "GCN-A1"
    assert main(["as-of", "2025-11-12", "--archive", str(archive), "--province", "51", "--state", "recognized"]) == 0
    assert [r["unit_year_id"] for r in rows(capsys.readouterr().out)] == ["A1:2025", "B1:2025"]


def test_as_of_a_moment_before_the_decision(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A1's events are recorded one minute apart from 01:01 UTC; the recognition is its 9th record
    assert main(["as-of", "2025-11-10T01:05:00Z", "--archive", str(archive), "--unit-year", "A1:2025", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 1 and data["unit_years"][0]["state"] != "recognized"
    assert main(["as-of", "2025-11-09", "--archive", str(archive), "--unit-year", "A1:2025", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0


def test_as_of_by_commune_and_year(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["as-of", "2025-12-31", "--archive", str(archive), "--commune", "C001", "--year", "2025"]) == 0
    got = {r["unit_year_id"]: r["state"] for r in rows(capsys.readouterr().out)}
    assert got == {"A1:2025": "recognized", "A2:2025": "commune_reviewed"}


def test_as_of_needs_a_scope_and_a_moment(archive: Path) -> None:
    assert main(["as-of", "2025-11-10", "--archive", str(archive)]) == 2
    assert main(["as-of", "yesterday", "--archive", str(archive), "--province", "51"]) == 2


def test_history_is_readable_and_machine_readable(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "A1:2025", "--archive", str(archive)]) == 0
    text = capsys.readouterr().out
    assert "Quyết định công nhận đạt chuẩn ANTT" in text and "A1/QĐ-UBND" in text and "GCN-A1" in text
    assert "registration_form DK-A1" in text and "Chủ tịch UBND xã" in text
    assert main(["history", "A1:2025", "--archive", str(archive), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    types = [e["event_type"] for e in data["events"]]
    assert types[0] == "UnitYearRegistered" and "UnitYearRecognized" in types
    times = [e["recorded_at"] for e in data["events"]]
    assert times == sorted(times)
    assert {e["producer"] for e in data["events"]} == {"registration", "assessment", "approval"}
    assert main(["history", "NOPE:2025", "--archive", str(archive)]) == 1


@pytest.fixture(scope="module")
def exemplary_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An agency returned once then recognised exemplary, a school recognised exemplary and
    then revoked with its ANTT recognition, a residential area never proposed."""
    b = HistoryBuilder(partitions=2, start=datetime(2025, 12, 1, 1, 0, tzinfo=UTC), step=timedelta(minutes=1))
    b.exemplary(b.lifecycle("CQ1", kind="agency"), returned=True)
    b.exemplary(b.lifecycle("TH1", kind="school"), outcome="revoked")
    b.lifecycle("A9")
    b.checkpoint_all()
    path = tmp_path_factory.mktemp("timeline-exemplary") / "h.jsonl.gz"
    b.write(path)
    return path


def test_as_of_shows_the_exemplary_track_beside_the_antt_one(exemplary_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["as-of", "2025-12-31", "--archive", str(exemplary_archive), "--province", "51"]) == 0
    got = {r["unit_year_id"]: r for r in rows(capsys.readouterr().out)}
    cq, th, a9 = got["CQ1:2025"], got["TH1:2025"], got["A9:2025"]
    assert (cq["state"], cq["approval_state"], cq["exemplary_state"]) == ("recognized", "recognized", "recognized")
    assert (cq["exemplary_decision_no"], cq["exemplary_certificate_no"]) == ("DH-CQ1/QĐ-UBND", "BK-CQ1")
    assert (cq["decision_no"], cq["exemplary_assessment_state"], cq["movement_rating"]) == ("CQ1/QĐ-UBND", "closed", "xuat_sac")
    assert cq["exemplary_state_vi"] == "được công nhận" and cq["exemplary_revoked_because"] == ""
    assert (th["state"], th["exemplary_state"], th["exemplary_revoked_because"]) == ("revoked", "revoked", "antt_revoked")
    assert a9["state"] == "recognized" and a9["exemplary_state"] == "" and a9["movement_rating"] == ""
    # which units held the exemplary title at the end of the year?
    args = ["as-of", "2025-12-31", "--archive", str(exemplary_archive), "--province", "51"]
    assert main([*args, "--exemplary-state", "recognized", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["unit_year_id"] for r in data["unit_years"]] == ["CQ1:2025"]


def test_as_of_a_moment_while_the_title_was_under_review(exemplary_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "CQ1:2025", "--archive", str(exemplary_archive), "--json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    returned = next(e for e in events if e["event_type"] == "ExemplaryTitleReturned")
    args = ["as-of", returned["recorded_at"], "--archive", str(exemplary_archive), "--unit-year", "CQ1:2025"]
    assert main([*args, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["unit_years"][0]
    assert (row["state"], row["exemplary_approval_state"], row["exemplary_state"]) == ("recognized", "returned", "returned")


def test_history_shows_the_exemplary_track(exemplary_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "TH1:2025", "--archive", str(exemplary_archive)]) == 0
    text = capsys.readouterr().out
    assert "[điển hình / exemplary]  Quyết định công nhận điển hình, kiểu mẫu về ANTT (ExemplaryTitleRecognized)" in text
    assert "Thu hồi danh hiệu điển hình" in text and "antt_revoked (thu hồi theo công nhận ANTT)" in text
    assert "bước (step): cấp tỉnh, thẩm định (review) — Ban Chỉ đạo tỉnh (thẩm định)" in text
    assert "Trạng thái hiện tại / current state: revoked" in text
    assert "Danh hiệu điển hình / exemplary title: revoked (bị thu hồi), quyết định TH-TH1/QĐ-UBND, thu hồi: antt_revoked" in text
    assert main(["history", "TH1:2025", "--archive", str(exemplary_archive), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    tracks = {e["event_type"]: e["track"] for e in data["events"]}
    assert tracks["UnitYearRevoked"] == "antt" and tracks["ExemplaryTitleRevoked"] == "exemplary"
    assert tracks["MovementClassificationRecorded"] == "antt"
    assert data["state"]["exemplary_state"] == "revoked"


def test_moments() -> None:
    tz = parse_tz("+07:00")
    assert parse_moment("2025-11-20", tz) == datetime(2025, 11, 20, 16, 59, 59, 999999, tzinfo=UTC)
    assert parse_moment("2025-11-20T08:00:00+07:00", tz) == datetime(2025, 11, 20, 1, 0, tzinfo=UTC)
    assert parse_moment("2025-11-20T08:00:00Z", tz) == datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
