"""a transfer's handover (safeguarding in place, A's IDVA) and its actions part's state

Revision ID: 8d2b4e6f1a3c
Revises: 5e1f0c2a9b7d
Create Date: 2026-12-02 05:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '8d2b4e6f1a3c'
down_revision = '5e1f0c2a9b7d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transfers_out', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handover', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('actions_part', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transfers_out', schema=None) as batch_op:
        batch_op.drop_column('actions_part')
        batch_op.drop_column('handover')
