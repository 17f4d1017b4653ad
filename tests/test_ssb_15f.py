"""15F as municipal systems write it: SSB's barnevern XSD and SSB's own test files (tests/data/ssb/, see SOURCE.md)
against the 15F profile, `sendemodul check` and `sendemodul encrypt` -> `sendemodul ssb open`."""

import csv
import datetime
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from sendemodul import identity, keydir, package, signing, ssb
from sendemodul.profiles import load_profile
from sendemodul.profiles.rules import barnevern
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.testing import extracts

SSB = Path(__file__).parent / "data" / "ssb"
DOCS = Path(__file__).parent.parent / "docs" / "profiles.md"
#: SSB's files, the unit each is for.
OK_FILES = {
    "Testfil_21_OK_2020_15F_for_3401.xml": "3401-00-944117784",
    "Testfil_22_OK_2020_15F_for_030102.xml": "0301-02-958935420",
}
OTHER_FILES = {
    "Testfil_11_ADVARSEL_2020_15F_for_3401.xml": "3401-00-944117784",
    "testfile_all_fields_set.xml": "0301-00-958935420",
}
#: The rules that say a file does not follow the schema.
STRUCTURE = {"XML", "SCHEMA", "MANDATORY", "LENGTH", "CODE", "DATE", "INTEGER"}


def ssb_file(name, periode=2026):
    """SSB's 2020 test file moved to ``periode``: ``Avgiver/@Versjon`` set to it, every date moved by as many years,
    and every fødselsnummer/D-number for a person born as many years later (new individual number and check digits;
    SSB's controls compare the dates and ages with the reporting year). Nothing else changes."""
    data = (SSB / name).read_bytes()
    assert data.count(b'Versjon="2020"') == 1 and b"-02-29" not in data
    shift = periode - 2020
    data = data.replace(b'Versjon="2020"', f'Versjon="{periode}"'.encode())
    data = re.sub(rb'="(\d{4})-(\d\d-\d\d)"', lambda m: b'="%d-%s"' % (int(m[1]) + shift, m[2]), data)
    return re.sub(rb'Fodselsnummer="(\d{11})"', lambda m: b'Fodselsnummer="%s"' % later_fnr(m[1].decode(), shift), data)


def later_fnr(fnr, years):
    """A fødselsnummer (or D-number, or SSB placeholder) like ``fnr`` for someone born ``years`` later."""
    age = barnevern.age_in(fnr, 2020)
    if age is None or identity.classify_id(fnr).id_class.name not in ("FNR", "DNR", "PLACEHOLDER"):
        return fnr.encode()  # not valid: stays as it is, as SSB's file has it
    day, month, year = int(fnr[0:2]) % 40, int(fnr[2:4]), 2020 - age + years
    if fnr[6:] in ("00100", "00200", "99999"):  # SSB placeholders
        return f"{fnr[:4]}{year % 100:02d}{fnr[6:]}".encode()
    kind = "dnr" if int(fnr[0:2]) > 40 else "fnr"
    first, own = (500 if year >= 2000 else 0), int(fnr[6:9]) % 500  # distinct people stay distinct
    for step in range(500):
        individual = first + (own + step) % 500
        new = identity.generate_fnr(datetime.date(year, month, day), individual, kind=kind)
        if new is not None:
            return new.encode()
    raise AssertionError(fnr)


def check(data, unit="0301-00-958935420", periode=2026):
    return run_checks(
        load_profile("15F", periode), io.BytesIO(data), identity.parse_unit(unit, periode), allow_synthetic=True
    )


@pytest.mark.parametrize("periode", [2025, 2026])
@pytest.mark.parametrize("name", sorted(OK_FILES))
def test_ssbs_ok_files_pass_check(name, periode):
    report = check(ssb_file(name, periode), OK_FILES[name], periode)
    assert report.exit_code in (0, 1), report.to_text()
    assert report.records == 4
    # before this profile followed the XSD: 15 SCHEMA, 2 MANDATORY and 2 DUPLICATE (Individ/@Id) findings each
    assert not [f for f in report.findings if f.rule in STRUCTURE | {"DUPLICATE"}], report.to_text()


@pytest.mark.parametrize("name", sorted(OTHER_FILES))
def test_ssbs_other_schema_valid_files_have_no_structure_findings(name):
    report = check(ssb_file(name), OTHER_FILES[name])
    assert not [f for f in report.findings if f.rule in STRUCTURE], report.to_text()


def test_the_cli_exit_code_for_ssbs_ok_file(tmp_path):
    extract = tmp_path / "bv.xml"
    extract.write_bytes(ssb_file("Testfil_22_OK_2020_15F_for_030102.xml"))
    proc = run_cli("check", "-r", "15F", "-p", 2026, "-u", "0301-02-958935420", extract, check=False)
    assert proc.returncode in (0, 1), proc.stdout
    assert "in 4 records" in proc.stdout


# ---------------------------------------------------------------------------------------------------------------------
# The XSD itself, through xmllint: the docs' example and generated extracts are valid; what it refuses, we refuse

#: xmllint (Debian's libxml2-utils, from scripts/system-packages) checks against SSB's XSD itself; missing, it fails.
needs_xmllint = pytest.mark.usefixtures("xmllint_installed")


@pytest.fixture
def xmllint_installed():
    assert shutil.which("xmllint"), "xmllint (libxml2-utils) is missing: run scripts/system-packages"


def xsd_valid(path):
    proc = subprocess.run(
        ["xmllint", "--noout", "--schema", str(SSB / "KostraBarnevern.xsd"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode == 0, proc.stderr


def docs_example():
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## 15F") :]
    return re.search(r"```xml\n(.*?)```", section, re.S).group(1)


@needs_xmllint
def test_the_docs_example_is_valid_against_ssbs_xsd_and_passes_check(tmp_path):
    path = tmp_path / "example.xml"
    path.write_text(docs_example(), encoding="utf-8")
    assert xsd_valid(path) == (True, f"{path} validates\n")
    report = check(path.read_bytes())
    assert not [f for f in report.findings if f.rule in STRUCTURE], report.to_text()


@needs_xmllint
@pytest.mark.parametrize("name", sorted(OK_FILES) + sorted(OTHER_FILES))
def test_ssbs_files_are_valid_against_ssbs_xsd(name):
    assert xsd_valid(SSB / name)[0]


@needs_xmllint
@pytest.mark.parametrize("periode", [2025, 2026])
def test_generated_extracts_are_valid_against_ssbs_xsd(tmp_path, periode):
    path = tmp_path / "generated.xml"
    unit = identity.parse_unit("0301-12-958935420", periode)
    path.write_bytes(extracts.generate_extract(load_profile("15F", periode), unit, 150, seed=periode))
    assert xsd_valid(path) == (True, f"{path} validates\n")


#: (a change to the docs' example, the rule we report): each makes the file invalid against the XSD.
BROKEN = [
    (('<Kategori Kode="3.9"/>', ""), "MANDATORY"),  # Kategori is required
    (('<Kategori Kode="3.9"/>', '<Kategori Kode="9.9"/>'), "CODE"),  # not in the XSD's list
    (('<Kategori Kode="3.9"/>', "<Kategori/>"), "MANDATORY"),  # Kode is required
    (('<Kategori Kode="3.9"/>', '<Kategori Kode="3.9" Farge="1"/>'), "SCHEMA"),  # unknown attribute
    (('<Kategori Kode="3.9"/>', '<Kategori Kode="3.9"><Kategori Kode="3.9"/></Kategori>'), "SCHEMA"),
    (
        (
            '<Lovhjemmel Lov="BVL2021" Kapittel="3" Paragraf="1"/>\n      <Kategori Kode="3.9"/>',
            '<Kategori Kode="3.9"/><Lovhjemmel Lov="BVL2021" Kapittel="3" Paragraf="1"/>',
        ),
        "SCHEMA",
    ),  # order
    (
        (
            '<Kategori Kode="3.9"/>',
            '<JmfrLovhjemmel Lov="B" Kapittel="1" Paragraf="1"/>' * 4 + '<Kategori Kode="3.9"/>',
        ),
        "SCHEMA",
    ),  # at most 3
    (('Kapittel="3"', 'Kapittel="123456"'), "LENGTH"),  # at most 5
    (("<Presisering>Presiseringstekst</Presisering>", f"<Presisering>{'x' * 1001}</Presisering>"), "LENGTH"),
    (("<Presisering>Presiseringstekst</Presisering>", "<Presisering></Presisering>"), "MANDATORY"),
    (
        ("<Presisering>Presiseringstekst</Presisering>", "<Presisering>a</Presisering><Presisering>b</Presisering>"),
        "SCHEMA",
    ),
    (('<Melder Kode="11"/>', '<Melder Kode="11">tekst</Melder>'), "SCHEMA"),  # text only in Presisering
    (('Bydelsnummer="12"', 'Bydelsnummer="12" Distriktsnummer="7"'), "LENGTH"),  # 2-3 digits
    (('Konklusjon="2"', 'Konklusjon="5"'), "CODE"),
    (
        (
            '<Undersokelse Id="U-1" StartDato="2026-01-20"/>',
            '<Undersokelse Id="U-1" StartDato="2026-01-20"/><Undersokelse Id="U-2" StartDato="2026-01-20"/>',
        ),
        "SCHEMA",
    ),  # at most 1
    (
        ("<Saksinnhold", '<Plan Id="P" StartDato="2026-01-01" Plantype="1"/><Saksinnhold'),
        "SCHEMA",
    ),  # Plan in the wrong parent
    (
        ("</Tiltak>", '</Tiltak><Flytting Id="F" SluttDato="2026-03-01"><ArsakFra Kode="1.3"/></Flytting>'),
        "MANDATORY",
    ),  # FlyttingTil is required
]


@needs_xmllint
@pytest.mark.parametrize("change, rule", BROKEN, ids=[f"{i}-{rule}" for i, (_, rule) in enumerate(BROKEN)])
def test_what_ssbs_xsd_refuses_check_refuses(tmp_path, change, rule):
    old, new = change
    text = docs_example()
    assert text.count(old) == 1
    path = tmp_path / "broken.xml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    assert not xsd_valid(path)[0]
    report = check(path.read_bytes())
    assert rule in {f.rule for f in report.findings}, report.to_text()
    assert report.exit_code == 2


# ---------------------------------------------------------------------------------------------------------------------
# End to end: SSB's OK file -> encrypt -> TPF package -> ssb open


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(OK_FILES))
def test_ssbs_ok_file_is_checked_encrypted_and_opened_at_ssb(tmp_path, name):
    """SSB's OK file, moved to 2026, through the real commands: ``sendemodul check`` exits 0 or 1, ``sendemodul
    encrypt`` makes a container with no fødselsnummer in it, the TPF's package step, and ``sendemodul ssb open``
    writes every individ with a pseudonym and the rest of the record."""
    home = tmp_path / "var"
    run_cli("admin", "init", "--dev", home=home)
    unit = OK_FILES[name]
    extract = tmp_path / "bv.xml"
    extract.write_bytes(ssb_file(name))
    fnrs = set(re.findall(rb'Fodselsnummer="(\d+)"', extract.read_bytes()))
    assert len(fnrs) == 4
    checked = run_cli("check", "-r", "15F", "-p", 2026, "-u", unit, extract, check=False)
    assert checked.returncode in (0, 1), checked.stdout + checked.stderr
    assert "in 4 records" in checked.stdout + checked.stderr
    out = tmp_path / "c.tar"
    proc = run_cli(
        "encrypt",
        "-r",
        "15F",
        "-p",
        2026,
        "-u",
        unit,
        "--signing-key",
        home / "demo/unit.key",
        extract,
        "-o",
        out,
        home=home,
    )
    assert "4 records" in proc.stdout
    raw = out.read_bytes()
    assert not [f for f in fnrs if f in raw]
    today = datetime.date.today()
    keys = keydir.load_key_dir(home / "keys")
    pkg = tmp_path / "pkg.tar"
    package.make_package(  # what the TPF's worker does with a received container
        out,
        pkg,
        tpf_identities=keydir.load_age_identities(home / "private/tpf.agekey"),
        master_key=bytes.fromhex((home / "private/pseudonym-master.key").read_text().strip()),
        environment="dev",
        key_version=1,
        tpf_signing_key=signing.load_private_key(home / "private/tpf-signing.key"),
        ssb_recipients=keys.current("ssb", today),
    )
    opened = tmp_path / "ssb"
    proc = run_cli("ssb", "open", pkg, "--identity", home / "private/ssb.agekey", "-o", opened, "--keys", home / "keys")
    assert f"{unit} 15F 2026: 4 records" in proc.stdout
    text = (opened / ssb.CSV_NAME).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    assert not [f for f in fnrs if f.decode() in text]
    # the rest of the record reaches SSB (the .dat: the records, IDs blanked): the nested elements, Presisering text
    dat = next(opened.glob("*.dat")).read_text(encoding="utf-8")
    assert "<Lovhjemmel " in dat and "<Kategori " in dat and "<Presisering>Presiseringstekst</Presisering>" in dat
    assert not [f for f in fnrs if f.decode() in dat]
    assert all(r["Fodselsnummer_pseudonym"] for r in rows) and len({r["Fodselsnummer_pseudonym"] for r in rows}) == 4
    if unit.startswith("0301"):
        assert "Gamle Oslo" in text
