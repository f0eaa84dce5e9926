"""Account operations shared by the pages, the JSON API and the CLI."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..bitget import errors
from ..bitget.client import BitgetClient, Credentials
from ..bitget.errors import AuthError, BitgetError
from ..bitget.models import KeyInfo, SymbolAccount
from ..errors import ConflictError, ExchangeRefusedError, NotFoundError
from ..logging_setup import redactor
from ..store.extensions import db
from ..store.models import Account, utcnow
from ..store.vault import mask
from ..web.serialize import balance_to_dict, position_to_dict
from .validation import CREDENTIAL_FIELDS, check_follower_settings, clean_account_input

log = logging.getLogger(__name__)
VERIFY_SYMBOL = "BTCUSDT"
# the fields whose combination is checked (e.g. a fixed leverage needs its value), with a new account's values
FOLLOWER_DEFAULTS: dict[str, Any] = {"sizing_mode": "equity_ratio", "fixed_quantities": {}, "leverage_mode": "follow",
                                     "fixed_leverage": None, "tpsl_mode": "follow", "tp_pct": None, "sl_pct": None}


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


def create_account(data: Mapping[str, Any], *, verify: bool = False, source: str = "form") -> Account:
    """Validate and store a new account (credentials encrypted).

    With `verify` the keys are checked against the exchange first and nothing is stored when it refuses them
    (ExchangeRefusedError with the plain reason); without, the account is stored "not verified". The pages,
    the API and the CLI verify unless the operator asks to save without checking.
    """
    clean = clean_account_input(data, creating=True, source=source)
    check_follower_settings({**FOLLOWER_DEFAULTS, **clean})
    _check_conflicts(clean, account_id=None)
    check = check_keys(_candidate_credentials(None, clean)) if verify else None
    account = Account(role=clean["role"], name=clean["name"])
    _apply(account, clean)
    if check is not None:
        _record_check(account, check)
    return _commit(account)


def update_account(account_id: int, data: Mapping[str, Any], *, verify: bool = False,
                   source: str = "form") -> Account:
    """Change the given fields; credentials left blank are kept.

    New keys (or a changed demo flag) are checked against the exchange first when `verify` is set; refused
    ones change nothing. Unchecked new keys leave the account "not verified" until a check succeeds.
    """
    account = get_account(account_id)
    clean = clean_account_input(data, creating=False, source=source)
    check_follower_settings({**{f: getattr(account, f) for f in FOLLOWER_DEFAULTS}, **clean})
    _check_conflicts(clean, account_id=account.id)
    keys_changed = any(field in clean for field in CREDENTIAL_FIELDS) or (
        "demo" in clean and bool(clean["demo"]) != bool(account.demo))
    check = check_keys(_candidate_credentials(account, clean)) if verify and keys_changed else None
    if keys_changed:
        forget_exchange_state(account_id)  # other keys may mean another exchange account
        pin_links_to_uid(account)
        _clear_verification(account)
    if clean.get("enabled") and not account.enabled:
        account.following_since = utcnow()  # re-enabled: only follow what the master opens from now on
    _apply(account, clean)
    if check is not None:
        _record_check(account, check)
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
        "leverage_mode": account.leverage_mode,
        "fixed_leverage": account.fixed_leverage,
        "margin_mode": account.margin_mode,
        "tpsl_mode": account.tpsl_mode,
        "tp_pct": _text(account.tp_pct),
        "sl_pct": _text(account.sl_pct),
        "fixed_quantities": {symbol: str(size) for symbol, size in sorted((account.fixed_quantities or {}).items())},
        "max_margin": _text(account.max_margin),
        "position_mode": account.position_mode,
        "bitget_uid": account.bitget_uid,
        "verified_at": _iso(account.verified_at),
        "verify_ok": account.verify_ok,
        "verify_message": account.verify_message,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(account.updated_at),
    }


def short_time(value: datetime | float | None) -> str | None:
    """"14:03:07 UTC" today, "2026-11-30 14:03 UTC" before (a datetime or a Unix timestamp)."""
    if value is None:
        return None
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, (int, float)) else value.astimezone(UTC)
    if moment.date() == datetime.now(UTC).date():
        return f"{moment:%H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def cached_states(accounts: list[Account]) -> dict[int, dict[str, Any]]:
    """What the copier last read of each account (the state cache), for the accounts page: no exchange call.

    position_mode comes from the last read, else from the open positions, else from the last verification.
    """
    cache = current_app.extensions["state"].snapshot()
    out: dict[int, dict[str, Any]] = {}
    for account in accounts:
        view = cache.get(account.id)
        modes = {p.pos_mode for p in view.positions if p.pos_mode} if view else set()
        mode = (view.pos_mode if view else None) or (next(iter(modes)) if len(modes) == 1 else None)
        out[account.id] = {
            "position_mode": mode or account.position_mode,
            "read_at": short_time(view.fetched_at) if view else None,
            "error": view.error if view else None,
            "error_at": short_time(view.error_at) if view else None,
            "auth_failed": bool(view and view.auth_failed),
            "verified_at": short_time(account.verified_at),
        }
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def exchange_error(exc: BitgetError) -> ExchangeRefusedError:
    """Translate a Bitget error into the 502 the API returns."""
    return ExchangeRefusedError(str(exc), bitget_code=exc.code)


@dataclass(frozen=True)
class KeyCheck:
    """What the exchange said about a set of keys: they authenticate; whether the copier can trade with them."""

    info: SymbolAccount
    key: KeyInfo

    @property
    def position_mode_supported(self) -> bool:
        return self.info.pos_mode in ("hedge_mode", "one_way_mode")

    @property
    def can_trade(self) -> bool:
        return self.key.can_trade_futures

    @property
    def ok(self) -> bool:
        return self.can_trade and self.position_mode_supported

    @property
    def message(self) -> str:
        notes = []
        if not self.can_trade:
            notes.append("this key is read-only for futures: the copier can watch but not trade")
        if not self.position_mode_supported:
            notes.append(f"position mode {self.info.pos_mode!r} is not supported")
        return "; ".join(notes) or "keys work"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "equity": str(self.info.equity),
            "available": str(self.info.available),
            "position_mode": self.info.pos_mode,
            "position_mode_supported": self.position_mode_supported,
            "margin_coin": self.info.margin_coin or "USDT",
            "can_trade": self.can_trade,
            "bitget_uid": self.key.user_id or None,
            "message": self.message,
        }


def read_keys(client: BitgetClient) -> KeyCheck:
    """The account read (equity, position mode) and the key's permissions and uid; BitgetError when refused."""
    info = client.account(VERIFY_SYMBOL)
    key = client.key_info()
    return KeyCheck(info=info, key=key)


def check_keys(credentials: Credentials) -> KeyCheck:
    """Try keys that are not stored yet; ExchangeRefusedError (plain reason, Bitget's code) when refused."""
    gateway = current_app.extensions["gateway"]
    client = gateway.build_client(credentials)
    try:
        return read_keys(client)
    except BitgetError as exc:
        raise ExchangeRefusedError(f"{explain(exc)} Nothing was saved.", bitget_code=exc.code) from exc
    finally:
        client.session.close()


def _candidate_credentials(account: Account | None, clean: Mapping[str, Any]) -> Credentials:
    """The credentials an account would have after this change: the new values over the stored ones."""
    for field in CREDENTIAL_FIELDS:
        if field in clean:
            redactor.register(clean[field])  # the check may log the request: keep even refused keys out
    stored = current_app.extensions["gateway"].credentials_for(account) if account is not None else None
    return Credentials(
        api_key=clean.get("api_key") or stored.api_key,
        api_secret=clean.get("api_secret") or stored.api_secret,
        passphrase=clean.get("passphrase") or stored.passphrase,
        demo=bool(clean["demo"]) if "demo" in clean else bool(account.demo if account is not None else False),
    )


def _record_check(account: Account, check: KeyCheck) -> None:
    """Remember a verification on the account (committed by the caller)."""
    account.position_mode = check.info.pos_mode
    if check.key.user_id:
        account.bitget_uid = check.key.user_id
    account.verified_at = utcnow()
    account.verify_ok = check.ok
    account.verify_message = check.message[:500]


def _clear_verification(account: Account) -> None:
    """New keys: what was known about the old ones no longer holds."""
    account.verified_at = None
    account.verify_ok = None
    account.verify_message = None
    account.position_mode = None


def verify_account(account_id: int) -> dict[str, Any]:
    """Check the stored keys against the exchange: equity, position mode, margin coin, trade permission, uid."""
    account = get_account(account_id)
    gateway = current_app.extensions["gateway"]
    try:
        check = read_keys(gateway.client_for(account))
    except BitgetError as exc:
        _record_verify(account, ok=False, message=explain(exc))
        raise ExchangeRefusedError(explain(exc), bitget_code=exc.code) from exc
    _record_check(account, check)
    db.session.commit()
    return check.to_dict()


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
