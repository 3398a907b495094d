# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ponto.errors import PontoError


class PontoInstitution(models.Model):
    """Cached list of the banks Ponto reaches, so users can check theirs (refreshed on demand)."""

    _name = "ponto.institution"
    _description = "Bank reachable through Ponto"
    _order = "country_code, name"

    name = fields.Char(required=True, index="trigram")
    ponto_id = fields.Char(string="Ponto ID", required=True, index=True)
    bic = fields.Char(string="BIC")
    country_code = fields.Char(string="Country")
    status = fields.Char(help="Ponto's support level: stable, beta or experimental.")
    deprecated = fields.Boolean()
    maintenance_type = fields.Char()
    logo_url = fields.Char()

    _ponto_id_uniq = models.Constraint("UNIQUE(ponto_id)", "This bank is already listed.")

    @api.model
    def action_refresh(self):
        """Reload the list from Ponto through the first working connection of the company."""
        connection = self.env["ponto.connection"].search(
            [("company_id", "in", self.env.companies.ids), ("state", "=", "connected")], limit=1
        )
        if not connection:
            raise UserError(self.env._(
                "Connect Odoo with Ponto first (Client ID and Secret): Ponto lists its banks to "
                "connected integrations only."
            ))
        try:
            institutions = list(connection._get_client().iter_financial_institutions())
        except PontoError as error:
            raise UserError(self.env._("Ponto could not list its banks: %s", error)) from None
        self.sudo()._store(institutions)
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    def _store(self, institutions):
        existing = {record.ponto_id: record for record in self.with_context(active_test=False).search([])}
        for institution in institutions:
            values = {
                "ponto_id": institution.id,
                "name": institution.name,
                "bic": institution.bic,
                "country_code": institution.country,
                "status": institution.status,
                "deprecated": bool(institution.deprecated),
                "maintenance_type": institution.maintenance_type,
                "logo_url": institution.logo_url,
            }
            if institution.id in existing:
                existing[institution.id].write(values)
            else:
                self.create(values)

    @api.model
    def search_institutions(self, name=None, country=None):
        """Search the cached list by name (contains) and country code."""
        domain = []
        if name:
            domain.append(("name", "ilike", name))
        if country:
            domain.append(("country_code", "=", country.upper()))
        return self.search(domain)
