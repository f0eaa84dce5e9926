"""Account operations shared by the pages, the JSON API and the CLI."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..bitget import errors
from ..bitget.errors import AuthError, BitgetError
from ..errors import ConflictError, ExchangeRefusedError, NotFoundError
from ..extensions import db
from ..logging_setup import redactor
from ..models import Account, utcnow
from ..serialize import balance_to_dict, position_to_dict
from ..vault import mask
from .validation import CREDENTIAL_FIELDS, clean_account_input

log = logging.getLogger(__name__)
VERIFY_SYMBOL = "BTCUSDT"


def list_accounts() -> list[Account]:
    """Master first, then clients by name."""
    return db.session.query(Account).order_by(Account.role.desc(), Account.name).all()


def get_account(account_id: int) -> Account:
    """One account or NotFoundError."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise NotFoundError(f"No account with id {account_id}.")
    return account


def get_master() -> Account | None:
    """The master account, if any."""
    return db.session.query(Account).filter_by(role="master").one_or_none()


def create_account(data: Mapping[str, Any]) -> Account:
    """Validate and store a new account (credentials encrypted)."""
    clean = clean_account_input(data, creating=True)
    _check_conflicts(clean, account_id=None)
    account = Account(role=clean["role"], name=clean["name"])
    _apply(account, clean)
    return _commit(account)


def update_account(account_id: int, data: Mapping[str, Any]) -> Account:
    """Change the given fields; credentials left blank are kept."""
    account = get_account(account_id)
    clean = clean_account_input(data, creating=False)
    _check_conflicts(clean, account_id=account.id)
    if any(field in clean for field in (*CREDENTIAL_FIELDS, "demo")):
        forget_exchange_state(account_id)  # other keys may mean another exchange account
        pin_links_to_uid(account)
    if clean.get("enabled") and not account.enabled:
        account.following_since = utcnow()  # re-enabled: only follow what the master opens from now on
    _apply(account, clean)
    return _commit(account)


def delete_account(account_id: int) -> None:
    """Remove an account, its links and snapshots (its run results keep the name)."""
    account = get_account(account_id)
    db.session.delete(account)
    db.session.commit()
    forget_exchange_state(account_id)


def forget_exchange_state(account_id: int) -> None:
    """Drop the cached client, balances, positions, symbol settings and failure streak of an account."""
    current_app.extensions["gateway"].forget(account_id)
    current_app.extensions["state"].forget(account_id)
    current_app.extensions["replication"].health.forget(account_id)


def pin_links_to_uid(account: Account) -> None:
    """New keys: the links belong to the uid known so far; the next sync learns the new uid and compares."""
    for link in account.links:
        if link.uid is None and account.bitget_uid:
            link.uid = account.bitget_uid
    account.bitget_uid = None


def _check_conflicts(clean: Mapping[str, Any], account_id: int | None) -> None:
    if "name" in clean:
        other = db.session.query(Account).filter(Account.name == clean["name"]).one_or_none()
        if other is not None and other.id != account_id:
            raise ConflictError(f"An account named {clean['name']!r} already exists.", field="name")
    if clean.get("role") == "master":
        master = get_master()
        if master is not None and master.id != account_id:
            raise ConflictError(
                f"There is already a master account ({master.name}). Delete it or make it a client first.",
                field="role",
            )


def _apply(account: Account, clean: Mapping[str, Any]) -> None:
    vault = current_app.extensions["vault"]
    for field, value in clean.items():
        if field in CREDENTIAL_FIELDS:
            redactor.register(value)
            setattr(account, f"{field}_enc", vault.encrypt(value))
            if field == "api_key":
                account.api_key_masked = mask(value)
        else:
            setattr(account, field, value)


def _commit(account: Account) -> Account:
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ConflictError("That change conflicts with another account (name or master already taken).") from exc
    return account


def account_to_dict(account: Account) -> dict[str, Any]:
    """Public view of an account: never the secret or passphrase, the key masked."""
    return {
        "id": account.id,
        "role": account.role,
        "name": account.name,
        "api_key": account.api_key_masked,
        "demo": account.demo,
        "enabled": account.enabled,
        "paused": account.paused,
        "sizing_mode": account.sizing_mode,
        "sizing_value": str(account.sizing_value),
        "max_leverage": account.max_leverage,
        "max_notional": _text(account.max_notional),
        "max_open_positions": account.max_open_positions,
        "allowed_symbols": sorted(account.allowed_symbol_set),
        "daily_loss_limit": _text(account.daily_loss_limit),
        "drawdown_limit_pct": _text(account.drawdown_limit_pct),
        "loss_action": account.loss_action,
        "loss_fired_at": _iso(account.loss_fired_at),
        "loss_fired_reason": account.loss_fired_reason,
        "slippage_pct": _text(account.slippage_pct),
        "below_min_rule": account.below_min_rule,
        "round_up_max_factor": str(account.round_up_max_factor),
        "copy_existing": account.copy_existing,
        "reenter_after_external_close": account.reenter_after_external_close,
        "position_mode": account.position_mode,
        "verified_at": _iso(account.verified_at),
        "verify_ok": account.verify_ok,
        "verify_message": account.verify_message,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def exchange_error(exc: BitgetError) -> ExchangeRefusedError:
    """Translate a Bitget error into the 502 the API returns."""
    return ExchangeRefusedError(str(exc), bitget_code=exc.code)


def verify_account(account_id: int) -> dict[str, Any]:
    """Check the keys against the exchange: equity, position mode, margin coin, trade permission."""
    account = get_account(account_id)
    gateway = current_app.extensions["gateway"]
    try:
        client = gateway.client_for(account)
        info = client.account(VERIFY_SYMBOL)
        key = client.key_info()
    except BitgetError as exc:
        _record_verify(account, ok=False, message=explain(exc))
        raise ExchangeRefusedError(explain(exc), bitget_code=exc.code) from exc
    mode_ok = info.pos_mode in ("hedge_mode", "one_way_mode")
    can_trade = key.can_trade_futures
    notes = []
    if not can_trade:
        notes.append("this key is read-only for futures: the copier can watch but not trade")
    message = "; ".join(notes) or "keys work"
    account.position_mode = info.pos_mode
    _record_verify(account, ok=can_trade and mode_ok, message=message)
    return {
        "ok": can_trade and mode_ok,
        "equity": str(info.equity),
        "available": str(info.available),
        "position_mode": info.pos_mode,
        "position_mode_supported": mode_ok,
        "margin_coin": info.margin_coin or "USDT",
        "can_trade": can_trade,
        "message": message,
    }


HINTS: tuple[tuple[type[BitgetError], str], ...] = (
    (errors.IpWhitelistError, "The key only accepts calls from whitelisted IP addresses: add this server's public "
                              "IP to the key in Bitget's API management, or remove the IP binding."),
    (errors.PermissionDeniedError, "The key lacks a permission: enable Futures 'Orders' and 'Holdings' "
                                   "(read/write) on the key. Never enable withdrawals."),
    (errors.PassphraseError, "The passphrase is the one you typed when you created this API key (not your "
                             "Bitget login password). It cannot be recovered: create a new key if it is lost."),
    (errors.TimestampError, "This server's clock differs from Bitget's by more than 30 seconds: enable time "
                            "synchronisation (NTP) on the server."),
    (errors.SignatureError, "The signature was refused: the API secret is probably wrong (copy it again)."),
    (errors.InvalidKeyError, "Bitget does not know this API key: it was deleted, mistyped, or is a demo key used "
                             "on live (tick 'demo trading key') or the reverse."),
    (errors.EnvironmentMismatchError, "Demo keys need 'demo trading key' ticked; live keys need it unticked."),
    (errors.UnifiedAccountError, "This account uses Bitget's Unified Trading Account, which the classic v2 API "
                                 "cannot trade; switch it back to the classic account to copy trades."),
    (errors.NetworkError, "The exchange could not be reached: check the network and BITGET_BASE_URL."),
)


def explain(exc: BitgetError) -> str:
    """The operator message for a verify failure, with a plain explanation of what to do."""
    for kind, hint in HINTS:
        if isinstance(exc, kind):
            return f"{exc}. {hint}"
    if isinstance(exc, AuthError):
        return f"{exc}. Check the key, secret and passphrase, the key's IP whitelist and its futures permissions."
    return str(exc)


def _record_verify(account: Account, *, ok: bool, message: str) -> None:
    account.verified_at = utcnow()
    account.verify_ok = ok
    account.verify_message = message[:500]
    db.session.commit()


def fetch_balance(account_id: int) -> dict[str, Any]:
    """The account's USDT futures balance, live from the exchange."""
    account = get_account(account_id)
    try:
        balance = current_app.extensions["gateway"].client_for(account).usdt_account()
    except BitgetError as exc:
        raise exchange_error(exc) from exc
    return balance_to_dict(balance)


def fetch_positions(account_id: int) -> list[dict[str, Any]]:
    """The account's open positions, live from the exchange."""
    account = get_account(account_id)
    try:
        positions = current_app.extensions["gateway"].client_for(account).positions()
    except BitgetError as exc:
        raise exchange_error(exc) from exc
    return [position_to_dict(p) for p in positions]
