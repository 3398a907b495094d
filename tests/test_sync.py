# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from datetime import timedelta
from itertools import pairwise

from odoo import fields
from odoo.tests import tagged

from ..ponto.records import Transaction
from .common import FAKE_TODAY, PontoCase


@tagged("post_install", "-at_install")
class TestSynchronization(PontoCase):
    """First and incremental synchronizations import exactly the fake's booked transactions."""

    def setUp(self):
        super().setUp()
        self.fake = self.start_fake()  # tests change the fake's state: one each
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


@tagged("post_install", "-at_install")
class TestSyncDetails(PontoCase):
    """Statements, dates, schedule, consent and Ponto's corrections."""

    def setUp(self):
        super().setUp()
        self.fake = self.start_fake()  # tests change the fake's state: one each
        self.connection = self.connect()
        self.checking_id, self.savings_id, self.usd_id = self.fake.account_ids
        self.connection.account_ids.write({"sync_start_date": FAKE_TODAY - timedelta(days=400)})
        self.checking = self.account_for(self.connection, self.checking_id)

    def statements(self, account):
        return self.env["account.bank.statement"].search(
            [("ponto_account_id", "=", account.id)], order="first_line_index"
        )

    def assert_statements_chain(self, account):
        statements = self.statements(account)
        self.assertTrue(statements)
        for previous, statement in pairwise(statements):
            self.assertAlmostEqual(statement.balance_start, previous.balance_end_real, places=2)
        self.assertTrue(all(statements.mapped("is_complete")), statements.mapped("problem_description"))
        self.assertTrue(all(statements.mapped("is_valid")), statements.mapped("problem_description"))
        self.assertAlmostEqual(statements[-1].balance_end_real, account.current_balance, places=2)
        return statements

    def test_statements_group_lines_by_period(self):
        for period, key in (("month", lambda d: (d.year, d.month)), ("week", lambda d: d.isocalendar()[:2]),
                            ("day", lambda d: d)):
            with self.subTest(period=period):
                lines = self.env["account.bank.statement.line"].search([("ponto_account_id", "=", self.checking.id)])
                lines.statement_id.unlink()
                lines.unlink()
                self.checking.write({
                    "statement_period": period, "last_transaction_id": False,
                    "last_transaction_date": False, "opening_balance_done": False,
                })
                self.checking._sync()
                self.assertEqual(self.checking.sync_state, "ok", self.checking.last_error)
                statements = self.assert_statements_chain(self.checking)
                for statement in statements:
                    self.assertEqual(len({key(line.date) for line in statement.line_ids}), 1, statement.name)
                periods = {key(line.date) for line in statements.line_ids}
                self.assertEqual(len(statements), len(periods))

    def test_one_statement_per_synchronization(self):
        self.checking.statement_period = "sync"
        self.checking._sync()
        self.fake.add_transactions(self.checking_id, n=4)
        self.checking.with_context(ponto_run_key="second run")._sync()
        self.assertEqual(self.checking.sync_state, "ok", self.checking.last_error)
        statements = self.assert_statements_chain(self.checking)
        self.assertEqual(len(statements), 2, statements.mapped("name"))
        self.assertEqual(len(statements[-1].line_ids), 4)

    def test_brussels_midnight_dates_are_not_shifted(self):
        savings = self.account_for(self.connection, self.savings_id)
        savings._sync()
        resources = self.fake.booked(self.savings_id)
        self.assertTrue(any("T23:00:00" in r["attributes"]["executionDate"] or "T22:00:00" in r["attributes"]["executionDate"]
                            for r in resources))
        lines = self.env["account.bank.statement.line"].search([("ponto_account_id", "=", savings.id)])
        by_id = {line.ponto_transaction_id: line.date for line in lines}
        for resource in resources:
            transaction = Transaction.from_resource(resource)
            self.assertEqual(by_id[transaction.id], transaction.booking_date())
            self.assertLess(by_id[transaction.id].weekday(), 5, "the fake books on business days")

    def test_line_carries_partner_name_iban_and_raw_details(self):
        self.checking._sync()
        line = self.env["account.bank.statement.line"].search(
            [("ponto_account_id", "=", self.checking.id), ("partner_name", "!=", False)], limit=1
        )
        resource = next(r for r in self.fake.booked(self.checking_id) if r["id"] == line.ponto_transaction_id)
        attributes = resource["attributes"]
        self.assertEqual(line.partner_name, attributes["counterpartName"])
        self.assertEqual(line.account_number, (attributes["counterpartReference"] or "").replace(" ", "") or False)
        self.assertEqual(line.transaction_details["id"], line.ponto_transaction_id)
        structured = self.env["account.bank.statement.line"].search(
            [("ponto_account_id", "=", self.checking.id), ("payment_ref", "=like", "+++%+++")]
        )
        self.assertTrue(structured, "structured communications keep their +++ form")

    def test_cron_syncs_due_accounts_and_advances_their_next_date(self):
        accounts = self.connection.account_ids
        accounts.next_sync = fields.Datetime.now() - timedelta(minutes=1)
        self.env["ponto.account"]._cron_sync()
        for account in accounts:
            self.assertEqual(account.sync_state, "ok", account.last_error)
            self.assertGreater(account.next_sync, fields.Datetime.now() + timedelta(hours=5))
        self.assertEqual(self.imported(self.checking), self.fake_truth(self.checking_id))
        counts = accounts.mapped("imported_count")
        self.env["ponto.account"]._cron_sync()  # nobody is due any more
        self.assertEqual(accounts.mapped("imported_count"), counts)
        self.assertEqual(accounts.mapped("last_sync_count"), [len(self.fake_truth(a.ponto_id)) for a in accounts])

    def test_cron_isolates_a_failing_account(self):
        self.fake.inject("account", "500", count=4)  # the first account's refresh fails, every retry
        accounts = self.connection.account_ids
        accounts.next_sync = fields.Datetime.now() - timedelta(minutes=1)
        self.env["ponto.account"]._cron_sync()
        self.fake.clear_faults()
        states = accounts.mapped("sync_state")
        self.assertEqual(states.count("error"), 1, states)
        self.assertEqual(states.count("ok"), 2, states)
        failed = accounts.filtered(lambda a: a.sync_state == "error")
        self.assertIn("could not be reached", failed.last_error)
        self.assertLess(failed.next_sync, fields.Datetime.now() + timedelta(hours=2), "retried soon")
        self.env["ponto.account"].browse(failed.ids).next_sync = fields.Datetime.now() - timedelta(minutes=1)
        self.env["ponto.account"]._cron_sync()
        self.assertEqual(failed.sync_state, "ok")
        self.assertEqual(self.imported(failed), self.fake_truth(failed.ponto_id))

    def test_state_changes_reach_the_chatter_once(self):
        self.fake.inject("account", "500", count=20)
        self.checking._sync()
        self.checking._sync()
        self.fake.clear_faults()
        messages = self.checking.message_ids.filtered(lambda m: "could not be reached" in (m.body or ""))
        self.assertEqual(len(messages), 1)

    def test_ponto_corrections_update_unreconciled_lines_only(self):
        self.checking._sync(manual=True)  # imports, and asks Ponto for a bank refresh
        first, second = list(self.imported(self.checking))[:2]
        lines = self.env["account.bank.statement.line"].search([("ponto_transaction_id", "in", [first, second])])
        reconciled = lines.filtered(lambda line: line.ponto_transaction_id == second)
        suspense = reconciled.move_id.line_ids.filtered(lambda aml: aml.account_id == reconciled.journal_id.suspense_account_id)
        suspense.with_context(skip_readonly_check=True).account_id = self.company_data["default_account_expense"]
        self.assertTrue(reconciled.is_reconciled)
        self.fake.update_transaction(self.checking_id, first, remittanceInformation="Corrected by the bank",
                                     remittanceInformationType="unstructured")
        self.fake.update_transaction(self.checking_id, second, remittanceInformation="Also corrected",
                                     remittanceInformationType="unstructured")
        for _run in range(3):  # the refresh finishes after a few looks; never waited for
            self.checking._sync(manual=True)
        corrected = lines.filtered(lambda line: line.ponto_transaction_id == first)
        self.assertEqual(corrected.payment_ref, "Corrected by the bank")
        self.assertNotEqual(reconciled.payment_ref, "Also corrected")
        self.assertTrue(self.checking.message_ids.filtered(lambda m: "already reconciled" in (m.body or "")))

    def test_consent_warnings_at_15_3_1_days_and_on_expiry(self):
        activity_type = self.env.ref("account_bank_sync_ponto.mail_activity_ponto_consent")
        now = fields.Datetime.now()
        for days_left, expected in ((20, 0), (14, 1), (14, 1), (2, 2), (0.5, 3), (-1, 4), (170, 0)):
            self.checking.authorization_expiration = now + timedelta(days=days_left)
            self.checking._warn_consent()
            activities = self.checking.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
            self.assertEqual(len(activities), expected, f"{days_left} days left")

    def test_expired_consent_is_a_state_with_an_activity(self):
        self.fake.expire_consent(self.checking_id)
        for _run in range(3):
            self.checking._sync()
        self.assertEqual(self.checking.sync_state, "consent_expired", self.checking.last_error)
        self.assertIn("Reauthorize", self.checking.last_error)
        self.assertTrue(self.checking.activity_ids)
        self.assertEqual(self.imported(self.checking), self.fake_truth(self.checking_id),
                         "what Ponto already holds is still imported")

    def test_dashboard_shows_last_sync_and_warnings(self):
        journal = self.checking.journal_id
        data = journal._get_journal_dashboard_data_batched()[journal.id]
        self.assertTrue(data["ponto_linked"])
        self.assertFalse(data["ponto_last_sync"])
        self.checking._sync()
        data = journal._get_journal_dashboard_data_batched()[journal.id]
        self.assertTrue(data["ponto_last_sync"])
        self.assertFalse(data["ponto_warning"])
        self.fake.inject("account", "503", count=4)
        self.checking._sync()
        data = journal._get_journal_dashboard_data_batched()[journal.id]
        self.assertIn("could not be reached", data["ponto_warning"])
