"""The expression language of an element rule table (15F's ``15F.controls.json``, docs/profiles.md "The rule
table"), compiled to Python closures: each expression becomes a function of the evaluation state (:class:`Env`).

Closures, not generated source as for 11F (:mod:`~sendemodul.profiles.rules.rule_table`): a 15F check is bound by
reading the XML, and the controls of one individ are a few dozen small expressions; a closure per operator keeps the
compiler short and the checks at load time in one place (:class:`ExprCompiler`), each a
:class:`~sendemodul.profiles.rules.rule_table_file.TableError` naming the control. Names are resolved at load time to
slots of :attr:`Env.slots`, which a ``let`` or a def fills the first time it is read (expressions have no side
effects, so computing a value only when it is needed changes nothing but the time), with its own element current.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sendemodul.profiles.rules.barnevern_facts import Facts
from sendemodul.profiles.rules.rule_table_file import TableError

__all__ = ["OPERATORS", "UNSET", "Env", "Expr", "ExprCompiler", "Scope", "is_path", "truth"]

#: An expression compiled: the evaluation state to its value (a text, a whole number, a bool or None).
Expr = Callable[["Env"], Any]

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
#: The built-in names and what they read (``number``: only in a group).
BUILTINS = ("number", "age", "fnr", "duf", "kommunenr")

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")


def is_path(value: object) -> bool:
    """Whether ``value`` is a plain path of child steps by tag (``Melding/Undersokelse``)."""
    return isinstance(value, str) and _PATH.fullmatch(value) is not None


class _Unset:
    """A slot not computed yet."""


UNSET: Any = _Unset()


def truth(value: Any) -> bool:
    """The language's truth: ``false``, ``null``, ``0`` and ``""`` are false (Python's and JS's for these values)."""
    return bool(value)


@dataclass
class Env:
    """The state of one individ's evaluation."""

    #: The current element.
    el: ET.Element
    facts: Facts
    #: The value of each let and def (:data:`UNSET` until read).
    slots: list[Any]
    #: Per depth (0: the individ; 1...: the nested groups) the element current there, its ``number``, and the
    #: group's iteration and the element's place in it (for ``some_after``).
    elements: list[ET.Element] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    iterations: list[tuple[list[ET.Element], int]] = field(default_factory=list)


@dataclass
class Scope:
    """The names visible at a place in the table, innermost first: each name's slot and the depth of its element."""

    names: dict[str, tuple[int, int]]
    #: The depth of the innermost group (0: none).
    depth: int

    def child(self, depth: int | None = None) -> Scope:
        return Scope(dict(self.names), self.depth if depth is None else depth)


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


def _same(a: Any, b: Any) -> bool:
    """``==``: equal and of the same JSON type (Python's ``True == 1`` is not the language's)."""
    return a == b and type(a) is type(b)


def _arith(op: Callable[[int, int], int]) -> Callable[[Any, Any], Any]:
    return lambda a, b: None if a is None or b is None else op(a, b)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: a is not None and b is not None and op(a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _arith(lambda a, b: a + b),
    "-": _arith(lambda a, b: a - b),
    "min": _arith(min),
    "max": _arith(max),
    "<": _compare(lambda a, b: a < b),
    "<=": _compare(lambda a, b: a <= b),
    ">": _compare(lambda a, b: a > b),
    ">=": _compare(lambda a, b: a >= b),
    "==": _same,
    "!=": lambda a, b: not _same(a, b),
    "coalesce": lambda a, b: b if a is None else a,
}


class ExprCompiler:
    """Compiles the expressions of one table; :attr:`slots` counts the lets and defs it has given a slot."""

    def __init__(self, macros: dict[str, Any], year: int):
        self.macros = macros
        self.year = year
        #: Each slot's expression (a let's or def's), by slot.
        self.thunks: list[Expr] = []

    @property
    def slots(self) -> int:
        return len(self.thunks)

    def define(self, scope: Scope, name: Any, e: Any, where: str) -> None:
        """A let or def ``name`` = ``e`` in ``scope``, its element the one current at ``scope.depth``; ``e`` sees
        the names defined before it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise TableError(f"{where}: {name!r} is not a plain name")
        if name in scope.names or name in BUILTINS:
            raise TableError(f"{where}: the name {name!r} is defined twice on one path")
        thunk = self.compile(e, scope, f"{where} {name}")
        scope.names[name] = (len(self.thunks), scope.depth)
        self.thunks.append(thunk)

    def compile(self, e: Any, scope: Scope, where: str) -> Expr:
        if e is None or isinstance(e, (str, bool, int)):
            literal = e
            return lambda env: literal
        if not isinstance(e, list) or not e or not isinstance(e[0], str):
            raise TableError(f"{where}: {e!r} is not an expression (a literal, or a list naming its operator)")
        op, args = e[0], e[1:]
        if op not in OPERATORS:
            raise TableError(f"{where}: unknown operator {op!r}")
        low, high = OPERATORS[op]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = str(low) if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise TableError(f"{where}: {op!r} takes {wanted} arguments, not {len(args)}")
        method = getattr(self, f"op_{op}", None)
        if method is not None:
            result: Expr = method(args, scope, where)
            return result
        if op in _BINARY:
            return self._binary(_BINARY[op], args, scope, where)
        raise TableError(f"{where}: {op!r} is only allowed as the second argument of 'in'")

    def _binary(self, fn: Callable[[Any, Any], Any], args: list[Any], scope: Scope, where: str) -> Expr:
        a, b = (self.compile(x, scope, where) for x in args)
        return lambda env: fn(a(env), b(env))

    def _literal_text(self, value: Any, what: str, where: str) -> str:
        if not isinstance(value, str):
            raise TableError(f"{where}: {what} must be a literal text, not {value!r}")
        return value

    def _path(self, value: Any, where: str) -> str:
        if not is_path(value):
            raise TableError(f"{where}: {value!r} is not a plain path of element names (Melding/Undersokelse)")
        return str(value)

    def op_attr(self, args: list[Any], scope: Scope, where: str) -> Expr:
        name = self._literal_text(args[0], "an attribute name", where)
        if len(args) == 1:
            return lambda env: env.el.get(name, "").strip()
        path = self._path(args[1], where)

        def attr(env: Env) -> str:
            found = env.el.find(path)
            return "" if found is None else found.get(name, "").strip()

        return attr

    def op_text(self, args: list[Any], scope: Scope, where: str) -> Expr:
        path = self._path(args[0], where)

        def text(env: Env) -> str:
            found = env.el.find(path)
            return "" if found is None else (found.text or "").strip()

        return text

    def op_count(self, args: list[Any], scope: Scope, where: str) -> Expr:
        path = self._path(args[0], where)
        if "/" not in path:
            return lambda env: sum(1 for child in env.el if child.tag == path)
        return lambda env: sum(1 for _ in env.el.iterfind(path))

    def op_tag(self, args: list[Any], scope: Scope, where: str) -> Expr:
        return lambda env: env.el.tag

    def op_year(self, args: list[Any], scope: Scope, where: str) -> Expr:
        year = self.year
        return lambda env: year

    def op_var(self, args: list[Any], scope: Scope, where: str) -> Expr:
        name = self._literal_text(args[0], "a name", where)
        return self.name(name, scope, where)

    def name(self, name: str, scope: Scope, where: str) -> Expr:
        """The value of ``name`` where ``scope`` is: a let or def (its slot), else a built-in."""
        if name in scope.names:
            slot, depth = scope.names[name]
            thunk = self.thunks[slot]

            def get(env: Env) -> Any:
                value = env.slots[slot]
                if value is UNSET:
                    current = env.el
                    env.el = env.elements[depth]
                    try:
                        value = env.slots[slot] = thunk(env)
                    finally:
                        env.el = current
                return value

            return get
        if name == "number":
            if scope.depth == 0:
                raise TableError(f"{where}: 'number' is only known in a group (each)")
            depth = scope.depth
            return lambda env: env.numbers[depth]
        if name in ("age", "fnr", "duf", "kommunenr"):
            return lambda env: getattr(env.facts, name)
        raise TableError(f"{where}: the name {name!r} is not defined here (let, defs, or a built-in)")

    def op_macro(self, args: list[Any], scope: Scope, where: str) -> Expr:
        """The macro's expression in its place (load time: evaluated where it is used; the table's loader has
        refused a cycle of macros before)."""
        name = args[0]
        if not isinstance(name, str) or name not in self.macros:
            raise TableError(f"{where}: unknown macro {name!r}")
        return self.compile(self.macros[name], scope, f"{where} (macro {name})")

    def op_date(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        return lambda env: _date(x(env))

    def op_ymd(self, args: list[Any], scope: Scope, where: str) -> Expr:
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            day = _ymd(args[0], args[1], args[2], where)
            return lambda env: day
        y, m, d = (self.compile(a, scope, where) for a in args)
        return lambda env: _ymd(y(env), m(env), d(env), where)

    def op_year_of(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)

        def year_of(env: Env) -> int | None:
            day = x(env)
            return None if day is None else datetime.date.fromordinal(day).year

        return year_of

    def op_and(self, args: list[Any], scope: Scope, where: str) -> Expr:
        parts = tuple(self.compile(a, scope, where) for a in args)
        if len(parts) == 2:
            a, b = parts
            return lambda env: bool(a(env) and b(env))
        return lambda env: all(part(env) for part in parts)

    def op_or(self, args: list[Any], scope: Scope, where: str) -> Expr:
        parts = tuple(self.compile(a, scope, where) for a in args)
        if len(parts) == 2:
            a, b = parts
            return lambda env: bool(a(env) or b(env))
        return lambda env: any(part(env) for part in parts)

    def op_not(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        return lambda env: not x(env)

    def op_if(self, args: list[Any], scope: Scope, where: str) -> Expr:
        c, a, b = (self.compile(x, scope, where) for x in args)
        return lambda env: a(env) if c(env) else b(env)

    def op_null(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        return lambda env: x(env) is None

    def op_blank(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        return lambda env: x(env) == ""

    def op_filled(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        return lambda env: x(env) != ""

    def op_in(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        literal = args[1]
        if not (isinstance(literal, list) and literal and literal[0] == "set"):
            raise TableError(f"{where}: the second argument of 'in' must be [\"set\", ...]")
        texts = frozenset(self._literal_text(t, "a set's item", where) for t in literal[1:])
        return lambda env: x(env) in texts

    def op_starts(self, args: list[Any], scope: Scope, where: str) -> Expr:
        x = self.compile(args[0], scope, where)
        prefixes = tuple(self._literal_text(p, "a prefix", where) for p in args[1:])

        def starts(env: Env) -> bool:
            value = x(env)
            return isinstance(value, str) and value.startswith(prefixes)

        return starts

    def op_some(self, args: list[Any], scope: Scope, where: str) -> Expr:
        path = self._path(args[0], where)
        x = self.compile(args[1], scope, where)

        def some(env: Env) -> bool:
            current = env.el
            try:
                for element in current.iterfind(path):
                    env.el = element
                    if x(env):
                        return True
                return False
            finally:
                env.el = current

        return some

    def op_some_after(self, args: list[Any], scope: Scope, where: str) -> Expr:
        if scope.depth == 0:
            raise TableError(f"{where}: 'some_after' is only allowed inside a group (each)")
        depth = scope.depth
        x = self.compile(args[0], scope, where)

        def some_after(env: Env) -> bool:
            elements, index = env.iterations[depth]
            current = env.el
            try:
                for element in elements[index + 1 :]:
                    env.el = element
                    if x(env):
                        return True
                return False
            finally:
                env.el = current

        return some_after
