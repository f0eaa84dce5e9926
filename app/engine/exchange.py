"""The one place that turns stored accounts into signed Bitget clients, and picks the exchange's address."""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import requests
from flask import Flask

from ..bitget.budget import RequestBudget
from ..bitget.client import BitgetClient, Credentials, PooledTransport, ServerClock
from ..bitget.models import Contract
from ..bitget.ratelimit import AccountRateLimiter

if TYPE_CHECKING:
    from ..store.models import Account
    from ..store.vault import Vault

log = logging.getLogger(__name__)

CONTRACTS_TTL_SECONDS = 900.0
PAGE_WAIT_SECONDS = 0.5  # a page view waits at most this long for contracts (the exchange may hang)


class _SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter binding every connection to one source address (a proxy session's egress IP)."""

    def __init__(self, source_address: str, **kwargs) -> None:
        self._source = (source_address, 0)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


def http_session(base_url: str, source_address: str | None = None) -> requests.Session | PooledTransport:
    """One account's keep-alive HTTP session, with the environment (proxy, CA bundle) read once.

    Without a proxy this is the lean PooledTransport: requests re-reads proxy variables and ~/.netrc and
    re-merges its settings on every call, which was most of the copier's CPU per request when hundreds of
    accounts fan out. With a proxy configured for the exchange, a requests.Session carries it.
    """
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    proxies = requests.utils.get_environ_proxies(base_url)
    if not proxies:
        return PooledTransport(maxsize=16, ca_certs=bundle, source_address=source_address)
    session = requests.Session()
    adapter = (_SourceAddressAdapter(source_address, pool_connections=4, pool_maxsize=16) if source_address
               else requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.proxies.update(proxies)
    if bundle:
        session.verify = bundle
    session.trust_env = False  # read above, once
    return session


class ExchangeGateway:
    """Hands out one long-lived BitgetClient (own session, own rate limiter) per account."""

    def __init__(self, base_url_provider, vault: Vault, *, timeout: float, ip_limit_per_minute: int | None,
                 background_share: float = 0.3, source_address: str | None = None) -> None:
        self._base_url_provider = base_url_provider
        self.source_address = source_address  # EGRESS_SOURCE_ADDRESS: every connection leaves from it
        self._vault = vault
        self._timeout = timeout
        # one budget for every account this process serves: they all leave through the same IP
        self.budget = RequestBudget(ip_limit_per_minute, background_share) if ip_limit_per_minute else None
        self._server_limiter = self.budget
        self._clock: ServerClock | None = None
        self._clients: dict[int, tuple[tuple, BitgetClient]] = {}
        self._lock = threading.Lock()
        self._contracts: dict[str, Contract] = {}
        self._contracts_at = 0.0
        self._contracts_fetch: threading.Thread | None = None

    @classmethod
    def from_app(cls, app: Flask) -> ExchangeGateway:
        """Build from the app's config (sim mode starts the simulator on first use)."""
        if app.config["EXCHANGE"] == "sim":
            from ..sim_mode import SimRunner

            runner = SimRunner(app)
            app.extensions["sim_runner"] = runner
            provider = runner.ensure_started
        else:
            url = str(app.config["BITGET_BASE_URL"]).rstrip("/")

            def provider() -> str:
                return url

        limit = app.config.get("BITGET_IP_LIMIT_PER_MINUTE")
        return cls(provider, app.extensions["vault"], timeout=float(app.config["BITGET_TIMEOUT_SECONDS"]),
                   ip_limit_per_minute=int(limit) if limit else None,
                   background_share=float(app.config.get("BACKGROUND_BUDGET_SHARE", 0.3)),
                   source_address=app.config.get("EGRESS_SOURCE_ADDRESS") or None)

    @property
    def base_url(self) -> str:
        """Where the exchange lives."""
        return self._base_url_provider()

    def _server_clock(self) -> ServerClock:
        with self._lock:
            if self._clock is None:
                self._clock = ServerClock()
            return self._clock

    def credentials_for(self, account: Account) -> Credentials:
        """Decrypt an account's credentials (never log the result)."""
        return Credentials(
            api_key=self._vault.decrypt(account.api_key_enc),
            api_secret=self._vault.decrypt(account.api_secret_enc),
            passphrase=self._vault.decrypt(account.passphrase_enc),
            demo=bool(account.demo),
        )

    def client_for(self, account: Account) -> BitgetClient:
        """The cached client of an account, rebuilt when its keys or mode changed."""
        version = (account.api_key_enc, account.api_secret_enc, account.passphrase_enc, account.demo)
        with self._lock:
            cached = self._clients.get(account.id)
            if cached and cached[0] == version:
                return cached[1]
        client = self.build_client(self.credentials_for(account))
        with self._lock:
            self._clients[account.id] = (version, client)
        return client

    def build_client(self, credentials: Credentials | None) -> BitgetClient:
        """A new client with its own keep-alive session and per-endpoint rate limiter."""
        base_url = self.base_url
        return BitgetClient(
            credentials,
            base_url,
            session=http_session(base_url, self.source_address),
            clock=self._server_clock(),
            timeout=(3.05, self._timeout),
            rate_limiter=AccountRateLimiter(),
            server_limiter=self._server_limiter,
        )

    def forget(self, account_id: int) -> None:
        """Drop a deleted account's client."""
        with self._lock:
            self._clients.pop(account_id, None)

    def contracts(self, client: BitgetClient | None = None) -> dict[str, Contract]:
        """All USDT-M contracts by symbol, cached for 15 minutes."""
        now = time.monotonic()
        if self._contracts and now - self._contracts_at < CONTRACTS_TTL_SECONDS:
            return self._contracts
        source = client or self.build_client(None)
        rows = source.contracts()
        self._contracts = {c.symbol: c for c in rows}
        self._contracts_at = now
        return self._contracts

    def contracts_for_page(self, wait: float = PAGE_WAIT_SECONDS) -> dict[str, Contract]:
        """Contracts for page views: the cache when fresh, else one background fetch awaited at most `wait` s.

        A down or hanging exchange must not hold a page view for the client's timeout and retries; the
        page then gets the stale cache (or nothing) and the fetch finishes or fails on its own.
        """
        if self._contracts and time.monotonic() - self._contracts_at < CONTRACTS_TTL_SECONDS:
            return self._contracts
        with self._lock:
            fetch = self._contracts_fetch
            if fetch is None or not fetch.is_alive():
                fetch = threading.Thread(target=self._fetch_contracts_quietly, name="contracts", daemon=True)
                self._contracts_fetch = fetch
                fetch.start()
        fetch.join(wait)
        return self._contracts

    def _fetch_contracts_quietly(self) -> None:
        try:
            self.contracts()
        except Exception as exc:  # the page shows "unknown"; the next page view tries again
            log.debug("contracts unavailable: %s", exc)

    def contract(self, symbol: str) -> Contract | None:
        """One contract, or None when unknown."""
        return self.contracts().get(symbol.upper())

    def requests_sent(self) -> int:
        """Total HTTP requests sent by all account clients (benchmarks)."""
        with self._lock:
            return sum(c.request_count for _, c in self._clients.values())
