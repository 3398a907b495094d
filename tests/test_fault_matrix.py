# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Every fault Ponto (or the network) can throw at a synchronization, at every point of the paging.

Each case drives a full synchronization (`account._sync()`, the one engine) against the fake Ponto
with one fault injected, checks that the run ends in its documented state with a readable message,
then clears the fault and checks that the next run leaves EXACTLY the fake's booked transactions
in Odoo: {Ponto transaction id: amount}, no loss, no duplicate.

A first synchronization of a four-page account makes 8 calls to the transactions endpoint: 4
walking down from the newest to find where to start, then 4 walking up, oldest first, each page
imported and committed with its cursor (see `PontoClient.iter_transaction_pages_since`).  A fault
is put on the first call ("start"), on the second upward page, after two pages are imported
("middle"), or on the last page ("last").

The matrix runs with pages of 10 and the engine's batches (what it imports and commits at once)
of 10 too: 35 transactions give the same 8 calls and commits between pages, with a tenth of the
statement lines to create.  `TestFaultMatrixFullPages` repeats a few cases with the real sizes
(pages of 100, batches of 1000) on 350 transactions.
"""

import re
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from ..models import ponto_sync
from ..models.ponto_connection import TIMEOUT_PARAM
from ..ponto import const
from ..ponto.fake_server import FAKE_CLIENT_SECRET
from .common import FAKE_TODAY, PontoCase

# The 8 calls to the transactions endpoint of a first synchronization of 3.5 pages.
FIRST_SYNC_TRANSACTION_CALLS = 8
POSITIONS = {"start": 0, "middle": 5, "last": 7}
ATTEMPTS = const.MAX_RETRIES + 1  # what the client tries before a transient fault surfaces

UNREACHABLE = r"could not be reached; the next synchronization will retry"
UNREADABLE = r"could not be read; nothing was lost"
# Transient faults: retried by the client, so one occurrence is absorbed and ATTEMPTS surface.
TRANSIENT = {
    "429": ({"retry_after": 0}, r"asked to slow down; the next synchronization will retry"),
    "500": ({}, UNREACHABLE),
    "502": ({}, UNREACHABLE),
    "503": ({}, UNREACHABLE),
    "reset": ({}, UNREACHABLE),
    "truncated": ({}, UNREACHABLE + r".*broke off"),
}
# Faults in the content of an answer: never retried, one occurrence surfaces.
MALFORMED = {
    "malformed_json": ({}, UNREADABLE + r".*not valid JSON"),
    "drop_attribute": ({"attribute": "amount"}, UNREADABLE + r".*'amount'"),
}


class FaultCase(PontoCase):
    """One fake account of 3.5 pages of transactions, linked through the wizard to the company's
    journal."""

    fake_accounts = 1
    page_limit = 10  # None: Ponto's real page size
    fake_transactions = 35

    def setUp(self):
        super().setUp()
        if self.page_limit:
            for target, name in ((const, "PAGE_LIMIT"), (ponto_sync, "BATCH_SIZE")):
                patcher = patch.object(target, name, self.page_limit)
                patcher.start()
                self.addCleanup(patcher.stop)
        self.page = self.page_limit or const.PAGE_LIMIT
        self.own_fake()  # each test changes the fake's state (faults, tokens, transactions)
        self.ponto_id = self.fake.account_ids[0]
        self.connection = self.connect()
        self.account = self.account_for(self.connection, self.ponto_id)
        self.account.sync_start_date = FAKE_TODAY - timedelta(days=400)
        self.fake.reset_calls()

    # ------------------------------------------------------------------ helpers

    def own_fake(self, **options):
        """A fake for this test alone (for faults that change Ponto's state), same data."""
        self.fake = self.start_fake(**options)
        self.addCleanup(self.fake.stop)
        return self.fake

    def truth(self):
        return self.fake_truth(self.ponto_id)

    def oldest_first(self):
        return list(reversed(list(self.truth().items())))

    def line_count(self):
        return self.env["account.bank.statement.line"].search_count([
            ("ponto_account_id", "=", self.account.id), ("ponto_transaction_id", "!=", False),
        ])

    def assert_readable(self, message):
        """A sentence for a person: no traceback, no Python internals, no secret."""
        self.assertTrue(message, "a failure must leave a message")
        for forbidden in ("Traceback", 'File "', "Error(", "<class", "psycopg2", "None"):
            self.assertNotIn(forbidden, message)
        self.assertLess(len(message), 1000, message)
        self.assertNotIn(FAKE_CLIENT_SECRET, message)
        for token in list(self.fake._tokens):
            self.assertNotIn(token, message)

    def assert_exact(self, account=None):
        """Odoo holds exactly the fake's booked transactions, each once, and says it is up to date."""
        account = account or self.account
        self.assertEqual(account.sync_state, "ok", account.last_error)
        self.assertFalse(account.last_error)
        truth = self.truth()
        self.assertEqual(self.imported(account), truth)
        self.assertEqual(self.line_count(), len(truth), "no transaction imported twice")
        self.assertEqual(account.imported_count, len(truth))

    def assert_prefix(self):
        """What a failed first synchronization kept is the oldest part of the history."""
        partial = self.imported(self.account)
        oldest_first = self.oldest_first()
        self.assertEqual(partial, dict(oldest_first[:len(partial)]), "a failure keeps a consistent prefix")
        self.assertEqual(self.account.imported_count, len(partial))
        return partial

    def assert_failed(self, state, pattern):
        self.assertEqual(self.account.sync_state, state, self.account.last_error)
        self.assertRegex(self.account.last_error, re.compile(pattern, re.S))
        self.assert_readable(self.account.last_error)
        posted = self.account.message_ids.filtered(lambda message: self.account.last_error[:40] in (message.body or ""))
        self.assertTrue(posted, "a state change is told on the chatter")
        for message in self.account.message_ids:
            self.assertNotIn("Traceback", message.body or "")

    def sync_failing(self, state, pattern):
        """One run that must fail: its state and message, and the prefix it kept."""
        self.account._sync()
        self.assert_failed(state, pattern)
        self.assertGreater(self.account.next_sync, fields.Datetime.now() - timedelta(minutes=5))
        return self.assert_prefix()

    def sync_recovers(self):
        self.fake.clear_faults()
        self.account._sync()
        self.assert_exact()

    def after_call(self, endpoint_handler, number, action):
        """Run `action()` once, right after the fake answered its `number`-th call of
        `endpoint_handler` (e.g. "_on_transactions"): between two pages, whatever the engine does."""
        original = getattr(self.fake, endpoint_handler)
        calls = []

        def handler(*args):
            reply = original(*args)
            calls.append(1)
            if len(calls) == number:
                action()
            return reply

        return patch.object(self.fake, endpoint_handler, handler)


def _transient_case(fault, position, surfaced):
    params, pattern = TRANSIENT[fault]

    def test(self):
        count = ATTEMPTS if surfaced else 1
        self.fake.inject("transactions", fault, count=count, skip=POSITIONS[position], **params)
        if surfaced:
            self.sync_failing("error", pattern)
            self.sync_recovers()
        else:
            self.account._sync()
            self.assert_exact()
            self.assertEqual(self.fake.calls_to("transactions"), FIRST_SYNC_TRANSACTION_CALLS + 1, "one retry")

    mode = "surfaces" if surfaced else "is_absorbed"
    test.__name__ = f"test_{fault}_on_{position}_page_{mode}"
    test.__doc__ = f"{fault} on the {position} transactions page, {'every attempt' if surfaced else 'once'}."
    return test


def _malformed_case(fault, position):
    params, pattern = MALFORMED[fault]

    def test(self):
        self.fake.inject("transactions", fault, count=1, skip=POSITIONS[position], **params)
        self.sync_failing("error", pattern)
        self.sync_recovers()

    test.__name__ = f"test_{fault}_on_{position}_page_surfaces"
    test.__doc__ = f"{fault} on the {position} transactions page: never retried, nothing lost."
    return test


@tagged("post_install", "-at_install")
class TestFaultMatrix(FaultCase):
    """Faults by positions on the transactions pages; the methods are generated below."""

    def test_the_first_sync_makes_the_calls_the_positions_assume(self):
        self.account._sync()
        self.assert_exact()
        self.assertEqual(self.fake.calls_to("transactions"), FIRST_SYNC_TRANSACTION_CALLS)


for _fault in TRANSIENT:
    for _position in POSITIONS:
        for _surfaced in (False, True):
            _test = _transient_case(_fault, _position, _surfaced)
            setattr(TestFaultMatrix, _test.__name__, _test)
for _fault in MALFORMED:
    for _position in POSITIONS:
        _test = _malformed_case(_fault, _position)
        setattr(TestFaultMatrix, _test.__name__, _test)


@tagged("post_install", "-at_install")
class TestFaultMatrixFullPages(FaultCase):
    """A few cases of the matrix again with Ponto's real page size: 350 transactions, pages of 100."""

    page_limit = None
    fake_transactions = 350

    test_the_first_sync_makes_the_calls_the_positions_assume = (
        TestFaultMatrix.test_the_first_sync_makes_the_calls_the_positions_assume
    )


for _test in (_transient_case("503", "middle", True), _transient_case("reset", "last", False),
              _malformed_case("drop_attribute", "last")):
    setattr(TestFaultMatrixFullPages, _test.__name__, _test)

@tagged("post_install", "-at_install")
class TestFaultsOutsidePaging(FaultCase):
    """Rate limits, timeouts, tokens, credentials, consent, removed accounts, other endpoints."""

    def test_429_retry_after_is_waited_for(self):
        self.fake.inject("transactions", "429", count=1, skip=POSITIONS["middle"], retry_after=1)
        started = time.monotonic()
        self.account._sync()
        self.assertGreaterEqual(time.monotonic() - started, 1.0, "Retry-After: 1 is honoured")
        self.assert_exact()

    def test_429_retry_after_too_long_fails_at_once_and_schedules_the_retry_then(self):
        self.fake.inject("transactions", "429", count=1, skip=POSITIONS["middle"], retry_after=600)
        before = fields.Datetime.now()
        self.sync_failing("error", TRANSIENT["429"][1])
        self.assertEqual(self.fake.calls_to("transactions"), POSITIONS["middle"] + 1, "no retry within the run")
        self.assertGreaterEqual(self.account.next_sync, before + timedelta(seconds=590))
        self.assertLessEqual(self.account.next_sync, before + timedelta(seconds=660))
        self.sync_recovers()

    def test_read_timeout_is_retried(self):
        """A page that takes longer than the read timeout: the run retries it and goes on."""
        self.env["ir.config_parameter"].sudo().set_param(TIMEOUT_PARAM, "10")
        self.fake.inject("transactions", "delay", count=1, skip=POSITIONS["middle"], seconds=11)
        started = time.monotonic()
        self.account._sync()
        self.assertGreaterEqual(time.monotonic() - started, 10)
        self.assert_exact()
        # An 11 s answer was given up on and asked again: the read timeout is the parameter's
        # 10 s, not the default 30 s.
        self.assertEqual(self.fake.calls_to("transactions"), FIRST_SYNC_TRANSACTION_CALLS + 1)

    def test_token_refused_once_mid_paging_is_renewed(self):
        self.fake.inject("transactions", "401", count=1, skip=POSITIONS["middle"])
        self.account._sync()
        self.assert_exact()
        self.assertEqual(self.fake.calls_to("token"), 2, "one new token")

    def test_tokens_expired_between_pages_are_renewed(self):
        with self.after_call("_on_transactions", POSITIONS["middle"], self.fake.expire_tokens):
            self.account._sync()
        self.assert_exact()
        self.assertEqual(self.fake.calls_to("token"), 2, "one new token")
        self.assertEqual(self.connection.state, "connected")

    def test_token_always_refused_is_a_credentials_error(self):
        self.fake.inject("transactions", "401", count=None, skip=POSITIONS["middle"])
        self.sync_failing("error", r"refused the Client ID and Secret")
        self.assertEqual(self.connection.state, "error")
        self.assert_readable(self.connection.last_error)
        self.sync_recovers()
        self.assertEqual(self.connection.state, "connected")
        self.assertFalse(self.connection.last_error)

    def test_credentials_revoked_before_the_run(self):
        self.own_fake()
        self.fake.revoke_credentials()
        self.sync_failing("error", r"refused the Client ID and Secret.*Update Accounts")
        self.assertFalse(self.imported(self.account))
        self.assertEqual(self.connection.state, "error")
        self.assertRegex(self.connection.last_error, "refused the Client ID and Secret")
        self.assert_readable(self.connection.last_error)
        self.fake.set_credentials(self.connection.client_id, self.connection.sudo().client_secret)
        self.sync_recovers()
        self.assertEqual(self.connection.state, "connected")

    def test_credentials_revoked_mid_paging(self):
        self.own_fake()
        with self.after_call("_on_transactions", POSITIONS["middle"], self.fake.revoke_credentials):
            self.sync_failing("error", r"refused the Client ID and Secret")
        self.assertEqual(self.connection.state, "error")
        self.fake.set_credentials(self.connection.client_id, self.connection.sudo().client_secret)
        self.sync_recovers()
        self.assertEqual(self.connection.state, "connected")

    def test_token_endpoint_down_surfaces_then_recovers(self):
        self.fake.inject("token", "503", count=ATTEMPTS)
        self.sync_failing("error", UNREACHABLE)
        self.assertNotEqual(self.connection.state, "error", "a server error is not a credentials problem")
        self.sync_recovers()

    def test_account_refresh_failing_surfaces_then_recovers(self):
        self.fake.inject("account", "500", count=ATTEMPTS)
        self.sync_failing("error", UNREACHABLE)
        self.sync_recovers()

    def test_account_refresh_malformed_surfaces_then_recovers(self):
        self.fake.inject("account", "drop_attribute", count=1, attribute="currentBalance")
        self.sync_failing("error", UNREADABLE + r".*currentBalance")
        self.sync_recovers()

    def test_bank_refresh_request_failing_surfaces_then_recovers(self):
        """Synchronize now asks Ponto for a bank refresh; that POST failing every time."""
        self.fake.inject("synchronizations", "503", count=ATTEMPTS)
        self.account._sync(manual=True)
        self.assert_failed("error", UNREACHABLE)
        self.fake.clear_faults()
        self.account._sync(manual=True)
        self.assert_exact()

    def test_bank_refresh_request_reset_once_is_replayed_safely(self):
        """A POST whose answer is lost is retried with the same idempotency key: one refresh."""
        self.own_fake()
        self.fake.inject("synchronizations", "reset", count=1)
        self.account._sync(manual=True)
        self.assert_exact()
        self.assertEqual(self.fake.calls_to("synchronizations"), 2)
        pending = [sync for sync in self.fake._syncs.values() if sync.status == "pending"]
        self.assertEqual(len(pending), 1, "the replayed request created no second refresh")

    def test_recently_synchronized_is_normal(self):
        self.own_fake(recent_sync_window=3600)
        self.connection._get_client().create_synchronization(self.ponto_id)  # someone refreshed it just now
        self.account._sync(manual=True)
        self.assert_exact()
        self.assertFalse(self.account.pending_synchronization_id)

    def test_consent_expired(self):
        """History Ponto holds is still imported; the account says the bank must be reauthorized."""
        self.own_fake(sync_steps=1)
        self.fake.expire_consent(self.ponto_id)
        for _run in range(2):  # the first run asks for a bank refresh, the second reads its failure
            self.account._sync()
        self.assert_failed("consent_expired", r"Reauthorize")
        self.assertEqual(self.imported(self.account), self.truth(), "what Ponto holds is imported anyway")
        self.assertTrue(self.account.activity_ids, "someone must reauthorize: an activity")
        renew_consent(self.fake, self.ponto_id)
        new_ids = self.fake.add_transactions(self.ponto_id, n=3)
        for _run in range(2):
            self.account._sync()
        self.assert_exact()
        self.assertTrue(set(new_ids) <= set(self.imported(self.account)))
        self.assertEqual(self.account.consent_warning_days, 0)
        self.assertFalse(self.account.activity_ids, "the consent activity goes away once renewed")

    def test_account_revoked_before_the_run(self):
        self.own_fake()
        self.fake.revoke_account(self.ponto_id)
        self.sync_failing("removed", r"no longer gives access.*Update Accounts")
        self.assertFalse(self.account.is_exposed)
        self.assertTrue(self.account.journal_id, "the journal is kept")
        self.restore_account()
        self.assert_exact()

    def test_account_revoked_mid_paging(self):
        self.own_fake()
        with self.after_call("_on_transactions", POSITIONS["middle"], lambda: self.fake.revoke_account(self.ponto_id)):
            self.sync_failing("removed", r"no longer gives access")
        self.assertFalse(self.account.is_exposed)
        self.restore_account()
        self.assert_exact()

    def test_synchronization_forgotten_by_ponto_does_not_remove_the_account(self):
        """Ponto no longer knows a bank refresh Odoo asked for (404 on it): that says nothing
        about the account, which must not be flagged as removed from the integration."""
        self.own_fake(sync_steps=3)
        self.account._sync()  # asks Ponto for a bank refresh, still running at the end of the run
        self.assert_exact()
        pending = self.account.pending_synchronization_id
        self.assertTrue(pending)
        with self.fake._lock:
            del self.fake._syncs[pending]
        new_ids = self.fake.add_transactions(self.ponto_id, n=2)
        self.account._sync()
        self.assertNotEqual(self.account.sync_state, "removed", self.account.last_error)
        self.assertTrue(self.account.is_exposed)
        self.account._sync()
        self.assert_exact()
        self.assertTrue(set(new_ids) <= set(self.imported(self.account)))

    def test_incremental_sync_fault_then_recovery(self):
        """Faults in an incremental walk (new transactions on top of a complete history)."""
        self.account._sync()
        self.assert_exact()
        for fault in ("503", "drop_attribute", "reset"):
            with self.subTest(fault):
                self.fake.add_transactions(self.ponto_id, n=self.page + self.page // 2)
                params = {"attribute": "amount"} if fault == "drop_attribute" else {}
                count = 1 if fault == "drop_attribute" else ATTEMPTS
                self.fake.inject("transactions", fault, count=count, skip=1, **params)
                self.account._sync()
                self.assertEqual(self.account.sync_state, "error", fault)
                self.assert_readable(self.account.last_error)
                self.fake.clear_faults()
                self.account._sync()
                self.assert_exact()

    # ------------------------------------------------------------------ helpers

    def restore_account(self):
        """The user selects the account again in Ponto, then uses Update Accounts; sync."""
        with self.fake._lock:
            self.fake._accounts[self.ponto_id].revoked = False
        action = self.connection.action_open_update_credentials()
        wizard = self.open_wizard(**action["context"])
        wizard.action_validate()
        self.assertTrue(self.account.is_exposed)
        self.account._sync()


def renew_consent(fake, ponto_id):
    """The user reauthorizes the account in the Ponto Dashboard (the fake has no call for it)."""
    with fake._lock:
        account = fake._accounts[ponto_id]
        account.consent_expired = False
        renewed = fields.Datetime.now() + timedelta(days=180)
        account.attributes = {
            **account.attributes, "authorizationExpirationExpectedAt": renewed.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
