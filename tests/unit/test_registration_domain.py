"""Registration domain: eligibility (Circular 124 Art. 2), the yearly dossier, withdrawal."""

from __future__ import annotations

from typing import Any

import pytest

from services.registration.domain.model import (
    RegistrationError,
    Unit,
    UnitYear,
    check_eligibility,
    unit_year_id,
)
from tests.unit.builders import unit

FORM = {"kind": "registration_form", "ref": "BĐK-01/2025", "issued_on": "2025-02-10"}
PLAN = {"kind": "security_plan", "ref": "KH-02/2025"}


def make_unit(**kw: Any) -> Unit:
    data = unit(**kw)
    return Unit(**data)


@pytest.mark.parametrize(
    "kind,attributes,eligible",
    [
        ("agency", {"armed_forces": True}, False),
        ("agency", {"armed_forces": False}, True),
        ("agency", {}, True),
        ("enterprise", {"enterprise_size": "small"}, False),
        ("enterprise", {"enterprise_size": "micro"}, False),
        ("enterprise", {"enterprise_size": "medium"}, True),
        ("enterprise", {"enterprise_size": "large"}, True),
        ("enterprise", {}, True),
        ("school", {"school_level": "primary"}, False),
        ("school", {"school_level": "preschool"}, False),
        ("school", {"school_level": "nursery"}, False),
        ("school", {"school_level": "lower_secondary"}, True),
        ("school", {"school_level": "upper_secondary"}, True),
        ("school", {"school_level": "university"}, True),
        # an exclusion applies to its own kind only
        ("enterprise", {"armed_forces": True}, True),
        ("agency", {"enterprise_size": "small"}, True),
        ("agency", {"school_level": "preschool"}, True),
        ("residential_area", {}, True),
        ("commune", {}, True),
    ],
)
def test_eligibility(kind: str, attributes: dict[str, Any], eligible: bool) -> None:
    data = unit(code="QN-U-1", kind=kind, **attributes)
    if eligible:
        check_eligibility(data)
        return
    with pytest.raises(RegistrationError) as exc:
        check_eligibility(data)
    assert exc.value.code == "ineligible"
    assert "QN-U-1" in exc.value.reason and "Art. 2" in exc.value.reason


@pytest.mark.parametrize(
    "kind,attributes,fragment",
    [
        ("agency", {"armed_forces": True}, "armed-forces"),
        ("enterprise", {"enterprise_size": "micro"}, "small and micro"),
        ("school", {"school_level": "nursery"}, "primary schools, preschools and nurseries"),
    ],
)
def test_ineligibility_reason_names_the_exclusion(kind: str, attributes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RegistrationError, match=fragment):
        check_eligibility(unit(kind=kind, **attributes))


def test_a_residential_area_must_name_its_commune() -> None:
    with pytest.raises(RegistrationError) as exc:
        check_eligibility(unit(kind="residential_area", commune_code=None))
    assert exc.value.code == "invalid_payload" and "commune_code" in exc.value.reason
    check_eligibility(unit(kind="agency", commune_code=None, managing_level="province"))


# --- the unit register -----------------------------------------------------------------------
def test_update_reports_the_changed_fields_and_applies_them() -> None:
    u = make_unit(kind="agency", managing_level="district")
    changed = u.update(unit(kind="agency", name="Sở Tư pháp", managing_level="province", armed_forces=False))
    assert changed == ["name", "managing_level", "attributes"]
    assert u.name == "Sở Tư pháp" and u.managing_level == "province" and u.attributes == {"armed_forces": False}
    assert u.update(u.snapshot()) == []


def test_the_kind_of_a_unit_cannot_change() -> None:
    u = make_unit(kind="agency")
    with pytest.raises(RegistrationError) as exc:
        u.update(unit(kind="enterprise"))
    assert exc.value.code == "conflict"
    assert u.kind == "agency"


def test_snapshot_is_a_copy() -> None:
    u = make_unit(kind="school", school_level="lower_secondary")
    snap = u.snapshot()
    snap["attributes"]["school_level"] = "primary"
    assert u.attributes == {"school_level": "lower_secondary"}


# --- the unit-year ---------------------------------------------------------------------------
def test_register_a_residential_area() -> None:
    uy = UnitYear.register(make_unit(), 2025, [FORM, PLAN], 120, 118)
    assert uy.id == "QN-KDC-001:2025" == unit_year_id("QN-KDC-001", 2025)
    assert uy.state == "registered"
    assert (uy.households_total, uy.households_registered) == (120, 118)
    assert uy.documents == [FORM, PLAN]


def test_register_an_agency_needs_no_household_count() -> None:
    uy = UnitYear.register(make_unit(code="QN-CQ-1", kind="agency", managing_level="province"), 2024, [FORM], None, None)
    assert uy.id == "QN-CQ-1:2024" and uy.state == "registered"


@pytest.mark.parametrize(
    "kind,documents,total,registered,fragment",
    [
        ("agency", [], None, None, "registration_form"),
        ("agency", [PLAN], None, None, "registration_form"),
        ("residential_area", [FORM], None, 10, "households_total and households_registered"),
        ("residential_area", [FORM], 10, None, "households_total and households_registered"),
        ("residential_area", [FORM], 100, 101, "households_registered (101) exceeds households_total (100)"),
        ("residential_area", [PLAN], 100, 100, "registration_form"),
    ],
)
def test_register_refusals(
    kind: str, documents: list[dict[str, Any]], total: int | None, registered: int | None, fragment: str
) -> None:
    with pytest.raises(RegistrationError) as exc:
        UnitYear.register(make_unit(kind=kind), 2025, documents, total, registered)
    assert exc.value.code == "invalid_payload"
    assert fragment in exc.value.reason


def test_register_equal_household_counts_is_accepted() -> None:
    assert UnitYear.register(make_unit(), 2025, [FORM], 100, 100).households_registered == 100


def test_register_an_ineligible_unit_is_refused() -> None:
    with pytest.raises(RegistrationError) as exc:
        UnitYear.register(make_unit(kind="school", school_level="preschool"), 2025, [FORM], None, None)
    assert exc.value.code == "ineligible"


def _registered(approval_state: str | None = None) -> UnitYear:
    uy = UnitYear.register(make_unit(), 2025, [FORM], 100, 100)
    uy.approval_state = approval_state
    return uy


@pytest.mark.parametrize("approval_state", [None, "registered", "self_scored", "commune_reviewed", "returned"])
def test_withdraw_before_a_final_decision(approval_state: str | None) -> None:
    uy = _registered(approval_state)
    uy.withdraw("sáp nhập với tổ dân phố 2")
    assert uy.state == "withdrawn"
    assert uy.withdrawal_reason == "sáp nhập với tổ dân phố 2"


def test_withdraw_twice_is_refused_and_keeps_the_first_reason() -> None:
    uy = _registered()
    uy.withdraw("first")
    with pytest.raises(RegistrationError) as exc:
        uy.withdraw("second")
    assert exc.value.code == "illegal_transition"
    assert "withdrawn" in exc.value.reason
    assert uy.withdrawal_reason == "first"


@pytest.mark.parametrize("approval_state", ["recognized", "not_recognized", "revoked", "withdrawn"])
def test_withdraw_after_a_final_approval_state_is_refused(approval_state: str) -> None:
    uy = _registered(approval_state)
    with pytest.raises(RegistrationError) as exc:
        uy.withdraw("too late")
    assert exc.value.code == "illegal_transition"
    assert approval_state in exc.value.reason and "no longer be withdrawn" in exc.value.reason
    assert uy.state == "registered" and uy.withdrawal_reason is None
