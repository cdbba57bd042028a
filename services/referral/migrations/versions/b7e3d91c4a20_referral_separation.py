"""A referral separated from a case it joined by mistake: the case it left, who and when

Revision ID: b7e3d91c4a20
Revises: 9a4c7e2b1d05
Create Date: 2026-12-03 21:00:00

"""
import sqlalchemy as sa
from alembic import op

import marac_platform.db

revision = 'b7e3d91c4a20'
down_revision = '9a4c7e2b1d05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('separated_from', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('separated_by', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('separated_at',
                                      marac_platform.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('separated_at')
        batch_op.drop_column('separated_by')
        batch_op.drop_column('separated_from')
