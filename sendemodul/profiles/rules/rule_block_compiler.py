"""The rule table's expressions compiled to block form (:class:`_BlockCompiler`): each operator of the table
(``b_<op>``) as a function over a block of record lines giving a column, for
:class:`~sendemodul.profiles.rules.rule_block.BlockControls`. The nodes and the general operators are in
:mod:`~sendemodul.profiles.rules.rule_block_nodes`; here are SSB's readers of a field built on them (``ssb_int``,
``month_sum``, dates and their years, birth years, ``any_code``, ``kommunenr_valid``, ``duf_ok``). An operator or
operand kind with no array form raises :class:`~sendemodul.profiles.rules.rule_block_columns._Unsupported`: its
control runs line by line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sendemodul.profiles.rules.rule_block_columns import (
    _B,
    _aligned_int_column,
    _birth_years,
    _Block,
    _constant,
    _date_years,
    _per_distinct,
    _ssb_int_column,
    _Unsupported,
)
from sendemodul.profiles.rules.rule_block_nodes import _BlockNodes
from sendemodul.profiles.rules.rule_compiler import _is_field
from sendemodul.profiles.rules.rule_values import ssb_int

if TYPE_CHECKING:
    import numpy as np

__all__: list[str] = []


class _BlockCompiler(_BlockNodes):
    """Compiles the table's expressions to :class:`_B` nodes (``b_<op>``), with the line compiler's knowledge of
    what the field rules guarantee (its mode is ``line``: a block holds only lines that passed them)."""

    def b_ssb_int(self, args: list[Any], where: str) -> _B:
        x = args[0]
        if not _is_field(x):
            raise _Unsupported("'ssb_int' of a value that is no field")
        name = self.spec(x[1], where).name
        fixed = self.fixed_value(name)
        if fixed is not None:
            return _constant(ssb_int(fixed))
        return self.ssb_int_of(name)

    def ssb_int_of(self, name: str) -> _B:
        key = f"\0ssb_int {name}"
        found = self.def_nodes.get(key)
        if found is None:
            column = self.column(name)
            start, end = self.specs[name].span
            if self.guaranteed(name) == "integer" and end - start <= 8:
                packed = self.packed(name)
                found = self.node("num", lambda b: _aligned_int_column(packed(b).view("<u2").reshape(-1, 4)))
            else:
                found = self.node("num", lambda b: _ssb_int_column(column(b), b, start, end))
            self.def_nodes[key] = found
        return found

    def b_month_sum(self, args: list[Any], where: str) -> _B:
        parts = [self.ssb_int_of(self.spec(name, where).name) for name in args]

        def compute(b: _Block) -> np.ndarray:
            total: np.ndarray = parts[0](b).copy()
            for part in parts[1:]:
                total += part(b)
            return total

        return self.node("num", compute)

    def date_field(self, args: list[Any], where: str) -> str:
        x = args[0]
        if not _is_field(x):
            raise _Unsupported("a date of a value that is no field")
        name: str = self.spec(x[1], where).name
        if self.specs[name].width != 8 or self.fixed_value(name) is not None:
            raise _Unsupported("a date field not 8 wide")
        return name

    def b_ssb_date(self, args: list[Any], where: str) -> _B:
        column = self.column(self.date_field(args, where))
        return self.node("date", lambda b: _date_years(column(b), lenient=True), True)

    def b_date(self, args: list[Any], where: str) -> _B:
        column = self.column(self.date_field(args, where))
        return self.node("date", lambda b: _date_years(column(b), lenient=False), True)

    def b_year_of(self, args: list[Any], where: str) -> _B:
        day = self.expr(args[0], where)
        if day.kind != "date":
            raise _Unsupported("'year_of' of no date")
        return self.node("num", lambda b: day(b), True)

    def b_ssb_birth_year(self, args: list[Any], where: str) -> _B:
        x = args[0]
        if not _is_field(x) or self.specs[self.spec(x[1], where).name].width != 11 or self.fixed_value(x[1]):
            raise _Unsupported("'ssb_birth_year' of no field 11 wide")
        column = self.column(x[1])
        year = self.profile.periode
        return self.node("num", lambda b: _birth_years(column(b), year), True)

    def b_any_code(self, args: list[Any], where: str) -> _B:
        for name in args:
            self.spec(name, where)
        if all(self.guaranteed(name) == "code" for name in args):
            ticked = [self.b_not_code(self.blank_of(name)) for name in args]
        else:
            ticked = [self.member(name, frozenset(self.specs[name].codes)) for name in args]
        return self.junction_of(ticked)

    def junction_of(self, parts: list[_B]) -> _B:
        def compute(b: _Block) -> np.ndarray:
            result: np.ndarray = parts[0](b).copy()
            for part in parts[1:]:
                result |= part(b)
            return result

        return self.node("bool", compute)

    def b_kommunenr_valid(self, args: list[Any], where: str) -> _B:
        x = args[0]
        if not _is_field(x) or self.fixed_value(self.spec(x[1], where).name) is not None:
            raise _Unsupported("'kommunenr_valid' of no field")
        name = x[1]
        column = self.column(name)
        strip = self.specs[name].width != 4  # the line compiler reads the slice itself only when 4 wide
        valid = self._kommunenr_valid
        encoding = self.profile.encoding
        return self.node(
            "bool", lambda b: _per_distinct(column(b), lambda t: valid(t.strip(" ") if strip else t), encoding)
        )

    def b_duf_ok(self, args: list[Any], where: str) -> _B:
        from sendemodul.identity.fnr_tables import duf_ok_array

        x = args[0]
        if not _is_field(x) or self.specs[self.spec(x[1], where).name].width != 12 or self.fixed_value(x[1]):
            raise _Unsupported("'duf_ok' of no field 12 wide")
        column = self.column(x[1])

        def compute(b: _Block) -> np.ndarray:
            col = column(b)
            digits = ((col >= 48) & (col <= 57)).all(axis=1)
            ok: np.ndarray = digits & duf_ok_array(col)
            return ok

        return self.node("bool", compute)
