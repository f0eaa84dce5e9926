"""Engine v2: links know their generation, uid, state and the copier's own TP/SL; durable order intents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("bitget_uid", sa.String(32)))
        batch.add_column(sa.Column("link_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reenter_after_external_close", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("position_link") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("uid", sa.String(32)))
        batch.add_column(sa.Column("opened", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("ended_at", sa.DateTime()))
        batch.add_column(sa.Column("master_opened_ms", sa.BigInteger()))
        batch.add_column(sa.Column("master_size", sa.String(64)))
        batch.add_column(sa.Column("master_entry", sa.String(64)))
        batch.add_column(sa.Column("tp_order_id", sa.String(64)))
        batch.add_column(sa.Column("sl_order_id", sa.String(64)))
    # existing links get generations no new link can reuse
    op.execute("UPDATE position_link SET generation = id")
    op.execute("UPDATE account SET link_seq = COALESCE((SELECT MAX(id) FROM position_link), 0)")
    op.create_table(
        "order_intent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("hold_side", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("client_oid", sa.String(64), nullable=False),
        sa.Column("size", sa.String(64)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("order_id", sa.String(64)),
        sa.Column("message", sa.Text()),
        sa.Column("run_uid", sa.String(16)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "client_oid", name="uq_intent_account_oid"),
    )
    op.create_index("ix_intent_account_status", "order_intent", ["account_id", "status"])


def downgrade():
    op.drop_index("ix_intent_account_status", table_name="order_intent")
    op.drop_table("order_intent")
    with op.batch_alter_table("position_link") as batch:
        for column in ("sl_order_id", "tp_order_id", "master_entry", "master_size", "master_opened_ms",
                       "ended_at", "opened", "uid", "generation"):
            batch.drop_column(column)
    with op.batch_alter_table("account") as batch:
        for column in ("reenter_after_external_close", "link_seq", "bitget_uid"):
            batch.drop_column(column)
