"""The packaged code lists (``sendemodul/data/kommuner.csv``, ``bydeler.csv``), read once, with their validity."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from datetime import date

from .. import resources


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
        return valid_in(self.valid_from, self.valid_to, year)


@dataclass(frozen=True)
class Bydel:
    """One row of ``data/bydeler.csv``."""

    kommunenr: str
    bydelnr: str
    name: str
    valid_from: date | None
    valid_to: date | None
    reports: bool  # column accepted_by_kostra_social_forms == "yes"
    note: str

    def valid_in(self, year: int) -> bool:
        """Whether the bydel exists at some time during ``year``."""
        return valid_in(self.valid_from, self.valid_to, year)


def valid_in(valid_from: date | None, valid_to: date | None, year: int) -> bool:
    """Whether the period from ``valid_from`` to ``valid_to`` (``None``: open-ended) overlaps ``year``."""
    return (valid_from is None or valid_from <= date(year, 12, 31)) and (
        valid_to is None or valid_to >= date(year, 1, 1)
    )


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.data_text(name)
    return list(csv.DictReader(io.StringIO(text)))


def _iso_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@functools.cache
def kommuner() -> dict[str, Kommune]:
    """``{kommunenr: kommune}`` for every code in the list, valid or expired."""
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
def bydeler() -> dict[str, dict[str, Bydel]]:
    """``{kommunenr: {bydelnr: bydel}}`` for the kommuner that have bydeler (only Oslo)."""
    result: dict[str, dict[str, Bydel]] = {}
    for row in _read_csv("bydeler.csv"):
        bydel = Bydel(
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


@dataclass(frozen=True)
class Fylke:
    """One row of ``data/fylker.csv``: a fylke (county) with its validity; the county governor (statsforvalter) of
    a fylke reviews its units' deliveries of the registers configured with ``[[review]]``."""

    fylkesnr: str
    name: str
    valid_from: date | None
    valid_to: date | None

    def valid_in(self, year: int) -> bool:
        """Whether the fylke exists at some time during ``year``."""
        return valid_in(self.valid_from, self.valid_to, year)


@functools.cache
def fylker() -> dict[str, Fylke]:
    """Every fylke in ``data/fylker.csv`` by fylkesnr."""
    return {
        row["fylkesnr"]: Fylke(row["fylkesnr"], row["name"], _iso_date(row["valid_from"]), _iso_date(row["valid_to"]))
        for row in _read_csv("fylker.csv")
    }


def fylke_of(kommunenr: str) -> str | None:
    """The fylkesnr of a kommune (from the kommune list), ``None`` for an unknown kommunenr."""
    kommune = kommuner().get(kommunenr)
    return kommune.fylkesnr if kommune is not None else None
