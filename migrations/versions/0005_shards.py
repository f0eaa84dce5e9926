"""The shard of each client (ENGINE=celery): assigned once to the least loaded shard, moved by a rebalance.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("shard", sa.Integer()))


def downgrade():
    with op.batch_alter_table("account") as batch:
        batch.drop_column("shard")
