"""One step of a benchmark, in a fresh process: boot Odoo on its database, set up, measure.

    python benchmarks/scenarios.py '<json spec>'

The spec names the contender ("ours", "anchor" or "floor"), the database, the fake Ponto to use
(its URL and control address, see fakehost.py) and the step:

- "link": connect the fake's accounts (ours: through the link wizard; anchor: journals with the
  accounts' IBANs and one `online.bank.statement.provider` each; floor: journals only). Unmeasured.
- "sync": link (unless `linked`), then measure one synchronization: ours `ponto.account._sync()`
  with real commits per page (context `ponto_autocommit`), the anchor's scheduled pull
  (`online.bank.statement.provider._pull` with context `scheduled`), the floor's plain
  `account.bank.statement.line.create()` of the same lines from prepared values.
  `add` books that many new transactions on the fake first (unmeasured).

The last stdout line is the JSON result: wall time, SQL queries of the cursor
(`cr.sql_log_count`), HTTP calls per endpoint of the fake, peak RSS growth (psutil sampling in a
thread) and ru_maxrss growth, lines created, and whether every account synchronized.
"""

import cProfile
import gc
import json
import os
import pstats
import re
import resource
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# `ponto` as a top-level package (Odoo-free), from the code under measure, last on the path.
sys.path.append(os.environ.get("PONTO_BENCH_CODE", str(ROOT)))
sys.path.append(str(BENCH_DIR))

from fakehost import connect  # noqa: E402

from ponto.fake_server import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET  # noqa: E402
from ponto.mapping import statement_line_values  # noqa: E402
from ponto.records import Transaction  # noqa: E402

API_URL_PARAM = "account_bank_sync_ponto.api_url"
ANCHOR_INTERFACE = "odoo.addons.account_statement_import_online_ponto.models.ponto_interface"
TZ = "Europe/Brussels"
SAMPLE_EVERY = 0.01  # seconds between two RSS samples
WHITESPACE = re.compile(r"\s+")
SHAPE_LENGTH = 160  # characters of a query that make its shape


# === MEASURING === #


class RssSampler(threading.Thread):
    """Peak resident set size of this process while running (sampled)."""

    def __init__(self):
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._stop_event = threading.Event()
        self.peak = self._process.memory_info().rss

    def run(self):
        while not self._stop_event.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def backend_cpu_seconds(cr):
    """CPU time (user + system) of the PostgreSQL backend serving `cr` (same machine)."""
    cr.execute("SELECT pg_backend_pid()")
    fields = Path(f"/proc/{cr.fetchone()[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class QueryShapes:
    """Counts the queries of this thread by shape (their first words) and sums their time, via
    Odoo's query hooks."""

    def __init__(self):
        self.counts = Counter()
        self.seconds = Counter()

    def __call__(self, cr, query, params, start, delay):
        text = query.decode() if isinstance(query, bytes) else str(query)
        shape = WHITESPACE.sub(" ", text).strip()[:SHAPE_LENGTH]
        self.counts[shape] += 1
        self.seconds[shape] += delay

    def __enter__(self):
        thread = threading.current_thread()
        thread.query_hooks = (*getattr(thread, "query_hooks", ()), self)
        return self

    def __exit__(self, *exc_info):
        thread = threading.current_thread()
        thread.query_hooks = tuple(hook for hook in thread.query_hooks if hook is not self)


def measure(env, fake, work, profile_path=None):
    """Run `work()` and return its measures."""
    gc.collect()
    fake.reset_calls()
    load = os.getloadavg()[0]
    rss_before = psutil.Process().memory_info().rss
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queries_before = env.cr.sql_log_count
    backend_before = backend_cpu_seconds(env.cr)
    cpu_before = process_cpu_seconds()
    sampler = RssSampler()
    sampler.start()
    profiler = cProfile.Profile() if profile_path else None
    with QueryShapes() as shapes:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        try:
            work()
        finally:
            if profiler:
                profiler.disable()
            seconds = time.perf_counter() - started
            sampler.stop()
    cpu = process_cpu_seconds() - cpu_before
    queries = env.cr.sql_log_count - queries_before
    backend_cpu = backend_cpu_seconds(env.cr) - backend_before
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if profiler:
        profiler.dump_stats(profile_path)
        stats = pstats.Stats(profile_path, stream=sys.stderr).sort_stats("cumulative")
        stats.print_stats(60)
    return {
        "seconds": seconds,
        "cpu_odoo": cpu,
        "cpu_postgres": backend_cpu,
        "sql": queries,
        "calls": fake.calls_by_endpoint(),
        "rss_growth_mb": (sampler.peak - rss_before) / 2**20,
        "maxrss_growth_mb": max(0, maxrss_after - max(maxrss_before, rss_before)) / 2**20,
        "load_before": load,
        "sql_seconds": sum(shapes.seconds.values()),
        "query_shapes": shapes.counts.most_common(40),
        "slowest_query_shapes": [(shape, round(seconds, 3), shapes.counts[shape])
                                 for shape, seconds in shapes.seconds.most_common(15)],
    }


# === CONTENDERS === #


def activate_currency(env, code):
    currency = env["res.currency"].with_context(active_test=False).search([("name", "=", code)])
    if not currency.active:
        currency.active = True
    return currency


def prepare_company(env, currencies):
    """Every contender: a company in EUR (like a Belgian Ponto user; the template's is in USD)
    with the currencies of the fake's accounts active."""
    company = env.company
    euro = activate_currency(env, "EUR")
    if company.currency_id != euro:
        company.currency_id = euro
    for code in currencies:
        activate_currency(env, code)


def create_journal(env, ponto_account):
    """A bank journal for a fake account, the way our wizard makes one (anchor and floor)."""
    attributes = ponto_account["attributes"]
    currency = activate_currency(env, attributes["currency"])
    company = env.company
    return env["account.journal"].create({
        "name": f"{attributes['description']} {attributes['reference'][-4:]}",
        "type": "bank",
        "company_id": company.id,
        "currency_id": currency.id if currency != company.currency_id else False,
        "bank_acc_number": attributes["reference"],
    })


class Ours:
    def __init__(self, env, spec):
        self.env, self.spec = env, spec

    def link(self):
        env, spec = self.env, self.spec
        env["ir.config_parameter"].set_param(API_URL_PARAM, spec["fake"]["url"])
        wizard = env["ponto.link.wizard"].create({
            "client_id": FAKE_CLIENT_ID, "client_secret": FAKE_CLIENT_SECRET,
            "company_id": env.company.id,
        })
        wizard.action_fetch_accounts()
        wanted = set(spec["account_ids"])
        for line in wizard.line_ids:
            if line.ponto_id in wanted:
                line.sync_start_date = spec["start"]
            else:
                line.write({"action": "none", "journal_id": False})
        wizard.action_validate()
        accounts = self.accounts()
        accounts.write({"sync_start_date": spec["start"]})
        if len(accounts) != len(wanted):
            raise RuntimeError(f"linked {len(accounts)} accounts, expected {len(wanted)}")

    def accounts(self):
        return self.env["ponto.account"].search([
            ("ponto_id", "in", self.spec["account_ids"]), ("journal_id", "!=", False),
        ])

    def before_sync(self):
        # The fake's URL changes with every fake process.
        self.env["ir.config_parameter"].set_param(API_URL_PARAM, self.spec["fake"]["url"])

    def sync(self):
        accounts = self.accounts()
        accounts.with_context(ponto_autocommit=True)._sync()
        self.env.cr.commit()

    def check(self):
        accounts = self.accounts()
        accounts.invalidate_recordset()
        errors = [f"{a.name}: {a.sync_state} {a.last_error or ''}" for a in accounts
                  if a.sync_state != "ok"]
        return errors, self.count_lines()

    def count_lines(self):
        return self.env["account.bank.statement.line"].search_count([
            ("ponto_account_id", "in", self.accounts().ids), ("ponto_transaction_id", "!=", False),
        ])


class Anchor(Ours):
    """OCA account_statement_import_online_ponto, pointed at the fake by patching its endpoint."""

    def link(self):
        env, spec = self.env, self.spec
        fake = connect(spec["fake"]["control"], bytes.fromhex(spec["fake"]["authkey"]))
        for account_id in spec["account_ids"]:
            journal = create_journal(env, fake.account(account_id))
            env["online.bank.statement.provider"].create({
                "journal_id": journal.id,
                "service": "ponto",
                "username": FAKE_CLIENT_ID,
                "password": FAKE_CLIENT_SECRET,
                "statement_creation_mode": "monthly",  # like our default statement period
                "tz": TZ,
            })

    def providers(self):
        return self.env["online.bank.statement.provider"].search([("service", "=", "ponto")])

    def before_sync(self):
        sys.modules[ANCHOR_INTERFACE].PONTO_ENDPOINT = self.spec["fake"]["url"]

    def sync(self):
        since = datetime.combine(date.fromisoformat(self.spec["start"]), datetime.min.time())
        providers = self.providers().with_context(scheduled=True, tracking_disable=True)
        providers._pull(since, datetime.now())
        self.env.cr.commit()

    def check(self):
        return [], self.count_lines()

    def count_lines(self):
        return self.env["account.bank.statement.line"].search_count([
            ("journal_id", "in", self.providers().journal_id.ids),
            ("unique_import_id", "!=", False),
        ])


class Floor(Ours):
    """The same statement lines from prepared values, plain ORM create(), no HTTP."""

    def link(self):
        fake = connect(self.spec["fake"]["control"], bytes.fromhex(self.spec["fake"]["authkey"]))
        for account_id in self.spec["account_ids"]:
            create_journal(self.env, fake.account(account_id))

    def journals(self):
        return self.env["account.journal"].search([("bank_acc_number", "!=", False)], order="id")

    def before_sync(self):
        """Prepare the values of the lines to create (unmeasured), mapped like our engine maps
        them: every booked transaction since the start date, or only the `newest` ones."""
        fake = connect(self.spec["fake"]["control"], bytes.fromhex(self.spec["fake"]["authkey"]))
        since = date.fromisoformat(self.spec["start"])
        self.values = []
        for account_id, journal in zip(self.spec["account_ids"], self.journals(), strict=True):
            resources = fake.booked(account_id)  # newest first: the added ones come first
            if self.spec.get("newest"):
                resources = resources[:self.spec["newest"]]
            for document in reversed(resources):
                mapped = statement_line_values(Transaction.from_resource(document))
                if mapped["date"] < since:
                    continue
                self.values.append({
                    "journal_id": journal.id,
                    "date": mapped["date"],
                    "payment_ref": mapped["payment_ref"] or "/",
                    "amount": float(mapped["amount"]),
                    "partner_name": mapped["partner_name"],
                    "account_number": mapped["account_number"],
                    "transaction_type": mapped["transaction_type"],
                    "transaction_details": mapped["transaction_details"],
                })

    def sync(self):
        batch = self.spec.get("batch") or len(self.values) or 1
        Line = self.env["account.bank.statement.line"]
        for index in range(0, len(self.values), batch):
            Line.create(self.values[index:index + batch])
            self.env.cr.commit()
            self.env.invalidate_all()

    def check(self):
        return [], self.count_lines()

    def count_lines(self):
        return self.env["account.bank.statement.line"].search_count([
            ("journal_id", "in", self.journals().ids),
        ])


CONTENDERS = {"ours": Ours, "anchor": Anchor, "floor": Floor}


# === MAIN === #


def boot(spec):
    sys.path.insert(0, spec["odoo_path"])
    import odoo.modules.registry
    from odoo.tools import config

    args = ["-c", spec["conf"], "-d", spec["db"], "--log-level=warn"]
    if spec.get("addons_path"):
        args.append(f"--addons-path={spec['addons_path']}")
    config.parse_config(args, setup_logging=True)
    return odoo.modules.registry.Registry(spec["db"])


def run(spec):
    registry = boot(spec)
    from odoo import SUPERUSER_ID, api

    fake = connect(spec["fake"]["control"], bytes.fromhex(spec["fake"]["authkey"]))
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {"tz": TZ})
        contender = CONTENDERS[spec["contender"]](env, spec)
        if not spec.get("linked"):
            prepare_company(env, {fake.account(a)["attributes"]["currency"] for a in spec["account_ids"]})
            contender.link()
            cr.commit()
        if spec["step"] == "link":
            return {"lines": contender.count_lines()}
        if spec.get("add"):
            for account_id in spec["account_ids"]:
                fake.add_transactions(account_id, spec["add"])
        contender.before_sync()
        lines_before = contender.count_lines()
        cr.commit()
        env.invalidate_all()
        measures = measure(env, fake, contender.sync, spec.get("profile"))
        errors, lines_after = contender.check()
        measures.update(lines=lines_after - lines_before, errors=errors)
        return measures


def main(argv):
    spec = json.loads(argv[1])
    try:
        result = run(spec)
    except Exception as error:  # noqa: BLE001 - the driver reports it in the table
        import traceback

        traceback.print_exc()
        result = {"errors": [f"{type(error).__name__}: {error}"]}
    result["pid"] = os.getpid()
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    main(sys.argv)
    # Odoo's threads (e.g. the cron's) must not keep a finished step alive.
    os._exit(0)
