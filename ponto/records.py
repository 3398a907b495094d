"""Ponto resources as frozen dataclasses, parsed from JSON decoded with `parse_float=Decimal`.

Parsing is strict about types: a required attribute that is missing, or any attribute of the wrong
type, raises `PontoMalformedResponse` naming the attribute and the resource.  Optional attributes
that are missing or null become None.  Every record keeps the raw `attributes` as received (for
storage); they take no part in comparisons.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from .const import AUTHORIZATION_INVALID_CODE, BRUSSELS_TZ, SYNC_FINISHED_STATUSES
from .errors import PontoAuthorizationError, PontoError, PontoMalformedResponse

# === VALUE PARSERS: raise TypeError or ValueError on a value of the wrong type === #


def parse_timestamp(value):
    """Parse an ISO 8601 timestamp such as "2022-09-23T00:00:00.000Z" into an aware UTC datetime.

    A timestamp without offset is taken as UTC, like every timestamp Ponto sends.
    """
    if not isinstance(value, str):
        raise TypeError("not a string")
    text = value.strip()
    if text[-1:] in ("Z", "z"):  # Python < 3.11 `fromisoformat` rejects the "Z" suffix.
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_money(value):
    """Return a JSON number as a finite Decimal (floats are read through their shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError("not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise ValueError("not a finite number")
    return amount


def _parse_text(value):
    """A string; a number is accepted as its text (some banks send codes as numbers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise TypeError("not a string")


def _parse_code(value):
    """A non-empty string such as a currency code or a status."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError("not a non-empty string")
    return value.strip()


def _parse_flag(value):
    """A boolean; "true"/"false" strings are accepted (seen in Ibanity fixtures)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError("not a boolean")


class _Reader:
    """Reads typed values out of one resource's dict; errors name the resource and the key."""

    def __init__(self, kind, resource_id, values):
        self.label = f"{kind} {resource_id}" if resource_id else kind
        self.values = values

    def _fail(self, key, problem, expected):
        raise PontoMalformedResponse(
            f"Ponto sent {self.label} with {problem} '{key}' ({expected} expected).",
            field=key,
        )

    def read(self, key, parse, expected, *, required=False):
        value = self.values.get(key)
        if value is None:
            if required:
                self._fail(key, "no", expected)
            return None
        try:
            return parse(value)
        except (TypeError, ValueError, ArithmeticError):
            self._fail(key, "an invalid", expected)

    def text(self, key, *, required=False):
        return self.read(key, _parse_text, "a string", required=required)

    def code(self, key, *, required=False):
        return self.read(key, _parse_code, "a non-empty string", required=required)

    def money(self, key, *, required=False):
        return self.read(key, parse_money, "a number", required=required)

    def timestamp(self, key, *, required=False):
        return self.read(key, parse_timestamp, "an ISO 8601 timestamp", required=required)

    def flag(self, key, *, default=None):
        value = self.read(key, _parse_flag, "a boolean")
        return default if value is None else value


def _resource_parts(resource, kind):
    """Return (id, attributes, reader) of a JSON:API resource, checking its shape."""
    if not isinstance(resource, dict):
        raise PontoMalformedResponse(
            f"Ponto sent a {kind} that is not a JSON object.", field="data"
        )
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise PontoMalformedResponse(f"Ponto sent a {kind} without an id.", field="id")
    attributes = resource.get("attributes")
    if not isinstance(attributes, dict):
        raise PontoMalformedResponse(
            f"Ponto sent {kind} {resource_id} without attributes.", field="attributes"
        )
    return resource_id, attributes, _Reader(kind, resource_id, attributes)


def _object(container, key):
    """`container[key]` when it is a dict, else an empty dict (for optional nested objects)."""
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, dict) else {}


def _related_id(resource, relationship):
    """The id in `relationships.<relationship>.data.id`, or None."""
    related = _object(_object(_object(resource, "relationships"), relationship), "data")
    related_id = related.get("id")
    return related_id if isinstance(related_id, str) else None


# === RECORDS === #


@dataclass(frozen=True, kw_only=True)
class SyncIssue:
    """One error reported by a synchronization (e.g. code "authorizationInvalid")."""

    code: str | None
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class Synchronization:
    id: str
    resource_type: str | None = None
    resource_id: str | None = None
    subtype: str | None = None
    status: str
    errors: tuple[SyncIssue, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    updated_transactions_url: str | None = None
    customer_online: bool | None = None
    attributes: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_resource(cls, resource):
        sync_id, attributes, read = _resource_parts(resource, "synchronization")
        updated_transactions = _object(_object(resource, "relationships"), "updatedTransactions")
        return cls(
            id=sync_id,
            resource_type=read.text("resourceType"),
            resource_id=read.text("resourceId"),
            subtype=read.text("subtype"),
            status=read.code("status", required=True),
            errors=read.read("errors", _parse_issues, "a list of error objects") or (),
            created_at=read.timestamp("createdAt"),
            updated_at=read.timestamp("updatedAt"),
            updated_transactions_url=_Reader(
                "synchronization", sync_id, _object(updated_transactions, "links")
            ).text("related"),
            customer_online=read.flag("customerOnline"),
            attributes=attributes,
        )

    @property
    def is_finished(self):
        return self.status in SYNC_FINISHED_STATUSES

    def raise_for_error(self):
        """Raise the error this synchronization ended with, if it ended in error."""
        if self.status != "error":
            return
        detail = "; ".join(filter(None, (issue.detail or issue.code for issue in self.errors)))
        codes = [issue.code for issue in self.errors if issue.code]
        if AUTHORIZATION_INVALID_CODE in codes:
            raise PontoAuthorizationError(detail or None, code=AUTHORIZATION_INVALID_CODE)
        raise PontoError(
            detail or "The synchronization with the bank failed.", code=codes[0] if codes else None
        )


def _parse_issues(value):
    """The `errors` list of a synchronization, as SyncIssue tuples."""
    if not isinstance(value, list) or not all(isinstance(issue, dict) for issue in value):
        raise TypeError("not a list of objects")
    return tuple(
        SyncIssue(
            code=_optional_text(issue.get("code")), detail=_optional_text(issue.get("detail"))
        )
        for issue in value
    )


def _optional_text(value):
    return None if value is None else _parse_text(value)


@dataclass(frozen=True, kw_only=True)
class Account:
    id: str
    reference: str
    reference_type: str | None = None
    currency: str
    description: str | None = None
    subtype: str | None = None
    product: str | None = None
    holder_name: str | None = None
    internal_reference: str | None = None
    current_balance: Decimal
    available_balance: Decimal | None = None
    current_balance_reference_date: datetime | None = None
    available_balance_reference_date: datetime | None = None
    authorized_at: datetime | None = None
    authorization_expiration_expected_at: datetime | None = None
    deprecated: bool = False
    availability: str = "available"
    synchronized_at: datetime | None = None
    financial_institution_id: str | None = None
    latest_synchronization: Synchronization | None = None
    attributes: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_resource(cls, resource):
        account_id, attributes, read = _resource_parts(resource, "account")
        meta = _Reader("account", account_id, _object(resource, "meta"))
        latest_sync = meta.values.get("latestSynchronization")
        return cls(
            id=account_id,
            reference=read.text("reference", required=True),
            reference_type=read.text("referenceType"),
            currency=read.code("currency", required=True),
            description=read.text("description"),
            subtype=read.text("subtype"),
            product=read.text("product"),
            holder_name=read.text("holderName"),
            internal_reference=read.text("internalReference"),
            current_balance=read.money("currentBalance", required=True),
            available_balance=read.money("availableBalance"),
            current_balance_reference_date=read.timestamp("currentBalanceReferenceDate"),
            available_balance_reference_date=read.timestamp("availableBalanceReferenceDate"),
            authorized_at=read.timestamp("authorizedAt"),
            authorization_expiration_expected_at=read.timestamp(
                "authorizationExpirationExpectedAt"
            ),
            deprecated=read.flag("deprecated", default=False),
            availability=meta.code("availability") or "available",
            synchronized_at=meta.timestamp("synchronizedAt"),
            financial_institution_id=_related_id(resource, "financialInstitution"),
            latest_synchronization=(
                Synchronization.from_resource(latest_sync) if latest_sync is not None else None
            ),
            attributes=attributes,
        )

    @property
    def iban(self):
        """The reference without spaces, upper case, when it is an IBAN; else None."""
        if (self.reference_type or "").upper() != "IBAN":
            return None
        return "".join(self.reference.split()).upper()


@dataclass(frozen=True, kw_only=True)
class Transaction:
    """A booked transaction (type "transaction") or a pending one (type "pendingTransaction")."""

    id: str
    account_id: str | None = None
    amount: Decimal
    currency: str
    execution_date: datetime | None = None
    value_date: datetime | None = None
    description: str | None = None
    remittance_information: str | None = None
    remittance_information_type: str | None = None
    counterpart_name: str | None = None
    counterpart_reference: str | None = None
    end_to_end_id: str | None = None
    bank_transaction_code: str | None = None
    proprietary_bank_transaction_code: str | None = None
    purpose_code: str | None = None
    mandate_id: str | None = None
    creditor_id: str | None = None
    additional_information: str | None = None
    fee: Decimal | None = None
    card_reference: str | None = None
    card_reference_type: str | None = None
    internal_reference: str | None = None
    digest: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attributes: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_resource(cls, resource):
        transaction_id, attributes, read = _resource_parts(resource, "transaction")
        execution_date = read.timestamp("executionDate")
        value_date = read.timestamp("valueDate")
        if execution_date is None and value_date is None:
            read.timestamp("executionDate", required=True)  # Raises, naming executionDate.
        return cls(
            id=transaction_id,
            account_id=_related_id(resource, "account"),
            amount=read.money("amount", required=True),
            currency=read.code("currency", required=True),
            execution_date=execution_date,
            value_date=value_date,
            description=read.text("description"),
            remittance_information=read.text("remittanceInformation"),
            remittance_information_type=read.text("remittanceInformationType"),
            counterpart_name=read.text("counterpartName"),
            counterpart_reference=read.text("counterpartReference"),
            end_to_end_id=read.text("endToEndId"),
            bank_transaction_code=read.text("bankTransactionCode"),
            proprietary_bank_transaction_code=read.text("proprietaryBankTransactionCode"),
            purpose_code=read.text("purposeCode"),
            mandate_id=read.text("mandateId"),
            creditor_id=read.text("creditorId"),
            additional_information=read.text("additionalInformation"),
            fee=read.money("fee"),
            card_reference=read.text("cardReference"),
            card_reference_type=read.text("cardReferenceType"),
            internal_reference=read.text("internalReference"),
            digest=read.text("digest"),
            created_at=read.timestamp("createdAt"),
            updated_at=read.timestamp("updatedAt"),
            attributes=attributes,
        )

    def booking_date(self, tz=BRUSSELS_TZ):
        """The calendar date the bank booked this on, in `tz` (API.md §7).

        Some banks send local midnight in UTC ("2019-01-01T23:00:00.000Z" is 2 January in
        Brussels), so the timestamp is converted to the zone before its date is taken.
        """
        moment = self.execution_date or self.value_date
        return moment.astimezone(ZoneInfo(tz)).date()


@dataclass(frozen=True, kw_only=True)
class Institution:
    id: str
    name: str
    bic: str | None = None
    country: str | None = None
    status: str | None = None
    deprecated: bool = False
    maintenance_type: str | None = None
    maintenance_from: datetime | None = None
    maintenance_to: datetime | None = None
    logo_url: str | None = None
    attributes: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_resource(cls, resource):
        institution_id, attributes, read = _resource_parts(resource, "financial institution")
        return cls(
            id=institution_id,
            name=read.code("name", required=True),
            bic=read.text("bic"),
            country=read.text("country"),
            status=read.text("status"),
            deprecated=read.flag("deprecated", default=False),
            maintenance_type=read.text("maintenanceType"),
            maintenance_from=read.timestamp("maintenanceFrom"),
            maintenance_to=read.timestamp("maintenanceTo"),
            logo_url=read.text("logoUrl"),
            attributes=attributes,
        )


@dataclass(frozen=True, kw_only=True)
class UserInfo:
    """The organisation behind the credentials; `sub` is its stable id."""

    sub: str
    name: str | None = None
    onboarding_complete: bool | None = None
    payments_activated: bool | None = None
    attributes: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, payload):
        """Parse the plain (not data-wrapped) JSON of /userinfo."""
        if not isinstance(payload, dict):
            raise PontoMalformedResponse("Ponto sent user info that is not a JSON object.")
        read = _Reader("user info", "", payload)
        return cls(
            sub=read.code("sub", required=True),
            name=read.text("name"),
            onboarding_complete=read.flag("onboardingComplete"),
            payments_activated=read.flag("paymentsActivated"),
            attributes=payload,
        )

