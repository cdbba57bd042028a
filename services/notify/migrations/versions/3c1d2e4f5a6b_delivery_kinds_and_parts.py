"""delivery reference, link and HTML part; pending is called queued

Revision ID: 3c1d2e4f5a6b
Revises: 148d41e8c8ba
Create Date: 2026-12-01 23:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '3c1d2e4f5a6b'
down_revision = '148d41e8c8ba'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('link', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('html', sa.Text(), nullable=True))
    op.execute("UPDATE deliveries SET status = 'queued' WHERE status = 'pending'")


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'pending' WHERE status IN ('queued', 'refused')")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('html')
        batch_op.drop_column('link')
        batch_op.drop_column('reference')
