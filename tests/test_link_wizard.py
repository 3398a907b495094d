# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Linking Ponto to Odoo: the wizard (Client ID/Secret, then one line per Ponto account)."""

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..models.ponto_connection import API_URL_PARAM
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .common import PontoCase

DASHBOARD_ACTION = "account.open_account_journal_dashboard_kanban"


class EuroCompanyMixin:
    """A company in EUR, as a Belgian Ponto user has: its Bank journal matches the EUR accounts."""

    @classmethod
    def setup_independent_company(cls, **kwargs):
        return super().setup_independent_company(currency_id=cls._enable_currency("EUR").id, **kwargs)


class WizardCase(EuroCompanyMixin, PontoCase):
    def use_own_fake(self):
        """A fake Ponto for this test alone, for tests that change Ponto's side (credentials,
        revoked accounts): the class-wide one must stay as every test expects it."""
        self.fake = self.start_fake()
        self.addCleanup(self.fake.stop)

    def line_for(self, wizard, ponto_id):
        return wizard.line_ids.filtered(lambda line: line.ponto_id == ponto_id)

    def connection_of(self, company=None):
        return self.env["ponto.connection"].search([("company_id", "=", (company or self.company).id)])

    def assert_fed_by_ponto(self, journal, account):
        """`journal` is linked to the Ponto `account` and has its IBAN as the company's bank account."""
        self.assertEqual(account.journal_id, journal)
        self.assertEqual(journal.bank_statements_source, "ponto")
        self.assertEqual(journal.bank_account_id.sanitized_acc_number, account.iban)
        self.assertEqual(journal.bank_account_id.partner_id, self.company.partner_id)


@tagged("post_install", "-at_install")
class TestLinkOneAccount(WizardCase):
    """The user guide's tip: a single bank account goes to the existing Bank journal."""

    fake_accounts = 1

    def test_single_account_is_proposed_on_the_existing_bank_journal(self):
        wizard = self.open_wizard()
        self.assertEqual(wizard.step, "accounts")
        self.assertEqual(len(wizard.line_ids), 1)
        self.assertEqual(wizard.line_ids.action, "link")
        self.assertEqual(wizard.line_ids.journal_id, self.bank_journal)

    def test_validate_links_the_bank_journal_with_its_iban(self):
        self.assertFalse(self.bank_journal.bank_account_id)
        wizard = self.open_wizard()
        action = wizard.action_validate()
        connection = self.connection_of()
        self.assertEqual(len(connection), 1)
        self.assertEqual(connection.state, "connected")
        self.assertEqual(connection.client_id, FAKE_CLIENT_ID)
        self.assertEqual(connection.name, "Ponto Demo BV", "the organization's name")
        self.assertTrue(connection.organization_id)
        account = connection.account_ids
        self.assertEqual(account.ponto_id, self.fake.account_ids[0])
        self.assert_fed_by_ponto(self.bank_journal, account)
        self.assertTrue(account.next_sync, "the first import is scheduled")
        self.assertEqual(action["xml_id"], DASHBOARD_ACTION)

    def test_connecting_again_updates_the_same_connection(self):
        """Connect with Ponto again (e.g. from another journal's card) must not duplicate the
        accounts in a second connection: each would feed its own journal."""
        self.connect()
        wizard = self.open_wizard()
        self.assertEqual(wizard.line_ids.action, "link")
        self.assertEqual(wizard.line_ids.journal_id, self.bank_journal)
        wizard.action_validate()
        connection = self.connection_of()
        self.assertEqual(len(connection), 1)
        self.assertEqual(len(self.env["ponto.account"].search([("company_id", "=", self.company.id)])), 1)
        self.assertEqual(connection.account_ids.journal_id, self.bank_journal)


@tagged("post_install", "-at_install")
class TestLinkThreeAccounts(WizardCase):
    """EUR checking, EUR savings and USD: each Action of the wizard."""

    def setUp(self):
        super().setUp()
        self.checking_id, self.savings_id, self.usd_id = self.fake.account_ids
        self.eur = self.env.ref("base.EUR")
        self.usd = self.env.ref("base.USD")

    def new_bank_journal(self, name, code, currency=None):
        return self.env["account.journal"].create({
            "name": name, "code": code, "type": "bank", "currency_id": currency and currency.id,
        })

    def test_first_account_is_proposed_on_the_bank_journal_the_others_on_new_journals(self):
        wizard = self.open_wizard()
        self.assertEqual(wizard.line_ids.mapped("ponto_id"), self.fake.account_ids)
        checking, savings, usd = (self.line_for(wizard, ponto_id) for ponto_id in self.fake.account_ids)
        self.assertEqual((checking.action, checking.journal_id), ("link", self.bank_journal))
        self.assertEqual((savings.action, savings.journal_id.id), ("create", False))
        self.assertEqual((usd.action, usd.journal_id.id), ("create", False))
        self.assertEqual(checking.currency_id, self.eur)
        self.assertEqual(usd.currency_id, self.usd)
        self.assertTrue(checking.iban.startswith("BE"))

    def test_create_new_journal_gets_the_iban_and_the_currency_of_the_account(self):
        connection = self.connect()
        savings = self.account_for(connection, self.savings_id)
        usd = self.account_for(connection, self.usd_id)
        for account in savings | usd:
            self.assertNotEqual(account.journal_id, self.bank_journal)
            self.assertEqual(account.journal_id.type, "bank")
            self.assertEqual(account.journal_id.name, account.name)
            self.assert_fed_by_ponto(account.journal_id, account)
        self.assertEqual(usd.journal_id.currency_id, self.usd)
        self.assertEqual(savings.journal_id.currency_id.id or self.company.currency_id.id, self.eur.id)
        self.assert_fed_by_ponto(self.bank_journal, self.account_for(connection, self.checking_id))

    def test_link_existing_journal_links_the_chosen_journal(self):
        savings_journal = self.new_bank_journal("Savings", "SAV")
        journals_before = self.env["account.journal"].search_count([])
        connection = self.connect(line1={"action": "link", "journal_id": savings_journal.id})
        self.assert_fed_by_ponto(savings_journal, self.account_for(connection, self.savings_id))
        self.assertEqual(self.env["account.journal"].search_count([]), journals_before + 1, "only USD's")

    def test_no_link_leaves_the_account_unlinked(self):
        journals_before = self.env["account.journal"].search_count([])
        connection = self.connect(
            line0={"action": "none"}, line1={"action": "none"}, line2={"action": "none"}
        )
        self.assertEqual(len(connection.account_ids), 3)
        self.assertFalse(connection.account_ids.journal_id)
        self.assertEqual(self.env["account.journal"].search_count([]), journals_before)
        self.assertEqual(self.bank_journal.bank_statements_source, "undefined")
        self.assertFalse(self.bank_journal.bank_account_id)

    def test_a_journal_with_the_account_iban_is_proposed_for_it(self):
        savings_iban = self.line_for(self.open_wizard(), self.savings_id).iban
        savings_journal = self.env["account.journal"].create({
            "name": "Savings", "code": "SAV", "type": "bank", "bank_acc_number": savings_iban,
        })
        line = self.line_for(self.open_wizard(), self.savings_id)
        self.assertEqual((line.action, line.journal_id), ("link", savings_journal))

    def test_the_company_bank_account_with_the_iban_is_reused(self):
        savings_iban = self.line_for(self.open_wizard(), self.savings_id).iban
        bank_account = self.env["res.partner.bank"].create({
            "acc_number": savings_iban, "partner_id": self.company.partner_id.id,
        })
        connection = self.connect()
        self.assertEqual(self.account_for(connection, self.savings_id).journal_id.bank_account_id, bank_account)

    def test_the_form_walks_both_steps(self):
        """Through the wizard's form view, as the dialog does: credentials, then the lines."""
        form = Form(self.env["ponto.link.wizard"])
        form.client_id = f" {FAKE_CLIENT_ID} "
        form.client_secret = FAKE_CLIENT_SECRET
        wizard = form.save()
        wizard.action_fetch_accounts()
        form = Form(wizard)
        self.assertEqual(form.step, "accounts")
        with form.line_ids.edit(0) as line:
            self.assertEqual(line.journal_id, self.bank_journal)
            line.action = "none"
            self.assertFalse(line.journal_id, "no link clears the journal")
        form.save().action_validate()
        self.assertEqual(self.connection_of().client_id, FAKE_CLIENT_ID)
        self.assertFalse(self.account_for(self.connection_of(), self.checking_id).journal_id)

    def test_frequency_and_statement_period_are_kept(self):
        connection = self.connect(line2={"sync_frequency": "daily", "statement_period": "week"})
        usd = self.account_for(connection, self.usd_id)
        self.assertEqual((usd.sync_frequency, usd.statement_period), ("daily", "week"))

    # ------------------------------------------------------------------ validation errors

    def assert_refused(self, wizard, *words):
        with self.assertRaises(UserError) as caught:
            wizard.action_validate()
        for word in words:
            self.assertIn(word, str(caught.exception))
        self.assertFalse(self.connection_of(), "nothing is saved")

    def test_two_accounts_on_one_journal_are_refused(self):
        wizard = self.open_wizard()
        self.line_for(wizard, self.savings_id).write({"action": "link", "journal_id": self.bank_journal.id})
        self.assert_refused(wizard, "same journal", self.bank_journal.name)

    def test_journal_linked_to_another_ponto_account_is_refused(self):
        other = self.env["ponto.connection"].create({"name": "Other", "company_id": self.company.id})
        linked = self.env["ponto.account"].create({
            "name": "Elsewhere", "ponto_id": "elsewhere", "connection_id": other.id, "currency_code": "EUR",
        })
        journal = self.new_bank_journal("Taken", "TKN")
        linked._link_journal(journal)
        wizard = self.open_wizard()
        self.line_for(wizard, self.savings_id).write({"action": "link", "journal_id": journal.id})
        with self.assertRaisesRegex(UserError, "already linked to the Ponto account Elsewhere"):
            wizard.action_validate()

    def test_journal_in_another_currency_is_refused(self):
        wizard = self.open_wizard()
        self.line_for(wizard, self.checking_id).action = "create"
        self.line_for(wizard, self.usd_id).write({"action": "link", "journal_id": self.bank_journal.id})
        self.assert_refused(wizard, "USD", "EUR", "choose a journal in USD or create a new one")

    def test_journal_of_another_company_is_refused(self):
        other_journal = self.setup_other_company()["default_journal_bank"]
        wizard = self.open_wizard()
        self.line_for(wizard, self.usd_id).write({"action": "link", "journal_id": other_journal.id})
        self.assert_refused(wizard, "another company", other_journal.company_id.name)

    def test_link_without_journal_is_refused(self):
        wizard = self.open_wizard()
        self.line_for(wizard, self.savings_id).write({"action": "link", "journal_id": False})
        self.assert_refused(wizard, "Choose the journal", "Spaarrekening")

    def test_wrong_credentials_say_ponto_refused_them(self):
        self.use_own_fake()
        self.fake.set_credentials(FAKE_CLIENT_ID, "another-secret")
        with self.assertRaises(UserError) as caught:
            self.open_wizard()
        message = str(caught.exception)
        self.assertIn("Ponto refused this Client ID and Secret", message)
        self.assertNotIn("Traceback", message)
        self.assertNotIn("fake-ponto-client-secret", message)

    def test_connection_is_named_ponto_when_ponto_does_not_tell_the_organization(self):
        self.use_own_fake()
        self.fake.inject("userinfo", "500", count=None)
        connection = self.connect()
        self.assertEqual((connection.name, connection.organization_id), ("Ponto", False))
        self.assertEqual(connection.state, "connected")

    def test_ponto_out_of_order_is_a_clear_error(self):
        self.use_own_fake()
        self.fake.inject("accounts", "503", count=None)
        with self.assertRaisesRegex(UserError, "Ponto could not be reached"):
            self.open_wizard()

    def test_incomplete_credentials_are_refused_before_calling_ponto(self):
        self.fake.reset_calls()
        with self.assertRaisesRegex(UserError, "Both the Client ID and the Secret"):
            self.open_wizard(client_secret="")
        with self.assertRaisesRegex(UserError, "does not look like a Ponto Client ID"):
            self.open_wizard(client_id="not-a-uuid")
        with self.assertRaisesRegex(UserError, "cannot be a Ponto Secret"):
            self.open_wizard(client_secret="two words")
        self.assertFalse(self.fake.calls)

    def test_credentials_are_only_sent_over_https(self):
        self.env["ir.config_parameter"].set_param(API_URL_PARAM, "http://ponto.example.com")
        self.fake.reset_calls()
        with self.assertRaisesRegex(UserError, "must start with https://"):
            self.open_wizard()
        self.assertFalse(self.fake.calls)


@tagged("post_install", "-at_install")
class TestLinkNoAccount(WizardCase):
    fake_accounts = 0

    def test_integration_without_accounts_is_refused(self):
        with self.assertRaises(UserError) as caught:
            self.open_wizard()
        self.assertIn("gives access to no account", str(caught.exception))
        self.assertIn("select the accounts to synchronize", str(caught.exception))


@tagged("post_install", "-at_install")
class TestLinkActivatesCurrency(PontoCase):
    """A journal created for an account in a currency not in use yet works at once."""

    def test_new_journal_activates_the_account_currency(self):
        usd = self.env.ref("base.USD")
        # USD is in use by the database's first company: make it look unused here, in SQL.
        self.env.cr.execute("UPDATE res_currency SET active = FALSE WHERE id = %s", [usd.id])
        usd.invalidate_recordset(["active"])
        wizard = self.open_wizard()
        wizard.line_ids.filtered(lambda line: line.currency_id == usd).action = "create"
        wizard.action_validate()
        self.assertTrue(usd.active)
        account = self.env["ponto.account"].search([("currency_id", "=", usd.id), ("company_id", "=", self.company.id)])
        account._sync()
        self.assertEqual(account.sync_state, "ok", account.last_error)
