# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Exactly once with real commits: runs of one account in parallel (crashes: test_crash_points).

These tests commit for real (as the cron does), so they run on cursors of their own, each in a
company of its own (the test database is thrown away after the run).
"""

import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import psycopg2

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, get_db_name, tagged

from ..models import ponto_sync
from ..models.ponto_connection import API_URL_PARAM, BACKOFF_PARAM
from ..models.ponto_sync import PontoAccountSync
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakePonto
from ..ponto.records import Transaction
from .common import FAKE_TODAY


@contextmanager
def always_locked(account):
    """The account lock as if every run got it: two runs import side by side."""
    yield True


@tagged("post_install", "-at_install")
class TestSyncDurability(BaseCase):
    transactions = 450  # five batches of 100 (see setUp)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.fake = FakePonto(accounts=1, transactions=cls.transactions, seed=21, today=FAKE_TODAY)
        cls.fake.start()
        cls.addClassCleanup(cls.fake.stop)
        cls.ponto_id = cls.fake.account_ids[0]
        with cls.env_cursor() as env:
            params = env["ir.config_parameter"]
            params.set_param(API_URL_PARAM, cls.fake.url)
            params.set_param(BACKOFF_PARAM, "0.001")

    def setUp(self):
        super().setUp()
        self.startPatcher(patch.object(ponto_sync, "BATCH_SIZE", 100))  # one commit per page

    @classmethod
    @contextmanager
    def env_cursor(cls):
        """An environment on a cursor of its own, committed at the end unless something raised."""
        with cls.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {"ponto_autocommit": True})

    def linked_account_id(self):
        """A new Belgian company with a chart, linked to the fake through the wizard; committed."""
        with self.env_cursor() as env:
            company = env["res.company"].create({
                "name": f"Durability {uuid.uuid4().hex[:8]}",
                "country_id": env.ref("base.be").id,
                "currency_id": env.ref("base.EUR").id,
            })
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
            admin = env.ref("base.user_admin")
            admin.company_ids |= company
            env = env(user=admin, context=dict(env.context, allowed_company_ids=[company.id]))
            wizard = env["ponto.link.wizard"].create({
                "client_id": FAKE_CLIENT_ID, "client_secret": FAKE_CLIENT_SECRET, "company_id": company.id,
            })
            wizard.action_fetch_accounts()
            wizard.action_validate()
            account = env["ponto.account"].search([("company_id", "=", company.id)])
            account.sync_start_date = FAKE_TODAY - timedelta(days=400)
            return account.id

    def sync(self, account_id):
        with self.env_cursor() as env:
            account = env["ponto.account"].browse(account_id)
            account._sync()
            return account.sync_state, account.last_error

    def imported(self, account_id):
        with self.env_cursor() as env:
            lines = env["account.bank.statement.line"].search([("ponto_account_id", "=", account_id)])
            return sorted(
                (line.ponto_transaction_id, Decimal(str(line.amount)))
                for line in lines if line.ponto_transaction_id
            )

    def truth(self):
        """The fake's booked transactions as sorted (id, amount) pairs."""
        booked = map(Transaction.from_resource, self.fake.booked(self.ponto_id))
        return sorted((transaction.id, Decimal(transaction.amount)) for transaction in booked)

    def run_in_parallel(self, account_id, runs=2):
        """Start `runs` synchronizations of one account at once, each on its own cursor.

        Returns the errors the runs raised (the database may refuse a concurrent write)."""
        barrier = threading.Barrier(runs)
        errors = []

        def run():
            try:
                barrier.wait()
                self.sync(account_id)
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return errors

    def test_parallel_syncs_of_one_account_import_once(self):
        account_id = self.linked_account_id()
        self.assertEqual(self.run_in_parallel(account_id), [], "the second run skips the locked account")
        self.sync(account_id)
        self.assertEqual(self.imported(account_id), self.truth())

    def test_unique_index_prevents_duplicates_even_without_the_lock(self):
        account_id = self.linked_account_id()
        with patch.object(PontoAccountSync, "_exclusive_run", always_locked):
            errors = self.run_in_parallel(account_id)
        self.assertTrue(all(isinstance(error, psycopg2.Error) for error in errors), errors)
        self.sync(account_id)
        self.assertEqual(self.imported(account_id), self.truth())
