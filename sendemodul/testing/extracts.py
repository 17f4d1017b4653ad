"""Synthetic test extracts for every profile: valid by construction, with chosen errors on chosen records.

    profile = load_profile("11F", 2026)
    unit = identity.parse_unit("0301-12-958935420", 2026)
    with open("11F.dat", "wb") as out:
        write_extract(out, profile, unit, 2_000_000, seed=1)          # streams, ~200,000 records/s
    data = generate_extract(profile, unit, 100, seed=1, errors={7: "CODE", 9: "ID_INVALID"})

People get synthetic fødselsnummer (Skatteetaten Tenor: month + 80, never a number that could be a real person's),
unique within an extract, born within the register's age range (the profile's ``[generator]`` table); where the
layout has a birth date field, it matches the number. Registers with a DUF field give a share (``duf_share``) of the
people only a DUF number (DUF numbers have no synthetic range: these are registration year + serial + check pair).

The other fields come from up to 256 random templates that satisfy every field rule and consistency rule of the
profile; each record combines a template with its own journalnummer, identifiers and birth date. Fødselsnummer check
digits are computed here from the mod-11 weights (:mod:`sendemodul.identity.checkdigits`) with per-date and
per-individual-number partial sums, because a call of :func:`identity.generate_fnr` per record would take several
times the whole budget of a record; the tests check that both give the same numbers.

The modules: :mod:`~sendemodul.testing.people` (birth dates, fødselsnummer, DUF numbers),
:mod:`~sendemodul.testing.values` (field values that pass the rules), :mod:`~sendemodul.testing.writers` (the
fixed-width and XML writers, and the errors they make on purpose).

``errors`` maps a record number (1-based: the n-th record; for fixed width also its line) to one of
:data:`ERROR_KINDS`, each named after the control rule (:mod:`sendemodul.profiles.rules`) it makes fire.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import BinaryIO

from sendemodul import identity
from sendemodul.profiles import FixedWidthProfile, Profile, XmlProfile
from sendemodul.testing.writers import FixedWriter, XmlWriter

__all__ = ["ERROR_KINDS", "generate_extract", "write_extract"]

#: Error kinds: the rule each one triggers, and the kinds of profile it applies to. ``ID_MISSING`` blanks every
#: identifier: where no identifier field is mandatory (11F, 15F) the profile's "at least one ID" rule fires instead.
ERROR_KINDS = {
    "RECORD_LENGTH": ("fixed",),
    "TAB": ("fixed",),
    "XML": ("xml",),
    "SCHEMA": ("xml",),
    "ID_IN_DATA": ("xml",),
    "VERSION": ("fixed",),
    "KOMMUNENR": ("fixed",),
    "MANDATORY": ("fixed", "xml"),
    "CODE": ("fixed", "xml"),
    "DATE": ("fixed", "xml"),
    "INTEGER": ("fixed", "xml"),
    "BYDEL": ("fixed", "xml"),
    "ID_INVALID": ("fixed", "xml"),
    "ID_MISSING": ("fixed", "xml"),
    "DUPLICATE_ID": ("fixed", "xml"),
    "DUPLICATE": ("fixed", "xml"),
}


def generate_extract(
    profile: Profile, unit: identity.Unit, n_records: int, *, seed: int = 0, errors: Mapping[int, str] | None = None
) -> bytes:
    """An extract of ``n_records`` records as bytes (see :func:`write_extract`)."""
    out = io.BytesIO()
    write_extract(out, profile, unit, n_records, seed=seed, errors=errors)
    return out.getvalue()


def write_extract(
    out: BinaryIO,
    profile: Profile,
    unit: identity.Unit,
    n_records: int,
    *,
    seed: int = 0,
    errors: Mapping[int, str] | None = None,
) -> int:
    """Write an extract of ``n_records`` records for ``unit`` to ``out``; the number of bytes written.

    The same arguments give the same bytes.
    """
    errors = dict(errors or {})
    for number, kind in errors.items():
        if profile.kind not in ERROR_KINDS.get(kind, ()):
            raise ValueError(
                f"error kind {kind!r} does not apply to a {profile.kind} profile; "
                f"choose from {', '.join(k for k, kinds in ERROR_KINDS.items() if profile.kind in kinds)}"
            )
        if not 1 <= number <= n_records or (kind.startswith("DUPLICATE") and number < 2):
            raise ValueError(f"record number {number} is out of range for error {kind}")
    if isinstance(profile, FixedWidthProfile):
        return FixedWriter(profile, unit, seed, n_records).write(out, n_records, errors)
    if isinstance(profile, XmlProfile):
        return XmlWriter(profile, unit, seed, n_records).write(out, n_records, errors)
    raise TypeError(f"no extract writer for a {profile.kind} profile")
