"""The web pages in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser)."""

import http.server
import re
import threading
import time

import pytest
from server import DEMO, Server, make_container, new_person
from support.browsers import CHROMIUM_ARGS, send_unit_login

from sendemodul import totp

pytestmark = pytest.mark.integration  # every test here runs a server subprocess or a real peer

__all__ = ["CHROMIUM_ARGS", "login"]  # CHROMIUM_ARGS: test_accessibility imports it from here, until it switches
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("browser") / "home").init().start()
    yield srv
    srv.stop()


def login(page, server, pin=None, kommunenr="0301", bydel="00", orgnr="958935420"):
    """Log in through the form (``page``: the conftest fixture's Playwright page), as a new person of the unit where
    the server asks for the second step."""
    send_unit_login(
        page, server.url, pin if pin is not None else server.pin, kommunenr=kommunenr, bydel=bydel, orgnr=orgnr
    )
    page.wait_for_load_state()
    if page.url.endswith("/hvem-er-du"):  # the second step: a new person each time (a code is accepted once)
        email, secret = new_person(server.home)
        page.fill("#email", email)
        page.fill("#code", totp.code_at(secret, time.time()))
        page.click("form[action='/hvem-er-du'] button[type=submit]")
        page.wait_for_url(re.compile(r".*/mine-skjema$"))
        page.goto(server.url + "/opplasting")  # these tests are about the pages after the login


def test_login_upload_with_progress_bar_and_receipt(page, server, tmp_path):
    container = tmp_path / "oslo-11f.tar"
    make_container(server.home, container, records=3000)
    # a sloppy but correct PIN: lower case, no hyphens
    login(page, server, pin=server.pin.replace("-", "").lower())
    assert page.url.endswith("/opplasting")
    assert DEMO in page.inner_text("header")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": container.stat().st_size // 2},
    )
    page.set_input_files("#fil", str(container))
    page.click("#send")
    page.wait_for_selector("#fremdrift", state="visible")
    for _ in range(200):  # (wait_for_function would need eval, which the page's CSP rightly forbids)
        if page.evaluate("document.getElementById('fremdriftslinje').value") > 0:
            break
        page.wait_for_timeout(25)
    assert page.is_visible("#fremdriftslinje")
    page.screenshot(path=str(tmp_path / "progress.png"))
    page.wait_for_url(re.compile(r".*/kvittering/SM-\d{8}-\w{8}$"), timeout=60_000)
    reference = page.inner_text("#referanse")
    assert page.inner_text("#tilstand") == "Mottatt"
    assert f"{reference}.tar" in server.spool("received")
    page.goto(server.url + "/innsendinger")
    assert reference in page.inner_text("table")
    assert page.dialogs == []


def test_login_errors_are_specific_and_in_bokmaal(page, server):
    login(page, server, kommunenr="9999", bydel="16", orgnr="987654321", pin="")
    assert "Kommunenummeret 9999 finnes ikke" in page.inner_text("#kommunenr-feil")
    assert "Organisasjonsnummeret 987654321 er ikke gyldig" in page.inner_text("#orgnr-feil")
    assert "Skriv inn PIN-koden" in page.inner_text("#pin-feil")
    login(page, server, bydel="16")
    assert "Bydel 16 kan ikke brukes for kommune 0301" in page.inner_text("#bydel-feil")
    login(page, server, pin="AAAA-BBBB-CCCC")
    assert "Innloggingen mislyktes" in page.inner_text("#melding")
    assert page.url.rstrip("/") == server.url and page.input_value("#kommunenr") == "0301"
    assert page.input_value("#pin") == ""


def test_xss_in_every_login_field_is_inert(page, server):
    login(page, server, kommunenr=XSS, bydel=XSS, orgnr=XSS, pin=XSS)
    html = page.content()
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert page.dialogs == []
    page.goto(server.url + "/kvittering/" + "%3Cscript%3Ealert(3)%3C%2Fscript%3E")
    assert page.dialogs == []


def test_cross_site_form_post_cannot_log_the_user_out(page, server, tmp_path):
    login(page, server)
    assert page.url.endswith("/opplasting")
    target = server.url + "/logg-ut"
    attack = (
        f'<form id="f" method="post" action="{target}"><input name="csrf" value="guess"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{evil.server_port}/")
        page.wait_for_load_state()
    finally:
        evil.shutdown()
    page.goto(server.url + "/innsendinger")
    assert page.url.endswith("/innsendinger")  # still logged in
    # logging out the right way works
    page.click("text=Logg ut")
    page.wait_for_load_state()
    page.goto(server.url + "/innsendinger")
    assert page.url.rstrip("/") == server.url


def test_upload_without_the_csrf_token_is_refused(page, server, tmp_path):
    login(page, server)
    container = tmp_path / "c.tar"
    make_container(server.home, container)
    status = page.evaluate(
        """async (url) => {
        const r = await fetch(url, {method: "PUT", body: "x".repeat(100), credentials: "same-origin"});
        return r.status;
    }""",
        server.url + "/api/v1/uploads/x.tar",
    )
    assert status == 401
    assert server.spool("incoming") == []


def test_session_cookie_is_secure_httponly_samesite_strict(page, server):
    login(page, server)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["__Host-sendemodul"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
