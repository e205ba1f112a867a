"""claims on the exemplary titles' steps

Who works the pending step of a unit-year's exemplary title ("Tôi xử lý"): the same rows as
``approval_claims``, which hold the ANTT chain's. A unit-year under review on both chains may
be worked by two officials, one on each.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('approval_exemplary_claims',
    sa.Column('unit_year_id', sa.String(length=80), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.String(length=200), nullable=False),
    sa.Column('official_name', sa.String(length=300), nullable=False),
    sa.Column('claimed_at', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('unit_year_id')
    )
    with op.batch_alter_table('approval_exemplary_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_exemplary_claims_official_id'), ['official_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('approval_exemplary_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_exemplary_claims_official_id'))
    op.drop_table('approval_exemplary_claims')
