# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import logging
from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ponto import const as ponto_const
from ..ponto.client import PontoClient
from ..ponto.credentials import is_legacy_token, looks_like_client_id
from ..ponto.errors import PontoCredentialsError, PontoError

_logger = logging.getLogger(__name__)

API_URL_PARAM = "account_bank_sync_ponto.api_url"
TIMEOUT_PARAM = "account_bank_sync_ponto.timeout"
BACKOFF_PARAM = "account_bank_sync_ponto.backoff_base"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_SECRET_LENGTH = 512


class PontoConnection(models.Model):
    """One Ponto integration (Client ID + Secret) of one company."""

    _name = "ponto.connection"
    _description = "Ponto Connection"
    _inherit = ["mail.thread"]
    _order = "name, id"

    name = fields.Char(required=True, default=lambda self: self.env._("Ponto"), tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    client_id = fields.Char(string="Client ID", tracking=True, copy=False)
    client_secret = fields.Char(
        string="Secret", groups="base.group_system", copy=False, exportable=False
    )
    api_token = fields.Char(
        string="Legacy API Token",
        groups="base.group_system",
        copy=False,
        exportable=False,
        readonly=True,
        help="Single API token of the deprecated Ponto integration; kept only to detect it.",
    )
    state = fields.Selection(
        [
            ("draft", "Not Connected"),
            ("connected", "Connected"),
            ("error", "Error"),
            ("deprecated_token", "Deprecated API Token"),
            ("disconnected", "Disconnected"),
        ],
        default="draft",
        required=True,
        readonly=True,
        tracking=True,
    )
    last_error = fields.Text(readonly=True)
    last_sync = fields.Datetime(string="Last Synchronization", compute="_compute_last_sync")
    organization_id = fields.Char(
        string="Ponto Organization", readonly=True, help="Ponto's id of the organization."
    )
    responsible_user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        help="Receives the activities when a bank authorization must be renewed.",
    )
    account_ids = fields.One2many("ponto.account", "connection_id", string="Ponto Accounts")
    account_count = fields.Integer(compute="_compute_account_count")

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("api_token") and not vals.get("client_secret"):
                vals["state"] = "deprecated_token"
        return super().create(vals_list)

    @api.depends("account_ids.last_sync")
    def _compute_last_sync(self):
        for connection in self:
            connection.last_sync = max(connection.account_ids.mapped("last_sync") or [False], key=bool)

    @api.depends("account_ids")
    def _compute_account_count(self):
        for connection in self:
            connection.account_count = len(connection.account_ids)

    # ------------------------------------------------------------------ credentials and client

    @api.model
    def _get_api_url(self):
        """Where every Ponto call goes; only admins can change it, as it decides where secrets go."""
        url = self.env["ir.config_parameter"].sudo().get_param(API_URL_PARAM)
        url = (url or ponto_const.DEFAULT_API_URL).strip().rstrip("/")
        parts = urlsplit(url)
        is_local = (parts.hostname or "") in LOCAL_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and is_local):
            raise UserError(self.env._(
                "The Ponto API address %(url)s is refused: it must start with https:// "
                "(plain http is only allowed for 127.0.0.1 or localhost). An administrator can "
                "fix it in the system parameter %(param)s.",
                url=url, param=API_URL_PARAM,
            ))
        return url

    @api.model
    def _check_credentials_format(self, client_id, client_secret):
        """Refuse what cannot be Ponto credentials, with guidance instead of "invalid credentials"."""
        client_id, client_secret = (client_id or "").strip(), (client_secret or "").strip()
        if is_legacy_token(client_id, client_secret):
            raise UserError(self._legacy_token_message())
        if not client_id or not client_secret:
            raise UserError(self.env._("Both the Client ID and the Secret of your Ponto integration are required."))
        if not looks_like_client_id(client_id):
            raise UserError(self.env._(
                "This Client ID does not look like a Ponto Client ID (they look like "
                "1a2b3c4d-1111-2222-3333-444455556666). Copy it again from Ponto Dashboard → "
                "Integration → Live."
            ))
        if len(client_secret) > MAX_SECRET_LENGTH or any(c.isspace() for c in client_secret):
            raise UserError(self.env._(
                "This Secret cannot be a Ponto Secret (it contains spaces or is far too long). "
                "Copy it again from Ponto Dashboard → Integration → Live."
            ))
        return client_id, client_secret

    @api.model
    def _legacy_token_message(self):
        return self.env._(
            "This looks like a single Ponto API token. Ponto deprecated API tokens: Odoo now needs "
            "the Client ID and the Secret of a Ponto integration.\n"
            "1. In Ponto, go to Ponto Dashboard → Integration → Live and click Add Integration; "
            "select the accounts to synchronize.\n"
            "2. Copy the Client ID and the Secret it generates.\n"
            "3. In Odoo, (developer mode) Accounting → Configuration → Online Synchronization, "
            "open the connection and click Update Accounts to paste them; your links are kept."
        )

    @api.model
    def _make_client(self, client_id, client_secret):
        """A Ponto client; integrators may tune its read timeout and retry backoff (seconds)."""
        params = self.env["ir.config_parameter"].sudo()
        read_timeout = float(params.get_param(TIMEOUT_PARAM) or ponto_const.DEFAULT_TIMEOUT[1])
        backoff_base = float(params.get_param(BACKOFF_PARAM) or ponto_const.BACKOFF_BASE)
        # One number, not a (connect, read) pair: Odoo's test harness compares it with 10.
        return PontoClient(
            self._get_api_url(), client_id, client_secret, timeout=read_timeout, backoff_base=backoff_base
        )

    def _get_client(self):
        """A client for this connection, refusing deprecated tokens with the migration guidance."""
        self.ensure_one()
        connection = self.sudo()
        if connection.state == "deprecated_token" or (connection.api_token and not connection.client_secret):
            raise UserError(self._legacy_token_message())
        if not connection.client_id or not connection.client_secret:
            raise UserError(self.env._("The connection %s has no Client ID and Secret yet.", self.name))
        return self._make_client(connection.client_id, connection.client_secret)

    # ------------------------------------------------------------------ accounts

    def _apply_ponto_accounts(self, ponto_accounts):
        """Create or refresh ponto.account rows from Ponto's list, matching by Ponto id.

        Accounts Ponto no longer exposes are flagged, never deleted (their journals keep history).
        Returns the ponto.account records Ponto exposes now.
        """
        self.ensure_one()
        existing = {account.ponto_id: account for account in self.with_context(active_test=False).account_ids}
        seen = self.env["ponto.account"]
        for ponto_account in ponto_accounts:
            values = self.env["ponto.account"]._values_from_ponto(ponto_account)
            account = existing.get(ponto_account.id)
            if account:
                account.write(values)
            else:
                account = self.env["ponto.account"].create({**values, "connection_id": self.id})
            seen |= account
        (self.account_ids - seen).filtered("is_exposed").write({"is_exposed": False})
        return seen

    def _fetch_accounts(self, client):
        try:
            return list(client.iter_accounts())
        except PontoCredentialsError as error:
            raise UserError(self._credentials_refused_message(error)) from None
        except PontoError as error:
            raise UserError(self.env._("Ponto could not be reached: %s", error)) from None

    @api.model
    def _credentials_refused_message(self, error):
        return self.env._(
            "Ponto refused this Client ID and Secret (%s). Check that you copied both from Ponto "
            "Dashboard → Integration → Live, and that the integration is still active.", error
        )

    def _set_state(self, state, error=None):
        """Change the state; post on the chatter only when the state or the message changes."""
        for connection in self:
            if connection.state == state and (connection.last_error or False) == (error or False):
                continue
            connection.write({"state": state, "last_error": error or False})
            if error:
                connection.message_post(body=self.env._("Ponto synchronization problem: %s", error))

    # ------------------------------------------------------------------ actions

    def action_open_update_credentials(self):
        self.ensure_one()
        return self.env["ponto.link.wizard"]._open_action(
            self.env._("Update Accounts"), default_connection_id=self.id
        )

    def action_edit_accounts(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Synchronization Settings"),
            "res_model": "ponto.account",
            "view_mode": "list",
            "views": [(self.env.ref("account_bank_sync_ponto.ponto_account_view_list_edit").id, "list")],
            "domain": [("connection_id", "=", self.id)],
            "context": {"default_connection_id": self.id, "active_test": False},
        }

    def action_open_accounts(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("account_bank_sync_ponto.action_ponto_account")
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    def _check_not_deprecated(self):
        """Refuse, with the migration guidance, to use a connection of the deprecated API token."""
        if "deprecated_token" in self.mapped("state"):
            raise UserError(self._legacy_token_message())

    def action_sync(self):
        """Synchronize now every linked account of these connections (the one sync engine)."""
        self._check_not_deprecated()
        accounts = self.account_ids.filtered(lambda account: account.journal_id and account.is_exposed)
        return accounts.action_sync()
