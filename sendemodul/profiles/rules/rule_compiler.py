"""The rule-table compiler's machinery: the compiled expression (:class:`_Code`), the generated function's namespace
and constants, how fields are read from a record (a value, or a slice of the line, read once into a local where it
is read more than once), what the field rules already guarantee of a line, and the dispatch of an expression to its
operator.

A module of its own, apart from the operators (:mod:`~sendemodul.profiles.rules.rule_operators`, a subclass of
:class:`_CompilerBase`), because this is the part every operator builds on and none changes when an operator is added.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass
from typing import Any

from sendemodul.identity import duf_ok
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context, parse_date
from sendemodul.profiles.rules.rule_table_file import _NAME_ARGS, OPERATORS, TableError
from sendemodul.profiles.rules.rule_values import _shown, month_sum, ssb_birth_year, ssb_date, ssb_int

_TEMPLATE_NAME = re.compile(r"\{(\w+)\}")
#: A field read in generated code before :meth:`_Compiler.resolve`: raw slice (``r:``) or stripped text (``x:``).
_TOKEN = re.compile("\x00([rx]:\\w+)\x00")
_NOT_CONST = object()


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


class _CompilerBase:
    """Generates the source of one function over a record: ``mode`` ``"values"`` (a dict of stripped texts,
    ``v``) or ``"line"`` (the record line ``t``, every field having passed the field rules). The operators
    (``op_*``) are in :class:`~sendemodul.profiles.rules.rule_operators._Compiler`."""

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

    def fixed_value(self, name: str) -> str | None:
        """Line mode: the one value the field rules let through for a mandatory field of the unit or year (the
        kommunenummer, VERSION), else ``None``."""
        spec = self.specs[name]
        if self.mode != "line" or not (spec.checked and spec.mandatory) or spec.id_kind:
            return None
        expected: str | None = self.context.expected.get(spec.role) if spec.role else None
        return expected

    def value_set(self, e: Any, where: str) -> frozenset[str]:
        """The members of a set expression (``codes`` or ``set``)."""
        if isinstance(e, list) and e and e[0] == "codes" and len(e) == 2:
            spec = self.spec(e[1], where)
            return frozenset(spec.codes)
        if isinstance(e, list) and e and e[0] == "set" and all(isinstance(x, str) for x in e[1:]):
            return frozenset(e[1:])
        raise TableError(f"{where}: expected a set (['codes', FIELD] or ['set', ...texts]), not {e!r}")

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


_METHOD_NAMES = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "+": "plus", "-": "minus"}


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
