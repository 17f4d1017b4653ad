"""15F in the browser module: SSB's barnevern controls from the table (sendemodul/profiles/15F.controls.json, as
``sendemodul profiles export`` carries it in the 15F profile) run by the page's interpreter
(sendemodul/browser/src/elementrules.js, with barnevern.js's facts and xmlcheck.js's wiring, under Node) against
CPython's ``check --format json`` (the reference) on the same extracts: generated ones, clean and broken, every
SSB-derived case of tests/test_ssb_agreement_15f.py, hand-made individer that fire every control of the table, and
seeded random changes of 15F documents; and the interpreter's own load errors."""

from __future__ import annotations

import base64
import copy
import datetime
import gzip
import io
import json
import random
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from test_ssb_agreement_15f import (
    CASES,
    DUF,
    FNR,
    JMFR,
    OMSORG,
    avgiver,
    doc,
    fly,
    fnr_aged,
    ind,
    mel,
    oslo,
    pla,
    til,
    und,
    unit_and_file,
)
from test_xml_rule_table import mutated

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.export import combined_table
from sendemodul.profiles.model import Record
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.testing.extracts import generate_extract

SUPPORT = Path(__file__).parent / "support"
YEAR = 2026
OSLO = identity.parse_unit("0301-00-958935420", YEAR)
KONGSVINGER = identity.parse_unit("3401-00-944117784", YEAR)
#: The parts of ``check --format json`` compared (the file's name is the page's).
REPORT_KEYS = ("format", "register", "title", "periode", "unit", "records", "result", "exit_code", "counts", "rules")
REPORT_KEYS += ("omitted", "findings", "groups")


def node(runner: str, payload: dict[str, Any]) -> Any:
    assert shutil.which("node"), "node is needed: run scripts/system-packages"
    out = subprocess.run(
        ["node", str(SUPPORT / runner)], input=json.dumps(payload), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    """The year's export, as the page embeds it."""
    return combined_table(YEAR)


@pytest.fixture(scope="module")
def controls(table) -> dict[str, Any]:
    """15F's control table as the export carries it."""
    profile = next(p for p in table["xml_profiles"] if p["register"] == "15F")
    return profile["element_controls"]


def as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()


def cpython(data: bytes, unit: identity.Unit) -> tuple[dict[str, Any], list[Any], list[str]]:
    """``check --format json``'s report (the compared keys), the records' [ids, data] and the header lines."""
    profile = load_profile("15F", YEAR)
    report = run_checks(profile, io.BytesIO(data), unit).as_dict()
    extract = profile.open_extract(io.BytesIO(data))
    rows = [[[list(i) for i in item.ids], item.data] for item in extract.scan() if isinstance(item, Record)]
    return {key: report[key] for key in REPORT_KEYS}, rows, list(extract.header_lines)


def page(table: dict[str, Any], extracts: list[tuple[bytes, identity.Unit]]) -> list[dict[str, Any]]:
    """The page's check of each extract (one Node for all): {report, rows, header}."""
    payload = {
        "table": table,
        "register": "15F",
        "periode": YEAR,
        "extracts": [
            {
                "extract": base64.b64encode(data).decode(),
                "unit": {"kommunenr": unit.kommunenr, "bydel": unit.bydel, "orgnr": unit.orgnr},
            }
            for data, unit in extracts
        ],
    }
    return node("run_xml_checks.mjs", payload)


def assert_alike(table, extracts: list[tuple[bytes, identity.Unit]]) -> list[dict[str, Any]]:
    """Both sides give the same report (and, where it is not FATAL, the same split) for each extract; CPython's
    reports."""
    theirs = page(table, extracts)
    reports = []
    for (data, unit), found in zip(extracts, theirs, strict=True):
        ours, rows, header = cpython(data, unit)
        js = {key: found["report"][key] for key in REPORT_KEYS}
        for a, b in zip(ours["findings"], js["findings"]):
            assert a == b, data
        assert ours == js, data
        if ours["result"] != "FATAL":
            assert (rows, header) == (found["rows"], found["header"]), data
        reports.append(ours)
    return reports


# -- generated extracts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [OSLO, KONGSVINGER], ids=["oslo", "kongsvinger"])
def test_generated_15f_extracts_give_the_same_report_and_rows(table, unit):
    profile = load_profile("15F", YEAR)
    kinds = ["SCHEMA", "ID_IN_DATA", "CODE", "DATE", "MANDATORY", "BYDEL", "ID_INVALID", "ID_MISSING"]
    kinds += ["DUPLICATE_ID", "DUPLICATE"]
    errors = {3 + 4 * n: kind for n, kind in enumerate(kinds * 3)}
    clean, broken, cut = assert_alike(
        table,
        [
            (generate_extract(profile, unit, 300, seed=3), unit),
            (generate_extract(profile, unit, 150, seed=4, errors=errors), unit),
            (generate_extract(profile, unit, 40, seed=5, errors={30: "XML"}), unit),
        ],
    )
    assert clean["records"] == 300 and clean["exit_code"] < 2
    assert {"Individ01", "Individ03", "Individ04", "Individ05", "Individ12"} <= {g["control"] for g in broken["groups"]}
    assert cut["result"] == "FATAL" and cut["records"] == 29


# -- SSB's cases -----------------------------------------------------------------------------------------------------


def test_every_ssb_derived_case_gives_the_same_report(table):
    """Every case of tests/test_ssb_agreement_15f.py (SSB's unit tests and test files, rebuilt as 15F files)."""
    extracts = []
    for case in CASES:
        unit, text = unit_and_file(case)
        extracts.append((as_bytes(text), identity.parse_unit(unit, YEAR)))
    reports = assert_alike(table, extracts)
    assert len(reports) == len(CASES) > 250
    assert sum(r["exit_code"] == 2 for r in reports) > 100


# -- every control of the table ----------------------------------------------------------------------------------

OLD_FNR = fnr_aged(30)  # Individ07, Individ08, Lovhjemmel03
ADULT = fnr_aged(20)
CHILD = fnr_aged(12)  # Tiltak05, Tiltak06
BAD_FNR = "12345612345"
PLACEHOLDER = "02011099999"
LOV21 = '<Lovhjemmel Lov="BVL2021" Kapittel="5" Paragraf="1" Bokstav="a"/>'
KAP0 = '<Lovhjemmel Lov="BVL" Kapittel="0" Paragraf="4"/>'

#: Individer, each firing some controls (the union fires every control of the table; the test says which missed).
EVERY_CONTROL = [
    ind(pla(start="1997-05-01"), start="1997-01-01", end="2050-01-01"),  # Individ01a (several kinds)
    ind(mel("", start="1997-03-01", end="2051-01-01") + pla(evaluert="2051-01-01") + til(start="1990-01-01")),
    ind(pla() + fly("1997-02-02")),  # Individ01a on a Flytting, Flytting02f
    ind(fnr=BAD_FNR),  # Individ03, 11, 12
    ind(fnr=None, duf="202412345611"),  # Individ03 (DUF), 19
    ind(fnr=None, duf=None),  # Individ03 (none)
    ind(fnr=PLACEHOLDER),  # Individ11 (placeholder)
    ind(fnr=FNR, duf="202412345611"),  # Individ19
    ind(end="2024-06-01", closed="1"),  # Individ02b
    ind(body=""),  # Individ06
    ind(extra=' Bydelsnummer="14"'),  # Individ10 (Oslo, no Bydelsnavn)
    ind(
        mel(end="2026-06-30", konk="2")  # Melding02c, 03, 04, 05
        + mel(und(end="2027-01-10"), end="2026-06-16", konk="1")  # Undersokelse02b, 02c
        + pla(end="2026-07-01")
        + til(end="2027-02-01")
        + fly("2026-07-01"),
        end="2026-06-20",
        closed="1",
    ),
    ind(
        mel(und(start="2026-06-01"), start="2026-06-01")  # Melding02e, Undersokelse02e
        + pla(start="2026-06-01")
        + til(start="2026-06-01"),
    ),
    ind(mel(und()) + pla() + til(), closed="1"),  # *02d: no sluttdato
    ind(mel(und(end="2026-06-16"), end="2026-06-16") + pla(end="2026-06-16") + til(end="2026-06-16"), closed="1"),
    ind(
        mel(und(end="2026-12-31"), end="2026-06-16") + pla(end="2027-01-02") + til(end="2027-01-02"),
        end="2027-01-01",
        closed="1",
    ),
    ind(
        mel(
            '<Melder Kode="22"/><Saksinnhold Kode="18"/>'
            + und('<Vedtaksgrunnlag Kode="19"/>', konk="5", end="2026-07-02"),
            end="2026-06-16",
            konk="2",
        )
        + til(kode="1.99", after='<Opphevelse Kode="4"/>')
    ),  # Melder02, Saksinnhold02, Vedtak02, Undersokelse03, Tiltak07, Tiltak08
    ind(mel(und(end="2026-07-02")) + mel(und(konk="1"))),  # Undersokelse04, Undersokelse07
    ind(mel(und(start="2026-06-15"))),  # Undersokelse08
    ind(til(lov=KAP0) + til(start="2023-02-01", lov='<Lovhjemmel Lov="BVL2022" Kapittel="4" Paragraf="4"/>')),
    ind(til(start="2022-06-01", lov=LOV21, jmfr=JMFR), start="2022-01-01"),  # Tiltak24 (before 2023)
    ind(til(lov=OMSORG, end="2026-06-30")),  # Tiltak04
    ind(til(kode="1.1", start="2026-06-15") + til(kode="2.1", start="2026-06-16") + til(kode="8.2")),  # Tiltak09
    ind(pla(), fnr=OLD_FNR),  # Individ07, Individ08
    ind(til(lov=OMSORG), fnr=ADULT),  # Lovhjemmel03
    ind(til(kode="4.1") + til(kode="4.2"), fnr=CHILD),  # Tiltak05, Tiltak06
]


#: Individer and headers for the wiring around the controls (xml_records.py): identifiers blank, not 11 (12) digits,
#: padded, both bad, an ID number in data (the individ gets no control), Avgiver's patterns and blanks.
WIRING = [
    doc(ind(fnr=" ")),
    doc(ind(fnr=None, duf="")),
    doc(ind(fnr="1234")),
    doc(ind(fnr=None, duf="2024123456101")),
    doc(ind(fnr=f" {FNR} ", duf=f" {DUF}")),
    doc(ind(fnr=BAD_FNR, duf="202412345611")),
    doc(ind(fnr="0101", duf="1")),
    doc(ind(extra=f' Bydelsnavn="{ADULT}"')),
    doc(ind(end="2020-01-01"), head=avgiver(versjon=" 2026")),
    doc(ind(), head=avgiver(kommunenr="3401 ", navn="\u3000")),
    doc(ind(), head=avgiver(orgnr="94411778x")),
    doc(ind(), ind(), head=avgiver(versjon="2025")),
]


def test_hand_made_individer_fire_every_control_of_the_table_alike(table, controls):
    extracts = [(as_bytes(text), KONGSVINGER) for text in WIRING]
    extracts += [(as_bytes(doc(individ)), KONGSVINGER) for individ in EVERY_CONTROL]
    extracts += [(as_bytes(oslo(individ)), OSLO) for individ in EVERY_CONTROL]
    extracts.append((as_bytes(doc(*EVERY_CONTROL)), KONGSVINGER))
    reports = assert_alike(table, extracts)
    fired = {f["control"] for r in reports for f in r["findings"]}
    ids = set()

    def collect(items):
        for item in items:
            if "id" in item:
                ids.add(item["id"])
            collect(item.get("controls", []))

    collect(controls["controls"])
    assert len(ids) > 40
    assert ids <= fired, sorted(ids - fired)


# -- the stored individer of the table's own tests ------------------------------------------------------------

EXPECTED = Path(__file__).parent / "data" / "barnevern_controls_expected.json.gz"


def test_the_interpreter_gives_the_stored_findings_of_every_individ(controls):
    """The individer that tests/test_element_table.py keeps with the findings the hand-written controls gave them
    (SSB-derived, SSB's files, generated, mutated and random ones, each with facts of its own, two years): the
    page's interpreter gives each the same findings, in the same order, with the same Bokmål and Nynorsk messages."""
    with gzip.open(EXPECTED, "rt", encoding="utf-8") as f:
        stored = json.load(f)
    assert len(stored) > 1000
    for year in sorted({case["facts"][0] for case in stored}):
        cases = [case for case in stored if case["facts"][0] == year]
        facts = [dict(zip(("periode", "kommunenr", "age", "fnr", "duf"), case["facts"])) for case in cases]
        payload = {
            "table": controls,
            "periode": year,
            "cases": [{"element": element(c["individ"]), "facts": f} for c, f in zip(cases, facts, strict=True)],
        }
        found = node("run_element_rules.mjs", payload)
        assert "error" not in found, found
        for case, findings in zip(cases, found["findings"], strict=True):
            assert findings == case["findings"], case["individ"]


# -- random changes ------------------------------------------------------------------------------------------------

DATES = ["1997-12-31", "1998-01-01", "2024-12-31", "2025-12-31", "2026-01-01", "2026-06-15", "2026-06-29"]
DATES += ["2026-06-30", "2026-07-01", "2026-12-31", "2027-01-01", "2049-12-31", "2050-01-01", "2026-02-30", "x"]
DATES += ["2022-12-31", "2023-01-01", "20260615xx", "2026-W25-1", " 2026-06-15 ", ""]
CODES = {
    "Kategori": ["1.1", "1.99", "2.3", "3.7", "3.9", "4.1", "4.2", "8.2", "8.99", "9.9"],
    "Melder": ["1", "22", "23"],
    "Saksinnhold": ["1", "18", "19"],
    "Vedtaksgrunnlag": ["1", "18", "19"],
    "Opphevelse": ["1", "4"],
}
#: Elements that may be left out or repeated (removing another one only says MANDATORY: no control runs).
OPTIONAL = {"Melding", "Plan", "Tiltak", "Flytting", "Undersokelse", "Melder", "Saksinnhold", "Vedtaksgrunnlag"}
OPTIONAL |= {"Opphevelse", "JmfrLovhjemmel", "Presisering"}
LAWS = [("BVL", "4", "12", None, None), ("BVL", "4", "8", "2", None), ("BVL2021", "5", "1", None, "c")]
LAWS += [("BVL", "0", "4", None, None), ("BVL2021", "3", "0", None, None), ("BVLX", "4", "4", None, None)]


def mutate(root: ET.Element, rng: random.Random, people: list[str]) -> None:
    """One random change to a 15F document: a date, a code, a law, a conclusion, a Presisering, an element
    removed or copied, an identifier swapped."""
    individer = root.findall("Individ")
    individ = rng.choice(individer)
    elements = list(individ.iter())
    element = rng.choice(elements)
    roll = rng.random()
    if roll < 0.3:
        names = [n for n in ("StartDato", "SluttDato", "EvaluertDato") if n in element.attrib or rng.random() < 0.3]
        name = rng.choice(names or ["SluttDato"])
        value = rng.choice(DATES)
        if element.tag in ("Individ", "Melding", "Undersokelse", "Plan", "Tiltak", "Flytting") or rng.random() < 0.1:
            if value:
                element.set(name, value)
            else:
                element.attrib.pop(name, None)
    elif roll < 0.45:
        kind = rng.choice(sorted(CODES))
        for found in individ.iter(kind):
            found.set("Kode", rng.choice(CODES[kind]))
    elif roll < 0.55:
        for found in individ.iter("Lovhjemmel"):
            lov, kapittel, paragraf, ledd, bokstav = rng.choice(LAWS)
            found.attrib.update(Lov=lov, Kapittel=kapittel, Paragraf=paragraf)
            for name, value in (("Ledd", ledd), ("Bokstav", bokstav)):
                if value is None:
                    found.attrib.pop(name, None)
                else:
                    found.set(name, value)
    elif roll < 0.65:
        for found in individ.iter():
            if found.tag in ("Melding", "Undersokelse") and rng.random() < 0.5:
                found.set("Konklusjon", rng.choice(["1", "2", "3", "5"]))
        individ.set("Avslutta3112", rng.choice(["1", "2"]))
    elif roll < 0.75:
        parents = [e for e in elements if any(c.tag in OPTIONAL for c in e)]
        parent = rng.choice(parents or [individ])
        children = [c for c in parent if c.tag in OPTIONAL]
        if children and rng.random() < 0.5:
            parent.remove(rng.choice(children))
        elif children:
            child = rng.choice(children)
            parent.insert(list(parent).index(child) + 1, copy.deepcopy(child))
    elif roll < 0.9:
        individ.attrib.pop("Fodselsnummer", None)
        individ.attrib.pop("DUFnummer", None)
        which = rng.random()
        if which < 0.7:
            individ.set("Fodselsnummer", rng.choice(people))
        elif which < 0.85:
            individ.set("DUFnummer", rng.choice([DUF, "202412345611", "2024123456"]))
        else:
            individ.set("Fodselsnummer", rng.choice([BAD_FNR, PLACEHOLDER, "1234", " "]))
    else:
        for found in individ.iter("Presisering"):
            found.text = rng.choice(["", " ", "Tekst"])


def test_random_changes_to_15f_documents_give_the_same_report(table):
    profile = load_profile("15F", YEAR)
    rng = random.Random(1526)
    people = [fnr_aged(age) for age in (0, 5, 7, 11, 12, 17, 18, 19, 25, 26, 40)] + [FNR, PLACEHOLDER]
    extracts = []
    for n in range(80):
        unit = OSLO if n % 3 == 0 else KONGSVINGER
        root = ET.fromstring(generate_extract(profile, unit, 6, seed=100 + n))
        for _ in range(rng.randint(1, 8)):
            mutate(root, rng, people)
        extracts.append((ET.tostring(root, encoding="utf-8", xml_declaration=True), unit))
    reports = assert_alike(table, extracts)
    fired = {f["control"] for r in reports for f in r["findings"]}
    assert len(fired) > 30, sorted(fired)


# -- the interpreter's load errors ------------------------------------------------------------------------------


def element(xml: str) -> dict[str, Any]:
    """An element as the page's reader gives it."""

    def convert(e: ET.Element) -> dict[str, Any]:
        return {
            "tag": e.tag,
            "attrs": [list(a) for a in e.attrib.items()],
            "children": [convert(c) for c in e],
            "text": e.text,
            "tail": None,
        }

    return convert(ET.fromstring(xml))


FACTS = {"periode": YEAR, "kommunenr": "3401", "age": 16, "fnr": "mod11", "duf": "none"}


def small(*controls: Any, defs: Any = None, macros: Any = None) -> dict[str, Any]:
    return {
        "register": "15F",
        "periodes": [2025, 2026],
        "titles": {},
        "record_controls": {},
        "header_controls": {},
        "header_patterns": {},
        "macros": macros or {},
        "defs": defs or {},
        "controls": list(controls),
    }


def control(when: Any, nb: Any = "x", id: str = "X01", **more: Any) -> dict[str, Any]:
    return {"id": id, "severity": "ERROR", "field": None, "when": when, "message": {"nb": nb, "nn": nb}, **more}


@pytest.mark.parametrize(
    ("table_", "error"),
    [
        (small(control(["frobnicate", 1])), 'controls[0] (X01): unknown operator "frobnicate"'),
        (small(control(["not", 1, 2])), 'controls[0] (X01): "not" takes 1 argument(s), not 2'),
        (small(control(["if", True, 1])), 'controls[0] (X01): "if" takes 3 argument(s), not 2'),
        (small(control(["var", "later"]), defs={}), 'controls[0] (X01): "later" is used before it is defined'),
        (small(defs={"a": ["var", "b"], "b": 1}), 'defs.a: "b" is used before it is defined'),
        (small(control(True, "{nobody} here")), "controls[0] (X01): the message names {nobody}, which is not visible"),
        (small(control(True, "nr. {number}")), "controls[0] (X01): the message names {number}, which is not visible"),
        (small({**control(True), "severity": "FATAL"}), 'controls[0] (X01): unknown severity "FATAL"'),
        (small(control(["some_after", True])), 'controls[0] (X01): "some_after" outside a group'),
        (
            small(control(["macro", "a"]), macros={"a": ["macro", "b"], "b": ["not", ["macro", "a"]]}),
            'macros.b: macro "a" uses itself (a macro cycle)',
        ),
        (small(control(["macro", "none"])), 'controls[0] (X01): no macro "none"'),
        (
            small({"each": "Tiltak", "let": {"a": 1}, "controls": [control(True, let={"a": 2})]}),
            'controls[0].controls[0] (X01): "a" is defined twice',
        ),
        (small(control(True, let={"age": 2})), 'controls[0] (X01): "age" is defined twice'),
        (small(control(True, let={"s": 2}), defs={"s": 1}), 'controls[0] (X01): "s" is defined twice'),
        (small(control(["ymd", 2026, 2, 30])), 'controls[0] (X01): ["ymd",2026,2,30] is not a date'),
        (small(control(["in", "a", ["b"]])), 'controls[0] (X01): "in" wants ["set", text, ...] as its second argument'),
        (small(control(True, id="")), "controls[0]: a control's id is a text"),
        (small({**control(True), "message": {"nb": "x"}}), "controls[0] (X01): a message is"),
        (small(control(True, "a } alone")), "controls[0] (X01): a single } in a message"),
        (small({"each": {"path": "Tiltak"}, "controls": [control(True)]}), 'controls[0]: "each" is a path or {"tags"'),
        (small({"each": "Tiltak", "controls": []}), 'controls[0]: a group has "each" and "controls" (not empty)'),
        (small({**control(True), "iff": True}), 'controls[0] (X01): unknown keys ["iff"]'),
        (small(control(True, let={"number": 1})), 'controls[0] (X01): "number" is defined twice'),
        ({**small(), "periodes": [2025]}, "does not list the reporting year 2026"),
    ],
)
def test_a_table_that_does_not_load_says_why_naming_the_control(table_, error):
    found = node("run_element_rules.mjs", {"table": table_, "cases": []})
    assert found.get("error", "").startswith(f"15F.controls.json {error}"), found


def test_the_operators_and_groups_as_the_spec_says():
    """Each operator, groups (number per tag, nested, each on a control), let, defs, macros, some_after, some and
    the messages, on one small individ."""
    individ = element(
        '<Individ StartDato=" 2026-01-10 " Avslutta3112="1">'
        '<Melding StartDato="2026-01-01" SluttDato="2026-01-20"><Melder Kode="22"><Presisering> </Presisering>'
        "</Melder></Melding>"
        '<Plan StartDato="20260115xx"/>'
        '<Tiltak StartDato="2026-W02-1"><Kategori Kode="1.2"/><JmfrLovhjemmel Lov="A"/><JmfrLovhjemmel Lov="B"/>'
        '</Tiltak><Tiltak StartDato="2026-03-01"><Kategori Kode="2.1"/></Tiltak>'
        '<Tiltak StartDato="2026-02-30"><Kategori Kode="1.1"/></Tiltak>'
        "</Individ>"
    )
    rules = small(
        control(["==", ["var", "start"], ["ymd", 2026, 1, 10]], "start {start} ({y})", id="A", let={"y": ["year"]}),
        control(["and", ["null", ["date", "2026-02-30"]], ["==", ["year_of", ["var", "start"]], 2026]], "{age}", "B"),
        control(["or", False, ["==", ["count", "Tiltak"], 3]], "{fnr}/{duf}/{kommunenr}", id="C"),
        control(["!=", ["tag"], "Individ"], id="NEVER"),
        control(["coalesce", None, ["blank", ["text", "Melding/Melder/Presisering"]]], id="D"),
        control(["filled", ["attr", "Kode", "Melding/Melder"]], ["if", ["var", "closed"], "closed", "open"], id="E"),
        control(["starts", ["attr", "Kode", "Tiltak/Kategori"], "2.", "1."], "{closed} {none}", id="F"),
        control(["in", ["attr", "Avslutta3112"], ["set", "1", "2"]], id="G"),
        {
            "each": {"tags": ["Individ", "Melding", "Tiltak", "Kategori"]},
            "controls": [control(True, "{number} {tag}", id="H", let={"tag": ["tag"]})],
        },
        {
            "each": "Tiltak",
            "let": {"own": ["date", ["attr", "StartDato"]]},
            "controls": [
                control(
                    ["some_after", ["<", ["-", ["date", ["attr", "StartDato"]], ["var", "own"]], 60]],
                    "{number}: {own} +{gap}",
                    id="I",
                    let={"gap": ["-", ["max", ["var", "own"], 5], ["min", ["var", "start"], ["var", "own"]]]},
                ),
                control(["some", "JmfrLovhjemmel", ["==", ["attr", "Lov"], "B"]], "{number}", id="J"),
                {"each": "Kategori", "controls": [control(True, "{number} in {own}", id="K")]},
            ],
        },
        control(["macro", "plan_date"], id="L", each="Plan"),
        control(["and", [">=", 3, 2], ["<=", 2, 2], [">", "b", "a"], ["not", ["<", None, 1]]], id="M"),
        control(["null", ["+", ["var", "age"], None]], "{age}", id="N"),
        defs={"start": ["date", ["attr", "StartDato"]], "closed": ["==", ["attr", "Avslutta3112"], "1"], "none": None},
        macros={
            "first": ["date", ["attr", "StartDato"]],
            "plan_date": ["==", ["macro", "first"], ["ymd", 2026, 1, 15]],
        },
    )
    found = node("run_element_rules.mjs", {"table": rules, "cases": [{"element": individ, "facts": FACTS}]})
    assert "error" not in found, found
    start, w02 = datetime.date(2026, 1, 10).toordinal(), datetime.date(2026, 1, 5).toordinal()
    assert [f[:1] + f[3:4] for f in found["findings"][0]] == [
        ["A", f"start {start} (2026)"],
        ["B", "16"],
        ["C", "mod11/none/3401"],
        ["D", "x"],
        ["E", "closed"],
        ["F", "true "],
        ["G", "x"],
        ["H", "1 Individ"],
        ["H", "1 Melding"],
        ["H", "1 Tiltak"],
        ["H", "1 Kategori"],
        ["H", "2 Tiltak"],
        ["H", "2 Kategori"],
        ["H", "3 Tiltak"],
        ["H", "3 Kategori"],
        ["I", f"1: {w02} +{w02 - w02}"],
        ["J", "1"],
        ["K", f"1 in {w02}"],
        ["K", f"1 in {datetime.date(2026, 3, 1).toordinal()}"],
        ["K", "1 in "],
        ["L", "x"],
        ["M", "x"],
        ["N", "16"],
    ]
    assert found["ids"] == [*sorted("ABCDEFGHIJKLMN"), "NEVER"]


def test_randomly_broken_15f_bytes_are_refused_where_the_cli_refuses(table):
    """Bytes inserted, deleted or replaced in a 15F document (markup, references, bad bytes): the page refuses where
    the CLI refuses, and every report that is not FATAL is the CLI's (a FATAL one may word or place expat's error
    differently, as for IPLOS in tests/test_xml_rule_table.py)."""
    base = as_bytes(doc(*EVERY_CONTROL[10:16]).replace('Saksbehandler="S"', 'Saksbehandler="S &amp; T"'))
    pieces = [b"<", b">", b"&", b";", b'"', b"/", b"\xff", b"\x00", b"&lt;", b"&#x41;", b"<!--", b"-->", b"\n", b" "]
    pieces += [b"=", b"a", b"1", b"-", b"<Plan/>", b"</Tiltak>", b'xmlns="u"', b"a:b"]
    cases = mutated(base, pieces, 15, 90)
    theirs = page(table, [(data, KONGSVINGER) for data in cases])
    different = 0
    for data, found in zip(cases, theirs, strict=True):
        ours = cpython(data, KONGSVINGER)[0]
        js = {key: found["report"][key] for key in REPORT_KEYS}
        assert (ours["exit_code"] == 2) == (js["exit_code"] == 2), data
        if ours != js:
            assert ours["result"] == js["result"] == "FATAL", data
            different += 1
    assert different <= 3
    assert sum(r["report"]["result"] != "FATAL" for r in theirs) > 10


#: Texts for ``["date", x]``: ISO dates and what CPython's date.fromisoformat also reads in 10 characters (the week
#: forms, and a date with anything after it), impossible dates, and texts of other lengths or not ASCII.
DATE_TEXTS = ["2026-01-01", "2024-02-29", "2026-02-29", "2026-13-01", "2026-00-10", "0000-01-01", "0001-01-01"]
DATE_TEXTS += ["9999-12-31", "2026-W01-1", "2026-W53-1", "2020-W53-7", "2026-W00-1", "2026-W01-8", "2026W011xx"]
DATE_TEXTS += ["20260101xx", "2026-0101x", "202601-01x", "2026-1-01 ", "2026/01/01", "２０２６-01-01", "2026-01-1é"]
DATE_TEXTS += ["2026-01-01 ", "26-01-01", "", "2026-1-1", "+026-01-01", "2026-01-0a", "2026-W1-12x", "2026W01xxx"]


def test_date_reads_what_cpython_reads():
    def python(text: str) -> int | None:
        try:
            return datetime.date.fromisoformat(text).toordinal() if len(text) == 10 else None
        except ValueError:
            return None

    controls = [control(True, "{d}", f"D{i}", let={"d": ["date", text]}) for i, text in enumerate(DATE_TEXTS)]
    found = node(
        "run_element_rules.mjs", {"table": small(*controls), "cases": [{"element": element("<I/>"), "facts": FACTS}]}
    )
    assert "error" not in found, found
    shown = [f[3] for f in found["findings"][0]]
    assert shown == ["" if python(t) is None else str(python(t)) for t in DATE_TEXTS]
    assert sum(python(t) is not None for t in DATE_TEXTS) >= 8
