"""claims and the pending step's role

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('approval_claims',
    sa.Column('unit_year_id', sa.String(length=80), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.String(length=200), nullable=False),
    sa.Column('official_name', sa.String(length=300), nullable=False),
    sa.Column('claimed_at', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('unit_year_id')
    )
    with op.batch_alter_table('approval_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_claims_official_id'), ['official_id'], unique=False)

    with op.batch_alter_table('approval_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_role', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_approval_cases_pending_role'), ['pending_role'], unique=False)
    # existing cases under review: the role of the step they wait at (chain[step].role)
    conn = op.get_bind()
    cases = sa.table('approval_cases', sa.column('unit_year_id', sa.String), sa.column('chain', sa.JSON),
                     sa.column('step', sa.Integer), sa.column('pending_level', sa.String), sa.column('pending_role', sa.String))
    rows = conn.execute(sa.select(cases.c.unit_year_id, cases.c.chain, cases.c.step).where(cases.c.pending_level.is_not(None))).all()
    for uy, chain, step in rows:
        if isinstance(chain, list) and 0 <= step < len(chain):
            conn.execute(cases.update().where(cases.c.unit_year_id == uy).values(pending_role=chain[step].get('role')))


def downgrade() -> None:
    with op.batch_alter_table('approval_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_cases_pending_role'))
        batch_op.drop_column('pending_role')

    with op.batch_alter_table('approval_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_claims_official_id'))

    op.drop_table('approval_claims')
