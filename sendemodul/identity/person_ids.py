"""Person identifiers: fødselsnummer and its relatives (D-, H-, synthetic numbers, SSB placeholders), DUF numbers.

A person ID is never refused with an exception but *classified* (:func:`classify_id`): an invalid ID in an extract is
a finding about one row, not an error of the whole operation. The rules (DOMAIN.md, "Identifiers"):

- Fødselsnummer ``DDMMYY III K1 K2`` with two mod-11 check digits. Both the current rule and the rule for numbers
  issued from 2032 (K1 may leave a remainder of 0-3) are accepted side by side.
- D-number: day + 40. H-number: month + 40 (NAV Dolly's synthetic IDs use the same offset and classify as H-numbers).
  Synthetic (Skatteetaten Tenor): month + 80. The offsets combine; precedence is synthetic, then D, then H.
- SSB placeholders: a valid birth date followed by ``00100``, ``00200`` or ``99999``.
- DUF number: 12 digits, the last two are a mod-11 sum over the first ten.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from sendemodul.identity.checkdigits import (
    K1_WEIGHTS,
    K2_WEIGHTS,
    ascii_digits,
    duf_check_pair,
    mod11,
)


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


_VALID_CLASSES = frozenset({IdClass.FNR, IdClass.DNR, IdClass.HNR, IdClass.SYNTHETIC, IdClass.DUF, IdClass.PLACEHOLDER})


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


PLACEHOLDER_SUFFIXES = frozenset({"00100", "00200", "99999"})


def fnr_check_digits_ok(digits: str) -> str | None:
    """Which check-digit rule an 11-digit ID satisfies: ``"current"``, else ``"2032"``, else ``None``.

    Current rule: ``(K1-weighted sum of digits 1-9 + K1) mod 11 == 0``. The 2032 rule also lets that remainder be
    1, 2 or 3. K2 is the same under both: ``(K2-weighted sum of digits 1-10 + K2) mod 11 == 0``.
    Anything that is not 11 ASCII digits gives ``None``.
    """
    if not ascii_digits(digits, 11):
        return None
    return check_rule(digits.encode("ascii"))


#: 48 (``ord("0")``) times the sum of the weights (and 1 for the check digit itself): the weighted sums below work on
#: the ASCII codes of the digits, and subtract this once.
_K2_ASCII_OFFSET = 48 * (sum(K2_WEIGHTS) + 1)
_K1_ASCII_OFFSET = 48 * (sum(K1_WEIGHTS) + 1)


def check_rule(b: bytes) -> str | None:
    """:func:`fnr_check_digits_ok` for 11 ASCII digits as bytes, the weights written out (this runs per record)."""
    if (
        5 * b[0]
        + 4 * b[1]
        + 3 * b[2]
        + 2 * b[3]
        + 7 * b[4]
        + 6 * b[5]
        + 5 * b[6]
        + 4 * b[7]
        + 3 * b[8]
        + 2 * b[9]
        + b[10]
        - _K2_ASCII_OFFSET
    ) % 11:
        return None
    k1_remainder = (
        3 * b[0]
        + 7 * b[1]
        + 6 * b[2]
        + b[3]
        + 8 * b[4]
        + 9 * b[5]
        + 4 * b[6]
        + 5 * b[7]
        + 2 * b[8]
        + b[9]
        - _K1_ASCII_OFFSET
    ) % 11
    if k1_remainder == 0:
        return "current"
    if k1_remainder <= 3:
        return "2032"
    return None


def valid_before_2032(text: str) -> bool:
    """Whether an 11-digit ID passes SSB's K005 for the reporting years before 2032 (the check SSB's control program
    runs): the current rule's check digits (K1 remainder 0; the date part is not looked at, so a D-, H- or synthetic
    number passes, and so does day 32), or an SSB placeholder suffix (``00100``, ``00200``, ``99999``) after six
    digits that read as a day 01-31 and a month 01-12. A number valid only under the 2032 rule does not pass."""
    if not ascii_digits(text, 11):
        return False
    if check_rule(text.encode("ascii")) == "current":
        return True
    return text[6:] in PLACEHOLDER_SUFFIXES and 1 <= int(text[:2]) <= 31 and 1 <= int(text[2:4]) <= 12


def fnr_check_digits(first9: str) -> str | None:
    """The two check digits for these 9 digits under the current rule, or ``None`` if K1 or K2 would be 10."""
    if not ascii_digits(first9, 9):
        raise ValueError(f"expected 9 digits, got {first9!r}")
    k1 = mod11(first9, K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = mod11(first9 + str(k1), K2_WEIGHTS)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def duf_ok(digits: str) -> bool:
    """Whether ``digits`` is a DUF number: 12 digits, the last two = (weighted sum of the first ten) mod 11."""
    return ascii_digits(digits, 12) and digits[10:] == duf_check_pair(digits[:10])


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
        if not ascii_digits(text, 12):
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
    if not (day > 0 and 0 < month <= 12 and day <= (29 if month == 2 and yy % 4 == 0 else _MONTH_DAYS[month])):
        return IdClass.BAD_DATE, None
    if id_class is _FNR and text[6:] in PLACEHOLDER_SUFFIXES:
        return IdClass.PLACEHOLDER, None
    rule = check_rule(b)
    if rule is None:
        return IdClass.BAD_CHECKSUM, None
    return id_class, rule


#: Skatteetaten Tenor's synthetic IDs: month + 80.
SYNTHETIC_MONTH_OFFSET = 80
_GENERATE_OFFSETS = {"fnr": (0, 0), "dnr": (40, 0), "hnr": (0, 40), "synthetic": (0, SYNTHETIC_MONTH_OFFSET)}


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
    if check is None or (kind == "fnr" and first9[6:] + check in PLACEHOLDER_SUFFIXES):
        return None
    return first9 + check
