"""PontoClient against mocked HTTP (`responses`): auth, error mapping, retries, paging, logging."""

import base64
import itertools
import json
import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
import requests
import responses

from ponto.client import PontoClient, mask_sensitive
from ponto.errors import (
    PontoConnectionError,
    PontoCredentialsError,
    PontoMalformedResponse,
    PontoNotFound,
    PontoRateLimited,
    PontoRecentlySynchronized,
    PontoRequestError,
    PontoServerError,
)

BASE = "https://ponto.test"
TOKEN_URL = f"{BASE}/oauth2/token"
CLIENT_ID = "6f1d5b66-3d1b-4a5e-9d0b-2f1c0b8f8a10"
SECRET = "Sup3r-S3cret-Value-never-shown"
TOKENS = ["first-access-token-AAAA", "second-access-token-BBBB", "third-access-token-CCCC"]
ACCOUNT_ID = "0df6d359-a2fb-4f41-bc4c-3c824d8a1a03"
ACCOUNT_URL = f"{BASE}/accounts/{ACCOUNT_ID}"
TRANSACTIONS_URL = f"{ACCOUNT_URL}/transactions"
FIRST_PAGE = "?page%5Blimit%5D=100"  # page[limit]=100, as requests encodes it
SYNCS_URL = f"{BASE}/synchronizations"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(sleeps, clock):
    return PontoClient(BASE, CLIENT_ID, SECRET, sleep=sleeps.append, clock=clock)


def add_tokens(api, tokens=tuple(TOKENS), expires_in=1799):
    """Answer the token calls with these tokens, in order (the last one repeats)."""
    for token in tokens:
        api.add(responses.POST, TOKEN_URL, json={
            "access_token": token, "expires_in": expires_in, "scope": "ai", "token_type": "bearer",
        })


def error_body(code, detail="Something went wrong.", request_id="body-request-id", **meta):
    return {"errors": [{"code": code, "detail": detail, "meta": {"requestId": request_id, **meta}}]}


def calls_to(api, url):
    path = urlsplit(url).path
    return [call for call in api.calls if urlsplit(call.request.url).path == path]


def bearer_of(call):
    return call.request.headers["Authorization"].removeprefix("Bearer ")


def transaction(number, day=date(2024, 3, 1)):
    return {
        "type": "transaction",
        "id": f"tx-{number}",
        "attributes": {
            "amount": float(f"{number}.25"),
            "currency": "EUR",
            "executionDate": f"{day.isoformat()}T00:00:00.000Z",
            "valueDate": f"{day.isoformat()}T00:00:00.000Z",
        },
        "relationships": {"account": {"data": {"type": "account", "id": ACCOUNT_ID}}},
    }


def page(resources, **links):
    return {"data": resources, "links": {"first": "https://ponto.test/first", **links},
            "meta": {"paging": {"limit": 100}}}


def wire(url):
    """The URL as requests sends it (brackets percent-encoded)."""
    return requests.Request("GET", url).prepare().url


def serve(api, documents):
    """Answer GET requests from {exact URL: JSON document}; any other URL is a test failure."""
    documents = {wire(url): document for url, document in documents.items()}

    def reply(request):
        assert request.url in documents, f"unexpected request {request.url}"
        return 200, {}, json.dumps(documents[request.url])
    api.add_callback(responses.GET, re.compile(re.escape(BASE) + "/.*"), callback=reply)


def sync_document(status="pending"):
    return {"data": {"type": "synchronization", "id": "5d88f702-fab3-4967-878c-01f1bd990235",
                     "attributes": {"resourceType": "account", "resourceId": ACCOUNT_ID,
                                    "subtype": "accountTransactions", "status": status,
                                    "errors": [], "createdAt": "2022-09-26T13:12:40.746Z",
                                    "updatedAt": "2022-09-26T13:12:40.746Z"}}}


def account_document():
    return {"data": {"type": "account", "id": ACCOUNT_ID, "attributes": {
        "reference": "BE07626550616261", "referenceType": "IBAN", "currency": "EUR",
        "currentBalance": -527.34,
    }}}


# === TOKEN === #


def test_token_call_sends_basic_credentials_and_form(api, client):
    add_tokens(api)
    assert client.token() == TOKENS[0]
    request = api.calls[0].request
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Accept"] == "application/json"
    assert request.body == "grant_type=client_credentials"


def test_credentials_are_stripped_of_surrounding_whitespace(api, sleeps, clock):
    add_tokens(api)
    PontoClient(BASE + "/", f" {CLIENT_ID}\n", f" {SECRET} ", sleep=sleeps.append).token()
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert api.calls[0].request.headers["Authorization"] == f"Basic {expected}"
    assert api.calls[0].request.url == TOKEN_URL


def test_token_is_cached_then_renewed_before_expiry(api, client, clock):
    add_tokens(api)
    api.add(responses.GET, f"{BASE}/userinfo", json={"sub": "org"})
    client.userinfo()
    clock.now += 1799 - 60 - 0.1  # Just before the renewal margin.
    client.userinfo()
    clock.now += 0.1
    client.userinfo()
    assert len(calls_to(api, TOKEN_URL)) == 2
    assert [bearer_of(call) for call in calls_to(api, f"{BASE}/userinfo")] == [
        TOKENS[0], TOKENS[0], TOKENS[1]
    ]


def test_short_token_lifetime_renews_at_half_life(api, client, clock):
    add_tokens(api, expires_in=60)
    client.token()
    clock.now += 29.9
    assert client.token() == TOKENS[0]
    clock.now += 0.1
    assert client.token() == TOKENS[1]


@pytest.mark.parametrize("payload", [
    {"expires_in": 1799},
    {"access_token": "", "expires_in": 1799},
    {"access_token": "token", "expires_in": "soon"},
    {"access_token": "token", "expires_in": 0},
])
def test_token_answer_without_token_or_lifetime(api, client, payload):
    api.add(responses.POST, TOKEN_URL, json=payload)
    with pytest.raises(PontoMalformedResponse) as caught:
        client.token()
    assert caught.value.field in ("access_token", "expires_in")


@pytest.mark.parametrize(("status", "body", "code"), [
    (401, {"error": "invalid_client", "error_description": "Client authentication failed."},
     "invalid_client"),
    (400, {"error": "invalid_client"}, "invalid_client"),
    (400, error_body("clientIdInvalid", "The client id is invalid."), "clientIdInvalid"),
])
def test_token_endpoint_refusing_credentials(api, client, sleeps, status, body, code):
    api.add(responses.POST, TOKEN_URL, status=status, json=body)
    with pytest.raises(PontoCredentialsError) as caught:
        client.token()
    assert (caught.value.code, caught.value.status) == (code, status)
    assert str(caught.value).startswith("Ponto refused the Client ID and Secret")
    assert len(api.calls) == 1 and sleeps == []


def test_token_endpoint_server_error_is_retried(api, client, sleeps):
    api.add(responses.POST, TOKEN_URL, status=503)
    add_tokens(api)
    assert client.token() == TOKENS[0]
    assert len(api.calls) == 2 and len(sleeps) == 1


# === REFUSED ACCESS TOKEN === #


@pytest.mark.parametrize(("status", "code"), [
    (401, "invalidAccessToken"),
    (401, "credentialsInvalid"),
    (401, None),
    (403, "invalidAccessToken"),
])
def test_refused_token_is_renewed_once_and_the_call_retried(api, client, sleeps, status, code):
    add_tokens(api)
    api.add(responses.GET, f"{BASE}/userinfo", status=status,
            json=error_body(code, "Your access token is invalid.") if code else {})
    api.add(responses.GET, f"{BASE}/userinfo", json={"sub": "org"})
    assert client.userinfo().sub == "org"
    assert [bearer_of(call) for call in calls_to(api, f"{BASE}/userinfo")] == TOKENS[:2]
    assert len(calls_to(api, TOKEN_URL)) == 2
    assert sleeps == []


def test_second_refusal_means_credentials_revoked(api, client):
    add_tokens(api)
    api.add(responses.GET, f"{BASE}/userinfo", status=401,
            json=error_body("invalidAccessToken", "Your access token is invalid.", "rid-401"))
    with pytest.raises(PontoCredentialsError) as caught:
        client.userinfo()
    assert "credentials revoked or invalid" in str(caught.value)
    assert (caught.value.code, caught.value.status) == ("invalidAccessToken", 401)
    assert caught.value.request_id == "rid-401"
    assert len(calls_to(api, f"{BASE}/userinfo")) == 2
    assert len(calls_to(api, TOKEN_URL)) == 2


# === ERROR MAPPING === #


def test_not_found_carries_code_status_and_request_id(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=404, headers={"ibanity-request-id": "rid-header"},
            json=error_body("resourceNotFound", "The requested resource was not found.",
                            resource="account"))
    with pytest.raises(PontoNotFound) as caught:
        client.get_account(ACCOUNT_ID)
    error = caught.value
    assert (error.code, error.status, error.request_id) == ("resourceNotFound", 404, "rid-header")
    assert str(error) == (
        "The requested resource was not found. (code resourceNotFound, HTTP 404, "
        "request id rid-header)"
    )
    assert len(calls_to(api, ACCOUNT_URL)) == 1 and sleeps == []


def test_not_found_from_something_else_than_ponto_is_not_a_missing_resource(api, client):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=404, body="<html><h1>Not Found</h1></html>",
            content_type="text/html")
    with pytest.raises(PontoRequestError) as caught:
        client.get_account(ACCOUNT_ID)
    assert not isinstance(caught.value, PontoNotFound)
    assert "check the address" in str(caught.value) and caught.value.status == 404


def test_request_id_from_the_body_when_no_header(api, client):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=404, json=error_body("resourceNotFound"))
    with pytest.raises(PontoNotFound) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.request_id == "body-request-id"


def test_recently_synchronized(api, client, sleeps):
    add_tokens(api)
    api.add(responses.POST, SYNCS_URL, status=400, json={"errors": [{
        "code": "accountRecentlySynchronized",
        "detail": "This type of synchronization was already created recently for the account.",
        "meta": {},
    }]})
    with pytest.raises(PontoRecentlySynchronized) as caught:
        client.create_synchronization(ACCOUNT_ID)
    assert caught.value.code == "accountRecentlySynchronized"
    assert len(calls_to(api, SYNCS_URL)) == 1 and sleeps == []


def test_validation_error_names_the_attribute(api, client, sleeps):
    add_tokens(api)
    api.add(responses.POST, SYNCS_URL, status=400, json=error_body(
        "invalidAttribute", "is required", attribute="customerIpAddress"
    ))
    with pytest.raises(PontoRequestError) as caught:
        client.create_synchronization(ACCOUNT_ID)
    assert "is required (attribute customerIpAddress)" in str(caught.value)
    assert caught.value.status == 400
    assert len(calls_to(api, SYNCS_URL)) == 1 and sleeps == []


def test_several_errors_are_all_reported(api, client):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=422, json={"errors": [
        {"code": "a", "detail": "First problem."}, {"code": "b", "detail": "Second problem."},
    ]})
    with pytest.raises(PontoRequestError) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.detail == "First problem.; Second problem."
    assert caught.value.code == "a"


def test_server_error_without_json_body(api, client):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=502, body="<html>Bad gateway</html>",
            headers={"ibanity-request-id": "rid-502"})
    with pytest.raises(PontoServerError) as caught:
        client.get_account(ACCOUNT_ID)
    assert str(caught.value) == (
        "Ponto is unavailable (server error); try again later. (HTTP 502, request id rid-502)"
    )


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_invalid_json_on_success_is_malformed_and_not_retried(api, client, sleeps, body):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, body=body, headers={"ibanity-request-id": "rid-bad"})
    with pytest.raises(PontoMalformedResponse) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.request_id == "rid-bad"
    assert len(calls_to(api, ACCOUNT_URL)) == 1 and sleeps == []


def test_document_without_data_is_malformed(api, client):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, json={"links": {}})
    with pytest.raises(PontoMalformedResponse) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.field == "data"


# === RETRIES === #


def test_rate_limit_honours_retry_after_seconds(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=429, headers={"Retry-After": "7"},
            json=error_body("tooManyRequests"))
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    assert client.get_account(ACCOUNT_ID).id == ACCOUNT_ID
    assert sleeps == [7.0]


def test_rate_limit_honours_retry_after_http_date(api, client, sleeps):
    add_tokens(api)
    when = datetime.now(UTC) + timedelta(seconds=10)
    api.add(responses.GET, ACCOUNT_URL, status=429,
            headers={"Retry-After": format_datetime(when, usegmt=True)})
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    client.get_account(ACCOUNT_ID)
    assert len(sleeps) == 1 and 8 <= sleeps[0] <= 10


def test_retry_after_in_the_past_or_invalid(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=429,
            headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    api.add(responses.GET, ACCOUNT_URL, status=429, headers={"Retry-After": "soon"})
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    client.get_account(ACCOUNT_ID)
    assert sleeps[0] == 0
    assert 0.5 <= sleeps[1] <= 1.0  # No usable advice: the second backoff step.


def test_retry_after_above_the_cap_fails_at_once(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=429, headers={"Retry-After": "120"})
    with pytest.raises(PontoRateLimited) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.retry_after == 120
    assert caught.value.status == 429
    assert sleeps == [] and len(calls_to(api, ACCOUNT_URL)) == 1


def test_retry_after_equal_to_the_cap_is_waited(api, sleeps, clock):
    client = PontoClient(BASE, CLIENT_ID, SECRET, sleep=sleeps.append, backoff_cap=5)
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=429, headers={"Retry-After": "5"})
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    client.get_account(ACCOUNT_ID)
    assert sleeps == [5.0]


def test_rate_limit_exhausting_the_retries(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=429, headers={"Retry-After": "1"})
    with pytest.raises(PontoRateLimited) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.retry_after == 1
    assert sleeps == [1.0, 1.0, 1.0]
    assert len(calls_to(api, ACCOUNT_URL)) == 4  # 1 + max_retries


def test_server_errors_are_retried_with_capped_exponential_backoff(api, sleeps):
    client = PontoClient(BASE, CLIENT_ID, SECRET, sleep=sleeps.append, max_retries=6,
                         backoff_base=1.0, backoff_cap=4.0)
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=500, headers={"ibanity-request-id": "rid-500"})
    with pytest.raises(PontoServerError) as caught:
        client.get_account(ACCOUNT_ID)
    assert caught.value.request_id == "rid-500" and caught.value.status == 500
    assert len(calls_to(api, ACCOUNT_URL)) == 7
    ceilings = [1, 2, 4, 4, 4, 4]
    assert len(sleeps) == len(ceilings)
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(sleeps, ceilings))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_then_success(api, client, sleeps, status):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=status)
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    assert client.get_account(ACCOUNT_ID).current_balance == Decimal("-527.34")
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5


@pytest.mark.parametrize(("exception", "message"), [
    (requests.exceptions.ConnectionError("connection refused"), "Could not connect to Ponto."),
    (requests.exceptions.ConnectTimeout("connect timeout"), "Ponto did not answer in time."),
    (requests.exceptions.ReadTimeout("read timeout"), "Ponto did not answer in time."),
    (requests.exceptions.ChunkedEncodingError("broken"), "broke off"),
])
def test_connection_errors_are_retried_then_raised(api, client, sleeps, exception, message):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, body=exception)
    with pytest.raises(PontoConnectionError, match=message) as caught:
        client.get_account(ACCOUNT_ID)
    assert isinstance(caught.value.__cause__, requests.exceptions.RequestException)
    assert len(calls_to(api, ACCOUNT_URL)) == 4 and len(sleeps) == 3


def test_connection_error_then_success(api, client, sleeps):
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, body=requests.exceptions.ConnectionError("reset"))
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    assert client.get_account(ACCOUNT_ID).id == ACCOUNT_ID
    assert len(sleeps) == 1


def test_truncated_body_is_a_connection_error_and_retried(api, client, sleeps):
    add_tokens(api)
    body = json.dumps(account_document()).encode()
    api.add(responses.GET, ACCOUNT_URL, body=body[:20],
            headers={"Content-Length": str(len(body))})
    api.add(responses.GET, ACCOUNT_URL, body=body, headers={"Content-Length": str(len(body))})
    assert client.get_account(ACCOUNT_ID).id == ACCOUNT_ID
    assert len(calls_to(api, ACCOUNT_URL)) == 2 and len(sleeps) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key(api, client, sleeps):
    add_tokens(api)
    api.add(responses.POST, SYNCS_URL, status=503)
    api.add(responses.POST, SYNCS_URL, body=requests.exceptions.ConnectionError("reset"))
    api.add(responses.POST, SYNCS_URL, status=201, json=sync_document())
    sync = client.create_synchronization(ACCOUNT_ID, customer_ip="10.0.0.1")
    assert sync.status == "pending"
    keys = {call.request.headers["Ibanity-Idempotency-Key"] for call in calls_to(api, SYNCS_URL)}
    assert len(calls_to(api, SYNCS_URL)) == 3 and len(keys) == 1
    assert uuid.UUID(keys.pop()).version == 4
    assert json.loads(calls_to(api, SYNCS_URL)[0].request.body) == {"data": {
        "type": "synchronization",
        "attributes": {"resourceType": "account", "resourceId": ACCOUNT_ID,
                       "subtype": "accountTransactions", "customerIpAddress": "10.0.0.1"},
    }}


def test_each_synchronization_gets_its_own_key(api, client):
    add_tokens(api)
    api.add(responses.POST, SYNCS_URL, status=201, json=sync_document())
    client.create_synchronization(ACCOUNT_ID)
    client.create_synchronization(ACCOUNT_ID, subtype="accountDetails")
    keys = [call.request.headers["Ibanity-Idempotency-Key"] for call in calls_to(api, SYNCS_URL)]
    assert len(set(keys)) == 2


def test_post_without_idempotency_key_is_never_retried(api, client, sleeps):
    add_tokens(api)
    api.add(responses.POST, SYNCS_URL, status=503)
    with pytest.raises(PontoServerError):
        client._request("POST", SYNCS_URL, json_body={})
    assert len(calls_to(api, SYNCS_URL)) == 1 and sleeps == []


def test_retries_are_logged(api, client, caplog):
    caplog.set_level(logging.INFO, logger="ponto.client")
    add_tokens(api)
    api.add(responses.GET, ACCOUNT_URL, status=503, headers={"ibanity-request-id": "rid-503"})
    api.add(responses.GET, ACCOUNT_URL, json=account_document())
    client.get_account(ACCOUNT_ID)
    retry_lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(retry_lines) == 1
    assert f"/accounts/{ACCOUNT_ID}" in retry_lines[0] and "retry 1 of 3" in retry_lines[0]
    assert "rid-503" in retry_lines[0]


# === SECRETS === #


def test_no_secret_or_token_in_logs_errors_or_reprs(api, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    client = PontoClient(BASE, CLIENT_ID, SECRET, sleep=sleeps.append)
    add_tokens(api)
    api.add(responses.GET, f"{BASE}/userinfo", status=401, json=error_body(
        "invalidAccessToken", f"Token {TOKENS[0]} is invalid.")
    )
    api.add(responses.GET, f"{BASE}/userinfo", status=500)
    api.add(responses.GET, f"{BASE}/userinfo", json={"sub": "org"})
    client.userinfo()
    api.add(responses.GET, ACCOUNT_URL, status=400, json=error_body(
        "invalid", f"Bad value {TOKENS[1]}", access_token=TOKENS[1], client_secret=SECRET,
    ))
    with pytest.raises(PontoRequestError) as caught:
        client.get_account(ACCOUNT_ID)
    revoked = PontoClient(BASE, CLIENT_ID, SECRET, sleep=sleeps.append)
    api.replace(responses.POST, TOKEN_URL, status=401, json={
        "error": "invalid_client", "error_description": f"Secret {SECRET} is not valid.",
    })
    with pytest.raises(PontoCredentialsError) as refused:
        revoked.token()

    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    log_text = caplog.text + "".join(record.getMessage() for record in caplog.records)
    assert "/userinfo -> HTTP 401" in log_text and "/oauth2/token -> HTTP 200" in log_text
    shown = [log_text, str(caught.value), repr(caught.value), str(refused.value),
             repr(refused.value), repr(client), repr(revoked)]
    for text in shown:
        for secret in (SECRET, basic, *TOKENS):
            assert secret not in text
    assert "[REDACTED]" in str(caught.value) and "[REDACTED]" in str(refused.value)


def test_mask_sensitive():
    data = {"access_token": "x", "nested": [{"client_secret": "y", "Authorization": "z"}], "a": 1}
    assert mask_sensitive(data) == {
        "access_token": "[REDACTED]",
        "nested": [{"client_secret": "[REDACTED]", "Authorization": "[REDACTED]"}],
        "a": 1,
    }


# === PAGING === #


def test_paging_sends_limit_and_follows_links_as_given_until_next_is_absent(api, client):
    add_tokens(api)
    second = f"{TRANSACTIONS_URL}?page[after]=tx-8&page[limit]=100&kept=as-given"
    third = f"{TRANSACTIONS_URL}?page%5Bafter%5D=tx-6&page%5Blimit%5D=100"
    serve(api, {
        TRANSACTIONS_URL + FIRST_PAGE: page([transaction(10), transaction(9), transaction(8)],
                                            next=second),
        second: page([transaction(7), transaction(6)], next=third),
        third: page([transaction(5)]),
    })
    transactions = list(client.iter_transactions(ACCOUNT_ID))
    assert [t.id for t in transactions] == [f"tx-{n}" for n in range(10, 4, -1)]
    assert transactions[0].amount == Decimal("10.25")
    assert [call.request.url for call in calls_to(api, TRANSACTIONS_URL)] == [
        TRANSACTIONS_URL + FIRST_PAGE, wire(second), third,
    ]


def test_relative_next_link_is_resolved_against_the_page(api, client):
    add_tokens(api)
    serve(api, {
        TRANSACTIONS_URL + FIRST_PAGE: page([transaction(2)], next="?page[after]=tx-2"),
        TRANSACTIONS_URL + "?page[after]=tx-2": page([transaction(1)]),
    })
    assert [t.id for t in client.iter_transactions(ACCOUNT_ID)] == ["tx-2", "tx-1"]


def test_empty_page_stops_the_walk(api, client):
    add_tokens(api)
    serve(api, {TRANSACTIONS_URL + FIRST_PAGE: page([], next=f"{TRANSACTIONS_URL}?x=1")})
    assert list(client.iter_transactions(ACCOUNT_ID)) == []
    assert len(calls_to(api, TRANSACTIONS_URL)) == 1


def test_link_to_the_same_page_is_malformed(api, client):
    add_tokens(api)
    looping = f"{TRANSACTIONS_URL}?page[after]=tx-1"
    serve(api, {
        TRANSACTIONS_URL + FIRST_PAGE: page([transaction(2)], next=looping),
        looping: page([transaction(1)], next=looping),
    })
    with pytest.raises(PontoMalformedResponse):
        list(client.iter_transactions(ACCOUNT_ID))


def test_page_without_data_list_is_malformed(api, client):
    add_tokens(api)
    serve(api, {TRANSACTIONS_URL + FIRST_PAGE: {"data": {"id": "x"}, "links": {}}})
    with pytest.raises(PontoMalformedResponse) as caught:
        list(client.iter_transactions(ACCOUNT_ID))
    assert caught.value.field == "data"


def test_stopping_a_generator_early_makes_no_further_request(api, client):
    add_tokens(api)
    serve(api, {
        TRANSACTIONS_URL + FIRST_PAGE: page([transaction(3), transaction(2)],
                                            next=f"{TRANSACTIONS_URL}?page[after]=tx-2"),
    })
    assert [t.id for t in itertools.islice(client.iter_transactions(ACCOUNT_ID), 2)] == [
        "tx-3", "tx-2",
    ]
    pages = client.iter_transaction_pages_newer_than(ACCOUNT_ID, "tx-1")
    assert api.calls and len(calls_to(api, TRANSACTIONS_URL)) == 1  # Generators are lazy.
    pages.close()
    assert len(calls_to(api, TRANSACTIONS_URL)) == 1


def test_pages_newer_than_walk_prev_links_and_are_oldest_first(api, client):
    add_tokens(api)
    prev = f"{TRANSACTIONS_URL}?page[before]=tx-13&page[limit]=100"
    serve(api, {
        f"{TRANSACTIONS_URL}{FIRST_PAGE}&page%5Bbefore%5D=tx-10": page(
            [transaction(13), transaction(12), transaction(11)], prev=prev,
            next=f"{TRANSACTIONS_URL}?page[after]=tx-11",  # Older items: never followed.
        ),
        prev: page([transaction(15), transaction(14)]),
    })
    pages = list(client.iter_transaction_pages_newer_than(ACCOUNT_ID, "tx-10"))
    assert [[t.id for t in p] for p in pages] == [["tx-11", "tx-12", "tx-13"], ["tx-14", "tx-15"]]


def test_pages_newer_than_the_newest_transaction_is_nothing(api, client):
    add_tokens(api)
    serve(api, {f"{TRANSACTIONS_URL}{FIRST_PAGE}&page%5Bbefore%5D=tx-10": page([])})
    assert list(client.iter_transaction_pages_newer_than(ACCOUNT_ID, "tx-10")) == []


def since_fixture_documents():
    """Five transactions, one a day from 1 to 5 March, on two pages, newest first."""
    days = {number: date(2024, 3, number) for number in range(1, 6)}
    second = f"{TRANSACTIONS_URL}?page[after]=tx-4"
    return {
        TRANSACTIONS_URL + FIRST_PAGE: page([transaction(n, days[n]) for n in (5, 4)], next=second),
        second: page([transaction(n, days[n]) for n in (3, 2, 1)]),
        f"{TRANSACTIONS_URL}{FIRST_PAGE}&page%5Bbefore%5D=tx-2": page(
            [transaction(n, days[n]) for n in (5, 4, 3)]
        ),
        f"{TRANSACTIONS_URL}{FIRST_PAGE}&page%5Bbefore%5D=tx-1": page(
            [transaction(n, days[n]) for n in (5, 4, 3, 2)]
        ),
    }


def test_pages_since_a_date_start_after_the_boundary(api, client):
    add_tokens(api)
    serve(api, since_fixture_documents())
    pages = list(client.iter_transaction_pages_since(ACCOUNT_ID, date(2024, 3, 3)))
    assert [[t.id for t in p] for p in pages] == [["tx-3", "tx-4", "tx-5"]]
    assert len(calls_to(api, TRANSACTIONS_URL)) == 3


def test_pages_since_before_everything_start_with_the_oldest(api, client):
    add_tokens(api)
    serve(api, since_fixture_documents())
    pages = list(client.iter_transaction_pages_since(ACCOUNT_ID, date(2024, 1, 1)))
    assert [[t.id for t in p] for p in pages] == [["tx-1"], ["tx-2", "tx-3", "tx-4", "tx-5"]]


def test_pages_since_on_an_empty_account(api, client):
    add_tokens(api)
    serve(api, {TRANSACTIONS_URL + FIRST_PAGE: page([])})
    assert list(client.iter_transaction_pages_since(ACCOUNT_ID, date(2024, 1, 1))) == []


# === OTHER CALLS === #


def test_accounts_and_account(api, client):
    add_tokens(api)
    serve(api, {
        f"{BASE}/accounts{FIRST_PAGE}": {"data": [account_document()["data"]], "links": {}},
        ACCOUNT_URL: account_document(),
    })
    assert [account.iban for account in client.iter_accounts()] == ["BE07626550616261"]
    assert client.get_account(ACCOUNT_ID).current_balance == Decimal("-527.34")
    assert all(call.request.headers["User-Agent"].startswith("account_bank_sync_ponto")
               for call in api.calls)


def test_ids_are_quoted_in_paths(api, client):
    add_tokens(api)
    serve(api, {f"{BASE}/accounts/a%2Fb%3Fc": account_document()})
    client.get_account("a/b?c")
    assert api.calls[-1].request.url == f"{BASE}/accounts/a%2Fb%3Fc"


def test_synchronization_calls_and_updated_transactions(api, client):
    add_tokens(api)
    sync_id = sync_document()["data"]["id"]
    serve(api, {
        f"{SYNCS_URL}/{sync_id}": sync_document("success"),
        f"{SYNCS_URL}/{sync_id}/updated-transactions{FIRST_PAGE}": page([transaction(1)]),
        f"{ACCOUNT_URL}/pending-transactions{FIRST_PAGE}": page([
            {**transaction(7), "type": "pendingTransaction"},
        ]),
    })
    assert client.get_synchronization(sync_id).is_finished
    assert [t.id for t in client.iter_updated_transactions(sync_id)] == ["tx-1"]
    assert [t.id for t in client.iter_pending_transactions(ACCOUNT_ID)] == ["tx-7"]


def institution(number, name, country):
    return {"type": "financialInstitution", "id": f"fi-{number}",
            "attributes": {"name": name, "country": country}}


def test_financial_institutions_filter_on_the_server_and_here(api, client):
    add_tokens(api)
    banks = [institution(1, "KBC Bank", "BE"), institution(2, "KBC Brussels", "BE"),
             institution(3, "ING België", "BE"), institution(4, "KBC Deutschland", "DE"),
             institution(5, "kbc international", None)]
    filtered = (f"{BASE}/financial-institutions{FIRST_PAGE}"
                "&filter%5Bname%5D%5Bcontains%5D=kbc&filter%5Bcountry%5D%5Beq%5D=BE")
    serve(api, {filtered: page(banks), f"{BASE}/financial-institutions{FIRST_PAGE}": page(banks)})
    found = client.iter_financial_institutions(name="kbc", country="be")
    assert [bank.id for bank in found] == ["fi-1", "fi-2"]
    assert len(list(client.iter_financial_institutions())) == 5


def test_userinfo(api, client):
    add_tokens(api)
    serve(api, {f"{BASE}/userinfo": {"sub": "dd311734-9762-457e-989f-03292a1e55c9",
                                     "name": "Transcof", "onboardingComplete": True}})
    info = client.userinfo()
    assert (info.sub, info.name, info.onboarding_complete) == (
        "dd311734-9762-457e-989f-03292a1e55c9", "Transcof", True,
    )
