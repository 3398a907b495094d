# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import fields, models
from odoo.exceptions import UserError

from ..ponto.mapping import statement_line_values


class AccountBankStatementLine(models.Model):
    _inherit = "account.bank.statement.line"

    ponto_transaction_id = fields.Char(
        string="Ponto Transaction", readonly=True, copy=False,
        help="Ponto's id of the imported transaction: a transaction is imported once per company.",
    )
    ponto_account_id = fields.Many2one(
        "ponto.account", readonly=True, copy=False, index="btree_not_null", ondelete="set null"
    )

    _ponto_transaction_uniq = models.UniqueIndex(
        "(company_id, ponto_transaction_id) WHERE ponto_transaction_id IS NOT NULL",
        "This Ponto transaction is already imported.",
    )

    def _ponto_known_ids(self, company, transaction_ids):
        """The ids among `transaction_ids` already imported in `company` (one indexed query)."""
        self.flush_model(["ponto_transaction_id", "company_id"])
        self.env.cr.execute(
            "SELECT ponto_transaction_id FROM account_bank_statement_line"
            " WHERE company_id = %s AND ponto_transaction_id = ANY(%s)",
            (company.id, list(transaction_ids)),
        )
        return {row[0] for row in self.env.cr.fetchall()}

    def _ponto_create_lines(self, account, values_list):
        """Create the statement lines of `account` from `ponto.mapping` values, in their statements."""
        journal = account.journal_id
        vals_list = [self._ponto_line_vals(account, values) for values in values_list]
        partners = self._ponto_partners_by_account_number(account, vals_list)
        for vals in vals_list:
            vals["partner_id"] = partners.get(vals.get("account_number"), False)
        Statement = self.env["account.bank.statement"]
        return Statement._ponto_create_lines_in_statements(account, journal, vals_list)

    def _ponto_line_vals(self, account, values):
        journal = account.journal_id
        company = journal.company_id
        journal_currency = journal.currency_id or company.currency_id
        vals = {
            "journal_id": journal.id,
            "ponto_account_id": account.id,
            "ponto_transaction_id": values["ponto_transaction_id"],
            "date": values["date"],
            "payment_ref": values["payment_ref"] or "/",
            "amount": float(values["amount"]),
            "partner_name": values["partner_name"],
            "account_number": values["account_number"],
            "transaction_type": values["transaction_type"],
            "transaction_details": values["transaction_details"],
        }
        if values["currency"] != journal_currency.name:
            currency = self._ponto_currency(values["currency"])
            vals.update({
                "foreign_currency_id": currency.id,
                "amount_currency": vals["amount"],
                "amount": currency._convert(vals["amount"], journal_currency, company, values["date"]),
            })
        return vals

    def _ponto_currency(self, code):
        currency = self.env["res.currency"].with_context(active_test=False).search(
            [("name", "=", code)], limit=1
        )
        if not currency:
            raise UserError(self.env._(
                "Ponto sent a transaction in the currency %s, which this database does not know. "
                "Nothing was imported from it; add the currency and synchronize again.", code
            ))
        return currency

    def _ponto_partners_by_account_number(self, account, vals_list):
        """Partners whose bank account matches a counterpart IBAN (for the reconciliation models)."""
        numbers = {vals["account_number"] for vals in vals_list if vals.get("account_number")}
        if not numbers:
            return {}
        banks = self.env["res.partner.bank"].search([
            ("sanitized_acc_number", "in", list(numbers)),
            ("company_id", "in", (account.company_id.id, False)),
        ])
        return {bank.sanitized_acc_number: bank.partner_id.id for bank in banks}

    def _ponto_apply_updates(self, account, transactions):
        """Apply Ponto's updates to imported lines that are not reconciled; report the others."""
        by_id = {transaction.id: transaction for transaction in transactions}
        lines = self.search([
            ("company_id", "=", account.company_id.id),
            ("ponto_transaction_id", "in", list(by_id)),
        ])
        skipped = []
        for line in lines:
            if line.is_reconciled:
                skipped.append(line)
                continue
            values = statement_line_values(by_id[line.ponto_transaction_id])
            line.write({
                key: value for key, value in self._ponto_line_vals(account, values).items()
                if key in ("payment_ref", "partner_name", "account_number", "transaction_type",
                           "transaction_details")
            })
        if skipped:
            account.message_post(body=self.env._(
                "Ponto corrected %(count)s transaction(s) already reconciled; they were left as "
                "they are: %(labels)s",
                count=len(skipped), labels=", ".join(line.payment_ref or "/" for line in skipped),
            ))

    def _ponto_create_opening_line(self, account):
        """Opening balance line on the first complete synchronization of a journal that had none,
        so the journal's balance equals the bank's."""
        journal = account.journal_id
        others = self.search_count([
            ("journal_id", "=", journal.id), ("ponto_account_id", "!=", account.id),
        ], limit=1)
        if others:
            return self
        lines = self.search([("journal_id", "=", journal.id)], order="internal_index")
        difference = account.current_balance - sum(lines.mapped("amount"))
        currency = journal.currency_id or journal.company_id.currency_id
        if currency.is_zero(difference):
            return self
        first_date = lines[:1].date or account.sync_start_date or fields.Date.context_today(self)
        opening = self.create({
            "journal_id": journal.id,
            "ponto_account_id": account.id,
            "date": first_date,
            "sequence": 2147483647,  # first of its day: Odoo orders a day's lines by descending sequence
            "payment_ref": self.env._("Opening balance"),
            "amount": difference,
        })
        self.env["account.bank.statement"]._ponto_refresh_balances(journal, opening.internal_index)
        return opening
