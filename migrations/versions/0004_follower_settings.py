"""Follower settings per client (leverage, margin mode, TP/SL, fixed quantity/notional, max margin).

Every new column has a server default that keeps today's behaviour for existing rows: follow the master's
leverage, margin mode and TP/SL, no fixed quantities, no margin cap. Existing copies keep following the
master's TP/SL (the TP/SL choice is frozen on the copy at open).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("leverage_mode", sa.String(8), nullable=False, server_default="follow"))
        batch.add_column(sa.Column("fixed_leverage", sa.Integer()))
        batch.add_column(sa.Column("margin_mode", sa.String(10), nullable=False, server_default="follow"))
        batch.add_column(sa.Column("tpsl_mode", sa.String(8), nullable=False, server_default="follow"))
        batch.add_column(sa.Column("tp_pct", sa.String(64)))
        batch.add_column(sa.Column("sl_pct", sa.String(64)))
        batch.add_column(sa.Column("fixed_quantities", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("max_margin", sa.String(64)))
    with op.batch_alter_table("position_link") as batch:
        batch.add_column(sa.Column("tpsl_mode", sa.String(8), nullable=False, server_default="follow"))
        batch.add_column(sa.Column("tp_pct", sa.String(64)))
        batch.add_column(sa.Column("sl_pct", sa.String(64)))


def downgrade():
    with op.batch_alter_table("position_link") as batch:
        for column in ("sl_pct", "tp_pct", "tpsl_mode"):
            batch.drop_column(column)
    with op.batch_alter_table("account") as batch:
        for column in ("max_margin", "fixed_quantities", "sl_pct", "tp_pct", "tpsl_mode", "margin_mode",
                       "fixed_leverage", "leverage_mode"):
            batch.drop_column(column)
