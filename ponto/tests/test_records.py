"""Parsing of Ponto resources, on the payloads of /work/shared/ponto/examples."""

import copy
import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ponto.errors import PontoAuthorizationError, PontoError, PontoMalformedResponse
from ponto.records import Account, Institution, Synchronization, Transaction, UserInfo

# CI clones the repository next to shared/, so the examples sit beside the repository.
EXAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "ponto" / "examples"


def load(name):
    path = EXAMPLES_DIR / name
    if not path.is_file():
        pytest.fail(
            f"Ponto example {path} is missing: the tests expect the shared/ folder (with "
            "ponto/examples) beside the repository checkout."
        )
    return json.loads(path.read_text(), parse_float=Decimal)


def transaction_resource(**attributes):
    """The spec's transaction with some attributes replaced (None removes it)."""
    resource = copy.deepcopy(load("spec.transaction_single.json")["data"])
    for key, value in attributes.items():
        if value is None:
            resource["attributes"].pop(key, None)
        else:
            resource["attributes"][key] = value
    return resource


def test_examples_folder_is_there():
    assert EXAMPLES_DIR.is_dir(), f"missing {EXAMPLES_DIR}"


# === ACCOUNTS === #


def test_account_from_spec_example():
    account = Account.from_resource(load("spec.account_single.json")["data"])
    assert account.id == "0df6d359-a2fb-4f41-bc4c-3c824d8a1a03"
    assert account.reference == account.iban == "BE07626550616261"
    assert account.reference_type == "IBAN"
    assert account.currency == "EUR"
    assert account.subtype == "checking"
    assert account.current_balance == account.available_balance == Decimal("-527.34")
    assert isinstance(account.current_balance, Decimal)
    assert account.current_balance_reference_date == datetime(2022, 9, 23, tzinfo=UTC)
    assert account.authorized_at == datetime(2022, 9, 26, 13, 2, 18, 103000, tzinfo=UTC)
    assert account.authorization_expiration_expected_at.tzinfo is not None
    assert account.holder_name is None and account.product is None
    assert account.deprecated is False
    assert account.availability == "available"
    assert account.synchronized_at == datetime(2022, 9, 26, 13, 12, 40, 926000, tzinfo=UTC)
    assert account.financial_institution_id == "9251e765-bfbe-48b0-a082-3b043c386131"
    assert account.latest_synchronization.subtype == "accountDetails"
    assert account.latest_synchronization.customer_online is True
    assert account.attributes["internalReference"] == "c6283304-6c87-49c7-9f67-4b7d8ee71eb8"


def test_account_from_older_example_without_availability():
    account = Account.from_resource(load("ibanity-java.account_single.json")["data"])
    assert account.holder_name == "Malvina Dibbert"
    assert account.product == "Current account"
    assert account.availability == "available"
    assert account.current_balance == Decimal("6386.04")
    assert account.latest_synchronization.status == "success"


@pytest.mark.parametrize("name", ["spec.accounts_list.json", "ibanity-java.accounts_list.json"])
def test_account_lists_parse(name):
    accounts = [Account.from_resource(resource) for resource in load(name)["data"]]
    assert accounts and all(account.iban for account in accounts)


@pytest.mark.parametrize(("reference_type", "reference", "iban"), [
    ("IBAN", " be07 6265 5061 6261 ", "BE07626550616261"),
    ("iban", "BE07626550616261", "BE07626550616261"),
    ("BBAN", "626-5506162-61", None),
    (None, "BE07626550616261", None),
])
def test_account_iban_is_normalised_reference_of_iban_accounts(reference_type, reference, iban):
    resource = load("spec.account_single.json")["data"]
    resource["attributes"].update(referenceType=reference_type, reference=reference)
    assert Account.from_resource(resource).iban == iban


def test_account_readonly_and_deprecated():
    resource = load("spec.account_single.json")["data"]
    resource["meta"]["availability"] = "readonly"
    resource["attributes"]["deprecated"] = True
    account = Account.from_resource(resource)
    assert (account.availability, account.deprecated) == ("readonly", True)


def test_account_reference_may_be_empty():
    resource = load("spec.account_single.json")["data"]
    resource["attributes"]["reference"] = ""
    assert Account.from_resource(resource).reference == ""


# === TRANSACTIONS === #


def test_transaction_from_spec_example():
    transaction = Transaction.from_resource(load("spec.transaction_single.json")["data"])
    assert transaction.id == "3e883ad5-9d60-4896-834b-70897a6f2236"
    assert transaction.account_id == "0df6d359-a2fb-4f41-bc4c-3c824d8a1a03"
    assert transaction.amount == Decimal("-100.0") and isinstance(transaction.amount, Decimal)
    assert transaction.currency == "EUR"
    assert transaction.execution_date == transaction.value_date == datetime(2022, 9, 23, tzinfo=UTC)
    assert transaction.booking_date() == date(2022, 9, 23)
    assert transaction.remittance_information == "BIGGER NEW JACKET"
    assert transaction.remittance_information_type == "unstructured"
    assert transaction.counterpart_name is None
    assert transaction.counterpart_reference == "BE23732688626491"
    assert transaction.bank_transaction_code == "PMNT-IRCT-ESCT"
    assert transaction.fee is None and transaction.card_reference is None
    assert transaction.created_at == datetime(2022, 9, 26, 13, 12, 51, 546000, tzinfo=UTC)
    assert transaction.updated_at == datetime(2022, 9, 26, 13, 13, 3, 72000, tzinfo=UTC)
    assert transaction.attributes["digest"] == transaction.digest


def test_transaction_amounts_are_exact_decimals():
    transaction = Transaction.from_resource(load("ibanity-java.transaction_single.json")["data"])
    assert transaction.amount == Decimal("2.76")
    assert transaction.fee == Decimal("3.14")
    assert Transaction.from_resource(transaction_resource(amount=100)).amount == Decimal(100)
    # A float (JSON decoded without parse_float) keeps its shortest repr, not binary noise.
    assert Transaction.from_resource(transaction_resource(amount=0.1)).amount == Decimal("0.1")


@pytest.mark.parametrize("name", [
    "spec.transactions_list.json",
    "ibanity-java.transactions_list.json",
    "ibanity-java.pending_transactions_list.json",
    "spec.synchronization_updated_transactions.json",
    "ibanity-java.synchronization_updated_transactions.json",
    "ibanity-java.synchronization_updated_pending_transactions.json",
])
def test_transaction_lists_parse(name):
    transactions = [Transaction.from_resource(resource) for resource in load(name)["data"]]
    assert transactions
    assert all(transaction.execution_date.tzinfo is UTC for transaction in transactions)


def test_pending_transaction_parses():
    transaction = Transaction.from_resource(
        load("ibanity-java.pending_transaction_single.json")["data"]
    )
    assert transaction.booking_date() == date(2020, 6, 20)
    assert transaction.value_date == datetime(2020, 6, 19, tzinfo=UTC)


@pytest.mark.parametrize(("execution_date", "brussels_date"), [
    ("2019-01-01T23:00:00.000Z", date(2019, 1, 2)),  # winter: UTC+1, local midnight
    ("2019-01-01T22:59:59.999Z", date(2019, 1, 1)),
    ("2019-07-01T22:00:00.000Z", date(2019, 7, 2)),  # summer: UTC+2, local midnight
    ("2019-07-01T21:59:59.000Z", date(2019, 7, 1)),
    ("2019-01-01T22:00:00.000Z", date(2019, 1, 1)),  # 23:00 in Brussels in winter
    ("2022-09-23T00:00:00.000Z", date(2022, 9, 23)),
    ("2022-09-23T00:00:00Z", date(2022, 9, 23)),
    ("2022-09-23T00:00:00.000+02:00", date(2022, 9, 23)),
])
def test_booking_date_is_taken_in_brussels(execution_date, brussels_date):
    transaction = Transaction.from_resource(transaction_resource(executionDate=execution_date))
    assert transaction.booking_date() == brussels_date


def test_booking_date_in_another_zone_and_value_date_fallback():
    transaction = Transaction.from_resource(
        transaction_resource(executionDate=None, valueDate="2019-01-01T23:00:00.000Z")
    )
    assert transaction.execution_date is None
    assert transaction.booking_date() == date(2019, 1, 2)
    assert transaction.booking_date(tz="UTC") == date(2019, 1, 1)


def test_optional_attributes_missing_become_none():
    transaction = Transaction.from_resource(
        transaction_resource(fee=None, counterpartName=None, digest=None, createdAt=None)
    )
    assert (transaction.fee, transaction.counterpart_name, transaction.digest) == (None,) * 3
    assert transaction.created_at is None


def test_numbers_in_text_attributes_become_text():
    transaction = Transaction.from_resource(transaction_resource(mandateId=486))
    assert transaction.mandate_id == "486"


# === MALFORMED RESOURCES === #


@pytest.mark.parametrize(("attributes", "field"), [
    ({"amount": None}, "amount"),
    ({"amount": "12.50"}, "amount"),
    ({"amount": True}, "amount"),
    ({"currency": None}, "currency"),
    ({"currency": ""}, "currency"),
    ({"currency": 978}, "currency"),
    ({"executionDate": None, "valueDate": None}, "executionDate"),
    ({"executionDate": "yesterday"}, "executionDate"),
    ({"valueDate": 20220923}, "valueDate"),
    ({"fee": "free"}, "fee"),
    ({"description": ["a", "list"]}, "description"),
])
def test_transaction_with_bad_attribute_names_it(attributes, field):
    with pytest.raises(PontoMalformedResponse) as caught:
        Transaction.from_resource(transaction_resource(**attributes))
    assert caught.value.field == field
    assert f"'{field}'" in str(caught.value)
    assert "3e883ad5-9d60-4896-834b-70897a6f2236" in str(caught.value)


@pytest.mark.parametrize(("remove", "field"), [
    ("currentBalance", "currentBalance"),
    ("currency", "currency"),
    ("reference", "reference"),
])
def test_account_without_required_attribute_names_it(remove, field):
    resource = load("spec.account_single.json")["data"]
    del resource["attributes"][remove]
    with pytest.raises(PontoMalformedResponse, match=field) as caught:
        Account.from_resource(resource)
    assert caught.value.field == field
    assert "0df6d359-a2fb-4f41-bc4c-3c824d8a1a03" in str(caught.value)


def test_account_with_ill_typed_balance():
    resource = load("spec.account_single.json")["data"]
    resource["attributes"]["currentBalance"] = "-527.34"
    with pytest.raises(PontoMalformedResponse) as caught:
        Account.from_resource(resource)
    assert caught.value.field == "currentBalance"


@pytest.mark.parametrize(("resource", "field"), [
    ("not a resource", "data"),
    ({"type": "transaction", "attributes": {}}, "id"),
    ({"type": "transaction", "id": "x"}, "attributes"),
    ({"type": "transaction", "id": "x", "attributes": []}, "attributes"),
])
def test_resource_of_wrong_shape(resource, field):
    with pytest.raises(PontoMalformedResponse) as caught:
        Transaction.from_resource(resource)
    assert caught.value.field == field


# === SYNCHRONIZATIONS === #


def test_synchronization_success():
    sync = Synchronization.from_resource(load("spec.synchronization_success.json")["data"])
    assert sync.status == "success" and sync.is_finished
    assert sync.subtype == "accountTransactions"
    assert sync.resource_type == "account"
    assert sync.resource_id == "0df6d359-a2fb-4f41-bc4c-3c824d8a1a03"
    assert sync.errors == ()
    assert sync.updated_transactions_url == (
        "https://api.development.myponto.net/synchronizations/"
        "9b549e54-f3ea-4cfa-88b3-216c43228cfa/updated-transactions"
    )
    assert sync.created_at == datetime(2022, 9, 26, 13, 13, 2, 867000, tzinfo=UTC)
    sync.raise_for_error()  # Does nothing.


@pytest.mark.parametrize("name", [
    "spec.synchronization_created.json",
    "ibanity-java.synchronization_pending.json",
    "ibanity-java.synchronization_with_updated_transactions_link.json",
])
def test_pending_synchronization_is_not_finished(name):
    sync = Synchronization.from_resource(load(name)["data"])
    assert sync.status == "pending" and not sync.is_finished
    sync.raise_for_error()


def test_synchronization_error_authorization_invalid():
    sync = Synchronization.from_resource(
        load("ibanity-java.xs2a_synchronization_error_authorizationInvalid.json")["data"]
    )
    assert sync.is_finished
    assert sync.customer_online is True  # Sent as the string "true".
    assert [issue.code for issue in sync.errors] == ["authorizationInvalid"]
    with pytest.raises(PontoAuthorizationError) as caught:
        sync.raise_for_error()
    assert caught.value.code == "authorizationInvalid"
    assert "reauthorize" in str(caught.value)


def test_synchronization_other_error_is_a_plain_ponto_error():
    resource = load("ibanity-java.xs2a_synchronization_error_authorizationInvalid.json")["data"]
    resource["attributes"]["errors"] = [
        {"code": "bankUnavailable", "detail": "The bank did not answer."},
        {"code": "other", "detail": None},
    ]
    with pytest.raises(PontoError) as caught:
        Synchronization.from_resource(resource).raise_for_error()
    assert type(caught.value) is PontoError
    assert caught.value.code == "bankUnavailable"
    assert str(caught.value) == "The bank did not answer.; other (code bankUnavailable)"


def test_synchronization_without_status_or_with_bad_errors():
    resource = load("spec.synchronization_created.json")["data"]
    del resource["attributes"]["status"]
    with pytest.raises(PontoMalformedResponse) as caught:
        Synchronization.from_resource(resource)
    assert caught.value.field == "status"
    resource["attributes"].update(status="error", errors="boom")
    with pytest.raises(PontoMalformedResponse) as caught:
        Synchronization.from_resource(resource)
    assert caught.value.field == "errors"


# === INSTITUTIONS AND USER INFO === #


def test_institution_from_spec_example():
    institution = Institution.from_resource(load("spec.financial_institution_single.json")["data"])
    assert (institution.name, institution.bic, institution.country) == (
        "Super Sandbox Bank", "NBBEBEBB203", "BE"
    )
    assert institution.status == "stable" and institution.deprecated is False
    assert institution.maintenance_type is None and institution.maintenance_from is None
    assert institution.logo_url.endswith("sandbox.svg")


@pytest.mark.parametrize("name", [
    "spec.financial_institutions_list.json", "ibanity-java.financial_institutions_list.json",
])
def test_institution_lists_parse(name):
    institutions = [Institution.from_resource(resource) for resource in load(name)["data"]]
    assert institutions and all(institution.name for institution in institutions)


def test_minimal_institution_and_missing_name():
    resource = load("ibanity-java.financial_institution_single.json")["data"]
    institution = Institution.from_resource(resource)
    assert (institution.name, institution.deprecated, institution.bic) == ("Fake Bank", True, None)
    del resource["attributes"]["name"]
    with pytest.raises(PontoMalformedResponse) as caught:
        Institution.from_resource(resource)
    assert caught.value.field == "name"


@pytest.mark.parametrize("name", ["spec.userinfo.json", "ibanity-java.userinfo.json"])
def test_userinfo(name):
    payload = load(name)
    info = UserInfo.from_json(payload)
    assert info.sub == payload["sub"] and info.name == payload["name"]
    assert info.onboarding_complete is True and info.payments_activated is True


def test_userinfo_without_sub():
    with pytest.raises(PontoMalformedResponse) as caught:
        UserInfo.from_json({"name": "Transcof"})
    assert caught.value.field == "sub"


# === RECORD BEHAVIOUR === #


def test_records_are_frozen_and_compare_without_raw_attributes():
    resource = load("spec.transaction_single.json")["data"]
    transaction = Transaction.from_resource(resource)
    with pytest.raises(dataclasses.FrozenInstanceError):
        transaction.amount = Decimal(0)
    copy_with_other_raw = dataclasses.replace(transaction, attributes={})
    assert copy_with_other_raw == transaction
    assert hash(copy_with_other_raw) == hash(transaction)
    assert "attributes" not in repr(transaction)
