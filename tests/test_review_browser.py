"""Review before delivery in a real browser with real processes (issue 17): with ``[[review]]`` for 15F a delivery
uploaded over HTTPS waits; a reviewer of another fylke does not see it; the right reviewer (a person with role
statsforvalter for fylke 03, logged in with TOTP) returns it in Chromium: 4,001 characters refused with a clear
message, 4,000 accepted; the unit gets the e-mail; the corrected delivery appears linked, is approved, and reaches
SSB exactly once."""

import re
import time

import pytest
from server import Server, make_extract_container, new_person
from support.browsers import playwright_chromium, send_unit_login
from support.wait import wait_for
from test_pipeline import curl_upload, uploads

from sendemodul import totp
from sendemodul.store import Store

pytestmark = pytest.mark.integration


def _reviewer(server, fylke):
    email, secret = new_person(server.home, registers=("15F",))
    store = Store.open(server.home / "sendemodul.db")
    try:
        person_id = store._row("SELECT person_id FROM persons WHERE email = ?", (email,))["person_id"]
        store.set_person_role(person_id, "statsforvalter", fylke, actor="test")
    finally:
        store.close()
    return email, secret


def _login(browser, server, email, secret):
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    send_unit_login(page, server.url, server.pin)
    page.wait_for_url(re.compile(r".*/hvem-er-du$"))
    page.fill("#email", email)
    page.fill("#code", totp.code_at(secret, time.time()))
    page.click("form[action='/hvem-er-du'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/mine-skjema$"))
    return context, page


def test_a_reviewer_returns_then_approves_in_chromium(tmp_path, smtp):
    review = '\n[[review]]\nregister = "15F"\nby = "statsforvalter"\n'
    mail = f"enabled = true\nsmtp_port = {smtp.port}\ncheck_seconds = 0.3"
    server = Server(tmp_path / "home", review, worker=True, sections={"mail": mail}).init()
    server.start()
    try:
        first = tmp_path / "first.tar"
        make_extract_container(server.home, first, register="15F", records=4, seed=1)
        r1 = curl_upload(server, first)["reference"]
        wait_for(lambda: uploads(server.home)[r1]["status"] == "awaiting_review", timeout=60, interval=0.2)
        with playwright_chromium() as browser:
            other, page = _login(browser, server, *_reviewer(server, "46"))
            page.goto(server.url + "/oppgaver/")
            assert "Åpne oppgaver" in page.inner_text("main") and r1 not in page.content()
            assert page.goto(server.url + f"/oppgaver/{r1}").status == 404
            other.close()

            context, page = _login(browser, server, *_reviewer(server, "03"))
            page.click("a[href='/oppgaver/']")
            page.click(f"a[href='/oppgaver/{r1}']")
            assert page.inner_text("#poster") == "4"
            page.fill("#melding", "x" * 4001)
            page.click("button[value=returner]")
            assert "1 til 4000 tegn" in page.inner_text("#feil")
            # the error summary at the top of the form links to the field (WCAG 3.3.1)
            assert "1 til 4000 tegn" in page.inner_text("#feiloppsummering a[href='#melding']")
            assert page.get_attribute("#melding", "aria-invalid") == "true"
            assert uploads(server.home)[r1]["status"] == "awaiting_review"
            page.fill("#melding", "Mangler tiltak. " + "y" * 3984)
            page.click("button[value=returner]")
            page.wait_for_url(re.compile(r".*/oppgaver$"))
            assert uploads(server.home)[r1]["status"] == "review_returned"
            wait_for(lambda: len(smtp.messages) == 1, timeout=30, interval=0.2, message="the e-mail to the unit")
            assert "statsforvalteren" in smtp.messages[0][2]["Subject"]
            assert "Mangler tiltak." in smtp.messages[0][2].get_content()

            second = tmp_path / "second.tar"
            make_extract_container(server.home, second, register="15F", records=4, seed=2)
            r2 = curl_upload(server, second)["reference"]
            wait_for(lambda: uploads(server.home)[r2]["status"] == "awaiting_review", timeout=60, interval=0.2)
            page.goto(server.url + "/oppgaver/")
            assert r1 in page.inner_text("#oppgaver")  # "retting av r1"
            page.click(f"a[href='/oppgaver/{r2}']")
            page.click("button[value=godkjenn]")
            page.wait_for_url(re.compile(r".*/oppgaver$"))
            context.close()
        wait_for(lambda: uploads(server.home)[r2]["status"] == "delivered", timeout=60, interval=0.2)
        assert sorted(p.name for p in (server.home / "ssb-inbox").iterdir()) == [f"{r2}.tar"]
    finally:
        server.stop()
