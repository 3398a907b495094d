# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""The Online Synchronization record: Update Accounts, Edit, Synchronize now, deprecated tokens."""

import uuid
from datetime import timedelta

from lxml import etree

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .common import FAKE_TODAY
from .test_link_wizard import WizardCase

NEW_CLIENT_ID = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
NEW_SECRET = "renewed-ponto-secret"
LEGACY_TOKEN = "4e8b1b2f1c9d4d7aa3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0"


@tagged("post_install", "-at_install")
class TestUpdateAccounts(WizardCase):
    """Update Accounts: new Client ID/Secret, links kept by Ponto id, removed accounts flagged."""

    def setUp(self):
        super().setUp()
        self.use_own_fake()
        self.checking_id, self.savings_id, self.usd_id = self.fake.account_ids
        self.connection = self.connect(line1={"action": "none"})
        self.accounts_before = self.connection.with_context(active_test=False).account_ids
        self.journals_before = {account.ponto_id: account.journal_id for account in self.accounts_before}

    def update_accounts(self, client_id=NEW_CLIENT_ID, client_secret=NEW_SECRET):
        """Update Accounts as the button opens it, after step 1."""
        action = self.connection.action_open_update_credentials()
        self.assertEqual(action["res_model"], "ponto.link.wizard")
        return self.open_wizard(client_id, client_secret, **action["context"])

    def test_update_accounts_opens_the_wizard_on_the_connection(self):
        action = self.connection.action_open_update_credentials()
        wizard = Form(self.env["ponto.link.wizard"].with_context(**action["context"]))
        self.assertEqual(wizard.connection_id, self.connection)
        self.assertEqual(wizard.company_id, self.company)
        self.assertEqual(wizard.client_id, FAKE_CLIENT_ID)

    def test_new_credentials_keep_the_links(self):
        self.fake.set_credentials(NEW_CLIENT_ID, NEW_SECRET)
        wizard = self.update_accounts()
        for line in wizard.line_ids:
            journal = self.journals_before[line.ponto_id]
            self.assertEqual((line.action, line.journal_id), ("link" if journal else "none", journal), line.name)
        wizard.action_validate()
        self.assertEqual(self.connection.client_id, NEW_CLIENT_ID)
        self.assertEqual(self.connection.sudo().client_secret, NEW_SECRET)
        self.assertEqual(self.connection.state, "connected")
        accounts = self.connection.with_context(active_test=False).account_ids
        self.assertEqual(accounts, self.accounts_before, "the same records, matched by Ponto id")
        self.assertEqual({account.ponto_id: account.journal_id for account in accounts}, self.journals_before)
        self.assertEqual(self.env["ponto.connection"].search_count([]), 1)

    def test_settings_of_known_accounts_are_proposed_again(self):
        self.account_for(self.connection, self.usd_id).write({"sync_frequency": "weekly", "statement_period": "day"})
        line = self.line_for(self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET), self.usd_id)
        self.assertEqual((line.sync_frequency, line.statement_period), ("weekly", "day"))

    def test_removed_account_is_flagged_never_deleted(self):
        usd = self.account_for(self.connection, self.usd_id)
        usd_journal = usd.journal_id
        usd.sync_start_date = FAKE_TODAY - timedelta(days=400)
        usd._sync()
        lines = self.env["account.bank.statement.line"].search([("journal_id", "=", usd_journal.id)])
        self.assertTrue(lines)
        self.fake.revoke_account(self.usd_id)
        wizard = self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.assertNotIn(self.usd_id, wizard.line_ids.mapped("ponto_id"))
        wizard.action_validate()
        self.assertTrue(usd.exists())
        self.assertFalse(usd.is_exposed)
        self.assertEqual(usd.journal_id, usd_journal)
        self.assertTrue(usd_journal.exists())
        self.assertEqual(self.env["account.bank.statement.line"].search([("journal_id", "=", usd_journal.id)]), lines)
        self.assertTrue(self.account_for(self.connection, self.checking_id).is_exposed)

    def test_account_dropped_between_the_two_steps_keeps_its_journal(self):
        usd = self.account_for(self.connection, self.usd_id)
        wizard = self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.fake.revoke_account(self.usd_id)
        wizard.action_validate()
        self.assertFalse(usd.is_exposed)
        self.assertEqual(usd.journal_id, self.journals_before[self.usd_id])
        self.assertEqual(self.connection.state, "connected")

    def test_removed_account_comes_back_exposed_with_its_link(self):
        usd = self.account_for(self.connection, self.usd_id)
        self.fake.revoke_account(self.usd_id)
        self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET).action_validate()
        self.assertFalse(usd.is_exposed)
        self.use_own_fake()  # the same seed: the same accounts, none revoked
        wizard = self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.assertEqual(self.line_for(wizard, self.usd_id).journal_id, usd.journal_id)
        wizard.action_validate()
        self.assertTrue(usd.is_exposed)

    def test_moving_a_journal_between_accounts_in_one_update(self):
        """Checking gives up the Bank journal, savings takes it: one validation, no false refusal."""
        wizard = self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.line_for(wizard, self.checking_id).action = "none"
        self.line_for(wizard, self.savings_id).write({"action": "link", "journal_id": self.bank_journal.id})
        wizard.action_validate()
        self.assertFalse(self.account_for(self.connection, self.checking_id).journal_id)
        self.assertEqual(self.account_for(self.connection, self.savings_id).journal_id, self.bank_journal)
        self.assertEqual(self.bank_journal.bank_statements_source, "ponto")

    def test_old_credentials_no_longer_work_after_the_update(self):
        self.fake.set_credentials(NEW_CLIENT_ID, NEW_SECRET)
        with self.assertRaisesRegex(UserError, "Ponto refused this Client ID and Secret"):
            self.update_accounts(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.assertEqual(self.connection.client_id, FAKE_CLIENT_ID, "nothing saved on a refusal")


@tagged("post_install", "-at_install")
class TestConnectionActions(WizardCase):
    """Synchronize now and Edit, from the Online Synchronization form."""

    def setUp(self):
        super().setUp()
        self.connection = self.connect()
        self.connection.account_ids.write({"sync_start_date": FAKE_TODAY - timedelta(days=400)})

    def test_synchronize_now_imports_every_linked_account(self):
        action = self.connection.action_sync()
        self.assertEqual(action["params"]["type"], "success")
        for account in self.connection.account_ids:
            self.assertEqual(account.sync_state, "ok", account.last_error)
            self.assertEqual(self.imported(account), self.fake_truth(account.ponto_id))

    def test_synchronize_now_without_linked_account_says_so(self):
        self.connection.account_ids.action_unlink_journal()
        with self.assertRaisesRegex(UserError, "No linked Ponto account"):
            self.connection.action_sync()

    def test_edit_opens_the_synchronization_settings_of_the_connection(self):
        action = self.connection.action_edit_accounts()
        accounts = self.env[action["res_model"]].with_context(**action["context"]).search(action["domain"])
        self.assertEqual(accounts, self.connection.account_ids)
        view = self.env["ir.ui.view"].browse(action["views"][0][0])
        self.assertEqual(view.arch_db and etree.fromstring(view.arch_db).get("editable"), "bottom")


@tagged("post_install", "-at_install")
class TestDeprecatedToken(WizardCase):
    """Connections made with a single API token must move to a Client ID and Secret."""

    def setUp(self):
        super().setUp()
        self.checking_id, self.savings_id, self.usd_id = self.fake.account_ids
        self.connection = self.env["ponto.connection"].create({
            "name": "Legacy Ponto", "company_id": self.company.id, "api_token": LEGACY_TOKEN,
        })
        self.checking = self.env["ponto.account"].create({
            "name": "Old checking", "ponto_id": self.checking_id, "connection_id": self.connection.id,
            "currency_code": "EUR",
        })
        self.checking._link_journal(self.bank_journal)

    def test_a_token_only_connection_is_deprecated(self):
        self.assertEqual(self.connection.state, "deprecated_token")

    def test_synchronize_now_refuses_with_the_migration_guidance(self):
        with self.assertRaises(UserError) as caught:
            self.connection.action_sync()
        self.assert_migration_guidance(str(caught.exception))

    def test_synchronize_now_from_the_journal_refuses_with_the_migration_guidance(self):
        self.fake.reset_calls()
        with self.assertRaises(UserError) as refusal:
            self.bank_journal.action_ponto_sync()
        self.assert_migration_guidance(str(refusal.exception))
        self.assertFalse(self.fake.calls, "the token is never sent to Ponto")
        self.assertEqual(self.connection.state, "deprecated_token")

    def test_update_accounts_migrates_to_client_id_and_secret_keeping_links(self):
        action = self.connection.action_open_update_credentials()
        wizard = self.open_wizard(**action["context"])
        self.assertTrue(wizard.is_legacy)
        self.assertEqual(self.line_for(wizard, self.checking_id).journal_id, self.bank_journal)
        wizard.action_validate()
        self.assertEqual(self.connection.state, "connected")
        self.assertFalse(self.connection.sudo().api_token)
        self.assertEqual(self.connection.client_id, FAKE_CLIENT_ID)
        self.assertEqual(self.account_for(self.connection, self.checking_id), self.checking)
        self.assertEqual(self.checking.journal_id, self.bank_journal)
        self.assertEqual(self.checking.name, "Compte courant", "refreshed from Ponto")
        self.assertEqual(len(self.connection.account_ids), 3)

    def test_a_token_pasted_as_client_id_gets_the_migration_guidance(self):
        action = self.connection.action_open_update_credentials()
        for client_id in (LEGACY_TOKEN, f"  {LEGACY_TOKEN}\n", "abc123"):
            with self.assertRaises(UserError) as caught:
                self.open_wizard(client_id, "", **action["context"])
            self.assert_migration_guidance(str(caught.exception))
            self.assertNotIn("refused", str(caught.exception))

    def test_deprecated_connection_is_not_synchronized_by_the_cron(self):
        self.checking.next_sync = self.checking.create_date - timedelta(days=1)
        self.assertNotIn(self.checking, self.env["ponto.account"].search(self.checking._due_domain()))

    def assert_migration_guidance(self, message):
        for words in ("deprecated", "Client ID", "Secret", "Integration", "Update Accounts"):
            self.assertIn(words, message)


@tagged("post_install", "-at_install")
class TestConnectionFormForAnAccountant(WizardCase):
    """The Online Synchronization form shows each user the buttons they may use."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = ["base.group_user", "account.group_account_invoice"]
        cls.accountant = cls.env["res.users"].create({
            "name": "Accountant", "login": f"accountant-{uuid.uuid4().hex[:8]}",
            "company_id": cls.company.id, "company_ids": [Command.set(cls.company.ids)],
            "group_ids": [Command.set([cls.env.ref(xmlid).id for xmlid in groups])],
        })

    def form_arch(self, user):
        view = self.env["ponto.connection"].with_user(user).get_views([(False, "form")])["views"]["form"]
        return etree.fromstring(view["arch"])

    def buttons(self, arch):
        return {button.get("name") for button in arch.iter("button")}

    def test_an_accountant_may_synchronize_but_not_change_credentials_or_links(self):
        arch = self.form_arch(self.accountant)
        self.assertIn("action_sync", self.buttons(arch))
        self.assertNotIn("action_open_update_credentials", self.buttons(arch))
        self.assertNotIn("action_edit_accounts", self.buttons(arch))
        self.assertFalse(arch.xpath("//field[@name='client_secret']"))

    def test_an_administrator_sees_update_accounts_edit_and_synchronize(self):
        arch = self.form_arch(self.env.user)
        self.assertLessEqual(
            {"action_open_update_credentials", "action_edit_accounts", "action_sync"}, self.buttons(arch)
        )

    def test_the_deprecated_token_banner_tells_what_to_do(self):
        banner = self.form_arch(self.accountant).xpath("//div[contains(@invisible, 'deprecated_token')]")
        self.assertEqual(len(banner), 1)
        text = " ".join(banner[0].itertext())
        for words in ("deprecated", "Integration", "Client ID", "Secret", "Update Accounts"):
            self.assertIn(words, text)
