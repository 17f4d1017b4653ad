"""Tests for sendemodul.identity: the DOMAIN.md vectors, code-list validity per year, and properties of the rules."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendemodul.errors import BydelError, IdentityError, KommunenrError, OrgnrError, UnitError
from sendemodul.identity import (
    ClassifiedId,
    FnrTables,
    IdClass,
    Kommune,
    Unit,
    check_bydel,
    check_orgnr,
    classify_id,
    duf_ok,
    fnr_check_digits,
    fnr_check_digits_ok,
    generate_fnr,
    kommune,
    parse_unit,
)

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
DUF_WEIGHTS = (4, 6, 3, 2, 4, 6, 3, 2, 7, 5)
ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)

EXPECTED_CLASS = {"fnr": IdClass.FNR, "dnr": IdClass.DNR, "hnr": IdClass.HNR, "synthetic": IdClass.SYNTHETIC}

FEW = settings(max_examples=100, deadline=None)

births = st.dates(min_value=date(1854, 1, 1), max_value=date(2039, 12, 31))
individuals = st.integers(min_value=0, max_value=999)


def weighted(digits, weights):
    return sum(int(d) * w for d, w in zip(digits, weights))


def single_digit_changes(number):
    """Every string that differs from ``number`` in exactly one digit."""
    for i, old in enumerate(number):
        for new in "0123456789":
            if new != old:
                yield number[:i] + new + number[i + 1 :]


def number_prefix(birth, individual, kind):
    """The first 9 digits that generate_fnr uses."""
    day_offset, month_offset = {"fnr": (0, 0), "dnr": (40, 0), "hnr": (0, 40), "synthetic": (0, 80)}[kind]
    return f"{birth.day + day_offset:02d}{birth.month + month_offset:02d}{birth.year % 100:02d}{individual:03d}"


def fnr_2032_only(first9):
    """An 11-digit ID valid only under the 2032 rule (K1 leaving remainder 1-3), or None if there is none."""
    for remainder in (1, 2, 3):
        k1 = (remainder - weighted(first9, K1_WEIGHTS)) % 11
        if k1 == 10:
            continue
        k2 = (-weighted(first9 + str(k1), K2_WEIGHTS)) % 11
        if k2 != 10:
            return f"{first9}{k1}{k2}"
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Fødselsnummer vectors from DOMAIN.md


@pytest.mark.parametrize("fnr", ["05011399292", "01015450068", "31123999854"])
def test_domain_vectors_valid_under_current_rule(fnr):
    assert fnr_check_digits_ok(fnr) == "current"
    assert fnr_check_digits(fnr[:9]) == fnr[9:]
    assert classify_id(fnr) == ClassifiedId(IdClass.FNR, fnr, "current")


def test_domain_vector_valid_only_under_2032_rule():
    assert fnr_check_digits_ok("30108299939") == "2032"
    assert fnr_check_digits("301082999") != "39"
    assert classify_id("30108299939") == ClassifiedId(IdClass.FNR, "30108299939", "2032")


def test_domain_2032_example_also_satisfies_current_rule():
    # Skatteetaten's example happens to leave K1 remainder 0, so the current rule matches and is the one reported.
    assert fnr_check_digits_ok("02013299997") == "current"
    assert classify_id("02013299997").rule == "current"


def test_classify_strips_whitespace_and_keeps_digits_only():
    assert classify_id("  05011399292\n") == ClassifiedId(IdClass.FNR, "05011399292", "current")


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_missing(raw):
    assert classify_id(raw) == ClassifiedId(IdClass.MISSING, None, None)
    assert classify_id(raw, kind="duf").id_class is IdClass.MISSING


@pytest.mark.parametrize(
    "raw",
    [
        "0501139929",
        "050113992920",
        "0501139929x",
        "050113 99292",
        "05011399-292",
        "０５０１１３９９２９２",  # full-width digits: str.isdigit() says yes
        "٠٥٠١١٣٩٩٢٩٢",  # Arabic-Indic digits
    ],
)
def test_bad_format(raw):
    result = classify_id(raw)
    assert result == ClassifiedId(IdClass.BAD_FORMAT, None, None)
    assert not result.valid


@pytest.mark.parametrize(
    "raw",
    [
        "00011399292",  # day 0
        "32011399292",  # day 32
        "40011399292",  # D-number day 0
        "72011399292",  # D-number day 32
        "05001399292",  # month 0
        "05131399292",  # month 13
        "05401399292",  # H-number month 0
        "05531399292",  # H-number month 13
        "05801399292",  # synthetic month 0
        "05931399292",  # synthetic month 13
        "31041399292",  # 31 April
        "30021200100",  # 30 February, even as a placeholder
        "29021300000",  # 29 February in no year ending 13
        "69021300000",  # ... nor as a D-number
    ],
)
def test_bad_date(raw):
    assert classify_id(raw) == ClassifiedId(IdClass.BAD_DATE, raw, None)


@pytest.mark.parametrize("yy", ["00", "04", "12", "96"])
def test_29_february_exists_when_a_year_ending_in_yy_is_a_leap_year(yy):
    assert classify_id(f"2902{yy}00100").id_class is IdClass.PLACEHOLDER


@pytest.mark.parametrize("suffix", ["00100", "00200", "99999"])
def test_placeholders(suffix):
    result = classify_id(f"010180{suffix}")
    assert result == ClassifiedId(IdClass.PLACEHOLDER, f"010180{suffix}", None)
    assert result.valid


def test_placeholder_needs_a_plain_date():
    # With a D-number offset the suffix is an individual number + check digits like any other.
    assert classify_id("41018000100").id_class is IdClass.BAD_CHECKSUM


def test_bad_checksum():
    assert classify_id("05011399293") == ClassifiedId(IdClass.BAD_CHECKSUM, "05011399293", None)
    assert fnr_check_digits_ok("05011399293") is None


@pytest.mark.parametrize("bad", ["0501139929", "0501139929x", "", "０５０１１３９９２９２"])
def test_fnr_check_digits_ok_refuses_non_digits(bad):
    assert fnr_check_digits_ok(bad) is None


def test_fnr_check_digits_none_when_a_check_digit_would_be_10():
    # Individual numbers 000-999 for one date: some must hit K1 = 10 or K2 = 10.
    first9s = [f"010180{i:03d}" for i in range(1000)]
    nones = [f for f in first9s if fnr_check_digits(f) is None]
    assert nones
    for first9 in nones:
        k1 = (11 - weighted(first9, K1_WEIGHTS) % 11) % 11
        assert k1 == 10 or (11 - weighted(first9 + str(k1), K2_WEIGHTS) % 11) % 11 == 10
        assert generate_fnr(date(1980, 1, 1), int(first9[6:])) is None


def test_fnr_check_digits_refuses_wrong_input():
    with pytest.raises(ValueError):
        fnr_check_digits("12345678")


def test_classify_refuses_unknown_kind():
    with pytest.raises(ValueError):
        classify_id("05011399292", kind="dnr")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("fnr", "05011399292"), ("dnr", "45011399286"), ("hnr", "05411399275"), ("synthetic", "05811399258")],
)
def test_generate_fnr_examples(kind, expected):
    assert generate_fnr(date(2013, 1, 5), 992, kind=kind) == expected
    assert classify_id(expected) == ClassifiedId(EXPECTED_CLASS[kind], expected, "current")


def test_offset_changes_the_check_digits():
    assert classify_id("45011399292").id_class is IdClass.BAD_CHECKSUM


def test_offsets_combine_with_documented_precedence():
    def with_check_digits(first9):
        return first9 + fnr_check_digits(first9)

    assert classify_id(with_check_digits("458113992")).id_class is IdClass.SYNTHETIC  # day+40 and month+80
    assert classify_id(with_check_digits("454113992")).id_class is IdClass.DNR  # day+40 and month+40
    assert classify_id(with_check_digits("058113992")).id_class is IdClass.SYNTHETIC
    assert classify_id(with_check_digits("054113992")).id_class is IdClass.HNR


def test_generate_fnr_refuses_bad_arguments():
    with pytest.raises(ValueError):
        generate_fnr(date(2000, 1, 1), 1000)
    with pytest.raises(ValueError):
        generate_fnr(date(2000, 1, 1), 1, kind="duf")


def test_generate_fnr_never_returns_a_placeholder():
    # For some dates individual 001/002 get check digits 00, or 999 gets 99: the number would read as a placeholder.
    start = date(1980, 1, 1).toordinal()
    days = [date.fromordinal(start + n) for n in range(400)]
    clashes = [
        (d, i, check)
        for d in days
        for i, check in ((1, "00"), (2, "00"), (999, "99"))
        if fnr_check_digits(f"{d:%d%m%y}{i:03d}") == check
    ]
    assert clashes
    for d, i, check in clashes:
        assert generate_fnr(d, i) is None
        assert classify_id(f"{d:%d%m%y}{i:03d}{check}").id_class is IdClass.PLACEHOLDER


# ---------------------------------------------------------------------------------------------------------------------
# Fødselsnummer properties


@FEW
@given(births, individuals, st.sampled_from(sorted(EXPECTED_CLASS)))
def test_generated_numbers_classify_as_their_kind(birth, individual, kind):
    number = generate_fnr(birth, individual, kind=kind)
    prefix = number_prefix(birth, individual, kind)
    check = fnr_check_digits(prefix)
    if number is None:
        assert check is None or (kind == "fnr" and prefix[6:] + check in ("00100", "00200", "99999"))
        return
    assert number == prefix + check
    result = classify_id(number)
    assert result == ClassifiedId(EXPECTED_CLASS[kind], number, "current")
    assert result.valid


@FEW
@given(births, individuals, st.sampled_from(sorted(EXPECTED_CLASS)))
def test_2032_numbers_classify_as_their_kind_under_the_2032_rule(birth, individual, kind):
    number = fnr_2032_only(number_prefix(birth, individual, kind))
    if number is None:
        return
    assert fnr_check_digits_ok(number) == "2032"
    assert classify_id(number) == ClassifiedId(EXPECTED_CLASS[kind], number, "2032")


@FEW
@given(births, individuals, st.sampled_from(sorted(EXPECTED_CLASS)), st.booleans())
def test_every_single_digit_change_fails_both_check_digit_rules(birth, individual, kind, use_2032):
    """K2 (unchanged by the 2032 rule) has weights 5,4,3,2,7,6,5,4,3,2 and 1 for itself, all non-zero mod 11, and a
    digit changes by 1-9: so any single-digit change breaks K2, under either rule. A changed ID is therefore never
    valid by its check digits; it classifies as BAD_CHECKSUM, BAD_DATE (the date part became impossible) or
    PLACEHOLDER (e.g. ...00101 -> ...00100)."""
    prefix = number_prefix(birth, individual, kind)
    number = fnr_2032_only(prefix) if use_2032 else generate_fnr(birth, individual, kind=kind)
    if number is None:
        return
    for changed in single_digit_changes(number):
        assert fnr_check_digits_ok(changed) is None
        assert classify_id(changed).id_class in (IdClass.BAD_CHECKSUM, IdClass.BAD_DATE, IdClass.PLACEHOLDER)


@FEW
@given(st.one_of(st.none(), st.text(max_size=14), st.text(alphabet="0123456789 ", max_size=14)))
def test_classify_never_raises_and_is_consistent(raw):
    result = classify_id(raw)
    if result.id_class in (IdClass.MISSING, IdClass.BAD_FORMAT):
        assert result.canonical is None
    else:
        assert result.canonical == raw.strip() and len(result.canonical) == 11
    assert (result.rule is not None) == (result.valid and result.id_class is not IdClass.PLACEHOLDER)
    assert result.rule == (fnr_check_digits_ok(result.canonical) if result.rule else None)


def reference_classify(text):
    """classify_id for 11 ASCII digits as DOMAIN.md words it, slowly: the oracle for the fast code."""
    import calendar

    day, month, yy = int(text[0:2]), int(text[2:4]), int(text[4:6])
    id_class = IdClass.FNR
    if day > 40:
        day, id_class = day - 40, IdClass.DNR
    if month > 80:
        month, id_class = month - 80, IdClass.SYNTHETIC
    elif month > 40:
        month -= 40
        id_class = IdClass.HNR if id_class is IdClass.FNR else id_class
    leap_year = 2000 + yy if yy % 4 == 0 else 2001
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(leap_year, month)[1]):
        return IdClass.BAD_DATE, None
    if id_class is IdClass.FNR and text[6:] in ("00100", "00200", "99999"):
        return IdClass.PLACEHOLDER, None
    if (weighted(text[:10], K2_WEIGHTS) + int(text[10])) % 11:
        return IdClass.BAD_CHECKSUM, None
    remainder = (weighted(text[:9], K1_WEIGHTS) + int(text[9])) % 11
    if remainder > 3:
        return IdClass.BAD_CHECKSUM, None
    return id_class, "current" if remainder == 0 else "2032"


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_classify_agrees_with_the_slow_reference(text):
    result = classify_id(text)
    assert (result.id_class, result.rule) == reference_classify(text)


def test_classify_dates_agree_with_the_calendar():
    for yy in (0, 1, 2, 3, 4, 38, 99):
        for month in [*range(14), *range(39, 54), *range(79, 94), 99]:
            for day in [*range(33), *range(39, 73), 99]:
                text = f"{day:02d}{month:02d}{yy:02d}12345"
                bad_date = classify_id(text).id_class is IdClass.BAD_DATE
                assert bad_date == (reference_classify(text)[0] is IdClass.BAD_DATE), text


# ---------------------------------------------------------------------------------------------------------------------
# DUF


def duf_number(first10):
    return first10 + f"{weighted(first10, DUF_WEIGHTS) % 11:02d}"


@FEW
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_duf_round_trip(first10):
    number = duf_number(first10)
    assert duf_ok(number)
    assert classify_id(f" {number} ", kind="duf") == ClassifiedId(IdClass.DUF, number, None)
    for changed in single_digit_changes(number):
        assert not duf_ok(changed)
        assert classify_id(changed, kind="duf") == ClassifiedId(IdClass.BAD_CHECKSUM, changed, None)


@pytest.mark.parametrize("raw", ["12345678901", "1234567890123", "12345678901x", "05011399292"])
def test_duf_bad_format(raw):
    assert classify_id(raw, kind="duf") == ClassifiedId(IdClass.BAD_FORMAT, None, None)
    assert not duf_ok(raw)


def test_duf_is_bad_format_as_fnr():
    assert classify_id(duf_number("2013010512"), kind="fnr").id_class is IdClass.BAD_FORMAT


def test_id_class_values_are_the_names():
    assert [c.value for c in IdClass] == [c.name for c in IdClass]
    assert str(IdClass.SYNTHETIC) == "SYNTHETIC"
    assert isinstance(IdClass.FNR, str)
    assert {c for c in IdClass if ClassifiedId(c, None, None).valid} == {
        IdClass.FNR,
        IdClass.DNR,
        IdClass.HNR,
        IdClass.SYNTHETIC,
        IdClass.DUF,
        IdClass.PLACEHOLDER,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Organisasjonsnummer


@pytest.mark.parametrize("orgnr", ["958935420", "974760673", "976993403"])
def test_orgnr_valid(orgnr):
    assert check_orgnr(orgnr) == orgnr


def test_orgnr_domain_invalid_vector_names_the_check_digit():
    with pytest.raises(OrgnrError, match="check digit"):
        check_orgnr("987654321")


@pytest.mark.parametrize(
    ("orgnr", "match"),
    [
        ("95893542", "must be 9 digits; 95893542 has 8"),
        ("9589354200", "has 10"),
        ("", "nothing else"),
        ("958 935 420", "nothing else"),
        ("95893542O", "nothing else"),
        ("９５８９３５４２０", "nothing else"),
        ("158935420", "starts with 8 or 9, not 1"),
        ("958935421", "check digit"),
    ],
)
def test_orgnr_errors_are_specific(orgnr, match):
    with pytest.raises(OrgnrError, match=match):
        check_orgnr(orgnr)


def test_orgnr_whose_check_digit_would_be_10():
    prefix = next(p for p in (f"8{n:07d}" for n in range(100)) if weighted(p, ORGNR_WEIGHTS) % 11 == 1)
    with pytest.raises(OrgnrError, match="would be 10"):
        check_orgnr(prefix + "0")


orgnr_prefixes = st.tuples(st.sampled_from("89"), st.text(alphabet="0123456789", min_size=7, max_size=7))


@FEW
@given(orgnr_prefixes)
def test_valid_orgnr_accepted_and_every_single_digit_change_refused(parts):
    prefix = "".join(parts)
    check = (11 - weighted(prefix, ORGNR_WEIGHTS) % 11) % 11
    if check == 10:
        with pytest.raises(OrgnrError):
            check_orgnr(prefix + "0")
        return
    orgnr = f"{prefix}{check}"
    assert check_orgnr(orgnr) == orgnr
    for changed in single_digit_changes(orgnr):
        with pytest.raises(OrgnrError):
            check_orgnr(changed)


# ---------------------------------------------------------------------------------------------------------------------
# Kommune and bydel


def test_kommune_0301_valid_2026():
    oslo = kommune("0301", 2026)
    assert oslo == Kommune("0301", "Oslo - Oslove", "03", None, None)


def test_expired_kommune_valid_in_2023_refused_later():
    halden = kommune("3001", 2023)
    assert halden.name == "Halden"
    assert halden.valid_to == date(2023, 12, 31)
    for year in (2024, 2026):
        with pytest.raises(KommunenrError) as caught:
            kommune("3001", year)
        assert str(caught.value) == (
            f"3001 (Halden) is not valid in {year}: it ended 2023-12-31; Halden is 3101 in {year}."
        )


def test_new_kommune_refused_before_it_begins():
    assert kommune("3101", 2024).name == "Halden"
    with pytest.raises(KommunenrError, match=r"^3101 \(Halden\) is not valid in 2023: it begins 2024-01-01"):
        kommune("3101", 2023)


def test_code_list_counts_per_year():
    """DOMAIN.md: 357 kommuner from 2024; 114 codes expired on 2023-12-31."""

    def valid_codes(year):
        codes = set()
        for n in range(10000):
            try:
                codes.add(kommune(f"{n:04d}", year).kommunenr)
            except KommunenrError:
                pass
        return codes

    in_2023, in_2024, in_2026 = valid_codes(2023), valid_codes(2024), valid_codes(2026)
    assert len(in_2024) == len(in_2026) == 357
    assert len(in_2023 - in_2024) == 114
    assert all(kommune(code, 2023).valid_to == date(2023, 12, 31) for code in in_2023 - in_2024)
    assert all(kommune(code, 2024).fylkesnr == code[:2] for code in in_2024)


def test_unknown_kommune():
    with pytest.raises(KommunenrError, match=r"^9999 is not a known kommunenummer"):
        kommune("9999", 2026)


@pytest.mark.parametrize("bad", ["301", "03010", "", "03O1", " 0301", "０３０１"])
def test_kommune_format(bad):
    with pytest.raises(KommunenrError, match="must be 4 digits"):
        kommune(bad, 2026)


@pytest.mark.parametrize(
    ("kommunenr", "bydel"), [("0301", "00"), ("0301", "01"), ("0301", "12"), ("0301", "15"), ("1103", "00")]
)
def test_bydel_allowed(kommunenr, bydel):
    assert check_bydel(kommunenr, bydel, 2026) == bydel


@pytest.mark.parametrize(("bydel", "name"), [("16", "Sentrum"), ("17", "Marka")])
def test_oslo_statistical_areas_do_not_report(bydel, name):
    with pytest.raises(BydelError, match=rf"^Bydel {bydel} \({name}\) in Oslo - Oslove does not report"):
        check_bydel("0301", bydel, 2026)


@pytest.mark.parametrize(
    ("kommunenr", "bydel", "match"),
    [
        ("1103", "01", r"^1103 \(Stavanger\) has no bydeler: use bydel 00"),
        ("0301", "18", r"has no bydel 18 in 2026\. Use 00 or one of 01-15"),
        ("0301", "1", "must be 2 digits"),
        ("0301", "  ", "must be 2 digits"),
    ],
)
def test_bydel_refused(kommunenr, bydel, match):
    with pytest.raises(BydelError, match=match):
        check_bydel(kommunenr, bydel, 2026)


def test_bydel_checks_the_kommune_first():
    with pytest.raises(KommunenrError, match="ended 2023-12-31"):
        check_bydel("3001", "00", 2026)


# ---------------------------------------------------------------------------------------------------------------------
# Units


def test_parse_unit():
    unit = parse_unit("  0301-12-958935420\n", 2026)
    assert unit == Unit("0301", "12", "958935420")
    assert str(unit) == "0301-12-958935420"
    assert unit.region == "030112"
    assert parse_unit("1103-00-974760673", 2026).region == "110300"


def test_parse_unit_defaults_to_this_year():
    assert parse_unit("0301-00-958935420") == Unit("0301", "00", "958935420")


def test_units_order_by_kommune_bydel_orgnr():
    units = [Unit("1103", "00", "974760673"), Unit("0301", "12", "958935420"), Unit("0301", "01", "976993403")]
    assert [str(u) for u in sorted(units)] == ["0301-01-976993403", "0301-12-958935420", "1103-00-974760673"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "it has 1 part"),
        ("0301-958935420", "it has 2 part"),
        ("0301-12-958935420-1", "it has 4 part"),
        ("0301 12 958935420", "it has 1 part"),
        ("0301_12_958935420", "it has 1 part"),
        ("301-12-958935420", "the kommunenummer must be 4 digits"),
        ("0301-1-958935420", r"the bydel must be 2 digits \(00 for the whole kommune\)"),
        ("0301-12-95893542", "the organisasjonsnummer must be 9 digits"),
        ("0301- 12-958935420", "the bydel must be 2 digits"),
        ("0301-12-９５８９３５４２０", "the organisasjonsnummer must be 9 digits"),
    ],
)
def test_parse_unit_bad_shape(text, match):
    shape = r"^The unit must be written KOMMUNENR-BYDEL-ORGNR, e\.g\. 0301-12-958935420: "
    with pytest.raises(UnitError, match=shape + match):
        parse_unit(text, 2026)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("9999-00-958935420", KommunenrError, "9999 is not a known kommunenummer"),
        ("3001-00-958935420", KommunenrError, "ended 2023-12-31"),
        ("0301-16-958935420", BydelError, "does not report"),
        ("1103-01-958935420", BydelError, "has no bydeler"),
        ("0301-12-987654321", OrgnrError, "check digit"),
        ("0301-12-158935420", OrgnrError, "starts with 8 or 9"),
    ],
)
def test_parse_unit_passes_on_the_specific_error(text, error, match):
    with pytest.raises(error, match=match) as caught:
        parse_unit(text, 2026)
    assert isinstance(caught.value, IdentityError)


def test_parse_unit_year_matters():
    assert parse_unit("3001-00-958935420", 2023).kommunenr == "3001"
    with pytest.raises(KommunenrError):
        parse_unit("3001-00-958935420", 2024)


def _table_class(tables, value):
    """What FnrTables says about 11 ASCII digits, following its documented recipe."""
    date = tables.date(value[:6])
    if date is None:
        return tables.labels[IdClass.BAD_DATE]
    label, partial = date
    if label is tables.fnr and value[6:] in tables.placeholders:
        return tables.labels[IdClass.PLACEHOLDER]
    if tables.rules[partial + tables.suffixes[value[6:]]] is None:
        return tables.labels[IdClass.BAD_CHECKSUM]
    return label


@FEW
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_fnr_tables_classify_as_classify_id(digits):
    tables = FnrTables({c: c for c in IdClass})
    assert _table_class(tables, digits.encode()) is classify_id(digits).id_class


@FEW
@given(
    st.dates(),
    st.integers(0, 999),
    st.sampled_from(["fnr", "dnr", "hnr", "synthetic"]),
    st.sampled_from(["", "00100", "00200", "99999", "flip"]),
)
def test_fnr_tables_on_valid_and_nearly_valid_numbers(birth, individual, kind, change):
    number = generate_fnr(birth, individual, kind=kind)
    if number is None:
        return
    if change == "flip":
        number = number[:10] + str((int(number[10]) + 1) % 10)
    elif change:
        number = number[:6] + change
    tables = FnrTables({c: c.value.encode() for c in IdClass})
    expected = classify_id(number).id_class
    assert _table_class(tables, number.encode()) == expected.value.encode()


@FEW
@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_fnr_tables_duf_ok_is_duf_ok(digits):
    valid = digits[:10] + f"{sum(int(d) * w for d, w in zip(digits, DUF_WEIGHTS)) % 11:02d}"
    for number in (digits, valid):
        assert FnrTables.duf_ok(number.encode()) is duf_ok(number)


def test_id_classes_hash_as_their_values():
    """IdClass members are used as dict keys and set members per record: their hash is their value's (a str's)."""
    assert all(hash(c) == hash(c.value) for c in IdClass)
    assert {IdClass.FNR: 1}["FNR"] == 1 and IdClass.DUF in {"DUF"}


def test_classify_fnr_array_agrees_with_classify_fnr_digits():
    """The block classifier (the encryption module's checks) gives each ID the class and rule of the scalar one: on
    every kind of generated ID, their check digits swapped, placeholders, and random digits of every date shape."""
    import random

    import numpy as np

    from sendemodul.identity import classify_fnr_digits, duf_ok, generate_fnr
    from sendemodul.identity.fnr_tables import ARRAY_CLASSES, ARRAY_RULES, classify_fnr_array, duf_ok_array

    rng = random.Random(7)
    values = {f"{rng.randrange(10**11):011d}" for _ in range(20_000)}
    for _ in range(40_000):
        day, month = rng.randint(0, 75), rng.choice([rng.randint(0, 13), rng.randint(40, 53), rng.randint(80, 93)])
        suffix = rng.choice(["00100", "00200", "99999", f"{rng.randrange(10**5):05d}"])
        values.add(f"{day:02d}{month:02d}{rng.randint(0, 99):02d}{suffix}")
    for _ in range(20_000):
        kind = rng.choice(["fnr", "dnr", "hnr", "synthetic"])
        generated = generate_fnr(
            date(1900, 1, 1).fromordinal(rng.randint(693596, 739000)), rng.randint(0, 999), kind=kind
        )
        if generated:
            values.update({generated, generated[:9] + generated[10] + generated[9]})
    ordered = sorted(values)
    classes, rules = classify_fnr_array(np.frombuffer("".join(ordered).encode(), np.uint8).reshape(-1, 11))
    got = [(ARRAY_CLASSES[c], ARRAY_RULES[r]) for c, r in zip(classes.tolist(), rules.tolist())]
    assert got == [classify_fnr_digits(v) for v in ordered]
    assert {c for c, _ in got} == set(ARRAY_CLASSES) and {r for _, r in got} == set(ARRAY_RULES)
    duf = [f"{rng.randrange(10**12):012d}" for _ in range(20_000)] + ["200000000100", "123456789012"]
    ok = duf_ok_array(np.frombuffer("".join(duf).encode(), np.uint8).reshape(-1, 12)).tolist()
    assert ok == [duf_ok(v) for v in duf] and any(ok)
