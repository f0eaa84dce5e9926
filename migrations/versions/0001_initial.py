"""Initial schema: accounts, position links, runs, results, snapshots, settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("api_key_enc", sa.Text(), nullable=False),
        sa.Column("api_secret_enc", sa.Text(), nullable=False),
        sa.Column("passphrase_enc", sa.Text(), nullable=False),
        sa.Column("api_key_masked", sa.String(32), nullable=False),
        sa.Column("demo", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("following_since", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime()),
        sa.Column("verify_ok", sa.Boolean()),
        sa.Column("verify_message", sa.Text()),
        sa.Column("position_mode", sa.String(16)),
        sa.Column("sizing_mode", sa.String(16), nullable=False),
        sa.Column("sizing_value", sa.String(64), nullable=False),
        sa.Column("max_leverage", sa.Integer()),
        sa.Column("max_notional", sa.String(64)),
        sa.Column("max_open_positions", sa.Integer()),
        sa.Column("allowed_symbols", sa.Text(), nullable=False),
        sa.Column("daily_loss_limit", sa.String(64)),
        sa.Column("paused", sa.Boolean(), nullable=False),
    )
    op.create_index("uq_account_one_master", "account", ["role"], unique=True,
                    sqlite_where=sa.text("role = 'master'"), postgresql_where=sa.text("role = 'master'"))
    op.create_table(
        "position_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("hold_side", sa.String(8), nullable=False),
        sa.Column("factor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "symbol", "hold_side", name="uq_link_account_position"),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(16), nullable=False, unique=True),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("duration_ms", sa.Integer()),
    )
    op.create_index("ix_run_started_at", "run", ["started_at"])
    op.create_table(
        "run_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id", ondelete="CASCADE"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="SET NULL")),
        sa.Column("account_name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("orders_json", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Integer()),
    )
    op.create_index("ix_run_result_run_id", "run_result", ["run_id"])
    op.create_index("ix_run_result_account_id", "run_result", ["account_id"])
    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("equity", sa.String(64), nullable=False),
    )
    op.create_index("ix_snapshot_account_time", "snapshot", ["account_id", "taken_at"])
    op.create_table(
        "setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade():
    for table in ("setting", "snapshot", "run_result", "run", "position_link", "account"):
        op.drop_table(table)
