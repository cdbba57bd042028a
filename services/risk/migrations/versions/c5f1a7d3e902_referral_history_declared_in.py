"""referral history: the referral whose form declared an earlier referral

Revision ID: c5f1a7d3e902
Revises: a4d2c6e8f013
Create Date: 2026-12-03 21:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import marac_platform.db


revision = 'c5f1a7d3e902'
down_revision = 'a4d2c6e8f013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referral_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_in', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_referral_history_declared_in'), ['declared_in'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('referral_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_history_declared_in'))
        batch_op.drop_column('declared_in')
