"""Guard rails and loss protection on accounts; detection time on runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("drawdown_limit_pct", sa.String(64)))
        batch.add_column(sa.Column("loss_action", sa.String(16), nullable=False, server_default="close_only"))
        batch.add_column(sa.Column("loss_fired_at", sa.DateTime()))
        batch.add_column(sa.Column("loss_fired_reason", sa.Text()))
        batch.add_column(sa.Column("slippage_pct", sa.String(64), server_default="0.5"))
        batch.add_column(sa.Column("below_min_rule", sa.String(16), nullable=False, server_default="skip"))
        batch.add_column(sa.Column("round_up_max_factor", sa.String(64), nullable=False, server_default="2"))
        batch.add_column(sa.Column("copy_existing", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("detected_at", sa.DateTime()))


def downgrade():
    with op.batch_alter_table("run") as batch:
        batch.drop_column("detected_at")
    with op.batch_alter_table("account") as batch:
        for column in ("copy_existing", "round_up_max_factor", "below_min_rule", "slippage_pct",
                       "loss_fired_reason", "loss_fired_at", "loss_action", "drawdown_limit_pct"):
            batch.drop_column(column)
