"""Database tables: accounts, position links, runs and their per-account results, equity snapshots, settings."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


class DecimalString(TypeDecorator):
    """Decimal stored losslessly as text (SQLite has no decimal type)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        """Decimal -> plain string."""
        return None if value is None else format(Decimal(value), "f")

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        """Text -> Decimal."""
        return None if value is None else Decimal(value)


class DecimalMap(TypeDecorator):
    """A str -> Decimal mapping stored as a JSON object of strings (never floats)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Decimal] | None, dialect: Any) -> str | None:
        """Mapping -> JSON text with plain decimal strings."""
        if value is None:
            return None
        return json.dumps({key: format(Decimal(v), "f") for key, v in sorted(value.items())})

    def process_result_value(self, value: str | None, dialect: Any) -> dict[str, Decimal] | None:
        """JSON text -> mapping of Decimals."""
        return None if value is None else {key: Decimal(v) for key, v in json.loads(value or "{}").items()}


class UTCDateTime(TypeDecorator):
    """Datetime that always comes back timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store naive UTC."""
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return aware UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


class Account(db.Model):
    """A Bitget account: the one master or a client. Secrets are stored encrypted only."""

    __tablename__ = "account"
    __table_args__ = (
        # at most one master, enforced by the database
        Index("uq_account_one_master", "role", unique=True, sqlite_where=text("role = 'master'"),
              postgresql_where=text("role = 'master'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    api_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    api_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    passphrase_enc: Mapped[str] = mapped_column(Text, nullable=False)
    api_key_masked: Mapped[str] = mapped_column(String(32), nullable=False)
    demo: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    following_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # last verification
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_ok: Mapped[bool | None] = mapped_column(Boolean)
    verify_message: Mapped[str | None] = mapped_column(Text)
    position_mode: Mapped[str | None] = mapped_column(String(16))
    # sizing and risk settings (clients)
    sizing_mode: Mapped[str] = mapped_column(String(16), default="equity_ratio", nullable=False)
    sizing_value: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal("1"), nullable=False)
    max_leverage: Mapped[int | None] = mapped_column(Integer)
    max_notional: Mapped[Decimal | None] = mapped_column(DecimalString)
    max_open_positions: Mapped[int | None] = mapped_column(Integer)
    allowed_symbols: Mapped[str] = mapped_column(Text, default="", nullable=False)
    daily_loss_limit: Mapped[Decimal | None] = mapped_column(DecimalString)
    drawdown_limit_pct: Mapped[Decimal | None] = mapped_column(DecimalString)
    loss_action: Mapped[str] = mapped_column(String(16), default="close_only", nullable=False)
    loss_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    loss_fired_reason: Mapped[str | None] = mapped_column(Text)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    slippage_pct: Mapped[Decimal | None] = mapped_column(DecimalString, default=Decimal("0.5"))
    below_min_rule: Mapped[str] = mapped_column(String(16), default="skip", nullable=False)
    round_up_max_factor: Mapped[Decimal] = mapped_column(DecimalString, default=Decimal("2"), nullable=False)
    copy_existing: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    reenter_after_external_close: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # follower choices for new copies (Bitget copy-trading style); an open copy keeps what it was opened with
    leverage_mode: Mapped[str] = mapped_column(String(8), default="follow", nullable=False)
    fixed_leverage: Mapped[int | None] = mapped_column(Integer)
    margin_mode: Mapped[str] = mapped_column(String(10), default="follow", nullable=False)
    tpsl_mode: Mapped[str] = mapped_column(String(8), default="follow", nullable=False)
    tp_pct: Mapped[Decimal | None] = mapped_column(DecimalString)
    sl_pct: Mapped[Decimal | None] = mapped_column(DecimalString)
    fixed_quantities: Mapped[dict[str, Decimal]] = mapped_column(DecimalMap, default=dict, nullable=False)
    max_margin: Mapped[Decimal | None] = mapped_column(DecimalString)
    # the Bitget uid behind the keys (key-info endpoint); links made under another uid are not this account's
    bitget_uid: Mapped[str | None] = mapped_column(String(32))
    # last link generation handed out: every new link gets the next one, so clientOids are never reused
    link_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # ENGINE=celery: the shard whose worker serves this client (assigned once, moved by a rebalance)
    shard: Mapped[int | None] = mapped_column(Integer)

    links: Mapped[list[PositionLink]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_master(self) -> bool:
        """True for the master account."""
        return self.role == "master"

    @property
    def allowed_symbol_set(self) -> frozenset[str]:
        """Allowed symbols as a set (empty = all)."""
        return frozenset(s for s in self.allowed_symbols.split(",") if s)


class PositionLink(db.Model):
    """A client position that mirrors a master position, with the sizing factor frozen at open."""

    __tablename__ = "position_link"
    __table_args__ = (UniqueConstraint("account_id", "symbol", "hold_side", name="uq_link_account_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    hold_side: Mapped[str] = mapped_column(String(8), nullable=False)
    factor: Mapped[Decimal] = mapped_column(DecimalString, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    uid: Mapped[str | None] = mapped_column(String(32))
    # False from the moment the link is written until the opening order is acknowledged
    opened: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # set when the copy disappeared without the copier closing it (then it is not re-opened)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    master_opened_ms: Mapped[int | None] = mapped_column(BigInteger)
    # the master's size and average entry when the copy was last brought to its target
    master_size: Mapped[Decimal | None] = mapped_column(DecimalString)
    master_entry: Mapped[Decimal | None] = mapped_column(DecimalString)
    # the TP/SL plans the copier placed on this copy (only these are ever modified or cancelled)
    tp_order_id: Mapped[str | None] = mapped_column(String(64))
    sl_order_id: Mapped[str | None] = mapped_column(String(64))
    # the client's TP/SL choice when the copy was opened: follow | own (tp_pct/sl_pct of its entry) | none
    tpsl_mode: Mapped[str] = mapped_column(String(8), default="follow", nullable=False)
    tp_pct: Mapped[Decimal | None] = mapped_column(DecimalString)
    sl_pct: Mapped[Decimal | None] = mapped_column(DecimalString)

    account: Mapped[Account] = relationship(back_populates="links")


class OrderIntent(db.Model):
    """An order the copier decided to send, written before it is sent; its clientOid survives restarts."""

    __tablename__ = "order_intent"
    __table_args__ = (
        UniqueConstraint("account_id", "client_oid", name="uq_intent_account_oid"),
        Index("ix_intent_account_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    symbol: Mapped[str] = mapped_column(String(32), nullable=False)
    hold_side: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    client_oid: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[Decimal | None] = mapped_column(DecimalString)
    # pending (written, unanswered) | acked | refused (the exchange said no) | unknown (no clear answer)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    run_uid: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Run(db.Model):
    """One operator or poller action (replicate, tpsl, close-all, close-symbol, sync, preview)."""

    __tablename__ = "run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="running", nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    results: Mapped[list[RunResult]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunResult.id"
    )

    def counts(self) -> dict[str, int]:
        """Results per status."""
        out = {"ok": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            out[result.status] = out.get(result.status, 0) + 1
        return out


class RunResult(db.Model):
    """One account's outcome of a run."""

    __tablename__ = "run_result"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), nullable=False, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    account_name: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    orders_json: Mapped[str] = mapped_column(Text, default="[]", nullable=False)
    latency_ms: Mapped[int | None] = mapped_column(Integer)

    run: Mapped[Run] = relationship(back_populates="results")

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The orders this result sent (ids, sizes, timings)."""
        return json.loads(self.orders_json or "[]")


class Snapshot(db.Model):
    """Equity of one account at one time, for the dashboard's charts."""

    __tablename__ = "snapshot"
    __table_args__ = (Index("ix_snapshot_account_time", "account_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    equity: Mapped[Decimal] = mapped_column(DecimalString, nullable=False)


class Setting(db.Model):
    """Small persisted settings: operator password hash, auto-follow toggle, notification targets."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


def get_setting(key: str, default: str | None = None) -> str | None:
    """Read one setting."""
    row = db.session.get(Setting, key)
    return row.value if row else default


def stage_setting(key: str, value: str) -> None:
    """Write one setting in the current transaction (the caller commits)."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value


def set_setting(key: str, value: str) -> None:
    """Write one setting (committed)."""
    stage_setting(key, value)
    db.session.commit()
