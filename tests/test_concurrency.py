# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Runs at the same time: the cron and "Synchronize now" on one account, two cron workers over
twenty accounts.  Each run has its database connection and commits for real, as in production.

What must hold: no transaction imported twice, no account synchronized twice in one tick, no
deadlock (every run ends within a timeout), no database error raised to a user or to the cron.
"""

import re
import threading
import traceback
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from odoo import Command, fields
from odoo.tests import tagged

from ..models.ponto_sync import PontoAccountSync
from .test_crash_points import SMALL_PAGE, CrashCase

JOIN_TIMEOUT = 180  # seconds: a run still going after this is taken for a deadlock
ACCOUNT_PATH = re.compile(r"^/accounts/([^/?]+)(?:\?|$)")


class ConcurrencyCase(CrashCase):
    """Runs on cursors of their own.  Pages and batches of `page_size` (None: the real sizes)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.env_cursor() as env:
            env.ref("base.USD").active = True  # the fake's third account is in USD
            company = env["res.company"].browse(cls.company_id)
            accountant = env["res.users"].create({
                "name": "Concurrent accountant",
                "login": f"ponto-concurrent-{cls.__name__}-{cls.company_id}",
                "company_id": company.id,
                "company_ids": [Command.set(company.ids)],
                "group_ids": [Command.set([env.ref("base.group_user").id, env.ref("account.group_account_invoice").id])],
            })
            cls.accountant_id = accountant.id

    def run_together(self, **runs):
        """Start the named callables at once, each in a thread; wait for all of them.

        Returns ({name: result}, {name: exception}).  A run that does not end is a deadlock."""
        barrier = threading.Barrier(len(runs))
        results, errors = {}, {}
        self.tracebacks = {}

        def runner(name, run):
            try:
                barrier.wait(timeout=30)
                results[name] = run()
            except Exception as error:  # noqa: BLE001 - reported by the caller's assertions
                errors[name] = error
                self.tracebacks[name] = traceback.format_exc()

        threads = [threading.Thread(target=runner, args=item, name=f"ponto-{item[0]}", daemon=True)
                   for item in runs.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        self.assertFalse(stuck, f"runs still going after {JOIN_TIMEOUT} s: deadlock")
        return results, errors

    def assert_no_error(self, errors, message):
        """No run raised; else show where (the traceback of each)."""
        self.assertEqual(errors, {}, "\n".join([message, *self.tracebacks.values()]))

    def cron(self):
        with self.env_cursor() as env:
            env["ponto.account"]._cron_sync()

    def sync_now(self, account_id):
        """What the "Synchronize now" button does for an accountant."""
        with self.env_cursor(uid=self.accountant_id) as env:
            return env["ponto.account"].browse(account_id).action_sync()

    def make_due(self, account_ids):
        with self.env_cursor() as env:
            env["ponto.account"].browse(account_ids).write({"next_sync": fields.Datetime.now() - timedelta(minutes=1)})

    def account_refreshes(self, fake):
        """How many runs refreshed each account ({ponto id: GET /accounts/{id} calls})."""
        counts = Counter()
        for method, endpoint, path in fake.calls:
            match = ACCOUNT_PATH.match(path)
            if method == "GET" and endpoint == "account" and match:
                counts[match.group(1)] += 1
        return counts

    def ponto_ids(self, account_ids):
        with self.env_cursor() as env:
            return dict(env["ponto.account"].browse(account_ids).mapped(lambda account: (account.id, account.ponto_id)))


@contextmanager
def pause_after_commit(number, reached, resume, thread_name):
    """In the thread `thread_name`, after the run's `number`-th commit, set `reached` and wait
    for `resume` (at most 30 s): another run can then start at that very page boundary."""
    original = PontoAccountSync._commit
    calls = []

    def commit(account):
        original(account)
        if threading.current_thread().name == thread_name:
            calls.append(1)
            if len(calls) == number:
                reached.set()
                resume.wait(timeout=30)

    with patch.object(PontoAccountSync, "_commit", commit):
        yield calls


@tagged("post_install", "-at_install")
class TestCronAndSyncNow(ConcurrencyCase):
    """The cron and an accountant's "Synchronize now" on the same account.

    Pages and batches of 10 on 35 transactions: five commits, so page boundaries to meet at."""

    page_size = SMALL_PAGE

    def assert_user_was_answered(self, action):
        self.assertEqual(action["type"], "ir.actions.client")
        self.assertEqual(action["tag"], "display_notification")
        message = action["params"]["message"]
        for forbidden in ("Traceback", "psycopg2", "could not serialize", "deadlock"):
            self.assertNotIn(forbidden, message)

    def test_started_at_the_same_moment(self):
        for round_number in range(3):
            with self.subTest(round=round_number):
                account_id = self.new_account(transactions=35)
                self.make_due([account_id])
                results, errors = self.run_together(cron=self.cron, sync_now=lambda: self.sync_now(account_id))
                self.assert_no_error(errors, "no error raised to the cron or the user")
                self.assert_user_was_answered(results["sync_now"])
                self.assertEqual(self.sync(account_id), ("ok", False))
                self.assert_exact(account_id)
                fake = self.fakes[account_id]
                refreshes = self.account_refreshes(fake)
                self.assertLessEqual(max(refreshes.values()), 3, "each run refreshed the account once")

    def test_sync_now_while_the_cron_is_between_two_pages(self):
        """The accountant clicks while the cron has committed a page and fetches the next one
        (the account's lock is free then).  Either the click's run ends before the cron goes on
        ("click first"), or both go on at once ("overlap")."""
        for mode in ("click first", "overlap"):
            for pause_at in (1, 3):
                with self.subTest(mode=mode, after_commit=pause_at):
                    self.cron_pauses_while_the_user_clicks(pause_at, overlap=mode == "overlap")

    def cron_pauses_while_the_user_clicks(self, pause_at, *, overlap):
        account_id = self.new_account(transactions=35)
        self.make_due([account_id])
        reached, resume = threading.Event(), threading.Event()
        outcome = {}

        def click():
            reached.wait(timeout=60)
            try:
                outcome["action"] = self.sync_now(account_id)
            finally:
                resume.set()

        original_prepare = PontoAccountSync._prepare_sync

        def prepare(account, **kwargs):
            result = original_prepare(account, **kwargs)
            if overlap and threading.current_thread().name == "ponto-sync_now":
                resume.set()  # the cron goes on while the click's run holds the account
            return result

        with pause_after_commit(pause_at, reached, resume, "ponto-cron"), \
                patch.object(PontoAccountSync, "_prepare_sync", prepare):
            _results, errors = self.run_together(cron=self.cron, sync_now=click)
        self.assertTrue(reached.is_set())
        self.assert_no_error(errors, "no error raised to the cron or the user")
        self.assert_user_was_answered(outcome["action"])
        self.assertEqual(self.state(account_id), ("ok", False), "both runs ended well")
        self.assertEqual(self.sync(account_id), ("ok", False))
        self.assert_exact(account_id)

    def test_two_accountants_click_at_once(self):
        account_id = self.new_account(transactions=35)
        results, errors = self.run_together(first=lambda: self.sync_now(account_id), second=lambda: self.sync_now(account_id))
        self.assert_no_error(errors, "no error raised to a user")
        for action in results.values():
            self.assert_user_was_answered(action)
        self.assertEqual(self.sync(account_id), ("ok", False))
        self.assert_exact(account_id)


@tagged("post_install", "-at_install")
class TestTwoCronWorkers(ConcurrencyCase):
    """Two cron workers in the same tick over twenty due accounts (real page and batch sizes)."""

    page_size = None

    def test_two_workers_share_twenty_accounts(self):
        fake = self.start_fake(accounts=20, transactions=60)
        account_ids = self.add_accounts(fake)
        self.assertEqual(len(account_ids), 20)
        ponto_ids = self.ponto_ids(account_ids)
        for tick in ("first synchronization", "incremental"):
            with self.subTest(tick=tick):
                if tick == "incremental":
                    for ponto_id in ponto_ids.values():
                        fake.add_transactions(ponto_id, n=5)
                self.make_due(account_ids)
                fake.reset_calls()
                _results, errors = self.run_together(worker_1=self.cron, worker_2=self.cron)
                with self.subTest(tick=tick, check="no error"):
                    self.assert_no_error(errors, "no error raised to the cron")
                refreshes = self.account_refreshes(fake)
                with self.subTest(tick=tick, check="each account once"):
                    twice = {ponto_id: count for ponto_id, count in refreshes.items() if count != 1}
                    self.assertEqual(twice, {}, "each account synchronized once in the tick")
                with self.subTest(tick=tick, check="every account"):
                    self.assertEqual(set(refreshes), set(ponto_ids.values()), "every due account synchronized")
                with self.subTest(tick=tick, check="states"), self.env_cursor() as env:
                    accounts = env["ponto.account"].browse(account_ids)
                    states = {account.id: (account.sync_state, account.last_error) for account in accounts}
                    self.assertEqual(set(states.values()), {("ok", False)}, states)
                    due = accounts.filtered(lambda account: account.next_sync <= fields.Datetime.now())
                    self.assertFalse(due, "every account is scheduled for later")
                for account_id in account_ids:
                    with self.subTest(tick=tick, check="exact", account=account_id):
                        self.assert_exact(account_id)
                        with self.env_cursor() as env:
                            account = env["ponto.account"].browse(account_id)
                            self.assertEqual(account.imported_count, len(self.truth(account_id)))
