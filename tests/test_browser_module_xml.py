"""Issue 26, the XML registers: the encryption module, opened from ``file://`` in headless Chromium and driven by the
keyboard alone, checks a generated IPLOS extract with the same findings as ``sendemodul check --format json`` (a
clean one and a broken one), encrypts it into a container that passes the server's intake check, is delivered by the
pseudonymizer and opened by ``ssb open`` with every record exactly as the CLI splits it. The same for 15F, whose
barnevern controls the page runs from the 15F profile's control table (walked by keyboard alone, the report saved
from the page); axe finds nothing in a broken 15F extract's report, in Bokmål and Nynorsk, and it fits 320 px."""

import io
import json
import re
from pathlib import Path

import pytest
import test_browser_module
from conftest import run_cli
from server import DEMO
from support.wait import wait_for
from test_browser_module import YEAR, _verified, put
from test_pipeline import ssb_open, uploads

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.model import Record
from sendemodul.store import Store
from sendemodul.testing.extracts import generate_extract
from sendemodul.testing.module_walk import keyboard_walk

pytestmark = pytest.mark.integration  # builds with node, runs Chromium and a server

#: The page fixture of the 11F tests: a page of the module's Chromium that keeps its requests and page errors.
page = test_browser_module.page
#: The 11F tests' server (a worker, release keys) and signed release: the XML walks need nothing else.
server = test_browser_module.server
release = test_browser_module.release

RECORDS = 5_000


def _walk(page, release, extract, key, register, *, encrypt=True):
    """The shared keyboard walk (sendemodul/testing/module_walk.py) with ``register``: the saved container's path,
    or ``None`` when not encrypting."""
    walk = keyboard_walk(
        page,
        release / "krypteringsmodul.html",
        extract,
        key,
        extract.parent / f"fra-nettleseren-{register}.tar",
        kommunenr="0301",
        orgnr=DEMO.split("-")[2],
        skjema=f"{register}/{YEAR}",
        encrypt=encrypt,
    )
    if encrypt:
        assert walk.progress_at_end
    return walk.container


def _check_in_page(page, release, path, register="IPLOS"):
    """Check ``path`` in the page (the form filled directly: the keyboard walk is the other test's)."""
    page.goto((release / "krypteringsmodul.html").as_uri())
    page.fill("#kommunenr", "0301")
    page.fill("#orgnr", DEMO.split("-")[2])
    page.select_option("#skjema", f"{register}/{YEAR}")
    page.set_input_files("#uttrekk", str(path))
    page.click("#kontroller")
    page.wait_for_selector("#status:not(:empty), #feil:not(:empty)", timeout=120_000)


def _saved_and_refused(page, tmp_path):
    """The report the page saves (its bytes) and whether it refuses the file."""
    with page.expect_download() as download:
        page.focus("#lagre-rapport")
        page.keyboard.press("Enter")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    return saved.read_bytes(), page.evaluate("() => document.querySelector('#feil').textContent !== ''")


def _cli(server, path, register="IPLOS"):
    """``check --format json`` of ``path`` (named as the page knows it) as the CLI writes it, and whether it refuses."""
    out = path.parent / f"{path.name}.report.json"
    args = ("check", "-r", register, "-p", YEAR, "-u", DEMO, "--format", "json", "-o", out, path.name)
    run_cli(*args, home=server.home, check=False, cwd=path.parent)
    return out.read_bytes(), json.loads(out.read_bytes())["exit_code"] == 2


def _extract(server, name, n, errors=None, register="IPLOS"):
    path = server.home.parent / name
    unit = identity.parse_unit(DEMO, YEAR)
    path.write_bytes(generate_extract(load_profile(register, YEAR), unit, n, seed=11, errors=errors))
    return path


def _delivered_once(home, reference):
    """``reference`` has exactly one upload.delivered audit event and one package in the SSB inbox (this module's
    server delivers other tests' uploads too: delivered_once of test_pipeline_pq asks for all of them)."""
    store = Store.open(home / "sendemodul.db")
    try:
        events = [json.loads(e.detail)["reference"] for e in store.audit_entries() if e.event == "upload.delivered"]
    finally:
        store.close()
    assert events.count(reference) == 1
    assert (home / "ssb-inbox" / f"{reference}.tar").is_file()


def test_the_page_checks_iplos_as_the_cli_does(server, release, page, tmp_path):
    """The report the page saves is byte for byte the CLI's, and it refuses where the CLI refuses."""
    key = server.home / "demo" / "unit.key"
    clean = _extract(server, "iplos-ren.xml", 300)
    _check_in_page(page, release, clean)
    assert _saved_and_refused(page, tmp_path) == _cli(server, clean)
    kinds = ["SCHEMA", "ID_IN_DATA", "CODE", "DATE", "MANDATORY", "BYDEL", "ID_INVALID", "ID_MISSING"]
    kinds += ["DUPLICATE_ID", "DUPLICATE"]
    broken = _extract(server, "iplos-feil.xml", 60, {3 + 5 * n: kind for n, kind in enumerate(kinds)})
    _check_in_page(page, release, broken)
    page.set_input_files("#nokkel", str(key))
    saved, refused = _saved_and_refused(page, tmp_path)
    expected, cli_refuses = _cli(server, broken)
    assert set(kinds) <= set(json.loads(expected)["rules"])
    assert (saved, refused) == (expected, cli_refuses) and refused is True
    # and it will not encrypt what it refuses
    page.focus("#krypter")
    page.keyboard.press("Enter")
    wait_for(lambda: page.evaluate("() => document.querySelector('#feil').textContent") != "", timeout=30)
    assert page.evaluate("() => document.querySelector('#lagre').hidden")
    cut = _extract(server, "iplos-avbrutt.xml", 20, {12: "XML"})
    _check_in_page(page, release, cut)
    assert _saved_and_refused(page, tmp_path) == _cli(server, cut)
    assert page.errors == []


def _delivered_from_the_page(server, release, page, tmp_path, register, root, count):
    """Keyboard only: ``count`` records of ``register`` checked and encrypted in the page, the container verified,
    nothing fetched, no ID number in the DOM; then uploaded, delivered once and opened by ``ssb open``, whose data
    file holds the header and every record exactly as the CLI's own split gives them (CPython is the reference).
    ``root`` is the document element. Gives the opened rows and the extract's records."""
    extract = _extract(server, f"{register.lower()}.xml", count, register=register)
    container = _walk(page, release, extract, server.home / "demo" / "unit.key", register)
    manifest = _verified(server, container)
    assert manifest.records == count and manifest.register == register
    fetched = [url for url in page.requests if not url.startswith("blob:null/")]
    assert fetched == [(release / "krypteringsmodul.html").as_uri()], "the page fetched something"
    assert page.errors == []
    parsed = load_profile(register, YEAR).open_extract(io.BytesIO(extract.read_bytes()))
    records = [item for item in parsed.scan() if isinstance(item, Record)]
    numbers = {value for r in records for _, value in r.ids if value}
    html = page.content()
    assert not [n for n in numbers if n in html], "an ID number is in the DOM"

    code, body = put(server, container)
    assert code == 201, body
    reference = body["reference"]
    wait_for(lambda: uploads(server.home)[reference]["status"] == "delivered", timeout=180)
    _delivered_once(server.home, reference)
    rows = ssb_open(server.home, server.home / "ssb-inbox" / f"{reference}.tar", tmp_path / "opened")
    assert len(rows) == count
    dat = (tmp_path / "opened" / f"{register}-{YEAR}.dat").read_text(encoding="utf-8").splitlines()
    assert dat[0] == f"<{root}>" and dat[-1] == f"</{root}>"
    assert dat[1:2] == parsed.header_lines
    assert sorted(dat[2:-1]) == sorted(r.data for r in records)
    return rows, records


def test_keyboard_only_iplos_container_is_delivered_and_opened(server, release, page, tmp_path):
    rows, _ = _delivered_from_the_page(server, release, page, tmp_path, "IPLOS", "Iplos", RECORDS)
    assert {row["Fodselsnummer_class"] for row in rows} <= {"FNR", "DNR", "HNR", "SYNTHETIC", "PLACEHOLDER"}


def _tab_to(page, selector):
    """Tab forward until ``selector`` has the focus (the keyboard alone)."""
    for _ in range(60):
        if page.evaluate(f"() => document.activeElement === document.querySelector('{selector}')"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _saved_by_keyboard(page, tmp_path):
    """The report the page saves, reached with Tab and saved with Enter (its bytes), and whether it refuses."""
    _tab_to(page, "#lagre-rapport")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    return saved.read_bytes(), page.evaluate("() => document.querySelector('#feil').textContent !== ''")


#: The errors of the broken 15F extract (the generator's kinds; each is one or more of SSB's controls).
BROKEN_15F = ["SCHEMA", "ID_IN_DATA", "CODE", "DATE", "MANDATORY", "BYDEL", "ID_INVALID", "ID_MISSING"]
BROKEN_15F += ["DUPLICATE_ID", "DUPLICATE"]


@pytest.fixture(scope="module")
def broken_15f(server):
    """A 15F extract of 80 individer with the :data:`BROKEN_15F` errors (SSB's controls Individ01, 03, 05, 09, 12
    among others)."""
    return _extract(server, "15f-feil.xml", 80, {3 + 5 * n: k for n, k in enumerate(BROKEN_15F)}, register="15F")


def test_keyboard_only_the_page_checks_15f_as_the_cli_does(server, release, broken_15f, page, tmp_path):
    """From ``file://``, keyboard only: the report the page saves is byte for byte the CLI's, on a clean 15F extract
    and on a broken one (which it refuses, as the CLI does, in Bokmål and Nynorsk)."""
    key = server.home / "demo" / "unit.key"
    clean = _extract(server, "15f-ren.xml", 400, register="15F")
    _walk(page, release, clean, key, "15F", encrypt=False)
    saved, refused = _saved_by_keyboard(page, tmp_path)
    assert (saved, refused) == _cli(server, clean, "15F") and refused is False
    assert json.loads(saved)["records"] == 400
    _walk(page, release, broken_15f, key, "15F", encrypt=False)
    saved, refused = _saved_by_keyboard(page, tmp_path)
    expected, cli_refuses = _cli(server, broken_15f, "15F")
    assert (saved, refused) == (expected, cli_refuses) and refused is True
    controls = {g["control"] for g in json.loads(saved)["groups"]}
    assert {"Individ01", "Individ03", "Individ05", "Individ09", "Individ12"} <= controls, controls
    # the report in Nynorsk, as `check --lang nn` words it: the controls' own Nynorsk messages, their titles
    page.click("[data-lang=nn]")
    assert "Individet har ikkje eit gyldig fødselsnummer eller D-nummer" in page.text_content("#rapport")
    assert "Individet følgjer ikkje filskildringa" in page.text_content("#rapport")  # Individ01's title
    # and it will not encrypt what it refuses
    _tab_to(page, "#krypter")
    page.keyboard.press("Enter")
    wait_for(lambda: page.evaluate("() => document.querySelector('#feil').textContent") != "", timeout=30)
    assert page.evaluate("() => document.querySelector('#lagre').hidden")
    assert page.errors == []


@pytest.mark.parametrize("lang", ["nb", "nn"])
def test_axe_finds_nothing_in_a_15f_report_and_it_fits_320_px(server, release, broken_15f, page, lang):
    """The page with the broken 15F extract's report shown (its groups' tables: SSB's barnevern controls, titled
    and worded in ``lang``, the refusal shown), walked by keyboard at 320 px: axe's WCAG 2.1 A and AA rules find
    nothing, and nothing scrolls sideways."""
    page.set_viewport_size({"width": 320, "height": 640})
    _walk(page, release, broken_15f, server.home / "demo" / "unit.key", "15F", encrypt=False)
    if lang == "nn":
        page.click("button[data-lang=nn]")
        assert "Individet følgjer ikkje filskildringa" in page.text_content("#rapport")  # Individ01's title
    assert page.evaluate("() => document.querySelector('#feil').textContent") != ""
    # a table a control (Individ01, 03, 05, 09 and 12 among them: the other test's assertion)
    assert page.eval_on_selector_all("#rapport table", "tables => tables.length") >= 5
    test_browser_module.accessible_and_fits(page, lang)


INDIVIDER = 2_000


def test_the_page_embeds_15fs_control_table_in_its_own_order(release):
    """The build sorts its embedded config's keys (reproducible bytes), but not the control table's, whose ``defs``
    and ``let`` are in the order they are computed: the page holds 15F.controls.json's table as the file has it."""
    html = (release / "krypteringsmodul.html").read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="sendemodul-config">(.*?)</script>', html, re.DOTALL)
    assert found is not None
    config = json.loads(found.group(1))
    embedded = next(p for p in config["xml_profiles"] if p["register"] == "15F")["element_controls"]
    table = Path(__file__).parent.parent / "sendemodul" / "profiles" / "15F.controls.json"
    assert json.dumps(embedded) == json.dumps(json.loads(table.read_text(encoding="utf-8")))


def test_keyboard_only_15f_container_is_delivered_and_opened(server, release, page, tmp_path):
    _, records = _delivered_from_the_page(server, release, page, tmp_path, "15F", "Barnevern", INDIVIDER)
    numbers = {value for r in records for _, value in r.ids if value}
    assert len(numbers) > INDIVIDER * 0.9 and any(len(n) == 12 for n in numbers)  # fødselsnummer and DUF numbers
