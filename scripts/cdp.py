"""A small headless-Chromium driver over the DevTools protocol (websocket-client), for
scripts/screenshots.  No Odoo import: it talks to a running Odoo over HTTP like a person's browser.

    with Chromium() as browser:
        browser.login("http://127.0.0.1:8069", "ponto_demo", "admin", "admin")
        browser.goto("http://127.0.0.1:8069/odoo/invoicing")
        browser.wait_for("document.querySelector('.o_kanban_view')")
        browser.screenshot("dashboard.png")
"""

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import requests
import websocket

CHROMIUM_NAMES = ("chromium", "google-chrome", "chromium-browser", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage",
    "--no-default-browser-check", "--hide-scrollbars", "--mute-audio", "--lang=en-US",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)


class BrowserError(RuntimeError):
    pass


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        "no Chromium found: run scripts/setup as root (it installs Debian's chromium), "
        "or apt-get install chromium"
    )


def _read(path):
    try:
        with open(path) as file:
            return file.read()
    except FileNotFoundError:
        return ""


class Chromium:
    def __init__(self, width=1440, height=900, scale=1, timezone="Europe/Brussels"):
        self.width, self.height, self.scale, self.timezone = width, height, scale, timezone
        self.user_data_dir = tempfile.mkdtemp(prefix="ponto-screenshots-")
        self.process = None
        self.ws = None
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self.process = subprocess.Popen(
            [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.user_data_dir}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self.user_data_dir, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not _read(port_file).strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BrowserError("Chromium did not start (no DevTools port)")
            time.sleep(0.1)
        port = int(_read(port_file).split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [target for target in json.load(answer) if target["type"] == "page"]
        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=self.scale, mobile=False)
        if self.timezone:  # the web client shows dates in the browser's time zone
            self.send("Emulation.setTimezoneOverride", timezoneId=self.timezone)

    def stop(self):
        if self.ws:
            with contextlib.suppress(Exception):
                self.send("Browser.close")
            with contextlib.suppress(Exception):
                self.ws.close()
        if self.process:
            with contextlib.suppress(Exception):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.user_data_dir, ignore_errors=True)

    # ------------------------------------------------------------------ protocol

    def send(self, method, **params):
        """Send one DevTools command and return its result (events in between are dropped)."""
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r}: {result['exceptionDetails'].get('text')}"
                               f" {result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result.get("result", {}).get("value")

    # ------------------------------------------------------------------ actions

    def login(self, base_url, database, login, password):
        """Authenticate over JSON-RPC and hand the session cookie to the browser."""
        answer = requests.post(
            f"{base_url}/web/session/authenticate",
            json={"jsonrpc": "2.0", "method": "call",
                  "params": {"db": database, "login": login, "password": password}},
            timeout=60,
        )
        answer.raise_for_status()
        if not (answer.json().get("result") or {}).get("uid"):
            raise BrowserError(f"could not log in as {login} on {database}")
        self.send("Network.enable")
        self.send("Network.setCookie", name="session_id", value=answer.cookies["session_id"],
                  url=base_url, httpOnly=True)

    def goto(self, url):
        self.send("Page.navigate", url=url)

    def wait_for(self, expression, timeout=60, settle=0.6):
        """Wait until `expression` is truthy in the page and the web client is idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(BrowserError):
                if self.evaluate(f"!!({expression})"):
                    time.sleep(settle)  # animations and the last renderings
                    return
            time.sleep(0.2)
        raise BrowserError(f"timed out waiting for {expression}")

    def click(self, selector):
        found = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" if (!el) return false; el.scrollIntoView({{block: 'center'}}); el.click(); return true; }})()"
        )
        if not found:
            raise BrowserError(f"nothing to click at {selector}")

    def fill(self, selector, value):
        """Type into an Odoo field input (sets the value and fires input/change)."""
        found = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" if (!el) return false; el.focus(); el.value = {json.dumps(value)};"
            f" el.dispatchEvent(new Event('input', {{bubbles: true}}));"
            f" el.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
        )
        if not found:
            raise BrowserError(f"no input at {selector}")

    def screenshot(self, path, clip_selector=None, padding=0):
        params = {"format": "png", "captureBeyondViewport": False}
        if clip_selector:
            box = self.evaluate(
                f"(() => {{ const r = document.querySelector({json.dumps(clip_selector)})"
                f".getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }})()"
            )
            x, y, width, height = box
            params["clip"] = {
                "x": max(x - padding, 0), "y": max(y - padding, 0),
                "width": width + 2 * padding, "height": height + 2 * padding, "scale": 1,
            }
        data = self.send("Page.captureScreenshot", **params)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))
        return path
