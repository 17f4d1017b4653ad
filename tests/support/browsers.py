"""The web pages in two browser engines, walked by the same test code: Debian's Chromium through Playwright, and
Debian's Firefox ESR through WebDriver BiDi (npm ``puppeteer-core``, run by ``tests/browser/driver.mjs``). Neither
browser is downloaded: both are the system's (``scripts/system-packages``), and ``npm ci`` runs with
``PUPPETEER_SKIP_DOWNLOAD=1``.

A test asks for an engine by name (:data:`ENGINES`) and gets a browser (:func:`launch`); each ``new_page()`` is a
fresh browser context (its own cookies) with the same small set of actions in both engines, the console errors and
page errors it collected (``errors()``), and the answers of 400 or more it got (``failed_loads()``). :func:`log_in`
is the one place that knows how the web login goes.
"""

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from support.wait import wait_for

BROWSER_DIR = Path(__file__).resolve().parent.parent / "browser"
CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
ENGINES = ("chromium", "firefox")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
CHROMIUM_FAILED_LOAD = "Failed to load resource: the server responded with a status of"
DEMO_LOGIN = {"kommunenr": "0301", "bydel": "00", "orgnr": "958935420"}


def ensure_puppeteer():
    """``tests/browser/node_modules`` with the pinned puppeteer-core (``npm ci`` from the lock file, offline from
    the npm cache after the first time); an AssertionError saying what to run when node, npm or Firefox is missing."""
    for program in ("node", "npm", FIREFOX):
        assert shutil.which(program), f"{program} is needed for the Firefox tests: run scripts/system-packages"
    if not (BROWSER_DIR / "node_modules" / "puppeteer-core" / "package.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=BROWSER_DIR,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
            check=True,
            capture_output=True,
            timeout=600,
        )


class BrowserError(AssertionError):
    """The browser could not do what the test asked (the driver's message says why)."""


# -- Chromium: Playwright -------------------------------------------------------------------------------------------


class PlaywrightPage:
    def __init__(self, context):
        self.context = context
        self.page = context.new_page()
        self.collected = []
        self.failed = []
        self.page.on("console", self._console)
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append([r.status, r.url]))
        self.page.on("pageerror", lambda e: self.collected.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.collected.append(f"dialog: {d.message}"), d.dismiss()))

    def _console(self, message):
        # Chromium also logs each answer of 400 or more as a console error; failed_loads() has those, in both engines
        if message.type == "error" and not message.text.startswith(CHROMIUM_FAILED_LOAD):
            self.collected.append(f"console: {message.text}")

    def goto(self, url):
        response = self.page.goto(url)
        return None if response is None else response.status

    def fill(self, selector, value):
        self.page.fill(selector, value)

    def click(self, selector):
        self.page.click(selector)

    def submit(self, selector):
        with self.page.expect_navigation():
            self.page.click(selector)
        return self.page.url

    def press(self, key):
        self.page.keyboard.press(key)

    def set_files(self, selector, *paths):
        self.page.set_input_files(selector, [str(p) for p in paths])

    def text(self, selector):
        return self.page.inner_text(selector)

    def value(self, selector):
        return self.page.input_value(selector)

    def evaluate(self, expression):
        return self.page.evaluate(expression)

    @property
    def url(self):
        try:  # Playwright's sync API takes in events (a navigation by script) only during a call
            self.page.evaluate("0")
        except PlaywrightError:
            pass  # between two documents
        return self.page.url

    def viewport(self, width, height):
        self.page.set_viewport_size({"width": width, "height": height})

    def errors(self):
        return list(self.collected)

    def failed_loads(self):
        return paths(self.failed)

    def close(self):
        self.context.close()


def launch_chromium(playwright):
    """Debian's Chromium, launched by ``playwright`` (a started ``sync_playwright()``) as every test runs it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def playwright_chromium():
    """A Playwright ``Browser`` of Debian's Chromium for the tests that drive Playwright's own API (the ``chromium``
    fixture of tests/conftest.py: one a module), closed on leaving."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


class Chromium:
    name = "chromium"

    def __init__(self):
        self.playwright = sync_playwright().start()
        self.browser = launch_chromium(self.playwright)
        self.version = self.browser.version

    def new_page(self):
        return PlaywrightPage(self.browser.new_context(ignore_https_errors=True))

    def close(self):
        self.browser.close()
        self.playwright.stop()


# -- Firefox: puppeteer-core over WebDriver BiDi --------------------------------------------------------------------


class Driver:
    """The node process running ``tests/browser/driver.mjs``: one JSON command a line, one answer a line."""

    def __init__(self, timeout=120):
        ensure_puppeteer()
        self.timeout = timeout
        self.ids = itertools.count(1)
        self.proc = subprocess.Popen(
            ["node", str(BROWSER_DIR / "driver.mjs")],
            cwd=BROWSER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
        )
        self.stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def call(self, cmd, **args):
        command_id = next(self.ids)
        self.proc.stdin.write(json.dumps({"id": command_id, "cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        answer = {}

        def read():  # in a thread, so that a hung browser fails the test at the timeout instead of hanging it
            line = self.proc.stdout.readline()
            answer.update(json.loads(line) if line else {"ok": False, "error": "the driver ended"})

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.timeout)
        if not answer:
            raise BrowserError(f"{cmd}: no answer within {self.timeout} s\n{''.join(self.stderr[-20:])}")
        if answer.get("id") not in (None, command_id) or not answer["ok"]:
            raise BrowserError(f"{cmd}: {answer.get('error')}\n{''.join(self.stderr[-20:])}")
        return answer["value"]

    def close(self):
        try:
            self.call("quit")
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class PuppeteerPage:
    def __init__(self, driver):
        self.driver = driver
        self.id = driver.call("open")

    def _call(self, cmd, **args):
        return self.driver.call(cmd, page=self.id, **args)

    def goto(self, url):
        return self._call("goto", url=url)

    def fill(self, selector, value):
        self._call("fill", selector=selector, value=value)

    def click(self, selector):
        self._call("click", selector=selector)

    def submit(self, selector):
        return self._call("submit", selector=selector)

    def press(self, key):
        self._call("press", key=key)

    def set_files(self, selector, *paths):
        self._call("setFiles", selector=selector, paths=[str(p) for p in paths])

    def text(self, selector):
        return self._call("text", selector=selector)

    def value(self, selector):
        return self._call("value", selector=selector)

    def evaluate(self, expression):
        return self._call("evaluate", expression=expression)

    @property
    def url(self):
        return self._call("url")

    def viewport(self, width, height):
        self._call("viewport", width=width, height=height)

    def errors(self):
        return self._call("errors")

    def failed_loads(self):
        return paths(self._call("failedLoads"))

    def close(self):
        self._call("close")


class Firefox:
    name = "firefox"

    def __init__(self):
        self.driver = Driver()
        try:
            self.version = self.driver.call("launch", browser="firefox", executablePath=FIREFOX)
        except BaseException:
            self.driver.proc.kill()
            raise

    def new_page(self):
        return PuppeteerPage(self.driver)

    def close(self):
        self.driver.close()


def paths(failed):
    """``[[status, url], ...]`` -> ``[(status, path and query), ...]``: what a test compares."""
    out = []
    for status, url in failed:
        parts = urllib.parse.urlsplit(url)
        out.append((status, parts.path + (f"?{parts.query}" if parts.query else "")))
    return out


def launch(engine):
    """A running browser of ``engine`` (one of :data:`ENGINES`)."""
    return {"chromium": Chromium, "firefox": Firefox}[engine]()


# -- what the walks share -----------------------------------------------------------------------------------------


def _fill_login(page, base_url, pin, fields):
    """The login page opened and its form filled in for the demo unit, or ``fields`` (kommunenr, bydel, orgnr)."""
    page.goto(base_url + "/")
    for name, value in {**DEMO_LOGIN, **fields}.items():
        page.fill(f"#{name}", value)
    page.fill("#pin", pin)


def send_unit_login(page, base_url, pin, **fields):
    """In a Playwright ``Page`` (the tests that drive Playwright's own API): the unit's login form filled in as
    :func:`log_in` fills it, and sent; the caller waits for the page it leads to (the second step, or not)."""
    _fill_login(page, base_url, pin, fields)
    page.click("button[type=submit]")


def log_in(page, base_url, pin, *, home=None, **fields):
    """Log the demo unit (or ``fields``: kommunenr, bydel, orgnr) in through the login form; returns the URL the
    form led to: ``/opplasting`` once logged in, the login page with its message otherwise.

    Where the server asks who the person is as a second step (``/hvem-er-du``, once persons are on: issue 16), a
    new enrolled person of the unit in ``home`` answers it (a TOTP code is accepted once), and the walk goes on
    from the upload page, as the walks are about the pages after the login."""
    _fill_login(page, base_url, pin, fields)
    url = page.submit("button[type=submit]")
    if url.endswith("/hvem-er-du"):
        import time

        from server import new_person

        from sendemodul import totp

        assert home is not None, "the second step needs the server's home (log_in(..., home=server.home))"
        email, secret = new_person(home)
        page.fill("#email", email)
        page.fill("#code", totp.code_at(secret, time.time()))
        page.submit("form[action='/hvem-er-du'] button[type=submit]")
        page.goto(base_url + "/opplasting")
        url = page.url
    return url


def wait_until(page, expression, timeout=60, message=None):
    """Poll ``expression`` (JavaScript) in the page until it is truthy, and return its value. (Playwright's own
    wait_for_function would need eval, which the page's CSP rightly forbids.)"""
    return wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.05, message=message or expression)


#: Watches the progress bar of the upload page: every value it takes, kept in sessionStorage so that the list
#: survives the navigation to the receipt page.
WATCH_PROGRESS = """(() => {
  const bar = document.getElementById("fremdriftslinje");
  sessionStorage.setItem("progress", "[]");
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("progress"));
    seen.push(Number(bar.value));
    sessionStorage.setItem("progress", JSON.stringify(seen));
  }).observe(bar, {attributes: true, attributeFilter: ["value"]});
  return true;
})()"""
PROGRESS_SEEN = 'JSON.parse(sessionStorage.getItem("progress") || "[]")'

#: What keeps a page from fitting the viewport's width (WCAG 2.1 SC 1.4.10): sideways scrolling, any element past
#: either edge, and any reference (``.ref``) broken over two lines.
REFLOW_PROBLEMS = """(() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).join(".") : "");
  if (document.documentElement.scrollWidth > width) {
    problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + width);
  }
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) { continue; }
    if (r.right > width + 0.5 || r.left < -0.5) {
      problems.push(name(e) + " spans " + Math.round(r.left) + ".." + Math.round(r.right) + " px of " + width);
    }
  }
  for (const e of document.querySelectorAll(".ref")) {
    if (e.getClientRects().length !== 1) { problems.push("the reference " + e.textContent + " is broken"); }
  }
  return problems;
})()"""
