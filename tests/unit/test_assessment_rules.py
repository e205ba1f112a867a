"""The criteria of every unit kind judged on evidence (Circular 124/2021/TT-BCA Art. 4–7):
table-driven, one row per criterion and edge (99% vs 100% households, 69.9% vs 70% sub-units,
a Quarter I document dated 1 April, the Party resolution only where a Party organisation
exists, judgement criteria left to the reviewer, an incident failing an event criterion)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.assessment.domain.criteria import CHECKS, catalog_for, catalog_versions, load_catalog, vocabulary
from services.assessment.domain.model import AssessmentError, assessment_window, evaluate
from services.assessment.domain.rules import Facts, PreviousYear, percent
from shared.contracts.inbound import DisciplineGroup, Evidence, Rating, RuleTopic
from tests.unit.builders import all_criteria

YEAR = 2025
KINDS = ("residential_area", "commune", "agency", "enterprise", "school")


def doc(kind: str, issued_on: str | None, ref: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "ref": ref or f"{kind}-01", "issued_on": issued_on}


Q1_DOCS = {
    "residential_area": [doc("party_resolution", "2025-01-20"), doc("registration_form", "2025-02-15")],
    "commune": [
        doc("party_resolution", "2025-01-10"),
        doc("security_plan", "2025-02-01"),
        doc("registration_form", "2025-02-15"),
    ],
    "agency": [doc("party_resolution", "2025-01-16"), doc("security_plan", "2025-02-10"), doc("registration_form", "2025-03-31")],
}
Q1_DOCS["enterprise"] = Q1_DOCS["agency"]
Q1_DOCS["school"] = Q1_DOCS["agency"]

AGENCY_RULES = [
    "unit_protection",
    "state_secrets",
    "internal_political_security",
    "labour_safety",
    "fire_explosion",
    "environment",
]
SCHOOL_RULES = ["unit_protection", "internal_political_security", "learner_management", "fire_explosion"]

#: evidence on which every criterion of the kind holds (judgements aside)
FULL: dict[str, dict[str, Any]] = {
    "residential_area": {
        "households_total": 212,
        "households_registered": 212,
        "policy_implemented": True,
        "crimes_previous_year": 3,
        "crimes_this_year": 1,
        "security_force_rating": "hoan_thanh",
        "disciplined_members": {"security_force": 0},
    },
    "commune": {
        "models_count": 2,
        "policy_implemented": True,
        "crimes_previous_year": 12,
        "crimes_this_year": 9,
        "disciplined_members": {"security_force": 0},
    },
    "agency": {
        "has_party_organisation": True,
        "internal_rules": AGENCY_RULES,
        "staff_total": 40,
        "staff_briefed": 40,
        "models_count": 1,
        "policy_implemented": True,
        "coordination_with_police": True,
        "security_force_rating": "hoan_thanh_tot",
        "subunits_total": 10,
        "subunits_titled": 7,
        "disciplined_members": {"security_force": 0, "staff": 0},
    },
    "school": {
        "has_party_organisation": True,
        "internal_rules": SCHOOL_RULES,
        "staff_total": 80,
        "staff_briefed": 80,
        "learners_total": 1000,
        "learners_briefed": 1000,
        "models_count": 1,
        "policy_implemented": True,
        "coordination_with_police": True,
        "coordination_with_parents": True,
        "security_force_rating": "lao_dong_tien_tien",
        "subunits_total": 12,
        "subunits_titled": 9,
        "disciplined_members": {"security_force": 0, "staff": 0, "teachers": 0},
    },
}
FULL["enterprise"] = FULL["agency"]

#: what each kind's criteria give on FULL evidence: judgements and derived criteria are the reviewer's
ON_FULL = {
    "residential_area": {"KDC-1": "met", "KDC-2": "needs_review", "KDC-3": "met", "KDC-4": "met", "KDC-5": "met"},
    "commune": {"XA-1": "met", "XA-2": "needs_review", "XA-3": "needs_review", "XA-4": "needs_review"},
    "agency": {"CQ-1": "met", "CQ-2": "needs_review", "CQ-3": "met", "CQ-4": "met", "CQ-5": "met"},
    "enterprise": {"DN-1": "met", "DN-2": "needs_review", "DN-3": "met", "DN-4": "met", "DN-5": "met"},
    "school": {"GD-1": "met", "GD-2": "needs_review", "GD-3": "met", "GD-4": "met", "GD-5": "met"},
}


def facts(
    kind: str,
    *,
    documents: list[dict[str, Any]] | None = None,
    evidence: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    incidents: tuple[dict[str, Any], ...] = (),
    evidence_given: bool = True,
    previous: PreviousYear | None | str = "as_stated",
) -> Facts:
    """``previous``: the previous unit-year's record; by default it recorded the figure the
    unit states for the previous year (``crimes_previous_year``)."""
    ev = dict(FULL[kind] if evidence is None else evidence)
    ev.update(changes or {})
    for name in drop:
        ev.pop(name, None)
    if previous == "as_stated":
        stated = ev.get("crimes_previous_year")
        previous = PreviousYear(f"U:{YEAR - 1}", None if stated is None else {"crimes_this_year": stated}, 1)
    assert not isinstance(previous, str)
    return Facts(
        kind=kind,
        year=YEAR,
        window=assessment_window(kind, YEAR),
        documents=tuple(Q1_DOCS[kind] if documents is None else documents),
        evidence=ev,
        evidence_given=evidence_given,
        incidents=incidents,
        previous_year=previous,
    )


def judged(kind: str, f: Facts, *, unmet: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    ev = evaluate(load_catalog(kind), all_criteria(kind, unmet=unmet), f)
    return {c["code"]: c for c in ev.criteria}


# --------------------------------------------------------------------------- catalogs
@pytest.mark.parametrize("kind", KINDS)
def test_catalog_checks_use_known_names(kind: str) -> None:
    cat = load_catalog(kind)
    vocab = vocabulary()
    evidence_fields = set(Evidence.model_fields)
    for crit in cat.criteria:
        assert crit.text_vi and crit.article.startswith("Art.")
        assert crit.checks, crit.code
        for chk in crit.checks:
            assert chk["check"] in CHECKS
            for key in ("numerator", "denominator", "field", "previous", "current"):
                if key in chk:
                    assert chk[key] in evidence_fields, (crit.code, chk[key])
            for name in chk.get("fields", ()):
                assert name in evidence_fields
            for topic in chk.get("topics", ()):
                assert topic in vocab.rule_topics
            for rating in chk.get("accepted", ()):
                assert rating in vocab.ratings
            if "group" in chk:
                assert chk["group"] in vocab.discipline_groups
            for kind_ in (*chk.get("required", ()), *chk.get("required_where_party", ())):
                assert kind_ in vocab.document_kinds
            for cat_, spec in chk.get("categories", {}).items():
                assert cat_ in vocab.incident_categories
                assert spec["policy"] in ("fails", "conditional_pass")
                assert spec.get("min_severity", "serious") in vocab.severities
    for cat_ in cat.not_applicable:
        assert cat_ in vocab.incident_categories
    # event criteria cover categories; each category at most once per kind
    covered = [c for crit in cat.criteria for c in crit.incident_rules()]
    assert len(covered) == len(set(covered))


def test_the_vocabulary_matches_the_evidence_contract() -> None:
    vocab = vocabulary()
    assert set(RuleTopic.__args__) == set(vocab.rule_topics)  # type: ignore[attr-defined]
    assert set(Rating.__args__) == set(vocab.ratings)  # type: ignore[attr-defined]
    assert set(DisciplineGroup.__args__) == set(vocab.discipline_groups)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
def test_the_catalog_of_a_year(kind: str) -> None:
    assert catalog_versions(kind) == ["2021"]
    assert catalog_for(kind, 2025) == load_catalog(kind, "2021")
    assert catalog_for(kind, 2022).valid_from == 2022
    assert catalog_for(kind, 2019) == load_catalog(kind, "2021")  # before every version: the earliest


def test_schools_are_not_judged_on_strikes_or_clause_h() -> None:
    school = load_catalog("school")
    covered = set(school.criteria[2].incident_rules())
    assert {"strike", "staff_discipline"}.isdisjoint(covered)
    assert {"school_violence", "school_member_discipline", "crime", "illegal_religion", "state_secret_breach"} <= covered
    assert set(load_catalog("agency").criteria[2].incident_rules()) >= {"strike", "staff_discipline"}
    # the commune's criterion 2 covers the residential-area events of Art. 4.3 and 4.4
    kdc = {c for crit in load_catalog("residential_area").criteria for c in crit.incident_rules()}
    assert set(load_catalog("commune").criteria[1].incident_rules()) == kdc


@pytest.mark.parametrize(
    "n,d,shown",
    [(699, 1000, "69.9%"), (7, 10, "70%"), (118, 120, "98.33%"), (99, 100, "99%"), (1, 3, "33.33%"), (19999, 20000, "99.99%")],
)
def test_percentages_are_truncated_never_rounded_up(n: int, d: int, shown: str) -> None:
    assert percent(n, d) == shown


# --------------------------------------------------------------------------- full evidence
@pytest.mark.parametrize("kind", KINDS)
def test_full_evidence(kind: str) -> None:
    results = judged(kind, facts(kind))
    assert {c: r["result"] for c, r in results.items()} == ON_FULL[kind]
    ev = evaluate(load_catalog(kind), all_criteria(kind), facts(kind))
    assert ev.verdict == "met" and ev.unmet == []
    for r in results.values():
        assert r["reason"] and isinstance(r["evidence"], dict) and r["checks"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_unit_saying_not_met_is_not_met(kind: str) -> None:
    code = load_catalog(kind).codes()[1]
    results = judged(kind, facts(kind), unmet=(code,))
    assert results[code]["result"] == "not_met"
    assert results[code]["reason"] == "the unit assesses this criterion as not met"
    assert results[code]["claimed_met"] is False


# --------------------------------------------------------------------------- the table
def _docs(kind: str, replace: dict[str, str | None] | None = None, without: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for d in Q1_DOCS[kind]:
        if d["kind"] in without:
            continue
        if replace and d["kind"] in replace:
            d = {**d, "issued_on": replace[d["kind"]]}
        out.append(d)
    return out


CASES: list[tuple[str, str, str, dict[str, Any], str, str]] = [
    # (id, kind, criterion, facts kwargs, result, fragment of the reason)
    # --- residential area, Art. 4 ---
    (
        "households-100%",
        "residential_area",
        "KDC-1",
        {"changes": {"households_total": 100, "households_registered": 100}},
        "met",
        "100/100 = 100%, at least 100%",
    ),
    (
        "households-99%",
        "residential_area",
        "KDC-1",
        {"changes": {"households_total": 100, "households_registered": 99}},
        "not_met",
        "99/100 = 99%, below 100%",
    ),
    (
        "households-not-stated",
        "residential_area",
        "KDC-1",
        {"drop": ("households_total", "households_registered")},
        "needs_review",
        "no evidence given (households_registered, households_total)",
    ),
    (
        "households-none",
        "residential_area",
        "KDC-1",
        {"changes": {"households_total": 0, "households_registered": 0}},
        "needs_review",
        "households_total is 0",
    ),
    (
        "resolution-31-march",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", {"party_resolution": "2025-03-31"})},
        "met",
        "issued 2025-03-31, in Quarter I",
    ),
    (
        "resolution-1-april",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", {"party_resolution": "2025-04-01"})},
        "not_met",
        "party_resolution-01 dated 2025-04-01 is outside Quarter I of 2025 (Quý I: 2025-01-01 to 2025-03-31)",
    ),
    (
        "form-last-year",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", {"registration_form": "2024-12-31"})},
        "not_met",
        "registration_form-01 dated 2024-12-31 is outside Quarter I",
    ),
    (
        "form-undated",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", {"registration_form": None})},
        "needs_review",
        "registration_form-01 has no issued_on date",
    ),
    (
        "resolution-missing",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", without=("party_resolution",))},
        "not_met",
        "no party_resolution among the documents given",
    ),
    (
        "resolution-missing-no-evidence",
        "residential_area",
        "KDC-1",
        {"documents": _docs("residential_area", without=("party_resolution",)), "evidence_given": False},
        "needs_review",
        "no evidence given: no party_resolution among the documents",
    ),
    (
        "policy-denied",
        "residential_area",
        "KDC-2",
        {"changes": {"policy_implemented": False}},
        "not_met",
        "the unit states it has not: policy_implemented",
    ),
    (
        "policy-not-stated",
        "residential_area",
        "KDC-2",
        {"drop": ("policy_implemented",)},
        "needs_review",
        "no evidence given (policy_implemented)",
    ),
    (
        "crimes-reduced",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_previous_year": 3, "crimes_this_year": 2}},
        "met",
        "2 in 2025 against 3 in 2024 (as recorded by U:2024's self-assessment, round 1): reduced",
    ),
    (
        "crimes-same",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_previous_year": 3, "crimes_this_year": 3}},
        "not_met",
        "3 in 2025 against 3 in 2024 (as recorded by U:2024's self-assessment, round 1): not reduced",
    ),
    (
        "crimes-none",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_previous_year": 0, "crimes_this_year": 0}},
        "met",
        "0 in 2025 against 0 in 2024",
    ),
    (
        "crimes-up",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_previous_year": 2, "crimes_this_year": 5}},
        "not_met",
        "not reduced",
    ),
    # the recorded figure of the previous unit-year decides, not the unit's own statement of it
    (
        "crimes-stated-differs",
        "residential_area",
        "KDC-4",
        {
            "changes": {"crimes_previous_year": 9, "crimes_this_year": 5},
            "previous": PreviousYear("U:2024", {"crimes_this_year": 4}, 2),
        },
        "not_met",
        "5 in 2025 against 4 in 2024 (as recorded by U:2024's self-assessment, round 2); the unit states 9 for 2024, the recorded figure is used: not reduced",
    ),
    (
        "crimes-recorded-only",
        "residential_area",
        "KDC-4",
        {
            "drop": ("crimes_previous_year",),
            "changes": {"crimes_this_year": 1},
            "previous": PreviousYear("U:2024", {"crimes_this_year": 4}, 1),
        },
        "met",
        "1 in 2025 against 4 in 2024",
    ),
    (
        "crimes-previous-unregistered",
        "residential_area",
        "KDC-4",
        {
            "changes": {"crimes_previous_year": 3, "crimes_this_year": 1},
            "previous": PreviousYear("U:2024", None, 0, "not registered here"),
        },
        "needs_review",
        "1 in 2025; the previous year is unknown here: U:2024 has no recorded crimes_this_year (not registered here); the unit states 3 for 2024: the reviewer compares the two years",
    ),
    (
        "crimes-previous-not-stated",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_this_year": 0}, "previous": PreviousYear("U:2024", {"models_count": 1}, 1)},
        "needs_review",
        "U:2024 has no recorded crimes_this_year (not stated in its self-assessment)",
    ),
    (
        "crimes-not-looked-up",
        "residential_area",
        "KDC-4",
        {"changes": {"crimes_this_year": 1}, "previous": None},
        "needs_review",
        "the figures of 2024 were not looked up",
    ),
    (
        "crimes-this-year-not-stated",
        "residential_area",
        "KDC-4",
        {"drop": ("crimes_this_year",)},
        "needs_review",
        "no evidence given (crimes_this_year)",
    ),
    ("force-hoan-thanh", "residential_area", "KDC-5", {"changes": {"security_force_rating": "hoan_thanh"}}, "met", "hoan_thanh"),
    (
        "force-failed",
        "residential_area",
        "KDC-5",
        {"changes": {"security_force_rating": "khong_hoan_thanh"}},
        "not_met",
        "khong_hoan_thanh (Không hoàn thành nhiệm vụ)",
    ),
    (
        "force-disciplined",
        "residential_area",
        "KDC-5",
        {"changes": {"disciplined_members": {"security_force": 1}}},
        "not_met",
        "disciplined (any form): 1",
    ),
    (
        "force-discipline-not-stated",
        "residential_area",
        "KDC-5",
        {"changes": {"disciplined_members": {}}},
        "needs_review",
        "disciplined_members.security_force",
    ),
    # --- commune, Art. 5 ---
    ("commune-no-model", "commune", "XA-1", {"changes": {"models_count": 0}}, "not_met", "0, fewer than 1"),
    ("commune-one-model", "commune", "XA-1", {"changes": {"models_count": 1}}, "met", "1, at least 1"),
    (
        "commune-plan-april",
        "commune",
        "XA-1",
        {"documents": _docs("commune", {"security_plan": "2025-04-01"})},
        "not_met",
        "security_plan-01 dated 2025-04-01",
    ),
    (
        "commune-crimes-same",
        "commune",
        "XA-2",
        {"changes": {"crimes_previous_year": 9, "crimes_this_year": 9}},
        "not_met",
        "not reduced",
    ),
    (
        "commune-police-disciplined",
        "commune",
        "XA-3",
        {"changes": {"disciplined_members": {"security_force": 2}}},
        "not_met",
        "commune police officers disciplined (any form): 2",
    ),
    ("commune-police", "commune", "XA-3", {}, "needs_review", "the reviewer's call"),
    ("commune-children", "commune", "XA-4", {}, "needs_review", "the approval service computes it from their results"),
    # --- agency, Art. 6 ---
    (
        "no-party-no-resolution",
        "agency",
        "CQ-1",
        {"changes": {"has_party_organisation": False}, "documents": _docs("agency", without=("party_resolution",))},
        "met",
        "party_resolution: not required (no Party organisation)",
    ),
    (
        "party-without-resolution",
        "agency",
        "CQ-1",
        {"documents": _docs("agency", without=("party_resolution",))},
        "not_met",
        "no party_resolution among the documents given",
    ),
    (
        "party-unknown-without-resolution",
        "agency",
        "CQ-1",
        {"drop": ("has_party_organisation",), "documents": _docs("agency", without=("party_resolution",))},
        "needs_review",
        "has_party_organisation is not stated",
    ),
    (
        "agency-plan-1-april",
        "agency",
        "CQ-1",
        {"documents": _docs("agency", {"security_plan": "2025-04-01"})},
        "not_met",
        "security_plan-01 dated 2025-04-01 is outside Quarter I",
    ),
    (
        "agency-rules-missing",
        "agency",
        "CQ-1",
        {"changes": {"internal_rules": AGENCY_RULES[:3]}},
        "not_met",
        "internal rules missing: labour_safety (an toàn lao động), fire_explosion",
    ),
    (
        "agency-rules-as-document",
        "agency",
        "CQ-1",
        {"drop": ("internal_rules",), "documents": [*Q1_DOCS["agency"], doc("internal_rules", "2019-05-01", "NQ-07")]},
        "needs_review",
        "internal rules NQ-07 given without their topics",
    ),
    ("agency-staff-39-of-40", "agency", "CQ-1", {"changes": {"staff_briefed": 39}}, "not_met", "39/40 = 97.5%, below 100%"),
    ("agency-no-model", "agency", "CQ-1", {"changes": {"models_count": 0}}, "not_met", "fewer than 1"),
    (
        "agency-no-coordination",
        "agency",
        "CQ-2",
        {"changes": {"coordination_with_police": False}},
        "not_met",
        "coordination_with_police",
    ),
    (
        "agency-force-hoan-thanh",
        "agency",
        "CQ-4",
        {"changes": {"security_force_rating": "hoan_thanh"}},
        "not_met",
        "needs one of hoan_thanh_tot",
    ),
    (
        "agency-force-tien-tien",
        "agency",
        "CQ-4",
        {"changes": {"security_force_rating": "lao_dong_tien_tien"}},
        "met",
        "Tập thể lao động tiên tiến",
    ),
    (
        "agency-force-not-rated",
        "agency",
        "CQ-4",
        {"drop": ("security_force_rating",)},
        "needs_review",
        "no evidence given (security_force_rating)",
    ),
    (
        "agency-force-warned",
        "agency",
        "CQ-4",
        {"changes": {"disciplined_members": {"security_force": 1, "staff": 0}}},
        "not_met",
        "at warning (cảnh cáo) or above: 1",
    ),
    (
        "subunits-69.9%",
        "agency",
        "CQ-5",
        {"changes": {"subunits_total": 1000, "subunits_titled": 699}},
        "not_met",
        "699/1000 = 69.9%, below 70%",
    ),
    (
        "subunits-70%",
        "agency",
        "CQ-5",
        {"changes": {"subunits_total": 1000, "subunits_titled": 700}},
        "met",
        "700/1000 = 70%, at least 70%",
    ),
    ("subunits-7-of-10", "agency", "CQ-5", {"changes": {"subunits_total": 10, "subunits_titled": 7}}, "met", "7/10 = 70%"),
    (
        "subunits-staff-warned",
        "agency",
        "CQ-5",
        {"changes": {"disciplined_members": {"security_force": 0, "staff": 1}}},
        "not_met",
        "staff disciplined at warning (cảnh cáo) or above: 1",
    ),
    # --- enterprise, Art. 6 ---
    (
        "enterprise-subunits-69.9%",
        "enterprise",
        "DN-5",
        {"changes": {"subunits_total": 1000, "subunits_titled": 699}},
        "not_met",
        "69.9%, below 70%",
    ),
    (
        "enterprise-form-april",
        "enterprise",
        "DN-1",
        {"documents": _docs("enterprise", {"registration_form": "2025-04-01"})},
        "not_met",
        "dated 2025-04-01",
    ),
    # --- school, Art. 7 ---
    (
        "school-learners-999",
        "school",
        "GD-1",
        {"changes": {"learners_briefed": 999}},
        "not_met",
        "learners briefed (người học được phổ biến, quán triệt): 999/1000 = 99.9%, below 100%",
    ),
    (
        "school-learners-not-stated",
        "school",
        "GD-1",
        {"drop": ("learners_total", "learners_briefed")},
        "needs_review",
        "no evidence given (learners_briefed, learners_total)",
    ),
    (
        "school-rules-no-learners",
        "school",
        "GD-1",
        {"changes": {"internal_rules": ["unit_protection", "internal_political_security", "fire_explosion"]}},
        "not_met",
        "learner_management",
    ),
    (
        "school-needs-no-labour-rules",
        "school",
        "GD-1",
        {},
        "met",
        "internal rules cover unit_protection, internal_political_security, learner_management, fire_explosion",
    ),
    (
        "school-no-parents",
        "school",
        "GD-2",
        {"changes": {"coordination_with_parents": False}},
        "not_met",
        "coordination_with_parents",
    ),
    (
        "school-teacher-warned",
        "school",
        "GD-5",
        {"changes": {"disciplined_members": {"security_force": 0, "staff": 0, "teachers": 1}}},
        "not_met",
        "teachers disciplined at warning (cảnh cáo) or above: 1",
    ),
    (
        "school-faculties-69.9%",
        "school",
        "GD-5",
        {"changes": {"subunits_total": 1000, "subunits_titled": 699}},
        "not_met",
        "faculties, departments and subject groups",
    ),
]


@pytest.mark.parametrize("kind,code,kw,result,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_criterion(kind: str, code: str, kw: dict[str, Any], result: str, fragment: str) -> None:
    r = judged(kind, facts(kind, **kw))[code]
    assert r["result"] == result, r["reason"]
    assert fragment in r["reason"]
    ev = evaluate(load_catalog(kind), all_criteria(kind), facts(kind, **kw))
    assert ev.verdict == ("not_met" if result == "not_met" else "met")
    assert ev.unmet == ([code] if result == "not_met" else [])


def test_the_evidence_used_is_recorded() -> None:
    r = judged("agency", facts("agency", changes={"subunits_total": 1000, "subunits_titled": 699}))
    assert r["CQ-5"]["evidence"] == {
        "subunits_titled": 699,
        "subunits_total": 1000,
        "at_least_percent": 70,
        "disciplined_members.staff": 0,
    }
    q1 = r["CQ-1"]["evidence"]
    assert q1["quarter_one"] == ["2025-01-01", "2025-03-31"] and q1["has_party_organisation"] is True
    assert {d["kind"] for d in q1["documents"]} == {"party_resolution", "security_plan", "registration_form"}
    [ratio] = [c for c in r["CQ-5"]["checks"] if c["check"] == "ratio"]
    assert ratio["result"] == "not_met"


def test_a_document_in_quarter_one_is_enough_when_another_copy_is_not() -> None:
    docs = [*Q1_DOCS["agency"], doc("security_plan", "2025-05-02", "KH-bổ-sung")]
    assert judged("agency", facts("agency", documents=docs))["CQ-1"]["result"] == "met"


def test_an_incident_fails_its_event_criterion_and_the_verdict() -> None:
    crime = {
        "incident_id": "CA-51-0042",
        "category": "crime",
        "severity": "very_serious",
        "occurred_on": date(2025, 6, 3),
        "detected_promptly": True,
        "mitigated": True,
        "reported_promptly": False,
    }
    f = facts("agency", incidents=(crime,))
    ev = evaluate(load_catalog("agency"), all_criteria("agency"), f)
    assert ev.verdict == "not_met" and ev.unmet == ["CQ-3"]
    cq3 = ev.criteria[2]
    assert cq3["result"] == "not_met"
    assert "incident CA-51-0042 (crime, very_serious) on 2025-06-03 fails CQ-3, Art. 6.3.đ" in cq3["reason"]
    assert "reported_promptly (báo cáo ngay cấp có thẩm quyền)" in cq3["reason"]
    assert cq3["incidents"] == [
        {"incident_id": "CA-51-0042", "criterion": "CQ-3", "effect": "fails_criterion", "reason": cq3["reason"]}
    ]
    # promptly reported too: the conditional pass
    passed = evaluate(
        load_catalog("agency"), all_criteria("agency"), facts("agency", incidents=({**crime, "reported_promptly": True},))
    )
    assert passed.verdict == "met" and passed.criteria[2]["result"] == "met"
    assert "conditional pass" in passed.criteria[2]["reason"]


def test_exact_coverage_is_still_required() -> None:
    with pytest.raises(AssessmentError) as exc:
        evaluate(load_catalog("agency"), all_criteria("agency")[:4], facts("agency"))
    assert exc.value.code == "invalid_payload" and "CQ-5" in exc.value.reason
    with pytest.raises(AssessmentError) as exc:
        evaluate(load_catalog("agency"), [*all_criteria("agency"), {"code": "TINH-DIEM", "met": True}], facts("agency"))
    assert "unknown criteria for agency" in exc.value.reason


def test_self_scores_without_a_sheet_are_refused() -> None:
    with pytest.raises(AssessmentError) as exc:
        evaluate(load_catalog("agency"), all_criteria("agency"), facts("agency", changes={"self_scores": {"I.02": 5}}))
    assert exc.value.code == "invalid_payload" and "no province scoring sheet" in exc.value.reason


@pytest.mark.parametrize(
    "evidence,fragment",
    [
        ({"staff_total": 10, "staff_briefed": 11}, "staff_briefed (11) exceeds staff_total (10)"),
        ({"households_total": 5, "households_registered": 6}, "households_registered (6) exceeds households_total (5)"),
        ({"subunits_total": 5, "subunits_titled": 6}, "subunits_titled (6) exceeds subunits_total (5)"),
        ({"internal_rules": ["fire_safety"]}, "internal_rules"),
        ({"security_force_rating": "xuat_sac"}, "security_force_rating"),
        ({"disciplined_members": {"parents": 1}}, "disciplined_members"),
        ({"models_count": -1}, "models_count"),
        ({"self_scores": {"I.02": 101}}, "self_scores"),
    ],
)
def test_evidence_is_validated(evidence: dict[str, Any], fragment: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        Evidence.model_validate(evidence)
    assert fragment in str(exc.value)
