# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Who may see and change what: the Secret stays with administrators; companies stay apart."""

from datetime import timedelta

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..ponto.fake_server import FAKE_CLIENT_SECRET
from .common import FAKE_TODAY
from .test_link_wizard import WizardCase

SECRET_FIELDS = ("client_secret", "api_token")


class UsersMixin:
    @classmethod
    def make_user(cls, login, groups, companies):
        return cls.env["res.users"].create({
            "name": login.title(),
            "login": login,
            "company_id": companies[0].id,
            "company_ids": [Command.set(companies.ids)],
            "group_ids": [Command.set([cls.env.ref(xmlid).id for xmlid in ("base.group_user", *groups)])],
        })


@tagged("post_install", "-at_install")
class TestSecretAccess(UsersMixin, WizardCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accountant = cls.make_user(
            "ponto_accountant", ["account.group_account_invoice", "base.group_allow_export"], cls.company
        )
        cls.manager = cls.make_user("ponto_manager", ["account.group_account_manager"], cls.company)

    def setUp(self):
        super().setUp()
        self.connection = self.connect()
        self.connection.account_ids.write({"sync_start_date": FAKE_TODAY - timedelta(days=400)})

    def assert_secret_kept(self, call):
        """`call` raises AccessError, or answers without the Secret."""
        try:
            answer = call()
        except AccessError:
            return
        self.assertNotIn(FAKE_CLIENT_SECRET, repr(answer))
        for name in SECRET_FIELDS:
            self.assertNotIn(f"'{name}'", repr(answer))

    def test_an_accountant_cannot_read_the_secret_in_any_way(self):
        connection = self.connection.with_user(self.accountant)
        Connection = connection.browse()
        calls = {
            "read fields": lambda: connection.read(list(SECRET_FIELDS)),
            "read all": connection.read,
            "search_read fields": lambda: Connection.search_read([], list(SECRET_FIELDS)),
            "search_read all": lambda: Connection.search_read([]),
            "export_data": lambda: connection.export_data(["client_id", "client_secret"]),
            "web_read": lambda: connection.web_read({"client_secret": {}}),
            "web_search_read": lambda: Connection.web_search_read([], {"client_secret": {}}),
            "onchange": lambda: connection.onchange({}, [], {"client_secret": {}, "api_token": {}}),
            "search by secret": lambda: Connection.search([("client_secret", "=", FAKE_CLIENT_SECRET)]),
            "group by secret": lambda: Connection.formatted_read_group([], ["client_secret"], ["__count"]),
        }
        for name, call in calls.items():
            with self.subTest(name):
                self.assert_secret_kept(call)

    def test_an_accountant_does_not_get_the_secret_fields_described(self):
        described = self.env["ponto.connection"].with_user(self.accountant).fields_get()
        for name in SECRET_FIELDS:
            self.assertNotIn(name, described)
        self.assertIn("client_id", described)

    def test_an_accountant_can_synchronize_now(self):
        account = self.account_for(self.connection, self.fake.account_ids[0]).with_user(self.accountant)
        action = account.action_sync()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertEqual(account.sync_state, "ok")
        self.assertEqual(self.imported(account), self.fake_truth(account.ponto_id))

    def test_an_accountant_can_synchronize_the_whole_connection(self):
        self.connection.with_user(self.accountant).action_sync()
        self.assertEqual(set(self.connection.account_ids.mapped("sync_state")), {"ok"})

    def test_an_accountant_cannot_change_links_or_credentials(self):
        account = self.connection.account_ids[:1].with_user(self.accountant)
        with self.assertRaises(AccessError):
            account.sync_frequency = "daily"
        with self.assertRaises(AccessError):
            self.connection.with_user(self.accountant).client_id = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
        with self.assertRaises(AccessError):
            self.env["ponto.link.wizard"].with_user(self.accountant).create({"company_id": self.company.id})

    def test_a_manager_without_settings_rights_cannot_write_the_secret(self):
        connection = self.connection.with_user(self.manager)
        for name in SECRET_FIELDS:
            with self.subTest(name), self.assertRaises(AccessError):
                connection.write({name: "stolen"})
        self.assertEqual(self.connection.sudo().client_secret, FAKE_CLIENT_SECRET)

    def test_a_manager_without_settings_rights_cannot_read_the_secret(self):
        connection = self.connection.with_user(self.manager)
        calls = {
            "read": lambda: connection.read(["client_secret"]),
            "web_read": lambda: connection.web_read({"client_secret": {}}),
            "onchange": lambda: connection.onchange({}, [], {"client_secret": {}, "api_token": {}}),
        }
        for name, call in calls.items():
            with self.subTest(name):
                self.assert_secret_kept(call)

    def test_a_manager_without_settings_rights_cannot_enter_credentials(self):
        Wizard = self.env["ponto.link.wizard"].with_user(self.manager)
        with self.assertRaises(AccessError):
            Wizard.create({"company_id": self.company.id, "client_secret": "x"})
        wizard = Wizard.create({"company_id": self.company.id, "client_id": self.connection.client_id})
        with self.assertRaisesRegex(UserError, "Only administrators"):
            wizard.action_fetch_accounts()
        with self.assertRaisesRegex(UserError, "Only administrators"):
            wizard.action_validate()

    def test_the_wizard_forgets_the_secret_once_stored_on_the_connection(self):
        wizard = self.open_wizard()
        self.assertEqual(wizard.sudo().client_secret, FAKE_CLIENT_SECRET)
        wizard.action_validate()
        self.assertFalse(wizard.sudo().client_secret)
        self.assertEqual(self.connection.sudo().client_secret, FAKE_CLIENT_SECRET)

    def test_a_manager_may_edit_the_synchronization_settings(self):
        account = self.connection.account_ids[:1].with_user(self.manager)
        account.write({"sync_frequency": "daily", "statement_period": "week"})
        self.assertEqual(account.sync_frequency, "daily")

    def test_connect_with_ponto_menu_is_for_administrators(self):
        menu = self.env.ref("account_bank_sync_ponto.menu_ponto_link_wizard")
        Menu = self.env["ir.ui.menu"]
        self.assertIn(menu.id, Menu._visible_menu_ids())
        self.assertNotIn(menu.id, Menu.with_user(self.manager)._visible_menu_ids())


@tagged("post_install", "-at_install")
class TestMultiCompany(UsersMixin, WizardCase):
    """Two companies, each with its connection: record rules keep them apart."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.setup_other_company(name="Company B")["company"]
        cls.connection_a = cls.make_connection(cls.company, "a")
        cls.connection_b = cls.make_connection(cls.company_b, "b")
        cls.user_a = cls.make_user("ponto_user_a", ["account.group_account_manager"], cls.company)

    @classmethod
    def make_connection(cls, company, suffix):
        return cls.env["ponto.connection"].create({
            "name": f"Ponto {suffix}",
            "company_id": company.id,
            "account_ids": [Command.create({"name": f"Account {suffix}", "ponto_id": f"id-{suffix}"})],
        })

    def test_a_user_sees_only_the_connections_of_their_company(self):
        Connection = self.env["ponto.connection"].with_user(self.user_a)
        self.assertEqual(Connection.search([]), self.connection_a)
        with self.assertRaises(AccessError):
            self.connection_b.with_user(self.user_a).read(["name"])

    def test_a_user_sees_only_the_ponto_accounts_of_their_company(self):
        Account = self.env["ponto.account"].with_user(self.user_a)
        self.assertEqual(Account.search([]), self.connection_a.account_ids)
        with self.assertRaises(AccessError):
            self.connection_b.account_ids.with_user(self.user_a).read(["name"])

    def test_a_user_of_both_companies_sees_each_in_its_company(self):
        self.user_a.company_ids = [Command.link(self.company_b.id)]
        Connection = self.env["ponto.connection"].with_user(self.user_a)
        only_a = Connection.with_context(allowed_company_ids=self.company.ids)
        self.assertEqual(only_a.search([]), self.connection_a)
        both = Connection.with_context(allowed_company_ids=[self.company.id, self.company_b.id])
        self.assertEqual(both.search([]), self.connection_a | self.connection_b)
