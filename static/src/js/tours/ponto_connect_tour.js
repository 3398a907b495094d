/** Connect with Ponto from the journal dashboard, as an administrator does it for the first time:
 *  paste the Client ID and Secret, Next, check the proposed accounts, Validate, synchronize, and
 *  open the imported statement lines.  Run by tests/test_tour.py against the fake Ponto, whose
 *  credentials are the ones below (ponto/fake_server.py: FAKE_CLIENT_ID, FAKE_CLIENT_SECRET). */
import { registry } from "@web/core/registry";

const FAKE_CLIENT_ID = "5b0e3f7c-2a41-4d8e-9c6f-1e2d3c4b5a69";
const FAKE_CLIENT_SECRET = "fake-ponto-client-secret";
const BANK_CARD = ".o_kanban_record:has(a[name=open_action] span:contains(Bank))";

registry.category("web_tour.tours").add("account_bank_sync_ponto_connect", {
    url: "/odoo/action-account.open_account_journal_dashboard_kanban",
    steps: () => [
        {
            content: "Connect the Bank journal with Ponto from its dashboard card",
            trigger: `${BANK_CARD} button[name=action_ponto_connect]`,
            run: "click",
        },
        {
            content: "Paste the Client ID of the Ponto integration",
            trigger: ".modal div[name=client_id] input",
            run: `edit ${FAKE_CLIENT_ID}`,
        },
        {
            content: "Paste its Secret",
            trigger: ".modal div[name=client_secret] input",
            run: `edit ${FAKE_CLIENT_SECRET}`,
        },
        {
            content: "Next: Odoo asks Ponto for the accounts",
            trigger: ".modal footer button[name=action_fetch_accounts]",
            run: "click",
        },
        {
            content: "The current account is proposed on the existing Bank journal",
            trigger: ".modal div[name=line_ids] .o_data_row:contains(Compte courant):contains(Link existing journal):contains(Bank)",
        },
        {
            content: "The savings account gets a new journal",
            trigger: ".modal div[name=line_ids] .o_data_row:contains(Spaarrekening):contains(Create new journal)",
        },
        {
            content: "The USD account gets a new journal",
            trigger: ".modal div[name=line_ids] .o_data_row:contains(USD account):contains(Create new journal)",
        },
        {
            content: "Validate: the journals are linked",
            trigger: ".modal footer button[name=action_validate]",
            run: "click",
        },
        {
            content: "Back on the dashboard, the Bank journal is fed by Ponto",
            trigger: `body:not(:has(.modal)) ${BANK_CARD} [name=ponto_status]:contains(Ponto)`,
        },
        {
            content: "A new journal was created for the savings account",
            trigger: ".o_kanban_record a[name=open_action] span:contains(Spaarrekening)",
        },
        {
            content: "Synchronize now",
            trigger: `${BANK_CARD} button[name=action_ponto_sync]`,
            run: "click",
        },
        {
            content: "Ponto's transactions are imported",
            trigger: ".o_notification:contains(new transaction(s) imported)",
        },
        {
            content: "Open the Bank journal's statements",
            trigger: `${BANK_CARD} button[name=open_action]`,
            run: "click",
        },
        {
            content: "Open the newest imported statement",
            trigger: ".o_list_view .o_data_row:first-child td[name=name]",
            run: "click",
        },
        {
            content: "Its statement lines are listed",
            trigger: ".o_form_view div[name=line_ids] .o_data_row",
        },
    ],
});
