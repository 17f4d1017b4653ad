"""SSB's way of reading a record's values: numbers, dates and birth years as SSB's control program reads them.

A module of its own because these are plain functions over texts that both the generated control functions call at
run time (:mod:`~sendemodul.profiles.rules.rule_compiler` puts them in the generated code's namespace) and other
modules use directly (:mod:`~sendemodul.profiles.rules.sosial`); they need nothing of the table or its compiler.
"""

from __future__ import annotations

import datetime
import functools

from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES

__all__ = ["month_sum", "ssb_birth_year", "ssb_date", "ssb_int"]


def ssb_int(text: str) -> int:
    """A number field as SSB's controls read it: the text as a whole number (a sign allowed), 0 if it is not one."""
    t = text.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not (body.isascii() and body.isdigit()) or len(body) > 9:
        return 0
    return int(t)


@functools.lru_cache(maxsize=8192)
def ssb_date(text: str) -> datetime.date | None:
    """A ``ddMMyyyy`` date as SSB's program reads it: day 01-31 and month 01-12, a day past the month's end taken as
    its last day (``31042026`` is 30 April); ``None`` if it is no date at all."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    if not (1 <= day <= 31 and 1 <= month <= 12 and year >= 1):
        return None
    while True:
        try:
            return datetime.date(year, month, day)
        except ValueError:
            day -= 1


def ssb_birth_year(fnr: str, year: int) -> int | None:
    """The birth year SSB's controls read from a fødselsnummer in reporting year ``year``, or ``None``.

    An SSB placeholder (``00100``, ``00200``, ``99999``): the six digits as a date in 20YY, or 19YY if that is after
    the end of the next year. Otherwise a D-number's day (-40) and a synthetic number's month (-80) are restored, and
    the individual number gives the century: 500-999 with YY <= 39: 20YY; 500-749 with YY >= 54: 18YY; 000-499 or
    900-999: 19YY; else 20YY. An H-number's month (+40) is not restored: no date, ``None``. SSB reads the date
    leniently (31 April is 30 April): a day 01-31 and a month 01-12 are enough.
    """
    if not (len(fnr) == 11 and fnr.isascii() and fnr.isdigit()):
        return None
    if fnr[6:] in PLACEHOLDER_SUFFIXES:
        day, month, yy = int(fnr[:2]), int(fnr[2:4]), int(fnr[4:6])
        if not (1 <= day <= 31 and 1 <= month <= 12):
            return None
        return 1900 + yy if 2000 + yy > year + 1 else 2000 + yy
    if fnr[:4] not in _DAY_MONTH:  # the day (less 40) 01-31 and the month (less 80) 01-12
        return None
    yy, individual = divmod(int(fnr[4:9]), 1000)
    if individual >= 500 and yy <= 39:
        return 2000 + yy
    if 500 <= individual <= 749 and yy >= 54:
        return 1800 + yy
    if individual <= 499 or individual >= 900:
        return 1900 + yy
    return 2000 + yy


#: The first four digits of a fødselsnummer whose day and month SSB reads: day 01-31 (a D-number's 41-71), month 01-12
#: (a synthetic number's 81-92); an H-number's month (41-52) is not read.
_DAY_MONTH = frozenset(
    f"{day:02d}{month:02d}" for day in (*range(1, 32), *range(41, 72)) for month in (*range(1, 13), *range(81, 93))
)


def month_sum(fields: tuple[str, ...]) -> int:
    """The sum of number fields that passed the field rules (digits, left- or right-aligned, or blank), of equal
    width W, at most 99 of them, in a few C calls: joined with "00" between them and spaces read as zeros, the text
    is the number sum(v_i * 10**((W + 2) * k_i)), whose remainder modulo 10**(W + 2) - 1 is the sum itself (it is
    smaller than that). A left-aligned number (digits, then spaces) would read as scaled: then the numbers are added
    up one by one."""
    width = len(fields[0])
    filled = "|".join(fields).replace(" " * width, "") + "|"  # the blank fields dropped
    if " |" not in filled:  # no number followed by a space: none is left-aligned
        modulus: int = 10 ** (width + 2) - 1
        return int("00".join(fields).replace(" ", "0") or "0") % modulus
    return sum(map(int, " ".join(fields).split()))


def _shown(value: str) -> str:
    """`` (fant 'x')`` for a short value; nothing for a longer one, which could be (part of) an identifier."""
    return f" (fant '{value}')" if 0 < len(value) <= 4 else ""
