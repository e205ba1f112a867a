"""relay log and checkpoints

The outbox relay's Merkle tree per partition of the service's event topic (``relay_log``) and
the signed checkpoints it issued (``relay_checkpoint``). An existing deployment starts with no
``relay_log`` rows: the relay then adopts the records already on its topic once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('relay_checkpoint',
    sa.Column('producer', sa.String(length=50), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('producer', 'sequence')
    )
    op.create_table('relay_log',
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('peaks', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'partition')
    )


def downgrade() -> None:
    op.drop_table('relay_log')
    op.drop_table('relay_checkpoint')
