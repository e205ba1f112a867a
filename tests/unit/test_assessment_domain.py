"""Assessment domain: windows (mốc thời gian đánh giá), criteria catalogs, evaluation, the case."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.assessment.domain.criteria import load_catalog
from services.assessment.domain.model import AssessmentCase, AssessmentError, assessment_window, evaluate
from tests.unit.builders import all_criteria, unit

KINDS = ("residential_area", "commune", "agency", "enterprise", "school")
PREFIX = {"residential_area": "KDC", "commune": "XA", "agency": "CQ", "enterprise": "DN", "school": "GD"}


@pytest.mark.parametrize(
    "kind,year,start,end",
    [
        ("residential_area", 2025, date(2024, 11, 1), date(2025, 10, 31)),
        ("residential_area", 2024, date(2023, 11, 1), date(2024, 10, 31)),  # leap year
        ("commune", 2025, date(2024, 11, 16), date(2025, 11, 15)),
        ("agency", 2025, date(2024, 11, 16), date(2025, 11, 15)),
        ("enterprise", 2023, date(2022, 11, 16), date(2023, 11, 15)),
        ("school", 2022, date(2021, 11, 16), date(2022, 11, 15)),
    ],
)
def test_assessment_window(kind: str, year: int, start: date, end: date) -> None:
    assert assessment_window(kind, year) == (start, end)


@pytest.mark.parametrize("kind", KINDS)
def test_consecutive_windows_meet_without_gap_or_overlap(kind: str) -> None:
    _, end_2024 = assessment_window(kind, 2024)
    start_2025, _ = assessment_window(kind, 2025)
    assert (start_2025 - end_2024).days == 1


# --- catalogs --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_a_catalog_with_unique_codes(kind: str) -> None:
    cat = load_catalog(kind)
    assert cat.kind == kind and cat.version == "2021"
    assert cat.ref == f"{kind}.2021"
    assert "124/2021/TT-BCA" in cat.legal_basis
    codes = cat.codes()
    assert len(codes) == len(set(codes)) >= 4
    assert all(c.startswith(PREFIX[kind] + "-") for c in codes)
    assert {c.type for c in cat.criteria} <= {"gate", "event", "threshold", "judgement"}
    assert cat.criteria[0].type == "gate"  # criterion 1 is the Quarter I dossier
    assert all(c.title_vi for c in cat.criteria)


def test_unknown_kind_has_no_catalog() -> None:
    with pytest.raises(FileNotFoundError):
        load_catalog("hospital")


# --- evaluate ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_claims_alone_give_met_and_leave_the_evidence_to_the_reviewer(kind: str) -> None:
    """A self-assessment without evidence (only code/met) is judged met when every claim is
    met: what needs evidence is needs_review ("no evidence given"), never not_met."""
    cat = load_catalog(kind)
    ev = evaluate(cat, all_criteria(kind))
    assert ev.verdict == "met" and ev.unmet == []
    assert [c["code"] for c in ev.criteria] == cat.codes()
    assert all(c["result"] == "needs_review" and c["claimed_met"] and c["reason"] for c in ev.criteria)
    assert ev.criteria[0]["title"] == cat.criteria[0].title_vi
    assert "no evidence given" in ev.criteria[0]["reason"]


def test_one_unmet_gives_not_met_with_the_unmet_list_in_catalog_order() -> None:
    cat = load_catalog("agency")
    submitted = list(reversed(all_criteria("agency", unmet=("CQ-5", "CQ-3"))))
    submitted[0]["note"] = "2/5 phòng đạt danh hiệu"
    ev = evaluate(cat, submitted)
    assert ev.verdict == "not_met"
    assert ev.unmet == ["CQ-3", "CQ-5"]
    assert [c["code"] for c in ev.criteria] == cat.codes()
    by_code = {c["code"]: c for c in ev.criteria}
    assert by_code["CQ-5"]["result"] == "not_met" and by_code["CQ-5"]["reason"]
    assert by_code["CQ-5"]["note"] == "2/5 phòng đạt danh hiệu"
    assert by_code["CQ-1"]["result"] == "needs_review"


def _missing(kind: str) -> list[dict[str, Any]]:
    return all_criteria(kind)[:-1]


def _unknown(kind: str) -> list[dict[str, Any]]:
    return [*all_criteria(kind), {"code": "KDC-9", "met": True}]


def _duplicate(kind: str) -> list[dict[str, Any]]:
    c = all_criteria(kind)
    return [*c, dict(c[1])]


def _other_kind(kind: str) -> list[dict[str, Any]]:
    return all_criteria("school")


@pytest.mark.parametrize(
    "build,fragment",
    [
        (_missing, "criteria missing from the self-assessment: CQ-5"),
        (_unknown, "unknown criteria for agency"),
        (_unknown, "KDC-9"),
        (_duplicate, "criterion CQ-2 is given twice"),
        (_other_kind, "GD-1, GD-2, GD-3, GD-4, GD-5; expected CQ-1"),
    ],
)
def test_evaluate_requires_exact_coverage(build: Any, fragment: str) -> None:
    with pytest.raises(AssessmentError) as exc:
        evaluate(load_catalog("agency"), build("agency"))
    assert exc.value.code == "invalid_payload"
    assert fragment in exc.value.reason


# --- the case ------------------------------------------------------------------------------
def case(kind: str = "residential_area", year: int = 2025) -> AssessmentCase:
    return AssessmentCase.open(f"QN-X-1:{year}", year, unit(code="QN-X-1", kind=kind))


def test_open() -> None:
    c = case("school")
    assert c.state == "awaiting_self_assessment" and c.round == 0 and c.verdict is None
    assert c.catalog_ref == "school.2021"
    assert c.catalog == load_catalog("school")
    assert c.window() == (date(2024, 11, 16), date(2025, 11, 15))


def test_submit_records_the_round_and_result() -> None:
    c = case()
    ev = c.submit(all_criteria("residential_area", unmet=("KDC-4",)), date(2025, 10, 20), 88.5)
    assert ev.verdict == "not_met"
    assert c.state == "self_scored" and c.round == 1 and c.verdict == "not_met"
    assert c.result is not None
    assert c.result["round"] == 1 and c.result["meeting_date"] == "2025-10-20"
    assert c.result["unmet"] == ["KDC-4"] and c.result["score"] == 88.5
    assert len(c.result["criteria"]) == 5


@pytest.mark.parametrize(
    "kind,meeting,accepted",
    [
        ("residential_area", date(2024, 10, 31), False),
        ("residential_area", date(2024, 11, 1), True),
        ("agency", date(2024, 11, 15), False),
        ("agency", date(2024, 11, 16), True),
        ("agency", date(2025, 11, 15), True),
    ],
)
def test_the_meeting_cannot_predate_the_window(kind: str, meeting: date, accepted: bool) -> None:
    c = case(kind)
    if accepted:
        c.submit(all_criteria(kind), meeting, None)
        assert c.state == "self_scored"
        return
    with pytest.raises(AssessmentError) as exc:
        c.submit(all_criteria(kind), meeting, None)
    assert exc.value.code == "invalid_payload" and str(meeting) in exc.value.reason
    assert c.state == "awaiting_self_assessment" and c.round == 0


def test_an_invalid_submission_leaves_the_case_unchanged() -> None:
    c = case()
    with pytest.raises(AssessmentError):
        c.submit(all_criteria("residential_area")[:3], date(2025, 10, 1), None)
    assert c.state == "awaiting_self_assessment" and c.round == 0 and c.result is None


def test_submit_only_from_awaiting_or_returned() -> None:
    c = case()
    c.submit(all_criteria("residential_area"), date(2025, 10, 1), None)
    with pytest.raises(AssessmentError) as exc:
        c.submit(all_criteria("residential_area"), date(2025, 10, 2), None)
    assert exc.value.code == "illegal_transition"
    assert "self_scored" in exc.value.reason
    assert c.round == 1 and c.result is not None and c.result["meeting_date"] == "2025-10-01"

    c.reopen()
    assert c.state == "returned"
    c.submit(all_criteria("residential_area", unmet=("KDC-2",)), date(2025, 10, 15), None)
    assert c.state == "self_scored" and c.round == 2 and c.verdict == "not_met"


@pytest.mark.parametrize("final", ["close", "withdraw"])
def test_no_submission_after_the_case_ends(final: str) -> None:
    c = case()
    c.submit(all_criteria("residential_area"), date(2025, 10, 1), None)
    getattr(c, final)()
    with pytest.raises(AssessmentError) as exc:
        c.submit(all_criteria("residential_area"), date(2025, 10, 2), None)
    assert exc.value.code == "illegal_transition"


@pytest.mark.parametrize(
    "steps,trigger,ok",
    [
        ([], "reopen", False),
        ([], "close", False),
        ([], "withdraw", True),
        (["submit"], "reopen", True),
        (["submit"], "close", True),
        (["submit", "reopen"], "close", True),
        (["submit", "reopen"], "reopen", False),
        (["submit", "close"], "withdraw", False),
        (["withdraw"], "withdraw", False),
    ],
)
def test_case_transitions(steps: list[str], trigger: str, ok: bool) -> None:
    c = case()
    for s in steps:
        if s == "submit":
            c.submit(all_criteria("residential_area"), date(2025, 10, 1), None)
        else:
            getattr(c, s)()
    before = c.state
    if ok:
        getattr(c, trigger)()
        assert c.state != before
        return
    with pytest.raises(AssessmentError) as exc:
        getattr(c, trigger)()
    assert exc.value.code == "illegal_transition" and before in exc.value.reason
    assert c.state == before
