"""Constants of the Ponto API client (see /work/shared/ponto/API.md for their origin)."""

DEFAULT_API_URL = "https://api.myponto.com"

# Paths, relative to the base URL; `{...}` parts are URL-quoted ids.
TOKEN_PATH = "/oauth2/token"
USERINFO_PATH = "/userinfo"
ACCOUNTS_PATH = "/accounts"
ACCOUNT_PATH = "/accounts/{account_id}"
TRANSACTIONS_PATH = "/accounts/{account_id}/transactions"
PENDING_TRANSACTIONS_PATH = "/accounts/{account_id}/pending-transactions"
SYNCHRONIZATIONS_PATH = "/synchronizations"
SYNCHRONIZATION_PATH = "/synchronizations/{sync_id}"
UPDATED_TRANSACTIONS_PATH = "/synchronizations/{sync_id}/updated-transactions"
FINANCIAL_INSTITUTIONS_PATH = "/financial-institutions"

# Paging: the largest page the API serves (default 10).
PAGE_LIMIT = 100

# The access token is renewed this many seconds before it expires (at most half its lifetime).
TOKEN_EXPIRY_MARGIN = 60

# HTTP behaviour: (connect, read) timeouts in seconds, and the retry loop of the client.
DEFAULT_TIMEOUT = (5, 30)
MAX_RETRIES = 3
BACKOFF_BASE = 0.5  # seconds; doubled on every retry
BACKOFF_CAP = 30.0  # seconds; no single wait is longer, a longer Retry-After fails at once

USER_AGENT = "account_bank_sync_ponto (python-requests)"
REQUEST_ID_HEADER = "ibanity-request-id"
IDEMPOTENCY_HEADER = "Ibanity-Idempotency-Key"

# Error codes (API.md §3.3 and §9).
TOKEN_REJECTED_CODES = {"invalidAccessToken", "credentialsInvalid"}
NOT_FOUND_CODE = "resourceNotFound"
RECENTLY_SYNCHRONIZED_CODE = "accountRecentlySynchronized"
AUTHORIZATION_INVALID_CODE = "authorizationInvalid"

# Synchronizations.
SYNC_FINISHED_STATUSES = {"success", "error"}
DEFAULT_SYNC_SUBTYPE = "accountTransactions"
DEFAULT_CUSTOMER_IP = "127.0.0.1"

# The keys whose values must never be logged or shown.
SENSITIVE_KEYS = {
    "Authorization", "access_token", "refresh_token", "client_secret", "token", "api_token",
}

# Bank dates are calendar dates in this zone (API.md §7).
BRUSSELS_TZ = "Europe/Brussels"
