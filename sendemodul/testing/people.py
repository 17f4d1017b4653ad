"""Synthetic people for test extracts: unique birth dates and Tenor fødselsnummer, and DUF numbers."""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from sendemodul import identity
from sendemodul.identity.checkdigits import K1_WEIGHTS, K2_WEIGHTS, duf_check_pair
from sendemodul.profiles import Profile

__all__ = ["Birth", "duf", "people"]

#: Individual numbers that give a 2-digit year its century: 000-499 for 1900-1999, 500-999 for 2000-2039.
_CENTURIES = {1900: 0, 2000: 500}


class Birth(NamedTuple):
    """A birth date as the two date formats write it."""

    ddmmyyyy: str
    iso: str


def people(profile: Profile, seed: int) -> Iterator[tuple[Birth, str]]:
    """Endless unique ``(birth, synthetic fødselsnummer)`` pairs, in a seeded random order.

    Every birth date in the age range is used once before any date is used twice, each time with the next individual
    number of a seeded permutation, so pairs never repeat (about 400 people a birth date). The check digits depend on
    the date only through its two weighted sums mod 11, so each individual number gets a table of the 121 possible
    endings; the dates are visited in a seeded full-cycle order and prepared the first time they are used, so a small
    extract costs little.
    """
    rng = random.Random(seed)
    youngest, oldest = profile.generator.age_range
    first = datetime.date(max(1900, profile.periode - oldest), 1, 1).toordinal()
    days = datetime.date(min(2039, profile.periode - youngest), 12, 31).toordinal() - first + 1
    step = rng.randrange(days // 3, days)
    while math.gcd(step, days) != 1:
        step += 1
    start = rng.randrange(days)
    births: list[tuple[Birth, str, int, int]] = []

    def prepared(k: int) -> tuple[Birth, str, int, int]:
        """The k-th date of the order: birth, the ID's first six digits, its class of sums, its century."""
        born = datetime.date.fromordinal(first + (start + k * step) % days)
        day, month, yy = born.day, born.month + identity.SYNTHETIC_MONTH_OFFSET, born.year % 100
        digits = (day // 10, day % 10, month // 10, month % 10, yy // 10, yy % 10)
        sums = _partial_sum(digits, K1_WEIGHTS) % 11 * 11 + _partial_sum(digits, K2_WEIGHTS) % 11
        return (
            Birth(f"{born.day:02d}{born.month:02d}{born.year}", born.isoformat()),
            f"{day:02d}{month:02d}{yy:02d}",
            sums,
            _CENTURIES[born.year // 100 * 100],
        )

    def endings(individual: int) -> list[str | None]:
        """For each class of sums: individual number and check digits, or ``None`` when no valid ID exists."""
        digits = (individual // 100, individual // 10 % 10, individual % 10)
        partial1, partial2 = _partial_sum(digits, K1_WEIGHTS[6:]), _partial_sum(digits, K2_WEIGHTS[6:9])
        table: list[str | None] = []
        for sum1 in range(11):
            for sum2 in range(11):
                k1 = (11 - (sum1 + partial1) % 11) % 11
                k2 = (11 - (sum2 + partial2 + 2 * k1) % 11) % 11
                table.append(f"{individual:03d}{k1}{k2}" if k1 != 10 and k2 != 10 else None)
        return table

    levels = list(range(500))
    rng.shuffle(levels)
    for level in levels:
        tables = {century: endings(century + level) for century in _CENTURIES.values()}
        for k in range(days):
            if k == len(births):
                births.append(prepared(k))
            birth, prefix, sums, century = births[k]
            ending = tables[century][sums]
            if ending is not None:
                yield birth, prefix + ending
    raise ValueError(f"the age range of {profile.register} has room for no more people")


def _partial_sum(digits: Iterable[int], weights: tuple[int, ...]) -> int:
    """The weighted sum of ``digits`` (ints, as many as there are weights or fewer): a part of a check-digit sum
    (:func:`sendemodul.identity.checkdigits.weighted` takes a whole number's digits)."""
    return sum(d * w for d, w in zip(digits, weights))


def duf(number: int, year: int) -> str:
    """The DUF number of record ``number``: a registration year (``year``, earlier for every million records), a
    6-digit serial, and the check pair; unique within an extract."""
    first10 = f"{year - number // 1_000_000:04d}{number % 1_000_000:06d}"
    return first10 + duf_check_pair(first10)
