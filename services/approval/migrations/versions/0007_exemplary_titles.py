"""exemplary titles

The exemplary title of a unit-year (điển hình, kiểu mẫu về ANTT) moves along its own chain,
beside the unit-year's ANTT case: one row per unit-year proposed for it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('approval_exemplary_titles',
    sa.Column('unit_year_id', sa.String(length=80), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('unit', sa.JSON(), nullable=False),
    sa.Column('province_code', sa.String(length=16), nullable=False),
    sa.Column('commune_code', sa.String(length=16), nullable=True),
    sa.Column('unit_code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('criteria_catalog', sa.String(length=64), nullable=False),
    sa.Column('antt_decision_no', sa.String(length=100), nullable=True),
    sa.Column('chain', sa.JSON(), nullable=False),
    sa.Column('chain_profile', sa.String(length=32), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('pending_level', sa.String(length=16), nullable=True),
    sa.Column('pending_role', sa.String(length=16), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('unmet', sa.JSON(), nullable=False),
    sa.Column('decisions', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_year_id')
    )
    for col in ('year', 'province_code', 'commune_code', 'unit_code', 'state', 'pending_level'):
        op.create_index(op.f(f'ix_approval_exemplary_titles_{col}'), 'approval_exemplary_titles', [col], unique=False)


def downgrade() -> None:
    for col in ('year', 'province_code', 'commune_code', 'unit_code', 'state', 'pending_level'):
        op.drop_index(op.f(f'ix_approval_exemplary_titles_{col}'), table_name='approval_exemplary_titles')
    op.drop_table('approval_exemplary_titles')
