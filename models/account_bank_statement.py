# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from collections import defaultdict

from odoo import Command, fields, models


class AccountBankStatement(models.Model):
    _inherit = "account.bank.statement"

    ponto_account_id = fields.Many2one("ponto.account", readonly=True, index="btree_not_null", copy=False)
    ponto_period_key = fields.Char(
        readonly=True, copy=False, help="The period (day, week, month or run) this statement groups."
    )

    def _ponto_period(self, account, date):
        """(key, label) of the statement that holds a line of `date` for `account`."""
        period = account.statement_period
        if period == "day":
            key = date.isoformat()
            return key, key
        if period == "week":
            year, week, _weekday = date.isocalendar()
            key = f"{year}-W{week:02d}"
            return key, key
        if period == "month":
            key = f"{date:%Y-%m}"
            return key, key
        run = str(self.env.context["ponto_run_key"])  # set by the engine for each run
        return f"run-{run}", run

    def _ponto_create_lines_in_statements(self, account, journal, vals_list):
        """Create statement lines, each in the statement of its period (created when missing)."""
        periods = [self._ponto_period(account, vals["date"]) for vals in vals_list]
        existing = {
            statement.ponto_period_key: statement
            for statement in self.search([
                ("ponto_account_id", "=", account.id),
                ("ponto_period_key", "in", list({key for key, _label in periods})),
            ])
        }
        for vals, (key, _label) in zip(vals_list, periods):
            if key in existing:
                vals["statement_id"] = existing[key].id
        lines = self.env["account.bank.statement.line"].create(vals_list)
        orphans = defaultdict(list)
        labels = {}
        for line, (key, label) in zip(lines, periods):
            if key not in existing:
                orphans[key].append(line.id)
                labels[key] = label
        created = self.create([
            {
                "name": f"{journal.code} {labels[key]}",
                "ponto_account_id": account.id,
                "ponto_period_key": key,
                "line_ids": [Command.set(line_ids)],
            }
            for key, line_ids in orphans.items()
        ])
        touched = created | self.browse({statement.id for statement in existing.values()})
        cursor_date = account.last_transaction_date
        if not cursor_date or min(vals["date"] for vals in vals_list) >= cursor_date:
            self._ponto_match_running_balances(touched)
        else:  # a late booking landed before statements that follow it: their start moves too
            self._ponto_refresh_balances(journal, min(lines.mapped("internal_index")))
        return lines

    def _ponto_match_running_balances(self, statements):
        """Statements built from the bank's own lines end where their lines end."""
        for statement in statements:
            statement.balance_end_real = statement.balance_end

    def _ponto_refresh_balances(self, journal, from_index):
        """Recompute start and end balances of the journal's statements from `from_index` on."""
        statements = self.search(
            [("journal_id", "=", journal.id), ("first_line_index", ">=", from_index[:8])],
            order="first_line_index",
        )
        for statement in statements:  # in order: each start is the previous statement's end
            self.env.add_to_compute(self._fields["balance_start"], statement)
            self.env.add_to_compute(self._fields["balance_end"], statement)
            statement.balance_end_real = statement.balance_end

    def _ponto_settle_balances(self, account):
        """The newest statement ends at Ponto's current balance when Ponto's balance covers it."""
        newest = self.search([("ponto_account_id", "=", account.id)], order="first_line_index desc", limit=1)
        balance_date = account.current_balance_date
        if newest and balance_date and balance_date.date() >= newest.date:
            newest.balance_end_real = account.current_balance
