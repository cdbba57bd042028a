"""A coordinator's confirmation that a referral which joined an open case is the same victim

Revision ID: 9a4c7e2b1d05
Revises: 8d2b4e6f1a3c
Create Date: 2026-12-02 13:40:00

"""
import sqlalchemy as sa
from alembic import op

import marac_platform.db

revision = '9a4c7e2b1d05'
down_revision = '8d2b4e6f1a3c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_confirmed_by', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('link_confirmed_at',
                                      marac_platform.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('link_confirmed_at')
        batch_op.drop_column('link_confirmed_by')
