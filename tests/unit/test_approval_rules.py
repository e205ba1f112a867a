"""Approval rules beyond the chain: the commune roll-up of criterion 4 (Art. 5.4), who may
decide at which level, incident flags, verdict changes, revocation, delegation."""

from __future__ import annotations

from datetime import date

import pytest

from services.approval.domain.chains import ChainConfig
from services.approval.domain.model import ApprovalCase, ApprovalError, Rollup, commune_code_of, may_decide
from tests.unit.builders import unit

RULE = (1.0, 0.7, "XA-4")
TODAY = date(2025, 11, 25)


def rollup(
    total: int, registered: int, recognized: int, pending: tuple[str, ...] = (), deadline: date = date(2025, 11, 20)
) -> Rollup:
    decided = registered - len(pending)
    unregistered = tuple(f"U{i}" for i in range(total - registered))
    return Rollup("51001", 2025, total, registered, decided, recognized, pending, unregistered, deadline)


@pytest.mark.parametrize(
    "total,registered,recognized,ok,fragment",
    [
        (10, 10, 7, True, None),
        (10, 10, 6, False, "6 of 10 units managed by commune 51001 recognised (60.0%), below 70%"),
        (1000, 1000, 700, True, None),  # exactly 70%
        (1000, 1000, 699, False, "699 of 1000"),  # 69.9%
        (100, 99, 90, False, "99 of 100 units managed by commune 51001 registered (99.0%), 100% required"),
        (100, 100, 100, True, None),
        (0, 0, 0, False, "cannot be established"),
    ],
)
def test_criterion_4_thresholds(total: int, registered: int, recognized: int, ok: bool, fragment: str | None) -> None:
    r = rollup(total, registered, recognized)
    if ok:
        r.check(*RULE, today=TODAY)
    else:
        with pytest.raises(ApprovalError) as exc:
            r.check(*RULE, today=TODAY)
        assert exc.value.code == "criteria_not_met"
        assert fragment in exc.value.reason


def test_children_pending_block_until_their_deadline() -> None:
    r = rollup(10, 10, 9, pending=("K9:2025",), deadline=date(2025, 11, 20))
    with pytest.raises(ApprovalError) as exc:
        r.check(*RULE, today=date(2025, 11, 20))
    assert exc.value.code == "children_pending" and "K9:2025" in exc.value.reason and "1 of 10" in exc.value.reason
    r.check(*RULE, today=date(2025, 11, 21))  # the deadline has passed: decided on what is in


def test_rollup_view_shows_the_live_figures() -> None:
    v = rollup(10, 9, 7, pending=("K8:2025",)).view()
    assert v["children_total"] == 10 and v["registered"] == 9 and v["decided"] == 8 and v["recognized"] == 7
    assert v["registered_pct"] == 90.0 and v["recognized_pct"] == 70.0
    assert v["pending"] == ["K8:2025"] and v["unregistered"] == ["U0"]


def test_commune_code_of() -> None:
    assert commune_code_of({"code": "XA-PD", "commune_code": "PD"}) == "PD"
    assert commune_code_of({"code": "XA-PD", "commune_code": None}) == "XA-PD"


UNIT = {"code": "K1", "province_code": "51", "district_code": "D1", "commune_code": "C1"}


@pytest.mark.parametrize(
    "jurisdiction,level,allowed",
    [
        (["*"], "ministry", True),
        (["ministry"], "ministry", True),
        (["ministry"], "province", False),
        (["province:51"], "province", True),
        (["province:51"], "commune", True),
        (["province:51"], "ministry", False),
        (["province:79"], "commune", False),
        (["district:D1"], "district", True),
        (["district:D1"], "commune", True),
        (["district:D1"], "province", False),
        (["commune:C1"], "commune", True),
        (["commune:C1"], "district", False),
        (["commune:C2"], "commune", False),
        (["commune:C2", "province:51"], "province", True),
    ],
)
def test_who_may_decide_at_which_level(jurisdiction: list[str], level: str, allowed: bool) -> None:
    assert may_decide(jurisdiction, level, UNIT) is allowed


def _case(kind: str = "residential_area", managing: str = "commune", year: int = 2025) -> ApprovalCase:
    u = unit(code="QN-X-1", kind=kind, managing_level=managing)
    return ApprovalCase.open(f"QN-X-1:{year}", year, u, ChainConfig.load().chain_for(u, year))


def _pass(c: ApprovalCase, **kw: object) -> None:
    c.decide(
        level=c.pending_level or "commune",
        decision="pass",
        reasons=[],
        decided_by="x",
        decision_no="1/QĐ",
        decided_on=None,
        certificate_no="GCN-1",
        today=TODAY,
        **kw,  # type: ignore[arg-type]
    )


def test_a_commune_officer_cannot_take_the_provinces_decision() -> None:
    c = _case("agency", "province")
    c.self_score(1, "met", [])
    with pytest.raises(ApprovalError) as exc:
        _pass(c, jurisdiction=["commune:51001"])
    assert exc.value.code == "out_of_jurisdiction" and "province level" in exc.value.reason
    assert c.state == "self_scored"
    _pass(c, jurisdiction=["province:51"])
    assert c.state == "province_reviewed"


def test_verdict_change_while_under_review_then_pass_is_refused() -> None:
    c = _case()
    c.self_score(1, "met", [])
    out = c.change_verdict("not_met", ["KDC-4"], "incident CA-1: serious crime on 2025-06-03")
    assert out is not None and out.event_type == "VerdictChanged" and out.payload["unmet"] == ["KDC-4"]
    assert c.change_verdict("not_met", ["KDC-4"], "same again") is None
    with pytest.raises(ApprovalError) as exc:
        _pass(c)
    assert exc.value.code == "criteria_not_met" and "KDC-4" in exc.value.reason


def test_incident_after_recognition_flags_and_revocation_is_explicit() -> None:
    c = _case()
    c.self_score(1, "met", [])
    _pass(c)
    _pass(c)
    assert c.state == "recognized"
    out = c.flag_incident("CA-9", "KDC-4", "serious crime on 2025-09-30, reported 2025-12-02")
    assert out is not None and out.event_type == "IncidentFlagged" and out.payload["flag_for_level"] == "commune"
    assert c.state == "recognized" and c.open_flags == 1  # never automatic
    assert c.flag_incident("CA-9", "KDC-4", "again") is None
    # the same id from another sender is another incident
    other = c.flag_incident("CA-9", "KDC-4", "from the province police", "cong-an-tinh")
    assert other is not None and c.open_flags == 2
    assert c.flag_incident("CA-9", "KDC-4", "again", "cong-an-tinh") is None
    with pytest.raises(ApprovalError) as exc:
        c.revoke(reasons=[], decided_by="Chủ tịch UBND xã", decision_no=None, decided_on=None, today=TODAY)
    assert exc.value.code == "invalid_payload"
    with pytest.raises(ApprovalError) as exc:
        c.revoke(reasons=["x"], decided_by="y", decision_no=None, decided_on=None, today=TODAY, jurisdiction=["commune:OTHER"])
    assert exc.value.code == "out_of_jurisdiction"
    out = c.revoke(
        reasons=["Vụ án nghiêm trọng"], decided_by="Chủ tịch UBND xã", decision_no="9/QĐ", decided_on=None, today=TODAY
    )
    assert out.event_type == "UnitYearRevoked" and c.state == "revoked" and c.open_flags == 0
    assert c.decisions[-1]["decision"] == "revoke"
    with pytest.raises(ApprovalError) as exc:
        c.revoke(reasons=["x"], decided_by="y", decision_no=None, decided_on=None, today=TODAY)
    assert exc.value.code == "illegal_transition"


def test_an_incident_before_recognition_raises_no_flag() -> None:
    c = _case()
    c.self_score(1, "met", [])
    assert c.flag_incident("CA-1", "KDC-3", "x") is None


def test_delegation_one_level_down() -> None:
    base = ChainConfig.load().data
    cfg = ChainConfig(
        {**base, "delegations": {"provinces": {"51": [{"from_year": 2025, "kind": "school", "from_level": "province"}]}}}
    )
    school = unit(kind="school", managing_level="province")
    chain = cfg.chain_for(school, 2025)
    assert [s["level"] for s in chain.steps] == ["commune", "commune"] and chain.delegated_from == "province"
    assert [s["level"] for s in cfg.chain_for(school, 2024).steps] == ["province", "province"]  # the rule starts in 2025
    agency = unit(kind="agency", managing_level="province")
    assert [s["level"] for s in cfg.chain_for(agency, 2025).steps] == ["province", "province"]
    assert [s["level"] for s in cfg.chain_for(unit(kind="school", managing_level="ministry"), 2025).steps] == [
        "ministry",
        "ministry",
    ]
