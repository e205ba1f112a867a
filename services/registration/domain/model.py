"""Registration domain: units, eligibility, unit-year registration and withdrawal.

Pure: no database or broker imports. Errors are :class:`RegistrationError` with a code and
a reason that an official can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.registration.domain.machine import MACHINE, RegistrationState
from shared.infra.errors import DomainError
from shared.infra.statemachine import IllegalTransition, fire

#: approval states after which a registration can no longer be withdrawn
FINAL_APPROVAL_STATES = frozenset({"recognized", "not_recognized", "revoked", "withdrawn"})

#: documents the yearly registration dossier must contain (Circular 124, Q1 dossier)
REQUIRED_REGISTRATION_DOCUMENTS = ("registration_form",)

#: exclusions of Circular 124 Art. 2: (unit kind, attribute, excluded values, reason)
EXCLUSIONS: tuple[tuple[str, str, frozenset[Any], str], ...] = (
    ("agency", "armed_forces", frozenset({True}), "armed-forces units (cơ quan, đơn vị lực lượng vũ trang) are excluded"),
    (
        "enterprise",
        "enterprise_size",
        frozenset({"small", "micro"}),
        "small and micro enterprises (doanh nghiệp nhỏ, siêu nhỏ) are excluded",
    ),
    (
        "school",
        "school_level",
        frozenset({"primary", "preschool", "nursery"}),
        "primary schools, preschools and nurseries (tiểu học, mầm non) are excluded",
    ),
)


class RegistrationError(DomainError):
    """A registration refused, with a code and a reason."""


@dataclass(eq=False)
class Unit:
    code: str
    name: str
    kind: str
    province_code: str
    commune_code: str | None
    district_code: str | None
    managing_level: str
    attributes: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "province_code": self.province_code,
            "commune_code": self.commune_code,
            "district_code": self.district_code,
            "managing_level": self.managing_level,
            "attributes": dict(self.attributes),
        }

    def update(self, data: dict[str, Any]) -> list[str]:
        """Apply a new registration of the same unit; return the fields that changed."""
        if data["kind"] != self.kind:
            raise RegistrationError(
                "conflict", f"unit {self.code} is registered as {self.kind}; its kind cannot change to {data['kind']}"
            )
        changed = []
        for name in ("name", "province_code", "commune_code", "district_code", "managing_level", "attributes"):
            if getattr(self, name) != data.get(name):
                setattr(self, name, data.get(name))
                changed.append(name)
        return changed


def check_eligibility(unit: dict[str, Any]) -> None:
    kind = unit["kind"]
    attrs = unit.get("attributes") or {}
    for ex_kind, attr, values, reason in EXCLUSIONS:
        if kind == ex_kind and attrs.get(attr) in values:
            raise RegistrationError("ineligible", f"unit {unit['code']}: {reason} (Circular 124/2021/TT-BCA, Art. 2)")
    if kind == "residential_area" and not unit.get("commune_code"):
        raise RegistrationError("invalid_payload", "a residential area (khu dân cư) must name its commune_code")


def unit_year_id(unit_code: str, year: int) -> str:
    return f"{unit_code}:{year}"


@dataclass(eq=False)
class UnitYear:
    id: str
    unit_code: str
    year: int
    state: str
    documents: list[dict[str, Any]]
    households_total: int | None = None
    households_registered: int | None = None
    approval_state: str | None = None
    withdrawal_reason: str | None = None
    version: int = 0

    @classmethod
    def register(
        cls,
        unit: Unit,
        year: int,
        documents: list[dict[str, Any]],
        households_total: int | None,
        households_registered: int | None,
    ) -> UnitYear:
        check_eligibility(unit.snapshot())
        kinds = {d["kind"] for d in documents}
        missing = [k for k in REQUIRED_REGISTRATION_DOCUMENTS if k not in kinds]
        if missing:
            raise RegistrationError(
                "invalid_payload",
                f"the registration dossier lacks: {', '.join(missing)} (bản đăng ký phấn đấu)",
            )
        if unit.kind == "residential_area":
            if households_total is None or households_registered is None:
                raise RegistrationError(
                    "invalid_payload",
                    "a residential area must give households_total and households_registered",
                )
            if households_registered > households_total:
                raise RegistrationError(
                    "invalid_payload",
                    f"households_registered ({households_registered}) exceeds households_total ({households_total})",
                )
        return cls(
            id=unit_year_id(unit.code, year),
            unit_code=unit.code,
            year=year,
            state=RegistrationState.registered.value,
            documents=documents,
            households_total=households_total,
            households_registered=households_registered,
        )

    def withdraw(self, reason: str) -> None:
        if self.approval_state in FINAL_APPROVAL_STATES:
            raise RegistrationError(
                "illegal_transition",
                f"unit-year {self.id} is already {self.approval_state}; it can no longer be withdrawn",
            )
        try:
            fire(MACHINE, self, "withdraw")
        except IllegalTransition as exc:
            raise RegistrationError("illegal_transition", f"unit-year {self.id}: {exc}") from None
        self.withdrawal_reason = reason
