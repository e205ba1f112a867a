"""Tables of the assessment service and the imperative mapping of its domain classes."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Enum, Integer, MetaData, String, Table
from sqlalchemy.orm import registry

from services.assessment.domain import AssessmentCase
from services.assessment.machine import AssessmentState
from shared.infra.tables import InfraTables

metadata = MetaData()
mapper_registry = registry(metadata=metadata)
infra = InfraTables(metadata)

cases = Table(
    "assessment_cases",
    metadata,
    Column("unit_year_id", String(80), primary_key=True),
    Column("year", Integer, nullable=False, index=True),
    Column("unit", JSON, nullable=False),
    Column("catalog_ref", String(64), nullable=False),
    Column(
        "state",
        Enum(AssessmentState, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True),
        nullable=False,
        index=True,
    ),
    Column("round", Integer, nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("result", JSON, nullable=True),
    Column("version", Integer, nullable=False),
)

mapper_registry.map_imperatively(AssessmentCase, cases, version_id_col=cases.c.version)
