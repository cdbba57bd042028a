"""referral history: the area of a declared or transferred-in referral

Revision ID: a4d2c6e8f013
Revises: 8304870206ef
Create Date: 2026-12-02 05:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import marac_platform.db


revision = 'a4d2c6e8f013'
down_revision = '8304870206ef'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referral_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referral_area', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referral_history', schema=None) as batch_op:
        batch_op.drop_column('referral_area')
