"""``verify`` on the exemplary track (điển hình): each stream replays through its own track's
lifecycle table, the title's recognition is checked like the ANTT one, and the title rests on
the unit-year's ANTT recognition. Each finding on a synthetic history, tampered with or written
wrong, and the same findings in worker processes as in one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from audit.digest import WRONG_TRACK, digest_event, init
from audit.sources import Record, read_archive, write_archive
from audit.synthetic import EXEMPLARY_PLAN, SYSTEM, HistoryBuilder, build, write_keys
from audit.verify import Verifier, verify_archive
from shared.contracts.checkpoint import PublicKeys
from shared.contracts.lifecycle import exemplary_stream, lifecycle_for
from shared.infra.outbox import outbox_row
from tests.unit.test_audit_shares import findings, summary

#: the three exemplary unit-years of the base history: (code, kind, outcome, returned once)
TRACKS = [(f"E{i:03d}", kind, outcome, returned) for i, (kind, outcome, returned) in enumerate(EXEMPLARY_PLAN)]
REC, REF, REV = (f"{code}:2025" for code, *_ in TRACKS)

Extra = Callable[[HistoryBuilder], None]
Change = Callable[[list[Record]], list[Record]]


def base(b: HistoryBuilder) -> None:
    """Six residential areas and the three exemplary tracks of :data:`EXEMPLARY_PLAN`: an agency
    returned once then recognised exemplary, an enterprise refused, a school recognised and
    then revoked with its ANTT recognition."""
    for i in range(6):
        b.lifecycle(f"T{i:03d}")
        if i == 2:
            b.checkpoint_all()
    for code, kind, outcome, returned in TRACKS:
        uy = b.lifecycle(code, kind=kind)
        b.exemplary(uy, outcome=outcome, returned=returned)


def write(tmp: Path, extra: Extra | None = None, *, partitions: int = 3) -> tuple[Path, PublicKeys]:
    b = HistoryBuilder(partitions=partitions)
    base(b)
    if extra is not None:
        extra(b)
    b.checkpoint_all()
    path = tmp / "history.jsonl.gz"
    b.write(path)
    write_keys(tmp / "keys", b.public_keys())
    return path, PublicKeys.load(tmp / "keys")


def tampered(path: Path, tmp: Path, change: Change) -> Path:
    """As in test_audit_verify: change the records, renumber each partition's offsets."""
    _manifest, records = read_archive(path)
    records = change(records)
    counters: dict[tuple[str, int], int] = {}
    out = []
    for r in records:
        n = counters.get((r.topic, r.partition), 0)
        counters[(r.topic, r.partition)] = n + 1
        out.append(Record(r.topic, r.partition, n, r.timestamp, r.key, r.value, r.headers))
    target = tmp / "tampered.jsonl.gz"
    write_archive(target, out)
    return target


def env(r: Record) -> dict:
    return orjson.loads(r.value)


def index_of(records: list[Record], stream: str, producer: str, event_type: str) -> int:
    return next(
        i
        for i, r in enumerate(records)
        if r.topic == f"antt.{producer}.events.v1" and env(r)["stream_id"] == stream and env(r)["event_type"] == event_type
    )


def errors(report) -> list[str]:
    return sorted(f.code for f in report.errors)


def one(report, code: str):
    found = [f for f in report.errors if f.code == code]
    assert len(found) == 1, [f.to_json() for f in report.findings]
    return found[0]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PublicKeys]:
    return write(tmp_path_factory.mktemp("exemplary"))


# ---------------------------------------------------------------------------- the clean track


def test_a_clean_exemplary_history_verifies(clean) -> None:
    path, keys = clean
    report = verify_archive(path, keys)
    assert report.ok, [f.to_json() for f in report.findings]
    s = report.stats
    assert s["unit_years"] == 9 and s["recognitions"] == 9
    # two producers write each unit-year's exemplary track; the refused title is not recognised
    assert s["exemplary_streams"] == 6 and s["exemplary_recognitions"] == 2


def test_the_report_counts_the_exemplary_track(clean, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from audit.cli import main

    path, _keys = clean
    assert main(["verify", "--archive", str(path), "--keys", str(path.parent / "keys")]) == 0
    out = capsys.readouterr().out
    assert "exemplary track (điển hình): streams 6, titles recognised 2" in out and "RESULT: OK" in out
    bad = tampered(path, tmp_path, drop_title_revocation)
    assert main(["verify", "--archive", str(bad), "--keys", str(path.parent / "keys"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "exemplary_outlived_antt" in [f["code"] for f in report["findings"]]


def test_each_stream_replays_through_the_table_lifecycle_for_gives_it(clean) -> None:
    """The verifier's table of every stream is the contract's choice, and the exemplary
    streams end in the states of the plan."""
    path, _keys = clean
    init(None)
    v = Verifier(PublicKeys())
    _manifest, records = read_archive(path)
    for r in records:
        if r.topic.endswith(".events.v1"):
            v.feed_events(r.topic, r.partition, [r.offset], [digest_event(r.value)])
    for (stream, producer), st in v.streams.items():
        lc = lifecycle_for(producer, stream)
        assert lc is not None and st.index == lc.index() and st.initial == lc.initial, (stream, producer)
    final = {k: st.state for k, st in v.streams.items()}
    assert final[(exemplary_stream(REC), "approval")] == "recognized"
    assert final[(exemplary_stream(REF), "approval")] == "not_recognized"
    assert final[(exemplary_stream(REV), "approval")] == "revoked"
    assert final[(REV, "approval")] == "revoked" and final[(REC, "approval")] == "recognized"
    assert {final[(exemplary_stream(uy), "assessment")] for uy in (REC, REF, REV)} == {"closed"}
    assert not v.findings


def test_the_services_write_both_tracks_of_a_unit_year_to_one_partition() -> None:
    """The rules between the two tracks are checked within a partition: the services' outbox
    keys an exemplary stream's events by the unit-year, as the ANTT stream's."""
    base_env = {"event_id": "e", "event_type": "ExemplaryTitleSelfScored", "unit_year_id": "CQ1:2025"}
    ex = outbox_row({**base_env, "stream_id": exemplary_stream("CQ1:2025")}, "antt.approval.events.v1")
    antt = outbox_row({**base_env, "stream_id": "CQ1:2025"}, "antt.approval.events.v1")
    assert ex["key"] == antt["key"] == "CQ1:2025"


def test_the_default_synthetic_history_has_the_exemplary_share_beside_unchanged_residential_areas() -> None:
    with_track = build(300, checkpoint_every=0)
    without = build(300, checkpoint_every=0, exemplary_every=0)

    def shape(b: HistoryBuilder, residential: bool) -> list[tuple[str, str, str]]:
        out = []
        for r in b.records():
            if r.topic.endswith(".events.v1"):
                e = env(r)
                if e["stream_id"].removeprefix("unit:").startswith("KDC") == residential:
                    out.append((e["producer"], e["event_type"], e["stream_id"]))
        return out

    assert shape(with_track, True) == shape(without, True)
    types = [t for _p, t, _s in shape(with_track, False)]
    assert types.count("ExemplaryTitleRecognized") == 2 and types.count("ExemplaryTitleNotRecognized") == 1
    assert types.count("ExemplaryTitleRevoked") == 1 and types.count("ExemplaryTitleReturned") == 1
    assert shape(without, False) == []


# ---------------------------------------------------------------------------- tamperings


def drop_first_self_scored(records: list[Record]) -> list[Record]:
    del records[index_of(records, exemplary_stream(REC), "approval", "ExemplaryTitleSelfScored")]
    return records


def drop_antt_revocation(records: list[Record]) -> list[Record]:
    del records[index_of(records, REV, "approval", "UnitYearRevoked")]
    return records


def drop_title_revocation(records: list[Record]) -> list[Record]:
    del records[index_of(records, exemplary_stream(REV), "approval", "ExemplaryTitleRevoked")]
    return records


def test_a_dropped_exemplary_self_scoring_is_event_dropped(clean, tmp_path: Path) -> None:
    path, keys = clean
    report = verify_archive(tampered(path, tmp_path, drop_first_self_scored), keys)
    f = one(report, "event_dropped")
    assert errors(report) == ["event_dropped"]
    assert f.stream == exemplary_stream(REC) and f.producer == "approval" and "sequence 2 missing" in f.message


def test_an_antt_revocation_removed_leaves_the_title_revocation_without_its_cause(clean, tmp_path: Path) -> None:
    path, keys = clean
    _m, records = read_archive(path)
    revoked = env(records[index_of(records, exemplary_stream(REV), "approval", "ExemplaryTitleRevoked")])
    report = verify_archive(tampered(path, tmp_path, drop_antt_revocation), keys)
    f = one(report, "exemplary_revocation_without_cause")
    assert f.event_id == revoked["event_id"] and f.stream == exemplary_stream(REV)
    assert f"no UnitYearRevoked of unit-year {REV}" in f.message
    # the title's and the re-evaluation's causes are gone too; the partition is one record
    # shorter than the last checkpoint signed
    assert set(errors(report)) == {"exemplary_revocation_without_cause", "unresolved_causation", "tail_dropped"}


def test_a_title_revocation_removed_leaves_a_title_that_outlives_its_antt_recognition(clean, tmp_path: Path) -> None:
    path, keys = clean
    _m, records = read_archive(path)
    antt = env(records[index_of(records, REV, "approval", "UnitYearRevoked")])
    report = verify_archive(tampered(path, tmp_path, drop_title_revocation), keys)
    f = one(report, "exemplary_outlived_antt")
    assert f.event_id == antt["event_id"] and f.stream == REV and "still recognised" in f.message
    assert set(errors(report)) == {"exemplary_outlived_antt", "tail_dropped"}


# ---------------------------------------------------------------------------- histories written wrong


def title_without_antt_recognition(b: HistoryBuilder) -> None:
    uy = b.lifecycle("X001", kind="agency", decide=False)
    b.exemplary(uy)


def title_after_antt_revocation(b: HistoryBuilder) -> None:
    uy = b.lifecycle("X002", kind="enterprise")
    b.revoke(uy)
    b.exemplary(uy)


def antt_revoked_without_revocation(b: HistoryBuilder) -> None:
    """A title revoked "because the ANTT recognition was", caused by a plain inbound message."""
    m = b.inbound("ExemplaryRevocationSubmitted", {"unit_year_id": REC}, key=REC.split(":")[0])
    b.emit(
        "approval",
        "ExemplaryTitleRevoked",
        {
            "unit_year_id": REC,
            "reasons": ["the ANTT recognition was revoked"],
            "decided_by": "Chủ tịch UBND tỉnh",
            "because_of": "antt_revoked",
            "state": "revoked",
        },
        stream=exemplary_stream(REC),
        unit_year_id=REC,
        cause=m,
        correlation=m,
    )


def exemplary_event_on_the_antt_stream(b: HistoryBuilder) -> None:
    m = b.inbound("ExemplarySelfAssessmentSubmitted", {"unit_year_id": REC}, key=REC.split(":")[0])
    b.emit(
        "approval",
        "ExemplaryTitleVerdictChanged",
        {"unit_year_id": REC, "verdict": "not_met", "unmet": ["DH-9"], "reason": "x", "state": "recognized"},
        stream=REC,
        unit_year_id=REC,
        cause=m,
        correlation=m,
    )


def antt_event_on_the_exemplary_stream(b: HistoryBuilder) -> None:
    m = b.inbound("ReviewDecisionSubmitted", {"unit_year_id": REF}, key=REF.split(":")[0])
    b.emit(
        "approval",
        "UnitYearReviewed",
        {
            "unit_year_id": REF,
            "level": "province",
            "decided_by": "Công an tỉnh",
            "state": "not_recognized",
            "pending_level": "province",
        },
        stream=exemplary_stream(REF),
        unit_year_id=REF,
        cause=m,
        correlation=m,
    )


def second_title_recognition(b: HistoryBuilder) -> None:
    m = b.inbound("ExemplaryDecisionSubmitted", {"unit_year_id": REC}, key=REC.split(":")[0])
    b.emit(
        "approval",
        "ExemplaryTitleRecognized",
        {
            "unit_year_id": REC,
            "level": "province",
            "deciding_body": "Chủ tịch UBND tỉnh",
            "decided_by": "Nguyễn Văn A",
            "decision_no": "2/QĐ-UBND",
            "state": "recognized",
        },
        stream=exemplary_stream(REC),
        unit_year_id=REC,
        cause=m,
        correlation=m,
    )


def title_by_another_province(b: HistoryBuilder) -> None:
    uy = b.lifecycle("X003", kind="school")
    b.exemplary(uy, actor={**SYSTEM, "id": "dvc-other", "jurisdiction": "province:52"})


def test_an_exemplary_title_without_antt_recognition(tmp_path: Path) -> None:
    report = verify_archive(*write(tmp_path, title_without_antt_recognition))
    f = one(report, "exemplary_without_antt")
    assert errors(report) == ["exemplary_without_antt"]
    assert f.stream == exemplary_stream("X001:2025") and "province_reviewed, not recognised" in f.message


def test_an_exemplary_title_recognised_after_its_antt_recognition_was_revoked(tmp_path: Path) -> None:
    report = verify_archive(*write(tmp_path, title_after_antt_revocation))
    f = one(report, "exemplary_without_antt")
    assert errors(report) == ["exemplary_without_antt"]
    assert f.stream == exemplary_stream("X002:2025") and "revoked before it" in f.message


def test_an_antt_revoked_revocation_must_be_caused_by_the_unit_years_revocation(tmp_path: Path) -> None:
    report = verify_archive(*write(tmp_path, antt_revoked_without_revocation))
    f = one(report, "exemplary_revocation_without_cause")
    assert errors(report) == ["exemplary_revocation_without_cause"]
    assert f.stream == exemplary_stream(REC)


def test_an_antt_revoked_revocation_caused_by_another_unit_years_revocation(tmp_path: Path) -> None:
    """In one partition, so that the other unit-year's revocation is there to be named."""

    def other(b: HistoryBuilder) -> None:
        b.revoke("T001:2025")
        cause = b.heads[("T001:2025", "approval")]
        revoked = next(
            env(r)["event_id"]
            for r in reversed(b.records())
            if r.topic == "antt.approval.events.v1" and env(r)["hash"] == cause[1]
        )
        b.emit(
            "approval",
            "ExemplaryTitleRevoked",
            {
                "unit_year_id": REC,
                "reasons": ["x"],
                "decided_by": "Chủ tịch UBND tỉnh",
                "because_of": "antt_revoked",
                "state": "revoked",
            },
            stream=exemplary_stream(REC),
            unit_year_id=REC,
            cause=revoked,
            correlation=revoked,
        )

    report = verify_archive(*write(tmp_path, other, partitions=1))
    f = one(report, "exemplary_revocation_without_cause")
    assert errors(report) == ["exemplary_revocation_without_cause"]
    assert "the revocation of another unit-year (T001:2025)" in f.message


@pytest.mark.parametrize(
    ("extra", "stream", "says"),
    [
        (exemplary_event_on_the_antt_stream, REC, "event of the exemplary track"),
        (antt_event_on_the_exemplary_stream, exemplary_stream(REF), "event of the ANTT track"),
    ],
    ids=["exemplary-on-antt", "antt-on-exemplary"],
)
def test_an_event_of_the_other_track_is_wrong_track(tmp_path: Path, extra: Extra, stream: str, says: str) -> None:
    report = verify_archive(*write(tmp_path, extra))
    f = one(report, "wrong_track")
    assert errors(report) == ["wrong_track"]
    assert f.stream == stream and says in f.message


def test_the_wrong_track_is_seen_per_record() -> None:
    """Even an event that changes no state (the verdict changed while under review) is known
    by its track's table: on the other track's stream it is marked."""
    init(None)
    b = HistoryBuilder(partitions=1)
    uy = b.lifecycle("W001", kind="agency")
    b.exemplary(uy)
    exemplary_event_on_the_antt_stream_of = b.emit(
        "approval",
        "ExemplaryTitleVerdictChanged",
        {"unit_year_id": uy, "verdict": "met", "unmet": [], "reason": "x", "state": "recognized"},
        stream=uy,
        unit_year_id=uy,
        cause=None,
        correlation="c",
    )
    d = digest_event(orjson.dumps(exemplary_event_on_the_antt_stream_of))
    assert d[13] == WRONG_TRACK
    on_its_own = dict(exemplary_event_on_the_antt_stream_of, stream_id=exemplary_stream(uy))
    assert digest_event(orjson.dumps(on_its_own))[13] is None


def test_a_second_title_recognition_is_an_illegal_transition_of_the_exemplary_table(tmp_path: Path) -> None:
    report = verify_archive(*write(tmp_path, second_title_recognition))
    f = one(report, "illegal_transition")
    assert errors(report) == ["illegal_transition"]
    assert f.stream == exemplary_stream(REC) and "(recognize) is not allowed in state recognized" in f.message


def test_a_title_recognised_by_another_province_is_without_authority(tmp_path: Path) -> None:
    report = verify_archive(*write(tmp_path, title_by_another_province))
    f = one(report, "recognition_without_authority")
    assert errors(report) == ["recognition_without_authority"]
    assert f.stream == exemplary_stream("X003:2025") and "'province:52'" in f.message


# ---------------------------------------------------------------------------- shares


EXTRAS: list[Extra | None] = [
    None,
    title_without_antt_recognition,
    title_after_antt_revocation,
    antt_revoked_without_revocation,
    exemplary_event_on_the_antt_stream,
    antt_event_on_the_exemplary_stream,
    second_title_recognition,
]
CHANGES: list[Change] = [drop_first_self_scored, drop_antt_revocation, drop_title_revocation]


@pytest.mark.parametrize("case", [*EXTRAS, *CHANGES], ids=lambda c: "clean" if c is None else c.__name__)
def test_shares_find_what_one_process_finds_on_the_exemplary_track(tmp_path: Path, case) -> None:
    if case in CHANGES:
        path, keys = write(tmp_path)
        path = tampered(path, tmp_path, case)
    else:
        path, keys = write(tmp_path, case)
    single = verify_archive(path, keys)
    assert single.ok == (case is None)
    for jobs in (2, 3):
        shared = verify_archive(path, keys, jobs=jobs)
        assert findings(shared) == findings(single)
        assert summary(shared) == summary(single)


def _open_title(b: HistoryBuilder, uy: str) -> str:
    """The opening of a title's case, caused by the unit-year's last ANTT event (no movement or
    proposal: the lapse is what is checked); its event id."""
    last = b.heads[(uy, "approval")][1]
    cause = next(env(r)["event_id"] for r in reversed(b.records()) if env(r).get("hash") == last)
    return str(b.open_title(uy, cause=cause, correlation=cause)["event_id"])


def _lapse(b: HistoryBuilder, uy: str, cause: str) -> None:
    b.emit(
        "approval",
        "ExemplaryTitleLapsed",
        {"unit_year_id": uy, "reason": "the recognition “An toàn về ANTT” is gone", "state": "lapsed"},
        stream=exemplary_stream(uy),
        unit_year_id=uy,
        cause=cause,
        correlation=cause,
    )


def test_a_title_that_lapses_while_its_antt_recognition_stands(tmp_path: Path) -> None:
    def lapse_in_force(b: HistoryBuilder) -> None:
        uy = b.lifecycle("X003", kind="agency")
        _lapse(b, uy, _open_title(b, uy))

    report = verify_archive(*write(tmp_path, lapse_in_force))
    f = one(report, "exemplary_lapse_without_cause")
    assert errors(report) == ["exemplary_lapse_without_cause"]
    assert f.stream == exemplary_stream("X003:2025") and "is in force" in f.message


def test_a_title_lapses_when_its_antt_recognition_is_revoked_under_review(tmp_path: Path) -> None:
    def lapse_after_revocation(b: HistoryBuilder) -> None:
        uy = b.lifecycle("X004", kind="agency")
        _open_title(b, uy)
        b.revoke(uy, title="proposed")

    report = verify_archive(*write(tmp_path, lapse_after_revocation))
    assert errors(report) == [], [f.to_json() for f in report.findings]


def test_a_title_lapses_at_its_opening_when_its_unit_year_is_not_recognised(tmp_path: Path) -> None:
    def lapse_at_opening(b: HistoryBuilder) -> None:
        uy = b.lifecycle("X005", kind="agency")
        b.revoke(uy)  # no title yet: only the ANTT recognition is revoked
        _lapse(b, uy, _open_title(b, uy))

    report = verify_archive(*write(tmp_path, lapse_at_opening))
    assert errors(report) == [], [f.to_json() for f in report.findings]


def test_a_removed_antt_revocation_leaves_its_lapse_without_cause(tmp_path: Path) -> None:
    def lapse_after_revocation(b: HistoryBuilder) -> None:
        uy = b.lifecycle("X006", kind="agency")
        _open_title(b, uy)
        b.revoke(uy, title="proposed")

    path, keys = write(tmp_path, lapse_after_revocation)

    def drop_revocation(records: list[Record]) -> list[Record]:
        return [
            r
            for r in records
            if not (env(r).get("event_type") == "UnitYearRevoked" and env(r).get("unit_year_id") == "X006:2025")
        ]

    report = verify_archive(tampered(path, tmp_path, drop_revocation), keys)
    assert "exemplary_lapse_without_cause" in errors(report)
