"""PontoClient: the one object that talks HTTP to Ponto (API.md §3-§5).

Every call goes through `PontoClient._request`, which authenticates, retries what is safe to retry,
maps failures to the typed errors of `ponto.errors` and logs one line per HTTP exchange, never a
secret or a token.
"""

import json
import logging
import math
import random
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urljoin, urlsplit

import requests

from . import const
from .errors import (
    RETRYABLE_ERRORS,
    PontoConnectionError,
    PontoCredentialsError,
    PontoMalformedResponse,
    PontoNotFound,
    PontoRateLimited,
    PontoRecentlySynchronized,
    PontoRequestError,
    PontoServerError,
)
from .records import Account, Institution, Synchronization, Transaction, UserInfo

REDACTED = "[REDACTED]"


def mask_sensitive(data):
    """Return `data` with the values of `const.SENSITIVE_KEYS` replaced, at any depth."""
    if isinstance(data, dict):
        return {
            key: REDACTED if key in const.SENSITIVE_KEYS else mask_sensitive(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [mask_sensitive(value) for value in data]
    return data


class _TokenRejected(Exception):
    """Internal signal: a resource endpoint refused the access token (HTTP 401)."""

    def __init__(self, context):
        super().__init__()
        self.context = context


class PontoClient:
    """Client of the Ponto API for one integration (Client ID and Secret).

    `sleep` and `clock` (a monotonic clock, in seconds) can be replaced, e.g. by tests, to wait
    for nothing and to let token lifetimes elapse at will.
    """

    def __init__(
        self, base_url, client_id, client_secret, *, session=None,
        timeout=const.DEFAULT_TIMEOUT, max_retries=const.MAX_RETRIES,
        backoff_base=const.BACKOFF_BASE, backoff_cap=const.BACKOFF_CAP,
        sleep=time.sleep, clock=time.monotonic, logger=None,
    ):
        self.base_url = (base_url or const.DEFAULT_API_URL).rstrip("/")
        self.client_id = (client_id or "").strip()
        self._client_secret = (client_secret or "").strip()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._logger = logger or logging.getLogger("ponto.client")
        self._token = None
        self._token_renew_at = None

    def __repr__(self):
        return f"<PontoClient {self.base_url} client_id={self.client_id[:8]}…>"

    # === AUTHENTICATION === #

    def token(self):
        """Return a valid access token, fetching a new one when the cached one is near expiry."""
        if self._token is None or self._clock() >= self._token_renew_at:
            self._token = None
            obtained_at = self._clock()
            payload = self._request(
                "POST", self._url(const.TOKEN_PATH),
                form_body={"grant_type": "client_credentials"}, authenticated=False,
            )
            token, lifetime = _read_token(payload)
            margin = min(const.TOKEN_EXPIRY_MARGIN, lifetime / 2)
            self._token, self._token_renew_at = token, obtained_at + lifetime - margin
        return self._token

    # === ACCOUNTS AND TRANSACTIONS === #

    def iter_accounts(self):
        for page in self._iter_pages(self._url(const.ACCOUNTS_PATH)):
            yield from map(Account.from_resource, page)

    def get_account(self, account_id):
        document = self._request("GET", self._url(const.ACCOUNT_PATH, account_id=account_id))
        return Account.from_resource(_data_object(document))

    def iter_transactions(self, account_id):
        """Yield the booked transactions of an account, newest first."""
        url = self._url(const.TRANSACTIONS_PATH, account_id=account_id)
        for page in self._iter_pages(url):
            yield from map(Transaction.from_resource, page)

    def iter_transaction_pages_newer_than(self, account_id, transaction_id):
        """Yield the booked transactions newer than `transaction_id` in pages, all oldest first.

        Walks `page[before]` then `links.prev` upwards, so an importer can commit page by page.
        """
        url = self._url(const.TRANSACTIONS_PATH, account_id=account_id)
        pages = self._iter_pages(url, params={"page[before]": transaction_id}, link="prev")
        for page in pages:
            yield [Transaction.from_resource(resource) for resource in reversed(page)]

    def iter_transaction_pages_since(self, account_id, since, tz=const.BRUSSELS_TZ):
        """Yield the transactions booked on or after the date `since`, in pages, oldest first.

        Walks down from the newest transaction to the first one booked before `since` (the
        boundary), then yields the pages newer than it.  When none is older than `since`, the
        oldest transaction itself is yielded first, as a page of one.
        """
        boundary = None
        for transaction in self.iter_transactions(account_id):
            boundary = transaction
            if transaction.booking_date(tz) < since:
                break
        else:
            if boundary is None:
                return
            yield [boundary]
        yield from self.iter_transaction_pages_newer_than(account_id, boundary.id)

    def iter_pending_transactions(self, account_id):
        url = self._url(const.PENDING_TRANSACTIONS_PATH, account_id=account_id)
        for page in self._iter_pages(url):
            yield from map(Transaction.from_resource, page)

    # === SYNCHRONIZATIONS === #

    def create_synchronization(
        self, account_id, subtype=const.DEFAULT_SYNC_SUBTYPE, customer_ip=const.DEFAULT_CUSTOMER_IP
    ):
        """Ask Ponto to refresh an account from its bank.

        :raise PontoRecentlySynchronized: when such a synchronization was created recently.
        """
        body = {"data": {"type": "synchronization", "attributes": {
            "resourceType": "account",
            "resourceId": account_id,
            "subtype": subtype,
            "customerIpAddress": customer_ip,
        }}}
        document = self._request(
            "POST", self._url(const.SYNCHRONIZATIONS_PATH), json_body=body,
            idempotency_key=str(uuid.uuid4()),
        )
        return Synchronization.from_resource(_data_object(document))

    def get_synchronization(self, sync_id):
        document = self._request("GET", self._url(const.SYNCHRONIZATION_PATH, sync_id=sync_id))
        return Synchronization.from_resource(_data_object(document))

    def iter_updated_transactions(self, sync_id):
        """Yield the existing transactions whose content that synchronization changed."""
        for page in self._iter_pages(self._url(const.UPDATED_TRANSACTIONS_PATH, sync_id=sync_id)):
            yield from map(Transaction.from_resource, page)

    # === OTHERS === #

    def iter_financial_institutions(self, *, name=None, country=None):
        """Yield the banks, filtered by name (contains) and country (equal) when given.

        The filters are sent to Ponto and applied here too, as the API may ignore them.
        """
        params = {}
        if name:
            params["filter[name][contains]"] = name
        if country:
            params["filter[country][eq]"] = country.upper()
        for page in self._iter_pages(self._url(const.FINANCIAL_INSTITUTIONS_PATH), params=params):
            for institution in map(Institution.from_resource, page):
                if _institution_matches(institution, name, country):
                    yield institution

    def userinfo(self):
        return UserInfo.from_json(self._request("GET", self._url(const.USERINFO_PATH)))

    # === REQUEST HELPERS === #

    def _url(self, path, **ids):
        quoted_ids = {key: quote(value, safe="") for key, value in ids.items()}
        return self.base_url + path.format(**quoted_ids)

    def _iter_pages(self, url, *, params=None, link="next"):
        """Yield the `data` list of each page, following `links[link]` as given until absent.

        The next page is only requested when the caller asks for more.
        """
        params = {"page[limit]": const.PAGE_LIMIT, **(params or {})}
        while url:
            document = self._request("GET", url, params=params)
            page = document.get("data")
            if not isinstance(page, list):
                raise PontoMalformedResponse("Ponto sent a page without a data list.", field="data")
            if not page:
                return
            yield page
            next_url = _object(document, "links").get(link)
            if next_url is not None and not isinstance(next_url, str):
                raise PontoMalformedResponse("Ponto sent an invalid paging link.", field="links")
            next_url = urljoin(url, next_url) if next_url else None
            if next_url == url:
                raise PontoMalformedResponse("Ponto sent a paging link to the same page.",
                                             field="links")
            url, params = next_url, None

    def _request(
        self, method, url, *, params=None, json_body=None, form_body=None, idempotency_key=None,
        authenticated=True,
    ):
        """Send a request to Ponto and return its decoded JSON body (a dict).

        This is the one choke point of the client.  Transient failures (rate limit, server error,
        connection error) are retried with capped exponential backoff for GET requests, for
        requests carrying an idempotency key (the same key on every attempt) and for the token
        call; a refused access token is renewed once.

        :param bool authenticated: send the bearer token; False for the token call itself, which
            carries the client credentials as Basic auth.
        :raise PontoError: the typed error of the failure.
        """
        may_retry = method == "GET" or idempotency_key is not None or not authenticated
        retries = 0
        token_renewed = False
        while True:
            headers = self._build_headers(authenticated, idempotency_key)
            try:
                return self._send_once(
                    method, url, headers=headers, params=params, json_body=json_body,
                    form_body=form_body, authenticated=authenticated,
                )
            except _TokenRejected as rejected:
                if token_renewed:
                    raise PontoCredentialsError(
                        "Ponto refused a freshly obtained access token: "
                        "credentials revoked or invalid.", **rejected.context,
                    ) from None
                self._token = None
                token_renewed = True
            except RETRYABLE_ERRORS as error:
                retry_after = getattr(error, "retry_after", None)
                if (not may_retry or retries >= self.max_retries
                        or (retry_after is not None and retry_after > self.backoff_cap)):
                    raise
                delay = retry_after if retry_after is not None else self._backoff_delay(retries)
                retries += 1
                self._logger.info(
                    "Ponto %s %s: %s; retry %d of %d in %.1f s.",
                    method, urlsplit(url).path, error, retries, self.max_retries, delay,
                )
                self._sleep(delay)

    def _build_headers(self, authenticated, idempotency_key):
        headers = {"Accept": "application/json", "User-Agent": const.USER_AGENT}
        if authenticated:
            headers["Authorization"] = f"Bearer {self.token()}"
        if idempotency_key:
            headers[const.IDEMPOTENCY_HEADER] = idempotency_key
        return headers

    def _backoff_delay(self, retries):
        """Exponential delay, capped, with jitter over its upper half (so never below half)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** retries)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _send_once(self, method, url, *, headers, params, json_body, form_body, authenticated):
        """Send one HTTP request; return the JSON body of a success, raise the mapped error."""
        path = urlsplit(url).path
        started = time.perf_counter()
        try:
            response = self._session.request(
                method, url, params=params, json=json_body, data=form_body, headers=headers,
                auth=None if authenticated else self._basic_auth(), timeout=self.timeout,
            )
        except requests.exceptions.RequestException as exc:
            self._logger.debug(
                "Ponto %s %s failed: %s (%d ms)", method, path, type(exc).__name__,
                (time.perf_counter() - started) * 1000,
            )
            raise _transport_error(exc) from exc
        request_id = response.headers.get(const.REQUEST_ID_HEADER)
        self._logger.debug(
            "Ponto %s %s -> HTTP %s (request id %s, %d ms)", method, path, response.status_code,
            request_id, (time.perf_counter() - started) * 1000,
        )
        if _is_truncated(response):
            raise PontoConnectionError(
                "The connection to Ponto broke off while reading the answer.",
                status=response.status_code, request_id=request_id,
            )
        if response.status_code >= 400:
            raise self._error_for(response, request_id, authenticated)
        return _decode_json(response, request_id)

    def _basic_auth(self):
        return self.client_id.encode(), self._client_secret.encode()

    def _error_for(self, response, request_id, authenticated):
        """Map an HTTP error response to a typed error (or the internal token-refused signal)."""
        status = response.status_code
        codes, detail, body_request_id, body = _read_error_body(response)
        if body is not None:
            self._logger.debug("Ponto error body: %s", self._redact(str(mask_sensitive(body))))
        detail = self._redact(detail)
        context = {
            "code": codes[0] if codes else None,
            "request_id": request_id or body_request_id,
            "status": status,
        }
        if not authenticated and status in (400, 401, 403):
            return PontoCredentialsError(
                f"Ponto refused the Client ID and Secret: {detail}" if detail else None, **context
            )
        if authenticated and (status == 401 or const.TOKEN_REJECTED_CODES.intersection(codes)):
            return _TokenRejected(context)
        if const.NOT_FOUND_CODE in codes or (status == 404 and codes):
            return PontoNotFound(detail, **context)
        if status == 404:  # not Ponto's error body: something else answers at this address
            return PontoRequestError(
                detail or "Nothing answers this call at the Ponto API address: check the address.",
                **context,
            )
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            return PontoRateLimited(detail, retry_after=retry_after, **context)
        if const.RECENTLY_SYNCHRONIZED_CODE in codes:
            return PontoRecentlySynchronized(detail, **context)
        if status >= 500:
            return PontoServerError(detail, **context)
        return PontoRequestError(detail, **context)

    def _redact(self, text):
        """Remove the secret and the token from a text Ponto sent back (should it echo them)."""
        for secret in (self._client_secret, self._token):
            if text and secret:
                text = text.replace(secret, REDACTED)
        return text


# === MODULE HELPERS === #


def _object(container, key):
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, dict) else {}


def _data_object(document):
    data = document.get("data")
    if not isinstance(data, dict):
        raise PontoMalformedResponse("Ponto sent a response without a data object.", field="data")
    return data


def _read_token(payload):
    """Return (access token, lifetime in seconds) from the token endpoint's answer."""
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise PontoMalformedResponse("Ponto sent no access token.", field="access_token")
    lifetime = payload.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, (int, Decimal)) or lifetime <= 0:
        raise PontoMalformedResponse("Ponto sent no valid token lifetime.", field="expires_in")
    return token, float(lifetime)


def _institution_matches(institution, name, country):
    if name and name.casefold() not in institution.name.casefold():
        return False
    return not country or (institution.country or "").upper() == country.upper()


def _transport_error(exc):
    """Map an exception of `requests` to a typed error."""
    if isinstance(exc, requests.exceptions.Timeout):
        return PontoConnectionError("Ponto did not answer in time.")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return PontoConnectionError("The connection to Ponto broke off while reading the answer.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return PontoConnectionError()
    return PontoRequestError(f"The request to Ponto could not be sent ({type(exc).__name__}).")


def _is_truncated(response):
    """Tell whether fewer bytes arrived than announced.

    urllib3 1.26 (Odoo's pin) does not enforce Content-Length: a connection closed early gives a
    short body silently.
    """
    announced = response.headers.get("Content-Length", "")
    received = getattr(response.raw, "tell", None)
    return announced.isdigit() and callable(received) and received() < int(announced)


def _decode_json(response, request_id):
    try:
        document = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise PontoMalformedResponse(
            "Ponto sent an answer that is not valid JSON.",
            request_id=request_id, status=response.status_code,
        ) from None
    if not isinstance(document, dict):
        raise PontoMalformedResponse(
            "Ponto sent an answer that is not a JSON object.",
            request_id=request_id, status=response.status_code,
        )
    return document


def _read_error_body(response):
    """Return (codes, detail, request id, body) of an error body; Nones if it is not JSON.

    Two shapes exist: JSON:API `{"errors": [{code, detail, meta: {requestId, attribute}}]}` and
    OAuth2 `{"error", "error_description"}` (token endpoint).
    """
    try:
        body = json.loads(response.content)
    except ValueError:
        return [], None, None, None
    if not isinstance(body, dict):
        return [], None, None, body
    if isinstance(body.get("error"), str):
        detail = body.get("error_description") or body.get("error_hint") or body["error"]
        return [body["error"]], str(detail), None, body
    items = [item for item in body.get("errors") or [] if isinstance(item, dict)]
    codes = [item["code"] for item in items if isinstance(item.get("code"), str)]
    details = [_error_item_detail(item) for item in items]
    request_ids = [_object(item, "meta").get("requestId") for item in items]
    request_id = next((rid for rid in request_ids if isinstance(rid, str)), None)
    return codes, "; ".join(filter(None, details)) or None, request_id, body


def _error_item_detail(item):
    detail = item.get("detail") or item.get("code")
    attribute = _object(item, "meta").get("attribute")
    if detail and attribute:
        return f"{detail} (attribute {attribute})"
    return str(detail) if detail else None


def _retry_after_seconds(value):
    """Parse a Retry-After header (seconds or HTTP-date) into seconds from now, or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
