"""Approval domain: the configured chains (2021 and 2025 profiles) and the approval case."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.approval.domain.chains import ChainConfig
from services.approval.domain.model import ApprovalCase, ApprovalError, Rollup
from shared.contracts.events import Event
from tests.unit.builders import unit

DECIDING_BODY = {
    "commune": "Chủ tịch UBND xã",
    "district": "Chủ tịch UBND huyện",
    "province": "Chủ tịch UBND tỉnh",
    "ministry": "Bộ trưởng Bộ Công an",
}

# (kind, managing level, year) -> (profile, level that decides recognition)
CHAINS = [
    # 2021 profile (Circular 124/2021, three-level local government)
    ("residential_area", "commune", 2024, "2021", "commune"),
    ("commune", "district", 2024, "2021", "district"),
    *(
        (k, lvl, 2024, "2021", lvl)
        for k in ("agency", "enterprise", "school")
        for lvl in ("commune", "district", "province", "ministry")
    ),
    # 2025 profile (two-level local government: no district)
    ("residential_area", "commune", 2025, "2025", "commune"),
    ("commune", "province", 2025, "2025", "province"),
    ("commune", "district", 2025, "2025", "province"),
    *((k, "commune", 2025, "2025", "commune") for k in ("agency", "enterprise", "school")),
    *((k, "district", 2025, "2025", "province") for k in ("agency", "enterprise", "school")),
    *((k, "province", 2025, "2025", "province") for k in ("agency", "enterprise", "school")),
    *((k, "ministry", 2025, "2025", "ministry") for k in ("agency", "enterprise", "school")),
    # the profile stays in force in later years
    ("commune", "district", 2022, "2021", "district"),
    ("commune", "district", 2030, "2025", "province"),
]


@pytest.mark.parametrize("kind,managing,year,profile,decides", CHAINS, ids=lambda v: str(v))
def test_chain_for(kind: str, managing: str, year: int, profile: str, decides: str) -> None:
    chain = ChainConfig.load().chain_for(unit(kind=kind, managing_level=managing), year)
    assert chain.profile == profile
    roles = [s["role"] for s in chain.steps]
    assert roles[0] == "review", "every chain starts with an appraisal (thẩm định)"
    assert roles[-1] == "decide" and roles.count("decide") == 1
    last = chain.steps[-1]
    assert last["level"] == decides
    assert last["body"] == DECIDING_BODY[decides]
    assert all(s["level"] != "district" for s in chain.steps) or profile == "2021"
    assert chain.deadline == (date(year, 11, 15) if kind == "residential_area" else date(year, 11, 20))


def test_a_residential_area_is_appraised_and_recognised_by_its_commune() -> None:
    for year in (2024, 2025):
        chain = ChainConfig.load().chain_for(unit(), year)
        assert [(s["level"], s["role"]) for s in chain.steps] == [("commune", "review"), ("commune", "decide")]


def test_no_profile_before_the_circular() -> None:
    with pytest.raises(LookupError, match="no approval profile for province 51 in 2021"):
        ChainConfig.load().chain_for(unit(), 2021)


def _config(**provinces: list[dict[str, Any]]) -> ChainConfig:
    base = ChainConfig.load().data
    return ChainConfig({**base, "selection": {"default": base["selection"]["default"], "provinces": provinces}})


def test_a_province_can_switch_profile_in_another_year() -> None:
    cfg = _config(**{"51": [{"from_year": 2022, "profile": "2021"}, {"from_year": 2024, "profile": "2025"}]})
    assert cfg.profile_for("51", 2023) == "2021"
    assert cfg.profile_for("51", 2024) == "2025"
    assert cfg.profile_for("01", 2024) == "2021"  # others keep the default
    assert cfg.chain_for(unit(kind="commune", managing_level="district"), 2024).steps[-1]["level"] == "province"


def test_a_kind_or_level_without_a_chain_is_a_lookup_error() -> None:
    cfg = ChainConfig.load()
    with pytest.raises(LookupError, match="no chain for unit kind hospital"):
        cfg.chain_for(unit(kind="hospital"), 2025)
    with pytest.raises(LookupError, match="agency managed at village level"):
        cfg.chain_for(unit(kind="agency", managing_level="village"), 2025)


# --- the case --------------------------------------------------------------------------------
TODAY = date(2025, 11, 1)


def open_case(kind: str = "residential_area", managing: str = "commune", year: int = 2025) -> ApprovalCase:
    u = unit(code="QN-X-1", kind=kind, managing_level=managing)
    return ApprovalCase.open(f"QN-X-1:{year}", year, u, ChainConfig.load().chain_for(u, year))


def decide(
    case: ApprovalCase, decision: str = "pass", *, level: str | None = None, reasons: list[str] | None = None, **kw: Any
) -> Event:
    return case.decide(
        level=level or case.pending_level or "commune",
        decision=decision,
        reasons=reasons or [],
        decided_by=kw.pop("decided_by", "cán bộ thẩm định"),
        decision_no=kw.pop("decision_no", None),
        decided_on=kw.pop("decided_on", None),
        certificate_no=kw.pop("certificate_no", None),
        today=TODAY,
    )


def snapshot(case: ApprovalCase) -> tuple[Any, ...]:
    return (case.state, case.step, case.pending_level, case.round, case.verdict, list(case.decisions))


def test_open() -> None:
    c = open_case("agency", "province", 2024)
    assert c.state == "registered" and c.step == 0 and c.pending_level is None and c.pending_step is None
    assert c.chain_profile == "2021" and c.deadline == date(2024, 11, 20)
    assert (c.kind, c.province_code, c.commune_code) == ("agency", "51", "51001")


def test_residential_area_pass_path() -> None:
    c = open_case()
    out = c.self_score(1, "met", [])
    assert out.event_type == "UnitYearSelfScored"
    assert out.payload == {
        "unit_year_id": "QN-X-1:2025",
        "round": 1,
        "verdict": "met",
        "unmet": [],
        "state": "self_scored",
        "pending_level": "commune",
        "deadline": "2025-11-15",
    }
    assert c.pending_step == c.chain[0]

    out = decide(c, level="commune", decided_by="Công an xã Phú Đình")
    assert out.event_type == "UnitYearReviewed"
    assert out.payload["state"] == "commune_reviewed" and out.payload["pending_level"] == "commune"
    assert c.step == 1 and c.pending_step == c.chain[1]

    out = decide(c, level="commune", decided_by="Chủ tịch UBND xã", decision_no="QĐ-15/UBND", certificate_no="GCN-7")
    assert out.event_type == "UnitYearRecognized"
    assert out.payload == {
        "unit_year_id": "QN-X-1:2025",
        "level": "commune",
        "decided_by": "Chủ tịch UBND xã",
        "decision_no": "QĐ-15/UBND",
        "deciding_body": "Chủ tịch UBND xã",
        "decided_on": "2025-11-01",
        "certificate_no": "GCN-7",
        "state": "recognized",
    }
    assert c.state == "recognized" and c.pending_level is None and c.pending_step is None
    assert [(d["role"], d["decision"], d["round"]) for d in c.decisions] == [("review", "pass", 1), ("decide", "pass", 1)]

    with pytest.raises(ApprovalError) as exc:
        decide(c, level="commune")
    assert exc.value.code == "illegal_transition" and "final" in exc.value.reason


@pytest.mark.parametrize("year,decides", [(2024, "province"), (2025, "province")])
def test_province_agency_pass_path(year: int, decides: str) -> None:
    c = open_case("agency", "province", year)
    c.self_score(1, "met", [])
    levels = []
    out = None
    while c.pending_level is not None:
        levels.append(c.pending_level)
        out = decide(c, decided_on=date(year, 11, 10))
    assert out is not None and out.event_type == "UnitYearRecognized"
    assert levels[-1] == decides
    assert out.payload["deciding_body"] == "Chủ tịch UBND tỉnh"
    assert out.payload["decided_on"] == f"{year}-11-10"
    assert c.state == "recognized"
    assert len(c.decisions) == len(c.chain)


@pytest.mark.parametrize(
    "year,level,reviewed_state", [(2024, "district", "district_reviewed"), (2025, "province", "province_reviewed")]
)
def test_commune_is_appraised_and_decided_above_the_commune(year: int, level: str, reviewed_state: str) -> None:
    """Art. 9-10: a commune is appraised by the district steering committee and recognised by
    the district chairman (2021); with no district level, by the province (2025)."""
    c = open_case("commune", "district", year)
    c.self_score(1, "met", [])
    with pytest.raises(ApprovalError) as exc:
        decide(c, level="commune")
    assert exc.value.code == "wrong_level"
    out = decide(c, level=level)
    assert out.payload["state"] == reviewed_state and out.payload["pending_level"] == level
    rollup = Rollup(
        "51001",
        year,
        total=10,
        registered=10,
        decided=10,
        recognized=7,
        pending=(),
        unregistered=(),
        children_deadline=date(year, 11, 20),
    )
    out = c.decide(
        level=level,
        decision="pass",
        reasons=[],
        decided_by="Chủ tịch UBND",
        decision_no=None,
        decided_on=None,
        certificate_no=None,
        today=TODAY,
        rollup=rollup,
        rollup_rule=(1.0, 0.7, "XA-4"),
    )
    assert out.event_type == "UnitYearRecognized" and out.payload["level"] == level
    assert c.decisions[-1]["rollup"]["recognized_pct"] == 70.0


def test_a_commune_is_not_passed_without_its_childrens_results() -> None:
    c = open_case("commune", "district", 2025)
    c.self_score(1, "met", [])
    decide(c, level="province")
    with pytest.raises(ApprovalError) as exc:
        decide(c, level="province")
    assert exc.value.code == "criteria_not_met" and "children" in exc.value.reason
    assert c.state == "province_reviewed"


@pytest.mark.parametrize("level", ["district", "province", "ministry"])
def test_wrong_level_is_refused_and_changes_nothing(level: str) -> None:
    c = open_case()
    c.self_score(1, "met", [])
    before = snapshot(c)
    with pytest.raises(ApprovalError) as exc:
        decide(c, level=level)
    assert exc.value.code == "wrong_level"
    assert "awaits a decision at commune level" in exc.value.reason and f"not at {level} level" in exc.value.reason
    assert "step 1 of 2" in exc.value.reason
    assert snapshot(c) == before


def test_pass_with_verdict_not_met_is_refused_then_reject_works() -> None:
    c = open_case()
    c.self_score(1, "not_met", ["KDC-3", "KDC-4"])
    before = snapshot(c)
    with pytest.raises(ApprovalError) as exc:
        decide(c, "pass")
    assert exc.value.code == "criteria_not_met"
    assert "KDC-3, KDC-4" in exc.value.reason
    assert snapshot(c) == before

    out = decide(c, "reject", reasons=["Để xảy ra trọng án (tiêu chí 4)"])
    assert out.event_type == "UnitYearNotRecognized"
    assert out.payload["reasons"] == ["Để xảy ra trọng án (tiêu chí 4)"]
    assert out.payload["state"] == "not_recognized" and c.state == "not_recognized"
    assert c.pending_level is None


@pytest.mark.parametrize("decision", ["return", "reject"])
def test_return_and_reject_require_reasons(decision: str) -> None:
    c = open_case()
    c.self_score(1, "met", [])
    before = snapshot(c)
    with pytest.raises(ApprovalError) as exc:
        decide(c, decision, reasons=[])
    assert exc.value.code == "invalid_payload" and "must give reasons" in exc.value.reason
    assert snapshot(c) == before


def test_unknown_decision_is_refused() -> None:
    c = open_case()
    c.self_score(1, "met", [])
    before = snapshot(c)
    with pytest.raises(ApprovalError) as exc:
        decide(c, "maybe", reasons=["?"])
    assert exc.value.code == "invalid_payload" and "'maybe'" in exc.value.reason
    assert snapshot(c) == before


def test_return_resets_to_step_zero_and_a_new_self_score_restarts_the_chain() -> None:
    c = open_case("agency", "province", 2025)
    c.self_score(1, "met", [])
    decide(c)  # the appraisal passes
    assert c.step == 1
    out = decide(c, "return", reasons=["Thiếu biên bản họp"])
    assert out.event_type == "UnitYearReturned"
    assert out.payload["reasons"] == ["Thiếu biên bản họp"] and out.payload["state"] == "returned"
    assert (c.state, c.step, c.pending_level) == ("returned", 0, None)

    with pytest.raises(ApprovalError) as exc:
        decide(c, level="province")
    assert exc.value.code == "illegal_transition" and "returned for supplement" in exc.value.reason

    out = c.self_score(2, "met", [])
    assert out.payload["round"] == 2 and out.payload["pending_level"] == c.chain[0]["level"]
    assert (c.state, c.step) == ("self_scored", 0)
    with pytest.raises(ApprovalError) as exc:
        decide(c, level="ministry")
    assert exc.value.code == "wrong_level"
    decide(c)
    out = decide(c)
    assert out.event_type == "UnitYearRecognized"
    assert [d["round"] for d in c.decisions] == [1, 1, 2, 2]
    assert [d["decision"] for d in c.decisions] == ["pass", "return", "pass", "pass"]


def test_the_self_scored_event_names_the_unmet_criteria() -> None:
    """A ``not_met`` self-assessment still goes to review (the reviewers decide); its event says
    which criteria were found not met, as the exemplary title's does."""
    c = open_case()
    out = c.self_score(1, "not_met", ["KDC-2", "KDC-4"])
    assert out.event_type == "UnitYearSelfScored"
    assert out.payload["verdict"] == "not_met" and out.payload["unmet"] == ["KDC-2", "KDC-4"]
    assert c.unmet == ["KDC-2", "KDC-4"]
    other = open_case()
    assert other.self_score(1, "met", []).payload["unmet"] == []


def test_a_decision_before_self_assessment_is_illegal() -> None:
    c = open_case()
    with pytest.raises(ApprovalError) as exc:
        decide(c, level="commune")
    assert exc.value.code == "illegal_transition"
    assert "not been self-assessed" in exc.value.reason
    assert c.state == "registered" and c.decisions == []


def test_self_score_while_under_review_is_illegal() -> None:
    c = open_case()
    c.self_score(1, "met", [])
    decide(c)
    before = snapshot(c)
    with pytest.raises(ApprovalError) as exc:
        c.self_score(2, "met", [])
    assert exc.value.code == "illegal_transition"
    assert snapshot(c) == before


@pytest.mark.parametrize("steps", [[], ["self_score"], ["self_score", "review"], ["self_score", "return"]])
def test_withdraw_before_a_final_decision(steps: list[str]) -> None:
    c = open_case()
    for s in steps:
        if s == "self_score":
            c.self_score(1, "met", [])
        elif s == "review":
            decide(c)
        else:
            decide(c, "return", reasons=["bổ sung"])
    out = c.withdraw("đơn vị rút đăng ký")
    assert (out.event_type, out.payload) == (
        "ApprovalCaseWithdrawn",
        {"unit_year_id": "QN-X-1:2025", "reason": "đơn vị rút đăng ký", "state": "withdrawn"},
    )
    assert c.state == "withdrawn" and c.pending_level is None


@pytest.mark.parametrize("final", ["recognized", "not_recognized", "withdrawn"])
def test_withdraw_after_a_final_state_is_illegal(final: str) -> None:
    c = open_case()
    c.self_score(1, "met", [])
    if final == "recognized":
        decide(c)
        decide(c)
    elif final == "not_recognized":
        decide(c, "reject", reasons=["x"])
    else:
        c.withdraw("first")
    with pytest.raises(ApprovalError) as exc:
        c.withdraw("again")
    assert exc.value.code == "illegal_transition"
    assert c.state == final


def test_is_late() -> None:
    c = open_case()  # deadline 15 Nov 2025
    assert not c.is_late(date(2025, 11, 15))
    assert c.is_late(date(2025, 11, 16))
    c.self_score(1, "met", [])
    decide(c)
    decide(c)
    assert not c.is_late(date(2025, 12, 31))  # decided: no longer late
