"""Identifiers: reporting units (kommunenr, bydel, orgnr) and person IDs (fødselsnummer and relatives, DUF).

Everything here is pure: no I/O apart from reading the packaged code lists (``sendemodul/data/*.csv``) once, and no
reactor. Unit checks raise the :class:`~sendemodul.errors.IdentityError` subclasses with a message naming exactly what
is wrong; person IDs are never refused with an exception but *classified* (:func:`classify_id`), because an invalid
ID in an extract is a finding about one row, not an error of the whole operation.

The rules come from DOMAIN.md ("Identifiers"):

- Fødselsnummer ``DDMMYY III K1 K2`` with two mod-11 check digits. Both the current rule and the rule for numbers
  issued from 2032 (K1 may leave a remainder of 0-3) are accepted side by side.
- D-number: day + 40. H-number: month + 40 (NAV Dolly's synthetic IDs use the same offset and classify as H-numbers).
  Synthetic (Skatteetaten Tenor): month + 80. The offsets combine; precedence is synthetic, then D, then H.
- SSB placeholders: a valid birth date followed by ``00100``, ``00200`` or ``99999``.
- DUF number: 12 digits, the last two are a mod-11 sum over the first ten.
- Organisasjonsnummer: 9 digits, mod-11 check digit, first digit 8 or 9 for units reporting to SSB.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
from dataclasses import dataclass
from datetime import date

from . import resources
from .errors import BydelError, KommunenrError, OrgnrError, UnitError

__all__ = [
    "ClassifiedId",
    "FnrTables",
    "IdClass",
    "Kommune",
    "Unit",
    "check_bydel",
    "check_orgnr",
    "classify_id",
    "duf_ok",
    "fnr_check_digits",
    "fnr_check_digits_ok",
    "generate_fnr",
    "kommune",
    "parse_unit",
]

# ---------------------------------------------------------------------------------------------------------------------
# Code lists


@dataclass(frozen=True)
class Kommune:
    """One row of ``data/kommuner.csv``: a kommune code with its validity period (``None`` = open-ended)."""

    kommunenr: str
    name: str
    fylkesnr: str
    valid_from: date | None
    valid_to: date | None

    def valid_in(self, year: int) -> bool:
        """Whether the code is in force at some time during ``year``."""
        return _valid_in(self.valid_from, self.valid_to, year)


@dataclass(frozen=True)
class _Bydel:
    """One row of ``data/bydeler.csv``."""

    kommunenr: str
    bydelnr: str
    name: str
    valid_from: date | None
    valid_to: date | None
    reports: bool  # column accepted_by_kostra_social_forms == "yes"
    note: str


def _valid_in(valid_from: date | None, valid_to: date | None, year: int) -> bool:
    return (valid_from is None or valid_from <= date(year, 12, 31)) and (
        valid_to is None or valid_to >= date(year, 1, 1)
    )


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.data_text(name)
    return list(csv.DictReader(io.StringIO(text)))


def _iso_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@functools.cache
def _kommuner() -> dict[str, Kommune]:
    return {
        row["kommunenr"]: Kommune(
            kommunenr=row["kommunenr"],
            name=row["name"],
            fylkesnr=row["fylkesnr"],
            valid_from=_iso_date(row["valid_from"]),
            valid_to=_iso_date(row["valid_to"]),
        )
        for row in _read_csv("kommuner.csv")
    }


@functools.cache
def _bydeler() -> dict[str, dict[str, _Bydel]]:
    """``{kommunenr: {bydelnr: bydel}}`` for the kommuner that have bydeler (only Oslo)."""
    result: dict[str, dict[str, _Bydel]] = {}
    for row in _read_csv("bydeler.csv"):
        bydel = _Bydel(
            kommunenr=row["kommunenr"],
            bydelnr=row["bydelnr"],
            name=row["name"],
            valid_from=_iso_date(row["valid_from"]),
            valid_to=_iso_date(row["valid_to"]),
            reports=row["accepted_by_kostra_social_forms"] == "yes",
            note=row["note"],
        )
        result.setdefault(bydel.kommunenr, {})[bydel.bydelnr] = bydel
    return result


def _digits(text: str, length: int) -> bool:
    """Whether ``text`` is exactly ``length`` ASCII digits (``str.isdigit`` would also accept e.g. '²' or '٣')."""
    return len(text) == length and text.isascii() and text.isdigit()


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 check digit ``11 - (sum mod 11)`` with 11 -> 0, or ``None`` where it would be 10."""
    check = (11 - _weighted(digits, weights) % 11) % 11
    return None if check == 10 else check


# ---------------------------------------------------------------------------------------------------------------------
# Reporting units


def kommune(kommunenr: str, year: int) -> Kommune:
    """The kommune with this code, if the code is in force in ``year``; else :class:`KommunenrError`."""
    if not _digits(kommunenr, 4):
        raise KommunenrError(f"The kommunenummer must be 4 digits, e.g. 0301; got {kommunenr!r}.")
    found = _kommuner().get(kommunenr)
    if found is None:
        raise KommunenrError(f"{kommunenr} is not a known kommunenummer.")
    if found.valid_in(year):
        return found
    if found.valid_to is not None and found.valid_to < date(year, 1, 1):
        reason = f"it ended {found.valid_to.isoformat()}"
    else:
        reason = f"it begins {found.valid_from.isoformat()}"
    message = f"{kommunenr} ({found.name}) is not valid in {year}: {reason}"
    namesakes = [k for k in _kommuner().values() if k.name == found.name and k.valid_in(year)]
    if len(namesakes) == 1:
        message += f"; {found.name} is {namesakes[0].kommunenr} in {year}"
    raise KommunenrError(message + ".")


def check_bydel(kommunenr: str, bydel: str, year: int) -> str:
    """``bydel`` if it may report for ``kommunenr`` in ``year``; else :class:`BydelError` (or :class:`KommunenrError`).

    ``00`` (the whole kommune) is allowed for every valid kommune. A kommune listed in ``data/bydeler.csv`` (Oslo) may
    also report per bydel, for the bydeler marked as accepted by the KOSTRA social forms (Oslo 01-15).
    """
    found = kommune(kommunenr, year)
    if not _digits(bydel, 2):
        raise BydelError(f"The bydel must be 2 digits (00 for the whole kommune); got {bydel!r}.")
    if bydel == "00":
        return bydel
    bydeler = _bydeler().get(kommunenr, {})
    if not bydeler:
        raise BydelError(f"{kommunenr} ({found.name}) has no bydeler: use bydel 00.")
    reporting = sorted(b.bydelnr for b in bydeler.values() if b.reports and _valid_in(b.valid_from, b.valid_to, year))
    allowed = f"Use 00 or one of {reporting[0]}-{reporting[-1]}." if reporting else "Use 00."
    entry = bydeler.get(bydel)
    if entry is None or not _valid_in(entry.valid_from, entry.valid_to, year):
        raise BydelError(f"{kommunenr} ({found.name}) has no bydel {bydel} in {year}. {allowed}")
    if not entry.reports:
        raise BydelError(
            f"Bydel {bydel} ({entry.name}) in {found.name} does not report: {entry.note or 'not a reporting unit'}."
            f" {allowed}"
        )
    return bydel


_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def check_orgnr(orgnr: str) -> str:
    """``orgnr`` if it is a valid organisasjonsnummer of a unit reporting to SSB; else :class:`OrgnrError`."""
    if not (orgnr.isascii() and orgnr.isdigit()):
        raise OrgnrError(f"The organisasjonsnummer must be 9 digits and nothing else; got {orgnr!r}.")
    if len(orgnr) != 9:
        raise OrgnrError(f"The organisasjonsnummer must be 9 digits; {orgnr} has {len(orgnr)}.")
    if orgnr[0] not in "89":
        raise OrgnrError(f"{orgnr}: an organisasjonsnummer reporting to SSB starts with 8 or 9, not {orgnr[0]}.")
    check = _mod11(orgnr[:8], _ORGNR_WEIGHTS)
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


_UNIT_SHAPE = "The unit must be written KOMMUNENR-BYDEL-ORGNR, e.g. 0301-12-958935420"
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
        if not _digits(part, length):
            raise UnitError(f"{_UNIT_SHAPE}: the {label} must be {length} digits{hint}.")
    kommunenr, bydel, orgnr = parts
    check_bydel(kommunenr, bydel, date.today().year if year is None else year)
    check_orgnr(orgnr)
    return Unit(kommunenr, bydel, orgnr)


# ---------------------------------------------------------------------------------------------------------------------
# Person identifiers


class IdClass(enum.StrEnum):
    """What a person ID turned out to be. Values are the names, e.g. ``"FNR"`` (and ``str()`` gives the value)."""

    FNR = "FNR"  #: fødselsnummer
    DNR = "DNR"  #: D-number: day + 40
    HNR = "HNR"  #: H-number: month + 40 (also NAV Dolly's synthetic IDs, which cannot be told apart)
    SYNTHETIC = "SYNTHETIC"  #: Skatteetaten Tenor's synthetic test ID: month + 80
    DUF = "DUF"  #: DUF number (12 digits)
    PLACEHOLDER = "PLACEHOLDER"  #: SSB placeholder: valid DDMMYY + 00100, 00200 or 99999
    BAD_CHECKSUM = "BAD_CHECKSUM"  #: right shape and date, wrong check digit(s)
    BAD_DATE = "BAD_DATE"  #: right shape, no such date (after removing the offsets)
    BAD_FORMAT = "BAD_FORMAT"  #: not the right number of digits
    MISSING = "MISSING"  #: empty

    #: The str hash, in C (Enum's own hashes the name in Python: slow in sets and dicts used per record). The same
    #: number: each value is its name.
    __hash__ = str.__hash__


_VALID_CLASSES = frozenset(
    {IdClass.FNR, IdClass.DNR, IdClass.HNR, IdClass.SYNTHETIC, IdClass.DUF, IdClass.PLACEHOLDER}
)


@dataclass(frozen=True)
class ClassifiedId:
    """The result of :func:`classify_id`.

    ``canonical`` is the ID's digits (11 for fødselsnummer-like IDs, 12 for DUF), ``None`` for BAD_FORMAT and MISSING.
    ``rule`` says which check-digit rule matched a valid fødselsnummer-like ID (``"current"`` or ``"2032"``), else
    ``None``.
    """

    id_class: IdClass
    canonical: str | None
    rule: str | None

    @property
    def valid(self) -> bool:
        """True for the classes that identify someone (or are an accepted placeholder)."""
        return self.id_class in _VALID_CLASSES


_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_DUF_WEIGHTS = (4, 6, 3, 2, 4, 6, 3, 2, 7, 5)
_PLACEHOLDER_SUFFIXES = frozenset({"00100", "00200", "99999"})


def fnr_check_digits_ok(digits: str) -> str | None:
    """Which check-digit rule an 11-digit ID satisfies: ``"current"``, else ``"2032"``, else ``None``.

    Current rule: ``(K1-weighted sum of digits 1-9 + K1) mod 11 == 0``. The 2032 rule also lets that remainder be
    1, 2 or 3. K2 is the same under both: ``(K2-weighted sum of digits 1-10 + K2) mod 11 == 0``.
    Anything that is not 11 ASCII digits gives ``None``.
    """
    if not _digits(digits, 11):
        return None
    return _check_rule(digits.encode("ascii"))


#: 48 (``ord("0")``) times the sum of the weights (and 1 for the check digit itself): the weighted sums below work on
#: the ASCII codes of the digits, and subtract this once.
_K2_ASCII_OFFSET = 48 * (sum(_K2_WEIGHTS) + 1)
_K1_ASCII_OFFSET = 48 * (sum(_K1_WEIGHTS) + 1)


def _check_rule(b: bytes) -> str | None:
    """:func:`fnr_check_digits_ok` for 11 ASCII digits as bytes, the weights written out (this runs per record)."""
    if (5 * b[0] + 4 * b[1] + 3 * b[2] + 2 * b[3] + 7 * b[4] + 6 * b[5] + 5 * b[6] + 4 * b[7] + 3 * b[8] + 2 * b[9]
            + b[10] - _K2_ASCII_OFFSET) % 11:
        return None
    k1_remainder = (3 * b[0] + 7 * b[1] + 6 * b[2] + b[3] + 8 * b[4] + 9 * b[5] + 4 * b[6] + 5 * b[7] + 2 * b[8]
                    + b[9] - _K1_ASCII_OFFSET) % 11
    if k1_remainder == 0:
        return "current"
    if k1_remainder <= 3:
        return "2032"
    return None


def fnr_check_digits(first9: str) -> str | None:
    """The two check digits for these 9 digits under the current rule, or ``None`` if K1 or K2 would be 10."""
    if not _digits(first9, 9):
        raise ValueError(f"expected 9 digits, got {first9!r}")
    k1 = _mod11(first9, _K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _mod11(first9 + str(k1), _K2_WEIGHTS)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def duf_ok(digits: str) -> bool:
    """Whether ``digits`` is a DUF number: 12 digits, the last two = (weighted sum of the first ten) mod 11."""
    return _digits(digits, 12) and int(digits[10:]) == _weighted(digits[:10], _DUF_WEIGHTS) % 11


def _date_exists(day: int, month: int, yy: int) -> bool:
    """Whether day.month exists in some year ending in ``yy`` (29 February: only if ``yy`` is divisible by 4)."""
    if not 1 <= month <= 12 or day < 1:
        return False
    # 2000 + yy is a leap year exactly when yy % 4 == 0
    return day <= (29 if month == 2 and yy % 4 == 0 else _MONTH_DAYS[month])


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FNR, _DNR, _HNR, _SYNTHETIC = IdClass.FNR, IdClass.DNR, IdClass.HNR, IdClass.SYNTHETIC


def classify_id(raw: str | None, kind: str = "fnr") -> ClassifiedId:
    """Classify a person ID from an extract: ``kind`` ``"fnr"`` (11 digits, any fødselsnummer-like ID) or ``"duf"``.

    Surrounding whitespace is ignored. In order: empty -> MISSING; not exactly 11 (12 for DUF) ASCII digits ->
    BAD_FORMAT; (fnr) no such date once the offsets are removed -> BAD_DATE; (fnr) a plain date followed by a
    placeholder suffix -> PLACEHOLDER, checked before the check digits; check digits failing both rules (DUF: its own
    rule) -> BAD_CHECKSUM; else DUF, or by the offsets SYNTHETIC (month + 80), DNR (day + 40), HNR (month + 40), FNR.
    The 2-digit year may be of any century.
    """
    if kind not in ("fnr", "duf"):
        raise ValueError(f"kind must be 'fnr' or 'duf', not {kind!r}")
    text = (raw or "").strip()
    if not text:
        return ClassifiedId(IdClass.MISSING, None, None)
    if kind == "duf":
        if not _digits(text, 12):
            return ClassifiedId(IdClass.BAD_FORMAT, None, None)
        return ClassifiedId(IdClass.DUF if duf_ok(text) else IdClass.BAD_CHECKSUM, text, None)
    if not (len(text) == 11 and text.isascii() and text.isdigit()):
        return ClassifiedId(IdClass.BAD_FORMAT, None, None)
    id_class, rule = classify_fnr_digits(text)
    return ClassifiedId(id_class, text, rule)


def classify_fnr_digits(text: str) -> tuple[IdClass, str | None]:
    """:func:`classify_id`'s class and check rule for exactly 11 ASCII digits (the caller has checked that):
    BAD_DATE, PLACEHOLDER, BAD_CHECKSUM (rule None), or SYNTHETIC, DNR, HNR, FNR with the rule that passed."""
    b = text.encode("ascii")
    day, month, yy = b[0] * 10 + b[1] - 528, b[2] * 10 + b[3] - 528, b[4] * 10 + b[5] - 528  # 528 = 11 * ord("0")
    id_class = _FNR
    if day > 40:
        day -= 40
        id_class = _DNR
    if month > 80:
        month -= 80
        id_class = _SYNTHETIC
    elif month > 40:
        month -= 40
        if id_class is _FNR:
            id_class = _HNR
    if not (0 < day and 0 < month <= 12 and day <= (29 if month == 2 and yy % 4 == 0 else _MONTH_DAYS[month])):
        return IdClass.BAD_DATE, None  # as _date_exists, inlined
    if id_class is _FNR and text[6:] in _PLACEHOLDER_SUFFIXES:
        return IdClass.PLACEHOLDER, None
    rule = _check_rule(b)
    if rule is None:
        return IdClass.BAD_CHECKSUM, None
    return id_class, rule


class FnrTables:
    """:func:`classify_id` for exactly 11 ASCII digits (``kind="fnr"``), by table look-ups, for code that classifies
    millions of IDs (the pseudonymizer). ``labels`` maps each :class:`IdClass` to what the tables give back for it
    (e.g. the bytes a caller writes), so the caller never hashes an enum member.

    For ``value`` of 11 ASCII digits (bytes), :func:`classify_id` gives the class labelled::

        date = tables.date(value[:6])           # None: BAD_DATE; else (label by the offsets, partial check sums)
        label, partial = date
        if label is tables.fnr and value[6:] in tables.placeholders: -> PLACEHOLDER
        elif tables.rules[partial + tables.suffixes[value[6:]]] is None: -> BAD_CHECKSUM
        else: -> label

    :meth:`duf_ok` checks a DUF number of exactly 12 ASCII digits (bytes).

    :meth:`date` looks a date up in ``dates`` (a plain dict, to try first: it holds every valid date seen so far, a
    few MB at most), and adds it there when it is valid; ``suffixes`` has all 10**5 keys (built once a process,
    about 10 MB). A partial sum packs (K1 sum mod 11) * 32 + (K2 sum mod 11), so
    the sum of a date's and a suffix's is still two separate sums (each below 32); ``rules[sum]`` is ``"current"``,
    ``"2032"`` or ``None``, as :func:`fnr_check_digits_ok`.
    """

    def __init__(self, labels: dict[IdClass, object]):
        self.labels = labels
        self.fnr = labels[IdClass.FNR]
        self.placeholders = frozenset(s.encode("ascii") for s in _PLACEHOLDER_SUFFIXES)
        self.dates: dict[bytes, tuple[object, int]] = {}
        self.suffixes = _suffix_table()
        rules: list[str | None] = []
        for total in range(64 * 32):
            k1, k2 = (total >> 5) % 11, (total & 31) % 11
            rules.append(None if k2 else "current" if k1 == 0 else "2032" if k1 <= 3 else None)
        self.rules = rules

    def date(self, key: bytes) -> tuple[object, int] | None:
        """``(label by the offsets, partial check sums)`` of a date part ``DDMMYY`` (6 ASCII digits), ``None`` if
        there is no such date."""
        found = self.dates.get(key)
        if found is None:
            if classify_id(key.decode("ascii") + "00000").id_class is IdClass.BAD_DATE:
                return None  # not kept: only valid dates fill the table
            found = (self.labels[_offset_class(key)], _partial(key, _K1_WEIGHTS[:6], _K2_WEIGHTS[:6]))
            self.dates[key] = found
        return found

    @staticmethod
    def duf_ok(b: bytes) -> bool:
        """:func:`duf_ok` for exactly 12 ASCII digits (bytes), the weights written out."""
        return ((4 * b[0] + 6 * b[1] + 3 * b[2] + 2 * b[3] + 4 * b[4] + 6 * b[5] + 3 * b[6] + 2 * b[7] + 7 * b[8]
                 + 5 * b[9] - _DUF_ASCII_OFFSET) % 11 == b[10] * 10 + b[11] - 528)


_DUF_ASCII_OFFSET = 48 * sum(_DUF_WEIGHTS)


def _partial(digits: bytes, k1_weights: tuple[int, ...], k2_weights: tuple[int, ...]) -> int:
    k1 = sum((d - 48) * w for d, w in zip(digits, k1_weights))
    k2 = sum((d - 48) * w for d, w in zip(digits, k2_weights))
    return (k1 % 11) * 32 + k2 % 11


def _offset_class(b: bytes) -> IdClass:
    """The class a valid date part gives by its offsets (as :func:`classify_id` decides it)."""
    day, month = b[0] * 10 + b[1] - 528, b[2] * 10 + b[3] - 528
    if month > 80:
        return IdClass.SYNTHETIC
    if day > 40:
        return IdClass.DNR
    return IdClass.HNR if month > 40 else IdClass.FNR


@functools.cache
def _suffix_table() -> dict[bytes, int]:
    """``IIIK1K2`` (the last 5 digits, bytes) -> partial sums, for all 10**5 of them; see :class:`FnrTables`."""
    k1_weights, k2_weights = _K1_WEIGHTS[6:] + (1, 0), _K2_WEIGHTS[6:] + (1,)
    small = list(range(32 * 11))  # shared int objects: the table holds 10**5 references to these
    # The partial sums of the first 3 and of the last 2 digits, combined (each part's sums taken mod 11 at the end).
    firsts = [(sum(int(d) * w for d, w in zip(f"{i:03d}", k1_weights[:3])),
               sum(int(d) * w for d, w in zip(f"{i:03d}", k2_weights[:3]))) for i in range(1000)]
    lasts = [(sum(int(d) * w for d, w in zip(f"{i:02d}", k1_weights[3:])),
              sum(int(d) * w for d, w in zip(f"{i:02d}", k2_weights[3:]))) for i in range(100)]
    return {f"{i:03d}{j:02d}".encode("ascii"): small[((a1 + b1) % 11) * 32 + (a2 + b2) % 11]
            for i, (a1, a2) in enumerate(firsts) for j, (b1, b2) in enumerate(lasts)}


_GENERATE_OFFSETS = {"fnr": (0, 0), "dnr": (40, 0), "hnr": (0, 40), "synthetic": (0, 80)}


def generate_fnr(birth: date, individual: int, *, kind: str = "fnr") -> str | None:
    """A fødselsnummer-like ID (current check-digit rule) for test data; ``None`` if none exists for these inputs.

    ``kind`` is ``"fnr"``, ``"dnr"`` (day + 40), ``"hnr"`` (month + 40) or ``"synthetic"`` (Tenor: month + 80);
    ``individual`` is the 3-digit individual number 0-999. ``None`` when a check digit would be 10, or (plain
    ``"fnr"`` only) when the result would read as an SSB placeholder (``00100``, ``00200``, ``99999``).
    """
    if kind not in _GENERATE_OFFSETS:
        raise ValueError(f"kind must be one of {', '.join(_GENERATE_OFFSETS)}, not {kind!r}")
    if not 0 <= individual <= 999:
        raise ValueError(f"individual must be 0-999, not {individual}")
    day_offset, month_offset = _GENERATE_OFFSETS[kind]
    first9 = f"{birth.day + day_offset:02d}{birth.month + month_offset:02d}{birth.year % 100:02d}{individual:03d}"
    check = fnr_check_digits(first9)
    if check is None or (kind == "fnr" and first9[6:] + check in _PLACEHOLDER_SUFFIXES):
        return None
    return first9 + check
