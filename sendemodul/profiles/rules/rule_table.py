"""SSB's record controls as data: a register's rule table (``sendemodul/profiles/<REGISTER>.controls.json``) read,
checked against the profile, and compiled once per profile into two generated Python functions.

The table is the one source of the controls: CPython runs it here (the reference), and the browser module runs the
same JSON with its small interpreter (``sendemodul/browser/src/rules.js``); docs/profiles.md specifies the table and
its expression language. Each control has SSB's id, severity, the field a finding names, a condition (``when``: true
means the record breaks the control) and a Bokmål message, a template over named values.

From one table two functions are generated (Python source, compiled with :func:`compile`; the table is ours, shipped
in the package, and every name and literal in it is checked before any code is generated):

- :attr:`ControlTable.violations` over a record's values (stripped texts by field name): the findings, in table
  order, for the report;
- :attr:`ControlTable.passes` over a record line whose fields all passed the field rules (the fast path of
  ``encrypt``): whether no control fires. It is the same conditions, read straight from the line: a code compared
  to a field of its width is compared to the raw slice, a number field that the field rules checked is read with
  ``int``, and what the field rules already guarantee (a mandatory code field holds one of its codes, a mandatory
  date field is a date) is folded away. Nothing in it is written by hand.

The values functions (:func:`ssb_int`, :func:`ssb_date`, :func:`ssb_birth_year`, :func:`month_sum`) read numbers,
dates and ages as SSB's control program reads them.
"""

from __future__ import annotations

import collections
import datetime
import functools
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sendemodul import resources
from sendemodul.errors import ProfileError
from sendemodul.identity import duf_ok
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context, parse_date
from sendemodul.profiles.rules.report import Severity

__all__ = [
    "ControlTable",
    "load_table",
    "month_sum",
    "ssb_birth_year",
    "ssb_date",
    "ssb_int",
    "table_file",
]

Values = dict[str, str]
#: A finding of a control: severity, SSB's id, the field it names, the message.
Violation = tuple[Severity, str, "str | None", str]


# -- the values as SSB reads them ------------------------------------------------------------------------------------


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


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        return a is not None and b is not None and op(a, b)

    return compare


# -- the table -------------------------------------------------------------------------------------------------------


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
_TEMPLATE_NAME = re.compile(r"\{(\w+)\}")
#: A field read in generated code before :meth:`_Compiler.resolve`: raw slice (``r:``) or stripped text (``x:``).
_TOKEN = re.compile("\x00([rx]:\\w+)\x00")
_NOT_CONST = object()


class TableError(ProfileError):
    """A rule table that does not fit its profile, or uses the expression language wrongly."""


@dataclass(frozen=True)
class _Code:
    """A compiled expression: Python source, whether it can be ``None``, and its value if it is a constant."""

    src: str
    nullable: bool = False
    const: Any = _NOT_CONST

    @property
    def is_const(self) -> bool:
        return self.const is not _NOT_CONST


def _constant(value: Any) -> _Code:
    return _Code(repr(value), value is None, value)


class _Compiler:
    """Generates the source of one function over a record: ``mode`` ``"values"`` (a dict of stripped texts,
    ``v``) or ``"line"`` (the record line ``t``, every field having passed the field rules)."""

    def __init__(self, profile: FixedWidthProfile, context: Context, table: dict[str, Any], mode: str):
        self.profile, self.context, self.table, self.mode = profile, context, table, mode
        self.specs = {spec.name: spec for spec in profile.field_specs}
        self.namespace: dict[str, Any] = {
            "_ssb_int": ssb_int,
            "_ssb_date": ssb_date,
            "_parse_date": parse_date,
            "_birth": ssb_birth_year,
            "_month_sum": month_sum,
            "_duf_ok": duf_ok,
            "_shown": _shown,
            "_kv": self._kommunenr_valid,
            "_int": int,
            "_sum": sum,
            "_map": map,
            "_str": str,
        }
        self._consts: dict[Any, str] = {}
        self._tmp = 0
        self.defs: dict[str, _Code] = {}
        #: The control's ``let`` expressions; each is computed where the code first needs it (a walrus), and
        #: read from its local wherever that surely ran before (:attr:`bound`).
        self.let_exprs: dict[str, Any] = {}
        self.let_nullable: dict[str, bool] = {}
        self.bound: set[str] = set()
        self.fields: set[str] = set()
        #: ``var`` names known not to be ``None`` where the expression being compiled runs (after ``null`` tests).
        self.nonnull: set[str] = set()

    def _kommunenr_valid(self, code: str) -> bool:
        return code.isascii() and code.isdigit() and self.context.kommunenr_valid(code)

    def const(self, value: Any) -> str:
        """A name for a constant object in the generated function's namespace."""
        key = (type(value).__name__, value if not isinstance(value, re.Pattern) else value.pattern)
        name = self._consts.get(key)
        if name is None:
            name = self._consts[key] = f"_c{len(self._consts)}"
            self.namespace[name] = value
        return name

    def temp(self) -> str:
        self._tmp += 1
        return f"_t{self._tmp}"

    # -- fields

    def spec(self, name: Any, where: str) -> Any:
        if not isinstance(name, str) or name not in self.specs:
            raise TableError(f"{where}: no field {name!r} in {self.profile.register} {self.profile.periode}")
        self.fields.add(name)
        return self.specs[name]

    def raw(self, name: str) -> str:
        """The field's slice of the line, read once at the top of the function (a local is cheaper than a slice)."""
        return f"\x00r:{name}\x00"

    def field(self, name: str) -> _Code:
        """The field's stripped text, read once at the top of the function."""
        return _Code(f"\x00x:{name}\x00")

    def resolve(self, lines: list[str]) -> list[str]:
        """The function's lines with the field reads filled in: a field read more than once is read into a local
        at the top (a local is cheaper than a slice), one read once is read where it is used (it may never run)."""
        counts = collections.Counter(token for line in lines for token in _TOKEN.findall(line))
        raw = {name: counts[f"r:{name}"] for name in self.specs if counts[f"r:{name}"] or counts[f"x:{name}"]}
        texts: dict[str, str] = {}
        prologue = []
        for name, spec in self.specs.items():  # line order
            if name not in raw:
                continue
            start, end = spec.span
            if raw[name] > 1 or (raw[name] and counts[f"x:{name}"]):
                prologue.append(f"    r_{name} = t[{start}:{end}]")
                texts["r:" + name] = f"r_{name}"
            else:
                texts["r:" + name] = f"t[{start}:{end}]"
        for name in self.specs:
            if not counts[f"x:{name}"]:
                continue
            read = f"_g({name!r}, '')" if self.mode == "values" else f"{texts['r:' + name]}.strip(' ')"
            if counts[f"x:{name}"] > 1:
                prologue.append(f"    x_{name} = {read}")
                texts["x:" + name] = f"x_{name}"
            else:
                texts["x:" + name] = read
        return [_TOKEN.sub(lambda m: texts[m[1]], line) for line in prologue + lines]

    def padded(self, e: Any, where: str, width: int | None) -> str:
        """The text an operator reads, when the operator gives the same for a field's stripped text as for its raw
        slice (it accepts only exactly ``width`` non-space characters; ``None``: it strips the text itself): in line
        mode the raw slice then, which saves a strip."""
        if (
            self.mode == "line"
            and _is_field(e)
            and self.fixed_value(self.spec(e[1], where).name) is None
            and (width is None or self.specs[e[1]].width == width)
        ):
            return self.raw(e[1])
        return self.expr(e, where).src

    def raw_form(self, name: str, literal: str) -> str | None:
        """The raw slice of field ``name`` whose stripped text is ``literal``, if there is exactly one such slice."""
        width = self.specs[name].width
        if literal == "":
            return " " * width
        if len(literal) == width and literal == literal.strip(" "):
            return literal
        return None

    def guaranteed(self, name: str) -> str | None:
        """What the field rules guarantee of a field in a line that passed them: ``"code"`` (one of its codes, or
        blank if optional), ``"integer"`` (digits, aligned, or blank), ``"date"`` (a strict date, or blank)."""
        if self.mode != "line":
            return None
        spec = self.specs[name]
        if not spec.checked or spec.id_kind or spec.role == "bydel":
            return None
        if spec.codes and not spec.codes_from:
            return "code"
        if spec.type == "integer":
            return "integer"
        if spec.date_format == "ddMMyyyy":
            return "date"
        return None

    # -- expressions

    def expr(self, e: Any, where: str) -> _Code:
        if e is None or isinstance(e, (bool, int, str)):
            return _constant(e)
        if not (isinstance(e, list) and e and isinstance(e[0], str) and e[0] in OPERATORS):
            raise TableError(f"{where}: not an expression: {json.dumps(e, ensure_ascii=False)[:80]}")
        op, args = e[0], e[1:]
        low, high = OPERATORS[op]
        if len(args) < low or (high is not None and len(args) > high):
            raise TableError(f"{where}: {op!r} takes {low}{'' if high == low else '+'} argument(s), not {len(args)}")
        if op in _NAME_ARGS:
            for name in args:
                self.spec(name, where)
        method = getattr(self, "op_" + _METHOD_NAMES.get(op, op))
        bound = set(self.bound)
        code: _Code = method(args, where)
        if code.is_const:  # no code runs, so it binds nothing
            self.bound = bound
        return code

    def ints(self, args: list[Any], where: str) -> list[_Code]:
        return [self.expr(a, where) for a in args]

    def op_f(self, args: list[Any], where: str) -> _Code:
        fixed = self.fixed_value(args[0])
        return _constant(fixed) if fixed is not None else self.field(args[0])

    def fixed_value(self, name: str) -> str | None:
        """Line mode: the one value the field rules let through for a mandatory field of the unit or year (the
        kommunenummer, VERSION), else ``None``."""
        spec = self.specs[name]
        if self.mode != "line" or not (spec.checked and spec.mandatory) or spec.id_kind:
            return None
        expected: str | None = self.context.expected.get(spec.role) if spec.role else None
        return expected

    def op_var(self, args: list[Any], where: str) -> _Code:
        name = args[0]
        if name in self.let_exprs:
            if name in self.bound:
                return _Code(f"l_{name}", self.let_nullable[name] and name not in self.nonnull)
            code = self.expr(self.let_exprs[name], f"{where} let {name}")
            if code.is_const:
                return code
            self.bound.add(name)  # computed here, once: later code that surely runs after this reads the local
            self.let_nullable[name] = code.nullable
            return _Code(f"(l_{name} := {code.src})", code.nullable and name not in self.nonnull)
        found = self.defs.get(name)
        if found is not None:
            return _Code(found.src, found.nullable and name not in self.nonnull, found.const)
        raise TableError(f"{where}: no value {name!r} defined before it (defs, or the control's let)")

    def op_year(self, args: list[Any], where: str) -> _Code:
        return _constant(self.profile.periode)

    def value_set(self, e: Any, where: str) -> frozenset[str]:
        """The members of a set expression (``codes`` or ``set``)."""
        if isinstance(e, list) and e and e[0] == "codes" and len(e) == 2:
            spec = self.spec(e[1], where)
            return frozenset(spec.codes)
        if isinstance(e, list) and e and e[0] == "set" and all(isinstance(x, str) for x in e[1:]):
            return frozenset(e[1:])
        raise TableError(f"{where}: expected a set (['codes', FIELD] or ['set', ...texts]), not {e!r}")

    def op_codes(self, args: list[Any], where: str) -> _Code:
        raise TableError(f"{where}: a set is only an argument of 'in' or 'join'")

    op_set = op_codes

    def op_in(self, args: list[Any], where: str) -> _Code:
        members = self.value_set(args[1], where)
        x = args[0]
        if self.mode == "line" and _is_field(x) and self.fixed_value(self.spec(x[1], where).name) is None:
            name = x[1]
            if (
                _is_codes_of(args[1], name)
                and self.guaranteed(name) == "code"
                and (self.specs[name].mandatory or "" in members)
            ):
                return _constant(True)  # the field rules let through only its codes (and blank if optional)
            raws = [self.raw_form(name, m) for m in members]
            if all(r is not None for r in raws):
                return _Code(f"({self.raw(name)} in {self.const(frozenset(raws))})")
        value = self.expr(x, where)
        if value.is_const:
            return _constant(value.const in members)
        return _Code(f"({value.src} in {self.const(members)})")

    def compare(self, op: str, args: list[Any], where: str) -> _Code:
        for x, y in ((args[0], args[1]), (args[1], args[0])):
            if self.mode == "line" and _is_field(x) and isinstance(y, str) and op in ("==", "!="):
                self.spec(x[1], where)
                if self.fixed_value(x[1]) is not None:
                    break
                raw = self.raw_form(x[1], y)
                if raw is not None:
                    return _Code(f"({self.raw(x[1])} {op} {raw!r})")
        a, b = self.expr(args[0], where), self.expr(args[1], where)
        if a.is_const and b.is_const:
            fold = _PY_OPS[op] if op in ("==", "!=") else _cmp(_PY_OPS[op])
            return _constant(fold(a.const, b.const))
        if op in ("==", "!=") or not (a.nullable or b.nullable):
            return _Code(f"({a.src} {op} {b.src})")
        tests, (x, y) = self.null_safe(a, b)
        return _Code(f"({' and '.join(tests)} and {x} {op} {y})")

    def null_safe(self, *codes: _Code) -> tuple[list[str], list[str]]:
        """For operands that may be ``None``: the tests that none is, and the names (or texts) to use after them."""
        tests, names = [], []
        for code in codes:
            if not code.nullable:
                names.append(code.src)
                continue
            t = self.temp()
            tests.append(f"({t} := {code.src}) is not None")
            names.append(t)
        return tests, names

    def op_eq(self, args: list[Any], where: str) -> _Code:
        return self.compare("==", args, where)

    def op_ne(self, args: list[Any], where: str) -> _Code:
        return self.compare("!=", args, where)

    def op_lt(self, args: list[Any], where: str) -> _Code:
        return self.compare("<", args, where)

    def op_le(self, args: list[Any], where: str) -> _Code:
        return self.compare("<=", args, where)

    def op_gt(self, args: list[Any], where: str) -> _Code:
        return self.compare(">", args, where)

    def op_ge(self, args: list[Any], where: str) -> _Code:
        return self.compare(">=", args, where)

    def op_plus(self, args: list[Any], where: str) -> _Code:
        return self.arith("+", args, where)

    def op_minus(self, args: list[Any], where: str) -> _Code:
        return self.arith("-", args, where)

    def op_and(self, args: list[Any], where: str) -> _Code:
        return self.junction(args, where, "and")

    def op_or(self, args: list[Any], where: str) -> _Code:
        return self.junction(args, where, "or")

    def junction(self, args: list[Any], where: str, kind: str) -> _Code:
        """``and``/``or``, constants folded; after ``["not", ["null", V]]`` in an ``and`` (``["null", V]`` in an
        ``or``) the later arguments know that V is not ``None``."""
        parts, known = [], set(self.nonnull)
        stop = kind == "or"  # the constant that decides the whole
        surely_bound = None  # what the first argument, which always runs, binds
        try:
            for a in args:
                code = self.expr(a, where)
                if surely_bound is None and not code.is_const:
                    surely_bound = set(self.bound)
                tested = _null_tested(a, negated=kind == "and")
                if tested is not None:
                    self.nonnull.add(tested)
                if code.is_const:
                    if bool(code.const) == stop:
                        return _constant(stop)
                    continue
                parts.append(code.src)
        finally:
            self.nonnull = known
        if surely_bound is not None:
            self.bound = surely_bound
        return _Code("(" + f" {kind} ".join(parts) + ")") if parts else _constant(not stop)

    def op_not(self, args: list[Any], where: str) -> _Code:
        code = self.expr(args[0], where)
        return _constant(not code.const) if code.is_const else _Code(f"(not {code.src})")

    def op_if(self, args: list[Any], where: str) -> _Code:
        cond = self.expr(args[0], where)
        after_cond = set(self.bound)
        yes = self.expr(args[1], where)
        yes_bound, self.bound = self.bound, set(after_cond)
        no = self.expr(args[2], where)
        self.bound = (yes_bound & self.bound) if not cond.is_const else (yes_bound if cond.const else self.bound)
        if cond.is_const:
            return yes if cond.const else no
        return _Code(f"({yes.src} if {cond.src} else {no.src})", yes.nullable or no.nullable)

    def op_blank(self, args: list[Any], where: str) -> _Code:
        x = args[0]
        if self.mode == "line" and _is_field(x):
            spec = self.spec(x[1], where)
            if self.guaranteed(x[1]) is not None and spec.mandatory:
                return _constant(False)
            return _Code(f"({self.raw(x[1])} == {' ' * spec.width!r})")
        return _Code(f"({self.expr(x, where).src} == '')")

    def op_filled(self, args: list[Any], where: str) -> _Code:
        return self.op_not([["blank", args[0]]], where)

    def op_null(self, args: list[Any], where: str) -> _Code:
        code = self.expr(args[0], where)
        if code.is_const:
            return _constant(code.const is None)
        return _Code(f"({code.src} is None)") if code.nullable else _constant(False)

    def op_coalesce(self, args: list[Any], where: str) -> _Code:
        a, b = self.expr(args[0], where), self.expr(args[1], where)
        if not a.nullable:
            return a
        t = self.temp()
        return _Code(f"({t} if ({t} := {a.src}) is not None else {b.src})", b.nullable)

    def arith(self, op: str, args: list[Any], where: str) -> _Code:
        a, b = self.expr(args[0], where), self.expr(args[1], where)
        if a.nullable or b.nullable:
            tests, (x, y) = self.null_safe(a, b)
            return _Code(f"(None if not ({' and '.join(tests)}) else {x} {op} {y})", True)
        return _Code(f"({a.src} {op} {b.src})")

    def op_ssb_int(self, args: list[Any], where: str) -> _Code:
        x = args[0]
        if _is_field(x) and self.guaranteed(x[1]) == "integer" and self.specs[x[1]].width <= 9:
            self.spec(x[1], where)
            raw, blank = self.raw(x[1]), " " * self.specs[x[1]].width
            return _Code(f"(_int({raw}) if {raw} != {blank!r} else 0)")
        if self.mode == "line" and _is_field(x) and self.fixed_value(self.spec(x[1], where).name) is not None:
            return _constant(ssb_int(self.fixed_value(x[1]) or ""))
        return _Code(f"_ssb_int({self.padded(x, where, None)})")

    def op_ssb_date(self, args: list[Any], where: str) -> _Code:
        x = args[0]
        if _is_field(x) and self.guaranteed(x[1]) == "date" and self.specs[x[1]].mandatory:
            self.spec(x[1], where)  # a strict date: SSB reads it as that date
            return _Code(f"_ssb_date({self.raw(x[1])})")
        return _Code(f"_ssb_date({self.padded(x, where, 8)})", True)

    def op_date(self, args: list[Any], where: str) -> _Code:
        return _Code(f"_parse_date({self.padded(args[0], where, 8)}, 'ddMMyyyy')", True)

    def op_year_of(self, args: list[Any], where: str) -> _Code:
        day = self.expr(args[0], where)
        if not day.nullable:
            return _Code(f"{day.src}.year")
        t = self.temp()
        return _Code(f"(None if ({t} := {day.src}) is None else {t}.year)", True)

    def op_ssb_birth_year(self, args: list[Any], where: str) -> _Code:
        return _Code(f"_birth({self.padded(args[0], where, 11)}, {self.profile.periode})", True)

    def op_month_sum(self, args: list[Any], where: str) -> _Code:
        widths = {self.specs[name].width for name in args}
        if all(self.guaranteed(name) == "integer" for name in args) and len(widths) == 1 and max(widths) <= 9:
            getter = operator.itemgetter(*(slice(*self.specs[name].span) for name in args))
            if len(args) == 1:
                return self.op_ssb_int([["f", args[0]]], where)
            return _Code(f"_month_sum({self.const(getter)}(t))")
        values = ", ".join(self.field(name).src for name in args)
        return _Code(f"_sum(_map(_ssb_int, ({values},)))")

    def op_any_code(self, args: list[Any], where: str) -> _Code:
        if all(self.guaranteed(name) == "code" for name in args):
            # each holds one of its codes or is blank (the field rules): one is ticked if any is not blank
            spans = sorted(self.specs[name].span for name in args)
            runs: list[list[int]] = []
            for start, end in spans:
                if runs and runs[-1][1] == start:
                    runs[-1][1] = end
                else:
                    runs.append([start, end])
            return _Code("(" + " or ".join(f"(t[{a}:{b}] != {' ' * (b - a)!r})" for a, b in runs) + ")")
        if self.mode == "line":
            alternatives = []
            for name in args:
                raws = [self.raw_form(name, code) for code in self.specs[name].codes]
                if any(r is None or r.strip(" ") == "" for r in raws):
                    break
                start = self.specs[name].span[0]
                alternatives.append(f"[\\s\\S]{{{start}}}(?:{'|'.join(re.escape(r) for r in raws if r)})")
            else:
                pattern = re.compile("|".join(alternatives))
                return _Code(f"({self.const(pattern.match)}(t) is not None)")
        parts = [f"({self.field(name).src} in {self.const(frozenset(self.specs[name].codes))})" for name in args]
        return _Code("(" + " or ".join(parts) + ")")

    def op_kommunenr_valid(self, args: list[Any], where: str) -> _Code:
        return _Code(f"_kv({self.padded(args[0], where, 4)})")

    def op_duf_ok(self, args: list[Any], where: str) -> _Code:
        return _Code(f"_duf_ok({self.padded(args[0], where, 12)})")

    def op_shown(self, args: list[Any], where: str) -> _Code:
        return _Code(f"_shown({self.expr(args[0], where).src})")

    def op_join(self, args: list[Any], where: str) -> _Code:
        if not isinstance(args[0], str):
            raise TableError(f"{where}: 'join' takes a text as its separator")
        return _constant(args[0].join(sorted(self.value_set(args[1], where))))

    # -- messages

    def message(self, m: Any, where: str) -> str:
        """A message: a template text (``{name}``: a value of ``let``, ``defs``, or ``year``) or ``["if", condition,
        message, message]``."""
        if isinstance(m, list) and len(m) == 4 and m[0] == "if":
            cond = self.expr(m[1], where)
            after_cond = set(self.bound)
            yes = self.message(m[2], where)
            self.bound = set(after_cond)
            no = self.message(m[3], where)
            self.bound = after_cond
            if cond.is_const:
                return yes if cond.const else no
            return f"({yes} if {cond.src} else {no})"
        if not isinstance(m, str):
            raise TableError(f"{where}: a message is a text or ['if', condition, message, message]")
        parts, at = [], 0
        for match in _TEMPLATE_NAME.finditer(m):
            parts.append(repr(m[at : match.start()]))
            name = match[1]
            code = _constant(self.profile.periode) if name == "year" else self.op_var([name], where)
            parts.append(f"_str({code.src})")
            at = match.end()
        parts.append(repr(m[at:]))
        if "{" in m[at:] or "}" in m[at:]:
            raise TableError(f"{where}: a brace in a message that names no value")
        return "(" + " + ".join(p for p in parts if p != "''") + ")" if len(parts) > 1 else parts[0]


_METHOD_NAMES = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "+": "plus", "-": "minus"}
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _is_field(e: Any) -> bool:
    return isinstance(e, list) and len(e) == 2 and e[0] == "f"


def _is_codes_of(e: Any, name: str) -> bool:
    return isinstance(e, list) and e == ["codes", name]


def _null_tested(e: Any, *, negated: bool) -> str | None:
    """V of ``["null", ["var", V]]`` (``negated``: of ``["not", ["null", ["var", V]]]``), else ``None``."""
    if negated:
        if not (isinstance(e, list) and len(e) == 2 and e[0] == "not"):
            return None
        e = e[1]
    if isinstance(e, list) and len(e) == 2 and e[0] == "null":
        v = e[1]
        if isinstance(v, list) and len(v) == 2 and v[0] == "var" and isinstance(v[1], str):
            return v[1]
    return None


def _names_in(e: Any) -> set[str]:
    """The ``var`` names an expression (or message) refers to, templates included."""
    if isinstance(e, str):
        return set(_TEMPLATE_NAME.findall(e))
    if isinstance(e, list) and e:
        if e[0] == "var" and len(e) == 2 and isinstance(e[1], str):
            return {e[1]}
        return set().union(*(_names_in(x) for x in e[1:])) if len(e) > 1 else set()
    return set()


def _generate(
    profile: FixedWidthProfile, context: Context, table: dict[str, Any], mode: str
) -> tuple[str, dict[str, Any], set[str]]:
    """The source of the ``violations`` (mode ``values``) or ``passes`` (mode ``line``) function, its namespace, and
    the fields it reads."""
    c = _Compiler(profile, context, table, mode)
    head = "def violations(v):" if mode == "values" else "def passes(t):"
    body: list[str] = []
    defs = table.get("defs", {})
    if not isinstance(defs, dict):
        raise TableError(f"{profile.register}: 'defs' must be an object of name: expression")
    for name, e in defs.items():
        if not name.isidentifier():
            raise TableError(f"{profile.register}: the def name {name!r} is not a plain name")
        code = c.expr(e, f"{profile.register} def {name}")
        if code.is_const:
            c.defs[name] = code
        else:
            body.append(f"    d_{name} = {code.src}")
            c.defs[name] = _Code(f"d_{name}", code.nullable)
    if mode == "values":
        body.append("    out = []")
    seen: set[str] = set()
    for control in table["controls"]:
        cid = control.get("id")
        where = f"{profile.register} {cid}"
        if not isinstance(cid, str) or cid in seen:
            raise TableError(f"{where}: every control needs an id of its own")
        seen.add(cid)
        if control.get("severity") not in ("INFO", "WARNING", "ERROR"):
            raise TableError(f"{where}: severity must be INFO, WARNING or ERROR")
        field_name = control.get("field")
        if field_name is not None:
            c.spec(field_name, where)
        lets = control.get("let", {})
        if not isinstance(lets, dict):
            raise TableError(f"{where}: 'let' must be an object of name: expression")
        message = control.get("message", {})
        if not isinstance(message, dict) or "nb" not in message:
            raise TableError(f"{where}: a message needs its Bokmål text ('nb')")
        for name in lets:
            if not name.isidentifier() or name in defs:
                raise TableError(f"{where}: the let name {name!r} is not a plain name of its own")
        c.let_exprs, c.bound = dict(lets), set()
        condition = c.expr(control["when"], f"{where} when")
        for text in message.values():
            c.bound = set()
            c.message(text, f"{where} message")  # checked in every language, even where not generated
        if condition.is_const and not condition.const:
            continue  # never fires (the field rules guarantee it): nothing to run
        if condition.is_const and mode == "line":
            body.append("    return False")
            break
        indent = "    "
        body.append(f"{indent}if {'True' if condition.is_const else condition.src}:")
        if mode == "line":
            body.append(indent * 2 + "return False")
            continue
        c.bound = set()  # the message computes what it needs again (it runs only for a finding)
        text = c.message(message["nb"], f"{where} message")
        severity = c.const(Severity[control["severity"]])
        body.append(f"{indent * 2}out.append(({severity}, {cid!r}, {field_name!r}, {text}))")
    body.append("    return out" if mode == "values" else "    return True")
    prologue = ["    _g = v.get"] if mode == "values" else []
    return "\n".join([head, *prologue, *c.resolve(body)]) + "\n", c.namespace, c.fields


class ControlTable:
    """A register's rule table compiled for one profile and unit: :attr:`violations` of a record's values,
    :attr:`passes` for a record line that passed the field rules, the :attr:`fields` they read, SSB's
    :attr:`titles`."""

    def __init__(self, profile: FixedWidthProfile, context: Context, table: dict[str, Any] | None = None):
        table = load_table(profile.register) if table is None else table
        if table.get("register") != profile.register or profile.periode not in table.get("periodes", ()):
            raise TableError(
                f"the rule table of {table.get('register')} ({table.get('periodes')}) is not for "
                f"{profile.register} {profile.periode}"
            )
        self.table = table
        self.titles: dict[str, str] = dict(table.get("titles", {}))
        #: The generated sources (for reading and debugging: ``print(controls.sources["values"])``).
        self.sources: dict[str, str] = {}
        functions: dict[str, Callable[..., Any]] = {}
        self._namespaces: dict[str, dict[str, Any]] = {}
        fields: set[str] = set()
        for mode in ("values", "line"):
            source, namespace, read = _generate(profile, context, table, mode)
            self.sources[mode] = source
            # our own table, shipped in the package; every name and literal in it was checked above
            exec(compile(source, f"<{profile.register} {profile.periode} rule table: {mode}>", "exec"), namespace)
            functions[mode] = namespace["violations" if mode == "values" else "passes"]
            self._namespaces[mode] = namespace
            fields |= read
        #: ``(severity, control id, field, message)`` for each control the record's values break, in table order.
        self.violations: Callable[[Values], list[Violation]] = functions["values"]
        #: Whether a record line whose fields all passed the field rules breaks no control.
        self.passes: Callable[[str], bool] = functions["line"]
        #: The fields the controls read.
        self.fields = frozenset(fields)

    @property
    def control_ids(self) -> list[str]:
        return [control["id"] for control in self.table["controls"]]
