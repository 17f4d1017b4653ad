"""The rule tables of 11F and 11CF: CPython's compiled controls (the reference) and the browser module's interpreter
(sendemodul/browser/src/rules.js, under Node) give the same findings on the same records: the SSB-derived cases of
test_ssb_sosial, seeded random records with odd values in every field, and a broken extract that breaks many
controls. Also: the table's checks, and ``sendemodul profiles export``."""

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
from conftest import run_cli
from test_ssb_sosial import BASE, CASES, OSLO, STAVANGER, case_values, render, valid_duf

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.export import combined_table
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.profiles.rules.fields import Context, FieldRule
from sendemodul.profiles.rules.report import MAX_PER_RULE
from sendemodul.profiles.rules.rule_table import ControlTable, TableError, load_table
from sendemodul.profiles.rules.sosial_ids import ssb_control

RUNNER = Path(__file__).parent / "support" / "run_rules.mjs"
YEAR = 2026


def values_of(register: str, line: str) -> dict[str, str]:
    """A record's values as the checker hands them to the controls: every field's text, padding stripped."""
    profile = load_profile(register, YEAR)
    return {spec.name: line[spec.span[0] : spec.span[1]].strip(" ") for spec in profile.field_specs}


def python_findings(register: str, records: list[dict[str, str]], year: int = YEAR) -> list[list[dict[str, str]]]:
    profile = load_profile(register, year)
    unit = OSLO if register == "11F" else STAVANGER
    table = ControlTable(profile, Context(profile, identity.parse_unit(str(unit), year)))
    return [
        [
            {"severity": severity.name, "id": cid, "field": field, "message": message}
            for severity, cid, field, message in table.violations(values)
        ]
        for values in records
    ]


def node_findings(register: str, records: list[dict[str, str]], year: int = YEAR) -> list[list[dict[str, str]]]:
    assert shutil.which("node"), "node is needed: run scripts/system-packages"
    cases = [{"register": register, "values": values} for values in records]
    payload = json.dumps({"table": combined_table(year), "cases": cases})
    out = subprocess.run(
        ["node", str(RUNNER)], input=payload, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result: list[list[dict[str, str]]] = json.loads(out)
    return result


def assert_same(register: str, records: list[dict[str, str]], year: int = YEAR) -> list[list[dict[str, str]]]:
    ours, theirs = python_findings(register, records, year), node_findings(register, records, year)
    for values, a, b in zip(records, ours, theirs):
        assert a == b, (values, a, b)
    assert len(ours) == len(theirs) == len(records)
    return ours


def ssb_records(register: str) -> list[dict[str, str]]:
    return [
        values_of(register, render(register, values))
        for _, reg, changes, _, _ in CASES
        if reg == register
        for values in case_values(register, changes)
    ]


@pytest.mark.parametrize("register", ["11F", "11CF"])
def test_python_and_js_agree_on_the_ssb_cases(register):
    records = ssb_records(register)
    findings = assert_same(register, records)
    assert len(records) >= 60
    assert len({f["id"] for found in findings for f in found}) >= 10  # the cases do reach the controls


def odd_value(rng: random.Random, spec, year: int) -> str:
    """A value for a field: often a valid one, often an odd one (SSB's controls must read every text alike)."""
    width = spec.width
    choices: list[str] = ["", "X", "²", "-1", "+1", " 1", "0", "00", "9" * width, "ø", "\xa0", "1 2"]
    choices += list(spec.codes) * 3
    if spec.type == "integer":
        choices += [str(rng.randint(0, 10 ** min(width, 7) - 1)) for _ in range(6)]
    if spec.type == "date" or spec.name.endswith("DATO"):
        day = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randint(-3000, 400))
        choices += [day.strftime("%d%m%Y")] * 4 + ["31042026", "29022025", "32012026", "00002026", "01010000"]
    if spec.id_kind == "fnr":
        born = datetime.date(rng.randint(1900, year), rng.randint(1, 12), rng.randint(1, 28))
        for kind in ("fnr", "fnr", "dnr", "hnr", "synthetic"):
            number = identity.generate_fnr(born, rng.randint(0, 999), kind=kind)
            if number:
                choices += [number] * 3
        choices += [born.strftime("%d%m%y") + suffix for suffix in ("00100", "00200", "99999")]
    if spec.id_kind == "duf":
        choices += [valid_duf(), "123456789012"]
    if spec.codes_from:
        choices += ["0301", "1103", "9999", "0000", "1201"]
    return rng.choice(choices)[:width]


@pytest.mark.parametrize("register", ["11F", "11CF"])
@pytest.mark.parametrize("year", [2025, 2026])
def test_python_and_js_agree_on_random_records(register, year):
    profile = load_profile(register, year)
    rng = random.Random(f"{register}-{year}")
    records = []
    for _ in range(1500):
        base = values_of(register, render(register, BASE[register]))
        base["VERSION"] = str(year)[2:]
        for spec in profile.field_specs:
            if rng.random() < 0.15:
                base[spec.name] = odd_value(rng, spec, year).strip(" ")
        records.append(base)
    findings = assert_same(register, records, year)
    assert len({f["id"] for found in findings for f in found}) >= 15


BROKEN_11F = [
    {"FODSELSDATO": "32131980"},  # K004A
    {"PERSON_FODSELSNR": "17051012345"},  # K006 (young, or unreadable)
    {"KJONN": "3"},  # K008
    {"BU18": "1", "ANTBU18": ""},  # K011
    {"ANTBU18": "2"},  # K012
    {"VKLO": "1", "ARBSIT": "03"},  # K015
    {"VKLO": "3", "TRYGDESIT": "12"},  # K020B
    {"TRYGDESIT": "05"},  # K023B
    {"TRYGDESIT": "04", "ARBSIT": "01"},  # K024
    {"STMND_1": ""},  # K026
    {"BIDRAG": "0", "BIDRAG_JAN": "0"},  # K027, K031
    {"BIDRAG": "2000"},  # K036
    {"VILKARSOSLOV": "1"},  # K041, K042, K043
]


def test_a_broken_extract_breaks_many_controls_alike():
    records = [values_of("11F", render("11F", {**BASE["11F"], **change})) for change in BROKEN_11F]
    findings = assert_same("11F", records)
    ids = {f["id"] for found in findings for f in found}
    assert len(ids) >= 10, ids
    assert {"K004A", "K008", "K011", "K012", "K015", "K020B", "K026", "K036", "K041", "K043"} <= ids


def test_the_table_is_checked_against_the_profile():
    profile = load_profile("11F", YEAR)
    context = Context(profile, OSLO)
    table = load_table("11F")
    broken = [
        ({"when": ["nope", 1]}, "not an expression"),
        ({"when": ["==", ["f", "NO_SUCH_FIELD"], "1"]}, "no field 'NO_SUCH_FIELD'"),
        ({"when": ["not", ["var", "undefined"]]}, "no value 'undefined'"),
        ({"when": ["in", ["f", "KJONN"], "1"]}, "expected a set"),
        ({"when": ["not", 1, 2]}, "takes 1 argument"),
        ({"severity": "FATAL"}, "severity must be"),
        ({"message": {"nb": "{nothing}"}}, "no value 'nothing'"),
    ]
    for change, error in broken:
        controls = [{**table["controls"][0], **change}]
        with pytest.raises(TableError, match=error):
            ControlTable(profile, context, {**table, "controls": controls})
    with pytest.raises(TableError, match="not for 11F 2026"):
        ControlTable(profile, context, {**table, "periodes": [2024]})


def test_the_fast_path_is_derived_from_the_table():
    """No hand-written fast path: passes() is generated from the same table, and a control that the table drops is
    gone from both functions."""
    profile = load_profile("11F", YEAR)
    context = Context(profile, OSLO)
    table = load_table("11F")
    line = render("11F", {**BASE["11F"], "VKLO": "1", "ARBSIT": "03"})  # K015
    full = ControlTable(profile, context)
    assert not full.passes(line)
    assert [v[1] for v in full.violations(values_of("11F", line))] == ["K015"]
    without = ControlTable(profile, context, {**table, "controls": [c for c in table["controls"] if c["id"] != "K015"]})
    assert without.passes(line)
    assert without.violations(values_of("11F", line)) == []


def test_profiles_export_writes_the_combined_table(tmp_path):
    out = tmp_path / "profiles.json"
    run_cli("profiles", "export", "--year", "2026", "-o", str(out))
    first = out.read_bytes()
    table = json.loads(first)
    assert table["format"] == "sendemodul-profiles/1"
    assert {p["register"] for p in table["profiles"]} == {"11F", "11CF"}
    assert set(table["controls"]) == {"11F", "11CF"}
    assert "0301" in table["kommuner"]
    run_cli("profiles", "export", "--year", "2026", "-o", str(out))
    assert out.read_bytes() == first
    bad = run_cli("profiles", "export", "--year", "2030", check=False)
    assert bad.returncode == 1 and "ERROR: no fixed-width profiles for 2030" in bad.stderr


FIELDS_RUNNER = Path(__file__).parent / "support" / "run_fields.mjs"
#: Units whose field rules differ: a kommune with bydeler reporting as a whole, one bydel of it, one without bydeler.
UNITS = ["0301-00-958935420", "0301-12-958935420", "1103-00-964965226"]


def python_field_findings(register: str, unit: identity.Unit, records: list[dict[str, str]], year: int = YEAR):
    profile = load_profile(register, year)
    context = Context(profile, unit)
    rules = [FieldRule(spec, context) for spec in profile.field_specs if spec.checked and not spec.id_kind]
    found = []
    for values in records:
        found.append(
            [
                {
                    "field": rule.spec.name,
                    "rule": problem[0],
                    "control": ssb_control(profile, problem[0], rule.spec.name) if profile.controls else None,
                    "message": problem[1],
                }
                for rule in rules
                if (problem := rule.problem(values.get(rule.spec.name, ""))) is not None
            ]
        )
    return found


def node_field_findings(register: str, unit: identity.Unit, records: list[dict[str, str]], year: int = YEAR):
    assert shutil.which("node"), "node is needed: run scripts/system-packages"
    payload = json.dumps(
        {
            "table": combined_table(year),
            "unit": {"kommunenr": unit.kommunenr, "bydel": unit.bydel, "orgnr": unit.orgnr},
            "cases": [{"register": register, "values": values} for values in records],
        }
    )
    out = subprocess.run(
        ["node", str(FIELDS_RUNNER)], input=payload, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize("register", ["11F", "11CF"])
@pytest.mark.parametrize("year", [2025, 2026])
@pytest.mark.parametrize("unit_text", UNITS)
def test_python_and_js_field_rules_agree(register, year, unit_text):
    """The page's field rules (browser/src/fields.js) judge every field as FieldRule.problem does: SSB-derived
    records and seeded random ones with odd values (blank, signs, non-ASCII, bad dates, unknown codes and kommuner,
    other units' bydeler and kommunenummer, quotes that Python's repr shows differently)."""
    unit = identity.parse_unit(unit_text, year)
    profile = load_profile(register, year)
    rng = random.Random(f"fields-{register}-{year}-{unit_text}")
    records = ssb_records(register) if year == YEAR else []
    extra = ["'", '"', "'\"", "\\", "\t1", "0\x85", "0-1", "1103", "0301", "01", "12", "16", "99", "ÆØÅ", "😀", "12345"]
    for _ in range(800):
        values = values_of(register, render(register, BASE[register]))
        values["VERSION"] = str(year)[2:]
        for spec in profile.field_specs:
            if rng.random() < 0.2:
                value = rng.choice([odd_value(rng, spec, year), rng.choice(extra)])
                values[spec.name] = value[: spec.width].strip(" ")
        records.append(values)
    ours = python_field_findings(register, unit, records, year)
    theirs = node_field_findings(register, unit, records, year)
    for values, a, b in zip(records, ours, theirs):
        assert a == b, (values, a, b)
    assert len(ours) == len(theirs) == len(records)
    rules = {f["rule"] for found in ours for f in found}
    wanted = {"MANDATORY", "DATE", "CODE", "BYDEL", "KOMMUNENR", "VERSION"}
    if any(spec.type == "integer" and spec.checked and not spec.id_kind for spec in profile.field_specs):
        wanted.add("INTEGER")
    assert wanted <= rules, rules  # the records do reach every rule
    controls = {f["control"] for found in ours for f in found}
    assert controls >= {"K003", "K004"} and len(controls) >= 3, controls  # K002 in 11F; 11CF: a control per field


CHECK_RUNNER = Path(__file__).parent / "support" / "run_check.mjs"


def python_report(register, unit, data, year, allow_synthetic=True, cap=MAX_PER_RULE, source=None):
    """``check --format json``'s bytes (Report.to_json) for the extract ``data`` (bytes)."""
    profile = load_profile(register, year)
    report = run_checks(
        profile, io.BytesIO(data), unit, allow_synthetic=allow_synthetic, max_per_rule=cap, source=source
    )
    return report.to_json()


def node_report(register, unit, data, year, allow_synthetic=True, cap=MAX_PER_RULE, source=None):
    """The page's report (checks.js, report.js) of the same bytes, as the page saves it."""
    payload = json.dumps(
        {
            "table": {**combined_table(year), "max_per_rule": cap},
            "unit": {"kommunenr": unit.kommunenr, "bydel": unit.bydel, "orgnr": unit.orgnr},
            "register": register,
            "periode": year,
            "data": base64.b64encode(data).decode("ascii"),
            "allowSynthetic": allow_synthetic,
            "source": source,
        }
    )
    return subprocess.run(
        ["node", str(CHECK_RUNNER)], input=payload, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def assert_same_report(register, unit, lines, year=YEAR, allow_synthetic=True, cap=MAX_PER_RULE, data=None):
    """The whole JSON report (every key of Report.as_dict, ``groups`` too) is the same, byte for byte; the report
    as a dict."""
    if data is None:
        data = "".join(line + "\n" for line in lines).encode("iso-8859-1")
    ours = python_report(register, unit, data, year, allow_synthetic, cap, source="uttrekk.txt")
    theirs = node_report(register, unit, data, year, allow_synthetic, cap, source="uttrekk.txt")
    mine, other = json.loads(ours), json.loads(theirs)
    for a, b in zip(mine["findings"], other["findings"]):
        assert a == b
    for a, b in zip(mine["groups"], other["groups"]):
        assert a == b
    assert mine == other
    assert ours == theirs  # the same bytes: key order, indent, non-ASCII, final newline
    result: dict = mine
    return result


def id_value(rng: random.Random, year: int, pool: list[str]) -> str:
    """An identifier: valid of each kind, 2032-rule, placeholder, bad date, bad check digits, wrong shape, or one
    used before (a duplicate)."""
    born = datetime.date(rng.randint(1920, year), rng.randint(1, 12), rng.randint(1, 28))
    kind = rng.choice(["fnr", "fnr", "dnr", "hnr", "synthetic"])
    number = identity.generate_fnr(born, rng.randint(0, 999), kind=kind) or ""
    choices = [number] * 6 + ["", "1234567890", "12345678901", "32013012345", "abc", born.strftime("%d%m%y") + "00100"]
    if number:
        choices.append(number[:10] + str((int(number[10]) + 1) % 10))  # bad check digits
        for k1 in range(10):  # perhaps the 2032 rule
            other = number[:9] + str(k1)
            for k2 in range(10):
                if identity.fnr_check_digits_ok(other + str(k2)) == "2032":
                    choices.append(other + str(k2))
    if pool:
        choices += [rng.choice(pool)] * 3
    value = rng.choice(choices)
    if value:
        pool.append(value)
    return value


@pytest.mark.parametrize("register", ["11F", "11CF"])
@pytest.mark.parametrize("unit_text", UNITS)
@pytest.mark.parametrize("allow_synthetic", [True, False])
def test_python_and_js_reports_agree(register, unit_text, allow_synthetic):
    """The page's whole check (checks.js: field rules, identifier rules, controls, duplicates, the counts and the cap
    of findings a rule, the groups under the controls' titles) gives the report ``check --format json`` gives, byte
    for byte, on the SSB-derived records and seeded random ones with bad and repeated IDs, dates and codes."""
    year = YEAR
    unit = identity.parse_unit(unit_text, year)
    profile = load_profile(register, year)
    rng = random.Random(f"report-{register}-{unit_text}")
    pool: list[str] = []
    lines = [render(register, {**BASE[register], "PERSON_JOURNALNR": f"S{n}"}) for n in range(3)]
    lines += [
        render(register, {**BASE[register], **{k: v for k, v in values.items() if v}})
        for values in ssb_records(register)
    ]
    for n in range(600):
        values = {**BASE[register], "PERSON_JOURNALNR": f"J{n % 400}", "VERSION": str(year)[2:]}
        values["PERSON_FODSELSNR"] = id_value(rng, year, pool)
        if n < 60:
            values["KJONN"] = "3"
        for spec in profile.field_specs:
            if not spec.id_kind and rng.random() < 0.05:
                values[spec.name] = odd_value(rng, spec, year).strip(" ")
        lines.append(render(register, values))
    report = assert_same_report(register, unit, lines, year, allow_synthetic, cap=50)
    assert len(report["groups"]) >= 5 and any(g["count"] > len(g["findings"]) for g in report["groups"])
    assert len({g["title"] for g in report["groups"]} - {""}) >= 5  # the titles of SSB's controls and ours
    rules = set(report["rules"])
    wanted = {"ID_INVALID", "CODE", "BIRTHDATE", "ID_SYNTHETIC", "ID_PLACEHOLDER"}
    if unit.kommunenr not in profile.duplicate_skip:  # 11CF: SSB checks no duplicates in Oslo
        wanted |= {"DUPLICATE_ID", "DUPLICATE"}
    assert wanted <= rules, rules
    assert report["omitted"], report["rules"]  # the cap of findings a rule (here 50) is reached
    assert_same_report(register, unit, lines[:300], year, allow_synthetic)  # the real cap


def test_an_empty_extract_reports_alike():
    assert assert_same_report("11F", identity.parse_unit(UNITS[0], YEAR), [])["rules"] == {"EMPTY": 1}


@pytest.mark.parametrize("register", ["11F", "11CF"])
def test_the_files_shape_reports_alike(register):
    """The lines as the CLI reads them (FixedWidthExtract.scan): blank lines, CRLF, a TAB, a short line, an overlong
    one (blank or not), a last line without its line break; the first FATAL finding drops every other finding and
    stops the checks, and a malformed line is no record."""
    unit = identity.parse_unit(UNITS[0], YEAR)
    good = render(register, {**BASE[register], "VERSION": str(YEAR)[2:]})
    bad = render(register, {**BASE[register], "KJONN": "3"})
    length = len(good)
    enc = "iso-8859-1"
    cases = {
        "crlf and blank lines": (good + "\r\n\r\n   \n" + bad + "\r\n").encode(enc),
        "no final line break": (good + "\n" + bad).encode(enc),
        "tab": (bad + "\n" + good[:10] + "\t" + good[11:] + "\n" + good + "\n").encode(enc),
        "short and long": (bad + "\n" + good[:-1] + "\n" + good + "x\r\n" + good + "xx\n" + good + "\n").encode(enc),
        "overlong": (good + "\n" + good + "\txyz\n" + " " * (length + 5) + "\n" + good + "\r").encode(enc),
        "overlong at the end": (good + "\n" + good + "abc").encode(enc),
        "a lone CR": (good + "\n\r\n" + good[:5] + "\r" + good[6:] + "\n").encode(enc),
    }
    for name, data in cases.items():
        report = assert_same_report(register, unit, [], data=data)
        assert (report["result"] == "FATAL") is (name in ("tab", "short and long", "overlong", "overlong at the end"))
    report = assert_same_report(register, unit, [], data=cases["short and long"], cap=2)
    assert report["omitted"] == {"RECORD_LENGTH": 1}
