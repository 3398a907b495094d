# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Is my bank reachable through Ponto? The cached list of Ponto's banks."""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .test_link_wizard import WizardCase


@tagged("post_install", "-at_install")
class TestInstitutions(WizardCase):
    def setUp(self):
        super().setUp()
        self.Institution = self.env["ponto.institution"]
        self.Institution.search([]).unlink()
        client = self.env["ponto.connection"]._make_client(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
        self.fake_banks = {bank.id: bank for bank in client.iter_financial_institutions()}

    def test_refresh_needs_a_connection(self):
        with self.assertRaisesRegex(UserError, "Connect Odoo with Ponto first"):
            self.Institution.action_refresh()

    def test_refresh_loads_the_banks_of_ponto(self):
        self.connect()
        self.Institution.action_refresh()
        institutions = self.Institution.search([])
        self.assertEqual(set(institutions.mapped("ponto_id")), set(self.fake_banks))
        kbc = institutions.filtered(lambda institution: institution.name == "KBC Bank")
        self.assertEqual((kbc.bic, kbc.country_code), ("KREDBEBB", "BE"))

    def test_refresh_again_updates_without_duplicates(self):
        self.connect()
        self.Institution.action_refresh()
        self.Institution.search([("name", "=", "KBC Bank")]).name = "Old name"
        self.Institution.action_refresh()
        self.assertEqual(self.Institution.search_count([]), len(self.fake_banks))
        self.assertTrue(self.Institution.search([("name", "=", "KBC Bank")]))

    def test_an_accountant_can_refresh_the_list(self):
        self.connect()
        accountant = self.env["res.users"].create({
            "name": "Accountant", "login": "ponto_institution_accountant",
            "group_ids": [Command.set([self.env.ref("account.group_account_invoice").id])],
        })
        self.Institution.with_user(accountant).action_refresh()
        self.assertEqual(self.Institution.search_count([]), len(self.fake_banks))

    def test_search_by_name_and_country(self):
        self.connect()
        self.Institution.action_refresh()
        search = self.Institution.search_institutions
        self.assertEqual(set(search(name="ing").mapped("name")), {"ING Belgium", "ING Bank Nederland"})
        self.assertEqual(search(name="ing", country="nl").mapped("name"), ["ING Bank Nederland"])
        self.assertEqual(len(search(country="BE")), 5)
        self.assertEqual(len(search()), len(self.fake_banks))
        self.assertFalse(search(name="no such bank"))
