# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""A run killed at any point leaves a consistent prefix, and the next run completes it exactly.

These tests commit for real, as the cron does, on cursors of their own.  One company serves every
case: each case gets a fake Ponto of its own (another seed, so other transaction ids), a new bank
journal and a new Ponto account on the company's connection, so no case sees another's lines.
"""

import itertools
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, get_db_name, tagged

from ..models import ponto_sync
from ..models.account_bank_statement import AccountBankStatement
from ..models.ponto_connection import API_URL_PARAM, BACKOFF_PARAM
from ..models.ponto_sync import PontoAccountSync
from ..ponto import const
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto
from ..ponto.records import Transaction
from .common import FAKE_TODAY

START_DATE = FAKE_TODAY - timedelta(days=400)


class SimulatedCrash(BaseException):
    """Like a killed worker: not an Exception, so no handler of the engine catches it."""


class CommittedCase(BaseCase):
    """One company with a Ponto connection, committed; helpers to add accounts fed by fakes."""

    _seeds = itertools.count(1000)
    _lock = threading.Lock()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.fakes = {}  # ponto.account id -> its FakePonto
        with cls.env_cursor() as env:
            params = env["ir.config_parameter"]
            saved = {name: params.get_param(name) for name in (API_URL_PARAM, BACKOFF_PARAM)}
            cls.addClassCleanup(cls.clean_up, saved)
            params.set_param(BACKOFF_PARAM, "0.001")
            company = env["res.company"].create({
                "name": f"{cls.__name__} {uuid.uuid4().hex[:6]}",
                "country_id": env.ref("base.be").id,
                "currency_id": env.ref("base.EUR").id,
            })
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
            env.ref("base.user_admin").company_ids |= company
            connection = env["ponto.connection"].create({
                "name": "Ponto", "company_id": company.id, "client_id": FAKE_CLIENT_ID,
                "client_secret": FAKE_CLIENT_SECRET, "state": "connected",
            })
            cls.company_id, cls.connection_id = company.id, connection.id

    @classmethod
    def clean_up(cls, saved_params):
        """What was committed must not show in the tests that run after: the connection goes
        (its accounts with it; the lines stay, in the class's own company), parameters come back."""
        with cls.env_cursor() as env:
            connection = env["ponto.connection"].browse(getattr(cls, "connection_id", False) or []).exists()
            connection.with_context(active_test=False).account_ids.unlink()
            connection.unlink()
            for name, value in saved_params.items():
                env["ir.config_parameter"].set_param(name, value or False)

    @classmethod
    @contextmanager
    def env_cursor(cls, uid=SUPERUSER_ID):
        """An environment on a cursor of its own, committed at the end unless something raised."""
        with cls.registry.cursor() as cr:
            yield api.Environment(cr, uid, {"ponto_autocommit": True})

    @classmethod
    def start_fake(cls, **options):
        """A fake Ponto with data of its own (a new seed), now the API URL of the database."""
        options = {"accounts": 1, "transactions": 350, "seed": next(cls._seeds), "today": FAKE_TODAY, **options}
        fake = FakePonto(**options).start()
        cls.addClassCleanup(fake.stop)
        with cls.env_cursor() as env:
            env["ir.config_parameter"].set_param(API_URL_PARAM, fake.url)
        return fake

    @classmethod
    def add_accounts(cls, fake, **values):
        """The fake's accounts on the company's connection, each linked to a new bank journal."""
        with cls.env_cursor() as env:
            connection = env["ponto.connection"].browse(cls.connection_id)
            client = connection._get_client()
            accounts = connection._apply_ponto_accounts(list(client.iter_accounts()))
            for account in accounts:
                currency = account.currency_id
                company = connection.company_id
                journal = env["account.journal"].create({
                    "name": f"Ponto {account.ponto_id[:8]}",
                    "type": "bank",
                    "company_id": company.id,
                    "currency_id": currency.id if currency != company.currency_id else False,
                })
                account._link_journal(journal)
            accounts.write({"sync_start_date": START_DATE, **values})
            for account in accounts:
                cls.fakes[account.id] = fake
            return accounts.ids

    def new_account(self, **options):
        """A new Ponto account of 350 transactions (4 pages) on a fake of its own."""
        fake = self.start_fake(**options)
        return self.add_accounts(fake)[0]

    def sync(self, account_id, **kwargs):
        with self.env_cursor() as env:
            account = env["ponto.account"].browse(account_id)
            account._sync(**kwargs)
            return account.sync_state, account.last_error

    def state(self, account_id):
        with self.env_cursor() as env:
            account = env["ponto.account"].browse(account_id)
            return account.sync_state, account.last_error

    def imported(self, account_id):
        """{transaction id: amount} of the lines, and their number (a dict would hide a duplicate)."""
        with self.env_cursor() as env:
            env.cr.execute(
                "SELECT ponto_transaction_id, amount FROM account_bank_statement_line"
                " WHERE ponto_account_id = %s AND ponto_transaction_id IS NOT NULL",
                (account_id,),
            )
            rows = env.cr.fetchall()
        self.assertEqual(len(rows), len({row[0] for row in rows}), "a transaction imported twice")
        return {transaction_id: Decimal(str(amount)).quantize(Decimal("0.01")) for transaction_id, amount in rows}

    def oldest_first(self, account_id):
        """The fake's booked transactions as (id, amount), oldest first."""
        with self.env_cursor() as env:
            ponto_id = env["ponto.account"].browse(account_id).ponto_id
        booked = map(Transaction.from_resource, reversed(self.fakes[account_id].booked(ponto_id)))
        return [(transaction.id, Decimal(transaction.amount)) for transaction in booked]

    def truth(self, account_id):
        return dict(self.oldest_first(account_id))

    def assert_prefix(self, account_id):
        partial = self.imported(account_id)
        oldest_first = self.oldest_first(account_id)
        self.assertEqual(partial, dict(oldest_first[:len(partial)]), "a crash keeps the oldest part")
        return partial

    def assert_exact(self, account_id):
        """Every booked transaction once, every line in a statement, the journal at the bank's balance."""
        self.assertEqual(self.imported(account_id), self.truth(account_id))
        with self.env_cursor() as env:
            account = env["ponto.account"].browse(account_id)
            self.assertEqual(account.sync_state, "ok", account.last_error)
            lines = env["account.bank.statement.line"].search([("journal_id", "=", account.journal_id.id)])
            imported = lines.filtered("ponto_transaction_id")
            self.assertFalse(imported.filtered(lambda line: not line.statement_id), "no line outside a statement")
            self.assertAlmostEqual(sum(lines.mapped("amount")), account.current_balance, places=2)


@contextmanager
def crash_at_commit(number, *, after):
    """Crash the run at its `number`-th commit, just before or just after it."""
    original = PontoAccountSync._commit
    calls = []

    def commit(account):
        calls.append(1)
        if len(calls) == number and not after:
            raise SimulatedCrash
        original(account)
        if len(calls) == number and after:
            raise SimulatedCrash

    with patch.object(PontoAccountSync, "_commit", commit):
        yield calls


@contextmanager
def fail_once(cls, method, number, error):
    """`cls.method` raises `error` on its `number`-th call (once), else runs as usual."""
    original = getattr(cls, method)
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            raise error
        return original(self, *args, **kwargs)

    with patch.object(cls, method, failing):
        yield calls


# What a page and a batch hold here: the same paths as Ponto's 100 and the engine's 1000, a tenth
# of the lines to create, and commits between pages.
SMALL_PAGE = 10


class CrashCase(CommittedCase):
    """Pages (Ponto's page[limit]) and batches (what the engine imports and commits at once) of
    `page_size`; None: the real sizes."""

    page_size = SMALL_PAGE

    def setUp(self):
        super().setUp()
        if self.page_size:
            for target, name in ((const, "PAGE_LIMIT"), (ponto_sync, "BATCH_SIZE")):
                patcher = patch.object(target, name, self.page_size)
                patcher.start()
                self.addCleanup(patcher.stop)

    def crash_then_rerun(self, account_id, number, *, after):
        """Crash the run at its `number`-th commit; check the prefix it kept; rerun; compare."""
        with crash_at_commit(number, after=after) as calls, self.assertRaises(SimulatedCrash):
            self.sync(account_id)
        self.assertEqual(len(calls), number)
        partial = self.assert_prefix(account_id)
        self.assertEqual(self.sync(account_id), ("ok", False))
        self.assert_exact(account_id)
        return len(partial)

    def committed_counts(self, prepare):
        """A run on the account `prepare()` returns, without crash: the number of its lines before
        the run, then after each of the run's commits (so one more item than commits)."""
        account_id = prepare()
        counts = [len(self.imported(account_id))]
        original = PontoAccountSync._commit

        def commit(account):
            original(account)
            account.env.cr.execute(
                "SELECT count(*) FROM account_bank_statement_line"
                " WHERE ponto_account_id = %s AND ponto_transaction_id IS NOT NULL", (account_id,),
            )
            counts.append(account.env.cr.fetchone()[0])

        with patch.object(PontoAccountSync, "_commit", commit):
            self.sync(account_id)
        self.assert_exact(account_id)
        return counts

    def assert_every_crash_point(self, prepare, *, at_least):
        """For each commit of a run on a fresh `prepare()` account, crash just before it and just
        after it; the crash keeps what the earlier commits had; the rerun completes it exactly."""
        counts = self.committed_counts(prepare)
        commits = len(counts) - 1
        self.assertGreaterEqual(commits, at_least, counts)
        for number in range(1, commits + 1):
            for after in (False, True):
                with self.subTest(commit=number, after=after):
                    kept = self.crash_then_rerun(prepare(), number, after=after)
                    self.assertEqual(kept, counts[number] if after else counts[number - 1],
                                     "what was committed, and nothing more")
        return counts

    def incremental_account(self, initial, new):
        """An account whose `initial` transactions are imported; `new` more are booked since.

        The initial ones fall on the last two business days, all within the few days an
        incremental run looks back: the batches are the same whatever the seed."""
        account_id = self.new_account(transactions=initial, start_date=FAKE_TODAY - timedelta(days=3))
        self.sync(account_id)
        self.assert_exact(account_id)
        with self.env_cursor() as env:
            ponto_id = env["ponto.account"].browse(account_id).ponto_id
        self.fakes[account_id].add_transactions(ponto_id, n=new)
        return account_id


@tagged("post_install", "-at_install")
class TestCrashPoints(CrashCase):
    """Kill the run at every batch boundary, before and after its commit; rerun; compare.

    Pages and batches hold 10 transactions here: the same code paths and commits, a tenth of the
    lines to create.  `TestCrashPointsRealPages` repeats crash points with the real sizes.
    """

    def test_crash_at_every_commit_of_a_first_sync(self):
        counts = self.assert_every_crash_point(lambda: self.new_account(transactions=35), at_least=4)
        self.assertEqual(counts[-1], 35)

    def test_crash_at_every_commit_of_an_incremental_sync(self):
        """New transactions on top of a complete history."""
        self.assert_every_crash_point(lambda: self.incremental_account(12, 25), at_least=2)

    def test_crash_at_every_commit_of_a_streamed_incremental_sync(self):
        """More new transactions than an incremental run holds in memory: it streams page by page."""
        with patch.object(ponto_sync, "MAX_BUFFERED_TRANSACTIONS", 20):
            self.assert_every_crash_point(lambda: self.incremental_account(12, 35), at_least=4)

    def test_crash_while_creating_the_statements_of_a_batch(self):
        counts = self.committed_counts(lambda: self.new_account(transactions=35))
        # The first commit only refreshes the snapshot once the account is locked; the last one is
        # the account's state; the batches are in between.
        batches = len(counts) - 3
        for batch in range(1, batches + 1):
            with self.subTest(batch=batch):
                account_id = self.new_account(transactions=35)
                with fail_once(AccountBankStatement, "_ponto_create_lines_in_statements", batch, SimulatedCrash), \
                        self.assertRaises(SimulatedCrash):
                    self.sync(account_id)
                self.assertEqual(len(self.assert_prefix(account_id)), counts[batch])
                self.assertEqual(self.sync(account_id), ("ok", False))
                self.assert_exact(account_id)

    def test_crash_after_the_lines_before_their_statement(self):
        """Killed in `account.bank.statement` creation: the batch's lines exist, their statement not."""
        counts = self.committed_counts(lambda: self.new_account(transactions=35))
        account_id = self.new_account(transactions=35)
        Statement = self.registry["account.bank.statement"]  # the class with every override
        with fail_once(Statement, "create", 2, SimulatedCrash), self.assertRaises(SimulatedCrash):
            self.sync(account_id)
        self.assertEqual(len(self.assert_prefix(account_id)), counts[2], "only the first batch stays")
        self.assertEqual(self.sync(account_id), ("ok", False))
        self.assert_exact(account_id)

    def test_error_while_creating_the_statements_is_a_state_then_retried(self):
        """An ordinary exception there is caught by the engine: a readable state, nothing lost."""
        for batch in (1, 2, 3):
            with self.subTest(batch=batch):
                account_id = self.new_account(transactions=35)
                error = RuntimeError("statement storage unavailable")
                with fail_once(AccountBankStatement, "_ponto_create_lines_in_statements", batch, error):
                    state, message = self.sync(account_id)
                self.assertEqual(state, "error")
                self.assertIn("statement storage unavailable", message)
                self.assertIn("will be retried", message)
                self.assertNotIn("Traceback", message)
                self.assert_prefix(account_id)
                self.assertEqual(self.sync(account_id), ("ok", False))
                self.assert_exact(account_id)

    def test_rerun_after_a_complete_run_imports_nothing(self):
        account_id = self.new_account(transactions=35)
        self.sync(account_id)
        with self.env_cursor() as env:
            count = env["ponto.account"].browse(account_id).imported_count
        self.assertEqual(self.sync(account_id), ("ok", False))
        with self.env_cursor() as env:
            account = env["ponto.account"].browse(account_id)
            self.assertEqual((account.last_sync_count, account.imported_count), (0, count))
        self.assert_exact(account_id)


@tagged("post_install", "-at_install")
class TestCrashPointsRealPages(CrashCase):
    """Crash points again with the real sizes: 350 transactions in pages of 100, one batch."""

    page_size = None

    def test_real_sizes(self):
        self.assert_every_crash_point(self.new_account, at_least=2)
