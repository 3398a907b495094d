"""The fake Ponto in a process of its own, controllable from any other process.

The benchmark measures Odoo's time, memory and queries: the fake's own work (building 10,000
transactions, rendering JSON pages) must not run on the measured process's GIL or heap.  This
process serves `ponto.fake_server.FakePonto` over real HTTP on 127.0.0.1, and a control object
(`FakeControl`) through a `multiprocessing` manager, so the driver and each scenario process can
count calls, reset the counters and book new transactions on the same fake.

    python benchmarks/fakehost.py '{"accounts": 1, "transactions": 10000, ...}'

prints one JSON line {"url", "control": [host, port], "account_ids"} and serves until killed.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from multiprocessing.managers import BaseManager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTHKEY_ENV = "PONTO_BENCH_AUTHKEY"


class FakeManager(BaseManager):
    """Serves (or connects to) the one FakeControl of a fake host process."""


class FakeControl:
    """What the benchmark may ask of the fake (methods only: manager proxies have no properties)."""

    def __init__(self, fake):
        self._fake = fake

    def calls_by_endpoint(self):
        return dict(Counter(name for _method, name, _path in self._fake.calls))

    def reset_calls(self):
        self._fake.reset_calls()

    def add_transactions(self, account_id, n):
        return self._fake.add_transactions(account_id, n=n)

    def booked(self, account_id):
        return self._fake.booked(account_id)

    def account(self, account_id):
        return self._fake.account(account_id)


FakeManager.register("control", exposed=[
    "calls_by_endpoint", "reset_calls", "add_transactions", "booked", "account",
])


def connect(address, authkey):
    """A proxy of the FakeControl served at `address` (host, port)."""
    manager = FakeManager(address=tuple(address), authkey=authkey)
    manager.connect()
    return manager.control()


class FakeHost:
    """Starts a fake host process; `.url`, `.account_ids`, `.control` (a proxy); `.stop()`."""

    def __init__(self, **options):
        self.authkey = os.urandom(16)
        env = {**os.environ, AUTHKEY_ENV: self.authkey.hex()}
        self._process = subprocess.Popen(
            [sys.executable, __file__, json.dumps(options, default=str)],
            stdout=subprocess.PIPE, env=env, text=True,
        )
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake Ponto did not start (exit code {self._process.wait()})")
        info = json.loads(line)
        self.url, self.account_ids = info["url"], info["account_ids"]
        self.address = tuple(info["control"])
        self.control = connect(self.address, self.authkey)

    def handle(self):
        """What a scenario process needs to reach this fake (JSON-serialisable)."""
        return {"url": self.url, "account_ids": self.account_ids,
                "control": list(self.address), "authkey": self.authkey.hex()}

    def stop(self):
        self._process.terminate()
        self._process.wait(timeout=10)


def main(argv):
    # `ponto` as a top-level package (it never imports Odoo), from the code under measure.
    sys.path.insert(0, os.environ.get("PONTO_BENCH_CODE", str(ROOT)))
    from ponto.fake_server import FakePonto

    options = json.loads(argv[1])
    for key in ("today", "start_date", "end_date"):
        if options.get(key):
            options[key] = date.fromisoformat(options[key])
    fake = FakePonto(**options).start()
    control = FakeControl(fake)
    FakeManager.register("control", callable=lambda: control)
    manager = FakeManager(address=("127.0.0.1", 0), authkey=bytes.fromhex(os.environ[AUTHKEY_ENV]))
    server = manager.get_server()
    print(json.dumps({"url": fake.url, "control": list(server.address),
                      "account_ids": fake.account_ids}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
