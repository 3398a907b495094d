"""Summaries of profiles: py-spy's collapsed stacks (`--format raw`) by inclusive time."""

import re
from collections import Counter
from pathlib import Path

OURS = re.compile(r"^account_bank_sync_ponto/")
CORE = re.compile(r"^(account|analytic|mail|base)/|^orm/|^sql_db\.py|^requests/|^urllib3/")
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frames(stack):
    for frame in stack.split(";"):
        match = FRAME.match(frame)
        if match:
            yield match["file"], match["function"], match["line"]


def summarize_collapsed(path, top=30):
    """Inclusive share of the samples per function and per line of this addon, and per function
    of Odoo's core (each counted once per stack)."""
    by_function, by_line, total = Counter(), Counter(), 0
    for row in Path(path).read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        if not count.isdigit():
            continue
        count = int(count)
        total += count
        functions, lines = set(), set()
        for file, function, line in _frames(stack):
            functions.add(f"{file}:{function}")
            if OURS.match(file):
                lines.add(f"{file}:{line} ({function})")
        for key in functions:
            by_function[key] += count
        for key in lines:
            by_line[key] += count

    def share(count):
        return f"{100 * count / max(total, 1):6.1f}%"

    out = [f"{total} samples (100 a second). This addon, by function (inclusive):"]
    out += [f"{share(c)}  {k}" for k, c in by_function.most_common() if OURS.match(k)][:top]
    out.append("This addon, by line (inclusive):")
    out += [f"{share(c)}  {k}" for k, c in by_line.most_common()][:top]
    out.append("Odoo, by function (inclusive):")
    out += [f"{share(c)}  {k}" for k, c in by_function.most_common() if CORE.match(k)][:top]
    return "\n".join(out)
