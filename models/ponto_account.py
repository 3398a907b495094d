# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

SYNC_FREQUENCIES = [
    ("hourly", "Every hour"),
    ("four_daily", "Four times a day"),
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("manual", "Manually only"),
]
SYNC_INTERVALS = {
    "hourly": timedelta(hours=1),
    "four_daily": timedelta(hours=6),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}
STATEMENT_PERIODS = [
    ("sync", "One per synchronization"),
    ("day", "Daily"),
    ("week", "Weekly"),
    ("month", "Monthly"),
]


def _naive_utc(value):
    """Odoo stores UTC datetimes without tzinfo."""
    return value.replace(tzinfo=None) if value else False


class PontoAccount(models.Model):
    """One Ponto account as last seen, its link to a journal and its synchronization settings.

    The synchronization engine itself lives in `ponto_sync.py` (same model).
    """

    _name = "ponto.account"
    _description = "Ponto Account"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "connection_id, name, id"
    _rec_names_search = ["name", "iban"]

    name = fields.Char(string="Description", required=True)
    active = fields.Boolean(default=True)
    connection_id = fields.Many2one("ponto.connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    ponto_id = fields.Char(string="Ponto ID", required=True, readonly=True, index=True)
    iban = fields.Char(string="IBAN / Reference", readonly=True)
    reference_type = fields.Char(readonly=True)
    holder_name = fields.Char(string="Holder", readonly=True)
    subtype = fields.Char(string="Type", readonly=True)
    currency_code = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", compute="_compute_currency_id", store=True)
    financial_institution_id = fields.Char(readonly=True)
    current_balance = fields.Monetary(readonly=True)
    current_balance_date = fields.Datetime(string="Balance Date", readonly=True)
    available_balance = fields.Monetary(readonly=True)
    available_balance_date = fields.Datetime(readonly=True)
    authorized_at = fields.Datetime(string="Bank Authorized On", readonly=True)
    authorization_expiration = fields.Datetime(
        string="Bank Authorization Expires",
        readonly=True,
        help="When the bank's consent is expected to end; renew it in Ponto before then.",
    )
    availability = fields.Selection(
        [("available", "Available"), ("readonly", "Bank under maintenance")],
        default="available",
        readonly=True,
    )
    deprecated = fields.Boolean(
        readonly=True,
        help="Ponto is replacing this bank connection: authorize the new one in Ponto before "
        "this one's consent ends.",
    )
    is_exposed = fields.Boolean(
        string="Exposed by Ponto",
        default=True,
        readonly=True,
        help="Cleared when the Ponto integration no longer gives access to this account. The "
        "journal and its statements are kept.",
    )
    ponto_synchronized_at = fields.Datetime(string="Refreshed by Ponto", readonly=True)

    journal_id = fields.Many2one(
        "account.journal",
        domain="[('type', '=', 'bank'), ('company_id', '=', company_id)]",
        index="btree_not_null",
        tracking=True,
    )
    sync_frequency = fields.Selection(
        SYNC_FREQUENCIES, string="Synchronization Frequency", default="four_daily", required=True
    )
    statement_period = fields.Selection(
        STATEMENT_PERIODS, string="Statements", default="month", required=True,
        help="How imported transactions are grouped into bank statements.",
    )
    sync_start_date = fields.Date(
        string="Import From",
        help="The first synchronization imports the transactions booked from this date on.",
    )
    next_sync = fields.Datetime(string="Next Synchronization", index=True, copy=False)
    last_sync = fields.Datetime(string="Last Synchronization", readonly=True, copy=False)
    last_sync_count = fields.Integer(string="Imported Last Time", readonly=True, copy=False)
    imported_count = fields.Integer(string="Imported in Total", readonly=True, copy=False)
    sync_state = fields.Selection(
        [
            ("never", "Never synchronized"),
            ("ok", "Up to date"),
            ("error", "Error"),
            ("consent_expired", "Bank authorization expired"),
            ("unavailable", "Bank under maintenance"),
            ("removed", "No longer in Ponto"),
        ],
        default="never",
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(readonly=True, copy=False)
    # Import cursor: the newest imported transaction; advanced in the same commit as its batch.
    last_transaction_id = fields.Char(readonly=True, copy=False)
    last_transaction_date = fields.Date(readonly=True, copy=False)
    pending_synchronization_id = fields.Char(
        readonly=True, copy=False, help="Ponto synchronization whose updated transactions are still to read."
    )
    opening_balance_done = fields.Boolean(readonly=True, copy=False)
    consent_warning_days = fields.Integer(
        readonly=True, copy=False, help="The last consent warning sent (days before expiry; -1 = expired)."
    )

    _ponto_id_uniq = models.Constraint(
        "UNIQUE(connection_id, ponto_id)", "This Ponto account is already known for this connection."
    )
    _journal_uniq = models.UniqueIndex(
        "(journal_id) WHERE journal_id IS NOT NULL AND active",
        "A journal can be linked to one Ponto account only.",
    )

    @api.depends("currency_code")
    def _compute_currency_id(self):
        for account in self:
            account.currency_id = account._find_currency(account.currency_code)

    def _find_currency(self, code):
        if not code:
            return self.env["res.currency"]
        return self.env["res.currency"].with_context(active_test=False).search([("name", "=", code)], limit=1)

    @api.depends("name", "iban")
    def _compute_display_name(self):
        for account in self:
            account.display_name = f"{account.name} ({account.iban})" if account.iban else account.name

    @api.model
    def _values_from_ponto(self, ponto_account):
        """ponto.account values from a `ponto.records.Account`."""
        return {
            "ponto_id": ponto_account.id,
            "name": ponto_account.description or ponto_account.reference or ponto_account.id,
            "iban": ponto_account.iban or ponto_account.reference,
            "reference_type": ponto_account.reference_type,
            "holder_name": ponto_account.holder_name,
            "subtype": ponto_account.subtype,
            "currency_code": ponto_account.currency,
            "financial_institution_id": ponto_account.financial_institution_id,
            "current_balance": float(ponto_account.current_balance or 0),
            "current_balance_date": _naive_utc(ponto_account.current_balance_reference_date),
            "available_balance": float(ponto_account.available_balance or 0),
            "available_balance_date": _naive_utc(ponto_account.available_balance_reference_date),
            "authorized_at": _naive_utc(ponto_account.authorized_at),
            "authorization_expiration": _naive_utc(ponto_account.authorization_expiration_expected_at),
            "availability": ponto_account.availability or "available",
            "deprecated": bool(ponto_account.deprecated),
            "ponto_synchronized_at": _naive_utc(ponto_account.synchronized_at),
            "is_exposed": True,
        }

    # ------------------------------------------------------------------ linking

    @api.constrains("journal_id", "currency_id", "company_id")
    def _check_journal(self):
        for account in self.filtered("journal_id"):
            journal = account.journal_id
            if journal.type != "bank":
                raise UserError(self.env._("%s is not a bank journal.", journal.display_name))
            if journal.company_id != account.company_id:
                raise UserError(self.env._(
                    "The journal %(journal)s belongs to %(company)s, not to %(ours)s.",
                    journal=journal.display_name, company=journal.company_id.name,
                    ours=account.company_id.name,
                ))
            journal_currency = journal.currency_id or journal.company_id.currency_id
            if account.currency_id and account.currency_id != journal_currency:
                raise UserError(self.env._(
                    "The Ponto account %(account)s is in %(currency)s but the journal %(journal)s "
                    "is in %(journal_currency)s.",
                    account=account.display_name, currency=account.currency_id.name,
                    journal=journal.display_name, journal_currency=journal_currency.name,
                ))

    def _link_journal(self, journal):
        """Link this account to `journal`: the journal becomes fed by Ponto from now on."""
        self.ensure_one()
        taken = self.search([("journal_id", "=", journal.id), ("id", "!=", self.id)], limit=1)
        if taken:
            raise UserError(self.env._(
                "The journal %(journal)s is already linked to the Ponto account %(account)s.",
                journal=journal.display_name, account=taken.display_name,
            ))
        values = {"journal_id": journal.id}
        if not self.sync_start_date:
            values["sync_start_date"] = self._default_start_date(journal)
        if not self.next_sync:
            values["next_sync"] = fields.Datetime.now()
        self.write(values)
        journal.bank_statements_source = "ponto"

    def _default_start_date(self, journal):
        """Import from the start of the current fiscal year, but never before the journal's last line."""
        today = fields.Date.context_today(self)
        start = self.company_id.compute_fiscalyear_dates(today)["date_from"]
        last_line = self.env["account.bank.statement.line"].search(
            [("journal_id", "=", journal.id)], order="date desc", limit=1
        )
        if last_line:
            start = max(start, last_line.date + timedelta(days=1))
        return start

    def action_unlink_journal(self):
        for account in self.filtered("journal_id"):
            journal = account.journal_id
            account.journal_id = False
            journal.bank_statements_source = "undefined"

    # ------------------------------------------------------------------ consent

    @api.depends("authorization_expiration")
    def _compute_consent_days_left(self):
        now = fields.Datetime.now()
        for account in self:
            expiry = account.authorization_expiration
            account.consent_days_left = (expiry - now).days if expiry else 0

    consent_days_left = fields.Integer(compute="_compute_consent_days_left")
