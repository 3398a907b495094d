"""The community anchor: OCA `account_statement_import_online_ponto` and its dependencies, from
their PyPI wheels, unzipped into a temporary addons folder (benchmarks/tmp/, never committed)."""

import re
import shutil
import subprocess
import sys
import zipfile

ANCHOR_MODULE = "account_statement_import_online_ponto"
_NOISE = "is ignored: it is neither a file nor a directory"


def _pip(*args):
    result = subprocess.run([sys.executable, "-m", "pip", *args], check=False,
                            capture_output=True, text=True)
    stderr = "\n".join(line for line in result.stderr.splitlines() if _NOISE not in line)
    return result.returncode, result.stdout, stderr


def _distribution(module):
    return f"odoo-addon-{module}"


def newest_series(module):
    """The newest Odoo series with a wheel of `module` on PyPI, or None."""
    code, out, _ = _pip("index", "versions", _distribution(module))
    versions = re.search(r"Available versions: (.*)", out) if code == 0 else None
    if not versions:
        return None
    series = {tuple(int(part) for part in v.split(".")[:2]) for v in versions.group(1).split(", ")}
    return "%d.%d" % max(series)


def _requirements(wheel):
    """The odoo-addon-* modules a wheel requires."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return re.findall(r"^Requires-Dist: odoo-addon-([\w-]+)", text, re.MULTILINE)


def fetch(series, wheel_dir, addons_dir):
    """Download the anchor and its odoo-addon-* dependencies for `series` (e.g. "19.0"), unzip
    their addons into `addons_dir`.  Returns (series used, {module: wheel version}, note); raises
    RuntimeError with the reason when it cannot.  Wheels already in `wheel_dir` are reused."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(addons_dir, ignore_errors=True)
    addons_dir.mkdir(parents=True)
    note = ""
    used = series
    if not _find_wheel(wheel_dir, ANCHOR_MODULE, series) and not _download(ANCHOR_MODULE, series, wheel_dir):
        used = newest_series(ANCHOR_MODULE)
        if not used:
            raise RuntimeError(f"no wheel of {_distribution(ANCHOR_MODULE)} on PyPI (or PyPI unreachable)")
        note = f"no {series} wheel of {ANCHOR_MODULE} on PyPI: tried the newest series, {used}"
    versions = {}
    todo, seen = [ANCHOR_MODULE], set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        wheel = _find_wheel(wheel_dir, module, used)
        if not wheel and _download(module, used, wheel_dir):
            wheel = _find_wheel(wheel_dir, module, used)
        if not wheel:
            raise RuntimeError(f"no {used} wheel of {_distribution(module)} on PyPI")
        versions[module] = wheel.name.split("-")[1]
        _unzip_addons(wheel, addons_dir)
        todo += [dep.replace("-", "_") for dep in _requirements(wheel)]
    return used, versions, note


def _unzip_addons(wheel, addons_dir):
    prefix = "odoo/addons/"
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                target = addons_dir / info.filename[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))


def _download(module, series, wheel_dir):
    code, _out, _err = _pip("download", "-q", "--no-deps", "--dest", str(wheel_dir),
                            f"{_distribution(module)}=={series}.*")
    return code == 0


def _find_wheel(wheel_dir, module, series):
    normalized = _distribution(module).replace("-", "_")
    wheels = sorted(wheel_dir.glob(f"{normalized}-{series}.*.whl"))
    return wheels[-1] if wheels else None
