"""15F: SSB's individual barnevern controls of the person: whether the individ can be identified and has a proper
fødselsnummer or DUF number (``Individ03``, ``Individ11``, ``Individ12``, ``Individ19``), and what its age allows
(``Individ07``, ``Individ08``, ``Tiltak05``, ``Tiltak06``, ``Lovhjemmel03``). They read only what
:class:`~sendemodul.profiles.rules.barnevern_facts.Facts` says of the identifiers (their state, the age), never the
identifiers. Control ids, severities and conditions are SSB's; the code and texts our own (see
:mod:`~sendemodul.profiles.rules.barnevern`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from sendemodul.i18n import Msg
from sendemodul.profiles.rules.barnevern_facts import Facts, Finding
from sendemodul.profiles.rules.barnevern_tiltak import is_omsorgstiltak
from sendemodul.profiles.rules.report import Severity

__all__ = ["age_controls", "id_controls"]


def id_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
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


def age_controls(individ: ET.Element, facts: Facts) -> Iterator[Finding]:
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
        if age > 18 and is_omsorgstiltak(tiltak):
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
