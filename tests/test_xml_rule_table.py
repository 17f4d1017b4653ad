"""The XML registers in the browser module: its reader and check (sendemodul/browser/src/xml.js, xmlcheck.js, under
Node) against CPython's (xmldoc.py, xml_records.py, checker.py: the reference) on the same extracts: generated IPLOS
extracts, clean and with every kind of error the generator makes, hand-broken documents (entities, a DOCTYPE, bad
bytes, misplaced elements ...), and 15F's records and header as the Worker splits them (15F's own controls:
tests/test_15f_rule_table.py)."""

from __future__ import annotations

import base64
import datetime
import io
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.export import combined_table
from sendemodul.profiles.model import Record
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.testing.extracts import generate_extract

RUNNER = Path(__file__).parent / "support" / "run_xml_check.mjs"
YEAR = 2026
OSLO = identity.parse_unit("0301-00-958935420", YEAR)
STAVANGER = identity.parse_unit("1103-00-964965226", YEAR)
#: The parts of ``check --format json`` compared (the file's name is the page's).
REPORT_KEYS = ("format", "register", "title", "periode", "unit", "records", "result", "exit_code", "counts", "rules")
REPORT_KEYS += ("omitted", "findings", "groups")


def python_side(register: str, data: bytes, unit: identity.Unit, allow_synthetic: bool = True):
    profile = load_profile(register, YEAR)
    report = run_checks(profile, io.BytesIO(data), unit, allow_synthetic=allow_synthetic).as_dict()
    extract = profile.open_extract(io.BytesIO(data))
    rows = [[[list(i) for i in item.ids], item.data] for item in extract.scan() if isinstance(item, Record)]
    return {key: report[key] for key in REPORT_KEYS}, rows, list(extract.header_lines)


def node_side(register: str, data: bytes, unit: identity.Unit, allow_synthetic: bool = True):
    assert shutil.which("node"), "node is needed: run scripts/system-packages"
    payload = json.dumps(
        {
            "table": combined_table(YEAR),
            "unit": {"kommunenr": unit.kommunenr, "bydel": unit.bydel, "orgnr": unit.orgnr},
            "register": register,
            "periode": YEAR,
            "extract": base64.b64encode(data).decode(),
            "allowSynthetic": allow_synthetic,
        }
    )
    out = subprocess.run(
        ["node", str(RUNNER)], input=payload, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    found = json.loads(out)
    return {key: found["report"][key] for key in REPORT_KEYS}, found["rows"], found["header"]


def assert_same(register: str, data: bytes, unit: identity.Unit = OSLO, allow_synthetic: bool = True):
    ours, rows, header = python_side(register, data, unit, allow_synthetic)
    theirs, js_rows, js_header = node_side(register, data, unit, allow_synthetic)
    for a, b in zip(ours["findings"], theirs["findings"]):
        assert a == b
    assert ours == theirs
    if ours["result"] != "FATAL":
        assert rows == js_rows
        assert header == js_header
    return ours


@pytest.mark.parametrize("unit", [OSLO, STAVANGER], ids=["oslo", "stavanger"])
@pytest.mark.parametrize("allow_synthetic", [True, False], ids=["test", "production"])
def test_generated_iplos_extracts_give_the_same_report_and_rows(unit, allow_synthetic):
    profile = load_profile("IPLOS", YEAR)
    clean = assert_same("IPLOS", generate_extract(profile, unit, 200, seed=3), unit, allow_synthetic)
    assert clean["records"] == 200 and clean["exit_code"] < 2
    kinds = ["SCHEMA", "ID_IN_DATA", "CODE", "DATE", "MANDATORY", "BYDEL", "ID_INVALID", "ID_MISSING"]
    kinds += ["DUPLICATE_ID", "DUPLICATE"]
    errors = {3 + 4 * n: kind for n, kind in enumerate(kinds * 3)}
    broken = assert_same("IPLOS", generate_extract(profile, unit, 150, seed=4, errors=errors), unit, allow_synthetic)
    assert set(kinds) <= set(broken["rules"]), broken["rules"]
    cut = assert_same("IPLOS", generate_extract(profile, unit, 40, seed=5, errors={30: "XML"}), unit, allow_synthetic)
    assert cut["result"] == "FATAL" and cut["records"] == 29


def test_15f_records_and_header_split_as_the_cli_splits_them():
    """The page's reader splits 15F as the CLI (its checks: tests/test_15f_rule_table.py)."""
    profile = load_profile("15F", YEAR)
    data = generate_extract(profile, OSLO, 120, seed=6, errors={5: "SCHEMA", 9: "ID_IN_DATA"})
    _, rows, header = python_side("15F", data, OSLO)
    _, js_rows, js_header = node_side("15F", data, OSLO)
    assert len(rows) == 120 and any(len(ids) == 2 for ids, _ in rows)
    assert rows == js_rows
    assert header == js_header


HEAD = '<Iplos>\n  <Avgiver Organisasjonsnummer="958935420" Versjon="2026" Kommunenummer="0301" Kommunenavn="Oslo"/>\n'
RECORD = (
    '  <Tjenestemottaker Journalnummer="J{n}" Fodselsnummer="{fnr}" Kjonn="2" VurderingsDato="2026-03-01"'
    ' SosialDeltakelse="2" Atferd="1" Hukommelse="1" Kommunikasjon="1" Beslutninger="1" EgenHelse="1"'
    ' Husarbeid="1" Innkjop="1" LageMat="1" Spise="1" Hygiene="1" Kle="1" Toalett="1" BevegeInne="1"'
    ' BevegeUte="1" Syn="1" Horsel="1"{extra}>\n'
    '    <Tjeneste Kode="03" StartDato="2025-11-01" TimerPerUke="4"/>{inner}\n'
    "  </Tjenestemottaker>\n"
)


def record(n: int, extra: str = "", inner: str = "") -> str:
    fnr = identity.generate_fnr(datetime.date(1940, 1, n % 28 + 1), n, kind="fnr")
    return RECORD.format(n=n, fnr=fnr, extra=extra, inner=inner)


def document(*parts: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (declaration + HEAD + "".join(parts) + "</Iplos>\n").encode()


BROKEN = {
    "clean": document(record(1), record(2)),
    "doctype": b'<?xml version="1.0"?>\n<!DOCTYPE Iplos [<!ENTITY x "y">]>\n' + document(record(1), declaration=""),
    "undefined entity": document(record(1, ' Bydelsnummer="&x;"')),
    "entities and references": document(record(1, ' Bydelsnummer="&#48;&#x31;"'), record(2, inner="<!-- c -->")),
    "mismatched tag": document(record(1), "  <Tjenestemottaker>\n  </Tjeneste>\n"),
    "bad utf-8": document(record(1)).replace(b'Kommunenavn="Oslo"', b'Kommunenavn="Osl\xff"'),
    "control character": document(record(1, ' Bydelsnummer="\x01"')),
    "junk after the root": document(record(1)) + b"junk\n",
    "a second root": document(record(1)) + b"<Iplos/>\n",
    "wrong root": document(record(1)).replace(b"Iplos>", b"Other>"),
    "no header": b'<?xml version="1.0"?>\n<Iplos>\n</Iplos>\n',
    "only the header": document(),
    "header after a record": b"<Iplos>\n" + record(1).encode() + HEAD.encode()[8:] + b"</Iplos>\n",
    "a second header": document(record(1), HEAD[8:]),
    "text in the root": document(record(1), "some text\n"),
    "an unexpected element": document(record(1), "  <Annet/>\n"),
    "unclosed at the end": document(record(1))[:-9],
    "empty file": b"",
    "duplicate attribute": document(record(1, ' Kjonn="1"')),
    "unquoted attribute": document(record(1, " Bydelsnummer=01")),
    "lt in an attribute": document(record(1, ' Bydelsnummer="<"')),
    "a comment with --": document(record(1), "  <!-- a -- b -->\n"),
    "cdata, pi and text in a record": document(record(1, inner="<![CDATA[x&y]]><?pi x?>")),
    "newline and tab in attribute": document(record(1, ' Bydelsnummer="0\n\t1"'), record(2, ' Kjonn="&#10;"')),
    "unknown child and order": document(record(1, inner='<Ukjent/><Tjeneste Kode="05" StartDato="2026-01-01"/>')),
    "child text and tail": document(record(1, inner="tekst")),
    "id in text": document(record(1, inner=f"{identity.generate_fnr(datetime.date(1950, 2, 3), 7)}")),
    "namespace prefix": document(record(1, ' xmlns:a="urn:x"', '<a:Tjeneste Kode="03" StartDato="2025-11-01"/>')),
    "latin-1 declared": document(record(1), declaration='<?xml version="1.0" encoding="ISO-8859-1"?>\n').replace(
        b"Oslo", "Bærum".encode("latin-1")
    ),
    "utf-8 bom": b"\xef\xbb\xbf" + document(record(1)),
    "a misplaced declaration": b"\n" + document(record(1)),
    "crlf lines and a bad date": document(record(1), record(2, ' Bydelsnummer="ab"')).replace(b"\n", b"\r\n") + b"",
    "journalnummer that is an id": document(record(1)).replace(b'"J1"', b'"J19010112345"'),
    "an undeclared prefix": document(record(1), record(2, "", '<a:Tjeneste Kode="03" StartDato="2025-11-01"/>')),
}


def test_an_undeclared_prefix_or_an_unknown_encoding_is_a_fatal_finding_not_a_crash():
    """Both sides refuse the extract with a FATAL ``XML`` finding: a record whose prefix no ``xmlns`` declares ends
    the extract at its own line, uncounted (the CLI used to stop with a Python error); an encoding declaration with no
    codec is refused at line 1, in each side's own words."""
    undeclared = python_side("IPLOS", BROKEN["an undeclared prefix"], OSLO)[0]
    assert undeclared["records"] == 1 and undeclared["exit_code"] == 2
    assert [(f["rule"], f["line"], f["message"]) for f in undeclared["findings"]] == [
        ("XML", 7, "not well-formed XML: unbound prefix")
    ]
    unknown = document(record(1), declaration='<?xml version="1.0" encoding="x-ukjent"?>\n')
    for side in (python_side, node_side):
        report = side("IPLOS", unknown, OSLO)[0]
        assert report["result"] == "FATAL" and [(f["rule"], f["line"]) for f in report["findings"]] == [("XML", 1)]
        assert "x-ukjent" in report["findings"][0]["message"]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_hand_made_documents_give_the_same_report(case):
    assert_same("IPLOS", BROKEN[case])


def mutated(base: bytes, pieces: list[bytes], seed: int, count: int) -> list[bytes]:
    """``count`` copies of ``base``, each with one to three random changes: one of ``pieces`` inserted, bytes
    deleted, or a byte replaced (tests/test_15f_rule_table.py breaks 15F documents with it too)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            roll = rng.random()
            if roll < 0.4:
                data[at:at] = rng.choice(pieces)
            elif roll < 0.7:
                del data[at : at + rng.randint(1, 5)]
            else:
                data[at] = rng.randrange(256)
        out.append(bytes(data))
    return out


def mutations(seed: int, count: int) -> list[bytes]:
    """``count`` copies of a small document, each with one to three random changes (markup characters, references,
    comments, bad bytes and control characters inserted, bytes deleted or replaced)."""
    base = document(record(1, inner="<!-- c -->"), record(2, ' Bydelsnummer="&amp;01"'), record(3))
    pieces = [b"<", b">", b"&", b";", b'"', b"'", b"/", b"\xff", b"\xc3", b"\x00", b"\x01", b"&lt;", b"&#0;"]
    pieces += [b"&#x41;", b"<!--", b"-->", b"<?x?>", b"<![CDATA[", b"]]>", b"\r", b"\n", b" ", b"=", b"a"]
    pieces += [b"\xe2\x80\xa8", b"<a>", b"</a>", b"<!DOCTYPE x>", b'xmlns="u"', b"a:b"]
    return mutated(base, pieces, seed, count)


def test_randomly_broken_documents_are_refused_where_the_cli_refuses():
    """Every document the CLI refuses, the page refuses, and the other way round; the reports are the same but for
    a few FATAL ones where expat names a declaration or token error differently or on another line (both refuse)."""
    different = []
    cases = mutations(26, 90)
    for data in cases:
        ours = python_side("IPLOS", data, OSLO)[0]
        theirs = node_side("IPLOS", data, OSLO)[0]
        assert (ours["exit_code"] == 2) == (theirs["exit_code"] == 2), data
        if ours != theirs:
            assert ours["result"] == theirs["result"] == "FATAL", data
            different.append(data)
    assert len(different) <= 3, different
