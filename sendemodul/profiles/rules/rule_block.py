"""The rule table's numpy backend: a register's controls evaluated on a whole block of record lines at once, column by
column, for the block path of the encryption module (:meth:`FixedBlockRules.check_block
<sendemodul.profiles.rules.fixed_block.FixedBlockRules.check_block>`).

Why: the generated ``passes`` function (:mod:`~sendemodul.profiles.rules.rule_table`) costs about 13 µs a record in
CPython, three times the whole budget of the encryption module at 250,000 records/s. Here the same table (the one
source of the controls: nothing in it is restated by hand) is compiled a third way: each expression becomes a
function over a block (an ``(n, record length)`` uint8 array of lines that passed the field rules, as ``passes``
assumes), giving a column of values, and each control's condition a boolean column, "fires". What the line compiler
folds away because the field rules guarantee it is folded here the same way (the methods are shared).

The values in a block: a field is its byte column (compared by the exact padded forms of a text: a stripped text
equals ``"1"`` exactly where the slice is ``"1 "`` or ``" 1"``); a number is a float64 column, NaN where the
reference's value is ``None`` (a comparison with NaN is false, as the reference's ``_cmp`` with ``None``; sums stay
exact, as no number read has more than 9 digits); a date is its year, NaN for ``None`` (only ``null`` and
``year_of`` read a date here); a condition is a bool column.

A control whose condition uses something not restated here (an operator or an operand kind this backend has no
array form for) is not guessed at: it is evaluated by the line compiler's function for that control alone, line by
line, on the block's lines that no other control already rejected. The differential tests
(tests/test_rule_block.py) hold this backend to the ``passes`` function on random and odd records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.rule_compiler import _METHOD_NAMES, _CompilerBase, _is_codes_of, _is_field
from sendemodul.profiles.rules.rule_operators import _PY_OPS, _cmp
from sendemodul.profiles.rules.rule_values import ssb_int

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BlockControls", "padded_forms"]

_NOT_CONST = object()
#: A block's lines as the controls read them: the bytes (n, record length) and a line's text by its row.
TextOf = Callable[[int], str]


class _Unsupported(Exception):
    """An expression this backend has no array form for: its control runs line by line."""


class _Block:
    """One block being evaluated: its bytes and the values already computed (by node), so that a def or a field's
    number read by several controls is computed once."""

    def __init__(self, raw: np.ndarray, text_of: TextOf):
        self.raw, self.text_of, self.n = raw, text_of, len(raw)
        self.cache: dict[int, Any] = {}


@dataclass(eq=False)
class _B:
    """A compiled expression: its kind (``bool``, ``num``, ``date``, ``text``: a field's column, ``const``),
    whether it can be null, the constant, the field (``text``), and the function computing its column."""

    kind: str
    const: Any = _NOT_CONST
    nullable: bool = False
    name: str | None = None
    compute: Callable[[_Block], Any] | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.const is not _NOT_CONST

    def __call__(self, block: _Block) -> Any:
        """The column (or the constant: numpy broadcasts it)."""
        if self.is_const:
            return self.const
        key = id(self)
        value = block.cache.get(key)
        if value is None:
            assert self.compute is not None
            value = block.cache[key] = self.compute(block)
        return value


def _constant(value: Any) -> _B:
    return _B("const", value, value is None)


def padded_forms(literal: str, width: int) -> list[str]:
    """Every slice of ``width`` characters whose text stripped of spaces is ``literal``."""
    if literal != literal.strip(" ") or len(literal) > width:
        return []
    if not literal:
        return [" " * width]
    return [" " * a + literal + " " * (width - len(literal) - a) for a in range(width - len(literal) + 1)]


class _BlockCompiler(_CompilerBase):
    """Compiles the table's expressions to :class:`_B` nodes (``b_<op>``), with the line compiler's knowledge of
    what the field rules guarantee (its mode is ``line``: a block holds only lines that passed them)."""

    def __init__(self, profile: FixedWidthProfile, context: Context, table: dict[str, Any]):
        super().__init__(profile, context, table, "line")
        self.let_nodes: dict[str, _B] = {}
        self.def_nodes: dict[str, _B] = {}

    # -- nodes

    def node(self, kind: str, compute: Callable[[_Block], Any], nullable: bool = False) -> _B:
        return _B(kind, nullable=nullable, compute=compute)

    def column(self, name: str) -> Callable[[_Block], np.ndarray]:
        start, end = self.specs[name].span
        return lambda b: b.raw[:, start:end]

    def member(self, name: str, texts: list[str] | frozenset[str]) -> _B:
        """Whether field ``name``'s stripped text is one of ``texts``, by its slice's exact forms."""
        import numpy as np

        width = self.specs[name].width
        forms = set()
        for text in texts:
            for form in padded_forms(text, width):
                try:
                    forms.add(form.encode(self.profile.encoding))
                except UnicodeEncodeError:
                    continue  # no line of this encoding holds it
        column = self.column(name)
        if not forms:
            return _constant(False)
        if width <= 8:
            keys = np.unique(np.frombuffer(b"".join(f.ljust(8, b"\n") for f in forms), "<u8"))
            packed = self.packed(name)
            if len(keys) > 4:
                return self.node("bool", lambda b: np.isin(packed(b), keys))
            first, *others = keys.tolist()

            def few(b: _Block) -> np.ndarray:
                values = packed(b)
                found: np.ndarray = values == first
                for key in others:
                    found |= values == key
                return found

            return self.node("bool", few)
        rows = [np.frombuffer(f, np.uint8) for f in forms]

        def compute(b: _Block) -> np.ndarray:
            col = column(b)
            found = np.zeros(b.n, bool)
            for row in rows:
                found |= (col == row).all(axis=1)
            return found

        return self.node("bool", compute)

    def packed(self, name: str) -> _B:
        """Field ``name`` (at most 8 bytes wide) as one uint64 a line (:func:`packed_field`)."""
        key = f"\0packed {name}"
        found = self.def_nodes.get(key)
        if found is None:
            start, end = self.specs[name].span
            found = self.def_nodes[key] = self.node("key", lambda b: packed_field(b.raw, start, end - start))
        return found

    def blank_of(self, name: str) -> _B:
        if self.specs[name].width <= 8:
            return self.member(name, [""])
        column = self.column(name)
        return self.node("bool", lambda b: (column(b) == 32).all(axis=1))

    def need(self, code: _B, *kinds: str) -> _B:
        if code.kind not in kinds and not (code.is_const and "const" in kinds):
            raise _Unsupported(code.kind)
        return code

    def num(self, code: _B) -> _B:
        """``code`` as a number (a constant number or ``None`` stays a constant)."""
        if code.is_const:
            if code.const is None or (isinstance(code.const, int) and not isinstance(code.const, bool)):
                return code
            raise _Unsupported("a constant that is no number")
        return self.need(code, "num")

    def boolean(self, code: _B) -> _B:
        return code if code.is_const else self.need(code, "bool")

    @staticmethod
    def value(code: _B, b: _Block) -> Any:
        """A number's column, a constant ``None`` as NaN."""
        if code.is_const:
            return float("nan") if code.const is None else float(code.const)
        return code(b)

    # -- expressions

    def expr(self, e: Any, where: str) -> _B:  # type: ignore[override]
        if e is None or isinstance(e, (bool, int, str)):
            return _constant(e)
        if not (isinstance(e, list) and e and isinstance(e[0], str)):
            raise _Unsupported(repr(e))
        method = getattr(self, "b_" + _METHOD_NAMES.get(e[0], e[0]), None)
        if method is None:
            raise _Unsupported(e[0])
        code: _B = method(e[1:], where)
        return code

    def b_f(self, args: list[Any], where: str) -> _B:
        name = self.spec(args[0], where).name
        fixed = self.fixed_value(name)
        return _constant(fixed) if fixed is not None else _B("text", name=name)

    def b_var(self, args: list[Any], where: str) -> _B:
        name = args[0]
        if name in self.let_exprs:
            if name not in self.let_nodes:
                self.let_nodes[name] = self.expr(self.let_exprs[name], f"{where} let {name}")
            return self.let_nodes[name]
        if name in self.def_nodes:
            return self.def_nodes[name]
        raise _Unsupported(f"no value {name!r}")

    def b_year(self, args: list[Any], where: str) -> _B:
        return _constant(self.profile.periode)

    def b_join(self, args: list[Any], where: str) -> _B:
        return _constant(args[0].join(sorted(self.value_set(args[1], where))))

    def b_in(self, args: list[Any], where: str) -> _B:
        members = self.value_set(args[1], where)
        x = args[0]
        if _is_field(x) and self.fixed_value(self.spec(x[1], where).name) is None:
            name = x[1]
            if (
                _is_codes_of(args[1], name)
                and self.guaranteed(name) == "code"
                and (self.specs[name].mandatory or "" in members)
            ):
                return _constant(True)  # as the line compiler: the field rules let through only its codes
            return self.member(name, members)
        value = self.expr(x, where)
        if value.is_const:
            return _constant(value.const in members)
        raise _Unsupported("'in' of a value that is no field")

    def compare(self, op: str, args: list[Any], where: str) -> _B:
        import numpy as np

        a, b = self.expr(args[0], where), self.expr(args[1], where)
        if a.is_const and b.is_const:
            fold = _PY_OPS[op] if op in ("==", "!=") else _cmp(_PY_OPS[op])
            return _constant(fold(a.const, b.const))
        if op in ("==", "!="):
            for x, y in ((a, b), (b, a)):
                if x.kind == "text" and y.is_const and isinstance(y.const, str):
                    assert x.name is not None
                    found = self.member(x.name, [y.const])
                    return found if op == "==" else self.b_not_code(found)
        a, b = self.num(a), self.num(b)
        if op in ("==", "!=") and a.nullable and b.nullable:
            raise _Unsupported("== of two values that can both be null")
        ufunc = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater}.get(
            op, np.greater_equal
        )
        value = self.value
        return self.node("bool", lambda blk: ufunc(value(a, blk), value(b, blk)))

    def b_eq(self, args: list[Any], where: str) -> _B:
        return self.compare("==", args, where)

    def b_ne(self, args: list[Any], where: str) -> _B:
        return self.compare("!=", args, where)

    def b_lt(self, args: list[Any], where: str) -> _B:
        return self.compare("<", args, where)

    def b_le(self, args: list[Any], where: str) -> _B:
        return self.compare("<=", args, where)

    def b_gt(self, args: list[Any], where: str) -> _B:
        return self.compare(">", args, where)

    def b_ge(self, args: list[Any], where: str) -> _B:
        return self.compare(">=", args, where)

    def arith(self, op: str, args: list[Any], where: str) -> _B:
        a, b = self.num(self.expr(args[0], where)), self.num(self.expr(args[1], where))
        if a.is_const and b.is_const:
            if a.const is None or b.const is None:
                return _constant(None)
            return _constant(a.const + b.const if op == "+" else a.const - b.const)
        value = self.value
        if op == "+":
            return self.node("num", lambda blk: value(a, blk) + value(b, blk), a.nullable or b.nullable)
        return self.node("num", lambda blk: value(a, blk) - value(b, blk), a.nullable or b.nullable)

    def b_plus(self, args: list[Any], where: str) -> _B:
        return self.arith("+", args, where)

    def b_minus(self, args: list[Any], where: str) -> _B:
        return self.arith("-", args, where)

    def junction(self, args: list[Any], where: str, kind: str) -> _B:
        import numpy as np

        stop = kind == "or"
        parts = []
        for a in args:
            code = self.expr(a, where)
            if code.is_const:
                if bool(code.const) == stop:
                    return _constant(stop)
                continue
            parts.append(self.boolean(code))
        if not parts:
            return _constant(not stop)
        if len(parts) == 1:
            return parts[0]
        combine = np.logical_or if stop else np.logical_and

        def compute(b: _Block) -> np.ndarray:
            result: np.ndarray = parts[0](b)
            for part in parts[1:]:
                result = combine(result, part(b))
            return result

        return self.node("bool", compute)

    def b_and(self, args: list[Any], where: str) -> _B:
        return self.junction(args, where, "and")

    def b_or(self, args: list[Any], where: str) -> _B:
        return self.junction(args, where, "or")

    def b_not_code(self, code: _B) -> _B:
        if code.is_const:
            return _constant(not code.const)
        code = self.boolean(code)
        return self.node("bool", lambda b: ~code(b))

    def b_not(self, args: list[Any], where: str) -> _B:
        return self.b_not_code(self.expr(args[0], where))

    def b_if(self, args: list[Any], where: str) -> _B:
        import numpy as np

        cond = self.expr(args[0], where)
        yes, no = self.expr(args[1], where), self.expr(args[2], where)
        if cond.is_const:
            return yes if cond.const else no
        cond = self.boolean(cond)
        yes, no = self.num(yes), self.num(no)
        value = self.value
        return self.node("num", lambda b: np.where(cond(b), value(yes, b), value(no, b)), yes.nullable or no.nullable)

    def b_blank(self, args: list[Any], where: str) -> _B:
        x = args[0]
        if not _is_field(x):
            raise _Unsupported("'blank' of a value that is no field")
        spec = self.spec(x[1], where)
        if self.guaranteed(x[1]) is not None and spec.mandatory:
            return _constant(False)
        return self.blank_of(spec.name)

    def b_filled(self, args: list[Any], where: str) -> _B:
        return self.b_not_code(self.b_blank(args, where))

    def b_null(self, args: list[Any], where: str) -> _B:
        import numpy as np

        code = self.expr(args[0], where)
        if code.is_const:
            return _constant(code.const is None)
        if not code.nullable:
            return _constant(False)
        return self.node("bool", lambda b: np.isnan(code(b)))

    def b_coalesce(self, args: list[Any], where: str) -> _B:
        import numpy as np

        a = self.expr(args[0], where)
        if not a.nullable:
            return a
        if a.is_const:  # None
            return self.expr(args[1], where)
        a, b = self.num(a), self.num(self.expr(args[1], where))
        value = self.value
        return self.node("num", lambda blk: np.where(np.isnan(a(blk)), value(b, blk), a(blk)), b.nullable)

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


def _per_distinct(column: np.ndarray, judge: Callable[[str], bool], encoding: str) -> np.ndarray:
    """``judge`` of each line's text of ``column``, called once per distinct text."""
    import numpy as np

    width = column.shape[1]
    keys = np.ascontiguousarray(column).view(np.dtype((np.void, width))).ravel()
    distinct, inverse = np.unique(keys, return_inverse=True)
    judged = np.fromiter((judge(bytes(k).decode(encoding)) for k in distinct), bool, len(distinct))
    result: np.ndarray = judged[inverse.ravel()]
    return result


_POWERS = [10**k for k in range(19)]


def _aligned_int_column(pairs: np.ndarray) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_int` of each line's slice of a number field that passed the
    field rules (at most 8 wide: digits, left- or right-aligned, or blank), from its bytes as four uint16 a line
    (:func:`packed_field`), a float64 column: the digits read left to right, the spaces skipped, two bytes
    at a time through a table (:func:`_pair_tables`)."""
    import numpy as np

    scale, digits = _pair_tables()
    value = digits[pairs[:, 0]]
    for j in range(1, 4):
        pair = pairs[:, j]
        value = value * scale[pair] + digits[pair]
    result: np.ndarray = value.astype(np.float64)
    return result


_PAIR_TABLES: list[np.ndarray] = []


def _pair_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each two bytes (a little-endian uint16): 10 to the number of digits among them, and their digits' value
    (anything else skipped), as int32 tables."""
    import numpy as np

    if not _PAIR_TABLES:
        k = np.arange(1 << 16)
        first, second = k & 255, k >> 8
        d1, d2 = (first >= 48) & (first <= 57), (second >= 48) & (second <= 57)
        scale = np.where(d1, 10, 1) * np.where(d2, 10, 1)
        value = np.where(d1, first - 48, 0) * np.where(d2, 10, 1) + np.where(d2, second - 48, 0)
        _PAIR_TABLES.extend((scale.astype(np.int32), value.astype(np.int32)))
    return _PAIR_TABLES[0], _PAIR_TABLES[1]


def _ssb_int_column(col: np.ndarray, b: _Block, start: int, end: int) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_int` of each line's slice, a float64 column: by arrays for
    a slice of spaces, digits and signs, by :func:`ssb_int` itself for any other (rare: none that passed the field
    rules of a number field)."""
    import numpy as np

    n, width = col.shape
    digit = (col >= 48) & (col <= 57)
    space = col == 32
    sign = (col == 43) | (col == 45)
    simple = (digit | space | sign).all(axis=1)
    filled = ~space
    any_filled = filled.any(axis=1)
    first = np.argmax(filled, axis=1)
    last = width - 1 - np.argmax(filled[:, ::-1], axis=1)
    rows = np.arange(n)
    signed = sign[rows, first]
    body_start = first + signed
    length = last - body_start + 1
    positions = np.arange(width)
    inside = (positions >= body_start[:, None]) & (positions <= last[:, None])
    ok = simple & any_filled & (length >= 1) & (length <= 9) & (digit | ~inside).all(axis=1)
    exponent = np.clip(last[:, None] - positions, 0, 18)
    weights = np.asarray(_POWERS, np.int64)[exponent]
    values = np.where(inside & digit, (col.astype(np.int64) - 48) * weights, 0).sum(axis=1)
    values = np.where(signed & (col[rows, first] == 45), -values, values)
    result = np.where(ok, values, 0).astype(np.float64)
    for i in np.flatnonzero(~simple).tolist():
        result[i] = ssb_int(b.text_of(i)[start:end])
    return result


#: The days of each month (February of a leap year: 29); index 0 unused.
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _two(col: np.ndarray, at: int) -> np.ndarray:
    import numpy as np

    value: np.ndarray = (col[:, at].astype(np.int32) - 48) * 10 + col[:, at + 1] - 48
    return value


def _date_years(col: np.ndarray, *, lenient: bool) -> np.ndarray:
    """The year of each line's ``ddMMyyyy`` slice (8 wide), NaN where it is no date: as
    :func:`~sendemodul.profiles.rules.rule_values.ssb_date` (``lenient``: a day past the month's end is its last day)
    or as :func:`~sendemodul.profiles.rules.fields.parse_date` (strict: day 01-31 and month 01-12 by shape, then a
    real date)."""
    import numpy as np

    digits = ((col >= 48) & (col <= 57)).all(axis=1)
    day, month = _two(col, 0), _two(col, 2)
    year = _two(col, 4) * 100 + _two(col, 6)
    ok = digits & (day >= 1) & (day <= 31) & (month >= 1) & (month <= 12) & (year >= 1)
    if not lenient:
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        days = np.asarray(_MONTH_DAYS, np.int32)[np.clip(month, 0, 12)] + ((month == 2) & leap)
        ok &= day <= days
    result: np.ndarray = np.where(ok, year.astype(np.float64), np.nan)
    return result


def _birth_years(col: np.ndarray, year: int) -> np.ndarray:
    """:func:`~sendemodul.profiles.rules.rule_values.ssb_birth_year` of each line's 11-wide slice (NaN: ``None``)."""
    import numpy as np

    digits = ((col >= 48) & (col <= 57)).all(axis=1)
    day, month, yy = _two(col, 0), _two(col, 2), _two(col, 4)
    individual = (col[:, 6].astype(np.int32) - 48) * 100 + _two(col, 7)
    suffix = individual * 100 + _two(col, 9)
    placeholder = np.isin(suffix, [int(s) for s in PLACEHOLDER_SUFFIXES])
    held = placeholder & (day >= 1) & (day <= 31) & (month >= 1) & (month <= 12)
    held_year = np.where(2000 + yy > year + 1, 1900 + yy, 2000 + yy)
    day_ok = ((day >= 1) & (day <= 31)) | ((day >= 41) & (day <= 71))
    month_ok = ((month >= 1) & (month <= 12)) | ((month >= 81) & (month <= 92))
    century = np.where(
        (individual >= 500) & (yy <= 39),
        2000,
        np.where(
            (individual >= 500) & (individual <= 749) & (yy >= 54),
            1800,
            np.where((individual <= 499) | (individual >= 900), 1900, 2000),
        ),
    )
    born = np.where(placeholder, held_year, century + yy).astype(np.float64)
    known = digits & np.where(placeholder, held, day_ok & month_ok)
    result: np.ndarray = np.where(known, born, np.nan)
    return result


class BlockControls:
    """A register's rule table compiled to block form: :meth:`passes` of a block of lines that passed the field
    rules, the same decision as the table's ``passes`` line by line."""

    def __init__(
        self, profile: FixedWidthProfile, context: Context, table: dict[str, Any], line_function: LineFunction
    ):
        c = _BlockCompiler(profile, context, table)
        for name, e in table.get("defs", {}).items():
            try:
                c.def_nodes[name] = c.expr(e, f"{profile.register} def {name}")
            except _Unsupported:
                pass  # a control reading it runs line by line
        self._vector: list[_B] = []
        #: The controls run line by line (no array form): their ids and functions.
        self.line_controls: list[tuple[str, Callable[[str], bool]]] = []
        self._always = False
        for control in table["controls"]:
            c.let_exprs, c.let_nodes = dict(control.get("let", {})), {}
            try:
                fires = c.expr(control["when"], f"{profile.register} {control['id']}")
                if not fires.is_const:
                    c.boolean(fires)
            except _Unsupported:
                self.line_controls.append((control["id"], line_function(control)))
                continue
            if fires.is_const:
                if fires.const:
                    self._always = True
                continue
            self._vector.append(fires)

    def passes(self, raw: np.ndarray, text_of: TextOf) -> np.ndarray:
        """Whether each line of ``raw`` (``(n, record length + 1)`` uint8: lines that passed the field rules, each
        with its LF) breaks no control; ``text_of(i)``: line ``i``'s text (for the controls run line by line)."""
        import numpy as np

        block = _Block(raw, text_of)
        if self._always:
            return np.zeros(block.n, bool)
        fires = np.zeros(block.n, bool)
        for code in self._vector:
            fires |= code(block)
        passes: np.ndarray = ~fires
        for _, function in self.line_controls:
            rows = np.flatnonzero(passes)
            if len(rows):
                passes[rows] = np.fromiter((function(text_of(i)) for i in rows.tolist()), bool, len(rows))
        return passes


def packed_field(full: np.ndarray, start: int, width: int) -> np.ndarray:
    """A field at most 8 wide of each line of ``full`` (``(n, record length + 1)`` uint8: lines with their LF) as
    one little-endian uint64: its bytes, padded with LF bytes. Read in place, 8 bytes from the field's start, the
    bytes past the field masked to LF; a field too near the line's end is copied out instead."""
    import numpy as np

    n, stride = full.shape
    if start + 8 <= stride and full.flags.c_contiguous:
        # full exposes its buffer: a strided view of unaligned 8-byte words
        words = np.ndarray((n,), "<u8", buffer=full, offset=start, strides=(stride,))
        if width == 8:
            whole: np.ndarray = words.copy()
            return whole
        mask = np.uint64((1 << (8 * width)) - 1)
        pad = np.uint64(int.from_bytes(b"\0" * width + b"\n" * (8 - width), "little"))
        packed: np.ndarray = (words & mask) | pad
        return packed
    padded = np.full((n, 8), 10, np.uint8)
    padded[:, :width] = full[:, start : start + width]
    copied: np.ndarray = padded.view("<u8").ravel()
    return copied


#: The line compiler's ``passes`` for one control of the table.
LineFunction = Callable[[dict[str, Any]], Callable[[str], bool]]
