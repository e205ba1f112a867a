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


def test_moments() -> None:
    tz = parse_tz("+07:00")
    assert parse_moment("2025-11-20", tz) == datetime(2025, 11, 20, 16, 59, 59, 999999, tzinfo=UTC)
    assert parse_moment("2025-11-20T08:00:00+07:00", tz) == datetime(2025, 11, 20, 1, 0, tzinfo=UTC)
    assert parse_moment("2025-11-20T08:00:00Z", tz) == datetime(2025, 11, 20, 8, 0, tzinfo=UTC)
