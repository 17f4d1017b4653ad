"""The main browser walk in two engines, the same test code for both: Chromium (Playwright) and Firefox ESR
(WebDriver BiDi through puppeteer-core). Login with a clear message for a wrong PIN; an upload whose progress bar
moves; the receipt with the right SHA-256; the list; a refused upload (the bar reset, focus on the message); a file
sent again after a newer one (the page names both references and never says "mottatt og lagret"); the empty submit
(the page's own message); no console errors; and every page fits 320 CSS px (WCAG 2.1 SC 1.4.10).

The browser reaches the server through a relay that passes the upload on at 2.5 MB/s (support/throttle.py), so the
bar has time to move in either engine."""

import hashlib
import json
import re

import pytest
from server import Server, make_container
from support import browsers
from support.throttle import ThrottledRelay
from support.wait import wait_for

pytestmark = pytest.mark.integration  # a server subprocess and two real browsers

#: The relay's pace for uploads, and the walk's file: larger than what the browser's socket takes in at once (its
#: send buffer grows to 4 MiB on loopback), so the bar has seconds to move after its first jump.
UPLOAD_BYTES_PER_SECOND = 2_500_000
LARGE = {"records": 2500, "data_bytes": 4000}  # about 10 MB
RECEIPT_URL = re.compile(r"/kvittering/(SM-\d{8}-\w{8})(\?igjen=1)?$")


def stand_in_module_release(home):
    """A release in ``<home>/module/`` for /krypteringsmodul to show (its layout is what these tests look at: a
    stand-in file with a release description that matches it, not a built module)."""
    html = b"<!doctype html><title>stand-in</title>\n"
    release = {
        "version": "2026.1",
        "size": len(html),
        "sha256": hashlib.sha256(html).hexdigest(),
        "signatures": {"ssb": "x", "tpf": "y"},
        "profiles": ["11F", "11CF"],
        "source_commit": "0123456789abcdef0123456789abcdef01234567",
    }
    (home / "module").mkdir()
    (home / "module" / "krypteringsmodul.html").write_bytes(html)
    (home / "module" / "release.json").write_text(json.dumps(release))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("engines") / "home").init()
    stand_in_module_release(srv.home)
    srv.start()
    with ThrottledRelay(srv.https_port, bytes_per_second=UPLOAD_BYTES_PER_SECOND) as relay:
        srv.browser_url = f"https://127.0.0.1:{relay.port}"
        yield srv
    srv.stop()


@pytest.fixture(scope="module", params=browsers.ENGINES)
def browser(request):
    b = browsers.launch(request.param)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    yield p
    p.close()


@pytest.fixture
def logged_in(page, server):
    assert browsers.log_in(page, server.browser_url, server.pin, home=server.home).endswith("/opplasting")
    return page


def upload(page, path):
    """Choose ``path`` on the upload page and send it; returns the receipt page's reference and whether the URL said
    the file was sent before."""
    page.set_files("#fil", path)
    page.click("#send")
    match = wait_for(lambda: RECEIPT_URL.search(page.url), timeout=120, message="the receipt page")
    wait_until_loaded(page)
    return match.group(1), bool(match.group(2))


def wait_until_loaded(page):
    browsers.wait_until(page, 'document.readyState === "complete" && !!document.querySelector("main")')


def test_login_upload_with_a_moving_bar_receipt_and_list(page, server, tmp_path):
    # a wrong PIN: the login page again, with its clear message, the unit kept and the PIN not
    url = browsers.log_in(page, server.browser_url, "AAAA-BBBB-CCCC")
    assert not url.endswith("/opplasting")
    assert "Innloggingen mislyktes" in page.text("#melding")
    assert page.value("#kommunenr") == "0301" and page.value("#pin") == ""
    # a sloppy but correct PIN: lower case, no hyphens
    assert browsers.log_in(page, server.browser_url, server.pin.replace("-", "").lower(), home=server.home).endswith(
        "/opplasting"
    )
    container = tmp_path / "oslo-11f.tar"
    make_container(server.home, container, **LARGE)
    page.goto(server.browser_url + "/opplasting")
    assert page.evaluate(browsers.WATCH_PROGRESS)
    reference, again = upload(page, container)
    seen = page.evaluate(browsers.PROGRESS_SEEN)
    assert any(0 < p < 100 for p in seen), f"the bar never moved between 0 and 100 %: {seen}"
    assert seen == sorted(seen) and seen[-1] == 100
    assert not again
    assert page.text("#referanse") == reference
    assert page.text("#sjekksum") == hashlib.sha256(container.read_bytes()).hexdigest()
    assert page.text("#tilstand") == "Mottatt"
    assert "Filen er mottatt og lagret" in page.text("main")
    assert "det er den som gjelder" in page.text("#gjelder")
    assert f"{reference}.tar" in server.spool("received")
    page.goto(server.browser_url + "/innsendinger")
    assert reference in page.text("table")
    assert page.errors() == []
    assert page.failed_loads() == [(401, "/")]  # the wrong PIN, and nothing else (no /favicon.ico 404)


def test_a_refused_upload_resets_the_bar_and_moves_focus_to_the_message(logged_in, server, tmp_path):
    page = logged_in
    bad = tmp_path / "ikke-en-container.tar"
    bad.write_bytes(b"this is not a container\n" * 4000)
    page.set_files("#fil", bad)
    page.click("#send")
    browsers.wait_until(page, '!document.getElementById("feilsammendrag").hidden', message="the error summary")
    assert "ikke en gyldig innsendingsfil" in page.text("#feilsammendrag")
    state = page.evaluate(
        """({focus: document.activeElement.id, hidden: document.getElementById("fremdrift").hidden,
            value: document.getElementById("fremdriftslinje").value,
            invalid: document.getElementById("fil").getAttribute("aria-invalid")})"""
    )
    assert state == {"focus": "feilsammendrag", "hidden": True, "value": 0, "invalid": "true"}
    # by keyboard from the message to the field: Tab to the summary's link, Enter
    page.press("Tab")
    assert page.evaluate("document.activeElement.id") == "feil"
    page.press("Enter")
    assert page.evaluate("document.activeElement.id") == "fil"
    assert page.url.endswith("/opplasting#fil")
    assert page.errors() == []
    assert page.failed_loads() == [(422, "/api/v1/uploads/ikke-en-container.tar")]


def test_the_empty_submit_shows_the_pages_own_message(logged_in):
    """No file chosen: the page's "Velg en fil først." in its error summary, with focus, instead of the browser's
    own bubble (in the browser's language, which would also keep the script from running at all)."""
    page = logged_in
    page.click("#send")
    browsers.wait_until(page, '!document.getElementById("feilsammendrag").hidden', message="the error summary")
    assert page.text("#feil") == "Velg en fil først."
    assert page.text("#fil-feil") == "Velg en fil først."
    assert page.evaluate("document.activeElement.id") == "feilsammendrag"
    assert page.evaluate('document.getElementById("fremdrift").hidden')
    assert page.errors() == [] and page.failed_loads() == []


def test_the_empty_submit_speaks_nynorsk_on_a_nynorsk_page(logged_in, server):
    """The same in Nynorsk (``?lang=nn``): the page's own message comes from the page, in the page's language."""
    page = logged_in
    page.goto(server.browser_url + "/opplasting?lang=nn")
    wait_until_loaded(page)
    assert page.evaluate("document.documentElement.lang") == "nn"
    page.click("#send")
    browsers.wait_until(page, '!document.getElementById("feilsammendrag").hidden', message="the error summary")
    assert page.text("#feil") == "Vel ei fil først."
    assert page.text("#fil-feil") == "Vel ei fil først."
    assert page.errors() == [] and page.failed_loads() == []


def test_an_earlier_file_sent_again_names_its_reference_and_the_one_that_counts(logged_in, server, tmp_path):
    page = logged_in
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    make_container(server.home, a)
    make_container(server.home, b)  # the same register and periode
    ref_a, _ = upload(page, a)
    page.goto(server.browser_url + "/opplasting")
    ref_b, _ = upload(page, b)
    page.goto(server.browser_url + "/opplasting")
    again_ref, again = upload(page, a)
    assert (again_ref, again) == (ref_a, True)
    assert page.text("h1") == "Filen er sendt inn før"
    main = page.text("main")
    assert "mottatt og lagret" not in main
    assert page.evaluate('document.querySelector(".ok")') is None
    notice = " ".join(page.text("#gjelder").split())
    assert f"med referansen {ref_a}" in notice and f"gjelder den nyeste innsendingen, {ref_b}" in notice
    assert "krypterer du uttrekket på nytt" in notice
    assert page.text("#gjelder-naa") == ref_b
    # the list says the same: a counts no longer, b does
    page.goto(server.browser_url + "/innsendinger")
    rows = page.evaluate(
        """Array.from(document.querySelectorAll("tbody tr")).map(
             (tr) => [tr.querySelector(".ref").textContent, tr.querySelector(".gjelder").textContent])"""
    )
    counts = dict(rows)
    assert counts[ref_b] == "Ja, den nyeste" and counts[ref_a] == f"Nei, {ref_b} gjelder"
    assert page.errors() == [] and page.failed_loads() == []


def test_every_page_fits_320_css_pixels(page, server, tmp_path):
    """Reflow (WCAG 2.1 SC 1.4.10) on each page and state, in the engine at hand: no sideways scrolling, nothing
    past an edge, no reference broken over two lines."""
    page.viewport(320, 640)
    checked = {}

    def check(name):
        wait_until_loaded(page)
        checked[name] = page.evaluate(browsers.REFLOW_PROBLEMS)

    page.goto(server.browser_url + "/")
    check("login")
    browsers.log_in(page, server.browser_url, "", kommunenr="9999", bydel="16", orgnr="987654321")
    check("login with an error on every field")
    assert browsers.log_in(page, server.browser_url, server.pin, home=server.home).endswith("/opplasting")
    check("upload")
    page.click("#send")
    browsers.wait_until(page, '!document.getElementById("feilsammendrag").hidden')
    check("upload with the error summary")
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    make_container(server.home, a)
    make_container(server.home, b)
    ref_a, _ = upload(page, a)
    check("receipt")
    page.goto(server.browser_url + "/opplasting")
    upload(page, b)
    page.goto(server.browser_url + "/opplasting")
    upload(page, a)
    check("receipt of a file sent again")
    page.goto(server.browser_url + f"/kvittering/{ref_a}")
    check("receipt of a superseded upload")
    page.goto(server.browser_url + "/innsendinger")
    check("list")
    if page.evaluate('getComputedStyle(document.querySelector("tbody tr")).display') != "block":
        checked["list"].append("the list's rows are still table rows (the table should become a list)")
    page.goto(server.browser_url + "/mine-skjema")
    check("Mine skjema")
    page.goto(server.browser_url + "/kvittering/SM-20000101-AAAAAAAA")
    check("not found")
    page.goto(server.browser_url + "/krypteringsmodul")
    check("the encryption module's page")
    assert {name: problems for name, problems in checked.items() if problems} == {}
    assert page.errors() == []
    assert page.failed_loads() == [(400, "/"), (404, "/kvittering/SM-20000101-AAAAAAAA")]
