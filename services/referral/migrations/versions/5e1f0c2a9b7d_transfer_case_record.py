"""a transfer's case record (the actions service's part of the package)

Revision ID: 5e1f0c2a9b7d
Revises: caf517969037
Create Date: 2026-12-02 05:10:00.000000
"""
from alembic import op
import sqlalchemy as sa
import marac_platform.db


revision = '5e1f0c2a9b7d'
down_revision = 'caf517969037'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transfers_out', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('packed_at', marac_platform.db.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transfers_out', schema=None) as batch_op:
        batch_op.drop_column('packed_at')
        batch_op.drop_column('record')
