# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""No secret leaks: not in a log line at DEBUG, not in anything stored, not to an accountant.

The secrets: the integration's Secret, its Basic authorization value, and every bearer token the
fake Ponto issued during the test (collected as the fake hands them out).
"""

import base64
import logging
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from lxml import etree

from odoo import Command
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException

from ..models.ponto_sync import PontoAccountSync
from ..ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from .common import FAKE_TODAY, PontoCase

NEW_CLIENT_ID = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
NEW_SECRET = "renewed-Ponto-Secret-0123456789"
# How Odoo refuses: no right on the field, or (export) no right to export at all.
REFUSALS = ("odoo.exceptions.AccessError", "odoo.exceptions.UserError")


class _Recorder(logging.Handler):
    """Keeps every record, formatted as a log file would show it (traceback included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@contextmanager
def everything_logged(*, sql=True):
    """Every logger of the process at DEBUG for the duration (`odoo.sql_db` at INFO unless `sql`,
    as `--log-level=debug` does; `--log-level=debug_sql` logs every query with its parameters),
    every record kept."""
    recorder = _Recorder()
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [logger for logger in list(manager.loggerDict.values())
                                       if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    extra = ["odoo", "odoo.sql_db", "werkzeug", "urllib3", "requests", "ponto.client", "http.client"]
    loggers += [logging.getLogger(name) for name in extra]
    saved += [(logging.getLogger(name), logging.getLogger(name).level, logging.getLogger(name).disabled)
              for name in extra]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate or logger is logging.getLogger():
            logger.addHandler(recorder)
    if not sql:
        logging.getLogger("odoo.sql_db").setLevel(logging.INFO)
    try:
        yield recorder.lines
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)
        for logger, level, disabled in reversed(saved):
            logger.setLevel(level)
            logger.disabled = disabled


@tagged("post_install", "-at_install")
class TestNoSecretInLogsOrRecords(PontoCase):
    fake_accounts = 2
    fake_transactions = 30

    def setUp(self):
        super().setUp()
        # chatter and field tracking as in production (Odoo's test classes turn them off)
        self.env = self.env(context=dict(self.env.context, tracking_disable=False, mail_notrack=False,
                                         mail_create_nolog=False))
        self.fake = self.start_fake()
        self.addCleanup(self.fake.stop)
        self.tokens = set()
        original = self.fake._on_token

        def on_token(request):
            reply = original(request)
            self.tokens.add(reply.payload["access_token"])
            return reply

        patcher = patch.object(self.fake, "_on_token", on_token)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.errors = []
        original_failure = PontoAccountSync._record_failure

        def record_failure(account, error, *args):
            self.errors.append(error)
            return original_failure(account, error, *args)

        patcher = patch.object(PontoAccountSync, "_record_failure", record_failure)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.first_message = self.env["mail.message"].search([], order="id desc", limit=1).id or 0

    def secrets(self):
        secrets = {FAKE_CLIENT_SECRET, NEW_SECRET, *self.tokens}
        for client_id, secret in ((FAKE_CLIENT_ID, FAKE_CLIENT_SECRET), (NEW_CLIENT_ID, NEW_SECRET)):
            secrets.add(base64.b64encode(f"{client_id}:{secret}".encode()).decode())
        return secrets

    def assert_no_secret(self, texts, where):
        texts = [str(text) for text in texts if text]
        self.assertTrue(texts, f"nothing to look into in {where}")
        for secret in self.secrets():
            for text in texts:
                self.assertNotIn(secret, text, f"a secret in {where}")

    def stored_texts(self):
        """Every text this test stored: chatter, tracking, states, errors."""
        self.env.flush_all()
        self.env.cr.precommit.run()  # field tracking is written at commit time
        messages = self.env["mail.message"].sudo().search([("id", ">", self.first_message)])
        tracking = messages.tracking_value_ids
        connections = self.env["ponto.connection"].search([])
        accounts = self.env["ponto.account"].with_context(active_test=False).search([])
        activities = self.env["mail.activity"].search([("res_model", "in", ("ponto.account", "ponto.connection"))])
        return [
            *messages.mapped("body"), *messages.mapped("subject"), *messages.mapped("preview"),
            *tracking.mapped("old_value_char"), *tracking.mapped("new_value_char"),
            *tracking.mapped("old_value_text"), *tracking.mapped("new_value_text"),
            *connections.mapped("last_error"), *accounts.mapped("last_error"),
            *activities.mapped("note"), *activities.mapped("summary"),
        ]

    def error_texts(self):
        texts = []
        for error in self.errors:
            while error:
                texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
                error = error.__cause__ or error.__context__
        return texts

    def test_connect_and_synchronize_through_every_fault_at_debug(self):
        """The link wizard, full synchronizations, token renewals, refusals and server errors,
        with every logger at DEBUG: the logs, the records and the errors hold no secret."""
        with everything_logged(sql=False) as connect_logs:
            connection = self.connect()
            accounts = connection.account_ids
            accounts.write({"sync_start_date": FAKE_TODAY - timedelta(days=400)})
            self.env.flush_all()  # saving the Secret is a query with it as parameter: debug_sql shows it
        with everything_logged() as sync_logs:  # every query too: a synchronization never writes it
            accounts._sync()  # first synchronization
            self.fake.expire_tokens()
            self.fake.add_transactions(self.fake.account_ids[0], n=3)
            accounts._sync(manual=True)  # a new token; Synchronize now asks for a bank refresh
            self.fake.inject("transactions", "401", count=None)
            accounts._sync()  # tokens always refused
            self.fake.clear_faults()
            self.fake.revoke_credentials()
            accounts._sync()  # the Secret refused
            self.fake.set_credentials(FAKE_CLIENT_ID, FAKE_CLIENT_SECRET)
            for fault in ("500", "502", "malformed_json", "truncated", "reset"):
                self.fake.inject("*", fault, count=4)
                accounts._sync()
                self.fake.clear_faults()
            accounts._sync()
        self.assertEqual(set(accounts.mapped("sync_state")), {"ok"}, accounts.mapped("last_error"))
        self.assertGreaterEqual(len(self.tokens), 3)
        self.assertGreaterEqual(len(self.errors), 7)
        self.assertTrue(any("Ponto" in line for line in sync_logs), "the client did log at DEBUG")
        self.assert_no_secret(connect_logs, "the logs of connecting")
        self.assert_no_secret(sync_logs, "the logs of synchronizing")
        self.assert_no_secret(self.stored_texts(), "what was stored")
        self.assert_no_secret(self.error_texts(), "the errors of the runs")

    def test_update_accounts_with_new_credentials_at_debug(self):
        connection = self.connect()
        self.fake.set_credentials(NEW_CLIENT_ID, NEW_SECRET)
        with everything_logged(sql=False) as logs:
            action = connection.action_open_update_credentials()
            self.open_wizard(NEW_CLIENT_ID, NEW_SECRET, **action["context"]).action_validate()
            connection.account_ids.write({"sync_start_date": FAKE_TODAY - timedelta(days=400)})
            connection.account_ids._sync()
        self.assertEqual(connection.sudo().client_secret, NEW_SECRET)
        stored = self.stored_texts()
        self.assert_no_secret(logs, "the logs")
        self.assert_no_secret(stored, "what was stored")
        tracked = self.env["ponto.connection"]._track_get_fields()
        self.assertIn("client_id", tracked)
        self.assertFalse({"client_secret", "api_token"} & tracked, "a tracked Secret would be in the chatter")


@tagged("post_install", "-at_install")
class TestSecretOutOfAnAccountantsReach(HttpCase):
    """An accountant (Invoicing only) through the web client's RPC, as a browser would call it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        cls.connection = cls.env["ponto.connection"].create({
            "name": "Ponto", "company_id": company.id, "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET, "api_token": "legacy-token-value-4e8b1b2f",
        })
        # Invoicing only; allowed to export, so that exporting the Secret meets the field's rights
        groups = [cls.env.ref(xmlid).id for xmlid in
                  ("base.group_user", "account.group_account_invoice", "base.group_allow_export")]
        cls.accountant = cls.env["res.users"].create({
            "name": "Ponto RPC accountant", "login": "ponto_rpc_accountant", "password": "ponto_rpc_accountant",
            "company_id": company.id, "company_ids": [Command.set(company.ids)],
            "group_ids": [Command.set(groups)],
        })
        cls.secrets = ("client_secret", "api_token")

    def call_kw(self, method, args=(), **kwargs):
        return self.make_jsonrpc_request("/web/dataset/call_kw", {
            "model": "ponto.connection", "method": method, "args": list(args), "kwargs": kwargs,
        })

    def assert_kept(self, name, call):
        """The call is refused, or answers without the Secret, the token or their field names."""
        try:
            answer = call()
        except JsonRpcException as error:  # its message is the exception's class name
            self.assertIn(str(error), REFUSALS, name)
            return "refused"
        text = repr(answer)
        self.assertNotIn(FAKE_CLIENT_SECRET, text, name)
        self.assertNotIn("legacy-token-value", text, name)
        for field in self.secrets:
            self.assertNotIn(f"'{field}'", text, name)
        return "answered"

    def test_rpc_as_an_accountant(self):
        self.authenticate("ponto_rpc_accountant", "ponto_rpc_accountant")
        ids = [self.connection.id]
        spec = {name: {} for name in ("name", "client_id", *self.secrets)}
        calls = {
            "read": lambda: self.call_kw("read", [ids, ["client_id", *self.secrets]]),
            "read every field": lambda: self.call_kw("read", [ids]),
            "search_read": lambda: self.call_kw("search_read", [[]], fields=["client_id", *self.secrets]),
            "search_read every field": lambda: self.call_kw("search_read", [[]]),
            "web_read": lambda: self.call_kw("web_read", [ids], specification=spec),
            "web_search_read": lambda: self.call_kw("web_search_read", [[]], specification=spec),
            "onchange": lambda: self.call_kw("onchange", [[], {}, [], spec]),
            "export_data": lambda: self.call_kw("export_data", [ids, ["client_id", "client_secret"]]),
            "export_data api_token": lambda: self.call_kw("export_data", [ids, ["api_token"]]),
            "fields_get": lambda: self.call_kw("fields_get", []),
            "guess the Secret by search": lambda: self.call_kw(
                "search_count", [[("client_secret", "=like", FAKE_CLIENT_SECRET[:1] + "%")]]),
            "guess the Secret by grouping": lambda: self.call_kw(
                "formatted_read_group", [[], ["client_secret"], ["__count"]]),
            "guess the Secret by ordering": lambda: self.call_kw("search_read", [[]], fields=["name"], order="client_secret"),
        }
        outcomes = {}
        for name, call in calls.items():
            with self.subTest(name):
                outcomes[name] = self.assert_kept(name, call)
        self.assertEqual(outcomes.get("guess the Secret by search"), "refused", "no oracle on the Secret")
        self.assertEqual(self.call_kw("search_read", [[]], fields=["client_id"])[0]["client_id"], FAKE_CLIENT_ID,
                         "the accountant reads the connection itself")

    def test_orm_as_an_accountant(self):
        connection = self.connection.with_user(self.accountant)
        calls = {
            "read": lambda: connection.read(list(self.secrets)),
            "search_read": lambda: connection.search_read([], list(self.secrets)),
            "export_data": lambda: connection.export_data(["client_secret"]),
            "onchange": lambda: connection.onchange({}, [], {name: {} for name in self.secrets}),
            "web_read": lambda: connection.web_read({name: {} for name in self.secrets}),
            "attribute": lambda: connection.client_secret,
        }
        for name, call in calls.items():
            with self.subTest(name):
                try:
                    answer = call()
                except Exception as error:  # noqa: BLE001 - AccessError expected
                    self.assertIn(f"odoo.exceptions.{type(error).__name__}", REFUSALS, f"{name}: {error!r}")
                    continue
                self.assertNotIn(FAKE_CLIENT_SECRET, repr(answer), name)

    def test_the_secret_is_a_password_field_in_the_forms(self):
        for model in ("ponto.connection", "ponto.link.wizard"):
            with self.subTest(model):
                arch = etree.fromstring(self.env[model].get_views([(False, "form")])["views"]["form"]["arch"])
                [field] = arch.xpath("//field[@name='client_secret']")
                self.assertEqual(field.get("password"), "True")
        for view_type in ("list", "search", "kanban"):
            views = self.env["ponto.connection"].get_views([(False, view_type)])["views"]
            for view in views.values():
                self.assertNotIn("client_secret", view["arch"], view_type)
