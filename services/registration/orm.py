"""Tables of the registration service and the Core repositories of its aggregates
(``shared.infra.repository``: loaded, tracked and written without the ORM)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Enum, Integer, MetaData, String, Table, Text

from services.registration.domain.machine import RegistrationState
from services.registration.domain.model import Unit, UnitYear
from shared.infra.repository import register
from shared.infra.tables import InfraTables

metadata = MetaData()
infra = InfraTables(metadata)

units = Table(
    "units",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("province_code", String(16), nullable=False, index=True),
    Column("commune_code", String(16), nullable=True, index=True),
    Column("district_code", String(16), nullable=True),
    Column("managing_level", String(16), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("version", Integer, nullable=False),
)

unit_years = Table(
    "unit_years",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("unit_code", String(64), nullable=False, index=True),
    Column("year", Integer, nullable=False, index=True),
    Column(
        "state",
        Enum(
            RegistrationState, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True
        ),
        nullable=False,
    ),
    Column("documents", JSON, nullable=False),
    Column("households_total", Integer, nullable=True),
    Column("households_registered", Integer, nullable=True),
    Column("approval_state", String(32), nullable=True),
    Column("withdrawal_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
)

unit_repo = register(Unit, units)
unit_year_repo = register(UnitYear, unit_years)
