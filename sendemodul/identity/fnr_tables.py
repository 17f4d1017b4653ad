"""Table look-ups that classify fødselsnummer-like IDs as :func:`~sendemodul.identity.person_ids.classify_id` does,
for code that classifies millions of them, and :func:`classify_fnr_array` / :func:`duf_ok_array`, the same for a
block of IDs at once by array arithmetic (the pseudonymizer and the encryption module use these)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sendemodul.identity.checkdigits import DUF_WEIGHTS, K1_WEIGHTS, K2_WEIGHTS
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES, IdClass, classify_id

if TYPE_CHECKING:  # imported where used: most commands never need numpy
    import numpy as np


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
        self.placeholders = frozenset(s.encode("ascii") for s in PLACEHOLDER_SUFFIXES)
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
            found = (self.labels[_offset_class(key)], _partial(key, K1_WEIGHTS[:6], K2_WEIGHTS[:6]))
            self.dates[key] = found
        return found

    @staticmethod
    def duf_ok(b: bytes) -> bool:
        """:func:`duf_ok` for exactly 12 ASCII digits (bytes), the weights written out."""
        return (
            4 * b[0]
            + 6 * b[1]
            + 3 * b[2]
            + 2 * b[3]
            + 4 * b[4]
            + 6 * b[5]
            + 3 * b[6]
            + 2 * b[7]
            + 7 * b[8]
            + 5 * b[9]
            - _DUF_ASCII_OFFSET
        ) % 11 == b[10] * 10 + b[11] - 528


_DUF_ASCII_OFFSET = 48 * sum(DUF_WEIGHTS)


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
    k1_weights, k2_weights = (*K1_WEIGHTS[6:], 1, 0), (*K2_WEIGHTS[6:], 1)
    small = list(range(32 * 11))  # shared int objects: the table holds 10**5 references to these
    # The partial sums of the first 3 and of the last 2 digits, combined (each part's sums taken mod 11 at the end).
    firsts = [
        (
            sum(int(d) * w for d, w in zip(f"{i:03d}", k1_weights[:3])),
            sum(int(d) * w for d, w in zip(f"{i:03d}", k2_weights[:3])),
        )
        for i in range(1000)
    ]
    lasts = [
        (
            sum(int(d) * w for d, w in zip(f"{i:02d}", k1_weights[3:])),
            sum(int(d) * w for d, w in zip(f"{i:02d}", k2_weights[3:])),
        )
        for i in range(100)
    ]
    return {
        f"{i:03d}{j:02d}".encode("ascii"): small[((a1 + b1) % 11) * 32 + (a2 + b2) % 11]
        for i, (a1, a2) in enumerate(firsts)
        for j, (b1, b2) in enumerate(lasts)
    }


#: The classes :func:`classify_fnr_array` gives, by their code (the index), and its check rules by code.
ARRAY_CLASSES = (
    IdClass.FNR,
    IdClass.DNR,
    IdClass.HNR,
    IdClass.SYNTHETIC,
    IdClass.BAD_DATE,
    IdClass.PLACEHOLDER,
    IdClass.BAD_CHECKSUM,
)
ARRAY_RULES = (None, "current", "2032")
_ARRAY_CODE = {c: i for i, c in enumerate(ARRAY_CLASSES)}
_PLACEHOLDER_NUMBERS = tuple(int(s) for s in PLACEHOLDER_SUFFIXES)
_MONTH_DAYS_TABLE = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def classify_fnr_array(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~sendemodul.identity.person_ids.classify_fnr_digits` for each row of an ``(n, 11)`` array of ASCII
    digits (uint8; the caller has checked that each byte is a digit): ``(classes, rules)``, codes into
    :data:`ARRAY_CLASSES` and :data:`ARRAY_RULES`. A block of records is classified in a few array steps instead of a
    Python call per record (the encryption module's check of an 11F/11CF extract)."""
    import numpy as np

    d = digits.astype(np.int16) - 48
    day, month, yy = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3], d[:, 4] * 10 + d[:, 5]
    classes = np.zeros(len(d), np.int8)  # FNR
    dnr = day > 40
    day = np.where(dnr, day - 40, day)
    synthetic = month > 80
    hnr = ~synthetic & (month > 40)
    month = np.where(synthetic, month - 80, np.where(hnr, month - 40, month))
    classes[dnr] = _ARRAY_CODE[IdClass.DNR]
    classes[hnr & ~dnr] = _ARRAY_CODE[IdClass.HNR]
    classes[synthetic] = _ARRAY_CODE[IdClass.SYNTHETIC]
    in_range = (month >= 1) & (month <= 12)
    last_day = np.asarray(_MONTH_DAYS_TABLE, np.int16)[np.where(in_range, month, 0)]
    last_day = np.where((month == 2) & (yy % 4 == 0), 29, last_day)
    date_ok = in_range & (day > 0) & (day <= last_day)
    suffix = d[:, 6:].astype(np.int32) @ np.asarray((10000, 1000, 100, 10, 1), np.int32)
    placeholder = date_ok & (classes == _ARRAY_CODE[IdClass.FNR]) & np.isin(suffix, _PLACEHOLDER_NUMBERS)
    k2 = (d @ np.asarray((*K2_WEIGHTS, 1), np.int16)) % 11
    k1 = (d[:, :10] @ np.asarray((*K1_WEIGHTS, 1), np.int16)) % 11
    rules = np.where(k2 != 0, 0, np.where(k1 == 0, 1, np.where(k1 <= 3, 2, 0))).astype(np.int8)
    checked = date_ok & ~placeholder
    classes[checked & (rules == 0)] = _ARRAY_CODE[IdClass.BAD_CHECKSUM]
    classes[placeholder] = _ARRAY_CODE[IdClass.PLACEHOLDER]
    classes[~date_ok] = _ARRAY_CODE[IdClass.BAD_DATE]
    rules[~checked] = 0
    return classes, rules


def duf_ok_array(digits: np.ndarray) -> np.ndarray:
    """:meth:`FnrTables.duf_ok` for each row of an ``(n, 12)`` array of ASCII digits (uint8): a bool array."""
    import numpy as np

    d = digits.astype(np.int16) - 48
    ok: np.ndarray = (d[:, :10] @ np.asarray(DUF_WEIGHTS, np.int16)) % 11 == d[:, 10] * 10 + d[:, 11]
    return ok
