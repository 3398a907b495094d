"""Prepare the demo database: company, admin password, API URL, link wizard, first synchronization.

Run by scripts/demo (not by hand) with Odoo on PYTHONPATH:

    python scripts/demo_driver.py -c ODOO_CONF -d DB --api-url URL [--cron-every MINUTES]

It boots Odoo in-process on an existing database where the module is installed, then goes through
the same code a user does: the link wizard (Client ID and Secret, Next, Validate) and the one sync
engine (`ponto.account._sync()`).  The fake's Client ID and Secret come from the fake itself (or
from the PONTO_DEMO_CLIENT_ID / PONTO_DEMO_CLIENT_SECRET environment variables); the Secret is
never printed.
"""

import argparse
import os
import sys
import time
from datetime import date, timedelta

# Demo company: the holder of the fake's accounts, a Belgian company in EUR.
COMPANY_NAME = "Ponto Demo BV"
COMPANY_ADDRESS = {"street": "Rue de la Loi 16", "zip": "1000", "city": "Brussels"}
# One EUR in USD for the demo's USD account (the journal's lines stay in USD; this only values them).
USD_PER_EUR = 1.08
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="Odoo configuration file")
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--api-url", required=True, help="the fake Ponto's URL")
    parser.add_argument("--cron-every", type=int, default=1, metavar="MINUTES",
                        help="interval of the synchronization cron in the demo database")
    parser.add_argument("--due-every", type=int, default=0, metavar="MINUTES",
                        help="a demo-only job makes the linked accounts due this often (0: no job)")
    parser.add_argument("--steps", default="prepare,link,sync",
                        help="comma-separated: prepare (company, admin, API URL, crons), link "
                        "(the wizard), sync (the first synchronization and the summary)")
    parser.add_argument("--days", type=int, default=366,
                        help="the first synchronization imports this many days of history")
    return parser.parse_args(argv)


def boot_odoo(config_file, database):
    import odoo
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(
        ["-c", config_file, "-d", database, "--log-level=warn", "--no-http"], setup_logging=True
    )
    return Registry(database)


# ---------------------------------------------------------------------- database preparation

def prepare_company(env):
    """The default company becomes a Belgian company in EUR (the template's is American, in USD)."""
    company = env.ref("base.main_company")
    eur, usd = env.ref("base.EUR"), env.ref("base.USD")
    (eur | usd).active = True
    changes = []
    if company.currency_id != eur:
        company.currency_id = eur
        changes.append("currency EUR")
    belgium = env.ref("base.be")
    if company.country_id != belgium:
        company.write({"country_id": belgium.id, **COMPANY_ADDRESS})
        changes.append("country Belgium")
    if company.name in ("My Company", "YourCompany"):
        company.name = COMPANY_NAME
    if not usd.rate_ids.filtered(lambda rate: rate.company_id == company):
        env["res.currency.rate"].create({
            "currency_id": usd.id, "company_id": company.id,
            "name": date.today() - timedelta(days=800), "rate": USD_PER_EUR,
        })
    return company, changes


def prepare_admin(env):
    admin = env.ref("base.user_admin")
    admin.write({"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD, "tz": "Europe/Brussels"})
    return admin


def prepare_crons(env, cron_every, due_every):
    """The product's cron every `cron_every` minutes; optionally a demo-only job that makes the
    linked accounts due every `due_every` minutes, so that the fake's new transactions show up
    without waiting for the accounts' synchronization frequency."""
    cron = env.ref("account_bank_sync_ponto.ir_cron_ponto_sync")
    cron.write({"interval_number": cron_every, "interval_type": "minutes", "active": True})
    if due_every:
        env["ir.cron"].create({
            "name": "Ponto demo: make the linked accounts due (demo database only)",
            "model_id": env.ref("account_bank_sync_ponto.model_ponto_account").id,
            "state": "code",
            "code": "model.search([('journal_id', '!=', False)]).write({'next_sync': env.cr.now()})",
            "interval_number": due_every,
            "interval_type": "minutes",
        })
    return cron


# ---------------------------------------------------------------------- linking and syncing

def link_accounts(env, admin, client_id, client_secret, start_date):
    """Connect with Ponto the way a user does in the wizard, keeping its proposed defaults
    (first account on the existing Bank journal, new journals for the others), with the
    "Import From" date set to `start_date`."""
    wizard = env["ponto.link.wizard"].with_user(admin).create({
        "client_id": client_id, "client_secret": client_secret,
    })
    wizard.action_fetch_accounts()
    wizard.line_ids.write({"sync_start_date": start_date})
    wizard.action_validate()


def summary(env, connection, seconds):
    Line = env["account.bank.statement.line"]
    Statement = env["account.bank.statement"]
    rows = []
    for account in connection.account_ids:
        journal = account.journal_id
        lines = Line.search_count([("ponto_account_id", "=", account.id), ("ponto_transaction_id", "!=", False)])
        statements = Statement.search_count([("ponto_account_id", "=", account.id)])
        rows.append((account, journal, lines, statements))
    total_lines = sum(row[2] for row in rows)
    total_statements = sum(row[3] for row in rows)
    print(f"Connection {connection.name!r}: {connection.state}, {len(rows)} accounts")
    for account, journal, lines, statements in rows:
        journal_name = f"{journal.name} ({journal.code})" if journal else "not linked"
        print(
            f"  {account.name:<16} {account.iban or '':<20} {account.currency_code or '':<3}"
            f" -> {journal_name:<26} {lines:>5} lines {statements:>3} statements"
            f"  balance {account.current_balance:>12,.2f}  [{account.sync_state}]"
        )
        if account.last_error:
            print(f"      error: {account.last_error}")
    print(f"First synchronization: {total_lines} lines in {total_statements} statements, {seconds:.1f} s")
    return rows


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    registry = boot_odoo(args.config, args.database)
    from odoo import SUPERUSER_ID, api
    from odoo.addons.account_bank_sync_ponto.models.ponto_connection import API_URL_PARAM
    from odoo.addons.account_bank_sync_ponto.ponto.fake_server import (
        FAKE_CLIENT_ID,
        FAKE_CLIENT_SECRET,
    )

    client_id = os.environ.get("PONTO_DEMO_CLIENT_ID") or FAKE_CLIENT_ID
    client_secret = os.environ.get("PONTO_DEMO_CLIENT_SECRET") or FAKE_CLIENT_SECRET

    steps = set(args.steps.split(","))
    failed = []
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        if "prepare" in steps:
            company, changes = prepare_company(env)
            if changes:
                print(f"Company {company.name}: {', '.join(changes)}")
            prepare_admin(env)
            env["ir.config_parameter"].set_param(API_URL_PARAM, args.api_url)
            prepare_crons(env, args.cron_every, args.due_every)
            cr.commit()

        if "link" in steps:
            start_date = date.today() - timedelta(days=args.days)
            link_accounts(env, env.ref("base.user_admin"), client_id, client_secret, start_date)
            cr.commit()

        if "sync" in steps:
            connection = env["ponto.connection"].search([], order="id desc", limit=1)
            started = time.monotonic()
            accounts = connection.account_ids.filtered("journal_id")
            accounts._sync()  # the one engine, as the cron runs it (it commits page by page)
            seconds = time.monotonic() - started
            cr.commit()
            rows = summary(env, connection, seconds)
            failed = [account.name for account, *_rest in rows if account.journal_id and account.sync_state != "ok"]
    if failed:
        print(f"ERROR: the first synchronization failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
