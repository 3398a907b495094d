# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from collections import Counter

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.ponto_account import STATEMENT_PERIODS, SYNC_FREQUENCIES
from ..ponto.errors import PontoError
from ..ponto.mapping import valid_iban

ACTIONS = [
    ("create", "Create new journal"),
    ("link", "Link existing journal"),
    ("none", "No link"),
]


class PontoLinkWizard(models.TransientModel):
    """Connect with Ponto (step 1: Client ID and Secret; step 2: what to do with each account).

    With a connection in context it is "Update Accounts": new credentials, links kept.
    """

    _name = "ponto.link.wizard"
    _description = "Connect with Ponto"

    connection_id = fields.Many2one("ponto.connection", readonly=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    step = fields.Selection([("credentials", "Credentials"), ("accounts", "Accounts")], default="credentials")
    client_id = fields.Char(string="Client ID")
    client_secret = fields.Char(string="Secret", groups="base.group_system", exportable=False)
    line_ids = fields.One2many("ponto.link.wizard.line", "wizard_id", string="Ponto Accounts")
    is_legacy = fields.Boolean(compute="_compute_is_legacy")

    @api.depends("connection_id.state")
    def _compute_is_legacy(self):
        for wizard in self:
            wizard.is_legacy = wizard.connection_id.state == "deprecated_token"

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        connection = self.env["ponto.connection"].browse(values.get("connection_id"))
        if connection:
            values["company_id"] = connection.company_id.id
            values["client_id"] = connection.client_id
        return values

    # ------------------------------------------------------------------ step 1

    def action_fetch_accounts(self):
        """Check the credentials with Ponto and propose one line per exposed account."""
        self.ensure_one()
        self._check_admin()
        Connection = self.env["ponto.connection"]
        client_id, secret = Connection._check_credentials_format(self.client_id, self.sudo().client_secret)
        ponto_accounts = Connection._fetch_accounts(Connection._make_client(client_id, secret))
        if not ponto_accounts:
            raise UserError(self.env._(
                "This Ponto integration gives access to no account. In Ponto Dashboard → "
                "Integration → Live, open the integration and select the accounts to synchronize."
            ))
        self.connection_id = self.connection_id or self._known_connection(ponto_accounts)
        self.line_ids = [fields.Command.clear()] + [
            fields.Command.create(values) for values in self._proposed_lines(ponto_accounts)
        ]
        self.write({"step": "accounts", "client_id": client_id})
        self.sudo().client_secret = secret
        return self._reopen()

    def _check_admin(self):
        if not self.env.user.has_group("base.group_system"):
            raise UserError(self.env._("Only administrators may enter the Client ID and Secret of Ponto."))

    def _known_connection(self, ponto_accounts):
        """The company's connection that already has these Ponto accounts: connecting again
        updates it, instead of a second connection feeding a second set of journals."""
        return self.env["ponto.account"].search([
            ("company_id", "=", self.company_id.id),
            ("ponto_id", "in", [ponto_account.id for ponto_account in ponto_accounts]),
        ], limit=1).connection_id

    def _proposed_lines(self, ponto_accounts):
        """Lines that follow the user guide's tip: one journal per bank account; a single account
        goes to the existing Bank journal, the others get new journals. Known accounts keep
        their link; a journal with the account's IBAN is linked to it."""
        known = {
            account.ponto_id: account
            for account in self.connection_id.with_context(active_test=False).account_ids
        }
        free_journals = self._free_bank_journals()
        bank_journal_taken = False
        lines = []
        for ponto_account in ponto_accounts:
            line = self.env["ponto.link.wizard.line"]._values_from_ponto(ponto_account)
            account = known.get(ponto_account.id)
            if account:
                journal = account.journal_id
                line.update(sync_frequency=account.sync_frequency, statement_period=account.statement_period)
                line.update(action="link" if journal else "none", journal_id=journal.id)
            else:
                journal = self._journal_with_iban(ponto_account, free_journals)
                if not journal and not bank_journal_taken:
                    journal = self._existing_bank_journal(ponto_account, free_journals)
                    bank_journal_taken = bool(journal)
                line.update(action="link" if journal else "create", journal_id=journal.id)
            free_journals -= journal
            lines.append(line)
        return lines

    def _free_bank_journals(self):
        """Bank journals of the company that no Ponto account feeds yet, the proposed one first."""
        journals = self.env["account.journal"].search([
            ("type", "=", "bank"),
            ("company_id", "=", self.company_id.id),
            ("ponto_account_ids", "=", False),
        ])
        proposed = journals.browse(self.env.context.get("ponto_default_journal_id")) & journals
        return proposed | journals

    def _journal_with_iban(self, ponto_account, journals):
        iban = ponto_account.iban
        return journals.filtered(lambda j: iban and j.bank_account_id.sanitized_acc_number == iban)[:1]

    def _existing_bank_journal(self, ponto_account, journals):
        """The existing Bank journal (no bank account yet) in the account's currency."""
        currency = self.env["ponto.account"]._find_currency(ponto_account.currency)
        return journals.filtered(
            lambda j: not j.bank_account_id and (j.currency_id or j.company_id.currency_id) == currency
        )[:1]

    # ------------------------------------------------------------------ step 2

    def action_validate(self):
        """Save the connection, create or link the journals, and schedule the first import."""
        self.ensure_one()
        self._check_admin()
        self._check_lines()
        connection = self._save_connection()
        if connection.account_ids.filtered("journal_id"):
            self.env.ref("account_bank_sync_ponto.ir_cron_ponto_sync")._trigger()
        return self.env["ir.actions.act_window"]._for_xml_id("account.open_account_journal_dashboard_kanban")

    def _save_connection(self):
        """Store the credentials on the connection (new or updated) and carry out the lines.

        Ponto is asked again: an account it dropped since step 1 is only flagged, with its journal.
        The Secret leaves the wizard once stored on the connection.
        """
        Connection = self.env["ponto.connection"]
        secret = self.sudo().client_secret
        client = Connection._make_client(self.client_id, secret)
        ponto_accounts = Connection._fetch_accounts(client)
        organization = self._organization(client)
        connection = self.connection_id or Connection.create({
            "name": (organization and organization.name) or self.env._("Ponto"),
            "company_id": self.company_id.id,
        })
        connection.sudo().write({
            "client_id": self.client_id,
            "client_secret": secret,
            "api_token": False,
            **({"organization_id": organization.sub} if organization else {}),
        })
        self.sudo().client_secret = False
        connection._set_state("connected")
        accounts = {account.ponto_id: account for account in connection._apply_ponto_accounts(ponto_accounts)}
        lines = self.line_ids.filtered(lambda line: line.ponto_id in accounts)
        for line in lines:  # first free the journals that change hands, then link
            line._release(accounts[line.ponto_id])
        for line in lines:
            line._apply(accounts[line.ponto_id])
        return connection

    def _organization(self, client):
        """Ponto's user info: the organization behind the credentials (None if Ponto won't say)."""
        try:
            return client.userinfo()
        except PontoError:
            return None

    def _check_lines(self):
        journals = [line.journal_id for line in self.line_ids if line.action == "link"]
        missing = [line.name for line in self.line_ids if line.action == "link" and not line.journal_id]
        if missing:
            raise UserError(self.env._("Choose the journal to link for: %s", ", ".join(missing)))
        twice = [journal.display_name for journal, count in Counter(journals).items() if count > 1]
        if twice:
            raise UserError(self.env._(
                "Two Ponto accounts cannot feed the same journal (%s): one journal per bank account.",
                ", ".join(twice),
            ))
        for line in self.line_ids.filtered(lambda line: line.action == "link"):
            line._check_journal()

    def _decided_accounts(self):
        """The connection's accounts whose journal this wizard decides (they have a line)."""
        ponto_ids = set(self.line_ids.mapped("ponto_id"))
        return self.connection_id.account_ids.filtered(lambda account: account.ponto_id in ponto_ids)

    @api.model
    def _open_action(self, name, **context):
        """The window action of this wizard, wide enough for its table of accounts."""
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": {"dialog_size": "extra-large", **context},
        }

    def _reopen(self):
        return {**self._open_action(self.env._("Connect with Ponto")), "res_id": self.id}


class PontoLinkWizardLine(models.TransientModel):
    _name = "ponto.link.wizard.line"
    _description = "Ponto account to link"

    wizard_id = fields.Many2one("ponto.link.wizard", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="wizard_id.company_id")
    ponto_id = fields.Char(required=True, readonly=True)
    name = fields.Char(string="Account", readonly=True)
    iban = fields.Char(string="IBAN", readonly=True)
    holder_name = fields.Char(string="Holder", readonly=True)
    currency_code = fields.Char(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    balance = fields.Monetary(readonly=True)
    action = fields.Selection(ACTIONS, required=True, default="create")
    journal_id = fields.Many2one(
        "account.journal", domain="[('type', '=', 'bank'), ('company_id', '=', company_id)]"
    )
    sync_frequency = fields.Selection(
        SYNC_FREQUENCIES, string="Synchronization Frequency", default="four_daily", required=True
    )
    statement_period = fields.Selection(STATEMENT_PERIODS, string="Statements", default="month", required=True)
    sync_start_date = fields.Date(string="Import From")

    @api.model
    def _values_from_ponto(self, ponto_account):
        currency = self.env["ponto.account"]._find_currency(ponto_account.currency)
        return {
            "ponto_id": ponto_account.id,
            "name": ponto_account.description or ponto_account.reference,
            "iban": ponto_account.iban or ponto_account.reference,
            "holder_name": ponto_account.holder_name,
            "currency_code": ponto_account.currency,
            "currency_id": currency.id,
            "balance": float(ponto_account.current_balance or 0),
        }

    @api.onchange("action")
    def _onchange_action(self):
        if self.action != "link":
            self.journal_id = False

    def _check_journal(self):
        """The errors a user can fix here, in words, before anything is saved."""
        journal = self.journal_id
        if journal.company_id != self.company_id:
            raise UserError(self.env._(
                "The journal %(journal)s belongs to another company (%(company)s).",
                journal=journal.display_name, company=journal.company_id.name,
            ))
        other = journal.ponto_account_ids - self.wizard_id._decided_accounts()
        if other:
            raise UserError(self.env._(
                "The journal %(journal)s is already linked to the Ponto account %(account)s.",
                journal=journal.display_name, account=other[0].display_name,
            ))
        journal_currency = journal.currency_id or journal.company_id.currency_id
        if self.currency_id and self.currency_id != journal_currency:
            raise UserError(self.env._(
                "%(account)s is in %(currency)s but the journal %(journal)s is in %(journal_currency)s: "
                "choose a journal in %(currency)s or create a new one.",
                account=self.name, currency=self.currency_id.name, journal=journal.display_name,
                journal_currency=journal_currency.name,
            ))

    def _release(self, account):
        """Unlink the journal of `account` unless this line keeps it."""
        if self.action != "link" or self.journal_id != account.journal_id:
            account.action_unlink_journal()

    def _apply(self, account):
        """Carry out this line's action on the ponto.account `account` (after `_release`)."""
        account.write({
            "sync_frequency": self.sync_frequency,
            "statement_period": self.statement_period,
            **({"sync_start_date": self.sync_start_date} if self.sync_start_date else {}),
        })
        if self.action == "none":
            return
        journal = self.journal_id if self.action == "link" else self._create_journal()
        if account.journal_id != journal:
            account._link_journal(journal)
        if not journal.bank_account_id:
            journal.write(self._bank_account_values())

    def _create_journal(self):
        """A bank journal for the account, in its currency (activated if it was not in use)."""
        company = self.company_id
        if self.currency_id and not self.currency_id.active:
            self.currency_id.sudo().active = True
        return self.env["account.journal"].create({
            "name": self.name,
            "type": "bank",
            "company_id": company.id,
            "currency_id": self.currency_id.id if self.currency_id != company.currency_id else False,
            **self._bank_account_values(),
        })

    def _bank_account_values(self):
        """The account's IBAN as the journal's bank account: the journal finds or creates the
        company's res.partner.bank for it."""
        iban = valid_iban(self.iban)
        return {"bank_acc_number": iban} if iban else {}
