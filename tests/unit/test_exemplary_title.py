"""The exemplary title's case in the approval service: its chain from configuration, its
decisions (the ANTT chain's rules, its own events), its revocation, and the ANTT revocation
that revokes a granted title or lapses a pending one."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.approval.domain.chains import ChainConfig
from services.approval.domain.model import ApprovalCase, ApprovalError, ExemplaryTitle
from shared.contracts import events as ev
from shared.contracts.lifecycle import APPROVAL_EXEMPLARY
from tests.unit.builders import unit

TODAY = date(2025, 12, 1)
CATALOG = "exemplary.51.2023"


def recognised_antt(kind: str = "agency") -> ApprovalCase:
    u = unit(code="QN-CQ-1", kind=kind, managing_level="province")
    case = ApprovalCase.open("QN-CQ-1:2025", 2025, u, ChainConfig.load().chain_for(u, 2025))
    case.self_score(1, "met", [])
    while case.state != "recognized":
        case.decide(
            level=case.pending_level or "",
            decision="pass",
            reasons=[],
            decided_by="x",
            decision_no="77/QĐ-UBND",
            decided_on=None,
            certificate_no=None,
            today=TODAY,
        )
    return case


def opened(antt: ApprovalCase | None = None) -> ExemplaryTitle:
    antt = antt or recognised_antt()
    title, events = ExemplaryTitle.open(antt, CATALOG, ChainConfig.load().exemplary_chain_for(antt.unit, antt.year))
    assert [type(e) for e in events] == [ev.ExemplaryTitleCaseOpened]
    return title


def decide(title: ExemplaryTitle, decision: str, reasons: list[str] | None = None, **kw: Any) -> ev.Event:
    return title.decide(
        level=kw.pop("level", title.pending_level or "province"),
        decision=decision,
        reasons=reasons or [],
        decided_by=kw.pop("decided_by", "Chủ tịch UBND tỉnh"),
        decision_no=kw.pop("decision_no", "812/QĐ-UBND"),
        decided_on=None,
        certificate_no=kw.pop("certificate_no", None),
        today=TODAY,
        **kw,
    )


def test_the_chain_is_the_provinces_steering_committee_then_its_chairman() -> None:
    title = opened()
    assert [(s["level"], s["role"]) for s in title.chain] == [("province", "review"), ("province", "decide")]
    assert title.chain[0]["body"] == "Ban Chỉ đạo tỉnh (thẩm định)" and title.chain[1]["body"] == "Chủ tịch UBND tỉnh"
    assert title.chain_profile == "exemplary.province" and title.deadline is None and not title.is_late(date(2030, 1, 1))
    assert (title.state, title.antt_decision_no, title.criteria_catalog) == ("proposed", "77/QĐ-UBND", CATALOG)


def test_a_year_before_the_catalog_has_no_chain() -> None:
    with pytest.raises(LookupError, match="no exemplary-title chain"):
        ChainConfig.load().exemplary_chain_for(unit(kind="agency"), 2022)


def test_a_title_whose_antt_recognition_is_gone_opens_and_lapses() -> None:
    antt = recognised_antt()
    antt.revoke(reasons=["x"], decided_by="y", decision_no="9/QĐ", decided_on=None, today=TODAY)
    title, events = ExemplaryTitle.open(antt, CATALOG, ChainConfig.load().exemplary_chain_for(antt.unit, antt.year))
    assert [type(e) for e in events] == [ev.ExemplaryTitleCaseOpened, ev.ExemplaryTitleLapsed]
    assert title.state == "lapsed"


def test_returned_once_then_recognised() -> None:
    title = opened()
    scored = title.self_score(1, "met", [])
    assert isinstance(scored, ev.ExemplaryTitleSelfScored) and scored.pending_level == "province"
    assert isinstance(decide(title, "pass", step_role="review"), ev.ExemplaryTitleReviewed)
    returned = decide(title, "return", ["Bổ sung báo cáo mô hình"], step_role="decide")
    assert isinstance(returned, ev.ExemplaryTitleReturned) and title.state == "returned"
    with pytest.raises(ApprovalError) as err:
        decide(title, "pass")
    assert err.value.code == "illegal_transition" and "new exemplary self-assessment" in err.value.reason
    title.self_score(2, "met", [])
    decide(title, "pass")
    out = decide(title, "pass", certificate_no="BK-1")
    assert isinstance(out, ev.ExemplaryTitleRecognized) and title.state == "recognized"
    assert (out.deciding_body, out.certificate_no) == ("Chủ tịch UBND tỉnh", "BK-1")
    assert [(d["role"], d["decision"], d["round"]) for d in title.decisions] == [
        ("review", "pass", 1),
        ("decide", "return", 1),
        ("review", "pass", 2),
        ("decide", "pass", 2),
    ]


@pytest.mark.parametrize(
    "decision,reasons,verdict,code",
    [
        ("pass", [], "not_met", "criteria_not_met"),
        ("reject", [], "not_met", "invalid_payload"),
        ("return", [], "met", "invalid_payload"),
        ("maybe", ["x"], "met", "invalid_payload"),
    ],
)
def test_refusals_leave_the_title_unchanged(decision: str, reasons: list[str], verdict: str, code: str) -> None:
    title = opened()
    title.self_score(1, verdict, [] if verdict == "met" else ["DH-9"])
    before = (title.state, title.step, list(title.decisions))
    with pytest.raises(ApprovalError) as err:
        decide(title, decision, reasons)
    assert err.value.code == code
    assert (title.state, title.step, list(title.decisions)) == before


def test_the_wrong_level_and_another_jurisdiction_are_refused() -> None:
    title = opened()
    title.self_score(1, "met", [])
    with pytest.raises(ApprovalError) as err:
        decide(title, "pass", level="commune")
    assert err.value.code == "wrong_level" and "exemplary title" in err.value.reason
    with pytest.raises(ApprovalError) as err:
        decide(title, "pass", jurisdiction=["province:01"])
    assert err.value.code == "out_of_jurisdiction"


def test_a_refusal_keeps_the_antt_recognition() -> None:
    antt = recognised_antt()
    title = opened(antt)
    title.self_score(1, "not_met", ["DH-9"])
    out = decide(title, "reject", ["Để xảy ra 01 vụ trộm cắp (tiêu chí 9)"])
    assert isinstance(out, ev.ExemplaryTitleNotRecognized) and title.state == "not_recognized"
    assert antt.state == "recognized"


def test_a_verdict_change_under_review_is_recorded_and_after_a_decision_is_not() -> None:
    title = opened()
    title.self_score(1, "met", [])
    out = title.change_verdict("not_met", ["DH-9"], "incident T-1")
    assert isinstance(out, ev.ExemplaryTitleVerdictChanged) and out.state == "self_scored"
    title.change_verdict("met", [], "incident withdrawn")
    decide(title, "pass")
    decide(title, "pass")
    assert title.change_verdict("not_met", ["DH-9"], "late incident") is None


def _revocation(decision_no: str = "95/QĐ-UBND") -> ev.UnitYearRevoked:
    return ev.UnitYearRevoked(
        unit_year_id="QN-CQ-1:2025",
        reasons=["Vụ án nghiêm trọng, báo cáo sau khi công nhận"],
        decided_by="Chủ tịch UBND tỉnh",
        decision_no=decision_no,
        decided_on=date(2026, 1, 5),
        state="revoked",
    )


@pytest.mark.parametrize(
    "steps,expected,state",
    [
        (0, ev.ExemplaryTitleLapsed, "lapsed"),  # proposed
        (1, ev.ExemplaryTitleLapsed, "lapsed"),  # self-scored
        (2, ev.ExemplaryTitleLapsed, "lapsed"),  # reviewed
        (3, ev.ExemplaryTitleRevoked, "revoked"),  # granted
    ],
)
def test_the_antt_revocation_revokes_a_granted_title_and_lapses_a_pending_one(steps: int, expected: type, state: str) -> None:
    title = opened()
    if steps >= 1:
        title.self_score(1, "met", [])
    for _ in range(steps - 1):
        decide(title, "pass")
    out = title.follow_antt_revocation(_revocation(), TODAY)
    assert isinstance(out, expected) and title.state == state
    assert "95/QĐ-UBND" in (out.reasons[0] if isinstance(out, ev.ExemplaryTitleRevoked) else out.reason)
    if isinstance(out, ev.ExemplaryTitleRevoked):
        assert (out.because_of, out.decision_no, title.decisions[-1]["role"]) == ("antt_revoked", "95/QĐ-UBND", "revoke")
    # once over, a second revocation changes nothing
    assert title.follow_antt_revocation(_revocation("96/QĐ"), TODAY) is None


def test_the_title_alone_is_revoked_by_its_recognising_level() -> None:
    title = opened()
    title.self_score(1, "met", [])
    decide(title, "pass")
    with pytest.raises(ApprovalError) as err:
        title.revoke(reasons=["x"], decided_by="y", decision_no=None, decided_on=None, today=TODAY)
    assert err.value.code == "illegal_transition" and "only an exemplary title can be revoked" in err.value.reason
    decide(title, "pass")
    with pytest.raises(ApprovalError) as err:
        title.revoke(reasons=["x"], decided_by="y", decision_no=None, decided_on=None, today=TODAY, jurisdiction=["commune:1"])
    assert err.value.code == "out_of_jurisdiction"
    with pytest.raises(ApprovalError):
        title.revoke(reasons=[], decided_by="y", decision_no=None, decided_on=None, today=TODAY)
    out = title.revoke(
        reasons=["Kỷ luật khiển trách (tiêu chí 6)"], decided_by="y", decision_no="1/QĐ", decided_on=None, today=TODAY
    )
    assert isinstance(out, ev.ExemplaryTitleRevoked) and out.because_of == "decision" and title.state == "revoked"


def test_every_event_of_the_title_states_a_state_of_its_lifecycle() -> None:
    assert set(APPROVAL_EXEMPLARY.states) >= {"proposed", "self_scored", "province_reviewed", "recognized", "lapsed"}
    assert set(APPROVAL_EXEMPLARY.event_triggers) == {
        name for name, (topic, _m) in ev.EVENT_TYPES.items() if name.startswith("ExemplaryTitle")
    }
