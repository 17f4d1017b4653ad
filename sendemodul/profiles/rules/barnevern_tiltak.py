"""15F: SSB's individual barnevern controls of an individ's tiltak and their lovhjemmel: kapittel or paragraf 0
(``Lovhjemmel04``), the barnevernlov in force when the tiltak began (``Tiltak24``), an ended omsorgstiltak without an
opphevelse (``Tiltak04``), plasseringstiltak that overlap (``Tiltak09``). What makes a tiltak an omsorgstiltak
(:func:`is_omsorgstiltak`) is here too, for the age controls (:mod:`~sendemodul.profiles.rules.barnevern_person`).
Control ids, severities and conditions are SSB's; the code and texts our own (see
:mod:`~sendemodul.profiles.rules.barnevern`)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from sendemodul.i18n import Msg
from sendemodul.profiles.rules.barnevern_facts import Facts, Finding, attribute_date
from sendemodul.profiles.rules.report import Severity

__all__ = [
    "BVL1992",
    "BVL2021",
    "BVL2021_FROM",
    "OMSORG_BOKSTAVER",
    "PLACEMENT_OVERLAP_DAYS",
    "TILTAK24_NB",
    "is_omsorgstiltak",
    "lovhjemmel_controls",
    "tiltak_controls",
]

#: Tiltak24: the barnevernlov's names in Lovhjemmel/@Lov; a tiltak begun on or before this day is under BVL1992.
BVL1992, BVL2021 = "BVL", "BVL2021"
BVL2021_FROM = datetime.date(2022, 12, 31)
#: Tiltak04: the letters of BVL2021 § 5-1 that make a tiltak an omsorgstiltak.
OMSORG_BOKSTAVER = frozenset("abcdefg")
#: Tiltak09: days two plasseringstiltak may not overlap.
PLACEMENT_OVERLAP_DAYS = 90

#: Tiltak24's message, for a tiltak that started before or from 01.01.2023 (``{laws}``: the laws it may cite).
TILTAK24_NB = {
    "before": "Tiltaket (nr. {number}) startet før 01.01.2023 og krever lov = {laws}",
    "from": "Tiltaket (nr. {number}) startet fra 01.01.2023 og krever lov = {laws}",
}


def lovhjemmel_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
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
        start = attribute_date(tiltak, "StartDato")
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


def is_omsorgstiltak(tiltak: ET.Element) -> bool:
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


def tiltak_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Tiltak04 (an ended omsorgstiltak has an Opphevelse), Tiltak09 (plasseringstiltak overlapping 90 days or
    more, an open one counted to 31.12 of the year: one finding for each that overlaps a later one, as SSB)."""
    placements: list[tuple[int, datetime.date, datetime.date]] = []
    year_end = datetime.date(facts.periode, 12, 31)
    for number, tiltak in enumerate(individ.iterfind("Tiltak"), 1):
        start, end = attribute_date(tiltak, "StartDato"), attribute_date(tiltak, "SluttDato")
        if end is not None and tiltak.find("Opphevelse") is None and is_omsorgstiltak(tiltak):
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
