"""Benchmark driver (see scripts/bench): databases, fakes, one process per measured step, report.

For each contender (ours, the OCA anchor, the plain-ORM floor) a contender template is made once
from the shared template database (base + account, ANALYZEd): a copy with the contender installed
by `odoo-bin -i ... --stop-after-init`, ANALYZEd again.  Every chain of steps then starts from a
fresh copy of it, against a fresh fake Ponto process built from the same seed, so every contender
imports exactly the same transactions.  Each step runs in a fresh process (benchmarks/scenarios.py).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import anchor
import profiling
import psycopg2
import report
from fakehost import FakeHost

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
TMP = BENCH_DIR / "tmp"
COMMON = ROOT / "scripts" / "_common.sh"
ODOO_PATH = os.environ.get("ODOO_PATH", "/opt/odoo")
ODOO_CONF = os.environ.get("ODOO_CONF", str(ROOT / ".venv" / "odoo.conf"))
CODE = TMP / "code"  # the snapshot of this addon that the whole run measures
BASE_ADDONS = f"{ODOO_PATH}/addons,{ODOO_PATH}/odoo/addons,{CODE}"
MODULE = "account_bank_sync_ponto"
PREFIX = "ponto_bench_"

# The fake's data: fixed seed and "today", so every run imports the same transactions; a year of
# business days (10,000 transactions: about 38 a day); the first sync starts the day before.
TODAY = date(2026, 11, 30)
FAKE_START = TODAY - timedelta(days=365)
SYNC_START = FAKE_START - timedelta(days=1)
FAKES = {
    "1k": {"accounts": 1, "transactions": 1000},
    "10k": {"accounts": 1, "transactions": 10000},
    # Account 1 gets `transactions`, the others half: accounts 2..11 hold 1,000 each.
    "10x1k": {"accounts": 11, "transactions": 2000, "skip_first": True},
    "empty": {"accounts": 1, "transactions": 0},
}
FLOOR_BATCHES = (None, 1000)  # one batch, and batches of 1,000
AUTOANALYZE_EVERY = 30  # seconds
ACCOUNTING_TABLES = "account_move, account_move_line, account_bank_statement, account_bank_statement_line"


@dataclass
class Step:
    key: str  # the result's row, e.g. "first_10k"; "" for an unmeasured step
    spec: dict = field(default_factory=dict)  # linked, add, newest, profile...
    expected: int | None = None  # lines the step must create
    snapshot: str = ""  # copy the database under this suffix BEFORE the step
    on_snapshot: str = ""  # run the step on that copy instead
    analyze: bool = False  # ANALYZE the database before the step
    autoanalyze: float = 0  # ANALYZE the accounting tables every that many seconds during it


@dataclass
class Chain:
    fake: str
    steps: list
    contenders: tuple = ("ours", "anchor", "floor")
    clear_statistics: bool = False
    floor_batches: tuple = FLOOR_BATCHES


def chains(quick):
    more100 = {"linked": True, "add": 100, "newest": 100}
    if quick:
        return {
            "1k": Chain("1k", [
                Step("first_1k", expected=1000),
                Step("nonew_1k", {"linked": True}, expected=0),
                Step("more100_on_1k", more100, expected=100),
            ]),
            "empty": Chain("empty", [Step("", expected=0), Step("more100_empty", more100, expected=100)]),
        }
    return {
        "1k": Chain("1k", [Step("first_1k", expected=1000)]),
        "10k": Chain("10k", [
            Step("first_10k", expected=10000),
            Step("nonew_10k", {"linked": True}, expected=0),
            Step("more100_on_10k", more100, expected=100, snapshot="analyzed"),
            # Same 100 transactions (already booked on the fake), on the copy taken before them,
            # with fresh statistics: the effect of ANALYZE after a bulk import.
            Step("more100_on_10k_analyzed", {"linked": True, "newest": 100}, expected=100,
                 on_snapshot="analyzed", analyze=True),
        ]),
        "10x1k": Chain("10x1k", [Step("first_10x1k", expected=10000)]),
        "empty": Chain("empty", [Step("", expected=0), Step("more100_empty", more100, expected=100)]),
        # The effect of having no planner statistics at all (pg_statistic emptied).
        "10k_nostats": Chain("10k", [Step("first_10k_nostats", expected=10000)],
                             contenders=("ours",), clear_statistics=True),
        # Statistics kept fresh during the import, as autovacuum does when it is on.
        "10k_autoanalyze": Chain("10k", [Step("first_10k_autoanalyze", expected=10000,
                                              autoanalyze=AUTOANALYZE_EVERY)],
                                 floor_batches=(1000,)),
    }


# === DATABASES === #


def shell(*args, capture=False):
    """Run a function of scripts/_common.sh (copy_template, odoo_bin, drop_db, ...)."""
    result = subprocess.run(["bash", "-c", 'source "$0"; "$@"', str(COMMON), *args],
                            check=True, text=True, capture_output=capture)
    return result.stdout.strip() if capture else None


def sql(statement, db="postgres", user=None):
    connection = psycopg2.connect(host=os.environ.get("PGHOST", "127.0.0.1"),
                                  port=os.environ.get("PGPORT", "5432"),
                                  user=user or os.environ.get("ODOO_DB_USER", "odoo"), dbname=db)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else None
    finally:
        connection.close()


def data_dir():
    return Path(os.environ.get("DATA_DIR", ROOT / ".venv" / "odoo-data"))


def clone_db(source, target):
    """A copy of `source` (filestore included), like copy_template does for the template."""
    drop_db(target)
    sql(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    filestore = data_dir() / "filestore"
    if (filestore / source).is_dir():
        shutil.copytree(filestore / source, filestore / target)


def drop_db(name):
    shell("drop_db", name)


def drop_bench_dbs():
    for (name,) in sql(f"SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"):
        drop_db(name)


def clear_statistics(db):
    """Empty pg_statistic for the tables of `db` (needs a PostgreSQL superuser)."""
    sql("DELETE FROM pg_statistic WHERE starelid IN"
        " (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)",
        db=db, user=os.environ.get("PG_ADMIN_USER", "postgres"))


class Autoanalyze(threading.Thread):
    """ANALYZE the accounting tables of `db` every `every` seconds while in use (0: never)."""

    def __init__(self, db, every):
        super().__init__(daemon=True)
        self.db, self.every, self.count = db, every, 0
        self._done = threading.Event()

    def run(self):
        while not self._done.wait(self.every):
            sql(f"ANALYZE {ACCOUNTING_TABLES}", db=self.db)
            self.count += 1

    def __enter__(self):
        if self.every:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        if self.every:
            self.join()


def snapshot_code():
    """Copy this addon as it is now (tracked and untracked files, not ignored ones) to CODE: the
    whole run measures that one version, even if the working tree changes meanwhile.  Returns a
    description of the version."""
    shutil.rmtree(CODE, ignore_errors=True)
    target = CODE / MODULE
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if name.startswith("benchmarks/") or not (ROOT / name).is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    os.environ["PONTO_BENCH_CODE"] = str(target)  # where scenarios and the fake import `ponto`
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", ".", ":!benchmarks"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return head + (" + uncommitted changes" if dirty else "")


# === CONTENDERS === #


@dataclass
class Contender:
    name: str
    template: str = ""
    addons_path: str = ""
    module: str = ""
    error: str = ""  # why it cannot run
    info: dict = field(default_factory=dict)


def prepare_contenders(names, base_template, log):
    contenders = {}
    for name in names:
        contender = Contender(name)
        contenders[name] = contender
        contender.addons_path = BASE_ADDONS
        if name == "floor":
            contender.template = base_template  # plain Odoo: account only
            continue
        try:
            if name == "anchor":
                series = os.environ.get("ODOO_SERIES", "19.0")
                used, versions, note = anchor.fetch(series, TMP / "wheels", TMP / "oca_addons")
                contender.info = {"series": used, "versions": versions, "note": note}
                contender.module = anchor.ANCHOR_MODULE
                contender.addons_path = f"{BASE_ADDONS},{TMP / 'oca_addons'}"
            else:
                contender.module = MODULE
            contender.template = f"{PREFIX}tmpl_{name}"
            log(f"installing {contender.module} on a copy of {base_template}")
            clone_db(base_template, contender.template)
            install_log = TMP / "logs" / f"install-{name}.log"
            args = ["odoo_bin", "-d", contender.template, "-i", contender.module,
                    "--stop-after-init", "--log-level=warn"]
            if contender.addons_path:
                args.append(f"--addons-path={contender.addons_path}")
            with install_log.open("w") as output:
                done = subprocess.run(["bash", "-c", 'source "$0"; "$@"', str(COMMON), *args],
                                      stdout=output, stderr=subprocess.STDOUT, check=False)
            state = sql(f"SELECT state FROM ir_module_module WHERE name = '{contender.module}'",
                        db=contender.template)
            if done.returncode or not state or state[0][0] != "installed":
                tail = install_log.read_text().strip().splitlines()[-3:]
                raise RuntimeError(f"{contender.module} did not install: {' / '.join(tail)}")
            sql("ANALYZE", db=contender.template)
        except (RuntimeError, subprocess.CalledProcessError, psycopg2.Error) as error:
            contender.error = str(error)
            log(f"{name} cannot run: {error}")
    return contenders


# === RUNNING === #


def run_step(contender, db, fake, chain, step, extra, log):
    fake_options = FAKES[chain.fake]
    account_ids = fake.account_ids[1:] if fake_options.get("skip_first") else fake.account_ids
    spec = {
        "contender": contender.name, "db": db, "conf": ODOO_CONF, "odoo_path": ODOO_PATH,
        "addons_path": contender.addons_path, "fake": fake.handle(), "account_ids": account_ids,
        "start": SYNC_START.isoformat(), "step": "sync" if step.key or contender.name != "floor" else "link",
        **step.spec, **extra,
    }
    label = f"{contender.name}/{step.key or 'setup'}" + (f" batch={extra['batch']}" if extra.get("batch") else "")
    log_path = TMP / "logs" / f"{db}-{step.key or 'setup'}{'-b%s' % extra['batch'] if extra.get('batch') else ''}.log"
    command = [sys.executable, str(BENCH_DIR / "scenarios.py"), json.dumps(spec)]
    if extra.get("pyspy"):
        command = [extra["pyspy"], "record", "--rate", "100", "--format", "raw", "--nonblocking",
                   "--output", str(TMP / f"pyspy-{step.key}.txt"), "--", *command]
    with log_path.open("w") as stderr, Autoanalyze(db, step.autoanalyze) as analyzer:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, check=False)
    result_extra = {"analyzes": analyzer.count} if step.autoanalyze else {}
    result = _last_json(done.stdout) or {
        "errors": [f"the step crashed (exit code {done.returncode}), see {log_path}"]}
    if step.expected is not None and "lines" in result and result["lines"] != step.expected:
        result.setdefault("errors", []).append(f"created {result['lines']} lines, expected {step.expected}")
    result["log"] = str(log_path.relative_to(ROOT))
    result.update(result_extra)
    with (TMP / "steps.jsonl").open("a") as steps:  # every step as it ends, for inspection
        steps.write(json.dumps({"contender": contender.name, "db": db, "step": step.key,
                                **extra, **result}, default=str) + "\n")
    if result.get("errors"):
        log(f"  {label}: FAILED {result['errors']} (log: {log_path})")
    elif step.key:
        log(f"  {label}: {result['seconds']:.2f} s (CPU {report.cpu(result):.2f} s, load "
            f"{result['load_before']:.1f}), {result['sql']} queries, "
            f"{report.calls_text(result['calls']) or 'no HTTP'}, +{result['rss_growth_mb']:.1f} MB")
    return result


def run_chain(contender, chain_name, chain, profile, profile_tool, log):
    """Run a chain for one contender; returns {step key: result}."""
    results = {}
    variants = [None]
    if contender.name == "floor" and chain.steps[0].key.startswith("first"):
        variants = list(chain.floor_batches)
    for batch in variants:
        db = f"{PREFIX}{contender.name}_{chain_name}" + (f"_b{batch}" if batch else "")
        fake = FakeHost(**{k: v for k, v in FAKES[chain.fake].items() if k != "skip_first"},
                        seed=7, today=TODAY.isoformat(), start_date=FAKE_START.isoformat())
        try:
            clone_db(contender.template, db)
            if chain.clear_statistics:
                clear_statistics(db)
            steps = chain.steps if batch is None else chain.steps[:1]
            for step in steps:
                if contender.name == "floor" and step.key.startswith("nonew"):
                    continue  # nothing to create: the floor has no such step
                if step.snapshot:
                    clone_db(db, f"{db}_{step.snapshot}")
                target = f"{db}_{step.on_snapshot}" if step.on_snapshot else db
                if step.analyze:
                    sql("ANALYZE", db=target)
                extra = {"batch": batch} if batch else {}
                if profile and step.key == profile and contender.name == "ours":
                    if profile_tool == "cprofile":
                        extra["profile"] = str(TMP / f"profile-{step.key}.pstats")
                    else:
                        extra["pyspy"] = profile_tool
                result = run_step(contender, target, fake, chain, step, extra, log)
                if not step.key:
                    if result.get("errors"):
                        break
                    continue
                result["batch"] = batch
                best = results.get(step.key)
                if best is None or _better(result, best):
                    results[step.key] = result
                if result.get("errors"):
                    break
        except (subprocess.CalledProcessError, psycopg2.Error) as error:
            log(f"  {contender.name}/{chain_name}: {error}")
            for step in chain.steps:
                if step.key:
                    results.setdefault(step.key, {"errors": [str(error)]})
        finally:
            fake.stop()
    return results


def _last_json(stdout):
    """The step's result: the last stdout line that is a JSON object (profilers print too)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def pyspy_binary():
    binary = Path(sys.executable).parent / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(binary)


def _better(result, best):
    if result.get("errors"):
        return False
    return bool(best.get("errors")) or result["seconds"] < best["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 only (for iteration)")
    parser.add_argument("--only", default="", help="comma-separated contenders (ours,anchor,floor)")
    parser.add_argument("--chains", default="", help="comma-separated chains (1k,10k,10x1k,empty,10k_nostats)")
    parser.add_argument("--profile", default="", metavar="STEP",
                        help="cProfile our engine on STEP (e.g. first_1k); writes no RESULTS.md")
    parser.add_argument("--py-spy", action="store_true",
                        help="with --profile: sample with py-spy (installed into the venv if "
                             "missing) instead of cProfile: lower overhead, for long steps")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--template", required=True, help="the shared template database")
    args = parser.parse_args(argv)

    (TMP / "logs").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    profile_tool = pyspy_binary() if args.profile and args.py_spy else "cprofile"

    def log(message):
        print(f"[{time.monotonic() - started:7.1f} s] {message}", flush=True)

    names = [n for n in ("ours", "anchor", "floor") if not args.only or n in args.only.split(",")]
    selected = chains(args.quick)
    if args.chains:
        selected = {name: chain for name, chain in selected.items() if name in args.chains.split(",")}
    drop_bench_dbs()
    code = snapshot_code()
    log(f"measuring {MODULE} at {code}")
    contenders = prepare_contenders(names, args.template, log)
    results = {name: {} for name in names}
    try:
        for chain_name, chain in selected.items():
            for name in names:
                contender = contenders[name]
                if name not in chain.contenders:
                    continue
                if contender.error:
                    for step in chain.steps:
                        if step.key:
                            results[name][step.key] = {"errors": [f"cannot run: {contender.error}"]}
                    continue
                log(f"{name}: chain {chain_name}")
                results[name].update(run_chain(contender, chain_name, chain, args.profile,
                                               profile_tool, log))
    finally:
        if not args.keep:
            drop_bench_dbs()
    raw = {"date": date.today().isoformat(), "quick": args.quick, "results": results, "code": code,
           "contenders": {name: {"error": c.error, **c.info} for name, c in contenders.items()},
           "machine": report.machine(ODOO_PATH), "duration_s": time.monotonic() - started,
           "fake": {"today": TODAY.isoformat(), "start": FAKE_START.isoformat(),
                    "sync_start": SYNC_START.isoformat(), "seed": 7}}
    (TMP / "last-results.json").write_text(json.dumps(raw, indent=1, default=str))
    table = report.markdown(raw)
    print(table)
    if args.profile:
        if profile_tool == "cprofile":
            print(f"Profile: {TMP / f'profile-{args.profile}.pstats'} (RESULTS.md not written)")
        else:
            samples = TMP / f"pyspy-{args.profile}.txt"
            print(profiling.summarize_collapsed(samples))
            print(f"Samples: {samples} (RESULTS.md not written)")
        return
    if args.only or args.chains:
        print("Partial run: RESULTS.md not written (results in benchmarks/tmp/last-results.json).")
        return
    (BENCH_DIR / "RESULTS.md").write_text(report.results_md(raw, table))
    report.plot(raw, BENCH_DIR / "sync_time.png")
    log("wrote benchmarks/RESULTS.md and benchmarks/sync_time.png")


if __name__ == "__main__":
    main()
