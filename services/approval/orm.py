"""Tables of the approval service and the Core repositories of its cases (``shared.infra.repository``)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Enum, Integer, MetaData, String, Table

from services.approval.domain.machine import ApprovalState
from services.approval.domain.model import ApprovalCase, ChainCase, ExemplaryTitle
from shared.infra.repository import register
from shared.infra.tables import InfraTables

metadata = MetaData()
infra = InfraTables(metadata)

cases = Table(
    "approval_cases",
    metadata,
    Column("unit_year_id", String(80), primary_key=True),
    Column("year", Integer, nullable=False, index=True),
    Column("unit", JSON, nullable=False),
    Column("province_code", String(16), nullable=False, index=True),
    Column("commune_code", String(16), nullable=True, index=True),
    Column("unit_code", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("chain", JSON, nullable=False),
    Column("chain_profile", String(32), nullable=False),
    Column("deadline", Date, nullable=False),
    Column(
        "state",
        Enum(ApprovalState, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True),
        nullable=False,
        index=True,
    ),
    Column("step", Integer, nullable=False),
    Column("pending_level", String(16), nullable=True, index=True),
    #: the role of the pending step (review: thẩm định, decide: công nhận), for the queues
    Column("pending_role", String(16), nullable=True, index=True),
    Column("round", Integer, nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("unmet", JSON, nullable=False),
    Column("decisions", JSON, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("open_flags", Integer, nullable=False, index=True),
    Column("version", Integer, nullable=False),
)

#: read model of the unit register (from the registration service's events), for the commune roll-up
units = Table(
    "approval_units",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("province_code", String(16), nullable=False),
    Column("commune_code", String(16), nullable=True, index=True),
    Column("district_code", String(16), nullable=True),
    Column("managing_level", String(16), nullable=False),
    Column("name", String(300), nullable=False),
)

#: every event seen about a unit-year, from every service, for the audit view
history = Table(
    "event_history",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("unit_year_id", String(80), nullable=False, index=True),
    Column("topic", String(200), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("producer", String(50), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("envelope", JSON, nullable=False),
)


def _claims_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("unit_year_id", String(80), primary_key=True),
        Column("level", String(16), nullable=False),
        Column("step", Integer, nullable=False),
        Column("round", Integer, nullable=False),
        Column("official_id", String(200), nullable=False, index=True),
        Column("official_name", String(300), nullable=False),
        Column("claimed_at", String(40), nullable=False),
    )


#: who works a unit-year's pending step ("Tôi xử lý"), from CaseClaimed / CaseReleased /
#: CaseReassigned; a row holds for its step and round only, and a decision deletes it
claims = _claims_table("approval_claims")
#: the same for the pending step of a unit-year's exemplary title (ExemplaryTitleClaimed, ...)
exemplary_claims = _claims_table("approval_exemplary_claims")


def claims_of(case: ChainCase) -> Table:
    """The claims of the case's track: each track's steps are claimed apart."""
    return exemplary_claims if isinstance(case, ExemplaryTitle) else claims


#: the exemplary title of a unit-year along its own chain (``ExemplaryTitle``), beside its ANTT case
exemplary_titles = Table(
    "approval_exemplary_titles",
    metadata,
    Column("unit_year_id", String(80), primary_key=True),
    Column("year", Integer, nullable=False, index=True),
    Column("unit", JSON, nullable=False),
    Column("province_code", String(16), nullable=False, index=True),
    Column("commune_code", String(16), nullable=True, index=True),
    Column("unit_code", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("criteria_catalog", String(64), nullable=False),
    Column("antt_decision_no", String(100), nullable=True),
    Column("chain", JSON, nullable=False),
    Column("chain_profile", String(32), nullable=False),
    Column("deadline", Date, nullable=True),
    Column("state", String(32), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("pending_level", String(16), nullable=True, index=True),
    Column("pending_role", String(16), nullable=True),
    Column("round", Integer, nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("unmet", JSON, nullable=False),
    Column("decisions", JSON, nullable=False),
    Column("version", Integer, nullable=False),
)

case_repo = register(ApprovalCase, cases)
title_repo = register(ExemplaryTitle, exemplary_titles)
