"""FakePonto conformance: its documents have the shapes of the API examples (shared/ponto/examples)
and it behaves like the API reference: paging, tokens, synchronizations, faults, realistic data.

Everything goes through plain `requests` against a running server.  The examples folder must sit
next to the repository (../shared/ponto/examples): without it the conformance tests FAIL.
"""

import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from stdnum import iban

from ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / ".." / "shared" / "ponto" / "examples"
TODAY = date(2025, 3, 14)  # a Friday
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
STRUCTURED = re.compile(r"\+\+\+(\d{3})/(\d{4})/(\d{5})\+\+\+")
# Attributes the reference says may be null: an example's value there may come back as null.
NULLABLE = frozenset({
    "additionalInformation", "bankTransactionCode", "before", "cardReference",
    "cardReferenceType", "counterpartName", "counterpartReference", "country", "creditorId",
    "endToEndId", "fee", "holderName", "maintenanceFrom", "maintenanceTo", "maintenanceType",
    "mandateId", "product", "proprietaryBankTransactionCode", "purposeCode",
    "remittanceInformation", "sharedBrandName", "sharedBrandReference",
})


# === HELPERS === #


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Api:
    """`requests` against a fake server, with a bearer token once `authenticate()`d."""

    def __init__(self, fake):
        self.fake = fake
        self.session = requests.Session()

    def authenticate(self):
        token = fetch_token(self.fake).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        return self

    def url(self, path):
        return path if path.startswith("http") else self.fake.url + path

    def get(self, path, **params):
        return self.session.get(self.url(path), params=params, timeout=10)

    def post(self, path, body=None, **kwargs):
        return self.session.post(self.url(path), json=body, timeout=10, **kwargs)

    def delete(self, path):
        return self.session.delete(self.url(path), timeout=10)


def fetch_token(fake, client_id=FAKE_CLIENT_ID, secret=FAKE_CLIENT_SECRET):
    return requests.post(f"{fake.url}/oauth2/token", auth=(client_id, secret),
                         data={"grant_type": "client_credentials"}, timeout=10)


def transactions_path(account_id):
    return f"/accounts/{account_id}/transactions"


def page(limit, **cursor):
    return {"page[limit]": limit, **{f"page[{name}]": value for name, value in cursor.items()}}


def ids(document):
    return [resource["id"] for resource in document["data"]]


def walk(api, url, link="next"):
    """Every page from `url` on, following `link` until it is absent."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1]["links"].get(link)
    return pages


def error_code(response):
    return response.json()["errors"][0]["code"]


def sync_body(account_id, subtype="accountTransactions", ip="127.0.0.1"):
    return {"data": {"type": "synchronization", "attributes": {
        "resourceType": "account", "resourceId": account_id, "subtype": subtype,
        "customerIpAddress": ip}}}


def create_sync(api, account_id, subtype="accountTransactions", key=None):
    headers = {"Ibanity-Idempotency-Key": key} if key else {}
    return api.post("/synchronizations", sync_body(account_id, subtype), headers=headers)


def finish_sync(api, sync_id):
    """GET the synchronization until it is finished; return its last document."""
    for _ in range(10):
        document = api.get(f"/synchronizations/{sync_id}").json()
        if document["data"]["attributes"]["status"] in ("success", "error"):
            return document
    raise AssertionError(f"synchronization {sync_id} never finished")


def run_sync(api, account_id, subtype="accountTransactions"):
    response = create_sync(api, account_id, subtype)
    assert response.status_code == 201, response.text
    return finish_sync(api, response.json()["data"]["id"])


def parse_stamp(text):
    return datetime.fromisoformat(text)


# === FIXTURES === #


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(clock):
    with FakePonto(transactions=60, today=TODAY, clock=clock) as server:
        yield server


@pytest.fixture
def api(fake):
    return Api(fake).authenticate()


@pytest.fixture
def account_id(fake):
    return fake.account_ids[0]


@pytest.fixture(scope="module")
def big_data():
    """A larger data set, read through the control API only (never started)."""
    return FakePonto(transactions=1000, today=TODAY)


# === CONFORMANCE WITH THE EXAMPLES === #


def load_example(name):
    if not EXAMPLES.is_dir():
        pytest.fail(f"The API examples are missing: expected {EXAMPLES.resolve()} (shared/ next "
                    f"to the repository clone). The conformance tests cannot run without them.",
                    pytrace=False)
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def assert_conforms(example, actual, *, differ=()):
    """`actual` has the keys and JSON types of `example`, recursively; keys in `differ` may be
    missing, added or of another type (documented differences between example sources)."""
    problems = list(_shape_problems(example, actual, frozenset(differ), "$"))
    assert not problems, "\n".join(problems)


def _json_type(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    for python_type, name in ((str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, python_type):
            return name
    return "null"


def _shape_problems(example, actual, differ, path):
    key = path.rsplit(".", 1)[-1]
    if example is None or (actual is None and key in NULLABLE):
        return
    if _json_type(example) != _json_type(actual):
        yield f"{path}: expected a {_json_type(example)}, got {actual!r}"
    elif isinstance(example, dict):
        yield from _object_problems(example, actual, differ, path)
    elif isinstance(example, list):
        for index, item in enumerate(actual if example else []):
            yield from _shape_problems(example[0], item, differ, f"{path}[{index}]")
    elif isinstance(example, str):
        yield from _string_problems(example, actual, path)


def _object_problems(example, actual, differ, path):
    missing = set(example) - set(actual) - differ
    added = set(actual) - set(example) - differ
    if missing or added:
        yield f"{path}: missing keys {sorted(missing)}, unexpected keys {sorted(added)}"
    for key in set(example) & set(actual) - differ:
        yield from _shape_problems(example[key], actual[key], differ, f"{path}.{key}")


def _string_problems(example, actual, path):
    if TIMESTAMP.fullmatch(example) and not TIMESTAMP.fullmatch(actual):
        yield f"{path}: {actual!r} is not a timestamp like {example!r}"
    elif UUID.fullmatch(example) and not UUID.fullmatch(actual):
        yield f"{path}: {actual!r} is not a UUID"
    elif example.startswith("http") and ".links." in path:
        yield from _link_problems(example, actual, path)
    elif example.startswith("http") and not actual.startswith("http"):
        yield f"{path}: {actual!r} is not a URL"


def _link_problems(example, actual, path):
    if not actual.startswith("http://127.0.0.1:"):
        yield f"{path}: {actual!r} is not an absolute link to the fake"
    expected_parameters = {name for name, _ in parse_qsl(urlsplit(example).query)}
    if any(name.startswith("page[") for name in expected_parameters):  # the current link style
        actual_parameters = {name for name, _ in parse_qsl(urlsplit(actual).query)}
        if actual_parameters != expected_parameters:
            yield f"{path}: query {sorted(actual_parameters)}, expected {expected_parameters}"


V1_TRANSACTION = {"createdAt", "updatedAt", "customerOnline"}  # v2 additions
SPEC_INSTITUTION_KEYS = set(load_example("spec.financial_institution_single.json")["data"][
    "attributes"]) if EXAMPLES.is_dir() else set()


def _transaction(fake, api):
    account_id = fake.account_ids[0]
    transaction_id = fake.booked(account_id)[0]["id"]
    return api.get(f"{transactions_path(account_id)}/{transaction_id}").json()


def _pending(fake, api):
    account_id = fake.account_ids[0]
    pending_id = api.get(f"/accounts/{account_id}/pending-transactions").json()["data"][0]["id"]
    return api.get(f"/accounts/{account_id}/pending-transactions/{pending_id}").json()


def _synced_with_updates(fake, api, updates=2):
    account_id = fake.account_ids[0]
    for resource in fake.booked(account_id)[:updates]:
        fake.update_transaction(account_id, resource["id"], counterpartName="Nouveau Nom SRL")
    return run_sync(api, account_id)


def _updated_transactions(fake, api):
    sync_id = _synced_with_updates(fake, api)["data"]["id"]
    return api.get(f"/synchronizations/{sync_id}/updated-transactions", **page(1)).json()


def _failed_sync(fake, api):
    fake.expire_consent(fake.account_ids[0])
    return run_sync(api, fake.account_ids[0], "accountDetails")


def _throttled(fake, api):
    with FakePonto(transactions=1, today=TODAY, recent_sync_window=60) as windowed:
        windowed_api = Api(windowed).authenticate()
        create_sync(windowed_api, windowed.account_ids[0])
        return create_sync(windowed_api, windowed.account_ids[0]).json()


def _institution_of_first_account(fake, api):
    related = fake.account(fake.account_ids[0])["relationships"]["financialInstitution"]
    return api.get(f"/financial-institutions/{related['data']['id']}").json()


# example file -> (document builder(fake, api), keys that may differ)
CONFORMANCE = {
    "oca.token_client_credentials.json": (lambda fake, api: fetch_token(fake).json(), ()),
    "spec.accounts_list.json": (lambda fake, api: api.get("/accounts", **page(1)).json(), ()),
    "ibanity-java.accounts_list.json": (lambda fake, api: api.get("/accounts").json(),
                                        {"availability", "customerOnline"}),
    "spec.account_single.json": (
        lambda fake, api: api.get(f"/accounts/{fake.account_ids[0]}").json(), ()),
    "ibanity-java.account_single.json": (
        lambda fake, api: api.get(f"/accounts/{fake.account_ids[0]}").json(),
        {"availability", "customerOnline"}),
    "spec.account_revoke.json": (
        lambda fake, api: api.delete(f"/accounts/{fake.account_ids[1]}").json(), ()),
    "ibanity-java.account_revoke.json": (
        lambda fake, api: api.delete(f"/accounts/{fake.account_ids[1]}").json(), ()),
    "spec.transactions_list.json": (
        lambda fake, api: api.get(transactions_path(fake.account_ids[0]), **page(1)).json(), ()),
    "ibanity-java.transactions_list.json": (
        lambda fake, api: api.get(transactions_path(fake.account_ids[0]), **page(1)).json(),
        V1_TRANSACTION),
    "spec.transaction_single.json": (_transaction, ()),
    "ibanity-java.transaction_single.json": (_transaction, V1_TRANSACTION),
    "ibanity-java.pending_transactions_list.json": (
        lambda fake, api: api.get(f"/accounts/{fake.account_ids[0]}/pending-transactions",
                                  **page(1)).json(), V1_TRANSACTION),
    "ibanity-java.pending_transaction_single.json": (_pending, V1_TRANSACTION),
    "spec.synchronization_created.json": (
        lambda fake, api: create_sync(api, fake.account_ids[0], "accountDetails").json(),
        {"customerOnline"}),
    "ibanity-java.synchronization_pending.json": (
        lambda fake, api: create_sync(api, fake.account_ids[0], "accountDetails").json(),
        {"customerOnline"}),
    "spec.synchronization_success.json": (
        lambda fake, api: run_sync(api, fake.account_ids[0]), {"customerOnline"}),
    "ibanity-java.synchronization_with_updated_transactions_link.json": (
        lambda fake, api: run_sync(api, fake.account_ids[0]), {"customerOnline"}),
    "ibanity-java.xs2a_synchronization_error_authorizationInvalid.json": (
        _failed_sync, {"customerOnline"}),  # a string in that (XS2A) fixture
    "spec.synchronization_updated_transactions.json": (_updated_transactions, ()),
    "ibanity-java.synchronization_updated_transactions.json": (
        lambda fake, api: api.get(
            f"/synchronizations/{_synced_with_updates(fake, api, 1)['data']['id']}"
            f"/updated-transactions").json(), V1_TRANSACTION | {"before", "synchronizedAt"}),
    "spec.financial_institutions_list.json": (
        lambda fake, api: api.get("/financial-institutions", **page(1)).json(), ()),
    "ibanity-java.financial_institutions_list.json": (
        lambda fake, api: api.get("/financial-institutions", **page(10)).json(),
        SPEC_INSTITUTION_KEYS | {"next", "after"}),
    "spec.financial_institution_single.json": (_institution_of_first_account, ()),
    "ibanity-java.financial_institution_single.json": (_institution_of_first_account,
                                                       SPEC_INSTITUTION_KEYS),
    "spec.userinfo.json": (lambda fake, api: api.get("/userinfo").json(), ()),
    "ibanity-java.userinfo.json": (lambda fake, api: api.get("/userinfo").json(), ()),
    "ibanity-elixir.error_invalidAccessToken.json": (
        lambda fake, api: requests.get(f"{fake.url}/accounts", timeout=10).json(), ()),
    "ibanity-elixir.error_resourceNotFound.json": (
        lambda fake, api: api.get(f"/synchronizations/{uuid.uuid4()}").json(), ()),
    "oca.error_accountRecentlySynchronized.json": (_throttled, {"requestId"}),
}
# Examples of what the fake does not serve (request bodies, other flows, webhooks).
NOT_SERVED = {
    "spec.synchronization_create_request.json",  # a request body: see test_sync_body_example
    "spec.reauthorization_request_create_request.json",
    "spec.reauthorization_request_created.json",
    "ibanity-java.token_authorization_code.json",  # the authorization-code flow
    "ibanity-java.synchronization_updated_pending_transactions.json",
    "ibanity-java.webhook_synchronization_succeeded_without_change.json",
}


def test_every_example_is_checked_or_knowingly_skipped():
    load_example("spec.userinfo.json")  # fails clearly when the folder is missing
    on_disk = {path.name for path in EXAMPLES.glob("*.json")}
    assert on_disk == set(CONFORMANCE) | NOT_SERVED


@pytest.mark.parametrize("example_name", sorted(CONFORMANCE))
def test_document_has_the_shape_of_the_example(fake, api, example_name):
    example = load_example(example_name)
    build, differ = CONFORMANCE[example_name]
    assert_conforms(example, build(fake, api), differ=differ)


def test_sync_body_example_is_accepted(api, account_id):
    body = load_example("spec.synchronization_create_request.json")
    body["data"]["attributes"]["resourceId"] = account_id
    assert api.post("/synchronizations", body).status_code == 201


def test_transaction_attributes_are_exactly_those_of_the_v2_example(fake, api, account_id):
    expected = set(load_example("spec.transaction_single.json")["data"]["attributes"])
    for resource in api.get(transactions_path(account_id), **page(100)).json()["data"]:
        assert set(resource["attributes"]) == expected


def test_conformance_check_catches_a_missing_key_and_a_wrong_type():
    example = {"data": {"amount": 1.5, "id": "3e883ad5-9d60-4896-834b-70897a6f2236"}}
    with pytest.raises(AssertionError, match="missing keys"):
        assert_conforms(example, {"data": {"id": "3e883ad5-9d60-4896-834b-70897a6f2236"}})
    with pytest.raises(AssertionError, match="expected a number"):
        assert_conforms(example, {"data": {"amount": "1.5", "id": str(uuid.uuid4())}})


# === PAGING (API.md §5) === #


def test_default_page_holds_10_newest_first(api, fake, account_id):
    document = api.get(transactions_path(account_id)).json()
    assert ids(document) == [r["id"] for r in fake.booked(account_id)[:10]]
    assert document["meta"]["paging"]["limit"] == 10


@pytest.mark.parametrize("limit", [0, 101, -1, "ten", ""])
def test_page_limit_out_of_range_is_a_validation_error(api, account_id, limit):
    response = api.get(transactions_path(account_id), **{"page[limit]": limit})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["meta"]["attribute"]) == ("validationError", "page[limit]")


@pytest.mark.parametrize("limit", [1, 100])
def test_page_limit_bounds_are_accepted(api, account_id, limit):
    document = api.get(transactions_path(account_id), **page(limit)).json()
    assert len(document["data"]) == min(limit, 60)


def test_next_links_walk_every_transaction_once_newest_first(api, fake, account_id):
    pages = walk(api, f"{fake.url}{transactions_path(account_id)}?page[limit]=7")
    walked = [resource for document in pages for resource in document["data"]]
    assert [r["id"] for r in walked] == [r["id"] for r in fake.booked(account_id)]
    assert len({r["id"] for r in walked}) == len(walked) == 60
    dates = [r["attributes"]["executionDate"] for r in walked]
    assert dates == sorted(dates, reverse=True)
    assert all("next" in document["links"] for document in pages[:-1])
    assert "next" not in pages[-1]["links"] and "after" not in pages[-1]["meta"]["paging"]
    assert [len(document["data"]) for document in pages] == [7] * 8 + [4]


def test_links_are_absolute_and_first_is_always_there(api, fake, account_id):
    last = walk(api, f"{fake.url}{transactions_path(account_id)}?page[limit]=50")[-1]
    assert last["links"]["first"] == f"{fake.url}{transactions_path(account_id)}?page[limit]=50"


def test_next_link_and_paging_meta_name_the_last_item(api, fake, account_id):
    document = api.get(transactions_path(account_id), **page(5)).json()
    last = ids(document)[-1]
    assert document["links"]["next"] == (
        f"{fake.url}{transactions_path(account_id)}?page[after]={last}&page[limit]=5")
    assert document["meta"]["paging"] == {"after": last, "before": None, "limit": 5}


def test_old_style_after_and_limit_give_the_same_page(api, fake, account_id):
    booked = [r["id"] for r in fake.booked(account_id)]
    new_style = api.get(transactions_path(account_id), **page(5, after=booked[9])).json()
    old_style = api.get(transactions_path(account_id), after=booked[9], limit=5).json()
    assert ids(new_style) == ids(old_style) == booked[10:15]


def test_before_gives_the_newer_items_and_prev_walks_up_to_the_newest(api, fake, account_id):
    booked = [r["id"] for r in fake.booked(account_id)]
    url = f"{fake.url}{transactions_path(account_id)}?page[before]={booked[32]}&page[limit]=5"
    pages = walk(api, url, link="prev")
    assert ids(pages[0]) == booked[27:32]
    assert pages[0]["meta"]["paging"]["before"] == booked[27]
    assert [i for document in reversed(pages) for i in ids(document)] == booked[:32]
    assert "prev" not in pages[-1]["links"] and pages[-1]["meta"]["paging"]["before"] is None


def test_plain_pages_have_no_prev_link(api, account_id):
    assert "prev" not in api.get(transactions_path(account_id)).json()["links"]


def test_before_the_newest_item_is_an_empty_page(api, fake, account_id):
    newest = fake.booked(account_id)[0]["id"]
    document = api.get(transactions_path(account_id), **page(5, before=newest)).json()
    assert document["data"] == []
    assert set(document["links"]) == {"first"}


def test_after_the_oldest_item_is_an_empty_last_page(api, fake, account_id):
    oldest = fake.booked(account_id)[-1]["id"]
    document = api.get(transactions_path(account_id), **page(5, after=oldest)).json()
    assert document["data"] == [] and "next" not in document["links"]


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_unknown_cursor_is_a_400(api, account_id, cursor):
    response = api.get(transactions_path(account_id), **page(5, **{cursor: str(uuid.uuid4())}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["meta"]["attribute"] == f"page[{cursor}]"


def test_after_and_before_together_is_a_400(api, fake, account_id):
    booked = [r["id"] for r in fake.booked(account_id)]
    response = api.get(transactions_path(account_id), **page(5, after=booked[1], before=booked[9]))
    assert response.status_code == 400


def test_an_empty_account_has_only_a_first_link(clock):
    with FakePonto(transactions=0, today=TODAY, clock=clock) as empty:
        document = Api(empty).authenticate().get(transactions_path(empty.account_ids[0])).json()
    assert document["data"] == [] and set(document["links"]) == {"first"}


def test_accounts_list_is_paged_and_omits_before(api, fake):
    first = api.get("/accounts", **page(2)).json()
    second = api.get(first["links"]["next"]).json()
    assert ids(first) + ids(second) == fake.account_ids
    assert "next" not in second["links"] and "before" not in first["meta"]["paging"]


def test_institutions_fill_more_than_the_default_page(api):
    pages = walk(api, api.url("/financial-institutions"))
    assert [len(document["data"]) for document in pages] == [10, 2]


def test_institutions_filter_by_name_and_country_and_links_keep_the_filters(api, fake):
    by_name = api.get("/financial-institutions", **{"filter[name][contains]": "ing"}).json()
    assert {r["attributes"]["name"] for r in by_name["data"]} == {"ING Belgium",
                                                                  "ING Bank Nederland"}
    by_country = api.get("/financial-institutions",
                         **{"filter[country][eq]": "NL", "page[limit]": 1}).json()
    walked = walk(api, by_country["links"]["first"])
    assert [r["attributes"]["country"] for d in walked for r in d["data"]] == ["NL"] * 3
    assert "filter[country][eq]=NL" in by_country["links"]["next"]


def test_institution_single_and_unknown(api):
    first = api.get("/financial-institutions").json()["data"][0]
    assert api.get(f"/financial-institutions/{first['id']}").json()["data"] == first
    missing = api.get(f"/financial-institutions/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["meta"]["resource"] == "financialInstitution"


# === TOKENS AND CREDENTIALS (API.md §3) === #


def test_token_has_the_configured_lifetime_and_opens_the_api(fake):
    response = fetch_token(fake)
    assert response.status_code == 200
    assert response.json()["expires_in"] == 1799 and response.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert requests.get(f"{fake.url}/accounts", headers=headers, timeout=10).status_code == 200


def test_token_expires_after_its_lifetime(clock):
    with FakePonto(transactions=5, today=TODAY, clock=clock, token_lifetime=100) as fake:
        api = Api(fake).authenticate()
        clock.advance(99.9)
        assert api.get("/accounts").status_code == 200
        clock.advance(0.1)
        expired = api.get("/accounts")
    assert expired.status_code == 401 and error_code(expired) == "invalidAccessToken"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic Zm9vOmJhcg==",
                                           "Bearer"])
@pytest.mark.parametrize("path", ["/accounts", "/userinfo", "/financial-institutions",
                                  "/synchronizations/x"])
def test_resource_endpoints_need_a_valid_bearer_token(fake, authorization, path):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(fake.url + path, headers=headers, timeout=10)
    assert response.status_code == 401 and error_code(response) == "invalidAccessToken"


@pytest.mark.parametrize("client_id, secret", [(FAKE_CLIENT_ID, "wrong"),
                                               (str(uuid.uuid4()), FAKE_CLIENT_SECRET),
                                               ("", "")])
def test_bad_client_credentials_get_an_oauth_401(fake, client_id, secret):
    response = fetch_token(fake, client_id, secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client" and response.json()["error_description"]


def test_token_without_basic_auth_is_refused(fake):
    response = requests.post(f"{fake.url}/oauth2/token", data={"grant_type": "client_credentials"},
                             timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_grant_type_may_come_in_the_query_string(fake):
    response = requests.post(f"{fake.url}/oauth2/token?grant_type=client_credentials",
                             auth=(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET), timeout=10)
    assert response.status_code == 200 and response.json()["access_token"]


@pytest.mark.parametrize("data, error", [({}, "invalid_request"),
                                         ({"grant_type": "password"}, "unsupported_grant_type")])
def test_missing_or_unsupported_grant_type_is_a_400(fake, data, error):
    response = requests.post(f"{fake.url}/oauth2/token", data=data,
                             auth=(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET), timeout=10)
    assert response.status_code == 400 and response.json()["error"] == error


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.api+json"])
def test_both_accept_types_are_served(api, accept):
    response = api.session.get(api.url("/accounts"), headers={"Accept": accept}, timeout=10)
    assert response.status_code == 200 and response.json()["data"]


def test_expire_tokens_invalidates_every_issued_token(fake, api):
    fake.expire_tokens()
    assert api.get("/accounts").status_code == 401
    assert api.authenticate().get("/accounts").status_code == 200


def test_revoked_credentials_then_new_ones(fake, api):
    fake.revoke_credentials()
    assert api.get("/accounts").status_code == 401
    assert fetch_token(fake).status_code == 401
    fake.set_credentials("b5a4e1a0-7c6f-4d3e-8f21-0a9b8c7d6e5f", "new-secret")
    assert fetch_token(fake).status_code == 401
    renewed = fetch_token(fake, "b5a4e1a0-7c6f-4d3e-8f21-0a9b8c7d6e5f", "new-secret")
    assert renewed.status_code == 200


def test_every_response_has_a_request_id_that_errors_repeat(fake, api):
    for response in (api.get("/accounts"), api.get(f"/accounts/{uuid.uuid4()}"),
                     requests.get(f"{fake.url}/accounts", timeout=10)):
        request_id = response.headers["ibanity-request-id"]
        assert len(request_id) == 43
        if response.status_code >= 400:
            assert response.json()["errors"][0]["meta"]["requestId"] == request_id


def test_root_lists_the_api_links_without_a_token(fake):
    links = requests.get(f"{fake.url}/", timeout=10).json()["links"]
    assert links["accounts"] == f"{fake.url}/accounts/{{accountId}}"
    assert links["oauth2"]["token"] == f"{fake.url}/oauth2/token"


def test_unknown_route_is_a_404(api):
    response = api.get("/payments")
    assert response.status_code == 404 and error_code(response) == "resourceNotFound"


def test_userinfo_is_plain_json(api):
    response = api.get("/userinfo")
    assert response.headers["Content-Type"].startswith("application/json")
    assert "data" not in response.json() and UUID.fullmatch(response.json()["sub"])


# === ACCOUNTS, TRANSACTIONS === #


def test_revoking_an_account_by_delete_hides_it(api, fake):
    revoked = fake.account_ids[1]
    assert api.delete(f"/accounts/{revoked}").json() == {"data": {"id": revoked,
                                                                 "type": "account"}}
    assert revoked not in ids(api.get("/accounts").json())
    for path in (f"/accounts/{revoked}", transactions_path(revoked)):
        response = api.get(path)
        assert response.status_code == 404 and error_code(response) == "resourceNotFound"
    assert create_sync(api, revoked).status_code == 404


def test_revoke_account_control_gives_404(api, fake):
    fake.revoke_account(fake.account_ids[2])
    response = api.get(f"/accounts/{fake.account_ids[2]}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["meta"]["resource"] == "account"
    assert fake.account_ids[2] in fake.account_ids  # positions stay


def test_unknown_transaction_is_a_404(api, account_id):
    response = api.get(f"{transactions_path(account_id)}/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["meta"]["resource"] == "transaction"


def test_single_transaction_equals_its_list_item(api, account_id):
    listed = api.get(transactions_path(account_id)).json()["data"][3]
    single = api.get(f"{transactions_path(account_id)}/{listed['id']}").json()["data"]
    assert single == listed


def test_pending_transactions_are_recent_and_typed_pending(api, account_id):
    document = api.get(f"/accounts/{account_id}/pending-transactions").json()
    assert len(document["data"]) == 3
    assert {r["type"] for r in document["data"]} == {"pendingTransaction"}
    newest = max(r["attributes"]["executionDate"] for r in document["data"])
    assert newest[:10] >= (TODAY - timedelta(days=4)).isoformat()


def test_other_accounts_have_no_pending_transactions(api, fake):
    document = api.get(f"/accounts/{fake.account_ids[1]}/pending-transactions").json()
    assert document["data"] == []


# === SYNCHRONIZATIONS (API.md §4.5, §4.6) === #


def test_sync_goes_pending_then_running_then_success(api, account_id):
    created = create_sync(api, account_id)
    assert created.status_code == 201
    data = created.json()["data"]
    assert (data["attributes"]["status"], data["attributes"]["errors"]) == ("pending", [])
    url = f"/synchronizations/{data['id']}"
    statuses = [api.get(url).json()["data"]["attributes"]["status"] for _ in range(3)]
    assert statuses == ["running", "success", "success"]
    related = api.get(url).json()["data"]["relationships"]["updatedTransactions"]["links"]
    assert related["related"] == f"{api.fake.url}{url}/updated-transactions"


def test_sync_steps_1_finishes_on_the_first_get(clock):
    with FakePonto(transactions=5, today=TODAY, clock=clock, sync_steps=1) as fake:
        api = Api(fake).authenticate()
        sync_id = create_sync(api, fake.account_ids[0]).json()["data"]["id"]
        status = api.get(f"/synchronizations/{sync_id}").json()["data"]["attributes"]["status"]
    assert status == "success"


def test_account_details_sync_has_no_updated_transactions_link(api, account_id):
    document = run_sync(api, account_id, "accountDetails")
    assert "relationships" not in document["data"]


def test_finished_sync_becomes_the_account_latest_synchronization(api, account_id):
    document = run_sync(api, account_id)
    meta = api.get(f"/accounts/{account_id}").json()["data"]["meta"]
    assert meta["latestSynchronization"]["id"] == document["data"]["id"]
    assert meta["synchronizedAt"] == document["data"]["attributes"]["updatedAt"]
    listed = api.get(transactions_path(account_id)).json()["meta"]["latestSynchronization"]
    assert listed["id"] == document["data"]["id"]


def _body_without(attribute):
    body = sync_body("x")
    del body["data"]["attributes"][attribute]
    return body


@pytest.mark.parametrize("body, attribute", [
    ("not json", "data"),
    ({"data": {}}, "data"),
    ({"data": {"type": "account", "attributes": {}}}, "type"),
    (_body_without("resourceType"), "resourceType"),
    (_body_without("resourceId"), "resourceId"),
    (sync_body("x", subtype="everything"), "subtype"),
    (_body_without("customerIpAddress"), "customerIpAddress"),
    (sync_body("x", ip="localhost"), "customerIpAddress"),
])
def test_invalid_sync_bodies_get_a_400_naming_the_attribute(api, body, attribute):
    if isinstance(body, str):
        response = api.session.post(api.url("/synchronizations"), data=body, timeout=10)
    else:
        response = api.post("/synchronizations", body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["meta"]["attribute"]) == ("validationError", attribute)


def test_sync_of_an_unknown_account_is_a_404(api):
    assert create_sync(api, str(uuid.uuid4())).status_code == 404


def test_unknown_sync_is_a_404(api):
    response = api.get(f"/synchronizations/{uuid.uuid4()}/updated-transactions")
    assert response.status_code == 404
    assert response.json()["errors"][0]["meta"]["resource"] == "synchronization"


def test_recently_synchronized_window(clock):
    with FakePonto(transactions=5, today=TODAY, clock=clock, recent_sync_window=60) as fake:
        api = Api(fake).authenticate()
        first, second = fake.account_ids[:2]
        assert create_sync(api, first).status_code == 201
        throttled = create_sync(api, first)
        assert create_sync(api, first, "accountDetails").status_code == 201
        assert create_sync(api, second).status_code == 201
        clock.advance(59.9)
        assert create_sync(api, first).status_code == 400
        clock.advance(0.1)
        assert create_sync(api, first).status_code == 201
    assert throttled.status_code == 400
    assert error_code(throttled) == "accountRecentlySynchronized"


def test_without_a_window_syncs_are_never_throttled(api, account_id):
    assert [create_sync(api, account_id).status_code for _ in range(3)] == [201] * 3


def test_idempotency_key_replays_the_first_result(api, account_id):
    key = str(uuid.uuid4())
    first = create_sync(api, account_id, key=key)
    replay = create_sync(api, account_id, key=key)
    other = create_sync(api, account_id, key=str(uuid.uuid4()))
    assert replay.status_code == first.status_code == 201
    assert replay.json()["data"] == first.json()["data"]
    assert other.json()["data"]["id"] != first.json()["data"]["id"]


def test_idempotent_replay_wins_over_the_recent_window(clock):
    with FakePonto(transactions=5, today=TODAY, clock=clock, recent_sync_window=600) as fake:
        api = Api(fake).authenticate()
        first = create_sync(api, fake.account_ids[0], key="k-1")
        replay = create_sync(api, fake.account_ids[0], key="k-1")
        fresh = create_sync(api, fake.account_ids[0], key="k-2")
    assert replay.json()["data"]["id"] == first.json()["data"]["id"]
    assert fresh.status_code == 400


def test_expired_consent_fails_syncs_but_not_reads(api, fake, account_id):
    fake.expire_consent(account_id)
    account = api.get(f"/accounts/{account_id}").json()["data"]
    expires = parse_stamp(account["attributes"]["authorizationExpirationExpectedAt"])
    assert expires < datetime.now(UTC)
    assert api.get(transactions_path(account_id)).status_code == 200
    document = run_sync(api, account_id)
    attributes = document["data"]["attributes"]
    assert attributes["status"] == "error" and "relationships" not in document["data"]
    assert [error["code"] for error in attributes["errors"]] == ["authorizationInvalid"]
    latest = api.get(f"/accounts/{account_id}").json()["data"]["meta"]["latestSynchronization"]
    assert latest["attributes"]["status"] == "error"


def test_updated_transactions_list_changes_since_the_previous_sync(api, fake, account_id):
    target = fake.booked(account_id)[5]
    fake.update_transaction(account_id, target["id"], counterpartName="Nouveau Nom SRL",
                            remittanceInformation="Facture 2025/0042 corrigée")
    changed = api.get(f"{transactions_path(account_id)}/{target['id']}").json()["data"]
    assert changed["attributes"]["counterpartName"] == "Nouveau Nom SRL"
    assert changed["attributes"]["updatedAt"] > target["attributes"]["updatedAt"]
    assert ids(api.get(transactions_path(account_id)).json())[5] == target["id"]  # same place
    first_sync = run_sync(api, account_id)["data"]["id"]
    updated = api.get(f"/synchronizations/{first_sync}/updated-transactions").json()
    assert updated["data"] == [changed]
    second_sync = run_sync(api, account_id)["data"]["id"]
    assert api.get(f"/synchronizations/{second_sync}/updated-transactions").json()["data"] == []


def test_an_unfinished_or_details_sync_lists_no_updates(api, fake, account_id):
    fake.update_transaction(account_id, fake.booked(account_id)[0]["id"], purposeCode="CASH")
    pending = create_sync(api, account_id).json()["data"]["id"]
    details = run_sync(api, account_id, "accountDetails")["data"]["id"]
    for sync_id in (pending, details):
        assert api.get(f"/synchronizations/{sync_id}/updated-transactions").json()["data"] == []


# === CONTROL API: CHANGES WHILE RUNNING === #


def test_added_transactions_come_first_and_move_the_balance(api, fake, account_id):
    before = Decimal(str(api.get(f"/accounts/{account_id}").json()["data"]["attributes"][
        "currentBalance"]))
    added = fake.add_transactions(account_id, n=3, amount="10.05")
    document = api.get(transactions_path(account_id)).json()
    assert ids(document)[:3] == added[::-1]
    assert {r["attributes"]["executionDate"] for r in document["data"][:3]} == {
        f"{TODAY.isoformat()}T00:00:00.000Z"}
    account = api.get(f"/accounts/{account_id}").json()["data"]["attributes"]
    assert Decimal(str(account["currentBalance"])) == before + Decimal("30.15")
    assert len(fake.booked(account_id)) == 63


def test_adding_during_a_walk_neither_skips_nor_repeats(api, fake, account_id):
    original = [r["id"] for r in fake.booked(account_id)]
    first = api.get(transactions_path(account_id), **page(10)).json()
    fake.add_transactions(account_id, n=2)
    rest = walk(api, first["links"]["next"])
    assert ids(first) + [i for document in rest for i in ids(document)] == original


def test_a_back_dated_transaction_lands_at_its_date(fake, account_id):
    (late,) = fake.add_transactions(account_id, executionDate=TODAY - timedelta(days=200))
    booked = fake.booked(account_id)
    position = [r["id"] for r in booked].index(late)
    assert 0 < position < len(booked) - 1
    dates = [r["attributes"]["executionDate"] for r in booked]
    assert dates == sorted(dates, reverse=True)


def test_date_overrides_follow_the_bank_date_style(fake):
    savings = fake.account_ids[1]
    (added,) = fake.add_transactions(savings, executionDate=date(2025, 7, 1))
    resource = next(r for r in fake.booked(savings) if r["id"] == added)
    assert resource["attributes"]["executionDate"] == "2025-06-30T22:00:00.000Z"


def test_overrides_must_be_api_attribute_names(fake, account_id):
    with pytest.raises(ValueError, match="unknown transaction attributes"):
        fake.add_transactions(account_id, amout="1.00")
    with pytest.raises(KeyError):
        fake.update_transaction(account_id, str(uuid.uuid4()), amount="1.00")


def test_update_amount_moves_the_balance(fake, account_id):
    target = fake.booked(account_id)[0]
    balance = fake.account(account_id)["attributes"]["currentBalance"]
    fake.update_transaction(account_id, target["id"],
                            amount=target["attributes"]["amount"] + Decimal("1.00"))
    assert fake.account(account_id)["attributes"]["currentBalance"] == balance + Decimal("1.00")


def test_concurrent_readers_and_writers(fake, account_id):
    def read_everything():
        api = Api(fake).authenticate()
        pages = walk(api, f"{fake.url}{transactions_path(account_id)}?page[limit]=9")
        return [i for document in pages for i in ids(document)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        readers = [pool.submit(read_everything) for _ in range(6)]
        for _ in range(20):
            fake.add_transactions(account_id)
        walks = [reader.result(timeout=30) for reader in readers]
    assert all(len(set(walked)) == len(walked) >= 60 for walked in walks)
    assert len(fake.booked(account_id)) == 80


# === FAULTS === #


def test_429_carries_retry_after_then_the_api_answers_again(api, fake):
    fake.inject("accounts", "429", retry_after=7)
    limited = api.get("/accounts")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["errors"][0]["meta"]["requestId"]
    assert api.get("/accounts").status_code == 200


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_error_faults(api, fake, status):
    fake.inject("userinfo", status)
    assert api.get("/userinfo").status_code == int(status)
    assert api.get("/userinfo").status_code == 200


def test_502_is_an_html_page_like_a_gateway_sends(api, fake):
    fake.inject("accounts", "502")
    response = api.get("/accounts")
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


def test_401_fault_on_a_resource_and_on_the_token(api, fake):
    fake.inject("accounts", "401")
    fake.inject("token", "401")
    assert error_code(api.get("/accounts")) == "invalidAccessToken"
    assert fetch_token(fake).json()["error"] == "invalid_client"
    assert fetch_token(fake).status_code == 200


def test_skip_lets_matching_calls_through_first(api, fake, account_id):
    fake.inject("transactions", "500", skip=2)
    statuses = [api.get(transactions_path(account_id)).status_code for _ in range(4)]
    assert statuses == [200, 200, 500, 200]


def test_count_and_forever(api, fake):
    fake.inject("accounts", "503", count=2)
    assert [api.get("/accounts").status_code for _ in range(3)] == [503, 503, 200]
    fake.inject("accounts", "503", count=None)
    assert [api.get("/accounts").status_code for _ in range(4)] == [503] * 4
    fake.clear_faults()
    assert api.get("/accounts").status_code == 200


def test_star_matches_any_endpoint(api, fake):
    fake.inject("*", "500", count=2)
    assert fetch_token(fake).status_code == 500
    assert api.get("/userinfo").status_code == 500
    assert api.get("/userinfo").status_code == 200


def test_delay_answers_normally_after_the_delay(api, fake):
    fake.inject("accounts", "delay", seconds=0.3)
    started = time.perf_counter()
    response = api.get("/accounts")
    assert time.perf_counter() - started >= 0.3 and response.status_code == 200


def test_delay_does_not_block_other_requests(api, fake):
    fake.inject("accounts", "delay", seconds=1.0)
    slow = threading.Thread(target=lambda: Api(fake).authenticate().get("/accounts"))
    slow.start()
    time.sleep(0.05)
    started = time.perf_counter()
    assert api.get("/userinfo").status_code == 200
    assert time.perf_counter() - started < 0.5
    slow.join()


def test_malformed_json_is_a_200_that_does_not_parse(api, fake):
    fake.inject("accounts", "malformed_json")
    response = api.get("/accounts")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_truncated_body_is_shorter_than_its_content_length(api, fake, account_id):
    """urllib3 >= 2 raises; urllib3 1.26 (Odoo's pin) hands over the short body silently, so a
    client must compare the body with Content-Length itself."""
    fake.inject("transactions", "truncated")
    try:
        response = api.get(transactions_path(account_id))
    except requests.exceptions.ChunkedEncodingError:
        pass
    else:
        assert len(response.content) < int(response.headers["Content-Length"])
        with pytest.raises(ValueError):
            response.json()
    assert api.get(transactions_path(account_id)).status_code == 200


def test_reset_closes_without_an_answer(api, fake):
    fake.inject("accounts", "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/accounts")
    assert api.get("/accounts").status_code == 200


def test_drop_attribute_removes_it_from_every_item(api, fake, account_id):
    fake.inject("transactions", "drop_attribute", attribute="amount")
    listed = api.get(transactions_path(account_id)).json()["data"]
    assert listed and all("amount" not in r["attributes"] for r in listed)
    assert all("amount" in r["attributes"] for r in fake.booked(account_id))  # truth untouched
    fake.inject("account", "drop_attribute", attribute="currency")
    assert "currency" not in api.get(f"/accounts/{account_id}").json()["data"]["attributes"]
    fake.inject("token", "drop_attribute", attribute="expires_in")
    assert set(fetch_token(fake).json()) == {"access_token", "scope", "token_type"}


def test_a_lost_sync_answer_is_replayed_by_its_idempotency_key(clock):
    with FakePonto(transactions=5, today=TODAY, clock=clock, recent_sync_window=600) as fake:
        api = Api(fake).authenticate()
        fake.inject("synchronizations", "reset")
        with pytest.raises(requests.exceptions.ConnectionError):
            create_sync(api, fake.account_ids[0], key="lost-answer")
        retried = create_sync(api, fake.account_ids[0], key="lost-answer")
        another = create_sync(api, fake.account_ids[0], key="another-key")
    assert retried.status_code == 201  # the sync the lost answer created
    assert error_code(another) == "accountRecentlySynchronized"  # it was created once


@pytest.mark.parametrize("args, params", [
    (("nowhere", "500"), {}),
    (("accounts", "418"), {}),
    (("accounts", "drop_attribute"), {}),
    (("accounts", "500"), {"seconds": 1}),
    (("accounts", "500"), {"count": 0}),
])
def test_inject_rejects_what_it_does_not_know(fake, args, params):
    with pytest.raises(ValueError):
        fake.inject(*args, **params)


def test_calls_are_recorded_with_endpoint_names_and_raw_paths(api, fake, account_id):
    fake.reset_calls()
    fake.inject("accounts", "500")
    api.get("/accounts", **page(1))
    api.get(f"{fake.url}{transactions_path(account_id)}?page[limit]=2")
    create_sync(api, account_id)
    assert fake.calls == [  # requests quotes the brackets, even of a link followed as given
        ("GET", "accounts", "/accounts?page%5Blimit%5D=1"),
        ("GET", "transactions", f"{transactions_path(account_id)}?page%5Blimit%5D=2"),
        ("POST", "synchronizations", "/synchronizations"),
    ]
    assert fake.calls_to("accounts") == 1 and fake.calls_to("token") == 0
    fake.reset_calls()
    assert fake.calls == []


# === DATA REALISM AND DETERMINISM === #


def test_account_references_are_valid_belgian_ibans(big_data):
    for account_id in big_data.account_ids:
        reference = big_data.account(account_id)["attributes"]["reference"]
        assert reference.startswith("BE") and iban.is_valid(reference), reference


def test_counterpart_references_are_valid_ibans(big_data):
    references = {r["attributes"]["counterpartReference"] for account_id in big_data.account_ids
                  for r in big_data.booked(account_id)} - {None}
    assert len(references) > 20
    assert {reference[:2] for reference in references} >= {"BE", "NL", "FR", "DE"}
    assert all(iban.is_valid(reference) for reference in references)


def test_structured_communications_are_valid_and_about_30_percent(big_data):
    attributes = [r["attributes"] for r in big_data.booked(big_data.account_ids[0])]
    structured = [a["remittanceInformation"] for a in attributes
                  if a["remittanceInformationType"] == "structured"]
    assert 0.22 < len(structured) / len(attributes) < 0.38
    for communication in structured:
        digits = "".join(STRUCTURED.fullmatch(communication).groups())
        assert int(digits[-2:]) == (int(digits[:10]) % 97 or 97)


def test_accounts_are_checking_savings_and_one_in_dollars(big_data):
    accounts = [big_data.account(i)["attributes"] for i in big_data.account_ids]
    assert [(a["subtype"], a["currency"]) for a in accounts] == [
        ("checking", "EUR"), ("savings", "EUR"), ("checking", "USD")]
    usd = big_data.booked(big_data.account_ids[2])
    assert {r["attributes"]["currency"] for r in usd} == {"USD"}
    assert any(r["attributes"]["fee"] is not None for r in usd)


def test_first_account_gets_n_transactions_and_the_others_half(big_data):
    counts = [len(big_data.booked(account_id)) for account_id in big_data.account_ids]
    assert counts == [1000, 500, 500]


def test_more_accounts_are_eur_checking_accounts():
    fake = FakePonto(accounts=5, transactions=4, today=TODAY)
    extra = [fake.account(i)["attributes"] for i in fake.account_ids[3:]]
    assert [(a["subtype"], a["currency"]) for a in extra] == [("checking", "EUR")] * 2


def test_current_balance_is_opening_plus_booked_amounts(api, fake):
    for account_id in fake.account_ids:
        attributes = api.get(f"/accounts/{account_id}").json()["data"]["attributes"]
        booked = sum(r["attributes"]["amount"] for r in fake.booked(account_id))
        expected = fake.opening_balance(account_id) + booked
        assert Decimal(str(attributes["currentBalance"])) == expected
        newest = fake.booked(account_id)[0]["attributes"]["executionDate"]
        assert attributes["currentBalanceReferenceDate"] == newest


def test_amounts_are_json_numbers_with_at_most_two_decimals(api, fake, account_id):
    response = api.get(transactions_path(account_id), **page(100))
    amounts = re.findall(r'"amount":(-?[0-9.eE+]+)[,}]', response.text)
    assert len(amounts) == 60 and all(re.fullmatch(r"-?\d+\.\d{1,2}", a) for a in amounts)
    parsed = json.loads(response.text, parse_float=Decimal)["data"]
    assert [r["attributes"]["amount"] for r in parsed] == [
        r["attributes"]["amount"] for r in fake.booked(account_id)]


def test_credits_and_debits_and_some_nulls(big_data):
    attributes = [r["attributes"] for r in big_data.booked(big_data.account_ids[0])]
    assert any(a["amount"] > 0 for a in attributes) and any(a["amount"] < 0 for a in attributes)
    for name in ("counterpartName", "counterpartReference", "endToEndId", "cardReference",
                 "mandateId", "purposeCode"):
        values = [a[name] for a in attributes]
        assert None in values and any(v is not None for v in values), name


def test_bank_dates_fall_on_business_days_in_the_range(big_data):
    start = TODAY - timedelta(days=365)
    for resource in big_data.booked(big_data.account_ids[0]):
        day = date.fromisoformat(resource["attributes"]["executionDate"][:10])
        assert start <= day <= TODAY and day.weekday() < 5
        assert resource["attributes"]["executionDate"].endswith("T00:00:00.000Z")


def test_savings_dates_are_brussels_midnight_in_utc(big_data):
    brussels = ZoneInfo("Europe/Brussels")
    stamps = {r["attributes"]["executionDate"] for r in big_data.booked(big_data.account_ids[1])}
    assert {stamp[11:] for stamp in stamps} == {"22:00:00.000Z", "23:00:00.000Z"}  # DST aware
    for stamp in stamps:
        local = parse_stamp(stamp).astimezone(brussels)
        assert (local.hour, local.minute) == (0, 0) and local.weekday() < 5


def test_consent_was_given_ten_days_ago_for_180_days(big_data):
    attributes = big_data.account(big_data.account_ids[0])["attributes"]
    authorized = parse_stamp(attributes["authorizedAt"])
    expires = parse_stamp(attributes["authorizationExpirationExpectedAt"])
    assert expires - authorized == timedelta(days=180)
    assert timedelta(days=10) <= datetime(2025, 3, 14, 6, tzinfo=UTC) - authorized < timedelta(
        days=11)


def test_same_seed_and_day_give_identical_data():
    first, second = (FakePonto(transactions=200, seed=7, today=TODAY) for _ in range(2))
    for account_id in first.account_ids:
        assert json.dumps(first.booked(account_id), default=str) == json.dumps(
            second.booked(account_id), default=str)
        assert first.account(account_id) == second.account(account_id)


def test_another_seed_gives_other_data():
    first = FakePonto(transactions=20, seed=1, today=TODAY)
    second = FakePonto(transactions=20, seed=2, today=TODAY)
    assert first.account_ids != second.account_ids


def test_ids_are_uuid4_shaped(big_data):
    assert all(UUID.fullmatch(account_id) for account_id in big_data.account_ids)
    assert all(UUID.fullmatch(r["id"]) for r in big_data.booked(big_data.account_ids[0]))


def test_generating_10000_transactions_takes_well_under_a_second():
    started = time.perf_counter()
    fake = FakePonto(transactions=10_000, today=TODAY)
    elapsed = time.perf_counter() - started
    assert len(fake.booked(fake.account_ids[0])) == 10_000
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_pulling_10000_transactions_through_the_pages_is_quick():
    with FakePonto(accounts=1, transactions=10_000, today=TODAY) as fake:
        api = Api(fake).authenticate()
        started = time.perf_counter()
        pages = walk(api, f"{fake.url}{transactions_path(fake.account_ids[0])}?page[limit]=100")
        elapsed = time.perf_counter() - started
    assert sum(len(document["data"]) for document in pages) == 10_000 and len(pages) == 100
    assert elapsed < 5, f"{elapsed:.2f} s"


# === LIFECYCLE AND COMMAND LINE === #


def test_stop_closes_keep_alive_connections_and_the_port():
    fake = FakePonto(transactions=5, today=TODAY).start()
    api = Api(fake).authenticate()
    assert api.get("/accounts").status_code == 200  # the session keeps this connection open
    url = fake.url
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        api.session.get(f"{url}/accounts", timeout=5)
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_url_needs_a_started_server():
    with pytest.raises(RuntimeError):
        _ = FakePonto(transactions=1, today=TODAY).url


def test_only_loopback_addresses_are_served():
    with pytest.raises(ValueError, match="loopback"):
        FakePonto(transactions=1, host="0.0.0.0")


def test_port_0_picks_a_free_port_per_server():
    with FakePonto(transactions=1) as one, FakePonto(transactions=1) as two:
        assert one.url != two.url and one.url.startswith("http://127.0.0.1:")


def test_command_line_serves_and_appends_until_terminated():
    command = [sys.executable, "-m", "ponto.fake_server", "--port", "0", "--transactions", "20",
               "--append-every", "0.2"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group()
        session = requests.Session()
        token = requests.post(f"{url}/oauth2/token", auth=(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET),
                              data={"grant_type": "client_credentials"}, timeout=10)
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        account = session.get(f"{url}/accounts", timeout=10).json()["data"][0]["id"]
        time.sleep(0.7)
        listed = session.get(f"{url}/accounts/{account}/transactions?page[limit]=100", timeout=10)
        assert len(listed.json()["data"]) > 20
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and "Stopped." in output
