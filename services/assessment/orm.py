"""Tables of the assessment service and the Core repositories of its aggregates
(``shared.infra.repository``: loaded, tracked and written without the ORM)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Enum, Index, Integer, MetaData, String, Table, Text

from services.assessment.domain.exemplary import ExemplaryCase
from services.assessment.domain.machine import AssessmentState, ExemplaryState
from services.assessment.domain.model import AssessmentCase, Incident
from shared.infra.repository import register
from shared.infra.tables import InfraTables

metadata = MetaData()
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
        Enum(
            AssessmentState, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True
        ),
        nullable=False,
        index=True,
    ),
    Column("round", Integer, nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("result", JSON, nullable=True),
    Column("registration", JSON, nullable=True),
    Column("submission", JSON, nullable=True),
    Column("incident_ids", JSON, nullable=True),
    Column("version", Integer, nullable=False),
    Column("outcome", JSON, nullable=True),
    Column("movement", JSON, nullable=True),
)

#: the exemplary track: a unit-year's proposal for the exemplary title (điển hình)
exemplary_cases = Table(
    "exemplary_cases",
    metadata,
    Column("unit_year_id", String(80), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("unit", JSON, nullable=False),
    Column("catalog_ref", String(64), nullable=False),
    Column("proposal", JSON, nullable=False),
    Column(
        "state",
        Enum(ExemplaryState, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True),
        nullable=False,
    ),
    Column("round", Integer, nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("result", JSON, nullable=True),
    Column("submission", JSON, nullable=True),
    Column("version", Integer, nullable=False),
)

#: read model of the units this service has heard of (registration events): kind and place,
#: for the window of an incident and the sender's jurisdiction
units = Table(
    "assessment_units",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("province_code", String(16), nullable=False),
    Column("commune_code", String(16), nullable=True),
    Column("unit", JSON, nullable=False),
    # a commune's residential areas (their incidents count against its criterion 2)
    Index("ix_assessment_units_commune_code_kind", "commune_code", "kind"),
)

#: an incident is identified by its sender and the sender's id of it: the same incident_id
#: from two senders is two incidents (each system numbers its own)
incidents = Table(
    "incidents",
    metadata,
    Column("source_system", String(200), primary_key=True),
    Column("incident_id", String(100), primary_key=True),
    Column("unit_code", String(64), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("category", String(64), nullable=False),
    Column("report", JSON, nullable=False),
    Column("jurisdiction", JSON, nullable=False),
    Column("unit_year_id", String(80), nullable=True, index=True),
    Column("criterion", String(32), nullable=True),
    Column("effect", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_incidents_unit_code_occurred_on", "unit_code", "occurred_on"),
)

case_repo = register(AssessmentCase, cases)
incident_repo = register(Incident, incidents)
exemplary_repo = register(ExemplaryCase, exemplary_cases)
