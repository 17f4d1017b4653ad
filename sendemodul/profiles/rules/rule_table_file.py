"""A register's rule table as data: where it lives, how it is read, the operators of its expression language, and
the error for a table that does not fit.

A module of its own because reading the table (:func:`load_table`) is needed without compiling it (the export of the
browser module, the K-controls' titles) and the compiler (:mod:`~sendemodul.profiles.rules.rule_compiler`) checks
expressions against :data:`OPERATORS` defined here.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sendemodul import resources
from sendemodul.errors import ProfileError

__all__ = ["OPERATORS", "TableError", "load_table", "table_file"]


def table_file(register: str) -> str:
    """The rule table's file name beside the profiles."""
    return f"{register}.controls.json"


@functools.lru_cache(maxsize=16)
def load_table(register: str) -> dict[str, Any]:
    """A register's rule table as JSON data (read once; treat it as read-only)."""
    entry = resources.profiles().joinpath(table_file(register))
    try:
        data: dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"no rule table {table_file(register)} for register {register}") from None
    return data


#: Operators: name -> (minimum arguments, maximum or None). Arguments are expressions unless said otherwise below.
OPERATORS: dict[str, tuple[int, int | None]] = {
    "f": (1, 1),
    "var": (1, 1),
    "year": (0, 0),
    "codes": (1, 1),
    "set": (0, None),
    "in": (2, 2),
    "==": (2, 2),
    "!=": (2, 2),
    "<": (2, 2),
    "<=": (2, 2),
    ">": (2, 2),
    ">=": (2, 2),
    "and": (1, None),
    "or": (1, None),
    "not": (1, 1),
    "if": (3, 3),
    "blank": (1, 1),
    "filled": (1, 1),
    "null": (1, 1),
    "coalesce": (2, 2),
    "+": (2, 2),
    "-": (2, 2),
    "ssb_int": (1, 1),
    "ssb_date": (1, 1),
    "date": (1, 1),
    "year_of": (1, 1),
    "ssb_birth_year": (1, 1),
    "month_sum": (1, None),
    "any_code": (1, None),
    "kommunenr_valid": (1, 1),
    "duf_ok": (1, 1),
    "shown": (1, 1),
    "join": (2, 2),
}
#: Operators whose arguments are field names, not expressions.
_NAME_ARGS = {"f", "codes", "month_sum", "any_code"}


class TableError(ProfileError):
    """A rule table that does not fit its profile, or uses the expression language wrongly."""
