# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import api, fields, models
from odoo.tools import format_datetime


class AccountJournal(models.Model):
    # The class keeps Odoo's name: the bank feeds selection is extended through its
    # name-mangled private method (`selection_add` fails on a callable selection).
    _inherit = "account.journal"

    ponto_account_ids = fields.One2many("ponto.account", "journal_id", string="Ponto Accounts")
    ponto_account_id = fields.Many2one(
        "ponto.account", string="Ponto Account", compute="_compute_ponto_account_id",
        search="_search_ponto_account_id",
    )

    def __get_bank_statements_available_sources(self):
        return [*super().__get_bank_statements_available_sources(), ("ponto", self.env._("Ponto"))]

    @api.depends("ponto_account_ids")
    def _compute_ponto_account_id(self):
        for journal in self:
            journal.ponto_account_id = journal.ponto_account_ids[:1]

    def _search_ponto_account_id(self, operator, value):
        return [("ponto_account_ids", operator, value)]

    def action_ponto_sync(self):
        """Synchronize now, from the journal dashboard."""
        return self.ponto_account_id.action_sync()

    def action_ponto_connect(self):
        """Connect with Ponto: the link wizard, with this journal proposed for the first account."""
        return self.env["ponto.link.wizard"]._open_action(
            self.env._("Connect with Ponto"), ponto_default_journal_id=self[:1].id
        )

    def _fill_bank_cash_dashboard_data(self, dashboard_data):
        super()._fill_bank_cash_dashboard_data(dashboard_data)
        for journal in self.filtered(lambda journal: journal.bank_statements_source == "ponto"):
            account = journal.ponto_account_id
            data = dashboard_data[journal.id]
            data["ponto_linked"] = bool(account)
            data["ponto_last_sync"] = account.last_sync and format_datetime(
                self.env, account.last_sync, dt_format="short"
            )
            data["ponto_warning"] = account.last_error or (
                account.consent_days_left <= 15 and account.authorization_expiration
                and self.env._("Bank authorization ends in %s day(s): renew it in Ponto.", max(account.consent_days_left, 0))
            ) or False
