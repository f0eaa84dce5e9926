"""Default settings. Overridden by instance/config.py, then FLASK_* environment variables, then test config."""
from __future__ import annotations


class Defaults:
    """Every configuration key the copier reads, with its default."""

    # Which exchange: "sim" starts the embedded simulator and points the client at it; "bitget" uses
    # BITGET_BASE_URL (the real host, or any server speaking Bitget v2, e.g. http://127.0.0.1:PORT).
    EXCHANGE = "sim"
    BITGET_BASE_URL = "https://api.bitget.com"
    # None -> sqlite file instance/copier.db
    SQLALCHEMY_DATABASE_URI: str | None = None
    # Master polling and client balance refresh (seconds).
    POLL_INTERVAL_SECONDS = 2.0
    # The master's private WebSocket: a push that changes a position or its TP/SL starts a run at once.
    # BITGET_WS_URL None = the simulator's in sim mode, Bitget's live or demo URL (by the master's demo flag)
    # when BITGET_BASE_URL is Bitget's, and no stream for any other BITGET_BASE_URL unless set here.
    WS_ENABLED = True
    BITGET_WS_URL: str | None = None
    WS_PING_SECONDS = 25.0
    WS_TIMEOUT_SECONDS = 10.0
    # While the stream is live, REST reads the master only this often (the reconciler that repairs a lost
    # push); while it is down, every POLL_INTERVAL_SECONDS.
    RECONCILE_INTERVAL_SECONDS = 10.0
    # Clients with a private WebSocket of their own (lowest ids first; Bitget allows 100 per IP): their
    # positions (a stop of their own, a liquidation) are pushed to the dashboard at once. 0 = none.
    WS_CLIENT_LIMIT = 50
    CLIENT_REFRESH_SECONDS = 15.0
    SNAPSHOT_INTERVAL_SECONDS = 60.0
    AUTO_REPLICATE = False
    SCHEDULER_ENABLED = True
    # When set, "Authorization: Bearer <API_TOKEN>" is accepted on /api/*.
    API_TOKEN: str | None = None
    # Generated into instance/ (mode 0600) on first start when not given.
    SECRET_KEY: str | None = None
    VAULT_KEY: str | None = None
    # Where `make run` serves the dashboard.
    HOST = "127.0.0.1"
    PORT = 5000
    # Embedded simulator (EXCHANGE=sim): port 0 picks a free port.
    SIM_PORT = 5055
    SIM_WS_PORT = 0  # the simulator's private WebSocket (0: a free port, announced by GET /_sim/identity)
    SIM_SEED = 1
    SIM_PRICE_WALK = True
    SIM_STATE_FILE = "sim_state.json"
    SIM_SEED_ACCOUNTS = True
    # The simulator enforces Bitget's rate limits (per UID and endpoint, 20/s public per IP, 6000/min per IP
    # with a 5-minute lockout); False serves every request (FLASK_SIM_RATE_LIMITS=false).
    SIM_RATE_LIMITS = True
    # Scale-out: "local" fans out in this process; "celery" makes this process the coordinator of shard
    # workers (`flask --app wsgi worker --shard K`) over Redis, with a shared database (PostgreSQL).
    ENGINE = "local"
    REDIS_URL: str | None = None
    CLUSTER_SHARDS = 2
    # a run waits this long for every shard; a shard that has not answered is reported failed by name
    CLUSTER_DEADLINE_SECONDS = 60.0
    # a task whose worker died unacknowledged goes to the next worker of its queue after this long
    CLUSTER_REDELIVERY_SECONDS = 30.0
    # the source address outgoing exchange connections bind to (one egress IP per shard worker)
    EGRESS_SOURCE_ADDRESS: str | None = None
    # Executor: threads used to fan out to accounts (1 = the "loop over clients" baseline).
    EXECUTOR_MAX_WORKERS = 256
    # Process-wide cap on requests to the exchange (Bitget: 6000/min per IP, 5-minute lockout). Lower it when
    # other tools send from the same IP. 0 turns the budget off (tests that do not measure it).
    BITGET_IP_LIMIT_PER_MINUTE = 5700
    # Background reads (client refreshes, fill measurement) never take more than this share of that budget;
    # the client refresh interval stretches with the number of clients to stay within it.
    BACKGROUND_BUDGET_SHARE = 0.3
    BITGET_TIMEOUT_SECONDS = 10.0
    # A cached client equity older than this is re-read before a new copy is skipped on it (new copies are
    # always sized from equity read in their run).
    SIZING_MAX_AGE_SECONDS = 5.0
    # An empty master position list after one with positions is confirmed by a second read after this wait.
    MASTER_EMPTY_CONFIRM_SECONDS = 0.5
    # After each run, look up every copy's fill price and slippage in the background (one read per order).
    MEASURE_FILLS = True
    # Notifications (optional).
    DISCORD_WEBHOOK_URL: str | None = None
    WEBHOOK_URL: str | None = None
    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_CHAT_ID: str | None = None
    TELEGRAM_API_URL = "https://api.telegram.org"
    # Login throttling.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_SECONDS = 60
    # Sessions and CSRF.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_CHECK_DEFAULT = False  # checked in app.web.security so bearer-token API calls can skip it
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    MAX_CONTENT_LENGTH = 1_000_000  # bytes; forms and JSON here are tiny
    LOG_LEVEL = "INFO"
