"""Access for reviewers end to end (issue 17), with a real server, a real SMTP server on loopback (aiosmtpd), the real
console script and Chromium: the operator makes the first reviewer of Vestland (46) and one of Oslo (03) with
``admin person add --role statsforvalter --fylke`` (no unit); each enrols from the e-mailed link; a person applies at
``/tilgang`` (bad input first: a clear error per field, in Bokmål and in Nynorsk); the reviewer of Oslo does not see
the application; the reviewer of Vestland approves it; the applicant gets the enrolment e-mail in Nynorsk, enrols,
logs in without a unit and sees the open tasks; a second application is refused and its applicant gets the refusal
e-mail. The audit names the acting persons by their opaque ids, and verifies. axe-core finds no WCAG 2.1 AA
violation on the new pages."""

import json
import re
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from conftest import run_cli
from playwright.sync_api import sync_playwright
from server import Server
from support.wait import wait_for
from test_mail import free_port
from test_persons_browser import assert_no_axe_violations
from test_web_browser import CHROMIUM_ARGS

from sendemodul import totp
from sendemodul.store import Store

pytestmark = pytest.mark.integration


class Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def mail_to(smtp, address, timeout=15):
    wait_for(lambda: any(r == [address] for r, _ in smtp.messages), timeout=timeout, message=f"e-mail to {address}")
    return [m for r, m in smtp.messages if r == [address]][-1]


def enrol(context, server, message):
    """Open the e-mailed link in a new page and confirm with the current code; returns the secret."""
    link = re.search(r"https://\S+/innmelding/\S+", message.get_content()).group(0)
    page = context.new_page()
    page.goto(server.url + "/" + link.split("/", 3)[3])
    secret = totp.secret_from_text(page.inner_text("#hemmelighet"))
    page.fill("#code", code_after(secret))
    page.click("form button[type=submit]")
    page.wait_for_selector("#gjenopprettingskoder, #melding")
    assert page.locator("#melding").count() == 0, page.inner_text("main")
    assert page.locator("#gjenopprettingskoder code").count() == 10
    assert page.get_attribute("main a[href='/statsforvalter']", "href") == "/statsforvalter"
    page.close()
    return secret


#: The TOTP step each secret last used: a code is accepted once and only when newer than the last one.
USED_STEPS: dict = {}


def code_after(secret):
    """A code the server takes now: the current step's, or the next one's (one step of drift is allowed) when the
    current one is used already; at a step's edge the server's step is at most one later, still within the drift."""
    now = time.time()
    step = max(totp.step_at(now), USED_STEPS.get(secret, -1) + 1)
    USED_STEPS[secret] = step
    return totp.code_at_step(secret, step)


def reviewer_login(context, server, email, secret):
    page = context.new_page()
    page.goto(server.url + "/statsforvalter")
    page.fill("#email", email)
    page.fill("#code", code_after(secret))
    page.click("form[action='/statsforvalter'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/oppgaver/$"))
    return page


def _audit(home):
    store = Store.open(home / "sendemodul.db")
    try:
        return [(e.event, e.actor, json.loads(e.detail)) for e in store.audit_entries()]
    finally:
        store.close()


def test_apply_approve_enrol_and_log_in_without_a_unit_and_a_refusal(tmp_path, smtp):
    mail = f'enabled = true\nsmtp_port = {smtp.port}\nsmtp_host = "127.0.0.1"'
    server = Server(tmp_path / "home", sections={"mail": mail}).init()
    server.start()
    try:
        for fylke, email in (("46", "ola@sfvl.example.org"), ("03", "per@sfov.example.org")):
            out = run_cli(
                "admin", "person", "add", "--role", "statsforvalter", "--fylke", fylke, "--name", f"Reviewer {fylke}",
                "--email", email, home=server.home,
            ).stdout  # fmt: skip
            assert f"statsforvalter for fylke {fylke} [pending]" in out and "to the mail relay" in out
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            staff = browser.new_context(ignore_https_errors=True)
            ola = enrol(staff, server, mail_to(smtp, "ola@sfvl.example.org"))
            per = enrol(staff, server, mail_to(smtp, "per@sfov.example.org"))

            # the application, bad input first, in Bokmål and then Nynorsk
            applicant = browser.new_context(ignore_https_errors=True)
            page = applicant.new_page()
            page.goto(server.url + "/")
            page.click("a[href='/tilgang']")
            page.fill("#email", "kari.statsforvalteren.no")
            page.select_option("#fylke", "")
            page.click("form[action='/tilgang'] button[type=submit]")
            summary = page.inner_text("#feiloppsummering")
            assert "Skriv navnet ditt." in summary and "Skriv en gyldig e-postadresse (jobb)" in summary
            assert "Velg fylket du skal være statsforvalter for." in summary
            assert page.get_attribute("#email", "aria-invalid") == "true"
            assert_no_axe_violations(page, "tilgang with errors")
            page.goto(server.url + "/sprak?lang=nn&neste=/tilgang")
            page.click("form[action='/tilgang'] button[type=submit]")
            summary = page.inner_text("#feiloppsummering")
            assert "Skriv namnet ditt." in summary and "Vel fylket du skal vere statsforvaltar for." in summary
            page.fill("#name", "Kari Vestland")
            page.fill("#email", "kari@sfvl.example.org")
            page.select_option("#fylke", "46")
            page.check("#language-nn")
            page.click("form[action='/tilgang'] button[type=submit]")
            assert "kari@sfvl.example.org" in page.inner_text("#kvittering-tilgang")
            assert_no_axe_violations(page, "tilgang-sendt")

            # the login without a unit names a missing field too
            page.goto(server.url + "/sprak?lang=nb&neste=/statsforvalter")
            page.click("form[action='/statsforvalter'] button[type=submit]")
            assert "Skriv inn koden fra autentiseringsappen" in page.inner_text("#feiloppsummering")
            assert_no_axe_violations(page, "statsforvalter with errors")
            page.goto(server.url + "/sprak?lang=nn&neste=/statsforvalter")

            # Oslo's reviewer does not see it; Vestland's approves it
            # (each login in a context of its own: a context with a reviewer's session is sent on to /oppgaver/)
            oslo = reviewer_login(browser.new_context(ignore_https_errors=True), server, "per@sfov.example.org", per)
            assert "Kari Vestland" not in oslo.inner_text("main")
            assert "Reviewer 03" in oslo.inner_text("#person")
            oslo.close()
            vestland = reviewer_login(
                browser.new_context(ignore_https_errors=True), server, "ola@sfvl.example.org", ola
            )
            assert_no_axe_violations(vestland, "oppgaver with an application")
            vestland.click("#soknader a:has-text('Kari Vestland')")
            assert vestland.inner_text("#soker-epost") == "kari@sfvl.example.org"
            assert_no_axe_violations(vestland, "oppgave-tilgang")
            vestland.click("button[value=godkjenn]")
            vestland.wait_for_url(re.compile(r".*/oppgaver/$"))

            # the applicant enrols from the Nynorsk e-mail, logs in without a unit and sees the open tasks
            message = mail_to(smtp, "kari@sfvl.example.org")
            assert message["Subject"] == "Sendemodulen: ta i bruk innlogginga di"
            assert "statsforvaltar for Vestland" in message.get_content()
            kari = enrol(applicant, server, message)
            page = reviewer_login(applicant, server, "kari@sfvl.example.org", kari)
            assert "Opne oppgåver" in page.inner_text("h1")
            assert page.locator("a[href='/mine-skjema']").count() == 0
            page.goto(server.url + "/innsendinger")  # a unit's page: sent back to the reviewer's own
            page.wait_for_url(re.compile(r".*/oppgaver/$"))

            # a second application, refused
            other = browser.new_context(ignore_https_errors=True).new_page()
            other.goto(server.url + "/tilgang")
            other.fill("#name", "Nils Nektet")
            other.fill("#email", "nils@example.org")
            other.select_option("#fylke", "46")
            other.click("form[action='/tilgang'] button[type=submit]")
            other.wait_for_selector("#kvittering-tilgang")
            vestland.goto(server.url + "/oppgaver/")
            vestland.click("#soknader a:has-text('Nils Nektet')")
            vestland.click("button[value=avsla]")
            vestland.wait_for_url(re.compile(r".*/oppgaver/$"))
            refusal = mail_to(smtp, "nils@example.org")
            assert refusal["Subject"] == "Sendemodulen: søknaden om tilgang er avslått"
            assert "statsforvalteren i Vestland har avslått søknaden din" in refusal.get_content()
            assert "/innmelding/" not in refusal.get_content()
            vestland.goto(server.url + "/oppgaver/arkiv")
            assert "Nils Nektet" in vestland.inner_text("#soknader")
            browser.close()

        audit = _audit(server.home)
        decided = {
            e: (a, d)
            for e, a, d in audit
            if e.startswith("reviewer_application.") and e != "reviewer_application.received"
        }
        ola_id = next(d["person"] for e, a, d in audit if e == "person.register" and d.get("fylke") == "46")
        assert decided["reviewer_application.approved"][0] == f"person:{ola_id}"
        assert decided["reviewer_application.refused"][0] == f"person:{ola_id}"
        logins = [d for e, _, d in audit if e == "person.login"]
        assert len(logins) == 3 and all(set(d) == {"person", "fylke"} for d in logins)
        text = json.dumps(audit)
        assert "@" not in text and "Kari" not in text and "Nils" not in text  # opaque ids only
        assert run_cli("admin", "audit", "verify", home=server.home).returncode == 0
    finally:
        server.stop()
