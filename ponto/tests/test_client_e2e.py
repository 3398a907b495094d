"""PontoClient end to end against the fake Ponto server (real HTTP on 127.0.0.1).

Every fault the fake offers is exercised at least once; the client never really sleeps (its
`sleep` records the delays instead).
"""

import itertools
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ponto.client import PontoClient
from ponto.errors import (
    PontoAuthorizationError,
    PontoConnectionError,
    PontoCredentialsError,
    PontoMalformedResponse,
    PontoNotFound,
    PontoRateLimited,
    PontoRecentlySynchronized,
    PontoServerError,
)
from ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto
from ponto.records import Transaction

TRANSACTIONS = 250  # First account: 3 pages of 100; the others get 125 (2 pages).


class FakeClock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake():
    with FakePonto(accounts=3, transactions=TRANSACTIONS, seed=7) as server:
        yield server


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake, sleeps):
    return make_client(fake, sleeps)


def make_client(fake, sleeps, **options):
    options.setdefault("timeout", (2, 5))
    return PontoClient(fake.url, FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, sleep=sleeps.append,
                       **options)


def booked_ids(fake, account_id):
    return [resource["id"] for resource in fake.booked(account_id)]


def ids(transactions):
    return [transaction.id for transaction in transactions]


def flat_ids(pages):
    return [transaction.id for page in pages for transaction in page]


def wait_until_finished(client, sync_id):
    for _ in range(10):
        sync = client.get_synchronization(sync_id)
        if sync.is_finished:
            return sync
    raise AssertionError("the synchronization never finished")


# === READING === #


def test_list_accounts(client, fake):
    accounts = list(client.iter_accounts())
    assert ids(accounts) == fake.account_ids
    checking, savings, dollars = accounts
    assert (checking.subtype, checking.currency) == ("checking", "EUR")
    assert (savings.subtype, dollars.currency) == ("savings", "USD")
    assert checking.iban.startswith("BE") and len(checking.iban) == 16
    assert checking.authorization_expiration_expected_at > datetime.now(UTC)
    assert client.get_account(checking.id) == checking


def test_full_transaction_walk_equals_the_truth(client, fake):
    for account_id in fake.account_ids:
        truth = fake.booked(account_id)
        transactions = list(client.iter_transactions(account_id))
        assert ids(transactions) == [resource["id"] for resource in truth]
        assert [t.amount for t in transactions] == [
            Decimal(str(resource["attributes"]["amount"])) for resource in truth
        ]
    assert fake.calls_to("transactions") == 3 + 2 + 2  # page[limit]=100 is honoured.


def test_current_balance_is_opening_plus_booked_amounts(client, fake):
    account_id = fake.account_ids[0]
    total = sum(t.amount for t in client.iter_transactions(account_id))
    balance = client.get_account(account_id).current_balance
    assert balance == fake.opening_balance(account_id) + total


def test_savings_bank_dates_are_brussels_midnight(client, fake):
    """That bank sends "...T22:00/T23:00:00.000Z": converted, every booking day is a weekday."""
    transactions = list(client.iter_transactions(fake.account_ids[1]))
    assert all(t.execution_date.hour in (22, 23) for t in transactions)
    assert all(t.booking_date().weekday() < 5 for t in transactions)
    assert any(t.execution_date.date().weekday() == 6 for t in transactions)  # Sunday in UTC.


@pytest.mark.parametrize("account_index", [0, 1])
def test_pages_since_a_date_give_exactly_the_later_transactions_oldest_first(
        client, fake, account_index):
    account_id = fake.account_ids[account_index]
    dated = [(resource["id"], Transaction.from_resource(resource).booking_date())
             for resource in fake.booked(account_id)]
    since = dated[len(dated) // 2][1]
    expected = [tid for tid, day in reversed(dated) if day >= since]
    pages = list(client.iter_transaction_pages_since(account_id, since))
    assert flat_ids(pages) == expected
    assert all(0 < len(page) <= 100 for page in pages)


def test_pages_since_before_the_first_transaction_give_everything(client, fake):
    account_id = fake.account_ids[2]
    pages = list(client.iter_transaction_pages_since(account_id, datetime(2000, 1, 1).date()))
    assert len(pages[0]) == 1  # The oldest transaction opens the walk.
    assert flat_ids(pages) == booked_ids(fake, account_id)[::-1]


def test_pages_since_after_the_last_transaction_give_nothing(client, fake):
    account_id = fake.account_ids[0]
    newest = client.get_account(account_id).current_balance_reference_date.date()
    later = newest.replace(year=newest.year + 1)
    assert list(client.iter_transaction_pages_since(account_id, later)) == []


def test_pages_newer_than_a_transaction(client, fake):
    account_id = fake.account_ids[0]
    truth = booked_ids(fake, account_id)
    cursor = truth[180]
    pages = list(client.iter_transaction_pages_newer_than(account_id, cursor))
    assert flat_ids(pages) == truth[:180][::-1]
    assert [len(page) for page in pages] == [100, 80]
    assert list(client.iter_transaction_pages_newer_than(account_id, truth[0])) == []


def test_new_transactions_appear_newer_than_the_last_seen(client, fake):
    account_id = fake.account_ids[0]
    last_seen = booked_ids(fake, account_id)[0]
    added = fake.add_transactions(account_id, n=3, amount="12.50")
    pages = list(client.iter_transaction_pages_newer_than(account_id, last_seen))
    assert flat_ids(pages) == added
    assert {t.amount for page in pages for t in page} == {Decimal("12.50")}


def test_stopping_early_makes_no_further_request(client, fake):
    first_five = list(itertools.islice(client.iter_transactions(fake.account_ids[0]), 5))
    assert ids(first_five) == booked_ids(fake, fake.account_ids[0])[:5]
    assert fake.calls_to("transactions") == 1


def test_pending_transactions_financial_institutions_and_userinfo(client, fake):
    pending = list(client.iter_pending_transactions(fake.account_ids[0]))
    assert len(pending) == 3 and all(t.account_id == fake.account_ids[0] for t in pending)
    institutions = list(client.iter_financial_institutions())
    assert len(institutions) > 3
    some = institutions[0]
    found = list(client.iter_financial_institutions(name=some.name[2:6].lower(),
                                                    country=some.country))
    assert some in found
    assert all(institution.country == some.country for institution in found)
    assert client.userinfo().sub


# === TOKENS === #


def test_token_expiry_mid_paging_is_survived(client, fake):
    account_id = fake.account_ids[0]
    walk = client.iter_transactions(account_id)
    first_page = list(itertools.islice(walk, 100))
    fake.expire_tokens()
    rest = list(walk)
    assert ids(first_page + rest) == booked_ids(fake, account_id)
    assert fake.calls_to("token") == 2


def test_token_is_renewed_before_the_server_expires_it(sleeps):
    clock = FakeClock()
    with FakePonto(accounts=1, transactions=10, token_lifetime=120, clock=clock) as fake:
        client = make_client(fake, sleeps, clock=clock)
        client.userinfo()
        clock.now += 61  # Inside the renewal margin (60 s), before the server's expiry.
        client.userinfo()
        methods = [(method, endpoint) for method, endpoint, _ in fake.calls]
        assert methods == [("POST", "token"), ("GET", "userinfo")] * 2  # Never refused.


def test_injected_401_renews_the_token_once(client, fake):
    fake.inject("accounts", "401")
    assert ids(client.iter_accounts()) == fake.account_ids
    assert fake.calls_to("token") == 2 and fake.calls_to("accounts") == 2


def test_refused_twice_means_credentials_error(client, fake):
    fake.inject("accounts", "401", count=2)
    with pytest.raises(PontoCredentialsError, match="credentials revoked or invalid"):
        list(client.iter_accounts())


def test_revoked_credentials(client, fake, caplog):
    caplog.set_level(logging.DEBUG)
    client.userinfo()
    revoked_token = client.token()
    fake.revoke_credentials()
    with pytest.raises(PontoCredentialsError) as caught:
        client.userinfo()
    assert caught.value.code == "invalid_client" and caught.value.status == 401
    assert "/oauth2/token -> HTTP 401" in caplog.text
    for secret in (FAKE_CLIENT_SECRET, revoked_token):
        assert secret not in caplog.text and secret not in str(caught.value)


def test_wrong_secret(fake, sleeps):
    client = PontoClient(fake.url, FAKE_CLIENT_ID, "wrong", sleep=sleeps.append)
    with pytest.raises(PontoCredentialsError):
        client.token()
    assert fake.calls_to("token") == 1 and sleeps == []


def test_token_endpoint_faults(client, fake, sleeps):
    fake.inject("token", "503")
    assert client.token()
    assert fake.calls_to("token") == 2 and len(sleeps) == 1
    other = make_client(fake, sleeps)
    fake.inject("token", "401")
    with pytest.raises(PontoCredentialsError):
        other.token()


# === TRANSIENT FAULTS: retried === #


RETRIED_FAULTS = [
    ("429", {"retry_after": 1}),
    ("500", {}),
    ("502", {}),
    ("503", {}),
    ("reset", {}),
    ("truncated", {}),
    ("delay", {"seconds": 1.0}),
]


@pytest.mark.parametrize(("fault", "params"), RETRIED_FAULTS, ids=[f for f, _ in RETRIED_FAULTS])
def test_transient_fault_mid_walk_is_retried(fake, sleeps, fault, params):
    client = make_client(fake, sleeps, timeout=(2, 0.5))
    account_id = fake.account_ids[0]
    fake.inject("transactions", fault, skip=1, **params)
    assert ids(client.iter_transactions(account_id)) == booked_ids(fake, account_id)
    assert fake.calls_to("transactions") == 4  # 3 pages + 1 retry of the second one.
    assert len(sleeps) == 1
    if fault == "429":
        assert sleeps == [1.0]  # Retry-After honoured.


PERSISTENT_FAULTS = [
    ("429", {"retry_after": 2}, PontoRateLimited),
    ("500", {}, PontoServerError),
    ("502", {}, PontoServerError),
    ("503", {}, PontoServerError),
    ("reset", {}, PontoConnectionError),
    ("truncated", {}, PontoConnectionError),
    ("delay", {"seconds": 0.8}, PontoConnectionError),
]


@pytest.mark.parametrize(("fault", "params", "error"), PERSISTENT_FAULTS,
                         ids=[fault for fault, _, _ in PERSISTENT_FAULTS])
def test_persistent_fault_ends_in_a_typed_error(fake, sleeps, fault, params, error):
    client = make_client(fake, sleeps, timeout=(2, 0.3), max_retries=2)
    fake.inject("account", fault, count=None, **params)
    with pytest.raises(error) as caught:
        client.get_account(fake.account_ids[0])
    assert fake.calls_to("account") == 3 and len(sleeps) == 2
    if fault in ("429", "500", "503"):
        assert caught.value.request_id  # From the ibanity-request-id header.
    if fault == "429":
        assert caught.value.retry_after == 2


def test_rate_limit_advice_above_the_cap_is_not_waited(fake, sleeps):
    client = make_client(fake, sleeps, backoff_cap=5)
    fake.inject("accounts", "429", retry_after=60)
    with pytest.raises(PontoRateLimited) as caught:
        list(client.iter_accounts())
    assert caught.value.retry_after == 60 and sleeps == []


def test_fault_on_every_endpoint(client, fake, sleeps):
    fake.inject("*", "503", count=2)
    assert client.userinfo().sub
    assert len(sleeps) == 2


# === BROKEN ANSWERS: not retried === #


def test_malformed_json(client, fake, sleeps):
    fake.inject("transactions", "malformed_json", skip=1)
    with pytest.raises(PontoMalformedResponse) as caught:
        list(client.iter_transactions(fake.account_ids[0]))
    assert caught.value.request_id and caught.value.status == 200
    assert fake.calls_to("transactions") == 2 and sleeps == []


def test_dropped_attribute_is_named(client, fake):
    fake.inject("transactions", "drop_attribute", attribute="amount")
    with pytest.raises(PontoMalformedResponse) as caught:
        list(client.iter_transactions(fake.account_ids[0]))
    assert caught.value.field == "amount"
    assert booked_ids(fake, fake.account_ids[0])[0] in str(caught.value)


def test_dropped_optional_attribute_is_none(client, fake):
    fake.inject("transactions", "drop_attribute", attribute="counterpartName", count=None)
    transactions = list(client.iter_transactions(fake.account_ids[0]))
    assert len(transactions) == TRANSACTIONS
    assert all(t.counterpart_name is None for t in transactions)


# === ACCOUNTS AND CONSENT === #


def test_revoked_account(client, fake):
    revoked = fake.account_ids[1]
    fake.revoke_account(revoked)
    assert revoked not in ids(client.iter_accounts())
    with pytest.raises(PontoNotFound) as caught:
        client.get_account(revoked)
    assert caught.value.code == "resourceNotFound" and caught.value.status == 404
    with pytest.raises(PontoNotFound):
        list(client.iter_transactions(revoked))


def test_expired_consent_ends_the_synchronization_in_an_authorization_error(client, fake):
    account_id = fake.account_ids[0]
    fake.expire_consent(account_id)
    sync = client.create_synchronization(account_id)
    assert sync.status == "pending"
    finished = wait_until_finished(client, sync.id)
    assert finished.status == "error"
    with pytest.raises(PontoAuthorizationError) as caught:
        finished.raise_for_error()
    assert caught.value.code == "authorizationInvalid"
    assert client.get_account(account_id).authorization_expiration_expected_at < datetime.now(UTC)
    assert ids(client.iter_transactions(account_id)) == booked_ids(fake, account_id)  # Readable.


# === SYNCHRONIZATIONS === #


def test_synchronization_lists_updated_transactions(client, fake):
    account_id = fake.account_ids[0]
    changed = booked_ids(fake, account_id)[7]
    fake.update_transaction(account_id, changed, counterpartName="Brasserie Cantillon SRL")
    sync = client.create_synchronization(account_id)
    finished = wait_until_finished(client, sync.id)
    finished.raise_for_error()
    assert finished.status == "success" and finished.updated_transactions_url
    updated = list(client.iter_updated_transactions(sync.id))
    assert ids(updated) == [changed]
    assert updated[0].counterpart_name == "Brasserie Cantillon SRL"


def test_recently_synchronized_window(sleeps):
    with FakePonto(accounts=1, transactions=5, recent_sync_window=3600) as fake:
        client = make_client(fake, sleeps)
        account_id = fake.account_ids[0]
        client.create_synchronization(account_id)
        with pytest.raises(PontoRecentlySynchronized):
            client.create_synchronization(account_id)
        assert client.create_synchronization(account_id, subtype="accountDetails").subtype == (
            "accountDetails"
        )


@pytest.mark.parametrize("fault", ["reset", "503"])
def test_lost_synchronization_answer_is_replayed_with_the_same_key(sleeps, fault):
    """The retry carries the same idempotency key: no second synchronization is created (that
    would hit the recent-synchronization window)."""
    with FakePonto(accounts=1, transactions=5, recent_sync_window=3600) as fake:
        client = make_client(fake, sleeps)
        fake.inject("synchronizations", fault)
        sync = client.create_synchronization(fake.account_ids[0])
        assert sync.status == "pending" and len(sleeps) == 1
        assert fake.calls_to("synchronizations") == 2
        assert client.get_synchronization(sync.id).id == sync.id
