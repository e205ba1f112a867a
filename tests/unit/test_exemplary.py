"""The exemplary track (seed 003): the catalog of 14 criteria as data, its validation, and the
evaluation of an exemplary self-assessment, table-driven per criterion at its edges, next to
the ANTT criteria the same facts pass (a minor crime fails criterion 9 but not ANTT; a
reprimand fails criterion 6 but not ANTT; 1 vs 2 social-welfare activities)."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from services.assessment.domain import exemplary
from services.assessment.domain.criteria import load_catalog
from services.assessment.domain.model import assessment_window
from services.assessment.domain.model import evaluate as evaluate_antt
from services.assessment.domain.rules import Facts
from tests.unit.builders import all_criteria

YEAR = 2025
CATALOG = exemplary.load_catalog("51", "2023")

ACTIVITIES = [
    {"code": "anti_drug_month", "held_on": "2025-06-10"},
    {"code": "anti_drug_day", "held_on": "2025-06-26"},
    {"code": "world_environment_day", "held_on": "2025-06-05"},
    {"code": "anti_trafficking_day", "held_on": "2025-07-30"},
    {"code": "traffic_safety_month", "held_on": "2025-09-12"},
    {"code": "national_security_festival", "held_on": "2025-08-19"},
    {"code": "fire_prevention_day", "held_on": "2025-10-04"},
]

#: evidence on which every exemplary criterion holds (judgements aside)
FULL: dict[str, Any] = {
    "has_party_organisation": True,
    "directives_disseminated": True,
    "exemplary_plan_implemented": True,
    "movement_conference_held": True,
    "topics_or_models_reviewed": 1,
    "innovations_count": 1,
    "legal_dissemination_sessions": 1,
    "activities_held": ACTIVITIES,
    "security_force_total": 12,
    "security_force_trained": 12,
    "sanctions": [],
    "commendations_count": 1,
    "movement_exemplars_count": 1,
    "models_count": 1,
    "models_publicised_by_province": 1,
    "movement_rating": "xuat_sac",
    "no_other_violations": True,
    "complaints_outstanding": 0,
    "complaints_resolved": True,
    "party_members_violating_27": 0,
    "internal_unity": True,
    "targets_exceeded": True,
    "no_wage_or_insurance_arrears": True,
    "policies_fulfilled": True,
    "taxes_paid": True,
    "welfare_activities_count": 2,
    "has_emulation_review": True,
    "collective_title": "lao_dong_tien_tien",
    "merit_certificate": "provincial_chairman",
}
DOCS = [
    {"kind": "party_resolution", "ref": "NQ-05", "issued_on": "2025-01-20"},
    {"kind": "exemplary_plan", "ref": "KH-ĐH-01", "issued_on": "2025-02-10"},
]
RECOGNISED = {"recognised": True, "unit_year_id": "QN-CQ-1:2025", "decision_no": "1234/QĐ-UBND"}

ON_FULL = {
    "DH-1": "needs_review", "DH-2": "needs_review", "DH-3": "needs_review", "DH-4": "met", "DH-5": "met",
    "DH-6": "met", "DH-7": "met", "DH-8": "met", "DH-9": "needs_review", "DH-10": "needs_review",
    "DH-11": "needs_review", "DH-12": "needs_review", "DH-13": "met", "DH-14": "met",
}  # fmt: skip


def incident(category: str, severity: str = "serious", **kw: Any) -> dict[str, Any]:
    return {
        "incident_id": kw.pop("incident_id", "INC-1"),
        "category": category,
        "severity": severity,
        "occurred_on": date(2025, 5, 1),
        **kw,
    }


def facts(
    kind: str = "agency",
    *,
    changes: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    incidents: tuple[dict[str, Any], ...] = (),
    recognition: dict[str, Any] | None = RECOGNISED,
    documents: list[dict[str, Any]] | None = None,
) -> Facts:
    ev = {**copy.deepcopy(FULL), **(changes or {})}
    for name in drop:
        ev.pop(name, None)
    return Facts(
        kind=kind,
        year=YEAR,
        window=assessment_window(kind, YEAR),
        documents=tuple(DOCS if documents is None else documents),
        evidence=ev,
        evidence_given=True,
        incidents=incidents,
        recognition=recognition,
    )


def claims(unmet: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{"code": c, "met": c not in unmet, "note": None} for c in CATALOG.codes()]


def judged(f: Facts) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in exemplary.evaluate(CATALOG, claims(), f).criteria}


# --------------------------------------------------------------------------- the catalog
def test_the_catalog_of_seed_003() -> None:
    assert CATALOG.ref == "exemplary.51.2023" and CATALOG.codes() == [f"DH-{i}" for i in range(1, 15)]
    assert CATALOG.applies_to == ("agency", "enterprise", "school") and CATALOG.valid_from == 2023
    kinds = {c.code: c.type for c in CATALOG.criteria}
    assert kinds["DH-2"] == "gate" and kinds["DH-8"] == "gate" and kinds["DH-9"] == "event" and kinds["DH-10"] == "judgement"
    assert all(c.text_vi and c.title_vi and c.article for c in CATALOG.criteria)
    by = {c.code: c for c in CATALOG.criteria}
    # the parameters the seed states
    dh3 = {k.get("field"): k.get("at_least") for k in by["DH-3"].checks if k["check"] == "count_at_least"}
    assert dh3 == {"topics_or_models_reviewed": 1, "innovations_count": 1}
    [acts] = [k for k in by["DH-5"].checks if k["check"] == "activities"]
    assert [(a["code"], a.get("day"), a["month"]) for a in acts["activities"]] == [
        ("anti_drug_month", None, 6),
        ("anti_drug_day", 26, 6),
        ("world_environment_day", 5, 6),
        ("anti_trafficking_day", 30, 7),
        ("traffic_safety_month", None, 9),
        ("national_security_festival", 19, 8),
        ("fire_prevention_day", 4, 10),
    ]
    [ratio, sanction] = by["DH-6"].checks
    assert (ratio["at_least_percent"], sanction["discipline_from"]) == (100, "khien_trach")
    assert [k["check"] for k in by["DH-8"].checks] == ["antt_recognition", "value_in"] and by["DH-8"].checks[1]["accepted"] == [
        "xuat_sac"
    ]
    [crimes, *_] = by["DH-9"].checks
    assert crimes["categories"]["crime"] == {"policy": "fails", "force_majeure_exempt": True}  # no min_severity: any crime
    assert by["DH-13"].checks[0]["at_least"] == 2
    assert [k["field"] for k in by["DH-14"].checks] == ["collective_title", "merit_certificate"]
    assert exemplary.catalog_for("51", 2025) is CATALOG
    assert exemplary.catalog_for("51", 2022) is None and exemplary.catalog_for("79", 2025) is None


def _data() -> dict[str, Any]:
    return json.loads((exemplary.EXEMPLARY_DIR / "51.2023.json").read_text(encoding="utf-8"))


def _crit(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in data["criteria"] if c["code"] == code)


def _bad(edit: Any) -> dict[str, Any]:
    data = _data()
    edit(data)
    return data


BAD: list[tuple[str, Any, str]] = [
    ("repeated-code", lambda d: _crit(d, "DH-2").update(code="DH-1"), "criterion codes repeat: DH-1"),
    ("unknown-check", lambda d: _crit(d, "DH-4")["checks"].append({"check": "vibes"}), "criteria.3.checks.1"),
    (
        "unknown-category",
        lambda d: _crit(d, "DH-9")["checks"][0]["categories"].update(arson={"policy": "fails"}),
        "unknown incident categories: arson",
    ),
    (
        "category-twice",
        lambda d: _crit(d, "DH-11")["checks"][1]["categories"].update(crime={"policy": "fails"}),
        "incident category crime is counted by both DH-9 and DH-11",
    ),
    (
        "no-such-day",
        lambda d: _crit(d, "DH-5")["checks"][0]["activities"][3].update(day=31, month=4),
        "day is out of range for month",
    ),
    (
        "activity-twice",
        lambda d: _crit(d, "DH-5")["checks"][0]["activities"].append({"code": "anti_drug_day", "name_vi": "x", "month": 6}),
        "activity codes repeat",
    ),
    (
        "fine-as-discipline",
        lambda d: _crit(d, "DH-6")["checks"][1].update(discipline_from="administrative_fine"),
        "discipline_from names a disciplinary form",
    ),
    (
        "unknown-sanction",
        lambda d: _crit(d, "DH-6")["checks"][1].update(discipline_from="phe_binh"),
        "unknown sanction: phe_binh",
    ),
    (
        "unknown-rating",
        lambda d: _crit(d, "DH-8")["checks"][1].update(accepted=["tot"]),
        "unknown values of movement_ratings: tot",
    ),
    ("no-antt-gate", lambda d: _crit(d, "DH-8")["checks"].pop(0), "exactly one criterion checking the recognition"),
    (
        "event-without-incidents",
        lambda d: _crit(d, "DH-10").update(type="event"),
        "DH-10 is an event criterion without an incidents check",
    ),
    (
        "unknown-document",
        lambda d: _crit(d, "DH-2")["checks"][0].update(required=["wish_list"]),
        "unknown document kinds: wish_list",
    ),
    ("residential-area", lambda d: d.update(applies_to=["residential_area"]), "applies_to.0"),
    ("extra-key", lambda d: _crit(d, "DH-13")["checks"][0].update(at_least_=2), "at_least_"),
]


@pytest.mark.parametrize("edit,fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_catalog_is_refused_with_its_place(edit: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match="exemplary catalog test") as exc:
        exemplary.parse_catalog(_bad(edit), name="test")
    assert fragment in str(exc.value)


def test_the_file_name_must_match_its_content(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "52.2023.json").write_text(json.dumps(_data(), ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(exemplary, "EXEMPLARY_DIR", tmp_path)
    with pytest.raises(ValueError, match="says province 51, version 2023: the file name must match"):
        exemplary.load_catalog.__wrapped__("52", "2023")


# --------------------------------------------------------------------------- evaluation
def test_full_evidence() -> None:
    ev = exemplary.evaluate(CATALOG, claims(), facts())
    assert {c["code"]: c["result"] for c in ev.criteria} == ON_FULL
    assert ev.verdict == "met" and ev.unmet == [] and ev.catalog == "exemplary.51.2023"
    assert ev.needs_review == [c for c, r in ON_FULL.items() if r == "needs_review"]


CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (id, criterion, facts kwargs, result, fragment of the reason)
    (
        "directives-denied",
        "DH-1",
        {"changes": {"directives_disseminated": False}},
        "not_met",
        "the unit states it has not: directives_disseminated",
    ),
    (
        "plan-in-april",
        "DH-2",
        {"documents": [DOCS[0], {**DOCS[1], "issued_on": "2025-04-01"}]},
        "not_met",
        "exemplary_plan KH-ĐH-01 dated 2025-04-01 is outside Quarter I",
    ),
    ("no-plan", "DH-2", {"documents": [DOCS[0]]}, "not_met", "no exemplary_plan among the documents given"),
    (
        "no-party-no-resolution",
        "DH-2",
        {"documents": [DOCS[1]], "changes": {"has_party_organisation": False}},
        "needs_review",
        "party_resolution: not required",
    ),
    (
        "no-topic",
        "DH-3",
        {"changes": {"topics_or_models_reviewed": 0}},
        "not_met",
        "topics or models of the movement reviewed or launched (chuyên đề, mô hình được sơ kết, tổng kết, triển khai): 0, fewer than 1",
    ),
    (
        "no-innovation",
        "DH-3",
        {"changes": {"innovations_count": 0}},
        "not_met",
        "good practices and innovations (cách làm hay, đổi mới, sáng tạo): 0, fewer than 1",
    ),
    ("innovation-not-stated", "DH-3", {"drop": ("innovations_count",)}, "needs_review", "no evidence given (innovations_count)"),
    ("no-dissemination", "DH-4", {"changes": {"legal_dissemination_sessions": 0}}, "not_met", "fewer than 1"),
    (
        "no-26-june",
        "DH-5",
        {"changes": {"activities_held": [a for a in ACTIVITIES if a["code"] != "anti_drug_day"]}},
        "not_met",
        "not held: Ngày toàn dân phòng, chống ma túy (26/6)",
    ),
    (
        "no-traffic-month",
        "DH-5",
        {"changes": {"activities_held": ACTIVITIES[:4]}},
        "not_met",
        "Tháng An toàn giao thông (tháng 9); Ngày hội toàn dân bảo vệ ANTQ (19/8)",
    ),
    (
        "traffic-month-in-october",
        "DH-5",
        {
            "changes": {
                "activities_held": [*ACTIVITIES[:4], {"code": "traffic_safety_month", "held_on": "2025-10-01"}, *ACTIVITIES[5:]]
            }
        },
        "not_met",
        "outside its month of 2025: Tháng An toàn giao thông (tháng 9) held on 2025-10-01",
    ),
    (
        "activities-undated",
        "DH-5",
        {"changes": {"activities_held": [{"code": a["code"]} for a in ACTIVITIES]}},
        "met",
        "all 7 yearly activities held",
    ),
    ("activities-not-stated", "DH-5", {"drop": ("activities_held",)}, "needs_review", "no evidence given (activities_held)"),
    ("trained-11-of-12", "DH-6", {"changes": {"security_force_trained": 11}}, "not_met", "11/12 = 91.66%, below 100%"),
    (
        "guard-reprimanded",
        "DH-6",
        {"changes": {"sanctions": [{"group": "security_force", "sanction": "khien_trach", "security_related": True}]}},
        "not_met",
        "1 (security_force khien_trach (Kỷ luật khiển trách))",
    ),
    (
        "guard-fined",
        "DH-6",
        {"changes": {"sanctions": [{"group": "security_force", "sanction": "administrative_fine", "security_related": True}]}},
        "not_met",
        "administrative_fine",
    ),
    (
        "guard-fined-traffic",
        "DH-6",
        {"changes": {"sanctions": [{"group": "security_force", "sanction": "administrative_fine", "security_related": False}]}},
        "met",
        "none",
    ),
    (
        "staff-reprimanded-not-dh6",
        "DH-6",
        {"changes": {"sanctions": [{"group": "staff", "sanction": "khien_trach", "security_related": True}]}},
        "met",
        "none",
    ),
    ("sanctions-not-stated", "DH-6", {"drop": ("sanctions",)}, "needs_review", "no evidence given (sanctions)"),
    ("no-commendation", "DH-7", {"changes": {"commendations_count": 0}}, "not_met", "collectives or individuals commended"),
    (
        "not-publicised",
        "DH-7",
        {"changes": {"models_publicised_by_province": 0}},
        "not_met",
        "publicised by the province steering committee",
    ),
    (
        "movement-kha",
        "DH-8",
        {"changes": {"movement_rating": "kha"}},
        "not_met",
        "movement classification (phân loại phong trào): kha (Khá); the criterion needs xuat_sac (Xuất sắc)",
    ),
    ("movement-not-recorded", "DH-8", {"drop": ("movement_rating",)}, "needs_review", "no evidence given (movement_rating)"),
    (
        "not-recognised",
        "DH-8",
        {"recognition": {"recognised": False, "unit_year_id": "QN-CQ-1:2025", "state": "not_recognized"}},
        "not_met",
        "QN-CQ-1:2025 is not recognised “An toàn về ANTT”: not_recognized",
    ),
    ("recognition-unknown", "DH-8", {"recognition": None}, "needs_review", "is not known here"),
    (
        "minor-crime",
        "DH-9",
        {"incidents": (incident("crime", "minor"),)},
        "not_met",
        "incident INC-1 (crime, minor) on 2025-05-01 fails DH-9",
    ),
    (
        "handled-serious-crime",
        "DH-9",
        {"incidents": (incident("crime", detected_promptly=True, mitigated=True, reported_promptly=True),)},
        "not_met",
        "fails DH-9",
    ),
    (
        "crime-force-majeure",
        "DH-9",
        {"incidents": (incident("crime", force_majeure=True),)},
        "needs_review",
        "force majeure (trừ trường hợp bất khả kháng), exempt under DH-9",
    ),
    ("strike", "DH-9", {"incidents": (incident("strike"),)}, "not_met", "incident INC-1 (strike, serious)"),
    ("other-violations", "DH-9", {"changes": {"no_other_violations": False}}, "not_met", "no_other_violations"),
    (
        "complaints-outstanding",
        "DH-10",
        {"changes": {"complaints_outstanding": 2}},
        "not_met",
        "complaints and denunciations outstanding (đơn thư tồn đọng): 2, more than 0",
    ),
    (
        "staff-reprimanded",
        "DH-11",
        {"changes": {"sanctions": [{"group": "staff", "sanction": "khien_trach", "security_related": False}]}},
        "not_met",
        "staff khien_trach",
    ),
    (
        "learner-fined-security",
        "DH-11",
        {"changes": {"sanctions": [{"group": "learners", "sanction": "administrative_fine", "security_related": True}]}},
        "not_met",
        "learners administrative_fine",
    ),
    (
        "secret-leaked",
        "DH-11",
        {"incidents": (incident("state_secret_breach", force_majeure=True),)},
        "not_met",
        "force majeure is no exemption for this category",
    ),
    ("party-member-27", "DH-11", {"changes": {"party_members_violating_27": 1}}, "not_met", "27 signs"),
    (
        "no-party-27",
        "DH-11",
        {"changes": {"has_party_organisation": False, "party_members_violating_27": None}},
        "needs_review",
        "not applicable (has_party_organisation is false)",
    ),
    ("wage-arrears", "DH-12", {"changes": {"no_wage_or_insurance_arrears": False}}, "not_met", "no_wage_or_insurance_arrears"),
    ("agency-no-tax-question", "DH-12", {"drop": ("taxes_paid",)}, "needs_review", "taxes_paid: not applicable to agency units"),
    (
        "one-welfare-activity",
        "DH-13",
        {"changes": {"welfare_activities_count": 1}},
        "not_met",
        "social-welfare activities (hoạt động an sinh xã hội): 1, fewer than 2",
    ),
    ("two-welfare-activities", "DH-13", {"changes": {"welfare_activities_count": 2}}, "met", "2, at least 2"),
    (
        "title-hoan-thanh-tot",
        "DH-14",
        {"changes": {"collective_title": "hoan_thanh_tot"}},
        "not_met",
        "the criterion needs lao_dong_tien_tien",
    ),
    (
        "no-emulation-review",
        "DH-14",
        {"changes": {"has_emulation_review": False, "collective_title": None}},
        "met",
        "not applicable (has_emulation_review is false)",
    ),
    (
        "district-certificate",
        "DH-14",
        {"changes": {"merit_certificate": "district_chairman"}},
        "not_met",
        "district_chairman (Bằng khen, giấy khen của Chủ tịch UBND cấp huyện / cấp xã); the criterion needs provincial_chairman",
    ),
    ("minister-certificate", "DH-14", {"changes": {"merit_certificate": "minister"}}, "met", "Bằng khen của Bộ trưởng"),
]


@pytest.mark.parametrize("code,kw,result,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_criterion(code: str, kw: dict[str, Any], result: str, fragment: str) -> None:
    r = judged(facts(**kw))[code]
    assert r["result"] == result, r["reason"]
    # the criterion's reason, or (where it is the reviewer's call) the reason of one of its checks
    assert any(fragment in reason for reason in (r["reason"], *(c["reason"] for c in r["checks"]))), r["checks"]
    ev = exemplary.evaluate(CATALOG, claims(), facts(**kw))
    assert (code in ev.unmet) == (result == "not_met") and ev.verdict == ("not_met" if ev.unmet else "met")
    # a guard's sanction also fails DH-11 (everyone); nothing else fails
    assert set(ev.unmet) <= {code, "DH-11"}


def test_a_staff_reprimand_fails_criterion_11_not_6_and_a_guards_both() -> None:
    staff = judged(facts(changes={"sanctions": [{"group": "staff", "sanction": "khien_trach", "security_related": True}]}))
    assert (staff["DH-6"]["result"], staff["DH-11"]["result"]) == ("met", "not_met")
    guard = judged(
        facts(changes={"sanctions": [{"group": "security_force", "sanction": "khien_trach", "security_related": True}]})
    )
    assert (guard["DH-6"]["result"], guard["DH-11"]["result"]) == ("not_met", "not_met")


def test_the_enterprise_must_have_paid_its_taxes() -> None:
    r = judged(facts("enterprise", changes={"taxes_paid": False}))["DH-12"]
    assert r["result"] == "not_met" and "taxes_paid" in r["reason"]


# --------------------------------------------------------------------------- stricter than ANTT
def _antt(kind: str, f: Facts, evidence: dict[str, Any]) -> dict[str, dict[str, Any]]:
    antt_facts = Facts(
        kind=kind,
        year=YEAR,
        window=f.window,
        documents=f.documents,
        evidence=evidence,
        evidence_given=True,
        incidents=f.incidents,
    )
    return {c["code"]: c for c in evaluate_antt(load_catalog(kind), all_criteria(kind), antt_facts).criteria}


def test_a_minor_crime_fails_criterion_9_but_not_antt() -> None:
    f = facts("enterprise", incidents=(incident("crime", "minor"),))
    assert judged(f)["DH-9"]["result"] == "not_met"
    dn3 = _antt("enterprise", f, {})["DN-3"]
    assert dn3["result"] == "met" and "below serious, not an event of DN-3" in dn3["reason"]


def test_a_reprimand_fails_criterion_6_but_not_antt() -> None:
    """The guard reprimanded (khiển trách): ANTT counts discipline from a warning (cảnh cáo)."""
    f = facts(changes={"sanctions": [{"group": "security_force", "sanction": "khien_trach", "security_related": True}]})
    assert judged(f)["DH-6"]["result"] == "not_met"
    antt = _antt(
        "agency", f, {"security_force_rating": "lao_dong_tien_tien", "disciplined_members": {"security_force": 0, "staff": 0}}
    )
    assert antt["CQ-4"]["result"] == "met"
    # a warning fails both
    warned = facts(changes={"sanctions": [{"group": "security_force", "sanction": "canh_cao", "security_related": True}]})
    assert judged(warned)["DH-6"]["result"] == "not_met"
    antt = _antt(
        "agency",
        warned,
        {"security_force_rating": "lao_dong_tien_tien", "disciplined_members": {"security_force": 1, "staff": 0}},
    )
    assert antt["CQ-4"]["result"] == "not_met"


def test_a_claim_of_not_met_and_bad_claims() -> None:
    ev = exemplary.evaluate(CATALOG, claims(unmet=("DH-13",)), facts())
    assert ev.unmet == ["DH-13"] and "the unit assesses this criterion as not met" in ev.criteria[12]["reason"]
    with pytest.raises(exemplary.ExemplaryError) as exc:
        exemplary.evaluate(CATALOG, claims()[:13], facts())
    assert exc.value.code == "invalid_payload" and "criteria missing from the self-assessment: DH-14" in exc.value.reason
    with pytest.raises(exemplary.ExemplaryError) as exc:
        exemplary.evaluate(CATALOG, [*claims(), {"code": "CQ-1", "met": True}], facts())
    assert "unknown criteria for exemplary" in exc.value.reason


def test_only_agencies_enterprises_and_schools() -> None:
    with pytest.raises(exemplary.ExemplaryError) as exc:
        exemplary.evaluate(CATALOG, claims(), facts("residential_area"))
    assert exc.value.code == "ineligible" and "not residential_area" in exc.value.reason


# --------------------------------------------------------------------------- HTTP
async def test_the_catalog_over_http() -> None:
    import httpx
    from fastapi import FastAPI

    from services.assessment.api import build_router
    from shared.contracts.envelope import Actor
    from shared.infra.http import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(None, lambda: Actor(id="t", role="officer", jurisdiction="*")))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/exemplary-criteria/51", params={"year": 2025})
        assert r.status_code == 200
        body = r.json()
        assert body["catalog"] == "exemplary.51.2023" and len(body["criteria"]) == 14
        assert body["criteria"][7]["checks"][1]["accepted"] == ["xuat_sac"]
        assert body["movement_ratings"] == {"xuat_sac": "Xuất sắc", "kha": "Khá", "trung_binh": "Trung bình", "yeu": "Yếu"}
        r = await client.get("/exemplary-criteria/51", params={"year": 2022})
        assert r.status_code == 404 and "no exemplary-track catalog in force in 2022" in r.json()["reason"]


def test_every_field_the_catalog_reads_can_be_sent() -> None:
    """The evidence fields the catalog's checks read are fields of ExemplaryEvidence, except
    the movement's classification, which is the unit-year's record."""
    from shared.contracts.inbound import ExemplaryEvidence

    read: set[str] = set()
    for crit in CATALOG.criteria:
        for chk in crit.checks:
            for key in ("field", "numerator", "denominator", "only_where"):
                if chk.get(key):
                    read.add(chk[key])
            read.update(chk.get("fields", ()))
            if chk["check"] == "no_sanction":
                read.add("sanctions")
            if chk["check"] == "q1_documents" and chk.get("required_where_party"):
                read.add("has_party_organisation")
    assert read - set(ExemplaryEvidence.model_fields) == {"movement_rating"}
    assert set(ExemplaryEvidence.model_fields) - read == set()
