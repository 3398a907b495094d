# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Bank Synchronization with Ponto",
    "summary": "Import every booked Ponto transaction into bank statements, exactly once",
    "version": "19.0.1.0.0",
    "category": "Accounting/Accounting",
    "website": "https://github.com/account-bank-sync-ponto/account_bank_sync_ponto",
    "author": "account_bank_sync_ponto contributors",
    "license": "LGPL-3",
    "depends": ["account", "mail"],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "security/ponto_security.xml",
        "security/ir.model.access.csv",
        "data/ir_config_parameter.xml",
        "data/mail_activity_type.xml",
        "data/ir_cron.xml",
        "views/ponto_account_views.xml",
        "views/ponto_connection_views.xml",
        "views/ponto_institution_views.xml",
        "views/account_journal_views.xml",
        "wizard/ponto_link_wizard_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "account_bank_sync_ponto/static/src/js/tours/**/*",
        ],
    },
    "images": ["static/description/icon.png"],
    "installable": True,
    "application": False,
    "uninstall_hook": "uninstall_hook",
}
