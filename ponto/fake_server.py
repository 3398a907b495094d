"""A faithful fake of the Ponto API, for tests, demos and benchmarks.

`FakePonto` is a real threaded HTTP server (stdlib `http.server`) on 127.0.0.1 that behaves like
the API reference (shared/ponto/API.md): OAuth2 client-credentials tokens, JSON:API documents with
cursor paging, synchronizations that go pending -> running -> success | error, and faults injected
on demand.  It imports neither Odoo nor anything outside the standard library and python-stdnum.

In a test::

    from ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto

    with FakePonto(accounts=3, transactions=500, seed=42) as fake:
        client = PontoClient(fake.url, FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        fake.inject("transactions", "503", skip=2)  # the third transactions call fails, once
        new_ids = fake.add_transactions(fake.account_ids[0], n=5, amount="12.50")
        truth = fake.booked(fake.account_ids[0])   # JSON:API resources, newest first
        assert fake.calls_to("transactions") == 4

From a shell, in the repository root (so that `ponto` is a top-level package)::

    python -m ponto.fake_server --port 8765 --accounts 3 --transactions 500 --append-every 60

The truth to compare a client with: `account(id)` and `booked(id)` (JSON:API resources, Decimal
amounts, newest first), `opening_balance(id)`, `calls`.  Tests pass `today=` to pin the data and
`clock=` (a monotonic clock they move) to expire tokens or leave the recent-synchronization window.

Data, deterministic from `seed` and `today` (same arguments -> byte-identical documents, except
what happens at run time: tokens, request ids, synchronizations, added or updated transactions):

- account 1: "Compte courant", checking, EUR, BNP Paribas Fortis, `transactions` transactions and
  3 pending card payments;
- account 2: "Spaarrekening", savings, EUR, Belfius, `transactions // 2`; this bank reports bank
  dates as Brussels midnight in UTC ("2024-03-04T23:00:00.000Z" means 5 March, API.md §7);
- account 3: "USD account", checking, USD, KBC, `transactions // 2`, some with a fee;
- accounts 4+: more EUR checking accounts, `transactions // 2` each.
Transactions fall on business days in [start_date, end_date]; currentBalance is the opening balance
(`opening_balance()`) plus the sum of the booked amounts; bank dates are "YYYY-MM-DDT00:00:00.000Z"
except on the savings account; the consent was given 10 days before `today` for 180 days.

Faults (`inject`): "429", "500", "502" (an HTML page, as a gateway sends), "503" and "401" answer
instead of the API: the request is not processed.  "delay", "malformed_json", "truncated", "reset"
and "drop_attribute" sabotage the answer of a request that WAS processed (a synchronization is
created even though its response is lost: what the idempotency key is for).  Note that urllib3
1.26 (Odoo's pin) hands a "truncated" body over without error: only Content-Length tells.

Where the reference is silent, this fake decides (keep these easy to change):
- paging: `meta.paging.after` is the last item's id when `links.next` exists; `before` is the
  first item's id when `links.prev` exists, null otherwise (always present on transaction lists,
  only on `before` requests elsewhere); an unknown cursor gives 400 resourceNotFound; asking for
  both `page[after]` and `page[before]` gives 400;
- validation errors are 400 with code "validationError" and `meta.attribute`; a 429 uses the
  invented code "tooManyRequests" with a Retry-After header;
- POST /synchronizations requires `customerIpAddress` (v2); an unknown account gives 404; the same
  Ibanity-Idempotency-Key replays the first answer, whatever its status;
- a synchronization finishes on its `sync_steps`-th GET (earlier GETs see "running"); it ends in
  error with authorizationInvalid only after `expire_consent()` (never because of the clock, so a
  past `today` still syncs); transaction syncs list, in updated-transactions, the transactions
  changed by `update_transaction()` since the previous successful transaction sync;
- pending transactions are static (3 on account 1), whatever the synchronization subtype.
"""

import argparse
import bisect
import contextlib
import hmac
import ipaddress
import itertools
import json
import logging
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from base64 import b64decode
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

# Not stdnum.iban: it loads a data file that Odoo 19's import hook hides on Python 3.11, and this
# server also runs inside Odoo's tests. Its ISO 7064 checksum module needs no data file.
from stdnum.iso7064 import mod_97_10

from .const import (
    AUTHORIZATION_INVALID_CODE,
    BRUSSELS_TZ,
    IDEMPOTENCY_HEADER,
    NOT_FOUND_CODE,
    PAGE_LIMIT,
    RECENTLY_SYNCHRONIZED_CODE,
    REQUEST_ID_HEADER,
)

FAKE_CLIENT_ID = "5b0e3f7c-2a41-4d8e-9c6f-1e2d3c4b5a69"
FAKE_CLIENT_SECRET = "fake-ponto-client-secret"

DEFAULT_PAGE_LIMIT = 10
ENDPOINTS = frozenset({
    "token", "accounts", "account", "transactions", "transaction", "pending_transactions",
    "pending_transaction", "synchronizations", "synchronization", "updated_transactions",
    "financial_institutions", "financial_institution", "userinfo", "root", "unknown", "*",
})
# Each fault with the parameters it takes and their defaults.
FAULTS = {
    "429": {"retry_after": 1}, "500": {}, "502": {}, "503": {}, "401": {},
    "delay": {"seconds": 1.0}, "malformed_json": {}, "truncated": {}, "reset": {},
    "drop_attribute": {"attribute": None},
}
# Faults answered instead of the API: the request is not processed.
_REFUSALS = frozenset({"429", "500", "502", "503", "401"})
SYNC_SUBTYPES = ("accountDetails", "accountTransactions", "accountTransactionsWithUnsettled")
_TRANSACTION_SYNC_SUBTYPES = frozenset(SYNC_SUBTYPES[1:])
TRANSACTION_ATTRIBUTES = (
    "additionalInformation", "amount", "bankTransactionCode", "cardReference", "cardReferenceType",
    "counterpartName", "counterpartReference", "createdAt", "creditorId", "currency", "description",
    "digest", "endToEndId", "executionDate", "fee", "internalReference", "mandateId",
    "proprietaryBankTransactionCode", "purposeCode", "remittanceInformation",
    "remittanceInformationType", "updatedAt", "valueDate",
)
JSON_API = "application/vnd.api+json"
PLAIN_JSON = "application/json"

_logger = logging.getLogger(__name__)
_BRUSSELS = ZoneInfo(BRUSSELS_TZ)
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre")

# === FORMATS === #


def _stamp(moment):
    """A timestamp as Ponto writes it: UTC, milliseconds, "Z"."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


@lru_cache(maxsize=4096)
def _bank_date(day, brussels_midnight):
    """A bank date: UTC midnight, or (some banks) Brussels midnight expressed in UTC."""
    if not brussels_midnight:
        return f"{day.isoformat()}T00:00:00.000Z"
    midnight = datetime(day.year, day.month, day.day, tzinfo=_BRUSSELS)
    return _stamp(midnight)


def _money(value):
    """An amount as a Decimal with 2 places (accepts Decimal, int, str or float)."""
    return Decimal(str(value)).quantize(_CENT)


def _cents(cents):
    return Decimal(cents).scaleb(-2)


class _MoneyEncoder(json.JSONEncoder):
    """Writes Decimals as JSON numbers: 2-place amounts come out as -100.0 or 84.42."""

    def default(self, o):
        if isinstance(o, Decimal):
            # The shortest repr of the nearest float is the decimal text itself (up to 15 digits).
            return float(o)
        return super().default(o)


def _dumps(payload):
    text = json.dumps(payload, cls=_MoneyEncoder, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return text.encode("utf-8")


def _request_id():
    return secrets.token_hex(22)[:43].upper()


# === DETERMINISTIC IDENTIFIERS === #


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid(rng):
    """A random (version 4) UUID drawn from `rng`; what uuid.UUID(int=..., version=4) gives."""
    text = f"{rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _iban(country, bban):
    as_digits = "".join(str(int(char, 36)) for char in bban + country)
    return country + mod_97_10.calc_check_digits(as_digits) + bban


def _belgian_iban(rng, bank_code):
    national = f"{bank_code}{rng.randrange(10 ** 7):07d}"
    return _iban("BE", f"{national}{int(national) % 97 or 97:02d}")


def _dutch_iban(rng, bank_code):
    return _iban("NL", f"{bank_code}{rng.randrange(10 ** 10):010d}")


def _german_iban(rng, bank_code):
    return _iban("DE", f"{bank_code}{rng.randrange(10 ** 10):010d}")


def _french_iban(rng, bank_code):
    """A French IBAN: bank, branch, account and the RIB key that checks them."""
    branch, account = rng.randrange(10 ** 5), rng.randrange(10 ** 11)
    key = 97 - (89 * int(bank_code) + 15 * branch + 3 * account) % 97
    return _iban("FR", f"{bank_code}{branch:05d}{account:011d}{key:02d}")


_FOREIGN_IBAN_MAKERS = {
    "NL": partial(_dutch_iban, bank_code="INGB"),
    "FR": partial(_french_iban, bank_code="30004"),
    "DE": partial(_german_iban, bank_code="10070000"),
}


def _structured_communication(rng):
    """A Belgian structured communication "+++ddd/dddd/ddddd+++" (10 digits + mod 97)."""
    base = rng.randrange(1, 10 ** 10)
    digits = f"{base:010d}{base % 97 or 97:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def _creditor_id(rng):
    """A Belgian SEPA creditor identifier built on an enterprise number."""
    first = f"0{rng.randrange(2 * 10 ** 6, 10 ** 7):07d}"
    enterprise = f"{first}{97 - int(first) % 97:02d}"
    return f"BE{mod_97_10.calc_check_digits(enterprise + 'BE')}ZZZ{enterprise}"


# === DEMO DATA: banks, counterparties, kinds of transaction, accounts === #

class _Bank(NamedTuple):
    name: str
    bic: str
    country: str | None  # None: an international bank
    colour: str
    iban_code: str | None  # the Belgian bank code of the IBANs of its accounts


_INSTITUTIONS = tuple(_Bank(*row) for row in (
    ("BNP Paribas Fortis", "GEBABEBB", "BE", "#00965E", "001"),
    ("Belfius Bank", "GKCCBEBB", "BE", "#C30045", "068"),
    ("KBC Bank", "KREDBEBB", "BE", "#00AEEF", "734"),
    ("ING Belgium", "BBRUBEBB", "BE", "#FF6200", "363"),
    ("Argenta", "ARSPBE22", "BE", "#8DB72E", "973"),
    ("ING Bank Nederland", "INGBNL2A", "NL", "#FF6200", None),
    ("ABN AMRO", "ABNANL2A", "NL", "#009286", None),
    ("Rabobank", "RABONL2U", "NL", "#000099", None),
    ("BNP Paribas", "BNPAFRPP", "FR", "#00915A", None),
    ("Crédit Agricole", "AGRIFRPP", "FR", "#006A4E", None),
    ("Deutsche Bank", "DEUTDEFF", "DE", "#0018A8", None),
    ("Wise", "TRWIBEB1", None, "#9FE870", "967"),
))
_BELGIAN_BANK_CODES = tuple(bank.iban_code for bank in _INSTITUTIONS if bank.country == "BE")
_HOLDER = "Ponto Demo BV"

_COUNTERPARTIES = {
    "customers": (
        ("Boulangerie Dupont SRL", "BE"), ("Janssens & Peeters BV", "BE"),
        ("Atelier Lambert SRL", "BE"), ("Maes Logistics NV", "BE"),
        ("Van den Broeck Bouw BV", "BE"), ("Cabinet Dubois SRL", "BE"),
        ("Hendrickx Consulting BV", "BE"), ("Mertens & Zonen NV", "BE"),
        ("Garage Willems BV", "BE"), ("Pharmacie Leclercq", "BE"),
        ("Van Dijk Trading B.V.", "NL"), ("Société Martin SARL", "FR"),
        ("Müller Maschinenbau GmbH", "DE"),
    ),
    "suppliers": (
        ("Bureau Comptable Leroy SRL", "BE"), ("Imprimerie Lefèvre SA", "BE"),
        ("Office Depot Belgium", "BE"), ("Transports Renard SA", "BE"),
        ("Drukkerij Vanden Berghe", "BE"), ("Electro Peeters BV", "BE"),
        ("SD Worx People Solutions", "BE"), ("Makro Cash & Carry Belgium", "BE"),
    ),
    "utilities": (
        ("Engie Electrabel", "BE"), ("Telenet BV", "BE"), ("Proximus SA", "BE"),
        ("Ethias SA", "BE"), ("AG Insurance", "BE"), ("Vivaqua", "BE"), ("Securex", "BE"),
    ),
    "merchants": (
        ("COLRUYT HALLE", None), ("DELHAIZE BRUXELLES", None), ("TOTALENERGIES WAVRE", None),
        ("SNCB/NMBS BRUXELLES-MIDI", None), ("IKEA ZAVENTEM", None), ("AMAZON EU SARL", None),
        ("CARREFOUR EVERE", None), ("Q8 MECHELEN", None), ("LUNCH GARDEN GENT", None),
    ),
    "employees": (
        ("Jan Peeters", "BE"), ("Marie Dubois", "BE"), ("Luc Janssens", "BE"),
        ("Sophie Lambert", "BE"), ("Pieter De Smet", "BE"), ("Nathalie Claes", "BE"),
    ),
}


@dataclass(frozen=True)
class _Party:
    name: str
    iban: str | None
    creditor_id: str | None = None
    mandate_id: str | None = None


@dataclass(frozen=True)
class _Kind:
    """A kind of bank transaction and how to make one up."""

    weight: int
    sign: int  # +1 money in, -1 money out
    cents: tuple  # (lowest, highest) amount in cents
    description: str
    bank_code: str | None  # ISO 20022 domain-family-subfamily
    proprietary_code: str | None
    counterparts: str | None  # a key of the counterparty pools; None: the bank itself
    texts: tuple = ()  # unstructured communications; {n}, {year}, {month} are filled in
    structured: float = 0.0  # share with a structured communication instead
    purpose: str | None = None
    card: bool = False
    direct_debit: bool = False


_CARD_TEXTS = ("Paiement Bancontact {name}", "Betaling Bancontact {name}", "Maestro {name}")
_CHECKING_KINDS = (
    # Customers pay a little more than the business spends: the balance grows, as a sound SME's.
    _Kind(32, 1, (8000, 368000), "SEPA credit transfer", "PMNT-RCDT-ESCT", "01-50-000",
          "customers", ("Facture {year}/{n:04d}", "Factuur {n}", "Acompte commande {n}"), 0.6),
    _Kind(30, -1, (2500, 250000), "SEPA credit transfer", "PMNT-ICDT-ESCT", "01-01-000",
          "suppliers", ("Facture {n}", "Invoice INV-{year}-{n:04d}", "Client 4471 - {n}"), 0.4,
          purpose="SUPP"),
    _Kind(12, -1, (2000, 40000), "SEPA direct debit", "PMNT-IDDT-ESDD", "05-03-000",
          "utilities", ("Domiciliation {month} {year}", "Contract {n} {month}"),
          direct_debit=True),
    _Kind(20, -1, (400, 18000), "Card payment", "PMNT-CCRD-POSD", "04-02-000", "merchants",
          _CARD_TEXTS, card=True),
    _Kind(5, -1, (180000, 390000), "SEPA credit transfer", "PMNT-ICDT-ESCT", "01-01-000",
          "employees", ("Salaire {month} {year}", "Loon {month} {year}"), purpose="SALA"),
    _Kind(3, -1, (150, 2500), "Bank charges", "ACMT-MDOP-CHRG", "80-37-000", None,
          ("Frais de gestion {month} {year}",)),
)
_SAVINGS_KINDS = (
    _Kind(48, 1, (50000, 500000), "Internal transfer", "PMNT-RCDT-BOOK", None, "holder",
          ("Épargne {month} {year}", "Mise en réserve {n}")),
    _Kind(44, -1, (50000, 500000), "Internal transfer", "PMNT-ICDT-BOOK", None, "holder",
          ("Transfert vers compte courant",)),
    _Kind(4, 1, (100, 4000), "Interest", "ACMT-MDOP-INTR", None, None, ("Intérêts {year}",)),
)
_FOREIGN_CURRENCY_KINDS = (
    _Kind(44, 1, (30000, 500000), "International credit transfer", "PMNT-RCDT-XBCT", None,
          "customers", ("Invoice {year}-{n:04d}",)),
    _Kind(45, -1, (10000, 400000), "International credit transfer", "PMNT-ICDT-XBCT", None,
          "suppliers", ("Invoice {n}", "PO {n}")),
    _Kind(15, -1, (500, 30000), "Card payment", "PMNT-CCRD-POSD", None, "merchants",
          _CARD_TEXTS, card=True),
)


@dataclass(frozen=True)
class _Plan:
    """What one demo account looks like."""

    description: str
    subtype: str
    currency: str
    product: str | None
    institution: int  # index in _INSTITUTIONS
    kinds: tuple
    opening_cents: tuple
    brussels_dates: bool = False
    fee_share: float = 0.0
    pending: int = 0


_CHECKING = _Plan("Compte courant", "checking", "EUR", "Business account", 0, _CHECKING_KINDS,
                  (500000, 2500000), pending=3)
_SAVINGS = _Plan("Spaarrekening", "savings", "EUR", "Business savings account", 1,
                 _SAVINGS_KINDS, (1000000, 5000000), brussels_dates=True)
_FOREIGN_CURRENCY = _Plan("USD account", "checking", "USD", None, 2, _FOREIGN_CURRENCY_KINDS,
                          (200000, 1500000), fee_share=0.25)


def _plans(count):
    """Checking, savings, USD, then more EUR checking accounts at other Belgian banks."""
    plans = [_CHECKING, _SAVINGS, _FOREIGN_CURRENCY]
    for number in range(4, count + 1):
        plans.append(_Plan(f"Compte courant {number}", "checking", "EUR", "Business account",
                           3 + number % 2, _CHECKING_KINDS, (500000, 2500000)))
    return plans[:count]


# === STATE === #


@dataclass(eq=False)
class _Txn:
    id: str
    seq: int  # insertion order: the tie-break between equal dates
    attributes: dict

    @property
    def key(self):
        booked = self.attributes.get("executionDate") or self.attributes.get("valueDate") or ""
        return (booked, self.seq)


class _Ledger:
    """The transactions of one account, kept oldest first; the API lists them newest first.

    Positions in the API order are computed, so paging is a bisect and a slice, never a scan.
    """

    def __init__(self, resource_type):
        self.resource_type = resource_type
        self._keys = []
        self._items = []
        self._positions = {}  # id -> index in _items

    def __len__(self):
        return len(self._items)

    def add(self, txn):
        index = bisect.bisect_right(self._keys, txn.key)
        self._keys.insert(index, txn.key)
        self._items.insert(index, txn)
        self._reindex(index)

    def remove(self, txn_id):
        index = self._positions.pop(txn_id)
        del self._keys[index], self._items[index]
        self._reindex(index)

    def _reindex(self, start):
        for index in range(start, len(self._items)):
            self._positions[self._items[index].id] = index

    def get(self, txn_id):
        index = self._positions.get(txn_id)
        return None if index is None else self._items[index]

    def position(self, txn_id):
        """Position in the API order (0 = newest), or None."""
        index = self._positions.get(txn_id)
        return None if index is None else len(self._items) - 1 - index

    def slice(self, start, stop):
        """Items at API positions [start, stop), newest first."""
        count = len(self._items)
        return self._items[count - stop:count - start][::-1]

    def newest_first(self):
        return self._items[::-1]

    def newest(self):
        return self._items[-1] if self._items else None


class _ListView:
    """A small collection already in API order (accounts, banks, updated transactions)."""

    def __init__(self, items):
        self._items = list(items)
        self._positions = {item.id: index for index, item in enumerate(self._items)}

    def __len__(self):
        return len(self._items)

    def position(self, item_id):
        return self._positions.get(item_id)

    def slice(self, start, stop):
        return self._items[start:stop]


@dataclass(eq=False)
class _Institution:
    id: str
    attributes: dict


@dataclass(eq=False)
class _Sync:
    id: str
    account_id: str
    subtype: str
    created_at: str
    updated_at: str
    status: str = "pending"
    errors: list = field(default_factory=list)
    gets: int = 0
    updated_ids: list = field(default_factory=list)


@dataclass(eq=False)
class _Account:
    id: str
    plan: _Plan
    attributes: dict
    institution_id: str
    opening_balance: Decimal
    ledger: _Ledger
    pending: _Ledger
    latest_sync: _Sync
    latest_transactions_sync: _Sync
    synchronized_at: str
    booked_total: Decimal = _ZERO
    revoked: bool = False
    consent_expired: bool = False
    pending_updates: dict = field(default_factory=dict)  # ordered set of updated ids

    @property
    def balance(self):
        return self.opening_balance + self.booked_total


@dataclass
class _Fault:
    endpoint: str
    kind: str
    remaining: int | None  # None: forever
    skip: int
    params: dict


# === DATA FACTORY === #


class _DataFactory:
    """Makes up the demo data, deterministically from a random.Random."""

    def __init__(self, rng, today, start_date, end_date):
        self.rng = rng
        self.anchor = datetime(today.year, today.month, today.day, 6, tzinfo=UTC)
        self.days = _business_days(start_date, end_date)
        self.end_date = end_date
        self.seq = itertools.count()
        self.parties = {pool: self._parties(names) for pool, names in _COUNTERPARTIES.items()}

    def _parties(self, names):
        return [self._party(name, country) for name, country in names]

    def _party(self, name, country):
        rng = self.rng
        if country == "BE":
            iban = _belgian_iban(rng, rng.choice(_BELGIAN_BANK_CODES))
        else:
            iban = _FOREIGN_IBAN_MAKERS[country](rng) if country else None
        return _Party(name, iban, _creditor_id(rng), f"MD{rng.randrange(10 ** 8):08d}")

    def institutions(self):
        return [_Institution(_uuid(self.rng), _institution_attributes(bank))
                for bank in _INSTITUTIONS]

    def transactions(self, plan, count):
        """`count` transactions on random business days, oldest first."""
        kinds = self.rng.choices(plan.kinds, weights=[k.weight for k in plan.kinds], k=count)
        days = sorted(self.rng.choices(self.days, k=count))
        return [self.transaction(plan, kind, day) for kind, day in zip(kinds, days, strict=True)]

    def pending_transactions(self, plan):
        """Card payments of the last two business days, not booked yet."""
        kinds = [kind for kind in plan.kinds if kind.card] or plan.kinds
        days = sorted(self.rng.choices(self.days[-2:], k=plan.pending))
        return [self.transaction(plan, self.rng.choice(kinds), day) for day in days]

    def transaction(self, plan, kind, day):
        rng = self.rng
        party = rng.choice(self.parties[kind.counterparts]) if kind.counterparts else None
        remittance, remittance_type = self._remittance(kind, party, day)
        created = self._created_at(day)
        attributes = {
            "additionalInformation": "Bancontact" if kind.card else None,
            "amount": _cents(kind.sign * rng.randint(*kind.cents)),
            "bankTransactionCode": kind.bank_code,
            "cardReference": f"{rng.randrange(10 ** 4):04d}" if kind.card else None,
            "cardReferenceType": "MASKEDPAN" if kind.card else None,
            "counterpartName": self._counterpart_name(party),
            "counterpartReference": None if kind.card or not party else party.iban,
            "createdAt": created,
            "creditorId": party.creditor_id if kind.direct_debit else None,
            "currency": plan.currency,
            "description": kind.description,
            "digest": f"{rng.getrandbits(256):064x}",
            "endToEndId": self._end_to_end_id(kind),
            "executionDate": _bank_date(day, plan.brussels_dates),
            "fee": _cents(rng.randint(250, 1500)) if rng.random() < plan.fee_share else None,
            "internalReference": _uuid(rng),
            "mandateId": party.mandate_id if kind.direct_debit else None,
            "proprietaryBankTransactionCode": kind.proprietary_code,
            "purposeCode": kind.purpose,
            "remittanceInformation": remittance,
            "remittanceInformationType": remittance_type,
            "updatedAt": created,
            "valueDate": _bank_date(day - timedelta(days=1) if kind.card else day,
                                    plan.brussels_dates),
        }
        return _Txn(_uuid(rng), next(self.seq), attributes)

    def _remittance(self, kind, party, day):
        if kind.structured and self.rng.random() < kind.structured:
            return _structured_communication(self.rng), "structured"
        text = self.rng.choice(kind.texts).format(
            n=self.rng.randrange(1, 10 ** 4), year=day.year, month=_MONTHS[day.month - 1],
            name=party.name if party else "")
        return text, "unstructured"

    def _counterpart_name(self, party):
        """The name; sometimes missing (a later synchronization may fill it in)."""
        if party is None or self.rng.random() < 0.04:
            return None
        return party.name

    def _end_to_end_id(self, kind):
        if kind.card or kind.counterparts is None:
            return None
        return f"{self.rng.getrandbits(128):032x}" if self.rng.random() < 0.75 else "NOTPROVIDED"

    def _created_at(self, day):
        """Ponto stored it at a synchronization after the booking day (never after `today`)."""
        hour, millis = self.rng.choice((2, 8, 14, 20)), self.rng.randrange(3_600_000)
        stored_day = day + timedelta(days=1)
        if stored_day >= self.anchor.date():
            return _stamp(self.anchor - timedelta(milliseconds=millis // 6))
        seconds, millis = divmod(millis, 1000)
        return (f"{stored_day.isoformat()}T{hour:02d}:{seconds // 60:02d}:{seconds % 60:02d}."
                f"{millis:03d}Z")

    def sync(self, account_id, subtype, offset_seconds):
        created = self.anchor + timedelta(seconds=offset_seconds)
        updated = created + timedelta(milliseconds=self.rng.randrange(150, 900))
        return _Sync(_uuid(self.rng), account_id, subtype, _stamp(created), _stamp(updated),
                     status="success")


def _business_days(start_date, end_date):
    """Monday to Friday in [start_date, end_date]; every day if that leaves none."""
    days = [start_date + timedelta(days=n) for n in range((end_date - start_date).days + 1)]
    return [day for day in days if day.weekday() < 5] or days


def _institution_attributes(bank):
    products = ["sepaCreditTransfer"]
    slug = re.sub(r"[^a-z0-9]+", "-", bank.name.lower()).strip("-")
    return {
        "bic": bank.bic, "bulkPaymentsEnabled": True, "bulkPaymentsProductTypes": products,
        "country": bank.country, "deprecated": False, "futureDatedPaymentsAllowed": True,
        "logoUrl": f"https://assets.example.com/financial-institutions/{slug}.svg",
        "maintenanceFrom": None, "maintenanceTo": None, "maintenanceType": None,
        "name": bank.name,
        "paymentsEnabled": True, "paymentsProductTypes": products,
        "periodicPaymentsEnabled": False, "periodicPaymentsProductTypes": [],
        "primaryColor": bank.colour, "secondaryColor": "#FFFFFF", "sharedBrandName": None,
        "sharedBrandReference": None, "status": "stable",
    }


# === HTTP PLUMBING: requests, replies, errors, paging === #


@dataclass
class _Reply:
    status: int
    payload: object = None  # JSON-serialisable document
    headers: dict = field(default_factory=dict)
    content_type: str = JSON_API
    raw: bytes | None = None  # a body that is not JSON


class _Abort(Exception):
    """Stops handling a request and answers `reply`."""

    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


def _api_error(status, code, detail, **meta):
    return _Abort(_Reply(status, {"errors": [{"code": code, "detail": detail, "meta": meta}]}))


def _validation_error(attribute, detail):
    return _api_error(400, "validationError", detail, attribute=attribute)


def _not_found(resource):
    return _api_error(404, NOT_FOUND_CODE, "The requested resource was not found.",
                      resource=resource)


def _oauth_error(status, error, description):
    return _Abort(_Reply(status, {"error": error, "error_description": description},
                         content_type=PLAIN_JSON))


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern
    endpoint: str
    handler: str
    authenticated: bool = True


def _route(method, pattern, endpoint, handler, authenticated=True):
    return _Route(method, re.compile(pattern), endpoint, handler, authenticated)


_ID = r"([^/]+)"
_ROUTES = (
    _route("GET", "/", "root", "_on_root", authenticated=False),
    _route("POST", "/oauth2/token", "token", "_on_token", authenticated=False),
    _route("GET", "/accounts", "accounts", "_on_accounts"),
    _route("GET", f"/accounts/{_ID}", "account", "_on_account"),
    _route("DELETE", f"/accounts/{_ID}", "account", "_on_revoke_account"),
    _route("GET", f"/accounts/{_ID}/transactions", "transactions", "_on_transactions"),
    _route("GET", f"/accounts/{_ID}/transactions/{_ID}", "transaction", "_on_transaction"),
    _route("GET", f"/accounts/{_ID}/pending-transactions", "pending_transactions",
           "_on_pending_transactions"),
    _route("GET", f"/accounts/{_ID}/pending-transactions/{_ID}", "pending_transaction",
           "_on_pending_transaction"),
    _route("POST", "/synchronizations", "synchronizations", "_on_create_synchronization"),
    _route("GET", f"/synchronizations/{_ID}", "synchronization", "_on_synchronization"),
    _route("GET", f"/synchronizations/{_ID}/updated-transactions", "updated_transactions",
           "_on_updated_transactions"),
    _route("GET", "/financial-institutions", "financial_institutions", "_on_institutions"),
    _route("GET", f"/financial-institutions/{_ID}", "financial_institution", "_on_institution"),
    _route("GET", "/userinfo", "userinfo", "_on_userinfo"),
)
_UNKNOWN_ROUTE = _route("*", "", "unknown", "_on_unknown", authenticated=False)


@dataclass
class _Request:
    method: str
    raw_path: str  # as received, with the query string
    path: str
    query: dict
    headers: object  # http.client.HTTPMessage
    body: bytes
    route: _Route
    args: tuple


def _parse_request(method, raw_path, headers, body):
    parts = urlsplit(raw_path)
    path = unquote(parts.path).rstrip("/") or "/"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for route in _ROUTES:
        match = route.pattern.fullmatch(path) if route.method == method else None
        if match:
            return _Request(method, raw_path, path, query, headers, body, route, match.groups())
    return _Request(method, raw_path, path, query, headers, body, _UNKNOWN_ROUTE, ())


@dataclass(frozen=True)
class _Paging:
    limit: int
    after: str | None
    before: str | None
    filters: tuple  # (name, value) query parameters that the links carry on


def _parse_paging(query):
    """page[limit|after|before], or the old spelling limit / after / before."""
    raw_limit = query.get("page[limit]", query.get("limit"))
    after = query.get("page[after]", query.get("after")) or None
    before = query.get("page[before]", query.get("before")) or None
    if after and before:
        raise _validation_error("page[before]", "Use page[after] or page[before], not both.")
    filters = tuple((name, value) for name, value in query.items() if name.startswith("filter["))
    return _Paging(_parse_limit(raw_limit), after, before, filters)


def _parse_limit(raw_limit):
    if raw_limit is None:
        return DEFAULT_PAGE_LIMIT
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= PAGE_LIMIT:
        raise _validation_error(
            "page[limit]", f"page[limit] must be an integer between 1 and {PAGE_LIMIT}.")
    return limit


def _select_page(view, paging, resource):
    """The items of the requested page, and whether older (next) or newer (prev) ones remain."""
    count = len(view)
    if paging.after is not None:
        start = _cursor_position(view, paging.after, "page[after]", resource) + 1
        stop = min(count, start + paging.limit)
    elif paging.before is not None:
        stop = _cursor_position(view, paging.before, "page[before]", resource)
        start = max(0, stop - paging.limit)
    else:
        start, stop = 0, min(count, paging.limit)
    items = view.slice(start, stop)
    has_next = bool(items) and stop < count
    has_prev = bool(items) and paging.before is not None and start > 0
    return items, has_next, has_prev


def _cursor_position(view, cursor, parameter, resource):
    position = view.position(cursor)
    if position is None:
        raise _api_error(400, NOT_FOUND_CODE, f"No {resource} matches {parameter}={cursor}.",
                         resource=resource, attribute=parameter)
    return position


def _without_attribute(payload, name):
    """The document with attribute `name` removed from every resource (or plain JSON key)."""
    if not isinstance(payload, dict):
        return payload
    if "data" not in payload:
        return {key: value for key, value in payload.items() if key != name}

    def strip(resource):
        attributes = resource.get("attributes", {})
        return {**resource, "attributes": {k: v for k, v in attributes.items() if k != name}}

    data = payload["data"]
    data = [strip(item) for item in data] if isinstance(data, list) else strip(data)
    return {**payload, "data": data}


def _with_request_id(payload, request_id):
    """Error documents carry the request id in each error's meta."""
    if not isinstance(payload, dict) or "errors" not in payload:
        return payload
    errors = [{**error, "meta": {**error.get("meta", {}), "requestId": request_id}}
              for error in payload["errors"]]
    return {**payload, "errors": errors}


@dataclass
class _Outcome:
    """What the HTTP handler writes: status, headers, body, and how to break it (or not)."""

    status: int
    headers: dict
    body: bytes
    breakage: str | None = None  # "truncated" | "reset"


def _render(reply, request_id, fault):
    kind = fault.kind if fault else None
    payload = _with_request_id(reply.payload, request_id)
    if kind == "drop_attribute":
        payload = _without_attribute(payload, fault.params["attribute"])
    body = reply.raw if reply.raw is not None else _dumps(payload)
    if kind == "malformed_json":
        body = body[: max(1, len(body) // 2)]
    headers = {"Content-Type": f"{reply.content_type}; charset=utf-8",
               REQUEST_ID_HEADER: request_id, **reply.headers}
    breakage = kind if kind in ("truncated", "reset") else None
    return _Outcome(reply.status, headers, body, breakage)


_BAD_GATEWAY_PAGE = (b"<html><head><title>502 Bad Gateway</title></head>"
                     b"<body><center><h1>502 Bad Gateway</h1></center></body></html>")


def _refusal(fault, request):
    """The answer of a fault that stands in for the API."""
    kind = fault.kind
    if kind == "401" and request.route.endpoint == "token":
        return _oauth_error(401, "invalid_client", "Client authentication failed.").reply
    if kind == "401":
        return _api_error(401, "invalidAccessToken", "Your access token is invalid.").reply
    if kind == "429":
        reply = _api_error(429, "tooManyRequests", "Too many requests, slow down.").reply
        if fault.params["retry_after"] is not None:
            reply.headers["Retry-After"] = str(fault.params["retry_after"])
        return reply
    if kind == "502":
        return _Reply(502, content_type="text/html", raw=_BAD_GATEWAY_PAGE)
    code = {"500": "internalServerError", "503": "serviceUnavailable"}[kind]
    return _api_error(int(kind), code, "The server could not answer, try again later.").reply


def _synchronization_request(body):
    """The attributes of a valid POST /synchronizations body, or a 400 naming the bad one."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        raise _validation_error("data", "The request body is not valid JSON.") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
        raise _validation_error("data", "data.attributes is required.")
    if data.get("type") != "synchronization":
        raise _validation_error("type", "type must be 'synchronization'.")
    attributes = data["attributes"]
    if attributes.get("resourceType") != "account":
        raise _validation_error("resourceType", "resourceType must be 'account'.")
    if not isinstance(attributes.get("resourceId"), str) or not attributes["resourceId"]:
        raise _validation_error("resourceId", "resourceId is required.")
    if attributes.get("subtype") not in SYNC_SUBTYPES:
        raise _validation_error("subtype", f"subtype must be one of {', '.join(SYNC_SUBTYPES)}.")
    if not _is_ip_address(attributes.get("customerIpAddress")):
        raise _validation_error("customerIpAddress", "customerIpAddress must be an IP address.")
    return attributes


def _is_ip_address(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _basic_credentials(header):
    """(client_id, client_secret) from an "Authorization: Basic ..." header, or None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, separator, secret = b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return None
    return (client_id, secret) if separator else None


def _authorization_invalid(internal_reference, now):
    """The error a synchronization carries when the bank refuses the consent."""
    response = {
        "body": {"tppMessages": [{"category": "ERROR", "code": "CONSENT_EXPIRED",
                                  "text": "The consent has expired."}]},
        "requestId": uuid.uuid4().hex,
        "requestUri": f"https://xs2a.bank.example/v1/accounts/{internal_reference}/transactions",
        "statusCode": 401,
        "timestamp": now,
    }
    return {
        "code": AUTHORIZATION_INVALID_CODE,
        "detail": "The authorization is invalid, you should ask the customer to reauthorize the "
                  "account",
        "meta": {"financialInstitutionResponse": response},
    }


# === THE SERVER === #


class FakePonto:
    """A fake Ponto API server; see the module docstring.  Thread-safe; binds loopback only.

    Beyond the contract: `today` fixes the date the data is built around (default date.today());
    `clock` is the monotonic clock of token expiry and the recent-synchronization window (tests
    pass a fake one to travel in time).
    """

    def __init__(self, *, accounts=3, transactions=500, seed=42, client_id=FAKE_CLIENT_ID,
                 client_secret=FAKE_CLIENT_SECRET, token_lifetime=1799, recent_sync_window=0.0,
                 sync_steps=2, start_date=None, end_date=None, host="127.0.0.1", port=0,
                 today=None, clock=time.monotonic):
        today = today or date.today()
        end_date = end_date or today
        start_date = start_date or today - timedelta(days=365)
        if start_date > end_date or accounts < 0 or transactions < 0:
            raise ValueError("need start_date <= end_date and non-negative counts")
        self._host, self._port = _loopback_host(host), port
        self._clock = clock
        self._credentials = (client_id, client_secret)
        self._token_lifetime = token_lifetime
        self._recent_sync_window = recent_sync_window
        self._sync_steps = max(1, sync_steps)
        self._lock = threading.RLock()
        self._tokens = {}  # access token -> clock() value at which it expires
        self._syncs = {}
        self._sync_clock = {}  # (account id, subtype) -> clock() of the last creation
        self._replies_by_key = {}  # idempotency key -> first reply
        self._faults = []
        self._calls = []
        self._server = self._thread = None
        self._connections = set()
        rng = random.Random(seed)
        self._factory = _DataFactory(rng, today, start_date, end_date)
        self._build_data(accounts, transactions)
        # Run-time additions draw from a second stream: they never shift the initial data.
        self._factory.rng = random.Random(f"fake-ponto-runtime-{seed}")

    # --- data ---

    def _build_data(self, account_count, transaction_count):
        factory = self._factory
        rng = factory.rng
        self._institutions = factory.institutions()
        self._organization = (_uuid(rng), _uuid(rng))
        self._accounts = {}
        for number, plan in enumerate(_plans(account_count), start=1):
            count = transaction_count if number == 1 else transaction_count // 2
            account = self._new_account(plan, count)
            self._accounts[account.id] = account
            if number == 1:
                factory.parties["holder"] = [_Party(_HOLDER, account.attributes["reference"])]

    def _new_account(self, plan, count):
        factory, rng = self._factory, self._factory.rng
        account_id = _uuid(rng)
        details, transactions = (factory.sync(account_id, subtype, offset) for offset, subtype
                                 in ((-60, "accountDetails"), (-59, "accountTransactions")))
        account = _Account(
            id=account_id, plan=plan, attributes=self._account_attributes(plan),
            institution_id=self._institutions[plan.institution].id,
            opening_balance=_cents(rng.randint(*plan.opening_cents)),
            ledger=_Ledger("transaction"), pending=_Ledger("pendingTransaction"),
            latest_sync=transactions, latest_transactions_sync=transactions,
            synchronized_at=transactions.updated_at)
        for txn in factory.transactions(plan, count):
            self._book(account, txn)
        for txn in factory.pending_transactions(plan):
            account.pending.add(txn)
        self._refresh_balance(account, _stamp(factory.anchor))
        self._syncs.update({details.id: details, transactions.id: transactions})
        return account

    def _account_attributes(self, plan):
        anchor, rng = self._factory.anchor, self._factory.rng
        iban = _belgian_iban(rng, _INSTITUTIONS[plan.institution].iban_code)
        authorized = anchor - timedelta(days=10, milliseconds=rng.randrange(86_400_000))
        return {
            "authorizationExpirationExpectedAt": _stamp(authorized + timedelta(days=180)),
            "authorizedAt": _stamp(authorized),
            "currency": plan.currency,
            "deprecated": False,
            "description": plan.description,
            "holderName": _HOLDER,
            "internalReference": _uuid(rng),
            "product": plan.product,
            "reference": iban,
            "referenceType": "IBAN",
            "subtype": plan.subtype,
        }

    def _book(self, account, txn):
        account.ledger.add(txn)
        account.booked_total += txn.attributes.get("amount") or _ZERO

    def _refresh_balance(self, account, changed_at):
        """Balance = opening + booked amounts; its reference date is the newest bank date."""
        newest = account.ledger.newest()
        reference = newest.key[0] if newest else _bank_date(self._factory.end_date, False)
        balance = account.balance
        account.attributes = {
            **account.attributes,
            "availableBalance": balance, "availableBalanceChangedAt": changed_at,
            "availableBalanceReferenceDate": reference,
            "availableBalanceVariationObservedAt": changed_at,
            "currentBalance": balance, "currentBalanceChangedAt": changed_at,
            "currentBalanceReferenceDate": reference,
            "currentBalanceVariationObservedAt": changed_at,
        }

    # --- lifecycle ---

    @property
    def url(self):
        if self._server is None:
            raise RuntimeError("FakePonto is not started")
        return self._base_url()

    def _base_url(self):
        port = self._server.server_address[1] if self._server else self._port
        return f"http://{self._host}:{port}"

    def start(self):
        if self._server is not None:
            return self
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01}, name="FakePonto",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving, close open (keep-alive) connections, release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection)
        server.server_close()
        thread.join(timeout=5)
        self._port = server.server_address[1]
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _track(self, connection, opened):
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # --- control API ---

    @property
    def account_ids(self):
        """Ids of every generated account, in order (revoked ones included, positions stay)."""
        return list(self._accounts)

    def account(self, account_id):
        """The truth about one account (revoked ones too): its JSON:API resource."""
        with self._lock:
            resource = self._account_resource(self._accounts[account_id])
            return {**resource, "attributes": dict(resource["attributes"])}

    def booked(self, account_id):
        """The truth: the booked transactions as JSON:API resources, newest first."""
        with self._lock:
            account = self._accounts[account_id]
            return [self._transaction_resource(account, txn, copy=True)
                    for txn in account.ledger.newest_first()]

    def opening_balance(self, account_id):
        """The balance before the first booked transaction (currentBalance = this + amounts)."""
        return self._accounts[account_id].opening_balance

    def add_transactions(self, account_id, n=1, **attribute_overrides):
        """Book `n` new transactions dated `end_date` (the newest); return their ids, oldest first.

        Overrides use the API's attribute names: amount="12.50", counterpartName=None, ...; a
        `date` given for executionDate or valueDate is written the way this account's bank does.
        """
        with self._lock:
            account = self._live_account(account_id)
            overrides = _normalise_overrides(account.plan, attribute_overrides)
            now = _stamp(datetime.now(UTC))
            ids = []
            for _ in range(n):
                txn = self._runtime_transaction(account.plan)
                txn.attributes.update(createdAt=now, updatedAt=now, **overrides)
                self._book(account, txn)
                ids.append(txn.id)
            self._refresh_balance(account, now)
            return ids

    def _runtime_transaction(self, plan):
        factory = self._factory
        kind = factory.rng.choices(plan.kinds, weights=[k.weight for k in plan.kinds])[0]
        return factory.transaction(plan, kind, factory.end_date)

    def update_transaction(self, account_id, transaction_id, **attribute_overrides):
        """Change a booked transaction the way a bank does: same id, later updatedAt; the next
        successful transactions synchronization lists it in its updated-transactions."""
        with self._lock:
            account = self._live_account(account_id)
            old = account.ledger.get(transaction_id)
            if old is None:
                raise KeyError(f"no transaction {transaction_id} on account {account_id}")
            overrides = _normalise_overrides(account.plan, attribute_overrides)
            updated_at = _later_stamp(old.attributes.get("updatedAt"))
            new = _Txn(old.id, old.seq, {**old.attributes, **overrides, "updatedAt": updated_at})
            account.ledger.remove(old.id)
            account.booked_total -= old.attributes.get("amount") or _ZERO
            self._book(account, new)
            account.pending_updates[new.id] = None
            self._refresh_balance(account, updated_at)

    def inject(self, endpoint, fault, *, count=1, skip=0, **params):
        """Make the next `count` (None: every) calls to `endpoint` ("*": any) fail with
        `fault`, after letting `skip` matching calls through.  See FAULTS for the parameters."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None: every call)")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {sorted(FAULTS)}")
        unknown = set(params) - set(FAULTS[fault])
        if unknown or (fault == "drop_attribute" and not params.get("attribute")):
            raise ValueError(f"fault {fault!r} takes {sorted(FAULTS[fault]) or 'no parameter'}")
        with self._lock:
            self._faults.append(_Fault(endpoint, fault, count, skip, {**FAULTS[fault], **params}))

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def expire_tokens(self):
        """Every access token issued so far becomes invalid (401 invalidAccessToken)."""
        with self._lock:
            self._tokens.clear()

    def revoke_credentials(self):
        """The token endpoint refuses every client; issued tokens become invalid."""
        with self._lock:
            self._credentials = None
            self._tokens.clear()

    def set_credentials(self, client_id, client_secret):
        with self._lock:
            self._credentials = (client_id, client_secret)

    def revoke_account(self, account_id):
        """Gone from /accounts; 404 on its URLs (like DELETE /accounts/{id})."""
        with self._lock:
            self._live_account(account_id).revoked = True

    def expire_consent(self, account_id):
        """The bank consent ends: reads still work, synchronizations end in authorizationInvalid."""
        with self._lock:
            account = self._live_account(account_id)
            account.consent_expired = True
            past = _stamp(datetime.now(UTC) - timedelta(days=1))
            account.attributes = {**account.attributes, "authorizationExpirationExpectedAt": past}

    @property
    def calls(self):
        """(method, endpoint name, path with query as received) of every request, in order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, endpoint):
        with self._lock:
            return sum(1 for _, name, _ in self._calls if name == endpoint)

    def reset_calls(self):
        with self._lock:
            self._calls.clear()

    def _live_account(self, account_id):
        account = self._accounts.get(account_id)
        if account is None or account.revoked:
            raise KeyError(f"no account {account_id}")
        return account

    # --- request handling (called by the HTTP handler threads) ---

    def _answer(self, method, raw_path, headers, body):
        """Record the call, apply a fault, handle the request, render the answer.

        Rendering happens outside the lock: the state's dicts are replaced, never changed in place,
        so a document keeps the values it was built with."""
        request = _parse_request(method, raw_path, headers, body)
        with self._lock:
            self._calls.append((method, request.route.endpoint, raw_path))
            fault = self._take_fault(request.route.endpoint)
        if fault and fault.kind == "delay":
            time.sleep(fault.params["seconds"])
        if fault and fault.kind in _REFUSALS:
            reply = _refusal(fault, request)
        else:
            reply = self._handle(request)
        return _render(reply, _request_id(), fault)

    def _take_fault(self, endpoint):
        for fault in self._faults:
            if fault.endpoint not in (endpoint, "*"):
                continue
            if fault.skip:
                fault.skip -= 1
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _handle(self, request):
        with self._lock:
            try:
                if request.route.authenticated:
                    self._require_token(request)
                return getattr(self, request.route.handler)(request, *request.args)
            except _Abort as abort:
                return abort.reply

    def _require_token(self, request):
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or self._clock() >= expiry:
            raise _api_error(401, "invalidAccessToken", "Your access token is invalid.")

    def _account(self, account_id):
        account = self._accounts.get(account_id)
        if account is None or account.revoked:
            raise _not_found("account")
        return account

    def _link(self, path, paging, **cursor):
        params = [(f"page[{name}]", value) for name, value in cursor.items()]
        params += [("page[limit]", paging.limit), *paging.filters]
        query = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in params)
        return f"{self._base_url()}{path}?{query}"

    def _list_reply(self, request, view, render, resource, *, meta=None, always_before=True):
        """A paged JSON:API list document (API.md §5)."""
        paging = _parse_paging(request.query)
        items, has_next, has_prev = _select_page(view, paging, resource)
        links = {"first": self._link(request.path, paging)}
        paging_meta = {"limit": paging.limit}
        if has_next:
            links["next"] = self._link(request.path, paging, after=items[-1].id)
            paging_meta["after"] = items[-1].id
        if has_prev:
            links["prev"] = self._link(request.path, paging, before=items[0].id)
        if always_before or paging.before is not None:
            paging_meta["before"] = items[0].id if has_prev else None
        document = {"data": [render(item) for item in items], "links": links,
                    "meta": {**(meta or {}), "paging": paging_meta}}
        return _Reply(200, document)

    # --- resources ---

    def _account_resource(self, account):
        base = self._base_url()
        return {
            "attributes": account.attributes,
            "id": account.id,
            "meta": {"availability": "available",
                     "latestSynchronization": self._sync_resource(account.latest_sync,
                                                                  embedded=True),
                     "synchronizedAt": account.synchronized_at},
            "relationships": {
                "financialInstitution": {
                    "data": {"id": account.institution_id, "type": "financialInstitution"},
                    "links": {"related": f"{base}/financial-institutions/"
                                         f"{account.institution_id}"}},
                "transactions": {
                    "links": {"meta": {"type": "transaction"},
                              "related": f"{base}/accounts/{account.id}/transactions"}},
            },
            "type": "account",
        }

    def _transaction_resource(self, account, txn, resource_type="transaction", copy=False):
        related = f"{self._base_url()}/accounts/{account.id}"
        return {
            "attributes": dict(txn.attributes) if copy else txn.attributes,
            "id": txn.id,
            "relationships": {"account": {"data": {"id": account.id, "type": "account"},
                                          "links": {"related": related}}},
            "type": resource_type,
        }

    def _sync_resource(self, sync, embedded=False):
        resource = {
            "attributes": {
                "createdAt": sync.created_at, "customerOnline": True,
                "errors": list(sync.errors), "resourceId": sync.account_id,
                "resourceType": "account", "status": sync.status, "subtype": sync.subtype,
                "updatedAt": sync.updated_at,
            },
            "id": sync.id,
            "type": "synchronization",
        }
        if not embedded and sync.status == "success" and sync.subtype in _TRANSACTION_SYNC_SUBTYPES:
            related = f"{self._base_url()}/synchronizations/{sync.id}/updated-transactions"
            resource["relationships"] = {"updatedTransactions": {
                "links": {"meta": {"type": "transaction"}, "related": related}}}
        return resource

    def _transactions_meta(self, account):
        latest = self._sync_resource(account.latest_transactions_sync, embedded=True)
        return {"latestSynchronization": latest, "synchronizedAt": account.synchronized_at}

    # --- endpoints ---

    def _on_unknown(self, request):
        raise _not_found("route")

    def _on_root(self, request):
        base = self._base_url()
        return _Reply(200, {"links": {
            "accounts": f"{base}/accounts/{{accountId}}",
            "account": {
                "transactions": f"{base}/accounts/{{accountId}}/transactions/{{transactionId}}",
                "pendingTransactions": f"{base}/accounts/{{accountId}}/pending-transactions/"
                                       f"{{pendingTransactionId}}"},
            "financialInstitutions": f"{base}/financial-institutions/{{financialInstitutionId}}",
            "oauth2": {"token": f"{base}/oauth2/token"},
            "synchronizations": f"{base}/synchronizations/{{synchronizationId}}",
            "synchronization": {
                "updatedTransactions":
                    f"{base}/synchronizations/{{synchronizationId}}/updated-transactions"},
            "userinfo": f"{base}/userinfo",
        }}, content_type=PLAIN_JSON)

    def _on_token(self, request):
        if not self._client_matches(_basic_credentials(request.headers.get("Authorization"))):
            raise _oauth_error(401, "invalid_client", "Client authentication failed (unknown "
                               "client, no client authentication, or wrong secret).")
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        grant_type = form.get("grant_type") or request.query.get("grant_type")
        if not grant_type:
            raise _oauth_error(400, "invalid_request", "The request is missing grant_type.")
        if grant_type != "client_credentials":
            raise _oauth_error(400, "unsupported_grant_type", f"{grant_type} is not supported.")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._clock() + self._token_lifetime
        return _Reply(200, {"access_token": token, "expires_in": self._token_lifetime,
                            "scope": "ai", "token_type": "bearer"}, content_type=PLAIN_JSON)

    def _client_matches(self, presented):
        if presented is None or self._credentials is None:
            return False
        return all(hmac.compare_digest(given.encode(), expected.encode())
                   for given, expected in zip(presented, self._credentials, strict=True))

    def _on_accounts(self, request):
        view = _ListView(a for a in self._accounts.values() if not a.revoked)
        return self._list_reply(request, view, self._account_resource, "account",
                                always_before=False)

    def _on_account(self, request, account_id):
        return _Reply(200, {"data": self._account_resource(self._account(account_id))})

    def _on_revoke_account(self, request, account_id):
        self._account(account_id).revoked = True
        return _Reply(200, {"data": {"id": account_id, "type": "account"}})

    def _on_transactions(self, request, account_id):
        account = self._account(account_id)
        render = partial(self._transaction_resource, account)
        return self._list_reply(request, account.ledger, render, "transaction",
                                meta=self._transactions_meta(account))

    def _on_transaction(self, request, account_id, transaction_id):
        account = self._account(account_id)
        txn = account.ledger.get(transaction_id)
        if txn is None:
            raise _not_found("transaction")
        return _Reply(200, {"data": self._transaction_resource(account, txn)})

    def _on_pending_transactions(self, request, account_id):
        account = self._account(account_id)
        render = partial(self._transaction_resource, account, resource_type="pendingTransaction")
        return self._list_reply(request, account.pending, render, "pendingTransaction",
                                meta=self._transactions_meta(account))

    def _on_pending_transaction(self, request, account_id, transaction_id):
        account = self._account(account_id)
        txn = account.pending.get(transaction_id)
        if txn is None:
            raise _not_found("pendingTransaction")
        return _Reply(200, {"data": self._transaction_resource(account, txn,
                                                               "pendingTransaction")})

    def _on_create_synchronization(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key and key in self._replies_by_key:
            return self._replies_by_key[key]
        try:
            reply = self._create_synchronization(request)
        except _Abort as abort:
            reply = abort.reply
        if key:
            self._replies_by_key[key] = reply
        return reply

    def _create_synchronization(self, request):
        attributes = _synchronization_request(request.body)
        account = self._account(attributes["resourceId"])
        subtype = attributes["subtype"]
        last = self._sync_clock.get((account.id, subtype))
        if self._recent_sync_window and last is not None and (
                self._clock() - last < self._recent_sync_window):
            raise _api_error(400, RECENTLY_SYNCHRONIZED_CODE, "This type of synchronization was "
                             "already created recently for the account. Try again later or on "
                             "the Dashboard.")
        self._sync_clock[(account.id, subtype)] = self._clock()
        now = _stamp(datetime.now(UTC))
        sync = _Sync(_uuid(self._factory.rng), account.id, subtype, now, now)
        self._syncs[sync.id] = sync
        return _Reply(201, {"data": self._sync_resource(sync)})

    def _on_synchronization(self, request, sync_id):
        sync = self._sync(sync_id)
        self._advance(sync)
        return _Reply(200, {"data": self._sync_resource(sync)})

    def _sync(self, sync_id):
        sync = self._syncs.get(sync_id)
        if sync is None:
            raise _not_found("synchronization")
        return sync

    def _advance(self, sync):
        """One more GET: running until the sync_steps-th, which finishes it."""
        if sync.status in ("success", "error"):
            return
        sync.gets += 1
        sync.updated_at = _later_stamp(sync.updated_at)
        if sync.gets < self._sync_steps:
            sync.status = "running"
        else:
            self._finish(sync)

    def _finish(self, sync):
        account = self._accounts[sync.account_id]
        if account.consent_expired:
            sync.status = "error"
            sync.errors = [_authorization_invalid(account.attributes["internalReference"],
                                                  sync.updated_at)]
        else:
            sync.status = "success"
            account.synchronized_at = sync.updated_at
        if sync.subtype in _TRANSACTION_SYNC_SUBTYPES:
            account.latest_transactions_sync = sync
            if sync.status == "success":
                sync.updated_ids = list(account.pending_updates)
                account.pending_updates.clear()
        account.latest_sync = sync

    def _on_updated_transactions(self, request, sync_id):
        sync = self._sync(sync_id)
        account = self._accounts[sync.account_id]
        updated = [account.ledger.get(txn_id) for txn_id in sync.updated_ids]
        updated = sorted((txn for txn in updated if txn), key=lambda t: t.key, reverse=True)
        render = partial(self._transaction_resource, account)
        return self._list_reply(request, _ListView(updated), render, "transaction")

    def _on_institutions(self, request):
        name = (request.query.get("filter[name][contains]") or "").casefold()
        country = request.query.get("filter[country][eq]")
        matching = [institution for institution in self._institutions
                    if name in institution.attributes["name"].casefold()
                    and (country is None or institution.attributes["country"] == country)]
        return self._list_reply(request, _ListView(matching), _institution_resource,
                                "financialInstitution", always_before=False)

    def _on_institution(self, request, institution_id):
        for institution in self._institutions:
            if institution.id == institution_id:
                return _Reply(200, {"data": _institution_resource(institution)})
        raise _not_found("financialInstitution")

    def _on_userinfo(self, request):
        organization_id, accountant_id = self._organization
        return _Reply(200, {
            "name": _HOLDER, "onboardingComplete": True, "paymentsActivated": False,
            "paymentsActivationRequested": False,
            "representativeOrganizationId": accountant_id,
            "representativeOrganizationName": "Fiduciaire Demo SRL", "sub": organization_id,
        }, content_type=PLAIN_JSON)


def _institution_resource(institution):
    return {"attributes": institution.attributes, "id": institution.id,
            "type": "financialInstitution"}


def _normalise_overrides(plan, overrides):
    unknown = set(overrides) - set(TRANSACTION_ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown transaction attributes: {sorted(unknown)}")
    return {name: _normalise_value(plan, name, value) for name, value in overrides.items()}


def _normalise_value(plan, name, value):
    """Amounts become 2-place Decimals, dates bank dates, datetimes timestamps."""
    if name in ("amount", "fee") and value is not None:
        return _money(value)
    if isinstance(value, datetime):
        return _stamp(value)
    if isinstance(value, date):
        return _bank_date(value, plan.brussels_dates)
    return value


def _later_stamp(previous):
    """Now, but strictly after `previous` (timestamps have millisecond resolution)."""
    now = datetime.now(UTC)
    if previous and _stamp(now) <= previous:
        now = datetime.fromisoformat(previous) + timedelta(milliseconds=1)
    return _stamp(now)


def _loopback_host(host):
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        raise ValueError(f"the fake Ponto serves on the loopback interface only, not {host}")
    return host


def _close_quietly(connection):
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


# === HTTP SERVER === #


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        """A client that went away is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's Session pools connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server_version = "FakePonto"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, opened=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, opened=False)

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def _serve(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            outcome = self.server.fake._answer(self.command, self.path, self.headers, body)
        except Exception:  # a bug in the fake: answer 500 rather than dropping the connection
            _logger.exception("FakePonto failed on %s %s", self.command, self.path)
            outcome = _render(_api_error(500, "internalServerError", "Fake server bug.").reply,
                              _request_id(), None)
        if outcome.breakage == "reset":
            self._reset()
            return
        self.send_response(outcome.status)
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(outcome.body)))
        self.end_headers()
        if outcome.breakage == "truncated":
            self.wfile.write(outcome.body[: len(outcome.body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(outcome.body)

    def _reset(self):
        """Close without answering; a zero linger time makes the close a TCP reset."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def log_message(self, fmt, *args):
        _logger.info("%s %s", self.address_string(), fmt % args)


# === COMMAND LINE === #


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m ponto.fake_server",
                                     description="Serve a fake Ponto API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--transactions", type=int, default=500,
                        help="on the first account; the others get half as many")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--client-id", default=FAKE_CLIENT_ID)
    parser.add_argument("--client-secret", default=FAKE_CLIENT_SECRET)
    parser.add_argument("--token-lifetime", type=int, default=1799)
    parser.add_argument("--recent-sync-window", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--append-every", type=float, default=0.0, metavar="SECONDS",
                        help="add a transaction to each account this often (0: never)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv=None):
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    fake = FakePonto(accounts=args.accounts, transactions=args.transactions, seed=args.seed,
                     client_id=args.client_id, client_secret=args.client_secret,
                     token_lifetime=args.token_lifetime,
                     recent_sync_window=args.recent_sync_window, port=args.port)
    with fake:
        _print_banner(fake, args)
        try:
            _serve(fake, args.append_every)
        except KeyboardInterrupt:
            print("Stopped.", flush=True)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _print_banner(fake, args):
    print(f"Fake Ponto API on {fake.url}", flush=False)
    print(f"  client id:     {args.client_id}")
    print(f"  client secret: {args.client_secret}")
    for account_id in fake.account_ids:
        attributes = fake.account(account_id)["attributes"]
        print(f"  account {account_id}  {attributes['reference']}  {attributes['currency']}  "
              f"{len(fake.booked(account_id))} transactions")
    print("Ctrl-C stops it.", flush=True)


def _serve(fake, append_every):
    while True:
        time.sleep(append_every or 3600)
        if append_every:
            for account_id in fake.account_ids:
                with contextlib.suppress(KeyError):  # revoked by DELETE /accounts/{id}
                    fake.add_transactions(account_id)
            print(f"{datetime.now():%H:%M:%S} added one transaction per account", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
