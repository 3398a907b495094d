"""Ponto transaction -> statement line values (DESIGN.md, transaction mapping)."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ponto.mapping import (
    belgian_structured_communication,
    clean_text,
    payment_reference,
    statement_line_values,
    valid_iban,
)
from ponto.records import Transaction

EXAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "ponto" / "examples"


def transaction(**attributes):
    """The spec's example transaction with attributes replaced (None drops them)."""
    path = EXAMPLES_DIR / "spec.transaction_single.json"
    if not path.is_file():
        pytest.fail(f"missing {path}: shared/ponto/examples must sit beside the repository")
    resource = json.loads(path.read_text(), parse_float=Decimal)["data"]
    for key, value in attributes.items():
        if value is None:
            resource["attributes"].pop(key, None)
        else:
            resource["attributes"][key] = value
    return Transaction.from_resource(resource)


def test_spec_example_maps_to_a_statement_line():
    values = statement_line_values(transaction())
    assert values == {
        "ponto_transaction_id": "3e883ad5-9d60-4896-834b-70897a6f2236",
        "date": date(2022, 9, 23),
        "amount": Decimal("-100.0"),
        "currency": "EUR",
        "payment_ref": "BIGGER NEW JACKET",
        "partner_name": None,
        "account_number": "BE23732688626491",
        "transaction_type": "PMNT-IRCT-ESCT",
        "transaction_details": values["transaction_details"],
    }
    details = values["transaction_details"]
    assert details["endToEndId"] == "028c0a165d57481b90f83e65558eaac3"
    assert details["mandateId"] == "234" and details["purposeCode"] == "CASH"
    assert json.loads(json.dumps(details)) == details  # JSON-safe: no Decimal left


@pytest.mark.parametrize(("raw", "expected"), [
    ("+++090/9337/55493+++", "+++090/9337/55493+++"),
    ("090933755493", "+++090/9337/55493+++"),
    ("***090/9337/55493***", "+++090/9337/55493+++"),
    ("090933755494", None),  # wrong check digits
    ("12345", None),
])
def test_belgian_structured_communication(raw, expected):
    assert belgian_structured_communication(raw) == expected


def test_structured_remittance_stays_recognisable():
    line = transaction(remittanceInformation="090933755493", remittanceInformationType="structured")
    assert payment_reference(line) == "+++090/9337/55493+++"


def test_structured_remittance_of_another_scheme_is_kept_raw():
    line = transaction(remittanceInformation="RF18539007547034", remittanceInformationType="structured")
    assert payment_reference(line) == "RF18539007547034"


def test_unstructured_remittance_is_the_label():
    line = transaction(remittanceInformation="Invoice 2024/0042", remittanceInformationType="unstructured")
    assert payment_reference(line) == "Invoice 2024/0042"


def test_description_is_the_fallback_label():
    line = transaction(remittanceInformation=None, remittanceInformationType=None)
    assert payment_reference(line) == "Big Cotton JACKET"


def test_missing_optional_fields_give_empty_values():
    line = transaction(
        remittanceInformation=None, description=None, counterpartReference=None,
        bankTransactionCode=None, proprietaryBankTransactionCode=None, counterpartName=None,
    )
    values = statement_line_values(line)
    assert values["payment_ref"] is None
    assert values["account_number"] is None and values["transaction_type"] is None


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2019-01-01T23:00:00.000Z", date(2019, 1, 2)),  # winter: Brussels midnight is 23:00 UTC
    ("2024-07-01T22:00:00.000Z", date(2024, 7, 2)),  # summer: 22:00 UTC
    ("2024-07-01T00:00:00.000Z", date(2024, 7, 1)),  # UTC midnight stays on its day
    ("2024-07-01T21:59:59.000Z", date(2024, 7, 1)),
])
def test_date_is_the_brussels_calendar_date(stamp, expected):
    assert statement_line_values(transaction(executionDate=stamp))["date"] == expected


def test_value_date_when_execution_date_is_missing():
    line = transaction(executionDate=None, valueDate="2024-03-04T23:00:00.000Z")
    assert statement_line_values(line)["date"] == date(2024, 3, 5)


def test_text_loses_control_characters_and_keeps_unicode():
    assert clean_text("Caf\u00e9 \x00na\u00efve\x07 \u20ac \U0001f600 ") == "Caf\u00e9  na\u00efve  \u20ac \U0001f600"
    assert clean_text("   ") is None


def test_huge_remittance_text_is_kept_whole():
    text = "x" * 20000
    assert payment_reference(transaction(remittanceInformation=text)) == text


@pytest.mark.parametrize(("value", "expected"), [
    ("BE71 0961 2345 6769", "BE71096123456769"),
    ("be71096123456769", "BE71096123456769"),
    ("BE71096123456768", None),
    ("not an iban", None),
    (None, None),
])
def test_valid_iban(value, expected):
    assert valid_iban(value) == expected


def test_details_drop_nul_characters_postgresql_refuses():
    details = statement_line_values(transaction(additionalInformation="a\x00b", endToEndId="\x00"))[
        "transaction_details"]
    assert details["additionalInformation"] == "ab" and details["endToEndId"] == ""
    assert "\x00" not in json.dumps(details)


def test_details_keep_a_written_backslash_u0000():
    details = statement_line_values(transaction(additionalInformation="C:\\u0000"))["transaction_details"]
    assert details["additionalInformation"] == "C:\\u0000"
