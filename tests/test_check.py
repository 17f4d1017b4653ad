"""Tests for the control rules (sendemodul.profiles.rules) and ``sendemodul check``: every rule fires on a crafted
record with its severity and exit code, FATAL stops the other checks, and no report ever contains an ID number."""

import io
import json
import random
import re
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from sendemodul import identity
from sendemodul.cli import cli, main
from sendemodul.profiles import available, load_profile
from sendemodul.profiles.model import AnyOf, Requires
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.profiles.rules.duplicates import FirstSeen as _FirstSeen
from sendemodul.profiles.rules.fields import Context as _Context
from sendemodul.profiles.rules.fixed_records import FixedRules as _FixedRules
from sendemodul.profiles.rules.report import Report, Severity
from sendemodul.testing.extracts import ERROR_KINDS, generate_extract

ALNA = identity.parse_unit("0301-12-958935420", 2026)
OSLO = identity.parse_unit("0301-00-958935420", 2026)
STAVANGER = identity.parse_unit("1103-00-964965226", 2026)
SYNTHETIC_FNR = "01872054460"  # 01.07.2020, Tenor (month + 80)
SYNTHETIC_FNR_2 = "03892554403"


def check(profile, data, unit=ALNA, **options) -> Report:
    return run_checks(profile, io.BytesIO(data), unit, **options)


def rules(report):
    return {f.rule for f in report.findings}


def one(report, rule):
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, (rule, report.to_text())
    return found[0]


def lines_of(profile, n=3, unit=ALNA, seed=1):
    return generate_extract(profile, unit, n, seed=seed).decode(profile.encoding).splitlines()


def with_fields(profile, line, **values):
    """A fixed-width line with some fields replaced (padded like the generator pads them)."""
    for name, value in values.items():
        spec = next(f for f in profile.field_specs if f.name == name)
        padded = (
            value.rjust(spec.length, "0") if spec.type == "integer" and value.isdigit() else value.ljust(spec.length)
        )
        assert len(padded) == spec.length
        line = line[: spec.start] + padded + line[spec.end :]
    return line


def encode(profile, lines):
    return ("\n".join(lines) + "\n").encode(profile.encoding)


def xml_with(profile, unit=ALNA, n=3, seed=1, change=None):
    """A generated XML extract, with ``change(root_element)`` applied to the parsed document."""
    root = ET.fromstring(generate_extract(profile, unit, n, seed=seed))
    if change is not None:
        change(root)
    return ET.tostring(root, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# Clean extracts


@pytest.mark.parametrize(
    "register, periode, unit",
    [
        (register, periode, unit)
        for register, periode in available()
        for unit in (ALNA, OSLO, STAVANGER)
        if periode == 2026 or unit is OSLO
    ],
)
def test_generated_extracts_pass_every_rule(register, periode, unit):
    unit = identity.parse_unit(str(unit), periode)
    profile = load_profile(register, periode)
    report = check(profile, generate_extract(profile, unit, 30, seed=periode), unit)
    assert report.records == 30
    # 15F: SSB's Individ11 and Individ12 warn about an individ with a DUF number and no fødselsnummer
    duf_only = {"Individ11", "Individ12"} if register == "15F" else set()
    assert rules(report) - duf_only == {"ID_SYNTHETIC"}, report.to_text()
    assert {f.severity for f in report.findings if f.rule in duf_only} <= {Severity.WARNING}
    assert not report.blocking
    assert one(report, "ID_SYNTHETIC").line is None


def test_synthetic_ids_are_a_warning_per_record_in_production():
    profile = load_profile("11CF", 2026)
    report = check(profile, generate_extract(profile, ALNA, 5, seed=1), allow_synthetic=False)
    assert [(f.rule, f.severity, f.line) for f in report.findings] == [
        ("ID_SYNTHETIC", Severity.WARNING, n) for n in range(1, 6)
    ]
    assert report.exit_code == 1 and not report.blocking


# ---------------------------------------------------------------------------------------------------------------------
# Every rule fires on a crafted record


FATAL_KINDS = {"RECORD_LENGTH", "TAB", "XML"}
KIND_CASES = [
    (register, kind)
    for register in ("11CF", "11F", "15F", "IPLOS")
    for kind in ERROR_KINDS
    if load_profile(register, 2026).kind in ERROR_KINDS[kind]
    and (register, kind) not in {("15F", "INTEGER"), ("IPLOS", "INTEGER"), ("11CF", "INTEGER"), ("11CF", "DATE")}
]  # no integer attribute; 11CF: SSB's program checks no number field, and dates only in its K-controls


@pytest.mark.parametrize("register, kind", KIND_CASES)
def test_each_generated_error_fires_its_rule(register, kind):
    """The generator's error kinds, each on record 4 of 6: the rule of that name fires there, with its severity."""
    profile = load_profile(register, 2026)
    unit = STAVANGER if register == "11CF" else ALNA  # SSB checks no duplicates in Oslo's 11CF
    data = generate_extract(profile, unit, 6, seed=2, errors={4: kind})
    report = check(profile, data, unit)
    expected = {"15F": "Individ03"}.get(register, kind) if kind == "ID_MISSING" else kind
    if register == "15F" and kind == "ID_INVALID":
        expected = "Individ03"  # SSB's ID controls (Individ03, 11, 12, 19) take the place of ID_INVALID for 15F
    finding = one(report, expected)
    severity = Severity.FATAL if kind in FATAL_KINDS else Severity.ERROR
    assert finding.severity is severity and report.worst is severity and report.exit_code == 2
    if kind != "XML":
        record_lines = [item.line for item in profile.open_extract(io.BytesIO(data)).scan()]
        assert finding.line == record_lines[3]
    if severity is not Severity.FATAL:
        # 15F: with no valid fødselsnummer, SSB's Individ11 and Individ12 warn as well; 11F: SSB's K006 and K038
        also = {"Individ11", "Individ12"} if register == "15F" and kind.startswith("ID_") else set()
        if (register, kind) == ("11F", "ID_MISSING"):
            also = {"K006", "K038"}
        assert {f.severity for f in report.findings if f.rule not in also} <= {Severity.ERROR, Severity.INFO}


def violate(profile, rule, values):
    """Change field values (a dict) so that consistency ``rule`` is broken."""
    if isinstance(rule, Requires):
        values[rule.if_field] = rule.if_values[0]
        values[rule.field] = ""
    elif isinstance(rule, AnyOf):
        for name in rule.fields:
            values[name] = ""
    else:
        earlier, later = ("31122026", "01012026") if profile.kind == "fixed" else ("2026-12-31", "2026-01-01")
        values[rule.earlier], values[rule.later] = earlier, later


CONSISTENCY_CASES = [
    (register, rule.id)
    for register in ("11CF", "11F", "15F", "IPLOS")
    for rule in load_profile(register, 2026).consistency
]


@pytest.mark.parametrize("register, rule_id", CONSISTENCY_CASES)
def test_each_consistency_rule_fires_with_its_severity(register, rule_id):
    profile = load_profile(register, 2026)
    rule = next(r for r in profile.consistency if r.id == rule_id)
    if profile.kind == "fixed":
        lines = lines_of(profile)
        values = {}
        violate(profile, rule, values)
        lines[1] = with_fields(profile, lines[1], **values)
        data = encode(profile, lines)
    else:

        def change(root):
            record = root.findall(profile.record_element)[1]
            target = record
            if rule.element is not None:
                target = record.find(f".//{rule.element}")
                if target is None:  # 15F: an Undersokelse (in a Melding) is optional, so not generated
                    parent = record.find(".//Melding") if rule.element == "Undersokelse" else record
                    target = ET.SubElement(parent, rule.element, Id="T", StartDato="2026-01-01")
            values = dict(target.attrib)
            violate(profile, rule, values)
            target.attrib.clear()
            target.attrib.update({k: v for k, v in values.items() if v})

        data = xml_with(profile, change=change)
    report = check(profile, data)
    finding = one(report, rule_id)
    assert finding.severity is Severity[rule.severity]
    assert report.exit_code == {"ERROR": 2, "WARNING": 1}[rule.severity]
    assert finding.line is not None and finding.journalnr == "00000002"


def test_rules_outside_the_generator_11cf():
    """MANDATORY, SSB's K020 (the kommune list), K006 (age), BIRTHDATE, VERSION on another year's profile, and
    placeholders (counted, never duplicates). SSB's program checks no number field of 11CF by itself, and a
    KVP_MED_* answer outside its code is no finding when KVP_MED_ASTONAD is 2 (it was refused before)."""
    profile = load_profile("11CF", 2026)
    base = lines_of(profile, 6)
    placeholder = "01018099999"
    lines = [
        with_fields(profile, base[0], STATUS=""),
        with_fields(profile, base[1], KVP_MED_ASTONAD="2", KVP_MED_KOMMBOS="0", KVP_MED_SOSHJ_SUP="0"),
        with_fields(profile, base[2], KVP_KOMM="1", KOMMNR_KVP_KOMM="0000"),
        with_fields(profile, base[3], FODSELSDATO="02012000"),
        with_fields(profile, base[4], PERSON_FODSELSNR=placeholder, FODSELSDATO="01011980"),
        with_fields(profile, base[5], PERSON_FODSELSNR=placeholder, FODSELSDATO="01011980"),
        with_fields(
            profile,
            base[0],
            PERSON_JOURNALNR="J7",
            PERSON_FODSELSNR=SYNTHETIC_FNR_2,
            FODSELSDATO="03092025",
            KVP_KOMM="1",
            KOMMNR_KVP_KOMM="9999",
        ),
        with_fields(
            profile,
            base[0],
            PERSON_JOURNALNR="J8",
            PERSON_FODSELSNR=SYNTHETIC_FNR,
            FODSELSDATO="01072020",
            KVP_KOMM="1",
            KOMMNR_KVP_KOMM="1103",
        ),
    ]
    report = check(profile, encode(profile, lines))
    found = {(f.rule, f.line, f.field) for f in report.findings}
    assert found == {
        ("MANDATORY", 1, "STATUS"),
        ("K020", 3, "KOMMNR_KVP_KOMM"),
        ("BIRTHDATE", 4, "FODSELSDATO"),
        ("K006", 7, "PERSON_FODSELSNR"),  # born 2025: SSB's K006 (under 18) is an ERROR in 11CF
        ("K006", 8, "PERSON_FODSELSNR"),
        ("ID_PLACEHOLDER", None, None),
        ("ID_SYNTHETIC", None, None),
    }, report.to_text()
    assert one(report, "ID_PLACEHOLDER").message.startswith("2 fødselsnummer are SSB placeholders")
    assert one(report, "BIRTHDATE").severity is Severity.WARNING
    assert "kommunenummeret mangler eller er ugyldig" in one(report, "K020").message
    older = check(load_profile("11CF", 2025), encode(profile, base[:1]), identity.parse_unit(str(ALNA), 2025))
    assert one(older, "VERSION").message == "VERSION must be the last two digits of the periode, 25 (found '26')"


@pytest.mark.parametrize(
    "unit, bydel, ok",
    [
        (ALNA, "12", True),
        (ALNA, "05", False),
        (ALNA, "  ", False),
        (OSLO, "05", True),
        (OSLO, "15", True),
        (OSLO, "16", False),
        (OSLO, "00", False),
        (OSLO, "  ", False),
        (STAVANGER, "  ", True),
        (STAVANGER, "00", False),  # SSB's K003 for 11F: blank outside Oslo
        (STAVANGER, "01", False),
    ],
)
def test_bydel_rule(unit, bydel, ok):
    """Oslo records name a reporting bydel (the unit's own when it reports per bydel); elsewhere blank (11F follows
    SSB's K003: not 00)."""
    profile = load_profile("11F", 2026)
    lines = [with_fields(profile, line, BYDELSNR=bydel) for line in lines_of(profile, 2, unit)]
    report = check(profile, encode(profile, lines), unit)
    assert ("BYDEL" not in rules(report)) is ok, report.to_text()


@pytest.mark.parametrize(
    "value, id_class, reason",
    [
        ("01872054461", "BAD_CHECKSUM", "the check digits do not match"),
        ("32872054460", "BAD_DATE", "its date part is not a date"),
        ("0187205446", "BAD_FORMAT", "it must be 11 digits"),
        ("01872O54460", "BAD_FORMAT", "it must be 11 digits"),
    ],
)
def test_invalid_ids_name_their_class_never_the_number(value, id_class, reason):
    profile = load_profile("11CF", 2026)
    lines = lines_of(profile, 2)
    lines[1] = with_fields(profile, lines[1], PERSON_FODSELSNR=value)
    finding = one(check(profile, encode(profile, lines)), "ID_INVALID")
    assert finding.message == f"PERSON_FODSELSNR is not a valid fødselsnummer ({id_class}): {reason}"
    assert (finding.line, finding.journalnr, finding.severity) == (2, "00000002", Severity.ERROR)


def test_invalid_duf_and_missing_ids():
    profile = load_profile("11F", 2026)
    lines = lines_of(profile, 3)
    lines[0] = with_fields(profile, lines[0], PERSON_DUF="201000000100")
    lines[1] = with_fields(profile, lines[1], PERSON_FODSELSNR="", PERSON_DUF="")
    report = check(profile, encode(profile, lines))
    # SSB: the DUF number is looked at only when the fødselsnummer is blank (K038, a warning); a blank fødselsnummer
    # fails K005 (an ERROR) even with a DUF number.
    assert "ID_INVALID" not in rules(report)
    assert one(report, "ID_MISSING").message == "PERSON_FODSELSNR must be filled in"
    assert one(report, "K038").severity is Severity.WARNING
    cf = load_profile("11CF", 2026)
    cf_lines = lines_of(cf, 2)
    cf_lines[1] = with_fields(cf, cf_lines[1], PERSON_FODSELSNR="")
    assert one(check(cf, encode(cf, cf_lines)), "ID_MISSING").line == 2


def test_duplicates_name_the_first_line():
    profile = load_profile("11F", 2026)
    lines = lines_of(profile, 5)
    fnr = lines[0][24:35]
    lines[3] = with_fields(profile, lines[3], PERSON_FODSELSNR=fnr, FODSELSDATO=lines[0][8:16])
    lines[4] = with_fields(profile, lines[4], PERSON_JOURNALNR=lines[1][16:24])
    report = check(profile, encode(profile, lines))
    assert one(report, "DUPLICATE_ID").message == "PERSON_FODSELSNR is the same as on line 1"
    assert one(report, "DUPLICATE_ID").line == 4
    assert one(report, "DUPLICATE").message == "PERSON_JOURNALNR is the same as on line 2"
    assert rules(report) == {"DUPLICATE_ID", "DUPLICATE", "ID_SYNTHETIC"}


def test_xml_header_is_checked_against_the_unit_and_year():
    profile = load_profile("15F", 2026)

    def change(root):
        header = root.find("Avgiver")
        header.set("Organisasjonsnummer", "974760673")
        header.set("Versjon", "2025")
        header.set("Kommunenummer", "1103")
        header.set("Ekstra", "x")

    report = check(profile, xml_with(profile, change=change))
    assert {(f.rule, f.line, f.field) for f in report.findings if f.severity is Severity.ERROR} == {
        ("ORGNR", None, "Avgiver/@Organisasjonsnummer"),
        ("VERSION", None, "Avgiver/@Versjon"),
        ("KOMMUNENR", None, "Avgiver/@Kommunenummer"),
        ("SCHEMA", None, None),
    }
    assert one(report, "ORGNR").message == "Avgiver: Avgiver/@Organisasjonsnummer must be the unit's orgnr, 958935420"
    assert one(report, "ORGNR").where == "document"


def test_xml_schema_length_and_children_rules():
    profile = load_profile("IPLOS", 2026)

    def change(root):
        first, second, third = root.findall("Tjenestemottaker")
        for child in list(first):
            first.remove(child)
        ET.SubElement(second, "Ukjent")
        second.find("Tjeneste").text = "hei"
        ET.SubElement(third.find("Tjeneste"), "Dypere")
        third.set("Journalnummer", "J" * 21)
        third.find("Tjeneste").set("Kode", "99")
        third.find("Tjeneste").set("TimerPerUke", "1000")

    report = check(profile, xml_with(profile, change=change))
    found = sorted((f.rule, f.journalnr, f.field) for f in report.findings if f.severity is Severity.ERROR)
    assert found == sorted(
        [
            ("MANDATORY", "00000001", None),
            ("SCHEMA", "00000002", None),
            ("SCHEMA", "00000002", None),
            ("SCHEMA", "J" * 21, None),
            ("LENGTH", "J" * 21, "Journalnummer"),
            ("CODE", "J" * 21, "Tjeneste/@Kode"),
            ("LENGTH", "J" * 21, "Tjeneste/@TimerPerUke"),
        ]
    ), report.to_text()
    assert one(report, "MANDATORY").message == "<Tjenestemottaker> must have at least 1 <Tjeneste>"


def test_empty_extract_is_a_warning():
    header = b'<Avgiver Organisasjonsnummer="958935420" Versjon="2026" Kommunenummer="0301" Kommunenavn="O"/>'
    for register, data in (("11CF", b""), ("11CF", b" \n"), ("15F", b"<Barnevern>" + header + b"</Barnevern>")):
        report = check(load_profile(register, 2026), data)
        assert [(f.rule, f.severity) for f in report.findings] == [("EMPTY", Severity.WARNING)]
        assert report.records == 0 and report.exit_code == 1


# ---------------------------------------------------------------------------------------------------------------------
# FATAL, limits, the report


def test_fatal_stops_every_other_check_and_lists_every_malformed_line():
    profile = load_profile("11CF", 2026)
    lines = lines_of(profile, 5)
    lines[0] = with_fields(profile, lines[0], KJONN="7")
    lines[2] = lines[2][:40] + "\t" + lines[2][41:]
    lines[4] = lines[4] + " "
    report = check(profile, encode(profile, lines))
    assert [(f.rule, f.line, f.severity) for f in report.findings] == [
        ("TAB", 3, Severity.FATAL),
        ("RECORD_LENGTH", 5, Severity.FATAL),
    ]
    assert report.severity_counts == {Severity.FATAL: 2} and report.rule_counts == {"TAB": 1, "RECORD_LENGTH": 1}
    assert report.records == 3 and report.exit_code == 2


def test_xml_fatal_after_records_drops_their_findings():
    profile = load_profile("15F", 2026)
    data = xml_with(profile, change=lambda root: root.find("Individ").set("Avslutta3112", "7"))
    report = check(profile, data[:-20])
    assert [(f.rule, f.severity) for f in report.findings] == [("XML", Severity.FATAL)]


def test_findings_beyond_the_limit_are_counted_not_listed():
    profile = load_profile("11CF", 2026)
    lines = [with_fields(profile, line, KJONN="3") for line in lines_of(profile, 10)]
    report = check(profile, encode(profile, lines), max_per_rule=3)
    assert [f.line for f in report.findings if f.rule == "CODE"] == [1, 2, 3]
    assert report.rule_counts["CODE"] == 10 and report.severity_counts[Severity.ERROR] == 10
    assert report.omitted == {"CODE": 7}
    assert "ERROR   K008 Kjønn: 10 funn" in report.to_text()  # grouped by SSB's control
    assert "        ... and 7 more not listed" in report.to_text()
    assert report.as_dict()["omitted"] == {"CODE": 7}
    assert "7 more counted, but not listed." in report.to_html()
    report.lang = "nb"
    assert "7 funn til er talt med, men ikke listet." in report.to_html()
    assert "        … og 7 til som ikke er listet" in report.to_text()
    report.lang = "nn"
    assert "7 funn til er rekna med, men ikkje lista." in report.to_html()
    assert "ERROR   K008 Kjønn: 10 funn" in report.to_text()


def test_report_formats():
    profile = load_profile("11CF", 2026)
    lines = lines_of(profile, 3)
    lines[1] = with_fields(profile, lines[1], KJONN="3")
    report = check(profile, encode(profile, lines), source="kvp.txt")
    text = report.to_text()
    assert (
        "ERROR   K008 Kjønn: 1 funn\n"
        "        line 2, journalnr 00000002, KJONN: KJONN must be one of the codes 1 or 2 (found '3') [CODE]\n"
    ) in text
    assert text.rstrip().endswith("Result: ERROR (0 fatal, 1 error, 0 warnings, 1 info) in 3 records, exit code 2")
    data = json.loads(report.to_json())
    assert data["format"] == "sendemodul-check/1" and data["exit_code"] == 2 and data["result"] == "ERROR"
    assert data["counts"] == {"FATAL": 0, "ERROR": 1, "WARNING": 0, "INFO": 1}
    assert data["findings"][0] == {
        "severity": "ERROR",
        "control": "K008",
        "rule": "CODE",
        "line": 2,
        "journalnr": "00000002",
        "field": "KJONN",
        "message": "KJONN must be one of the codes 1 or 2 (found '3')",
    }
    html = report.to_html()
    assert html.startswith("<!DOCTYPE html>") and "kvp.txt" in html and "<td>00000002</td>" in html


def test_html_report_escapes_what_comes_from_the_file():
    profile = load_profile("15F", 2026)
    data = xml_with(
        profile,
        change=lambda root: (
            root.find("Individ").set("Journalnummer", "<b>J</b>"),
            root.find("Individ").set("Avslutta3112", "7"),
        ),
    )
    html = check(profile, data).to_html()
    assert "&lt;b&gt;J&lt;/b&gt;" in html and "<b>J</b>" not in html


# ---------------------------------------------------------------------------------------------------------------------
# Privacy


def ids_in(profile, data: bytes) -> set[str]:
    """Every ID number in an extract: the identifier fields, and (XML) every 11- or 12-digit attribute value."""
    numbers = {value for record in profile.open_extract(io.BytesIO(data)) for _, value in record.ids if value}
    if profile.kind == "xml":
        numbers.update(re.findall(r'"([0-9]{11,12})"', data.decode()))
    return numbers


@pytest.mark.parametrize(
    "register, errors",
    [
        (
            "11F",
            {
                2: "CODE",
                3: "ID_INVALID",
                4: "DUPLICATE_ID",
                5: "DATE",
                6: "MANDATORY",
                8: "DUPLICATE",
                9: "ID_MISSING",
                10: "BYDEL",
            },
        ),
        ("11CF", {2: "ID_INVALID", 3: "DUPLICATE_ID"}),
        ("15F", {2: "ID_IN_DATA", 3: "ID_INVALID", 4: "DUPLICATE_ID", 5: "SCHEMA", 6: "CODE"}),
        ("IPLOS", {2: "ID_IN_DATA", 3: "ID_INVALID", 4: "DUPLICATE_ID", 5: "DATE"}),
    ],
)
def test_no_report_contains_an_id_number(register, errors):
    """Text, JSON and HTML reports of extracts full of errors contain none of the input's ID numbers, in either
    policy; the identifiers are really in the input and the errors really reported."""
    profile = load_profile(register, 2026)
    data = generate_extract(profile, ALNA, 30, seed=4, errors=errors)
    numbers = ids_in(profile, data)
    assert len(numbers) >= 25
    for allow_synthetic in (True, False):
        report = check(profile, data, allow_synthetic=allow_synthetic)
        assert report.exit_code == 2 and len(report.findings) >= len(errors)
        for output in (report.to_text(), report.to_json(), report.to_html()):
            leaked = [n for n in numbers if n in output]
            assert not leaked


def test_a_journalnummer_that_is_an_id_is_not_shown():
    profile = load_profile("IPLOS", 2026)
    data = generate_extract(profile, ALNA, 3, seed=1, errors={2: "ID_IN_DATA"})
    report = check(profile, data)
    finding = one(report, "ID_IN_DATA")
    assert finding.field == "Journalnummer" and finding.journalnr is None
    assert all(f.journalnr is None for f in report.findings if f.line == finding.line)


# ---------------------------------------------------------------------------------------------------------------------
# Internals that carry the speed and the memory


FIXED_11F = load_profile("11F", 2026)
FIXED_RULES = _FixedRules(FIXED_11F, _Context(FIXED_11F, ALNA), lambda *finding: None, True)
SAMPLE_LINES = [r.data for r in FIXED_11F.open_extract(io.BytesIO(generate_extract(FIXED_11F, ALNA, 20, seed=9)))]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 19), st.lists(st.tuples(st.integers(0, 337), st.sampled_from(" 0123456789Xx-")), max_size=4))
def test_fast_path_agrees_with_the_field_by_field_rules(index, changes):
    """The record-wide regular expression plus the few field checks it leaves to Python (dates, kommune codes) find
    exactly the problems that checking every field one by one finds."""
    line = list(SAMPLE_LINES[index])
    for position, char in changes:
        line[position] = char
    data = "".join(line)
    texts = FIXED_RULES._slice(data)
    every = [rule.problem(texts[i]) for i, rule in enumerate(FIXED_RULES._rules)]
    if FIXED_RULES._record_re.fullmatch(data) is None:
        fast = every
    else:
        fast = [rule.problem(data[start:end]) for rule, start, end, _ in FIXED_RULES._python_memo]
    assert [p for p in fast if p] == [p for p in every if p]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_exact_width_patterns_match_what_the_padded_patterns_match(data):
    """Each fixed-width field's exact-width expression accepts only texts that its padded expression (between
    separators) accepts: all of them, apart from numbers that are neither left- nor right-aligned."""
    from sendemodul.profiles.rules.fields import Context as _Context
    from sendemodul.profiles.rules.fields import FieldRule as _FieldRule

    register = data.draw(st.sampled_from(["11F", "11CF"]))
    profile = load_profile(register, 2026)
    unit = identity.parse_unit(
        data.draw(st.sampled_from(["0301-00-958935420", "0301-12-958935420", "1103-00-964965226"])), 2026
    )
    spec = data.draw(st.sampled_from([f for f in profile.field_specs if not f.id_kind]))
    rule = _FieldRule(spec, _Context(profile, unit))
    known = [code for code in spec.codes] + [rule.expected or "", "0301", "01", "12", "7"]
    text = data.draw(
        st.one_of(
            st.text(alphabet=" 0123456789Xx-", min_size=spec.length, max_size=spec.length),
            st.sampled_from(known).flatmap(
                lambda v: st.integers(0, max(0, spec.length - len(v))).map(
                    lambda before: (" " * before + v).ljust(spec.length)[: spec.length]
                )
            ),
        )
    )
    padded = re.fullmatch(f"(?>{rule.pattern()}\n)", text + "\n") is not None
    exact = re.fullmatch(rule.exact_pattern(), text) is not None
    if spec.checked and (spec.type == "integer" or spec.codes_from):
        aligned = re.fullmatch(r"[0-9]+ *| *[0-9]+", text) or (not spec.mandatory and not text.strip(" "))
        assert exact == (padded and bool(aligned))
    else:
        assert exact == padded


def test_first_seen_finds_every_duplicate_with_its_first_line(monkeypatch):
    """Spilled to disk and split into parts (made small here), the table still names each repeat's first line."""
    from sendemodul.profiles.rules import duplicates as rules_module

    monkeypatch.setattr(rules_module, "_RESOLVE_MAX", 300)
    monkeypatch.setattr(rules_module, "_SPILL_BLOCK", 100)
    monkeypatch.setattr(rules_module, "_PART_FLUSH", 10)
    seen = _FirstSeen()
    values = [f"{n:011d}" for n in range(5000)]
    for n, v in enumerate(values):
        seen.add(v, n + 1)
    rng = random.Random(1)
    repeats = rng.sample(range(5000), 200)
    for i, n in enumerate(repeats):
        seen.add(values[n], 6000 + i)
        seen.add(values[n], 7000 + i)
    expected = {(6000 + i, n + 1) for i, n in enumerate(repeats)} | {(7000 + i, n + 1) for i, n in enumerate(repeats)}
    found = list(seen.duplicates())
    assert len(found) == len(expected) and set(found) == expected


def test_first_seen_hashes_a_value_alike_whichever_way_it_comes():
    """One value met by add (a record checked alone), add_many (a block's strings) and add_columns (a block's
    byte columns) is one value: each repeat names the first line, and different values (short, at the 15-byte
    limit, longer, non-ASCII, with NUL padding that a short one might be confused with) never meet."""
    import numpy as np

    seen = _FirstSeen()
    digits = [f"{n:011d}" for n in range(300)]
    seen.add_columns(np.frombuffer("".join(digits).encode(), np.uint8).reshape(300, 11), np.arange(1, 301))
    seen.add_many(digits[:3], [301, 302, 303])
    for n, v in enumerate(digits[3:6]):
        seen.add(v, 304 + n)
    odd = ["", "a", "a\0", "x" * 15, "x" * 16, "x" * 16 + "y", "ø" * 7, "ø" * 8, "\x0ba" + "\0" * 10]
    seen.add_many(odd, list(range(400, 400 + len(odd))))
    for n, v in enumerate(odd):
        seen.add(v, 500 + n)
    seen.add_columns(np.frombuffer(b"00000000007", np.uint8).reshape(1, 11), np.array([600]))
    expected = {(301 + n, n + 1) for n in range(6)} | {(500 + n, 400 + n) for n in range(len(odd))} | {(600, 8)}
    assert set(seen.duplicates()) == expected


def test_duplicates_are_listed_in_line_order_up_to_the_cap_and_all_counted():
    profile = load_profile("11F", 2026)
    lines = lines_of(profile, 3)
    data = encode(profile, [*lines, lines[1], lines[0], lines[2], lines[0]])
    report = check(profile, data, max_per_rule=3)
    found = [(f.line, f.field, f.message) for f in report.findings if f.rule == "DUPLICATE_ID"]
    assert found == [
        (4, "PERSON_FODSELSNR", "PERSON_FODSELSNR is the same as on line 2"),
        (5, "PERSON_FODSELSNR", "PERSON_FODSELSNR is the same as on line 1"),
        (6, "PERSON_FODSELSNR", "PERSON_FODSELSNR is the same as on line 3"),
    ]
    assert report.rule_counts["DUPLICATE_ID"] == 4 and report.rule_counts["DUPLICATE"] == 4
    journal = {f.line: f.journalnr for f in report.findings if f.rule == "DUPLICATE"}
    assert journal == {4: "00000002", 5: "00000001", 6: "00000003"}
    assert report.omitted == {"DUPLICATE_ID": 1, "DUPLICATE": 1}


# ---------------------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def files(tmp_path):
    profile = load_profile("11CF", 2026)
    good = tmp_path / "good.txt"
    good.write_bytes(generate_extract(profile, ALNA, 20, seed=1))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(generate_extract(profile, ALNA, 20, seed=1, errors={5: "CODE", 7: "ID_INVALID"}))
    return good, bad


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)


UNIT_ARGS = ("--register", "11CF", "--periode", "2026", "--unit", "0301-12-958935420")


def test_cli_exit_codes_follow_the_worst_finding(files):
    good, bad = files
    result = invoke("check", *UNIT_ARGS, good)
    assert result.exit_code == 0, result.output
    assert "Result: INFO" in result.output and f"file: {good}" in result.output
    assert invoke("check", *UNIT_ARGS, "--production", good).exit_code == 1
    result = invoke("check", *UNIT_ARGS, "--format", "json", bad)
    assert result.exit_code == 2
    assert {f["rule"] for f in json.loads(result.output)["findings"]} == {"CODE", "ID_INVALID", "ID_SYNTHETIC"}


def test_cli_writes_the_report_to_a_file(files, tmp_path):
    _, bad = files
    out = tmp_path / "report.html"
    result = invoke("check", "-r", "11CF", "-p", "2026", "-u", "0301-12-958935420", "-f", "html", "-o", out, bad)
    assert result.exit_code == 2
    assert result.stdout == "" and "Result: ERROR" in result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_reads_standard_input(files):
    good, _ = files
    result = invoke("check", *UNIT_ARGS, "-", input=good.read_bytes())
    assert result.exit_code == 0 and "file: -" in result.output


def run_main(capsys, *args):
    """``sendemodul ARGS`` in this process, as the console script runs it: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--register", "11X", "--periode", "2026", "--unit", "0301-12-958935420"), "There is no profile for register"),
        (("--register", "11CF", "--periode", "2019", "--unit", "0301-12-958935420"), "Profiles exist for: 11CF 2025"),
        (("--register", "11CF", "--periode", "26", "--unit", "0301-12-958935420"), "--periode must be a year"),
        (("--register", "11CF", "--periode", "2026", "--unit", "0301-19-958935420"), "has no bydel 19"),
        (("--register", "11CF", "--periode", "2026", "--unit", "0301-12-987654321"), "987654321"),
        (("--register", "11CF", "--periode", "2026", "--unit", "oslo"), "KOMMUNENR-BYDEL-ORGNR"),
    ],
)
def test_cli_user_mistakes_are_one_error_line_and_exit_1(capsys, files, args, message):
    good, _ = files
    code, out, err = run_main(capsys, "check", *args, good)
    assert code == 1 and out == ""
    assert err.startswith("ERROR: ") and message in err and err.count("\n") == 1


def test_cli_unreadable_file(capsys, tmp_path):
    for path in (tmp_path / "missing.txt", tmp_path):
        code, _, err = run_main(capsys, "check", *UNIT_ARGS, path)
        assert code == 1 and err.startswith(f"ERROR: Cannot read {path}: ") and err.count("\n") == 1


def test_cli_exit_code_comes_through_the_console_entry_point(capsys, files):
    good, bad = files
    assert run_main(capsys, "check", *UNIT_ARGS, good)[0] == 0
    assert run_main(capsys, "check", *UNIT_ARGS, bad)[0] == 2


def test_cli_help_has_an_example():
    result = invoke("check", "--help")
    assert result.exit_code == 0 and "Example:" in result.output and "sendemodul check --register" in result.output


@pytest.mark.integration
def test_the_installed_command_checks_a_file(files):
    _, bad = files
    proc = run_cli("check", *UNIT_ARGS, "--format", "json", bad, check=False)
    assert proc.returncode == 2 and json.loads(proc.stdout)["exit_code"] == 2


def test_a_bad_last_field_after_many_blank_ones_is_checked_quickly():
    """Many optional fields with padding, then a broken last field: no exponential backtracking in the regex."""
    profile = FIXED_11F
    line = SAMPLE_LINES[0]
    blank = {
        spec.name: "" for spec in profile.field_specs if not spec.mandatory and not spec.id_kind and spec.role is None
    }
    line = with_fields(profile, line, **{**blank, "SANKSJONANDRE": "9"})
    started = time.perf_counter()
    report = check(profile, encode(profile, [line]))
    assert time.perf_counter() - started < 1
    assert one(report, "CODE").field == "SANKSJONANDRE"


def test_feed_text_is_for_fixed_width_extracts_only():
    from sendemodul.profiles.rules.checker import Checker

    profile = load_profile("15F", 2026)
    checker = Checker(profile, ALNA, profile.open_extract(io.BytesIO(b"")))
    with pytest.raises(TypeError, match="fixed-width"):
        checker.feed_text(1, "<Individ/>")
