"""The expression language of an element rule table (15F's ``15F.controls.json``, docs/profiles.md "The rule
table"), compiled to Python source: each expression becomes a Python expression over the generated function's locals
(the current element, the ``let`` and def values, the built-ins), checked first.

Generated source, as for 11F (:mod:`~sendemodul.profiles.rules.rule_table`), not an interpreter: the controls run on
every individ of an extract, and a closure or a dispatch per operator made a 15F check noticeably slower than the
hand-written controls it replaces. Every name and literal is checked before any code is generated: an element or
attribute name must be a plain name, texts enter the source only through :func:`repr`, names become numbered locals
(``v3``), so nothing in the table can add code. Each mistake is a
:class:`~sendemodul.profiles.rules.rule_table_file.TableError` naming the control.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from sendemodul.profiles.rules.rule_table_file import TableError

__all__ = ["BUILTINS", "HELPERS", "OPERATORS", "ExprCompiler", "Scope", "is_path"]

#: Operators: name -> (minimum arguments, maximum or None).
OPERATORS: dict[str, tuple[int, int | None]] = {
    "attr": (1, 2),
    "text": (1, 1),
    "count": (1, 1),
    "tag": (0, 0),
    "var": (1, 1),
    "macro": (1, 1),
    "year": (0, 0),
    "date": (1, 1),
    "ymd": (3, 3),
    "year_of": (1, 1),
    "+": (2, 2),
    "-": (2, 2),
    "min": (2, 2),
    "max": (2, 2),
    "<": (2, 2),
    "<=": (2, 2),
    ">": (2, 2),
    ">=": (2, 2),
    "==": (2, 2),
    "!=": (2, 2),
    "and": (1, None),
    "or": (1, None),
    "not": (1, 1),
    "if": (3, 3),
    "null": (1, 1),
    "coalesce": (2, 2),
    "blank": (1, 1),
    "filled": (1, 1),
    "in": (2, 2),
    "set": (0, None),
    "starts": (2, None),
    "some": (2, 2),
    "some_after": (1, 1),
}
#: The built-in names and the generated function's locals that hold them (``number``: a group's ``n<depth>``).
BUILTINS = {"number": "", "age": "b_age", "fnr": "b_fnr", "duf": "b_duf", "kommunenr": "b_kommunenr"}

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")


def is_path(value: object) -> bool:
    """Whether ``value`` is a plain path of child steps by tag (``Melding/Undersokelse``)."""
    return isinstance(value, str) and _PATH.fullmatch(value) is not None


def _date(text: Any) -> int | None:
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return datetime.date.fromisoformat(text).toordinal()
    except ValueError:
        return None


def _ymd(y: Any, m: Any, d: Any, where: str) -> int:
    try:
        return datetime.date(y, m, d).toordinal()
    except (TypeError, ValueError):
        raise TableError(f"{where}: ymd {y}-{m}-{d} is not a date") from None


def _year_of(day: int | None) -> int | None:
    return None if day is None else datetime.date.fromordinal(day).year


def _same(a: Any, b: Any) -> bool:
    """``==``: equal and of the same JSON type (Python's ``True == 1`` is not the language's)."""
    return a == b and type(a) is type(b)


def _attr_at(element: ET.Element, path: str, name: str) -> str:
    found = element.find(path)
    return "" if found is None else found.get(name, "").strip()


def _text_at(element: ET.Element, path: str) -> str:
    found = element.find(path)
    return "" if found is None else (found.text or "").strip()


def _starts(value: Any, prefixes: tuple[str, ...]) -> bool:
    return isinstance(value, str) and value.startswith(prefixes)


def _show(value: Any) -> str:
    """A value in a message: a text as written, a whole number in decimal, null as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: What the generated source may call besides its own locals.
HELPERS: dict[str, Any] = {
    "_date": _date,
    "_ymd": _ymd,
    "_year_of": _year_of,
    "_same": _same,
    "_attr_at": _attr_at,
    "_text_at": _text_at,
    "_starts": _starts,
    "_show": _show,
}


@dataclass
class Scope:
    """Where an expression is: the visible names (each a local of the generated function), the current element's
    local, the depth of the innermost group (0: none)."""

    names: dict[str, str]
    element: str
    depth: int

    def child(self, element: str | None = None, depth: int | None = None) -> Scope:
        return Scope(
            dict(self.names), self.element if element is None else element, self.depth if depth is None else depth
        )


_NULL_SAFE = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "+": "+", "-": "-"}


class ExprCompiler:
    """Compiles the expressions of one table for one reporting year to Python expressions (source text)."""

    def __init__(self, macros: dict[str, Any], year: int):
        self.macros = macros
        self.year = year
        self.slots = 0
        self._temps = 0
        #: The constants the source names (``K<n>``): sets and prefixes.
        self.constants: dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self, prefix: str = "t") -> str:
        """A fresh local name."""
        self._temps += 1
        return f"{prefix}{self._temps}"

    def define(self, scope: Scope, name: Any, e: Any, where: str) -> tuple[str, str]:
        """A let or def ``name`` = ``e`` in ``scope``: its local and the source of its value, which sees the names
        defined before it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise TableError(f"{where}: {name!r} is not a plain name")
        if name in scope.names or name in BUILTINS:
            raise TableError(f"{where}: the name {name!r} is defined twice on one path")
        source = self.compile(e, scope, f"{where} {name}")
        local = f"v{self.slots}"
        self.slots += 1
        scope.names[name] = local
        return local, source

    def compile(self, e: Any, scope: Scope, where: str) -> str:
        if e is None or isinstance(e, (str, bool, int)):
            return repr(e)
        if not isinstance(e, list) or not e or not isinstance(e[0], str):
            raise TableError(f"{where}: {e!r} is not an expression (a literal, or a list naming its operator)")
        op, args = e[0], e[1:]
        if op not in OPERATORS:
            raise TableError(f"{where}: unknown operator {op!r}")
        low, high = OPERATORS[op]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise TableError(f"{where}: {op!r} takes {wanted} arguments, not {len(args)}")
        if op == "set":
            raise TableError(f"{where}: 'set' is only allowed as the second argument of 'in'")
        if op in _NULL_SAFE:
            return self._null_safe(_NULL_SAFE[op], args, scope, where)
        result: str = getattr(self, f"op_{op.replace('=', 'eq').replace('!', 'n')}")(args, scope, where)
        return result

    def _null_safe(self, op: str, args: list[Any], scope: Scope, where: str) -> str:
        """``a op b``, ``null`` (arithmetic) or false (comparisons) if either is ``null``."""
        a, b = (self.compile(x, scope, where) for x in args)
        x, y = self.temp(), self.temp()
        if op in "+-":
            return f"(None if ({x} := {a}) is None or ({y} := {b}) is None else {x} {op} {y})"
        return f"(({x} := {a}) is not None and ({y} := {b}) is not None and {x} {op} {y})"

    def _literal_text(self, value: Any, what: str, where: str) -> str:
        if not isinstance(value, str):
            raise TableError(f"{where}: {what} must be a literal text, not {value!r}")
        return value

    def _path(self, value: Any, where: str) -> str:
        if not is_path(value):
            raise TableError(f"{where}: {value!r} is not a plain path of element names (Melding/Undersokelse)")
        return str(value)

    def op_attr(self, args: list[Any], scope: Scope, where: str) -> str:
        name = self._literal_text(args[0], "an attribute name", where)
        if len(args) == 1:
            return f"{scope.element}.get({name!r}, '').strip()"
        return f"_attr_at({scope.element}, {self._path(args[1], where)!r}, {name!r})"

    def op_text(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"_text_at({scope.element}, {self._path(args[0], where)!r})"

    def op_count(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"len({scope.element}.findall({self._path(args[0], where)!r}))"

    def op_tag(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"{scope.element}.tag"

    def op_year(self, args: list[Any], scope: Scope, where: str) -> str:
        return repr(self.year)

    def op_var(self, args: list[Any], scope: Scope, where: str) -> str:
        return self.name(self._literal_text(args[0], "a name", where), scope, where)

    def name(self, name: str, scope: Scope, where: str) -> str:
        """The local holding ``name`` where ``scope`` is: a let or def, else a built-in."""
        if name in scope.names:
            return scope.names[name]
        if name == "number":
            if scope.depth == 0:
                raise TableError(f"{where}: 'number' is only known in a group (each)")
            return f"n{scope.depth}"
        if name in BUILTINS:
            return BUILTINS[name]
        raise TableError(f"{where}: the name {name!r} is not defined here (let, defs, or a built-in)")

    def op_macro(self, args: list[Any], scope: Scope, where: str) -> str:
        """The macro's expression in its place (evaluated where it is used; the table's loader has refused a cycle
        of macros before)."""
        name = args[0]
        if not isinstance(name, str) or name not in self.macros:
            raise TableError(f"{where}: unknown macro {name!r}")
        return self.compile(self.macros[name], scope, f"{where} (macro {name})")

    def op_date(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"_date({self.compile(args[0], scope, where)})"

    def op_ymd(self, args: list[Any], scope: Scope, where: str) -> str:
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return repr(_ymd(args[0], args[1], args[2], where))
        y, m, d = (self.compile(a, scope, where) for a in args)
        return f"_ymd({y}, {m}, {d}, {where!r})"

    def op_year_of(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"_year_of({self.compile(args[0], scope, where)})"

    def op_min(self, args: list[Any], scope: Scope, where: str) -> str:
        a, b = (self.compile(x, scope, where) for x in args)
        x, y = self.temp(), self.temp()
        return f"(None if ({x} := {a}) is None or ({y} := {b}) is None else min({x}, {y}))"

    def op_max(self, args: list[Any], scope: Scope, where: str) -> str:
        return self.op_min(args, scope, where).replace("else min(", "else max(")

    def op_eqeq(self, args: list[Any], scope: Scope, where: str) -> str:
        a, b = args
        if not isinstance(a, list) and not isinstance(b, list):  # two literals
            self.compile(a, scope, where), self.compile(b, scope, where)
            return repr(_same(a, b))
        if a is None or b is None:  # x == null
            other = self.compile(b if a is None else a, scope, where)
            return f"({other} is None)"
        if isinstance(b, str) or isinstance(a, str):  # a text literal: only a text can equal it
            return f"({self.compile(a, scope, where)} == {self.compile(b, scope, where)})"
        return f"_same({self.compile(a, scope, where)}, {self.compile(b, scope, where)})"

    def op_neq(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"(not {self.op_eqeq(args, scope, where)})"

    def op_and(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"bool({' and '.join(self.compile(a, scope, where) for a in args)})"

    def op_or(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"bool({' or '.join(self.compile(a, scope, where) for a in args)})"

    def op_not(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"(not {self.compile(args[0], scope, where)})"

    def op_if(self, args: list[Any], scope: Scope, where: str) -> str:
        c, a, b = (self.compile(x, scope, where) for x in args)
        return f"({a} if {c} else {b})"

    def op_null(self, args: list[Any], scope: Scope, where: str) -> str:
        source = self.compile(args[0], scope, where)
        return repr(args[0] is None) if not isinstance(args[0], list) else f"({source} is None)"

    def op_coalesce(self, args: list[Any], scope: Scope, where: str) -> str:
        a, b = (self.compile(x, scope, where) for x in args)
        x = self.temp()
        return f"({b} if ({x} := {a}) is None else {x})"

    def op_blank(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"({self.compile(args[0], scope, where)} == '')"

    def op_filled(self, args: list[Any], scope: Scope, where: str) -> str:
        return f"({self.compile(args[0], scope, where)} != '')"

    def op_in(self, args: list[Any], scope: Scope, where: str) -> str:
        literal = args[1]
        if not (isinstance(literal, list) and literal and literal[0] == "set"):
            raise TableError(f"{where}: the second argument of 'in' must be [\"set\", ...]")
        texts = frozenset(self._literal_text(t, "a set's item", where) for t in literal[1:])
        return f"({self.compile(args[0], scope, where)} in {self.constant(texts)})"

    def op_starts(self, args: list[Any], scope: Scope, where: str) -> str:
        prefixes = tuple(self._literal_text(p, "a prefix", where) for p in args[1:])
        return f"_starts({self.compile(args[0], scope, where)}, {self.constant(prefixes)})"

    def op_some(self, args: list[Any], scope: Scope, where: str) -> str:
        path = self._path(args[0], where)
        element = self.temp("s")
        inner = self.compile(args[1], scope.child(element=element), where)
        return f"any({inner} for {element} in {scope.element}.iterfind({path!r}))"

    def op_some_after(self, args: list[Any], scope: Scope, where: str) -> str:
        if scope.depth == 0:
            raise TableError(f"{where}: 'some_after' is only allowed inside a group (each)")
        element = self.temp("s")
        inner = self.compile(args[0], scope.child(element=element), where)
        return f"any({inner} for {element} in els{scope.depth}[i{scope.depth} + 1 :])"
