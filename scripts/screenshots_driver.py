"""Take the screenshots of static/description/ in headless Chromium.  Run by scripts/screenshots,
which serves a fresh demo database (not yet connected to the fake Ponto) on --url.

    python scripts/screenshots_driver.py --url http://127.0.0.1:8070 --db DB --out static/description \
        --sync-command "python scripts/demo_driver.py ... --steps sync"

It connects through the link wizard as a person does (clicks, types, Next, Validate), runs the
first synchronization with --sync-command, then visits the Online Synchronization list and form,
the journal dashboard and an imported statement.
"""

import argparse
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Chromium

CARD_TITLED = """(() => {{
  const card = [...document.querySelectorAll('.o_kanban_record')].find(
    (el) => el.querySelector('a[name=open_action] span')?.textContent.trim() === {title!r});
  if (card) card.id = 'ponto-shot';
  return !!card;
}})()"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret-env", default="PONTO_DEMO_CLIENT_SECRET",
                        help="environment variable holding the Secret (never on the command line)")
    parser.add_argument("--sync-command", required=True)
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    secret = os.environ[args.client_secret_env]
    os.makedirs(args.out, exist_ok=True)

    def out(name):
        path = os.path.join(args.out, name)
        print(f"  {path}")
        return path

    with Chromium(width=1280, height=800) as browser:
        browser.login(args.url, args.db, args.login, args.password)

        # 1. Connect with Ponto from the Bank journal's dashboard card.
        browser.goto(f"{args.url}/odoo/action-account.open_account_journal_dashboard_kanban")
        browser.wait_for(CARD_TITLED.format(title="Bank"))
        browser.click("#ponto-shot button[name=action_ponto_connect]")
        browser.wait_for("document.querySelector('.modal div[name=client_id] input')")
        browser.fill(".modal div[name=client_id] input", args.client_id)
        browser.fill(".modal div[name=client_secret] input", secret)
        browser.screenshot(out("ponto_link_wizard_credentials.png"), ".modal .modal-content", padding=0)
        browser.click(".modal footer button[name=action_fetch_accounts]")
        browser.wait_for("document.querySelectorAll('.modal div[name=line_ids] .o_data_row').length >= 3")
        browser.screenshot(out("ponto_link_wizard.png"), ".modal .modal-content", padding=0)
        browser.click(".modal footer button[name=action_validate]")
        browser.wait_for("!document.querySelector('.modal') && document.querySelector('[name=ponto_status]')")

        # 2. The first synchronization (the one engine, as the cron runs it).
        subprocess.run(shlex.split(args.sync_command), check=True)

        # 3. The journal dashboard and its Bank card.
        browser.goto(f"{args.url}/odoo/action-account.open_account_journal_dashboard_kanban")
        browser.wait_for(CARD_TITLED.format(title="Bank")
                         + " && !!document.querySelector('#ponto-shot canvas')", settle=1.5)
        browser.screenshot(out("ponto_dashboard_card.png"), "#ponto-shot", padding=4)

        # 4. Online Synchronization (developer mode, as in the user guide): list and form.
        browser.goto(f"{args.url}/odoo/action-account_bank_sync_ponto.action_ponto_connection?debug=1")
        browser.wait_for("document.querySelector('.o_list_view .o_data_row')")
        browser.screenshot(out("ponto_connections.png"))
        browser.click(".o_list_view .o_data_row td.o_data_cell")
        browser.wait_for("document.querySelector('.o_form_view div[name=account_ids] .o_data_row')", settle=1.5)
        browser.screenshot(out("ponto_connection_form.png"))

        # 5. The Bank journal's newest imported statement, with its lines.
        browser.goto(f"{args.url}/odoo/action-account.open_account_journal_dashboard_kanban")
        browser.wait_for(CARD_TITLED.format(title="Bank"))
        browser.click("#ponto-shot button[name=open_action]")
        browser.wait_for("document.querySelector('.o_list_view .o_data_row')")
        browser.screenshot(out("ponto_bank_statements.png"))
        browser.click(".o_list_view .o_data_row td.o_data_cell")
        browser.wait_for("document.querySelector('.o_form_view div[name=line_ids] .o_data_row')", settle=1.0)
        browser.screenshot(out("ponto_bank_statement.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
