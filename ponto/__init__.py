"""Odoo-free Ponto client: HTTP client, typed errors and records (never imports odoo).

The fake Ponto server is imported explicitly: `from ponto.fake_server import FakePonto`.
"""

from .client import PontoClient
from .credentials import is_legacy_token, looks_like_client_id
from .errors import (
    RETRYABLE_ERRORS,
    PontoAuthorizationError,
    PontoConnectionError,
    PontoCredentialsError,
    PontoError,
    PontoMalformedResponse,
    PontoNotFound,
    PontoRateLimited,
    PontoRecentlySynchronized,
    PontoRequestError,
    PontoServerError,
)
from .records import (
    Account,
    Institution,
    Synchronization,
    SyncIssue,
    Transaction,
    UserInfo,
)

__all__ = [
    "RETRYABLE_ERRORS",
    "Account",
    "Institution",
    "PontoAuthorizationError",
    "PontoClient",
    "PontoConnectionError",
    "PontoCredentialsError",
    "PontoError",
    "PontoMalformedResponse",
    "PontoNotFound",
    "PontoRateLimited",
    "PontoRecentlySynchronized",
    "PontoRequestError",
    "PontoServerError",
    "SyncIssue",
    "Synchronization",
    "Transaction",
    "UserInfo",
    "is_legacy_token",
    "looks_like_client_id",
]
