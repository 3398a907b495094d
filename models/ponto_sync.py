# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""The one synchronization engine: Ponto booked transactions -> bank statement lines.

Cron, "Synchronize now", the link wizard's first import and the demo all call `_sync()`.
Exactly once: every line carries its Ponto transaction id under a unique index; transactions are
imported oldest first, in batches of pages, and the import cursor advances in the same commit
as its batch, so a crash leaves a consistent prefix that the next run continues.
"""
import logging
import time
from contextlib import contextmanager
from datetime import timedelta

import psycopg2
import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.modules import module as odoo_module

from ..ponto.errors import (
    PontoAuthorizationError,
    PontoConnectionError,
    PontoCredentialsError,
    PontoError,
    PontoMalformedResponse,
    PontoNotFound,
    PontoRateLimited,
    PontoRecentlySynchronized,
    PontoServerError,
)
from ..ponto.mapping import statement_line_values
from .ponto_account import SYNC_INTERVALS, _naive_utc

_logger = logging.getLogger(__name__)

# Advisory lock namespace ("PONT"): one transaction-level lock per account id.
LOCK_NAMESPACE = 0x504F4E54
# Transactions booked late with an execution date this much older than the newest imported one
# are still picked up by incremental synchronizations.
LATE_BOOKING_DAYS = 3
# An incremental synchronization holds at most this many new transactions in memory; past that it
# switches to the two-pass walk, which streams page by page.
MAX_BUFFERED_TRANSACTIONS = 1000
# Transactions imported and committed together (pages are gathered up to this): Odoo's statement
# line creation has a cost per call, so larger batches are faster; memory stays bounded.
BATCH_SIZE = 1000
# Ask Ponto to refresh from the bank when its data is older than this.
STALE_AFTER = timedelta(hours=6)
CONSENT_WARNING_DAYS = (15, 3, 1)
CRON_TIME_BUDGET = 240  # seconds of work per cron tick; the rest goes to the next tick
RETRY_AFTER_ERROR = timedelta(hours=1)


class PontoAccountSync(models.Model):
    _inherit = "ponto.account"

    # ------------------------------------------------------------------ entry points

    def action_sync(self):
        """Synchronize now (accountants may): same engine as the cron, run with its privileges."""
        self.check_access("read")
        self.connection_id._check_not_deprecated()
        accounts = self.filtered(lambda account: account.journal_id and account.is_exposed)
        if not accounts:
            raise UserError(self.env._("No linked Ponto account to synchronize."))
        imported = accounts.sudo()._sync(manual=True)
        failed = accounts.filtered(lambda account: account.sync_state not in ("ok", "unavailable"))
        message = self.env._("%s new transaction(s) imported.", imported)
        if failed:
            message += " " + " ".join(f"{account.name}: {account.last_error}" for account in failed)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Ponto synchronization"),
                "message": message,
                "type": "warning" if failed else "success",
                "sticky": bool(failed),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_sync(self):
        """Scheduled job: synchronize the accounts that are due, within a bounded time."""
        deadline = time.monotonic() + CRON_TIME_BUDGET
        self.search(self._due_domain(), order="next_sync, id")._sync(deadline=deadline, only_due=True)
        if time.monotonic() > deadline and self.search_count(self._due_domain()):
            self.env.ref("account_bank_sync_ponto.ir_cron_ponto_sync")._trigger()

    @api.model
    def _due_domain(self):
        return [
            ("journal_id", "!=", False),
            ("is_exposed", "=", True),
            ("sync_frequency", "!=", "manual"),
            ("connection_id.state", "not in", ("deprecated_token", "disconnected")),
            ("next_sync", "<=", fields.Datetime.now()),
        ]

    # ------------------------------------------------------------------ engine

    def _sync(self, *, manual=False, deadline=None, only_due=False):
        """Synchronize each account; one account's failure never stops the others.

        Returns the number of transactions imported.
        """
        imported = 0
        clients = {}  # one client, so one token, per connection and run
        for account in self:
            if deadline and time.monotonic() > deadline:
                break
            with account._exclusive_run() as locked:
                if not locked:
                    _logger.info("Ponto account %s is being synchronized elsewhere: skipped", account.id)
                    continue
                account._commit()  # a fresh snapshot: what other runs committed is seen now
                if only_due and not account.filtered_domain(self._due_domain()):
                    continue  # another worker did it since this tick listed it
                run_key = account.env.context.get("ponto_run_key") or fields.Datetime.now()
                imported += account.with_context(ponto_run_key=run_key)._sync_one(manual=manual, clients=clients)
                account._commit_outcome()
        return imported

    def _sync_one(self, *, manual, clients):
        """Synchronize this account; every failure ends as a readable state. Returns the count."""
        started = fields.Datetime.now()
        imported = 0
        try:
            with self.env.cr.savepoint():
                client, bank_error, balance_moved = self._prepare_sync(manual=manual, clients=clients)
            for batch in self._transaction_batches(client):
                imported += self._import_batch(batch)
                self._commit()
                if len(batch) >= BATCH_SIZE:
                    self._refresh_planner_statistics()
            if imported or balance_moved or not self.opening_balance_done:
                with self.env.cr.savepoint():
                    self._close_statements()
        except Exception as error:  # noqa: BLE001 - every failure becomes a state, never a traceback
            self._record_failure(error, started, imported)
            return imported
        if bank_error:  # what Ponto already had is imported; the bank itself needs attention
            self._record_failure(bank_error, started, imported)
        else:
            self._record_success(imported, started)
        return imported

    def _prepare_sync(self, *, manual, clients):
        """Refresh the account from Ponto, warn about consent, handle bank refreshes.

        Returns the client, the error of the last bank refresh if it failed (the history Ponto
        already holds stays readable, so the import goes on), and whether the balance moved.
        """
        connection = self.connection_id
        client = clients.get(connection.id) or clients.setdefault(connection.id, connection._get_client())
        ponto_account = client.get_account(self.ponto_id)
        changed = self._write_changed(self._values_from_ponto(ponto_account))
        self._warn_consent()
        try:
            self._apply_updated_transactions(client)
        except PontoAuthorizationError as error:
            return client, error, True
        self._request_bank_refresh(client, ponto_account, manual=manual)
        return client, None, bool({"current_balance", "current_balance_date"} & changed)

    def _write_changed(self, values):
        """Write only the values that differ (no update, recomputation or check for the others).

        Returns the names of the fields written."""
        changed = {
            name: value for name, value in values.items()
            if self._fields[name].convert_to_cache(value, self) != self._fields[name].convert_to_cache(self[name], self)
        }
        if changed:
            self.write(changed)
        return set(changed)

    def _commit(self):
        """Commit the work done so far, except inside tests (whose cursor must not commit)."""
        if self.env.context.get("ponto_autocommit", not odoo_module.current_test):
            self.env["ir.cron"]._commit_progress()
            self.env.invalidate_all()  # keeps the ORM cache from growing over a long import
        else:
            self.env.flush_all()

    def _refresh_planner_statistics(self):
        """ANALYZE the tables a long import grows, between its batches.

        Without fresh statistics PostgreSQL keeps the plans it chose for small tables and Odoo's
        cost per statement line grows with the history (measured: the 10th batch of a first
        import of 10,000 transactions took 2.2 times as long as the first where autovacuum is off
        or slow; flat with this). Autovacuum does the same, later; this is cheap next to a batch.
        """
        self.env.cr.execute(
            "ANALYZE account_move, account_move_line, account_bank_statement_line, account_bank_statement"
        )

    def _commit_outcome(self):
        """Commit the end of an account's run. Should the database refuse it (a concurrent update
        of the account), only that state is lost: the imported batches are committed already."""
        try:
            self._commit()
        except psycopg2.errors.SerializationFailure:
            self.env.cr.rollback()
            _logger.warning("Ponto account %s: its state was updated concurrently; kept theirs", self.id)

    @contextmanager
    def _exclusive_run(self):
        """Session-level advisory lock on the account for a whole run (commits keep it): a second
        run, by another worker or a user, skips the account instead of importing alongside."""
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.id))
        locked = cr.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                self._unlock(cr)

    def _unlock(self, cr):
        unlock = "SELECT pg_advisory_unlock(%s, %s)"
        try:
            cr.execute(unlock, (LOCK_NAMESPACE, self.id))
        except psycopg2.errors.InFailedSqlTransaction:
            cr.rollback()  # the run died mid-transaction: nothing of it can be committed anyway
            cr.execute(unlock, (LOCK_NAMESPACE, self.id))

    # ------------------------------------------------------------------ fetching

    def _transaction_batches(self, client):
        """Booked transactions to import, oldest first, gathered from pages into batches of about
        BATCH_SIZE (each imported and committed with its cursor)."""
        batch = []
        for page in self._transaction_pages(client):
            batch.extend(page)
            if len(batch) >= BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch

    def _transaction_pages(self, client):
        """Pages of booked transactions to import, oldest first."""
        if not self.last_transaction_date:
            start = self.sync_start_date or self._default_start_date(self.journal_id)
            return client.iter_transaction_pages_since(self.ponto_id, start)
        return self._incremental_pages(client)

    def _incremental_pages(self, client):
        """Newest first from the top down to a few days before the cursor, then oldest first.

        Already imported transactions in that window are skipped by `_import_batch`; a window too
        large to hold switches to the streaming walk.
        """
        boundary = self.last_transaction_date - timedelta(days=LATE_BOOKING_DAYS)
        window = []
        for transaction in client.iter_transactions(self.ponto_id):
            if transaction.booking_date() < boundary:
                break
            window.append(transaction)
            if len(window) > MAX_BUFFERED_TRANSACTIONS:
                yield from client.iter_transaction_pages_since(self.ponto_id, boundary)
                return
        window.reverse()
        yield window

    def _request_bank_refresh(self, client, ponto_account, *, manual):
        """Ask Ponto to refresh from the bank when its data is stale; never wait for it."""
        if ponto_account.availability == "readonly" or self.pending_synchronization_id:
            return
        refreshed = ponto_account.synchronized_at
        if not manual and refreshed and fields.Datetime.now() - _naive_utc(refreshed) < STALE_AFTER:
            return
        try:
            synchronization = client.create_synchronization(self.ponto_id)
        except PontoRecentlySynchronized:
            return  # normal: Ponto refreshed it moments ago; read what it has
        self.pending_synchronization_id = synchronization.id

    def _apply_updated_transactions(self, client):
        """Apply Ponto's corrections of imported transactions, from a finished synchronization."""
        if not self.pending_synchronization_id:
            return
        try:
            synchronization = client.get_synchronization(self.pending_synchronization_id)
        except PontoNotFound:  # Ponto forgot that refresh: ask for another one
            self.pending_synchronization_id = False
            return
        if not synchronization.is_finished:
            return
        self.pending_synchronization_id = False
        synchronization.raise_for_error()
        if synchronization.updated_transactions_url:
            updates = list(client.iter_updated_transactions(synchronization.id))
            self.env["account.bank.statement.line"]._ponto_apply_updates(self, updates)

    # ------------------------------------------------------------------ importing

    def _import_batch(self, transactions):
        """Import one batch (oldest first) with its cursor, in one savepoint. Returns the count."""
        if not transactions:
            return 0
        Line = self.env["account.bank.statement.line"]
        known = Line._ponto_known_ids(self.company_id, [transaction.id for transaction in transactions])
        new = [transaction for transaction in transactions if transaction.id not in known]
        with self.env.cr.savepoint():
            if new:
                values = [statement_line_values(transaction) for transaction in new]
                Line._ponto_create_lines(self, values)
                self.imported_count += len(new)
            self._advance_cursor(transactions)
        return len(new)

    def _advance_cursor(self, transactions):
        """Move the cursor to the newest of `transactions`, never backwards and never past today:
        a transaction dated in the future must not hide those booked until that date."""
        today = fields.Date.context_today(self)
        booked = [transaction for transaction in transactions if transaction.booking_date() <= today]
        if not booked:
            return
        newest = max(booked, key=lambda transaction: transaction.booking_date())
        booking_date = newest.booking_date()
        if self.last_transaction_date and booking_date < self.last_transaction_date:
            return
        self._write_changed({"last_transaction_id": newest.id, "last_transaction_date": booking_date})

    def _close_statements(self):
        """After a complete pass: opening balance on the first one, then the statements' balances."""
        Statement = self.env["account.bank.statement"]
        if not self.opening_balance_done:
            self.env["account.bank.statement.line"]._ponto_create_opening_line(self)
            self.opening_balance_done = True
        Statement._ponto_settle_balances(self)

    # ------------------------------------------------------------------ outcome

    def _record_success(self, imported, started):
        interval = SYNC_INTERVALS.get(self.sync_frequency)
        state = "unavailable" if self.availability == "readonly" else "ok"
        self._set_sync_state(state, False)
        self._record_run(started, imported, started + interval if interval else False)
        self.connection_id._set_state("connected")

    def _record_run(self, started, imported, next_sync):
        self.write({"last_sync": started, "last_sync_count": imported, "next_sync": next_sync})

    def _record_failure(self, error, started, imported):
        """Roll the failed batch back (its savepoint did), then store a readable state."""
        state, message = self._describe_failure(error)
        _logger.warning("Ponto synchronization of account %s failed: %s", self.id, message)
        self.env.invalidate_all()
        interval = SYNC_INTERVALS.get(self.sync_frequency)
        retry = started + min(interval, RETRY_AFTER_ERROR) if interval else False
        if isinstance(error, PontoRateLimited) and error.retry_after:
            retry = started + timedelta(seconds=error.retry_after)
        self._set_sync_state(state, message)
        self._record_run(started, imported, retry)
        if state == "removed":
            self.is_exposed = False
        if isinstance(error, PontoCredentialsError):
            self.connection_id._set_state("error", message)
        elif isinstance(error, UserError) and self.connection_id.state == "deprecated_token":
            self.connection_id._set_state("deprecated_token", message)
        if state == "consent_expired":
            self._schedule_consent_activity(expired=True)

    def _describe_failure(self, error):
        """(sync_state, message in plain words) for an exception of a run."""
        _ = self.env._
        if isinstance(error, PontoCredentialsError):
            return "error", _(
                "Ponto refused the Client ID and Secret of this connection (revoked or changed). "
                "Enter new ones with Update Accounts. Details: %s", error
            )
        if isinstance(error, PontoAuthorizationError):
            return "consent_expired", _(
                "The bank authorization of this account has expired. Renew it in the Ponto "
                "Dashboard (Accounts → Reauthorize); synchronization resumes by itself after."
            )
        if isinstance(error, PontoNotFound):
            return "removed", _(
                "Ponto no longer gives access to this account. Select it again in your Ponto "
                "integration, then use Update Accounts. The journal and its statements are kept."
            )
        if isinstance(error, PontoRateLimited):
            return "error", _("Ponto asked to slow down; the next synchronization will retry. %s", error)
        if isinstance(error, (PontoServerError, PontoConnectionError)):
            return "error", _("Ponto could not be reached; the next synchronization will retry. %s", error)
        if isinstance(error, PontoMalformedResponse):
            return "error", _("Ponto sent data that could not be read; nothing was lost. %s", error)
        if isinstance(error, PontoError):
            return "error", _("Ponto answered with an error: %s", error)
        if isinstance(error, UserError):
            return "error", error.args[0]
        if isinstance(error, psycopg2.Error):
            _logger.warning("Ponto account %s: the database refused the import: %s", self.id, error.pgerror)
            return "error", _(
                "The database refused the import; it will be retried. %s",
                error.diag.message_primary or type(error).__name__,
            )
        _logger.error("Unexpected error during the Ponto synchronization of account %s", self.id, exc_info=error)
        return "error", _("Unexpected error; it will be retried. %s", error)

    def _set_sync_state(self, state, message):
        """Store the state; the chatter hears of state changes only, not of every run."""
        previous = self.sync_state
        if previous == state and (self.last_error or False) == (message or False):
            return
        self.write({"sync_state": state, "last_error": message})
        if message and previous != state:
            self.message_post(body=message)

    # ------------------------------------------------------------------ consent

    def _warn_consent(self):
        """An activity for the responsible accountant 15, 3 and 1 days before the consent ends;
        the activities go away once the consent is renewed."""
        if not self.authorization_expiration:
            return
        days_left = (self.authorization_expiration - fields.Datetime.now()).days
        if days_left < 0:
            self._schedule_consent_activity(expired=True)
            return
        threshold = min((days for days in CONSENT_WARNING_DAYS if days_left < days), default=None)
        if not threshold and self.consent_warning_days:
            self.consent_warning_days = 0
            self.activity_unlink(["account_bank_sync_ponto.mail_activity_ponto_consent"])
        elif threshold and self.consent_warning_days != threshold:
            self.consent_warning_days = threshold
            self._schedule_consent_activity(expired=False)

    def _schedule_consent_activity(self, *, expired):
        if expired and self.consent_warning_days == -1:
            return
        if expired:
            self.consent_warning_days = -1
            summary = self.env._("Bank authorization expired: %s", self.display_name)
        else:
            summary = self.env._(
                "Bank authorization of %(account)s ends on %(date)s",
                account=self.display_name, date=fields.Date.to_string(self.authorization_expiration.date()),
            )
        note = self.env._(
            "Renew the bank authorization in the Ponto Dashboard (Accounts → select the account → "
            "Reauthorize). Odoo keeps synchronizing once Ponto has it again."
        )
        self.activity_schedule(
            "account_bank_sync_ponto.mail_activity_ponto_consent",
            summary=summary,
            note=note,
            user_id=self.connection_id.responsible_user_id.id or self.env.user.id,
        )
