"""the exemplary track

- ``exemplary_cases``: a unit-year's proposal for the province's exemplary title (điển hình),
  with its own self-assessment against the exemplary catalog.
- ``assessment_cases.outcome``: the final ANTT decision the approval service announced
  (recognised, not recognised, withdrawn, revoked), which the exemplary title rests on; cases
  closed before this revision have none (their proposals are refused as not known recognised).
- ``assessment_cases.movement``: the movement's yearly classification (phân loại phong trào).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('exemplary_cases',
    sa.Column('unit_year_id', sa.String(length=80), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('unit', sa.JSON(), nullable=False),
    sa.Column('catalog_ref', sa.String(length=64), nullable=False),
    sa.Column('proposal', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('proposed', 'self_assessed', 'returned', 'closed', name='exemplarystate', native_enum=False, length=32), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('submission', sa.JSON(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_year_id')
    )
    with op.batch_alter_table('assessment_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('movement', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assessment_cases', schema=None) as batch_op:
        batch_op.drop_column('movement')
        batch_op.drop_column('outcome')
    op.drop_table('exemplary_cases')
