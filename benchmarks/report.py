"""The benchmark's report: markdown tables, RESULTS.md, the plot, the machine's description."""

import os
import platform
import subprocess
from pathlib import Path

import psycopg2

CONTENDERS = ("ours", "anchor", "floor")
ROWS = (
    ("first_1k", "First sync, 1,000 transactions"),
    ("first_10k", "First sync, 10,000 transactions"),
    ("first_10x1k", "First sync, 10 accounts × 1,000"),
    ("nonew_1k", "No-new-data sync (after 1,000)"),
    ("nonew_10k", "No-new-data sync (after 10,000)"),
    ("more100_on_1k", "100 new on top of 1,000"),
    ("more100_on_10k", "100 new on top of 10,000"),
    ("more100_empty", "100 new into an empty journal"),
)
STATISTICS_ROWS = (
    ("first_10k", "First sync of 10,000, template statistics (ANALYZE of the empty tables)"),
    ("first_10k_nostats", "First sync of 10,000, no statistics (pg_statistic emptied)"),
    ("first_10k_autoanalyze", "First sync of 10,000, ANALYZE of the accounting tables every 30 s"),
    ("more100_on_10k", "100 new on top of 10,000, no ANALYZE after the import"),
    ("more100_on_10k_analyzed", "100 new on top of 10,000, ANALYZE after the import"),
)
SHORT = {
    "token": "token", "accounts": "accounts", "account": "account", "transactions": "tx",
    "synchronizations": "sync POST", "synchronization": "sync GET",
    "updated_transactions": "updated", "userinfo": "userinfo",
}


def calls_text(calls):
    return ", ".join(f"{SHORT.get(name, name)} {count}" for name, count in sorted((calls or {}).items()))


def _ok(result):
    return result and not result.get("errors") and "seconds" in result


def _cell(result, key, fmt):
    if not result:
        return "–"
    if not _ok(result):
        return "n/a: " + "; ".join(result.get("errors") or ["not run"]).replace("|", "/")[:160]
    return fmt.format(result[key])


def cpu(result):
    """CPU seconds of the step: the Odoo process plus its PostgreSQL backend."""
    return result.get("cpu_odoo", 0) + result.get("cpu_postgres", 0)


def _time_cell(result):
    cell = _cell(result, "seconds", "{:.2f}")
    if _ok(result):
        cell += f" ({cpu(result):.2f})"
        if result.get("batch"):
            cell += f" batches of {result['batch']}"
    return cell


def _ratio(ours, other):
    if _ok(ours) and _ok(other) and other["seconds"] > 0 and cpu(other) > 0:
        return f"{ours['seconds'] / other['seconds']:.2f} ({cpu(ours) / cpu(other):.2f})"
    return "–"


def _rows(raw):
    results = raw["results"]
    for key, label in ROWS:
        row = [results.get(name, {}).get(key) for name in CONTENDERS]
        if any(row):
            yield label, row


def markdown(raw):
    """Two tables: times and ratios; queries, HTTP calls and memory."""
    lines = ["| Scenario | Ours s (CPU s) | Anchor s (CPU s) | Floor s (CPU s) | Ours/anchor | Ours/floor |",
             "|---|---|---|---|---|---|"]
    for label, (ours, anchor, floor) in _rows(raw):
        lines.append(f"| {label} | {_time_cell(ours)} | {_time_cell(anchor)} | {_time_cell(floor)} | "
                     f"{_ratio(ours, anchor)} | {_ratio(ours, floor)} |")
    lines += ["", ("| Scenario | Ours SQL | Anchor SQL | Floor SQL | Ours HTTP calls | Anchor HTTP calls | "
              "Ours MB | Anchor MB | Floor MB |"), "|---|---|---|---|---|---|---|---|---|"]
    for label, (ours, anchor, floor) in _rows(raw):
        lines.append("| " + " | ".join([
            label, _cell(ours, "sql", "{}"), _cell(anchor, "sql", "{}"), _cell(floor, "sql", "{}"),
            calls_text(ours.get("calls")) if _ok(ours) else "–",
            calls_text(anchor.get("calls")) if _ok(anchor) else "–",
            _cell(ours, "rss_growth_mb", "{:.1f}"), _cell(anchor, "rss_growth_mb", "{:.1f}"),
            _cell(floor, "rss_growth_mb", "{:.1f}"),
        ]) + " |")
    return "\n".join(lines) + "\n"


def targets(raw):
    """(target, measured, met) for the targets of issue 7 that this run measured."""
    ours = raw["results"].get("ours", {})
    anchor = raw["results"].get("anchor", {})
    floor = raw["results"].get("floor", {})
    rows = []

    def seconds(results, key):
        return results[key]["seconds"] if _ok(results.get(key)) else None

    first10k, first1k = seconds(ours, "first_10k"), seconds(ours, "first_1k")
    if first10k and seconds(anchor, "first_10k"):
        speedup = seconds(anchor, "first_10k") / first10k
        cpu_speedup = cpu(anchor["first_10k"]) / cpu(ours["first_10k"])
        rows.append(("First sync of 10k at least 2.5× faster than the anchor",
                     (f"{speedup:.2f}× faster" if speedup >= 1 else f"{1 / speedup:.2f}× slower")
                     + f" (CPU: {cpu_speedup:.2f}×)", speedup >= 2.5))
    if first10k and seconds(floor, "first_10k"):
        ratio = first10k / seconds(floor, "first_10k")
        cpu_ratio = cpu(ours["first_10k"]) / cpu(floor["first_10k"])
        rows.append(("First sync of 10k within 1.15× of the floor",
                     f"{ratio:.2f}× (CPU: {cpu_ratio:.2f}×)", ratio <= 1.15))
    if first10k and first1k:
        ratio = first10k / first1k
        cpu_ratio = cpu(ours["first_10k"]) / cpu(ours["first_1k"])
        rows.append(("time(10k) ≤ 11 × time(1k)", f"{ratio:.2f}× (CPU: {cpu_ratio:.2f}×)", ratio <= 11))
    for key in ("nonew_10k", "nonew_1k"):
        if _ok(ours.get(key)):
            calls = ours[key]["calls"]
            accounts = calls.get("accounts", 0) + calls.get("account", 0)
            rows.append((f"No-new-data sync ({key[6:]}): ≤ 1 token, ≤ 1 accounts and ≤ 1 transactions call per account",
                         (f"token {calls.get('token', 0)}, accounts {accounts}, transactions "
                          f"{calls.get('transactions', 0)} (all calls: {calls_text(calls)})"),
                         calls.get("token", 0) <= 1 and accounts <= 1 and calls.get("transactions", 0) <= 1))
            rows.append((f"No-new-data sync ({key[6:]}): ≤ 30 SQL queries", str(ours[key]["sql"]),
                         ours[key]["sql"] <= 30))
            break
    for key in ("more100_on_10k", "more100_on_1k"):
        if _ok(ours.get(key)) and seconds(ours, "more100_empty"):
            ratio = ours[key]["seconds"] / seconds(ours, "more100_empty")
            cpu_ratio = cpu(ours[key]) / cpu(ours["more100_empty"])
            rows.append((f"100 new on top of {key[11:]} within 1.2× of 100 into an empty journal",
                         f"{ratio:.2f}× (CPU: {cpu_ratio:.2f}×)", ratio <= 1.2))
            break
    if _ok(ours.get("first_10k")):
        growth = ours["first_10k"]["rss_growth_mb"]
        rows.append(("Peak memory growth ≤ 50 MB at 10k", f"{growth:.1f} MB", growth <= 50))
    return rows


def targets_markdown(raw):
    lines = ["| Target | Measured | Met |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {'yes' if met else '**no**'} |"
              for target, measured, met in targets(raw)]
    return "\n".join(lines) + "\n"


def statistics_markdown(raw):
    results = raw["results"]
    lines = ["| Case | Ours s | Ours SQL | Anchor s | Floor s |", "|---|---|---|---|---|"]
    for key, label in STATISTICS_ROWS:
        ours, anchor, floor = (results.get(name, {}).get(key) for name in CONTENDERS)
        if not any((ours, anchor, floor)):
            continue
        lines.append(f"| {label} | {_cell(ours, 'seconds', '{:.2f}')} | {_cell(ours, 'sql', '{}')} | "
                     f"{_cell(anchor, 'seconds', '{:.2f}')} | {_cell(floor, 'seconds', '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def machine(odoo_path):
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    try:
        odoo_rev = subprocess.run(["git", "-C", odoo_path, "log", "-1", "--format=%h %cs"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        odoo_rev = "unknown revision"
    try:
        connection = psycopg2.connect(host=os.environ.get("PGHOST", "127.0.0.1"),
                                      port=os.environ.get("PGPORT", "5432"),
                                      user=os.environ.get("ODOO_DB_USER", "odoo"), dbname="postgres")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), current_setting('autovacuum'),"
                           " current_setting('shared_buffers')")
            version, autovacuum, shared_buffers = cursor.fetchone()
        connection.close()
        postgres = f"PostgreSQL {version} (autovacuum {autovacuum}, shared_buffers {shared_buffers})"
    except psycopg2.Error:
        postgres = "PostgreSQL (unknown version)"
    return {"cpu": f"{cpu}, {os.cpu_count()} logical CPUs", "ram": f"{mem_kb / 2**20:.1f} GiB",
            "python": platform.python_version(), "odoo": f"Odoo 19.0 ({odoo_rev})",
            "postgres": postgres, "kernel": platform.release()}


def results_md(raw, table):
    info = raw["machine"]
    anchor = raw["contenders"].get("anchor", {})
    versions = ", ".join(f"{module} {version}" for module, version in (anchor.get("versions") or {}).items())
    anchor_line = f"OCA wheels from PyPI (series {anchor.get('series', '?')}): {versions}." if versions else \
        f"The anchor could not run: {anchor.get('error') or 'not selected'}."
    if anchor.get("note"):
        anchor_line += f" **{anchor['note']}.**"
    fake = raw["fake"]
    return f"""# Benchmark results

Produced by `scripts/bench` on {raw['date']} in {raw['duration_s'] / 60:.0f} min{' (--quick)' if raw['quick'] else ''}.
Do not edit by hand: run `scripts/bench` again.

**Machine**: {info['cpu']}, {info['ram']} RAM, Linux {info['kernel']}; {info['postgres']};
Python {info['python']}; {info['odoo']}.
**Measured code**: `account_bank_sync_ponto` at {raw.get('code', '?')} (copied at the start of the run).

## Contenders

- **Ours**: `ponto.account._sync()` (the one engine: cron, Synchronize now, wizard), linked through
  the link wizard, committing after each page (context `ponto_autocommit`).
- **Anchor**: {anchor_line} Its endpoint constant (`PONTO_ENDPOINT`) is pointed at the fake at run
  time; one provider per journal (journal with the account's IBAN, monthly statements like ours,
  Europe/Brussels); measured: its scheduled pull (`_pull` with context `scheduled`), then a commit.
- **Floor**: the same statement lines (mapped like ours, same journal and fields) created from
  prepared values with plain `account.bank.statement.line.create()`, no HTTP, no statements: one
  batch, and batches of 1,000 with a commit after each; the fastest is reported.

## Method

Each contender is installed (`odoo-bin -i ... --stop-after-init`) on a copy of the same template
database (base + account, ANALYZEd), ANALYZEd again; each chain of steps starts from a fresh copy of
that, in a company switched to EUR with the accounts' currencies active.  The fake Ponto
(`ponto/fake_server.py`, real HTTP on 127.0.0.1) runs in a process of its own, rebuilt for every
chain from seed {fake['seed']}, today = {fake['today']}, transactions spread over business days
from {fake['start']}; the first sync starts on {fake['sync_start']} so the whole history imports.
Every measured step runs in a fresh process that boots Odoo in-process (`Registry(db)`):
wall time, and in brackets the CPU time of the Odoo process plus its PostgreSQL backend (less
sensitive to other load on the machine; the load average before each step is in the raw JSON);
SQL = queries of the cursor (`cr.sql_log_count`); HTTP = calls per endpoint seen by the
fake; MB = peak RSS growth over the step (psutil sampling every 10 ms).  Linking happens before the
measure.  Rows "100 new" book 100 new transactions on the fake (the same 100 for every contender),
then synchronize.  The "empty journal" is a journal linked to an account without transactions
(one first sync of nothing before).  PostgreSQL's autovacuum is as configured above (when off,
statistics change only with an explicit ANALYZE).

HTTP legend: tx = transactions pages, sync POST = bank refresh requests, sync GET = polls of one,
updated = updated-transactions pages.

## Results

{table}
![time against N](sync_time.png)

## Targets (issue 7)

{targets_markdown(raw)}
## Planner statistics (ANALYZE)

{statistics_markdown(raw)}
Raw numbers of this run: `benchmarks/tmp/last-results.json` (not committed).
"""


def plot(raw, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = raw["results"]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = {"ours": ("tab:blue", "o", "Ours"), "anchor": ("tab:orange", "s", "Anchor (OCA)"),
              "floor": ("tab:green", "^", "Floor (ORM create)")}
    for name, (colour, marker, label) in styles.items():
        points = [(n, results.get(name, {}).get(key)) for n, key in ((1000, "first_1k"), (10000, "first_10k"))]
        points = [(n, r["seconds"]) for n, r in points if _ok(r)]
        if points:
            axes.plot(*zip(*points, strict=True), marker=marker, color=colour, label=f"{label}, one account")
        multi = results.get(name, {}).get("first_10x1k")
        if _ok(multi):
            axes.scatter([10000], [multi["seconds"]], marker=marker, facecolors="none",
                         edgecolors=colour, s=90, label=f"{label}, 10 accounts × 1,000")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("transactions imported (first sync)")
    axes.set_ylabel("wall time (s)")
    axes.set_title(f"First synchronization time against N ({raw['date']})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
