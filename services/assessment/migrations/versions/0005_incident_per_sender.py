"""incidents are identified per sender; a commune's areas are indexed

An incident's ``incident_id`` is the reporting system's own number: two systems may use the
same one for different incidents. The primary key of ``incidents`` becomes
(``source_system``, ``incident_id``); the rows already there keep their sender, so nothing
else changes for them.

``assessment_units`` gets an index on (``commune_code``, ``kind``): a commune's case reads the
incidents of its residential areas (Art. 5.2) each time it is judged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _primary_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot alter a primary key: the batch copies the table with the new one
        # (SQLAlchemy warns that the copied columns' primary_key flags differ from the new
        # key, which is the point)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=".*specifies columns .* as primary_key=True", category=sa.exc.SAWarning)
            with op.batch_alter_table('incidents', recreate='always') as batch_op:
                batch_op.create_primary_key('incidents_pkey', columns)
    else:
        op.drop_constraint('incidents_pkey', 'incidents', type_='primary')
        op.create_primary_key('incidents_pkey', 'incidents', columns)


def upgrade() -> None:
    _primary_key(['source_system', 'incident_id'])
    op.create_index('ix_assessment_units_commune_code_kind', 'assessment_units', ['commune_code', 'kind'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_assessment_units_commune_code_kind', table_name='assessment_units')
    # fails, as it should, where two senders already recorded the same incident_id
    _primary_key(['incident_id'])
