"""Identifiers: reporting units (kommunenr, bydel, orgnr) and person IDs (fødselsnummer and relatives, DUF).

Everything here is pure: no I/O apart from reading the packaged code lists (``sendemodul/data/*.csv``) once, and no
reactor. The modules:

- :mod:`~sendemodul.identity.units`: :func:`kommune`, :func:`check_bydel`, :func:`check_orgnr`, :class:`Unit` and
  :func:`parse_unit`. Unit checks raise the :class:`~sendemodul.errors.IdentityError` subclasses with a message naming
  exactly what is wrong.
- :mod:`~sendemodul.identity.codelists`: the kommuner and bydeler with their validity.
- :mod:`~sendemodul.identity.person_ids`: fødselsnummer (current and 2032 rules), D-, H- and synthetic numbers, SSB
  placeholders, DUF numbers: :func:`classify_id` classifies, never raises; :func:`generate_fnr` for test data.
- :mod:`~sendemodul.identity.fnr_tables`: :class:`FnrTables`, the same classification by table look-ups, and
  :func:`~sendemodul.identity.fnr_tables.classify_fnr_array` for a block of IDs at once (numpy).
- :mod:`~sendemodul.identity.checkdigits`: the mod-11 weights and sums, the one place they are written down.

The names below are the package's API (``identity.parse_unit``, ``identity.classify_id``, ...).
"""

from sendemodul.identity.codelists import Kommune
from sendemodul.identity.fnr_tables import FnrTables
from sendemodul.identity.person_ids import (
    SYNTHETIC_MONTH_OFFSET,
    ClassifiedId,
    IdClass,
    classify_fnr_digits,
    classify_id,
    duf_ok,
    fnr_check_digits,
    fnr_check_digits_ok,
    generate_fnr,
    valid_before_2032,
)
from sendemodul.identity.units import (
    OSLO_KOMMUNENR,
    Unit,
    check_bydel,
    check_orgnr,
    kommune,
    parse_unit,
)

__all__ = [
    "OSLO_KOMMUNENR",
    "SYNTHETIC_MONTH_OFFSET",
    "ClassifiedId",
    "FnrTables",
    "IdClass",
    "Kommune",
    "Unit",
    "check_bydel",
    "check_orgnr",
    "classify_fnr_digits",
    "classify_id",
    "duf_ok",
    "fnr_check_digits",
    "fnr_check_digits_ok",
    "generate_fnr",
    "kommune",
    "parse_unit",
    "valid_before_2032",
]
