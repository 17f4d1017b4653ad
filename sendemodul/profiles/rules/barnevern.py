"""SSB's individual barnevern (15F) controls that span more than one element of an ``Individ``: dates of meldinger,
undersøkelser, planer, tiltak and flyttinger against the individ's and the reporting year, codes that need a
``Presisering``, an individ with nothing in it.

The control ids are SSB's (kostra-kontrollprogram's ``IndividRuleId``: ``Individ06``, ``Tiltak02d`` ...), as are
the severities and the conditions; the code and the texts are our own. The controls that one element's attributes
decide (``Individ02a``, ``Individ02d``, ``Individ03``, ``Melding02a``, ``Plan02a``, ``Tiltak02a``,
``Undersokelse02a``) are consistency rules in ``15F-2026.toml``. A date that is not a valid date is left to the
``DATE`` rule: a control that needs it says nothing.

As every finding, these name no value longer than 4 characters (an ``Id`` or a date could be anything): an element is
named by its kind and number within the individ (``Tiltak nr. 2``), a year by itself.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from sendemodul import identity
from sendemodul.i18n import Msg
from sendemodul.identity.checkdigits import ascii_digits
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.rules.barnevern_ids import TITLES, header_control, record_control
from sendemodul.profiles.rules.report import Severity

__all__ = [
    "CONTROLS",
    "TITLES",
    "Control",
    "Facts",
    "Finding",
    "IdState",
    "age_in",
    "duf_state",
    "fnr_state",
    "header_control",
    "record_control",
    "run_controls",
]

#: A finding of a control: SSB's control id, severity, the field it names, our message.
Finding = tuple[str, Severity, "str | None", str]


@dataclass(frozen=True)
class Facts:
    """What the controls know besides the ``Individ`` element (which has its identifiers taken out)."""

    #: The reporting year.
    periode: int
    #: The unit's kommunenummer.
    kommunenr: str
    #: The individ's age in the reporting year (the year minus the birth year in its fødselsnummer or D-number, as
    #: SSB reckons it), ``None`` without one.
    age: int | None = None
    #: What SSB's ID controls see in the individ's identifiers (:func:`fnr_state`, :func:`duf_state`): never the
    #: identifiers themselves.
    fnr: IdState = "none"
    duf: IdState = "none"


#: An identifier as SSB's ID controls see it: ``none`` (missing or blank), ``format`` (not 11/12 digits: SSB's XSD
#: refuses it, Individ01), ``mod11`` (a fødselsnummer or D-number whose check digits hold by the pre-2032 rule),
#: ``placeholder`` (SSB's birth date + 00100, 00200 or 99999), ``valid`` (a DUF number whose check digits hold),
#: ``bad`` (anything else).
IdState = Literal["none", "format", "mod11", "placeholder", "valid", "bad"]

#: A control: the individ element and the facts to findings.
Control = Callable[[ET.Element, Facts], Iterator[Finding]]

CLOSED = "1"  # Avslutta3112: the individ's case is closed
OSLO = "0301"  # Individ10: Oslo reports per bydel
#: Kategori codes that need a Presisering (SSB's koderSomKreverPresisering).
KATEGORI_PRESISERING = frozenset({"1.99", "2.99", "3.7", "3.99", "4.99", "5.99", "6.99", "7.99", "8.99"})
#: Melding03: days from a melding's start to its end before the deadline is passed (7, and 1 day's grace, as SSB).
MELDING_DAYS = 8
#: Tiltak24: the barnevernlov's names in Lovhjemmel/@Lov; a tiltak begun on or before this day is under BVL1992.
BVL1992, BVL2021 = "BVL", "BVL2021"
BVL2021_FROM = datetime.date(2022, 12, 31)
#: Tiltak04: the letters of BVL2021 § 5-1 that make a tiltak an omsorgstiltak.
OMSORG_BOKSTAVER = frozenset("abcdefg")
#: Tiltak09: days two plasseringstiltak may not overlap.
PLACEMENT_OVERLAP_DAYS = 90


def _date(element: ET.Element, name: str) -> datetime.date | None:
    value = element.get(name, "").strip()
    try:
        return datetime.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _has_presisering(element: ET.Element) -> bool:
    presisering = element.find("Presisering")
    return presisering is not None and bool((presisering.text or "").strip())


#: The names the messages put in their {label} and {what} (``Msg(label)``): listed here so that scripts/i18n
#: finds them for the catalogs (a dict named ``*_NB``).
MESSAGE_NAMES_NB = {
    name: name
    for name in (
        "Individet",
        "Meldingen",
        "Undersøkelsen",
        "Planen",
        "Tiltaket",
        "Flyttingen",
        "Melder",
        "Saksinnhold",
        "Vedtaksgrunnlag",
        "Undersøkelse med konklusjon",
        "Tiltakskategori",
        "Opphevelse",
    )
}

#: The kinds of sub-elements with dates: (name in messages, path from Individ, SSB's control-id prefix).
_KINDS = (
    ("Meldingen", "Melding", "Melding"),
    ("Undersøkelsen", "Melding/Undersokelse", "Undersokelse"),
    ("Planen", "Plan", "Plan"),
    ("Tiltaket", "Tiltak", "Tiltak"),
)


def _dates(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    periode = facts.periode
    """02b, 02c, 02d, 02e for meldinger, undersøkelser, planer and tiltak; 02c and 02f for flyttinger."""
    start, end = _date(individ, "StartDato"), _date(individ, "SluttDato")
    closed = individ.get("Avslutta3112", "").strip() == CLOSED
    year_end = datetime.date(periode, 12, 31)
    for label, path, prefix in _KINDS:
        for number, element in enumerate(individ.iterfind(path), 1):
            ident = f"nr. {number}"
            own_start, own_end = _date(element, "StartDato"), _date(element, "SluttDato")
            where = f"{path.rsplit('/', 1)[-1]}/@SluttDato"
            if prefix in ("Tiltak", "Undersokelse") and own_end is not None and own_end.year != periode:
                yield (
                    f"{prefix}02b",
                    Severity.ERROR,
                    where,
                    Msg(
                        "{label} ({ident}) har sluttdato i {year}, ikke i rapporteringsåret {periode}",
                        label=Msg(label),
                        ident=ident,
                        year=own_end.year,
                        periode=periode,
                    ),
                )
            if (
                end is not None
                and own_end is not None
                and own_end > end
                and not (prefix == "Melding" and element.get("Konklusjon", "").strip() == "1")
            ):
                yield (
                    f"{prefix}02c",
                    Severity.ERROR,
                    where,
                    Msg("{label} ({ident}) har sluttdato etter individets sluttdato", label=Msg(label), ident=ident),
                )
            if closed and (own_end is None or end is None or own_end > year_end):
                yield (
                    f"{prefix}02d",
                    Severity.ERROR,
                    where,
                    Msg(
                        "{label} ({ident}) skal være avsluttet når individet er avsluttet (Avslutta3112 = 1): {why}",
                        label=Msg(label),
                        ident=ident,
                        why=Msg("sluttdato mangler")
                        if own_end is None
                        else Msg("individet har ingen sluttdato")
                        if end is None
                        else Msg("sluttdato er etter 31.12.{periode}", periode=periode),
                    ),
                )
            if start is not None and own_start is not None and own_start < start:
                yield (
                    f"{prefix}02e",
                    Severity.ERROR,
                    f"{path.rsplit('/', 1)[-1]}/@StartDato",
                    Msg("{label} ({ident}) har startdato før individets startdato", label=Msg(label), ident=ident),
                )
    for number, flytting in enumerate(individ.iterfind("Flytting"), 1):
        ident = f"nr. {number}"
        moved = _date(flytting, "SluttDato")
        if moved is None:
            continue
        if end is not None and moved > end:
            yield (
                "Flytting02c",
                Severity.ERROR,
                "Flytting/@SluttDato",
                Msg("Flyttingen ({ident}) har sluttdato etter individets sluttdato", ident=ident),
            )
        if start is not None and moved < start:
            yield (
                "Flytting02f",
                Severity.ERROR,
                "Flytting/@SluttDato",
                Msg("Flyttingen ({ident}) har sluttdato før individets startdato", ident=ident),
            )


def _individ02b(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    periode = facts.periode
    end, last_count = _date(individ, "SluttDato"), datetime.date(periode - 1, 12, 31)
    if end is not None and end < last_count:
        yield (
            "Individ02b",
            Severity.ERROR,
            "SluttDato",
            Msg("Individets sluttdato er før forrige telletidspunkt, 31.12.{year}", year=periode - 1),
        )


def _individ06(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    if individ.find("Melding") is None and individ.find("Plan") is None and individ.find("Tiltak") is None:
        yield ("Individ06", Severity.ERROR, None, Msg("Individet har verken meldinger, planer eller tiltak i året"))


#: Codes that need a Presisering: (SSB's control id, path from Individ, what, the attribute, its codes).
_PRESISERING = (
    ("Melder02", "Melding/Melder", "Melder", "Kode", frozenset({"22"})),
    ("Saksinnhold02", "Melding/Saksinnhold", "Saksinnhold", "Kode", frozenset({"18", "19"})),
    ("Vedtak02", "Melding/Undersokelse/Vedtaksgrunnlag", "Vedtaksgrunnlag", "Kode", frozenset({"18", "19"})),
    ("Undersokelse03", "Melding/Undersokelse", "Undersøkelse med konklusjon", "Konklusjon", frozenset({"5"})),
    ("Tiltak07", "Tiltak/Kategori", "Tiltakskategori", "Kode", KATEGORI_PRESISERING),
    ("Tiltak08", "Tiltak/Opphevelse", "Opphevelse", "Kode", frozenset({"4"})),
)


def _presisering(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    for rule_id, path, what, attribute, codes in _PRESISERING:
        for number, element in enumerate(individ.iterfind(path), 1):
            code = element.get(attribute, "").strip()
            if code in codes and not _has_presisering(element):
                yield (
                    rule_id,
                    Severity.ERROR,
                    f"{path.rsplit('/', 1)[-1]}/Presisering",
                    Msg("{what} {code} (nr. {number}) mangler presisering", what=Msg(what), code=code, number=number),
                )


def _melding(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    periode = facts.periode
    """Melding03 (behandlingstid), Melding04 and Melding05 (a concluded melding has melder and saksinnhold)."""
    for number, melding in enumerate(individ.iterfind("Melding"), 1):
        start, end = _date(melding, "StartDato"), _date(melding, "SluttDato")
        if start is not None and end is not None and (end - start).days > MELDING_DAYS:
            yield (
                "Melding03",
                Severity.WARNING,
                "Melding/@SluttDato",
                Msg(
                    "Meldingen (nr. {number}) er behandlet på mer enn {days} dager (fristen er 7)",
                    number=number,
                    days=MELDING_DAYS,
                ),
            )
        if end is not None and end.year >= periode and melding.get("Konklusjon", "").strip() in ("1", "2"):
            if melding.find("Melder") is None:
                yield (
                    "Melding04",
                    Severity.ERROR,
                    "Melding/Melder",
                    Msg("Meldingen (nr. {number}) er konkludert, men har ingen melder", number=number),
                )
            if melding.find("Saksinnhold") is None:
                yield (
                    "Melding05",
                    Severity.ERROR,
                    "Melding/Saksinnhold",
                    Msg("Meldingen (nr. {number}) er konkludert, men har intet saksinnhold", number=number),
                )


def _undersokelse(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    periode = facts.periode
    """Undersokelse04 (an ended one has a konklusjon), 07 (konklusjon 1 or 2 has vedtaksgrunnlag), 08 (one begun
    before 30 June is concluded)."""
    for number, undersokelse in enumerate(individ.iterfind("Melding/Undersokelse"), 1):
        start, end = _date(undersokelse, "StartDato"), _date(undersokelse, "SluttDato")
        konklusjon = undersokelse.get("Konklusjon", "").strip()
        if end is not None and not konklusjon:
            yield (
                "Undersokelse04",
                Severity.ERROR,
                "Undersokelse/@Konklusjon",
                Msg("Undersøkelsen (nr. {number}) er avsluttet, men mangler konklusjon", number=number),
            )
        if konklusjon in ("1", "2") and undersokelse.find("Vedtaksgrunnlag") is None:
            yield (
                "Undersokelse07",
                Severity.ERROR,
                "Undersokelse/Vedtaksgrunnlag",
                Msg(
                    "Undersøkelsen (nr. {number}) er konkludert med kode {code} og skal ha vedtaksgrunnlag",
                    number=number,
                    code=konklusjon,
                ),
            )
        if start is not None and start < datetime.date(periode, 6, 30) and end is None:
            yield (
                "Undersokelse08",
                Severity.WARNING,
                "Undersokelse/@SluttDato",
                Msg(
                    "Undersøkelsen (nr. {number}) startet før 30.06.{periode} og skal være konkludert",
                    number=number,
                    periode=periode,
                ),
            )


#: Tiltak24's message, for a tiltak that started before or from 01.01.2023 (``{laws}``: the laws it may cite).
TILTAK24_NB = {
    "before": "Tiltaket (nr. {number}) startet før 01.01.2023 og krever lov = {laws}",
    "from": "Tiltaket (nr. {number}) startet fra 01.01.2023 og krever lov = {laws}",
}


def _lovhjemmel(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Lovhjemmel04 (kapittel or paragraf 0), Tiltak24 (the barnevernlov for the tiltak's start)."""
    for number, tiltak in enumerate(individ.iterfind("Tiltak"), 1):
        lovhjemmel = tiltak.find("Lovhjemmel")
        if lovhjemmel is None:
            continue  # MANDATORY
        if "0" in (lovhjemmel.get("Kapittel", "").strip(), lovhjemmel.get("Paragraf", "").strip()):
            yield (
                "Lovhjemmel04",
                Severity.ERROR,
                "Lovhjemmel",
                Msg(
                    "Tiltaket (nr. {number}) har kapittel eller paragraf 0 i lovhjemmelen, som ikke er gyldig",
                    number=number,
                ),
            )
        start = _date(tiltak, "StartDato")
        if start is None:
            continue
        laws = [lovhjemmel.get("Lov", "").strip()] + [
            j.get("Lov", "").strip() for j in tiltak.iterfind("JmfrLovhjemmel")
        ]
        allowed = (BVL1992,) if start <= BVL2021_FROM else (BVL1992, BVL2021)
        if any(law not in allowed for law in laws):
            yield (
                "Tiltak24",
                Severity.ERROR,
                "Lovhjemmel/@Lov",
                Msg(
                    TILTAK24_NB["before" if start <= BVL2021_FROM else "from"],
                    number=number,
                    laws=" eller ".join(repr(a) for a in allowed),
                ),
            )


def _is_omsorgstiltak(tiltak: ET.Element) -> bool:
    """A care order (omsorgstiltak) by its Lovhjemmel: BVL 4-12, BVL 4-8 ledd 2 or 3, BVL2021 5-1 a-g."""
    lovhjemmel = tiltak.find("Lovhjemmel")
    if lovhjemmel is None:
        return False
    lov, kapittel, paragraf = (lovhjemmel.get(n, "").strip() for n in ("Lov", "Kapittel", "Paragraf"))
    return (
        (lov, kapittel, paragraf) == (BVL1992, "4", "12")
        or ((lov, kapittel, paragraf) == (BVL1992, "4", "8") and lovhjemmel.get("Ledd", "").strip() in ("2", "3"))
        or (
            (lov, kapittel, paragraf) == (BVL2021, "5", "1")
            and lovhjemmel.get("Bokstav", "").strip() in OMSORG_BOKSTAVER
        )
    )


def _is_plassering(tiltak: ET.Element) -> bool:
    """A placement (plasseringstiltak) by its Kategori: 1.x, 2.x or 8.2."""
    kategori = tiltak.find("Kategori")
    code = "" if kategori is None else kategori.get("Kode", "").strip()
    return code.startswith(("1.", "2.")) or code == "8.2"


def _tiltak(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    periode = facts.periode
    """Tiltak04 (an ended omsorgstiltak has an Opphevelse), Tiltak09 (plasseringstiltak overlapping 90 days or
    more, an open one counted to 31.12 of the year: one finding for each that overlaps a later one, as SSB)."""
    placements: list[tuple[int, datetime.date, datetime.date]] = []
    year_end = datetime.date(periode, 12, 31)
    for number, tiltak in enumerate(individ.iterfind("Tiltak"), 1):
        start, end = _date(tiltak, "StartDato"), _date(tiltak, "SluttDato")
        if end is not None and tiltak.find("Opphevelse") is None and _is_omsorgstiltak(tiltak):
            yield (
                "Tiltak04",
                Severity.WARNING,
                "Tiltak/Opphevelse",
                Msg(
                    "Tiltaket (nr. {number}) er et omsorgstiltak med sluttdato og krever kode for opphevelse",
                    number=number,
                ),
            )
        if start is not None and _is_plassering(tiltak):
            placements.append((number, start, end or year_end))
    for i, (number, start, end) in enumerate(placements):
        if any(
            (min(end, other_end) - max(start, other_start)).days >= PLACEMENT_OVERLAP_DAYS
            for _, other_start, other_end in placements[i + 1 :]
        ):
            yield (
                "Tiltak09",
                Severity.WARNING,
                "Tiltak/@StartDato",
                Msg(
                    "Plasseringstiltaket (nr. {number}) overlapper et annet med {days} dager eller mer; "
                    "plasseringstiltak kan ikke overlappe med mer enn 3 måneder",
                    number=number,
                    days=PLACEMENT_OVERLAP_DAYS,
                ),
            )


def _individ10(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    kommunenr = facts.kommunenr
    if kommunenr == OSLO and not individ.get("Bydelsnavn", "").strip():
        yield ("Individ10", Severity.ERROR, "Bydelsnavn", Msg("Bydelsnavn mangler; Oslo rapporterer per bydel"))


def run_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Every finding of every control for one ``Individ`` element."""
    for control in CONTROLS:
        yield from control(individ, facts)


def age_in(fnr: str, periode: int) -> int | None:
    """The age in ``periode`` of the person with fødselsnummer-like ID ``fnr`` (11 digits): ``periode`` minus the
    birth year, the century from the individual number as SSB's control program reads it (SSB's placeholders,
    which have none, are of this century unless that puts the birth after next year); ``None`` for anything else."""
    if not (len(fnr) == 11 and fnr.isascii() and fnr.isdigit()):
        return None
    day, month, yy, individual = int(fnr[0:2]) % 40, int(fnr[2:4]) % 40, int(fnr[4:6]), int(fnr[6:9])
    if not 1 <= month <= 12 or day == 0:
        return None
    if fnr[6:] in ("00100", "00200", "99999"):
        year = 2000 + yy if 2000 + yy <= periode + 1 else 1900 + yy
    elif individual >= 500 and yy <= 39:
        year = 2000 + yy
    elif 500 <= individual <= 749 and yy >= 54:
        year = 1800 + yy
    elif individual <= 499 or individual >= 900:
        year = 1900 + yy
    else:
        year = 2000 + yy
    return periode - year


def _age(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Individ07 (over 25), Individ08 (over 18 without tiltak), Tiltak05 (over 6 in barnehage), Tiltak06 (over 10
    in SFO), Lovhjemmel03 (over 18 with an omsorgstiltak)."""
    age = facts.age
    if age is None:
        return
    if age > 25:
        yield ("Individ07", Severity.ERROR, None, Msg("Individet er {age} år og skal avsluttes som klient", age=age))
    if age > 18 and individ.find("Tiltak") is None:
        yield ("Individ08", Severity.ERROR, None, Msg("Individet er {age} år og skal dermed ha tiltak", age=age))
    for number, tiltak in enumerate(individ.iterfind("Tiltak"), 1):
        kategori = tiltak.find("Kategori")
        code = "" if kategori is None else kategori.get("Kode", "").strip()
        if age > 6 and code == "4.1":
            yield (
                "Tiltak05",
                Severity.WARNING,
                "Kategori/@Kode",
                Msg("Tiltaket (nr. {number}): barnet er {age} år (over 7) og i barnehage", number=number, age=age),
            )
        if age > 10 and code == "4.2":
            yield (
                "Tiltak06",
                Severity.WARNING,
                "Kategori/@Kode",
                Msg("Tiltaket (nr. {number}): barnet er {age} år (over 11) og i SFO", number=number, age=age),
            )
        if age > 18 and _is_omsorgstiltak(tiltak):
            yield (
                "Lovhjemmel03",
                Severity.ERROR,
                "Lovhjemmel",
                Msg(
                    "Tiltaket (nr. {number}): individet er {age} år og skal dermed ikke ha omsorgstiltak",
                    number=number,
                    age=age,
                ),
            )


#: Individ01a: the dates SSB accepts (earlier or later is a typing error).
FIRST_DATE, LAST_DATE = datetime.date(1998, 1, 1), datetime.date(2049, 12, 31)
#: Individ01a: the elements with dates (by tag): the name in messages, whether they are numbered, their dates.
_DATED = {
    "Individ": ("Individet", False, ("StartDato", "SluttDato")),
    "Melding": ("Meldingen", True, ("StartDato", "SluttDato")),
    "Undersokelse": ("Undersøkelsen", True, ("StartDato", "SluttDato")),
    "Plan": ("Planen", True, ("StartDato", "SluttDato", "EvaluertDato")),
    "Tiltak": ("Tiltaket", True, ("StartDato", "SluttDato")),
    "Flytting": ("Flyttingen", True, ("SluttDato",)),
}
_FIRST, _LAST = FIRST_DATE.isoformat(), LAST_DATE.isoformat()


def _individ01a(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Individ01a: every date between 01.01.1998 and 31.12.2049 (ISO dates compare as text: only a date outside
    is parsed)."""
    numbers: dict[str, int] = {}
    for element in individ.iter():
        spec = _DATED.get(element.tag)
        if spec is None:
            continue
        label, numbered, names = spec
        number = numbers[element.tag] = numbers.get(element.tag, 0) + 1
        for name in names:
            text = element.get(name, "").strip()
            if text and not _FIRST <= text <= _LAST and (value := _date(element, name)) is not None:
                yield (
                    "Individ01a",
                    Severity.ERROR,
                    f"{element.tag}/@{name}" if numbered else name,
                    Msg(
                        "{label}{number}: {name} er i {year}; datoer skal ligge mellom 01.01.1998 og 31.12.2049",
                        label=Msg(label),
                        number=f" (nr. {number})" if numbered else "",
                        name=name,
                        year=value.year,
                    ),
                )


def fnr_state(fnr: str) -> IdState:
    """What SSB's ID controls see in a fødselsnummer (or D-number): the check digits by the rule before 2032, which
    is SSB's for the reporting years up to 2031, and no date check; SSB's placeholders need a real birth date."""
    if not fnr:
        return "none"
    if not ascii_digits(fnr, 11):
        return "format"
    if identity.fnr_check_digits_ok(fnr) == "current":
        return "mod11"
    if fnr[6:] in PLACEHOLDER_SUFFIXES and 1 <= int(fnr[0:2]) <= 31 and 1 <= int(fnr[2:4]) <= 12:
        return "placeholder"  # (SSB's date parser moves 30.02 to the month's last day, so any day 1-31 passes)
    return "bad"


def duf_state(duf: str) -> IdState:
    """What SSB's ID controls see in a DUF number: 12 digits whose check pair holds."""
    if not duf:
        return "none"
    if not ascii_digits(duf, 12):
        return "format"
    return "valid" if identity.duf_ok(duf) else "bad"


def _ids(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Individ03 (the individ cannot be identified), Individ11 and Individ12 (no proper fødselsnummer), Individ19
    (a DUF number that is not valid), as SSB runs them: the fødselsnummer decides Individ03 when there is one, the
    DUF number only when there is not."""
    fnr, duf = facts.fnr, facts.duf
    if fnr == "bad":
        yield (
            "Individ03",
            Severity.ERROR,
            "Fodselsnummer",
            Msg("Fødselsnummeret er ikke gyldig; individet kan ikke identifiseres"),
        )
    elif fnr == "none" and duf == "bad":
        yield (
            "Individ03",
            Severity.ERROR,
            "DUFnummer",
            Msg("DUF-nummeret er ikke gyldig; individet kan ikke identifiseres"),
        )
    elif fnr == "none" and duf == "none":
        yield (
            "Individ03",
            Severity.ERROR,
            None,
            Msg("Fødselsnummer og DUF-nummer mangler; individet kan ikke identifiseres"),
        )
    if fnr != "mod11":
        yield (
            "Individ11",
            Severity.WARNING,
            "Fodselsnummer",
            Msg("Individet har ikke et fullstendig fødselsnummer med riktige kontrollsifre (det er en plassholder)")
            if fnr == "placeholder"
            else Msg("Individet har ikke et fullstendig fødselsnummer med riktige kontrollsifre"),
        )
    if fnr not in ("mod11", "placeholder"):
        yield (
            "Individ12",
            Severity.WARNING,
            "Fodselsnummer",
            Msg("Individet har ikke et gyldig fødselsnummer eller D-nummer"),
        )
    if duf == "bad":
        yield (
            "Individ19",
            Severity.WARNING,
            "DUFnummer",
            Msg("DUF-nummeret er ikke gyldig; kontrollsifrene stemmer ikke"),
        )


CONTROLS: tuple[Control, ...] = (
    _individ01a,
    _ids,
    _individ02b,
    _individ06,
    _individ10,
    _dates,
    _presisering,
    _melding,
    _undersokelse,
    _lovhjemmel,
    _tiltak,
    _age,
)
