"""The block form of the rule tables (sendemodul/profiles/rules/rule_block.py, numpy) against the reference, the
generated ``passes`` function, line by line: on the SSB cases, seeded random records with odd values in every field,
and hypothesis's records; and the block path of the checks (``Checker.feed_block``) against ``run_checks`` on
extracts where only some records of a block fail (every control, the 2032 rule, Oslo's bydeler, duplicates)."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rule_table import odd_value
from test_ssb_sosial import BASE, CASES, OSLO, STAVANGER, case_values, render, rule_2032

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.rules.checker import Checker, run_checks
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.fixed_records import FixedRules
from sendemodul.profiles.rules.rule_block import padded_forms

YEAR = 2026


def rules_for(register: str, year: int, unit=None) -> FixedRules:
    profile = load_profile(register, year)
    unit = unit or (OSLO if register == "11F" else STAVANGER)
    parsed = identity.parse_unit(str(unit), year)
    return FixedRules(profile, Context(profile, parsed), lambda *args: None, allow_synthetic=True)


def passes_field_rules(rules: FixedRules, text: str) -> bool:
    """Whether a line passed the field rules, as the block path asks before it runs the controls."""
    if rules._record_re.fullmatch(text) is None:
        return False
    return all(rule.problem(text[start:end]) is None for rule, start, end, _ in rules._python_memo)


def compare(rules: FixedRules, lines: list[str]) -> tuple[int, set[str]]:
    """The block form and ``passes`` on the lines that passed the field rules; how many, and the controls that
    fired on them."""
    controls = rules._controls
    assert controls is not None
    profile = rules.profile
    kept = [t for t in lines if passes_field_rules(rules, t)]
    if not kept:
        return 0, set()
    raw = np.frombuffer(("\n".join(kept) + "\n").encode(profile.encoding), np.uint8)
    raw = raw.reshape(len(kept), profile.record_length + 1)
    block = controls.table.block.passes(raw, kept.__getitem__)
    fired = set()
    for text, got in zip(kept, block.tolist()):
        assert got == controls.passes(text), [v[1] for v in controls.violations(values_of(rules, text))]
        fired.update(v[1] for v in controls.violations(values_of(rules, text)))
    return len(kept), fired


def values_of(rules: FixedRules, text: str) -> dict[str, str]:
    return {spec.name: text[spec.span[0] : spec.span[1]].strip(" ") for spec in rules.profile.field_specs}


def case_lines(register: str) -> list[str]:
    return [
        render(register, values)
        for _, reg, changes, _, _ in CASES
        if reg == register
        for values in case_values(register, changes)
    ]


def render_in(register: str, year: int, values: dict[str, str]) -> str:
    """``render`` with the year's layout."""
    profile = load_profile(register, year)
    return "".join(
        values.get(spec.name, "").rjust(spec.width)
        if spec.type == "integer"
        else values.get(spec.name, "").ljust(spec.width)
        for spec in profile.field_specs
    )


def random_lines(register: str, year: int, n: int, odd: float, seed: str) -> list[str]:
    profile = load_profile(register, year)
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        values = {**BASE[register], "VERSION": str(year)[2:]}
        for spec in profile.field_specs:
            if spec.name != "KOMMUNE_NR" and rng.random() < odd:
                values[spec.name] = odd_value(rng, spec, year).strip(" ")
        lines.append(render_in(register, year, values))
    return lines


@pytest.mark.parametrize("register", ["11F", "11CF"])
def test_every_control_has_a_block_form(register):
    rules = rules_for(register, YEAR)
    assert rules._controls is not None
    assert rules._controls.table.block.line_controls == []


@pytest.mark.parametrize("register", ["11F", "11CF"])
@pytest.mark.parametrize("year", [2025, 2026])
def test_block_form_agrees_with_passes(register, year):
    rules = rules_for(register, year)
    lines = case_lines(register) if year == YEAR else []
    lines += random_lines(register, year, 3000, 0.03, f"{register}-{year}-block")
    compared, fired = compare(rules, lines)
    assert compared >= 500
    assert len(fired) >= 10, fired


def test_every_11f_control_fires_in_the_block_form():
    """The SSB cases and random records reach the 11F controls that can fire after the field rules; each of them is
    compared on lines where it fires and where it does not."""
    rules = rules_for("11F", YEAR)
    lines = case_lines("11F") + random_lines("11F", YEAR, 2000, 0.1, "11F-all")
    profile = load_profile("11F", YEAR)
    codes = {spec.name: sorted(spec.codes) for spec in profile.field_specs}
    for vklo in codes["VKLO"]:
        for arbsit in codes["ARBSIT"]:
            for trygdesit in codes["TRYGDESIT"]:
                changes = {"VKLO": vklo, "ARBSIT": arbsit, "TRYGDESIT": trygdesit}
                lines.append(render("11F", {**BASE["11F"], **changes}))
    _, fired = compare(rules, lines)
    unreachable = {"K004A", "K008", "K009", "K010", "K014", "K022", "K025", "K032", "K033", "K035", "K039", "K040"}
    # (a mandatory date, the code lists of mandatory code fields: the field rules already refuse every other text)
    assert set(rules._controls.table.control_ids) - unreachable <= fired  # type: ignore[union-attr]


def test_padded_forms():
    assert padded_forms("1", 3) == ["1  ", " 1 ", "  1"]
    assert padded_forms("", 2) == ["  "]
    assert padded_forms(" 1", 3) == []
    assert padded_forms("1234", 3) == []


@st.composite
def records(draw, register: str):
    profile = load_profile(register, YEAR)
    values = dict(BASE[register])
    alphabet = st.sampled_from(list("0123456789 +-X²"))
    for spec in profile.field_specs:
        if spec.name in ("KOMMUNE_NR", "VERSION", "PERSON_FODSELSNR", "PERSON_DUF"):
            continue
        choice = draw(st.integers(0, 5))
        if choice == 0:
            values[spec.name] = draw(st.text(alphabet, max_size=spec.width)).strip(" ")
        elif choice == 1 and spec.codes:
            values[spec.name] = draw(st.sampled_from(sorted(spec.codes)))
        elif choice == 2 and spec.type == "integer":
            values[spec.name] = str(draw(st.integers(0, 10 ** min(spec.width, 9) - 1)))
    text = render(register, values)
    # a number field's digits at either side, as SSB's files have them
    for spec in profile.field_specs:
        if spec.type == "integer" and draw(st.booleans()):
            start, end = spec.span
            text = text[:start] + text[start:end].strip(" ").ljust(spec.width) + text[end:]
    return text


@pytest.mark.parametrize("register", ["11F", "11CF"])
def test_block_form_agrees_on_hypothesis_records(register):
    rules = rules_for(register, YEAR)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(records(register), min_size=1, max_size=20))
    def check(lines):
        compare(rules, lines)

    check()


def report_of(checker_report):
    return (
        [(f.severity, f.rule, f.line, f.journalnr, f.field, f.message, f.control) for f in checker_report.findings],
        checker_report.records,
        dict(checker_report.rule_counts),
        dict(checker_report.severity_counts),
    )


def block_report(profile, data: bytes, unit):
    extract = profile.open_extract(io.BytesIO(data))
    checker = Checker(profile, unit, extract)
    rows = []
    for first, block in extract.blocks():
        assert first is not None
        result = checker.feed_block(first, block)
        if result.rows is not None:
            rows.extend(result.rows)
        else:
            from sendemodul import container

            assert result.data is not None
            rows.extend(container.RowBlock(result.ids, result.data).rows())
    return checker.finish(), rows


@pytest.mark.parametrize(
    ("register", "unit"),
    [("11F", OSLO), ("11F", "1103-00-964965226"), ("11CF", STAVANGER), ("11CF", OSLO)],
)
def test_block_path_reports_like_run_checks(register, unit):
    """Blocks where most records are clean and some fail: a control, the 2032 rule, a bydel, a duplicate. The block
    path's report is the reference's, finding for finding, and its rows are the profile's own split."""
    profile = load_profile(register, YEAR)
    unit = identity.parse_unit(str(unit), YEAR)
    rng = random.Random(f"mixed-{register}-{unit}")
    good = random_lines(register, YEAR, 1, 0, "base")[0]
    lines = []
    fnr_span = next(spec.span for spec in profile.field_specs if spec.name == "PERSON_FODSELSNR")
    journal = next(spec.span for spec in profile.field_specs if spec.name == "PERSON_JOURNALNR")
    kommune = next(spec.span for spec in profile.field_specs if spec.name == "KOMMUNE_NR")
    bydel = next((spec.span for spec in profile.field_specs if spec.role == "bydel"), None)
    odd = random_lines(register, YEAR, 400, 0.05, f"odd-{register}")
    born = identity.generate_fnr
    for i in range(2500):
        text = odd[i % len(odd)] if rng.random() < 0.1 else good
        number = born(
            __import__("datetime").date(rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)),
            rng.randint(0, 499),
            kind=rng.choice(["fnr", "fnr", "dnr", "synthetic"]),
        )
        roll = rng.random()
        if roll < 0.01:
            number = rule_2032()
        elif roll < 0.02 and lines:
            number = lines[rng.randrange(len(lines))][fnr_span[0] : fnr_span[1]]  # a duplicate
        text = text[: fnr_span[0]] + (number or " " * 11) + text[fnr_span[1] :]
        text = text[: journal[0]] + f"J{i}".ljust(journal[1] - journal[0]) + text[journal[1] :]
        text = text[: kommune[0]] + unit.kommunenr + text[kommune[1] :]
        if bydel is not None:
            choice = rng.choice(["  ", "  ", "01", "15", "16", "00"]) if unit.kommunenr == "0301" else "  "
            text = text[: bydel[0]] + choice + text[bydel[1] :]
        lines.append(text)
    data = ("\n".join(lines) + "\n").encode(profile.encoding)
    reference = run_checks(profile, io.BytesIO(data), unit)
    fast, rows = block_report(profile, data, unit)
    assert report_of(fast) == report_of(reference)
    assert len(reference.findings) > 10
    assert rows == [profile.split(text) for text in lines]


def field_columns_agree(rules: FixedRules, lines: list[str]) -> int:
    """The block's field columns against the record expression, line by line; how many lines matched."""
    from sendemodul.profiles.rules.field_columns import FieldColumns

    profile = rules.profile
    raw = np.frombuffer(("\n".join(lines) + "\n").encode(profile.encoding), np.uint8)
    raw = raw.reshape(len(lines), profile.record_length + 1)
    got = FieldColumns(list(rules._field_patterns), profile.encoding).ok(raw).tolist()
    want = [rules._record_re.fullmatch(text) is not None for text in lines]
    for text, a, b in zip(lines, got, want):
        assert a == b, [rule.spec.name for rule in rules._rules if rule.problem(text[slice(*rule.spec.span)])]
    return sum(want)


@pytest.mark.parametrize(
    ("register", "year", "unit"),
    [("11F", 2026, OSLO), ("11F", 2025, OSLO), ("11CF", 2026, STAVANGER), ("11CF", 2025, STAVANGER)],
)
def test_field_columns_agree_with_the_record_expression(register, year, unit):
    rules = rules_for(register, year, unit)
    lines = random_lines(register, year, 3000, 0.02, f"{register}-{year}-fields")
    lines += random_lines(register, year, 1000, 0.3, f"{register}-{year}-odd")
    matched = field_columns_agree(rules, lines)
    assert 500 <= matched < len(lines)


@pytest.mark.parametrize("register", ["11F", "11CF"])
def test_field_columns_agree_on_hypothesis_records(register):
    rules = rules_for(register, YEAR)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(records(register), min_size=1, max_size=20))
    def check(lines):
        field_columns_agree(rules, lines)

    check()


@pytest.mark.parametrize(("register", "unit"), [("11F", OSLO), ("11F", None), ("11CF", STAVANGER)])
def test_small_field_tables_agree_with_the_field_patterns_on_every_text(register, unit):
    """The field columns decide a field one or two bytes wide by a table of its every possible text; each table
    against the field's part of the record expression, on every text of its width (no line holds a line break)."""
    import re

    from sendemodul.profiles.rules.field_columns import FieldColumns

    rules = rules_for(register, YEAR, unit)
    columns = FieldColumns(list(rules._field_patterns), rules.profile.encoding)
    patterns = {start: pattern for _, start, _, pattern in rules._field_patterns}
    checked = 0
    for width, small in columns._small.items():
        assert small is not None
        starts, table = small
        for k, start in enumerate(starts.tolist()):
            compiled = re.compile(patterns[start])
            for code in range(256**width):
                text = code.to_bytes(width, "little").decode(rules.profile.encoding)
                if "\n" in text:
                    continue
                assert bool(table[k * 256**width + code]) == (compiled.fullmatch(text) is not None), (start, text)
            checked += 1
    assert checked >= (30 if register == "11F" else 5)


def test_aligned_numbers_read_as_ssb_int():
    """A number field that passed the field rules (digits filling it, left- or right-aligned, or blank), 1 to 8
    wide, read by the controls' block form as ssb_int reads it."""
    from sendemodul.profiles.rules.rule_block_columns import _aligned_int_column, packed_field
    from sendemodul.profiles.rules.rule_values import ssb_int

    rng = random.Random("aligned")
    for width in range(1, 9):
        texts = [" " * width]
        for _ in range(400):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, width)))
            texts.append(digits.ljust(width) if rng.random() < 0.5 else digits.rjust(width))
        lines = [f"ab{text}c" for text in texts]  # the field amid other bytes, not at the line's start
        full = np.frombuffer(("\n".join(lines) + "\n").encode(), np.uint8).reshape(len(lines), width + 4)
        got = _aligned_int_column(packed_field(full, 2, width).view("<u2").reshape(-1, 4))
        assert got.tolist() == [float(ssb_int(text)) for text in texts], width


@pytest.mark.parametrize("mandatory", [True, False])
def test_block_date_judgement_agrees_with_the_field_rule(mandatory):
    """A ddMMyyyy date field judged on a block's column as FieldRule.problem judges it: every day 00-39 and month
    00-19 of leap and other years (including year 0000 and 9999), blanks, spaces inside, other bytes."""
    from dataclasses import replace

    from sendemodul.profiles.rules.fields import FieldRule

    rules = rules_for("11F", YEAR)
    spec = next(spec for spec in rules.profile.field_specs if spec.name == "UTBETDATO")
    rule = FieldRule(replace(spec, mandatory=mandatory), rules._rules[0].context)
    texts = [
        f"{d:02d}{m:02d}{y:04d}"
        for y in (0, 1, 1900, 1999, 2000, 2024, 2026, 9999)
        for d in range(40)
        for m in range(20)
    ]
    texts += [" " * 8, "0102 026", " 0102026", "010202 6", "0102202x", "01022026"[:7] + "\xff", "3112999 "]
    column = np.frombuffer("".join(texts).encode("latin-1"), np.uint8).reshape(len(texts), 8)
    got = rules._judged_column(rule, {}, column).tolist()
    assert got == [rule.problem(text) is None for text in texts]
    assert 0 < sum(got) < len(texts)


def test_rows_all_is_numpys_all_over_each_row():
    """The block path's reduction of a row (by columns for narrow rows) against ``all(axis=1)``, at every width
    either side of the switch, with no row, no column, and rows all true, all false and mixed."""
    import numpy as np

    from sendemodul.profiles.rules.rule_block_columns import _ROWS_BY_COLUMNS, rows_all

    rng = np.random.default_rng(7)
    for width in [*range(0, 18), _ROWS_BY_COLUMNS, _ROWS_BY_COLUMNS + 1, 339]:
        for n in (0, 1, 5, 300):
            mask = rng.random((n, width)) < 0.97
            mask[: n // 3] = True
            for m in (mask, mask[:, ::-1], np.zeros((n, width), bool)):
                got = rows_all(m)
                assert got.dtype == bool and got.shape == (n,)
                assert (got == m.all(axis=1)).all()
