# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Bad input, from a person or from Ponto: a clear message or a sane import, never a traceback.

- what an administrator pastes as Client ID and Secret (through the link wizard);
- the API address system parameter: not https, or a server that answers HTML;
- odd account data: unknown currency, zero or huge amounts, future dates, 20 000 characters of
  remittance text, right-to-left text, emoji, NUL bytes.
"""

import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..models.account_bank_statement import AccountBankStatement
from ..models.ponto_connection import API_URL_PARAM
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .common import FAKE_TODAY, PontoCase

LEGACY_TOKEN = "4e8b1b2f1c9d4d7aa3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0"


class ReadableMixin:
    def assert_readable(self, message):
        """A sentence for a person: no traceback, no Python or database internals."""
        self.assertTrue(message)
        for forbidden in ("Traceback", 'File "', "psycopg2", "<class", "Error(", "\\x", "None",
                          "LINE 1", "DETAIL:", "CONTEXT:", "ERROR:"):
            self.assertNotIn(forbidden, message)
        self.assertLess(len(message), 1500, message)
        self.assertNotIn(FAKE_CLIENT_SECRET, message)


class HtmlServer:
    """A web server on 127.0.0.1 that answers every request with an HTML page (a login portal,
    a proxy's error page...), with the given status."""

    def __init__(self, status=200):
        page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@tagged("post_install", "-at_install")
class TestBadCredentials(ReadableMixin, PontoCase):
    """What an administrator may paste in the link wizard's step 1."""

    fake_accounts = 1

    def fetch(self, client_id, client_secret):
        wizard = self.env["ponto.link.wizard"].create({
            "client_id": client_id, "client_secret": client_secret, "company_id": self.company.id,
        })
        return wizard, wizard.action_fetch_accounts()

    def assert_refused(self, client_id, client_secret, pattern):
        self.fake.reset_calls()
        with self.assertRaises(UserError) as caught:
            self.fetch(client_id, client_secret)
        message = str(caught.exception)
        self.assertRegex(message, pattern)
        self.assert_readable(message)
        return message

    def test_refused_before_asking_ponto(self):
        required = "Both the Client ID and the Secret"
        not_an_id = "does not look like a Ponto Client ID"
        not_a_secret = "cannot be a Ponto Secret"
        legacy = "deprecated API tokens"
        cases = {
            "both empty": ("", "", required),
            "both blank": ("  \n", " \t ", required),
            "no Secret": (FAKE_CLIENT_ID, "", required),
            "blank Secret": (FAKE_CLIENT_ID, "   \n", required),
            "no Client ID": ("", FAKE_CLIENT_SECRET, required),
            "Client ID not a UUID": ("my-client-id", FAKE_CLIENT_SECRET, not_an_id),
            "Client ID with a space inside": (FAKE_CLIENT_ID[:8] + " " + FAKE_CLIENT_ID[8:], FAKE_CLIENT_SECRET, not_an_id),
            "absurdly long Client ID": (FAKE_CLIENT_ID * 400, FAKE_CLIENT_SECRET, not_an_id),
            "Client ID and Secret swapped": (FAKE_CLIENT_SECRET, FAKE_CLIENT_ID, not_an_id),
            "Secret with a space inside": (FAKE_CLIENT_ID, "fake ponto client secret", not_a_secret),
            "Secret with a newline inside": (FAKE_CLIENT_ID, "fake-ponto\nclient-secret", not_a_secret),
            "absurdly long Secret": (FAKE_CLIENT_ID, "s" * 100_000, not_a_secret),
            "legacy token": (LEGACY_TOKEN, "", legacy),
            "legacy token with spaces": (f"  {LEGACY_TOKEN}\n", "  ", legacy),
        }
        for name, (client_id, client_secret, pattern) in cases.items():
            with self.subTest(name):
                self.assert_refused(client_id, client_secret, pattern)
                self.assertEqual(self.fake.calls_to("token"), 0, "refused before anything is sent to Ponto")

    def test_refused_by_ponto(self):
        refused = "Ponto refused this Client ID and Secret"
        cases = {
            "wrong Secret": (FAKE_CLIENT_ID, "wrong-secret"),
            "unknown Client ID": ("0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f", FAKE_CLIENT_SECRET),
            "non-ASCII Secret": (FAKE_CLIENT_ID, "sécrèt-€-秘密"),
            "emoji Secret": (FAKE_CLIENT_ID, "secret-🔑"),
            "right-to-left Secret": (FAKE_CLIENT_ID, "\u202esecret"),
        }
        for name, (client_id, client_secret) in cases.items():
            with self.subTest(name):
                self.assert_refused(client_id, client_secret, refused)
                self.assertFalse(self.env["ponto.connection"].search([("company_id", "=", self.company.id)]))

    def test_spaces_and_newlines_around_are_forgiven(self):
        wizard, _action = self.fetch(f"  {FAKE_CLIENT_ID}\n", f"\t{FAKE_CLIENT_SECRET}  \n")
        self.assertEqual(wizard.step, "accounts")
        self.assertEqual(wizard.client_id, FAKE_CLIENT_ID)
        self.assertEqual(wizard.sudo().client_secret, FAKE_CLIENT_SECRET)
        wizard.action_validate()
        connection = self.env["ponto.connection"].search([("company_id", "=", self.company.id)])
        self.assertEqual(connection.sudo().client_secret, FAKE_CLIENT_SECRET)

    def test_upper_case_client_id_is_accepted(self):
        """UUIDs are case-insensitive; Ponto shows them in lower case."""
        self.fake.set_credentials(FAKE_CLIENT_ID.upper(), FAKE_CLIENT_SECRET)
        self.addCleanup(self.fake.set_credentials, FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        wizard, _action = self.fetch(FAKE_CLIENT_ID.upper(), FAKE_CLIENT_SECRET)
        self.assertEqual(wizard.step, "accounts")


@tagged("post_install", "-at_install")
class TestBadApiAddress(ReadableMixin, PontoCase):
    """The system parameter that decides where the Secret is sent."""

    fake_accounts = 1

    def set_url(self, url):
        self.env["ir.config_parameter"].sudo().set_param(API_URL_PARAM, url)

    def fetch(self):
        wizard = self.env["ponto.link.wizard"].create({
            "client_id": FAKE_CLIENT_ID, "client_secret": FAKE_CLIENT_SECRET, "company_id": self.company.id,
        })
        return wizard.action_fetch_accounts()

    def test_plain_http_is_refused_except_on_this_machine(self):
        port = self.fake.url.rsplit(":", 1)[1]
        refused = {
            "plain http": "http://api.myponto.com",
            "plain http with a port": f"http://api.myponto.com:{port}",
            "a look-alike of localhost": f"http://localhost.attacker.example:{port}",
            "127.0.0.1 as a subdomain": f"http://127.0.0.1.nip.io:{port}",
            "credentials in the address": f"http://user:pw@attacker.example:{port}",
            "ftp": "ftp://api.myponto.com",
            "no scheme": "api.myponto.com",
            "not an address": "not an address at all",
            "javascript": "javascript:alert(1)",
        }
        for name, url in refused.items():
            with self.subTest(name):
                self.set_url(url)
                self.fake.reset_calls()
                with self.assertRaises(UserError) as caught:
                    self.fetch()
                message = str(caught.exception)
                self.assertIn("https://", message)
                self.assertIn(API_URL_PARAM, message)
                self.assert_readable(message)
                self.assertEqual(self.fake.calls, [])
        for name, url in {"127.0.0.1": self.fake.url, "localhost": f"http://localhost:{port}",
                          "upper-case scheme, trailing slash": f"HTTP://127.0.0.1:{port}/"}.items():
            with self.subTest(name):
                self.set_url(url)
                self.assertEqual(self.fetch()["res_model"], "ponto.link.wizard")

    def test_refused_address_makes_a_readable_sync_state(self):
        connection = self.connect()
        account = connection.account_ids
        account.sync_start_date = FAKE_TODAY - timedelta(days=400)
        self.set_url("http://api.myponto.com")
        account._sync()
        self.assertEqual(account.sync_state, "error")
        self.assertIn("https://", account.last_error)
        self.assert_readable(account.last_error)

    def test_a_server_answering_html(self):
        for status in (200, 404, 500, 502):
            with self.subTest(status=status), HtmlServer(status) as server:
                self.set_url(server.url)
                with self.assertRaises(UserError) as caught:
                    self.fetch()
                self.assert_readable(str(caught.exception))

    def test_a_server_answering_html_during_a_sync(self):
        """A wrong address answers HTML: the run fails in words, and the account stays one the cron
        synchronizes (a page not found there says nothing about the Ponto account)."""
        connection = self.connect()
        account = connection.account_ids
        account.sync_start_date = FAKE_TODAY - timedelta(days=400)
        for status in (200, 503, 404):
            with self.subTest(status=status), HtmlServer(status) as server:
                self.set_url(server.url)
                account._sync()
                self.assertEqual(account.sync_state, "error", account.last_error)
                self.assert_readable(account.last_error)
                self.assertTrue(account.is_exposed, "still synchronized by the cron once fixed")
                self.assertFalse(self.imported(account))
        self.set_url(self.fake.url)
        account._sync()
        self.assertEqual(account.sync_state, "ok", account.last_error)
        self.assertEqual(self.imported(account), self.fake_truth(account.ponto_id))

    def test_https_address_of_a_plain_http_server(self):
        """https:// in front of a server that speaks plain http (a typo in the port): a TLS error."""
        self.set_url(self.fake.url.replace("http://", "https://"))
        with self.assertRaises(UserError) as caught:
            self.fetch()
        self.assertIn("could not be reached", str(caught.exception))
        self.assert_readable(str(caught.exception))


@tagged("post_install", "-at_install")
class TestOddTransactions(ReadableMixin, PontoCase):
    """What the bank may put in a transaction: each one imported sanely or refused in words."""

    fake_accounts = 1
    fake_transactions = 20

    def setUp(self):
        super().setUp()
        self.fake = self.start_fake()
        self.addCleanup(self.fake.stop)
        self.ponto_id = self.fake.account_ids[0]
        self.connection = self.connect()
        self.account = self.account_for(self.connection, self.ponto_id)
        self.account.sync_start_date = FAKE_TODAY - timedelta(days=400)
        self.account._sync()
        self.assert_exact()

    def assert_exact(self):
        self.assertEqual(self.account.sync_state, "ok", self.account.last_error)
        self.assertEqual(self.imported(self.account), self.fake_truth(self.ponto_id))

    def add_and_sync(self, **attributes):
        """Book one odd transaction and two ordinary ones after it; synchronize; the odd line."""
        [odd] = self.fake.add_transactions(self.ponto_id, **attributes)
        self.fake.add_transactions(self.ponto_id, n=2)
        self.account._sync()
        self.assert_exact()
        return self.env["account.bank.statement.line"].search([("ponto_transaction_id", "=", odd)])

    def test_zero_amount(self):
        line = self.add_and_sync(amount="0.00")
        self.assertEqual(line.amount, 0)

    def test_huge_amount(self):
        line = self.add_and_sync(amount="987654321012.34")
        self.assertEqual(Decimal(str(line.amount)), Decimal("987654321012.34"))

    def test_huge_remittance_text(self):
        text = "Facture 2026/0001 " + "x" * 20_000
        line = self.add_and_sync(remittanceInformation=text, remittanceInformationType="unstructured")
        self.assertEqual(line.payment_ref, text.strip())

    def test_right_to_left_and_emoji(self):
        texts = {
            "remittanceInformation": "فاتورة رقم ١٢٣ \u202eSIH\u202c 🧾💶",
            "counterpartName": "שלום בע\"מ 👋",
            "description": "Paiement 😀 \u200f",
        }
        line = self.add_and_sync(remittanceInformationType="unstructured", **texts)
        self.assertIn("فاتورة", line.payment_ref)
        self.assertIn("🧾", line.payment_ref)
        self.assertIn("👋", line.partner_name)

    def test_nul_and_control_characters(self):
        """PostgreSQL stores no NUL byte, in text or in JSON: the line is imported without them."""
        line = self.add_and_sync(
            remittanceInformation="Facture\x00 12\x07 34\x1b[31m", remittanceInformationType="unstructured",
            counterpartName="Dupont\x00 SRL", additionalInformation="\x00\x00",
        )
        self.assertNotIn("\x00", line.payment_ref)
        self.assertIn("Facture", line.payment_ref)
        self.assertNotIn("\x00", line.partner_name)
        self.assertNotIn("\x00", str(line.transaction_details))

    def test_unknown_currency_is_refused_in_words_then_imported_once_known(self):
        odd = self.fake.add_transactions(self.ponto_id, currency="XYZ")
        self.fake.add_transactions(self.ponto_id, n=2)
        self.account._sync()
        self.assertEqual(self.account.sync_state, "error")
        self.assertIn("XYZ", self.account.last_error)
        self.assert_readable(self.account.last_error)
        self.assertFalse(set(odd) & set(self.imported(self.account)))
        self.env["res.currency"].create({"name": "XYZ", "symbol": "¤", "rate_ids": [(0, 0, {"rate": 2.0})]})
        self.account._sync()
        self.assert_exact()
        line = self.env["account.bank.statement.line"].search([("ponto_transaction_id", "in", odd)])
        self.assertEqual(line.foreign_currency_id.name, "XYZ")

    def test_an_inactive_currency_is_named_then_imported_once_active(self):
        currency = self.env.ref("base.CHF")
        currency.active = False
        [odd] = self.fake.add_transactions(self.ponto_id, currency="CHF", amount="100.00")
        self.account._sync()
        if self.account.sync_state != "ok":  # refused in words, until someone activates it
            self.assertIn("CHF", self.account.last_error)
            self.assertIn("activ", self.account.last_error)
            self.assert_readable(self.account.last_error)
            currency.active = True
            self.account._sync()
        self.assert_exact()
        line = self.env["account.bank.statement.line"].search([("ponto_transaction_id", "=", odd)])
        self.assertEqual(line.foreign_currency_id, currency)
        self.assertEqual(line.amount_currency, 100)

    def test_future_date_does_not_hide_later_transactions(self):
        """A booked transaction dated in the future (some banks send their value date): imported,
        and the transactions booked after it, with today's date, are imported too."""
        future = FAKE_TODAY + timedelta(days=60)
        line = self.add_and_sync(executionDate=future, valueDate=future)
        self.assertEqual(line.date, future)
        later = self.fake.add_transactions(self.ponto_id, n=3)
        self.account._sync()
        self.assertTrue(set(later) <= set(self.imported(self.account)), "nothing booked later is lost")
        self.assert_exact()

    def test_value_date_only(self):
        """No executionDate: the value date is the booking date."""
        day = FAKE_TODAY - timedelta(days=1)
        line = self.add_and_sync(executionDate=None, valueDate=day)
        self.assertEqual(line.date, day)

    def test_no_date_at_all_is_refused_in_words(self):
        self.fake.add_transactions(self.ponto_id, executionDate=None, valueDate=None)
        # The fake lists a transaction without dates as the oldest: a first synchronization
        # (which walks the whole history) reads it.
        self.account.write({"last_transaction_id": False, "last_transaction_date": False})
        self.account._sync()
        self.assertEqual(self.account.sync_state, "error")
        self.assertIn("executionDate", self.account.last_error)
        self.assert_readable(self.account.last_error)

    def test_a_database_refusal_is_told_in_words(self):
        """PostgreSQL's error text quotes the statement and its data: not for the user's eyes."""
        original = AccountBankStatement._ponto_create_lines_in_statements

        def refused(statement, *args):
            statement.env.cr.execute("SELECT %s::jsonb", ['{"remittance": "Facture 2026/0042 \\u0000"}'])
            return original(statement, *args)

        self.fake.add_transactions(self.ponto_id)
        with patch.object(AccountBankStatement, "_ponto_create_lines_in_statements", refused):
            self.account._sync()
        self.assertEqual(self.account.sync_state, "error")
        self.assertIn("will be retried", self.account.last_error)
        self.assert_readable(self.account.last_error)
        self.assertNotIn("Facture 2026/0042", self.account.last_error)
        self.account._sync()
        self.assert_exact()

    def test_text_where_a_number_is_expected_is_refused_in_words(self):
        self.fake.add_transactions(self.ponto_id, amount=None)
        self.account._sync()
        self.assertEqual(self.account.sync_state, "error")
        self.assertIn("amount", self.account.last_error)
        self.assert_readable(self.account.last_error)
