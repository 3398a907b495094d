# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""A real browser (headless Chromium) clicks through Connect with Ponto against the fake Ponto.

The tour is static/src/js/tours/ponto_connect_tour.js.  Odoo skips it when no Chromium is
installed (scripts/setup installs Debian's chromium) or without pytest-odoo's --odoo-http
(scripts/test passes it).
"""

from odoo.tests import HttpCase, tagged

from .common import PontoCase


@tagged("post_install", "-at_install")
class TestConnectTour(PontoCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # An administrator of the company: Ponto's Client ID and Secret are for administrators.
        cls.env.user.group_ids += cls.env.ref("base.group_system")

    def test_connect_with_ponto_from_the_dashboard(self):
        self.start_tour(
            "/odoo/action-account.open_account_journal_dashboard_kanban",
            "account_bank_sync_ponto_connect",
            login=self.env.user.login,
            timeout=120,
        )
        connection = self.env["ponto.connection"].search([("company_id", "=", self.company.id)])
        self.assertEqual(connection.state, "connected")
        accounts = connection.account_ids
        self.assertEqual(len(accounts), 3)
        self.assertTrue(all(accounts.mapped("journal_id")), "every account is linked to a journal")
        checking = self.account_for(connection, self.fake.account_ids[0])
        self.assertEqual(checking.journal_id, self.bank_journal, "the wizard proposed the Bank journal")
        self.assertEqual(checking.sync_state, "ok", checking.last_error)
        self.assertTrue(self.imported(checking))
        self.assertEqual(
            self.imported(checking), self.fake_truth(checking.ponto_id, since=checking.sync_start_date)
        )
