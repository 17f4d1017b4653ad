import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sendemodul import identity
from sendemodul.store import Store

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "sendemodul"

ALNA = "0301-12-958935420"
STAVANGER = "1103-00-964965226"


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL for the session (sendemodul/testing/postgres.py); ``postgres.new_database()`` per test."""
    from sendemodul.testing.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path, request):
    """A new store: SQLite in the test's temp dir, or with ``SENDEMODUL_TEST_STORE=postgresql`` a fresh database on
    the session's PostgreSQL, so a test that takes ``store`` can be run on both (tests/test_store.py always runs on
    both; tests that open the SQLite file themselves, such as test_audit's tampering, are SQLite's by nature)."""
    if os.environ.get("SENDEMODUL_TEST_STORE") == "postgresql":
        postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
        s = Store.create(url)
        yield s
        s.close()
        postgres.drop_database(url)
        return
    s = Store.create(tmp_path / "sendemodul.db")
    yield s
    s.close()


def add_unit(store, text, name="Testkommune", email="kostra@example.org"):
    unit = identity.parse_unit(text, datetime.date.today().year)
    store.add_unit(unit, name=name, email=email, actor="test")
    return unit


@pytest.fixture
def home(tmp_path):
    """A freshly initialised (non-dev) state home."""
    from sendemodul import home as homemod

    h = tmp_path / "home"
    _cfg, s = homemod.init_home(h, environment="test")
    s.close()
    return h


@pytest.fixture
def smtp():
    """A real SMTP server on loopback (aiosmtpd) for one test: ``smtp.port``, and ``smtp.messages`` as
    ``(mail_from, rcpt_tos, message)`` (tests/support/smtp.py)."""
    from support.smtp import smtp_server

    with smtp_server() as handler:
        yield handler


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium through Playwright (tests/support/browsers.py), one for a test module."""
    from support.browsers import playwright_chromium

    with playwright_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium):
    """A Playwright page of :func:`chromium` in a fresh context (its own cookies) that takes the test server's
    certificate; a dialog the page opens is dismissed, its message kept in ``page.dialogs``. (A module that walks
    pages in both engines, through tests/support/browsers.py, or needs more of a page, has a ``page`` of its own.)"""
    context = chromium.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def run_cli(*args, home=None, check=True, env=None, input=None, cwd=None):
    """Run the real ``sendemodul`` console script in a subprocess (in ``cwd``, if given)."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["SENDEMODUL_HOME"] = str(home)
    proc = subprocess.run(
        [str(BIN), *map(str, args)], capture_output=True, text=True, env=full_env, input=input, timeout=120, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"sendemodul {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def grep_tree(root, needle):
    """Paths under ``root`` whose bytes contain ``needle`` (bytes)."""
    hits = []
    for path in Path(root).rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits
