"""Issue 16 in a real browser (Debian's Chromium via Playwright) against a real server whose e-mail goes to a real
SMTP server on loopback (aiosmtpd): the unit logs in with its PIN, registers a person with skjema 999 (both pages
and the check step, which shows what is wrong before anything is sent), the person's enrolment e-mail arrives, the
link is opened, TOTP is confirmed with a code computed here, the recovery codes are shown; logout; the person logs
in in two steps, uploads a register they may report (the receipt names them) and is refused another with a clear
Bokmål message. Also: nothing secret in clear under the home."""

import datetime
import re
import time

import pytest
from conftest import grep_tree, run_cli
from server import Server, make_container, new_person
from support.browsers import send_unit_login
from support.smtp import smtp_server
from support.wait import wait_for

from sendemodul import totp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smtp():
    """One SMTP server for the module: the module's server sends to it."""
    with smtp_server() as handler:
        yield handler


@pytest.fixture(scope="module")
def server(tmp_path_factory, smtp):
    srv = Server(
        tmp_path_factory.mktemp("persons") / "home",
        sections={"mail": f'enabled = true\nsmtp_port = {smtp.port}\nsmtp_host = "127.0.0.1"'},
    ).init()
    srv.start()
    yield srv
    srv.stop()


def unit_login(page, server):
    send_unit_login(page, server.url, server.pin)
    page.wait_for_url(re.compile(r".*/hvem-er-du$"))


def mail_to(smtp, address):
    found = [m for _sender, rcpt, m in smtp.messages if rcpt == [address]]
    return found[-1] if found else None


def test_register_enrol_log_in_in_two_steps_and_upload(page, server, smtp, tmp_path):
    email = "kari.nordmann@alna.example.org"
    unit_login(page, server)
    # Without a person, the pages of a session are closed: the upload page sends back to the second step.
    page.goto(server.url + "/opplasting")
    assert page.url.endswith("/hvem-er-du")
    page.click("text=Registrer en ny person for enheten")
    # page 1, with a phone number that is wrong on purpose
    page.fill("#unit_name", "Oslo kommune")
    page.fill("#responsible_name", "Ola Ansvarlig")
    page.fill("#responsible_phone", "12")
    page.fill("#responsible_email", "ola@alna.example.org")
    page.click("#neste")
    page.wait_for_url(re.compile(r".*side=2$"))
    page.fill("#name", "Kari Nordmann")
    page.fill("#email", email)
    page.fill("#mobile", "+47 912 34 567")
    page.check("#register-11F")
    page.click("#kontroller")
    page.wait_for_url(re.compile(r".*side=kontroll$"))
    assert "Ansvarlig persons telefon" in page.inner_text("#feil")
    assert page.is_disabled("#send-registrering")
    assert mail_to(smtp, email) is None  # nothing sent before the check passes
    page.click("#feil a")  # back to the field on page 1
    page.fill("#responsible_phone", "22 00 00 00")
    page.click("#neste")
    assert page.is_checked("#register-11F") and page.input_value("#email") == email  # the draft is kept
    page.click("#kontroller")
    assert page.is_visible("#ingen-feil") and "Kari Nordmann" in page.inner_text("#oppsummering")
    page.click("#send-registrering")
    assert email in page.inner_text("#kvittering-999")

    wait_for(lambda: mail_to(smtp, email) is not None, timeout=10, message="the enrolment e-mail")
    body = mail_to(smtp, email).get_content()
    link = re.search(r"https://\S+/innmelding/\S+", body).group(0)
    assert "72 timer" in body
    token = link.rsplit("/", 1)[1]
    path = link.split("/", 3)[3]

    page.goto(server.url + "/" + path)
    assert page.locator("figure.qr svg").count() == 1
    assert_no_axe_violations(page, "innmelding")
    secret = totp.secret_from_text(page.inner_text("#hemmelighet"))
    page.fill("#code", "000000" if totp.code_at(secret, time.time()) != "000000" else "111111")
    page.click("form button[type=submit]")
    assert "Koden stemmer ikke" in page.inner_text("#melding")
    assert totp.secret_from_text(page.inner_text("#hemmelighet")) == secret  # the same secret after a reload
    page.fill("#code", totp.code_at(secret, time.time()))
    page.click("form button[type=submit]")
    codes = page.locator("#gjenopprettingskoder code").all_inner_texts()
    assert_no_axe_violations(page, "gjenopprettingskoder")
    assert len(codes) == 10 and all(re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){2}", c) for c in codes)
    page.goto(server.url + "/" + path)  # single use
    assert "Lenken er brukt" in page.content()

    # logout (the unit's session from the registration), then the two-step login as Kari
    page.goto(server.url + "/hvem-er-du")
    page.click("text=Logg ut")
    page.wait_for_url(server.url + "/")
    unit_login(page, server)
    # a wrong code and an unknown person get the same message (and count against the source like a wrong PIN)
    messages = []
    for who, code in ((email, "000000" if totp.code_at(secret, time.time()) != "000000" else "111111"),
                      ("nobody@alna.example.org", totp.code_at(secret, time.time()))):  # fmt: skip
        page.fill("#email", who)
        page.fill("#code", code)
        page.click("form[action='/hvem-er-du'] button[type=submit]")
        messages.append(page.inner_text("#melding"))
    assert messages[0] == messages[1] == "Innloggingen mislyktes. Kontroller e-postadressen og koden."
    page.fill("#email", email)
    page.fill("#code", totp.code_at(secret, time.time() + 30))  # the next step: the enrolment spent this one
    page.click("form[action='/hvem-er-du'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/mine-skjema$"))
    assert page.inner_text("#person") == "Kari Nordmann"
    year = datetime.date.today().year
    rows = page.locator("#skjema tbody tr").all_inner_texts()
    assert len(rows) == 2 and rows[0].startswith(f"11F\t{year}") and rows[1].startswith(f"11F\t{year - 1}")
    assert "frist om" in rows[0] and "Ingenting sendt" in rows[0]
    page.goto(server.url + "/opplasting")

    ok = tmp_path / "11f.tar"
    make_container(server.home, ok, register="11F", periode=year, records=5)
    page.set_input_files("#fil", str(ok))
    page.click("#send")
    page.wait_for_url(re.compile(r".*/kvittering/SM-\d{8}-\w{8}$"), timeout=60_000)
    assert page.inner_text("#sendt-av") == "Kari Nordmann"

    other = tmp_path / "15f.tar"
    make_container(server.home, other, register="15F", periode=year, records=5)
    page.goto(server.url + "/opplasting")
    page.set_input_files("#fil", str(other))
    page.click("#send")
    page.wait_for_selector("#feil:not([hidden])")
    assert "Du har ikke rett til å sende inn dette registeret" in page.inner_text("#feil")

    # "Ingen deltakere" for the other periode: confirmed, recorded as Kari's, forwarded to SSB like an empty container
    page.goto(server.url + "/mine-skjema")
    assert "Mottatt" in page.inner_text(f"#rad-11F-{year} .siste") or "Levert" in page.inner_text(f"#rad-11F-{year}")
    page.click(f"#ingen-11F-{year - 1}")  # not confirmed yet
    assert "Kryss av for å bekrefte" in page.inner_text("#melding")
    page.check(f"#bekreft-11F-{year - 1}")
    page.click(f"#ingen-11F-{year - 1}")
    page.wait_for_url(re.compile(r".*/kvittering/SM-\d{8}-\w{8}$"))
    empty_ref = page.inner_text("#referanse")
    assert page.inner_text("#sendt-av") == "Kari Nordmann" and page.is_visible("#ingen-deltakere")
    # the pseudonymizer and the forwarder, run once here (as `sendemodul worker`/`forwarder` processes of this
    # checkout's code; the server's embedded children run isolated from PYTHONPATH)
    run_cli("worker", "--once", home=server.home)
    run_cli("forwarder", "--once", home=server.home)
    inbox = server.home / "ssb-inbox"
    assert any(empty_ref in p.name for p in inbox.iterdir()), _uploads(server.home)
    package = next(p for p in inbox.iterdir() if empty_ref in p.name)
    out = tmp_path / "opened"
    opened = run_cli("ssb", "open", package, "--identity", server.home / "private" / "ssb.agekey", "-o", out,
                     "--keys", server.home / "keys")  # fmt: skip
    assert opened.returncode == 0
    page.goto(server.url + "/mine-skjema")

    def shown_delivered():
        page.reload()
        return "Levert" in page.inner_text(f"#rad-11F-{year - 1} .siste")

    wait_for(shown_delivered, timeout=30, message="the empty delivery shown as delivered")
    assert "Ingen deltakere" in page.inner_text(f"#rad-11F-{year - 1} .siste")
    audit = [e for e in _audit(server.home) if e.event == "upload.received"]
    assert {e.actor for e in audit} == {"person:" + _person_id(server.home, email)}
    assert all(email not in e.detail and "Kari" not in e.detail for e in _audit(server.home))

    # every secret stays out of the home in clear: the PIN, the TOTP secret, the recovery codes, the link's token
    import base64

    for needle in (
        server.pin.encode(),
        server.pin.replace("-", "").encode(),
        base64.b32encode(secret).rstrip(b"="),
        secret,
        token.encode(),
        *(c.encode() for c in codes),
        *(c.replace("-", "").encode() for c in codes),
    ):
        hits = [p for p in grep_tree(server.home, needle) if p.parent.name != "demo"]
        assert hits == [], needle


def _audit(home):
    from sendemodul.store import Store

    store = Store.open(home / "sendemodul.db")
    try:
        return list(store.audit_entries())
    finally:
        store.close()


def _uploads(home):
    from sendemodul.store import Store

    store = Store.open(home / "sendemodul.db")
    try:
        return [(u["reference"], u["status"], u["reason"], u["last_error"]) for u in store.list_uploads()]
    finally:
        store.close()


def _person_id(home, email):
    from sendemodul.store import Store

    store = Store.open(home / "sendemodul.db")
    try:
        return next(p["person_id"] for p in store.list_persons() if p["email"] == email)
    finally:
        store.close()


def assert_no_axe_violations(page, name):
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    violations = Axe().run(page, options=options).response["violations"]
    assert violations == [], (name, [(v["id"], [n["html"] for n in v["nodes"]]) for v in violations])


def test_the_persons_pages_have_no_axe_violations(page, server):
    """WCAG 2.1 AA as far as axe-core sees it, on each new page (with an error summary shown where there is one)."""

    def check(name):
        assert_no_axe_violations(page, name)

    unit_login(page, server)
    check("hvem-er-du")
    page.fill("#code", "1")
    page.click("form[action='/hvem-er-du'] button[type=submit]")
    check("hvem-er-du with errors")
    for side in ("1", "2", "kontroll"):
        page.goto(f"{server.url}/registrer-person?side={side}")
        check(f"registrer-person {side}")
    email, secret = new_person(server.home, registers=("11F", "15F"))
    page.goto(server.url + "/hvem-er-du")
    page.fill("#email", email)
    page.fill("#code", totp.code_at(secret, time.time()))
    page.click("form[action='/hvem-er-du'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/mine-skjema$"))
    check("mine-skjema")
    page.goto(server.url + "/passnokler")
    check("passnokler")
