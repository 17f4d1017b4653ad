"""SSB's individual barnevern (15F) controls that span more than one element of an ``Individ``, and the one list of
them all (:data:`CONTROLS`, run by :func:`run_controls`). This module holds the individ's own controls (an individ
with nothing in it, Oslo's bydel), the codes that need a ``Presisering``, and the meldinger and undersøkelser; the
other groups have modules of their own beside it:

- :mod:`~sendemodul.profiles.rules.barnevern_facts`: what the controls are given (:class:`Facts`, read from the
  identifiers by :func:`fnr_state`, :func:`duf_state`, :func:`age_in`) and the types they share;
- :mod:`~sendemodul.profiles.rules.barnevern_dates`: the dates against each other and the reporting year;
- :mod:`~sendemodul.profiles.rules.barnevern_person`: the ID and age controls;
- :mod:`~sendemodul.profiles.rules.barnevern_tiltak`: tiltak and lovhjemmel;
- :mod:`~sendemodul.profiles.rules.barnevern_ids`: the controls' titles, and our generic rules' findings as SSB's ids.

The names other modules use (``Facts``, ``run_controls``, ``age_in``, ``TITLES`` ...) are all importable from here.

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
from collections.abc import Iterator

from sendemodul.i18n import Msg
from sendemodul.profiles.rules import barnevern_dates, barnevern_person, barnevern_tiltak
from sendemodul.profiles.rules.barnevern_facts import (
    Control,
    Facts,
    Finding,
    IdState,
    age_in,
    attribute_date,
    duf_state,
    fnr_state,
)
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

OSLO = "0301"  # Individ10: Oslo reports per bydel
#: Kategori codes that need a Presisering (SSB's koderSomKreverPresisering).
KATEGORI_PRESISERING = frozenset({"1.99", "2.99", "3.7", "3.99", "4.99", "5.99", "6.99", "7.99", "8.99"})
#: Melding03: days from a melding's start to its end before the deadline is passed (7, and 1 day's grace, as SSB).
MELDING_DAYS = 8


def _has_presisering(element: ET.Element) -> bool:
    presisering = element.find("Presisering")
    return presisering is not None and bool((presisering.text or "").strip())


#: The names the messages put in their {label} and {what} (``Msg(label)``), here and in barnevern_dates: listed here
#: so that scripts/i18n finds them for the catalogs (a dict named ``*_NB``).
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


def _individ06(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    if individ.find("Melding") is None and individ.find("Plan") is None and individ.find("Tiltak") is None:
        yield ("Individ06", Severity.ERROR, None, Msg("Individet har verken meldinger, planer eller tiltak i året"))


def _individ10(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    kommunenr = facts.kommunenr
    if kommunenr == OSLO and not individ.get("Bydelsnavn", "").strip():
        yield ("Individ10", Severity.ERROR, "Bydelsnavn", Msg("Bydelsnavn mangler; Oslo rapporterer per bydel"))


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
    """Melding03 (behandlingstid), Melding04 and Melding05 (a concluded melding has melder and saksinnhold)."""
    periode = facts.periode
    for number, melding in enumerate(individ.iterfind("Melding"), 1):
        start, end = attribute_date(melding, "StartDato"), attribute_date(melding, "SluttDato")
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
    """Undersokelse04 (an ended one has a konklusjon), 07 (konklusjon 1 or 2 has vedtaksgrunnlag), 08 (one begun
    before 30 June is concluded)."""
    periode = facts.periode
    for number, undersokelse in enumerate(individ.iterfind("Melding/Undersokelse"), 1):
        start, end = attribute_date(undersokelse, "StartDato"), attribute_date(undersokelse, "SluttDato")
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


CONTROLS: tuple[Control, ...] = (
    barnevern_dates.individ01a,
    barnevern_person.id_controls,
    barnevern_dates.individ02b,
    _individ06,
    _individ10,
    barnevern_dates.date_controls,
    _presisering,
    _melding,
    _undersokelse,
    barnevern_tiltak.lovhjemmel_controls,
    barnevern_tiltak.tiltak_controls,
    barnevern_person.age_controls,
)


def run_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
    """Every finding of every control for one ``Individ`` element."""
    for control in CONTROLS:
        yield from control(individ, facts)
