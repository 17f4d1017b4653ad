"""Reporting units: kommunenr, bydel, orgnr, and the unit (avgiver) that is all three, checked against the code lists.

Each check raises the :class:`~sendemodul.errors.IdentityError` subclass that names exactly what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sendemodul.errors import BydelError, KommunenrError, OrgnrError, UnitError
from sendemodul.identity.checkdigits import ORGNR_WEIGHTS, ascii_digits, mod11
from sendemodul.identity.codelists import Kommune, bydeler, kommuner

#: Oslo: the one kommune with bydeler that report (01-15, ``data/bydeler.csv``).
OSLO_KOMMUNENR = "0301"


def kommune(kommunenr: str, year: int) -> Kommune:
    """The kommune with this code, if the code is in force in ``year``; else :class:`KommunenrError`."""
    if not ascii_digits(kommunenr, 4):
        raise KommunenrError(f"The kommunenummer must be 4 digits, e.g. {OSLO_KOMMUNENR}; got {kommunenr!r}.")
    found = kommuner().get(kommunenr)
    if found is None:
        raise KommunenrError(f"{kommunenr} is not a known kommunenummer.")
    if found.valid_in(year):
        return found
    if found.valid_to is not None and found.valid_to < date(year, 1, 1):
        reason = f"it ended {found.valid_to.isoformat()}"
    else:  # in force after ``year``, so it has a start date (str(date) is its ISO form)
        reason = f"it begins {found.valid_from}"
    message = f"{kommunenr} ({found.name}) is not valid in {year}: {reason}"
    namesakes = [k for k in kommuner().values() if k.name == found.name and k.valid_in(year)]
    if len(namesakes) == 1:
        message += f"; {found.name} is {namesakes[0].kommunenr} in {year}"
    raise KommunenrError(message + ".")


def check_bydel(kommunenr: str, bydel: str, year: int) -> str:
    """``bydel`` if it may report for ``kommunenr`` in ``year``; else :class:`BydelError` (or :class:`KommunenrError`).

    ``00`` (the whole kommune) is allowed for every valid kommune. A kommune listed in ``data/bydeler.csv`` (Oslo) may
    also report per bydel, for the bydeler marked as accepted by the KOSTRA social forms (Oslo 01-15).
    """
    found = kommune(kommunenr, year)
    if not ascii_digits(bydel, 2):
        raise BydelError(f"The bydel must be 2 digits (00 for the whole kommune); got {bydel!r}.")
    if bydel == "00":
        return bydel
    listed = bydeler().get(kommunenr, {})
    if not listed:
        raise BydelError(f"{kommunenr} ({found.name}) has no bydeler: use bydel 00.")
    reporting = sorted(b.bydelnr for b in listed.values() if b.reports and b.valid_in(year))
    allowed = f"Use 00 or one of {reporting[0]}-{reporting[-1]}." if reporting else "Use 00."
    entry = listed.get(bydel)
    if entry is None or not entry.valid_in(year):
        raise BydelError(f"{kommunenr} ({found.name}) has no bydel {bydel} in {year}. {allowed}")
    if not entry.reports:
        raise BydelError(
            f"Bydel {bydel} ({entry.name}) in {found.name} does not report: {entry.note or 'not a reporting unit'}."
            f" {allowed}"
        )
    return bydel


def check_orgnr(orgnr: str) -> str:
    """``orgnr`` if it is a valid organisasjonsnummer of a unit reporting to SSB; else :class:`OrgnrError`."""
    if not (orgnr.isascii() and orgnr.isdigit()):
        raise OrgnrError(f"The organisasjonsnummer must be 9 digits and nothing else; got {orgnr!r}.")
    if len(orgnr) != 9:
        raise OrgnrError(f"The organisasjonsnummer must be 9 digits; {orgnr} has {len(orgnr)}.")
    if orgnr[0] not in "89":
        raise OrgnrError(f"{orgnr}: an organisasjonsnummer reporting to SSB starts with 8 or 9, not {orgnr[0]}.")
    check = mod11(orgnr[:8], ORGNR_WEIGHTS)
    if check is None:
        raise OrgnrError(f"{orgnr}: no organisasjonsnummer starts with {orgnr[:8]} (its check digit would be 10).")
    if int(orgnr[8]) != check:
        raise OrgnrError(
            f"{orgnr}: the check digit (last digit) {orgnr[8]} does not match the first eight digits;"
            " look for a typing error."
        )
    return orgnr


@dataclass(frozen=True, order=True)
class Unit:
    """A reporting unit (avgiver). Built unchecked; :func:`parse_unit` is the checked way in."""

    kommunenr: str
    bydel: str
    orgnr: str

    def __str__(self) -> str:
        """The canonical login name, e.g. ``0301-12-958935420``."""
        return f"{self.kommunenr}-{self.bydel}-{self.orgnr}"

    @property
    def region(self) -> str:
        """The KOSTRA region: kommunenr + bydel, e.g. ``030112``."""
        return self.kommunenr + self.bydel


_UNIT_SHAPE = f"The unit must be written KOMMUNENR-BYDEL-ORGNR, e.g. {OSLO_KOMMUNENR}-12-958935420"
_UNIT_PARTS = (("kommunenummer", 4, ""), ("bydel", 2, " (00 for the whole kommune)"), ("organisasjonsnummer", 9, ""))


def parse_unit(text: str, year: int | None = None) -> Unit:
    """Parse and check ``KKKK-BB-OOOOOOOOO`` (surrounding whitespace ignored) for ``year`` (default: this year).

    A wrong shape raises :class:`UnitError` naming the part that is wrong; a well-shaped unit is then checked with
    :func:`kommune`, :func:`check_bydel` and :func:`check_orgnr`, whose errors pass through.
    """
    parts = text.strip().split("-")
    if len(parts) != 3:
        raise UnitError(f"{_UNIT_SHAPE}: it has {len(parts)} part(s), not 3.")
    for part, (label, length, hint) in zip(parts, _UNIT_PARTS):
        if not ascii_digits(part, length):
            raise UnitError(f"{_UNIT_SHAPE}: the {label} must be {length} digits{hint}.")
    kommunenr, bydel, orgnr = parts
    check_bydel(kommunenr, bydel, date.today().year if year is None else year)
    check_orgnr(orgnr)
    return Unit(kommunenr, bydel, orgnr)
