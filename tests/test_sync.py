# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from datetime import date, timedelta
from decimal import Decimal

from odoo.tests import tagged

from .common import FAKE_TODAY, PontoCase


@tagged("post_install", "-at_install")
class TestSynchronization(PontoCase):
    """First and incremental synchronizations import exactly the fake's booked transactions."""

    def setUp(self):
        super().setUp()
        self.connection = self.connect()
        self.checking_id, self.savings_id, self.usd_id = self.fake.account_ids
        self.start = FAKE_TODAY - timedelta(days=400)
        self.connection.account_ids.write({"sync_start_date": self.start})

    def test_first_sync_imports_exactly_the_booked_transactions(self):
        accounts = self.connection.account_ids
        accounts._sync()
        for account in accounts:
            self.assertEqual(account.sync_state, "ok", account.last_error)
            self.assertEqual(self.imported(account), self.fake_truth(account.ponto_id))

    def test_first_sync_starts_at_the_start_date(self):
        account = self.account_for(self.connection, self.checking_id)
        start = FAKE_TODAY - timedelta(days=120)
        account.sync_start_date = start
        account._sync()
        self.assertEqual(self.imported(account), self.fake_truth(self.checking_id, since=start))
        self.assertTrue(self.imported(account))

    def test_incremental_sync_imports_only_new_transactions(self):
        account = self.account_for(self.connection, self.checking_id)
        account._sync()
        first_count = account.imported_count
        new_ids = self.fake.add_transactions(self.checking_id, n=7)
        account._sync()
        self.assertEqual(account.last_sync_count, 7)
        self.assertEqual(account.imported_count, first_count + 7)
        self.assertTrue(set(new_ids) <= set(self.imported(account)))
        self.assertEqual(self.imported(account), self.fake_truth(self.checking_id))

    def test_sync_without_news_imports_nothing(self):
        account = self.account_for(self.connection, self.checking_id)
        account._sync()
        account._sync()
        self.assertEqual(account.last_sync_count, 0)
        self.assertEqual(self.imported(account), self.fake_truth(self.checking_id))

    def test_journal_balance_matches_the_bank(self):
        account = self.account_for(self.connection, self.checking_id)
        account._sync()
        self.fake.add_transactions(self.checking_id, n=3)
        account._sync()
        lines = self.env["account.bank.statement.line"].search([("journal_id", "=", account.journal_id.id)])
        self.assertAlmostEqual(sum(lines.mapped("amount")), account.current_balance, places=2)
        newest = self.env["account.bank.statement"].search(
            [("ponto_account_id", "=", account.id)], order="first_line_index desc", limit=1
        )
        self.assertAlmostEqual(newest.balance_end_real, account.current_balance, places=2)
        statements = self.env["account.bank.statement"].search([("ponto_account_id", "=", account.id)])
        self.assertTrue(all(statements.mapped("is_complete")), statements.mapped("problem_description"))
        self.assertTrue(all(statements.mapped("is_valid")), statements.mapped("problem_description"))

    def test_pending_transactions_are_not_imported(self):
        account = self.account_for(self.connection, self.checking_id)
        account._sync()
        pending = {t.id for t in account.connection_id._get_client().iter_pending_transactions(self.checking_id)}
        self.assertTrue(pending)
        self.assertFalse(pending & set(self.imported(account)))

    def test_usd_account_lines_are_in_the_journal_currency(self):
        account = self.account_for(self.connection, self.usd_id)
        account._sync()
        self.assertEqual(account.journal_id.currency_id.name, "USD")
        lines = self.env["account.bank.statement.line"].search([("ponto_account_id", "=", account.id)])
        self.assertTrue(lines)
        self.assertFalse(lines.foreign_currency_id)
        self.assertEqual(self.imported(account), self.fake_truth(self.usd_id))

    def test_sync_now_from_the_journal_dashboard(self):
        account = self.account_for(self.connection, self.checking_id)
        action = account.journal_id.action_ponto_sync()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.imported(account), self.fake_truth(self.checking_id))
        self.assertTrue(account.last_sync)
