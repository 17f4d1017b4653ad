"""15F: SSB's individual barnevern controls of dates across an ``Individ``: every date within 1998-2049
(``Individ01a``), the individ's end after the last count (``Individ02b``), and the dates of its meldinger,
undersøkelser, planer, tiltak and flyttinger against the individ's own and the reporting year (``*02b`` to ``*02f``).
Control ids, severities and conditions are SSB's; the code and texts our own (see
:mod:`~sendemodul.profiles.rules.barnevern`, whose ``MESSAGE_NAMES_NB`` lists the element names used here)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from sendemodul.i18n import Msg
from sendemodul.profiles.rules.barnevern_facts import Facts, Finding, attribute_date
from sendemodul.profiles.rules.report import Severity

__all__ = ["CLOSED", "FIRST_DATE", "LAST_DATE", "date_controls", "individ01a", "individ02b"]

CLOSED = "1"  # Avslutta3112: the individ's case is closed

#: The kinds of sub-elements with dates: (name in messages, path from Individ, SSB's control-id prefix).
_KINDS = (
    ("Meldingen", "Melding", "Melding"),
    ("Undersøkelsen", "Melding/Undersokelse", "Undersokelse"),
    ("Planen", "Plan", "Plan"),
    ("Tiltaket", "Tiltak", "Tiltak"),
)


def date_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """02b, 02c, 02d, 02e for meldinger, undersøkelser, planer and tiltak; 02c and 02f for flyttinger."""
    periode = facts.periode
    start, end = attribute_date(individ, "StartDato"), attribute_date(individ, "SluttDato")
    closed = individ.get("Avslutta3112", "").strip() == CLOSED
    year_end = datetime.date(periode, 12, 31)
    for label, path, prefix in _KINDS:
        for number, element in enumerate(individ.iterfind(path), 1):
            ident = f"nr. {number}"
            own_start, own_end = attribute_date(element, "StartDato"), attribute_date(element, "SluttDato")
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
        moved = attribute_date(flytting, "SluttDato")
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


def individ02b(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Individ02b: the individ's end is not before the last count (31.12 of the year before)."""
    periode = facts.periode
    end, last_count = attribute_date(individ, "SluttDato"), datetime.date(periode - 1, 12, 31)
    if end is not None and end < last_count:
        yield (
            "Individ02b",
            Severity.ERROR,
            "SluttDato",
            Msg("Individets sluttdato er før forrige telletidspunkt, 31.12.{year}", year=periode - 1),
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


def individ01a(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
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
            if text and not _FIRST <= text <= _LAST and (value := attribute_date(element, name)) is not None:
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
