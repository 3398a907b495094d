"""Turn a Ponto transaction into the plain values of one bank statement line.

No Odoo here: the values use Ponto's currency codes and `Decimal` amounts; the Odoo side converts
them to records and floats at the ORM boundary.
"""

import json
import re
from decimal import Decimal

# stdnum.iban loads a data file through importlib.resources, which Odoo 19's import hook breaks on
# Python 3.11 ("Can't open orphan path"); its checksum module needs no data file.
from stdnum.iso7064 import mod_97_10

from .const import BRUSSELS_TZ

_NON_DIGITS = re.compile(r"\D")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Attributes already mapped to a column of their own; the others go to the raw details.
_DETAIL_ATTRIBUTES = (
    "endToEndId", "bankTransactionCode", "proprietaryBankTransactionCode", "purposeCode",
    "mandateId", "creditorId", "fee", "additionalInformation", "internalReference",
    "cardReference", "cardReferenceType", "digest", "valueDate", "executionDate",
    "createdAt", "updatedAt", "remittanceInformation", "remittanceInformationType",
    "description", "counterpartName", "counterpartReference", "currency", "amount",
)


def clean_text(value):
    """Text safe for PostgreSQL (no NUL or other control characters), stripped; None stays None."""
    if value is None:
        return None
    return _CONTROL_CHARACTERS.sub(" ", str(value)).strip() or None


def belgian_structured_communication(value):
    """'+++123/4567/89012+++' when `value` holds the 12 digits of a valid Belgian OGM/VCS, else None.

    The check digits are the first ten digits modulo 97 (97 when that is 0).
    """
    digits = _NON_DIGITS.sub("", value or "")
    if len(digits) != 12:
        return None
    check = int(digits[:10]) % 97 or 97
    if check != int(digits[10:]):
        return None
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def payment_reference(transaction):
    """The statement line label: the structured communication (kept recognisable), else the
    unstructured remittance information, else the bank's description."""
    remittance = clean_text(transaction.remittance_information)
    if remittance and transaction.remittance_information_type == "structured":
        return belgian_structured_communication(remittance) or remittance
    return remittance or clean_text(transaction.description) or clean_text(transaction.counterpart_name)


def valid_iban(value):
    """The IBAN without spaces, upper case, when its ISO 7064 check digits hold; else None."""
    compact = re.sub(r"\s", "", value or "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", compact):
        return None
    rearranged = compact[4:] + compact[:4]
    as_digits = "".join(str(int(char, 36)) for char in rearranged)
    return compact if mod_97_10.is_valid(as_digits) else None


def normalise_account_number(value):
    """An IBAN-like reference without spaces, upper case; None when empty."""
    value = clean_text(value)
    return value.replace(" ", "").upper() if value else None


def transaction_details(transaction):
    """The raw Ponto attributes worth keeping with the line, JSON-safe (amounts as strings) and
    storable (PostgreSQL's jsonb refuses the NUL character, so it is dropped)."""
    attributes = transaction.attributes or {}
    details = {key: attributes.get(key) for key in _DETAIL_ATTRIBUTES if attributes.get(key) is not None}
    details["id"] = transaction.id
    return _without_nul(json.loads(json.dumps(details, default=str)))


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def statement_line_values(transaction, tz=BRUSSELS_TZ):
    """Plain values of the statement line for `transaction` (see DESIGN.md, transaction mapping)."""
    return {
        "ponto_transaction_id": transaction.id,
        "date": transaction.booking_date(tz),
        "amount": Decimal(transaction.amount),
        "currency": transaction.currency,
        "payment_ref": payment_reference(transaction),
        "partner_name": clean_text(transaction.counterpart_name),
        "account_number": normalise_account_number(transaction.counterpart_reference),
        "transaction_type": clean_text(
            transaction.bank_transaction_code or transaction.proprietary_bank_transaction_code
        ),
        "transaction_details": transaction_details(transaction),
    }
