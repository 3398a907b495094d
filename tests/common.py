# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Shared set-up of the Odoo tests: a company with a chart (Odoo's own test common), the fake
Ponto over real HTTP on 127.0.0.1, and the API URL pointed at it."""

from datetime import date
from decimal import Decimal

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from ..models.ponto_connection import API_URL_PARAM
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto
from ..ponto.records import Transaction

# A fixed "today" for the fake's data, so that dates and periods are the same on every run.
FAKE_TODAY = date(2026, 11, 30)


class PontoCase(AccountTestInvoicingCommon):
    """Tests against a running fake Ponto (class-wide), linked through the real wizard."""

    country_code = "BE"  # a Belgian company in EUR, with Odoo's generic chart
    chart_template = "generic_coa"
    fake_accounts = 3
    fake_transactions = 40

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = cls.start_fake()
        cls.company = cls.company_data["company"]
        cls.bank_journal = cls.company_data["default_journal_bank"]
        # Retries wait a few milliseconds instead of seconds: the retry logic is the same.
        cls.env["ir.config_parameter"].sudo().set_param("account_bank_sync_ponto.backoff_base", "0.001")

    @classmethod
    def start_fake(cls, **options):
        options = {
            "accounts": cls.fake_accounts,
            "transactions": cls.fake_transactions,
            "seed": 7,
            "today": FAKE_TODAY,
            **options,
        }
        fake = FakePonto(**options)
        fake.start()
        cls.addClassCleanup(fake.stop)
        cls.env["ir.config_parameter"].sudo().set_param(API_URL_PARAM, fake.url)
        return fake

    # ------------------------------------------------------------------ helpers

    def open_wizard(self, client_id=FAKE_CLIENT_ID, client_secret=FAKE_CLIENT_SECRET, **context):
        """The link wizard after step 1 (credentials checked, lines proposed)."""
        wizard = self.env["ponto.link.wizard"].with_context(**context).create({
            "client_id": client_id,
            "client_secret": client_secret,
            "company_id": self.company.id,
            **({"connection_id": context["default_connection_id"]} if "default_connection_id" in context else {}),
        })
        wizard.action_fetch_accounts()
        return wizard

    def connect(self, **line_values):
        """Connect through the wizard with its proposed lines (overridden by `line_values`,
        keyed by the line's position) and validate. Returns the connection."""
        wizard = self.open_wizard()
        for position, values in line_values.items():
            wizard.line_ids[int(position.removeprefix("line"))].write(values)
        wizard.action_validate()
        return self.env["ponto.connection"].search([("company_id", "=", self.company.id)], order="id desc", limit=1)

    def account_for(self, connection, ponto_id):
        return connection.account_ids.filtered(lambda account: account.ponto_id == ponto_id)

    def fake_truth(self, ponto_id, since=None):
        """{transaction id: amount} of the fake's booked transactions (from `since` on)."""
        truth = {}
        for resource in self.fake.booked(ponto_id):
            transaction = Transaction.from_resource(resource)
            if since is None or transaction.booking_date() >= since:
                truth[transaction.id] = Decimal(transaction.amount)
        return truth

    def imported(self, account):
        """{transaction id: amount} of the statement lines imported for `account`."""
        lines = self.env["account.bank.statement.line"].search([
            ("ponto_account_id", "=", account.id), ("ponto_transaction_id", "!=", False),
        ])
        return {
            line.ponto_transaction_id: Decimal(str(line.amount_currency if line.foreign_currency_id else line.amount))
            for line in lines
        }
