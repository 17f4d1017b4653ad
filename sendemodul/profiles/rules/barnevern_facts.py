"""15F: what SSB's individual barnevern controls are given besides the ``Individ`` element (:class:`Facts`), how
those facts are read from the individ's identifiers (:func:`fnr_state`, :func:`duf_state`, :func:`age_in`), and a
finding's type (:data:`Finding`). Code, not table: the checker's side of the rule table (``15F.controls.json``,
which reads these facts as its built-ins ``age``, ``fnr``, ``duf``, ``kommunenr``); kept apart so that the table's
compiler (:mod:`~sendemodul.profiles.rules.element_table`) and :mod:`~sendemodul.profiles.rules.barnevern` can both
import them without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sendemodul import identity
from sendemodul.identity.checkdigits import ascii_digits
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.rules.report import Severity

__all__ = ["Facts", "Finding", "IdState", "age_in", "duf_state", "fnr_state"]

#: A finding of a control: SSB's control id, severity, the field it names, our message.
Finding = tuple[str, Severity, "str | None", str]

#: An identifier as SSB's ID controls see it: ``none`` (missing or blank), ``format`` (not 11/12 digits: SSB's XSD
#: refuses it, Individ01), ``mod11`` (a fødselsnummer or D-number whose check digits hold by the pre-2032 rule),
#: ``placeholder`` (SSB's birth date + 00100, 00200 or 99999), ``valid`` (a DUF number whose check digits hold),
#: ``bad`` (anything else).
IdState = Literal["none", "format", "mod11", "placeholder", "valid", "bad"]


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
