"""``bench.replay``: a kept run's records through one service's own consumers and relay, on a
fresh database, with the CPU counted by part."""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson

from bench import replay
from shared.contracts import topics
from shared.infra.settings import ServiceSettings
from tests.unit.builders import SENDER, to_bytes, unit
from tests.unit.builders import message as signed

#: the replay runs a service with its default settings: the development senders' keys
DEV_KEY = orjson.loads(ServiceSettings().senders_file.read_bytes())[SENDER]["key"]


def message(event_type: str, payload: dict[str, object]) -> dict[str, object]:
    return signed(event_type, payload, key=DEV_KEY)


def _records() -> list[replay.Record]:
    out = []
    for i in range(5):
        code = f"QN-KDC-{i:03d}"
        for offset, msg in enumerate(
            (
                message("UnitRegistrationSubmitted", {"unit": unit(code=code)}),
                message(
                    "UnitYearRegistrationSubmitted",
                    {
                        "unit_code": code,
                        "year": 2025,
                        "documents": [{"kind": "registration_form", "ref": f"DK-{code}", "issued_on": "2025-02-10"}],
                        "households_total": 120,
                        "households_registered": 118,
                    },
                ),
                message(
                    "SelfAssessmentSubmitted", {"unit_year_id": f"{code}:2025", "criteria": [], "meeting_date": "2025-10-20"}
                ),
            )
        ):
            out.append(replay.Record(topics.INBOUND, i % 3, 10 * i + offset, 1000 * i + offset, code.encode(), to_bytes(msg), ()))
    return out


async def test_a_service_applies_its_records_and_its_relay_publishes_the_events() -> None:
    res = await replay.replay_once("registration", _records(), batch=4, profile=None)
    # registration owns the two registrations of each unit (not the self-assessment)
    assert res["outcomes"] == {"applied": 10} and res["dead_letters"] == {}
    assert res["records"] == 15 and res["published"] == 10  # UnitRegistered, UnitYearRegistered
    assert set(res["cpu_s"]) == {"consume antt.inbound.v1", "relay", "parking sweep and relay"}
    assert res["cpu_total_s"] > 0


async def test_a_profiled_pass_writes_both_threads_statistics(tmp_path: Path) -> None:
    out = tmp_path / "r.pstats"
    await replay.replay_once("registration", _records(), batch=6, profile=out)
    import pstats

    names = {func[2] for func in pstats.Stats(str(out)).stats}  # type: ignore[attr-defined]
    assert "_run_batch" in names and "process" in names  # the writer thread's and the event loop's


def test_records_are_read_once_then_from_the_kept_file(tmp_path: Path) -> None:
    recs = _records()
    with (tmp_path / replay.RECORDS_FILE).open("wb") as f:
        pickle.dump([(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs], f)
    assert replay.load_records(tmp_path) == recs
    assert replay.lifecycles(recs) == 0


async def test_the_instant_producer_numbers_each_partition() -> None:
    p = replay.InstantProducer(partitions=6)
    metas = [await (await p.send("t", value=b"x", key=b"QN-KDC-001", headers=[])) for _ in range(3)]
    assert [m.offset for m in metas] == [0, 1, 2] and len({m.partition for m in metas}) == 1
    assert (await (await p.send("t", value=b"x", key=None, headers=[]))).partition == 0
