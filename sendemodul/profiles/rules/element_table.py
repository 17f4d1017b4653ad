"""A rule table over XML elements (15F's ``15F.controls.json``): read, checked and compiled once per reporting
year (:func:`element_controls`), then run over one ``Individ`` at a time (:meth:`ElementControls.run`).

The table is the one source of SSB's barnevern controls: CPython runs it here (the reference), the browser module
interprets the same JSON (``sendemodul/browser/src/elementrules.js``). docs/profiles.md ("The rule table
(``15F.controls.json``)") specifies the file and its language; the expressions are compiled by
:mod:`~sendemodul.profiles.rules.element_expr`. Every mistake in the table is a
:class:`~sendemodul.profiles.rules.rule_table_file.TableError` at load time naming the control, never a wrong
finding later.

A finding's message is a :class:`~sendemodul.i18n.Bilingual`: its Bokmål rendering, which remembers the Nynorsk one,
so that a report shown in Nynorsk has the table's Nynorsk text.
"""

from __future__ import annotations

import functools
import string
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sendemodul.i18n import Bilingual
from sendemodul.profiles.rules.barnevern_facts import Facts, Finding
from sendemodul.profiles.rules.element_expr import UNSET, Env, Expr, ExprCompiler, Scope, is_path
from sendemodul.profiles.rules.report import Severity
from sendemodul.profiles.rules.rule_table_file import TableError, load_table, table_file

__all__ = ["ElementControls", "element_controls"]

_SEVERITIES = {"ERROR": Severity.ERROR, "WARNING": Severity.WARNING, "INFO": Severity.INFO}
_CONTROL_KEYS = frozenset({"id", "severity", "field", "each", "let", "when", "message"})
_GROUP_KEYS = frozenset({"each", "let", "controls"})

#: A message compiled: the evaluation state to its text.
Render = Callable[[Env], str]


@dataclass(frozen=True)
class _Control:
    id: str
    severity: Severity
    field: str | None
    #: The slots of its lets (emptied each time it runs).
    slots: tuple[int, ...]
    when: Expr
    nb: Render
    nn: Render
    #: The one tag whose elements it can find something in (its ``when`` says so first), or None.
    tag: str | None


@dataclass(frozen=True)
class _Group:
    #: The current element to the elements to run the items over.
    each: Callable[[ET.Element], list[ET.Element]]
    #: Whether ``number`` counts per tag (``{"tags": [...]}``); else all elements have one tag.
    per_tag: bool
    depth: int
    slots: tuple[int, ...]
    items: tuple[_Control | _Group, ...]
    #: For ``{"tags": [...]}``: the items that can find something, by the element's tag.
    by_tag: dict[str, tuple[_Control | _Group, ...]] | None


def _show(value: Any) -> str:
    """A value in a message: a text as written, a whole number in decimal, null as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _guard_tag(when: Any) -> str | None:
    """``T`` if ``when`` is ``["==", ["tag"], T]`` or an ``and`` that begins with it."""
    if isinstance(when, list) and when and when[0] == "and" and len(when) > 1:
        when = when[1]
    if isinstance(when, list) and len(when) == 3 and when[0] == "==" and when[1] == ["tag"]:
        return when[2] if isinstance(when[2], str) else None
    return None


class _Loader:
    """Checks and compiles one table for one reporting year."""

    def __init__(self, table: dict[str, Any], name: str, year: int):
        self.name = name
        macros = table.get("macros", {})
        if not isinstance(macros, dict):
            raise TableError(f"{name}: 'macros' must be an object of name: expression")
        self.compiler = ExprCompiler(macros, year)
        self.depth = 0
        self.scope = Scope({}, 0)
        defs = table.get("defs", {})
        if not isinstance(defs, dict):
            raise TableError(f"{name}: 'defs' must be an object of name: expression")
        for key, e in defs.items():
            self.compiler.define(self.scope, key, e, f"{name} defs")
        for key in macros:  # a macro that is never used is checked too (its names only where it is used)
            self._check_macro(macros, key, [])
        controls = table.get("controls")
        if not isinstance(controls, list):
            raise TableError(f"{name}: 'controls' must be a list")
        self.items = tuple(self.item(c, self.scope, f"{name} controls[{i}]") for i, c in enumerate(controls))

    def _check_macro(self, macros: dict[str, Any], key: str, path: list[str]) -> None:
        if key in path:
            raise TableError(f"{self.name} macros: the macros {' -> '.join([*path, key])} form a cycle")
        stack = [macros[key]]
        while stack:
            e = stack.pop()
            if isinstance(e, list):
                if len(e) == 2 and e[0] == "macro":
                    if not isinstance(e[1], str) or e[1] not in macros:
                        raise TableError(f"{self.name} macros.{key}: unknown macro {e[1]!r}")
                    self._check_macro(macros, e[1], [*path, key])
                else:
                    stack.extend(e[1:])

    def item(self, c: Any, scope: Scope, where: str) -> _Control | _Group:
        if not isinstance(c, dict):
            raise TableError(f"{where}: an item must be an object (a control or a group)")
        if "id" in c:
            unknown = set(c) - _CONTROL_KEYS
            if unknown:
                raise TableError(f"{where} ({c['id']}): unknown keys {sorted(unknown)}")
            if "each" in c:  # short for a group holding this one control
                inner = {k: v for k, v in c.items() if k != "each"}
                return self.group({"each": c["each"], "controls": [inner]}, scope, where, wrapped=True)
            return self.control(c, scope, f"{where} ({c['id']})")
        if "controls" not in c or "each" not in c:
            raise TableError(f"{where}: an item is a control (with 'id') or a group (with 'each' and 'controls')")
        unknown = set(c) - _GROUP_KEYS
        if unknown:
            raise TableError(f"{where}: unknown keys {sorted(unknown)} in a group")
        return self.group(c, scope, where)

    def lets(self, c: dict[str, Any], scope: Scope, where: str) -> tuple[int, ...]:
        lets = c.get("let", {})
        if not isinstance(lets, dict):
            raise TableError(f"{where}: 'let' must be an object of name: expression")
        first = self.compiler.slots
        for key, e in lets.items():
            self.compiler.define(scope, key, e, f"{where} let")
        return tuple(range(first, self.compiler.slots))

    def group(self, c: dict[str, Any], outer: Scope, where: str, wrapped: bool = False) -> _Group:
        each, per_tag, tags = self.each(c["each"], where)
        scope = outer.child(outer.depth + 1)
        slots = self.lets(c, scope, where)
        controls = c["controls"]
        if not isinstance(controls, list) or not controls:
            raise TableError(f"{where}: a group's 'controls' must be a non-empty list")
        items = tuple(
            self.item(sub, scope, where if wrapped else f"{where}.controls[{i}]") for i, sub in enumerate(controls)
        )
        by_tag = None
        if tags is not None:
            by_tag = {
                tag: tuple(i for i in items if not isinstance(i, _Control) or i.tag in (None, tag)) for tag in tags
            }
        return _Group(each, per_tag, scope.depth, slots, items, by_tag)

    def each(self, each: Any, where: str) -> tuple[Callable[[ET.Element], list[ET.Element]], bool, list[str] | None]:
        if is_path(each):
            path = str(each)
            return (lambda element: list(element.iterfind(path))), False, None
        if isinstance(each, dict) and set(each) == {"tags"} and isinstance(each["tags"], list) and each["tags"]:
            tags = each["tags"]
            if not all(isinstance(t, str) and is_path(t) and "/" not in t for t in tags):
                raise TableError(f"{where}: 'tags' must list element names")
            wanted = frozenset(tags)
            return (lambda element: [e for e in element.iter() if e.tag in wanted]), True, list(tags)
        raise TableError(f"{where}: 'each' must be a plain path (Melding/Undersokelse) or {{\"tags\": [...]}}")

    def control(self, c: dict[str, Any], outer: Scope, where: str) -> _Control:
        rule_id = c["id"]
        if not isinstance(rule_id, str) or not rule_id:
            raise TableError(f"{where}: 'id' must be a text")
        severity = _SEVERITIES.get(c.get("severity"))  # type: ignore[arg-type]
        if severity is None:
            raise TableError(f"{where}: unknown severity {c.get('severity')!r} (ERROR, WARNING or INFO)")
        field = c.get("field")
        if field is not None and not isinstance(field, str):
            raise TableError(f"{where}: 'field' must be a text or null")
        if "when" not in c:
            raise TableError(f"{where}: a control needs 'when'")
        scope = outer.child()
        slots = self.lets(c, scope, where)
        when = self.compiler.compile(c["when"], scope, f"{where} when")
        message = c.get("message")
        if not isinstance(message, dict) or set(message) != {"nb", "nn"}:
            raise TableError(f"{where}: 'message' must have exactly 'nb' and 'nn'")
        nb = self.message(message["nb"], scope, f"{where} message nb")
        nn = self.message(message["nn"], scope, f"{where} message nn")
        return _Control(rule_id, severity, field, slots, when, nb, nn, _guard_tag(c["when"]))

    def message(self, m: Any, scope: Scope, where: str) -> Render:
        if isinstance(m, list) and len(m) == 4 and m[0] == "if":
            cond = self.compiler.compile(m[1], scope, where)
            yes, no = self.message(m[2], scope, where), self.message(m[3], scope, where)
            return lambda env: yes(env) if cond(env) else no(env)
        if not isinstance(m, str):
            raise TableError(f'{where}: a message is a text or ["if", condition, message, message]')
        parts: list[str | Expr] = []
        try:
            parsed = list(string.Formatter().parse(m))
        except ValueError as e:
            raise TableError(f"{where}: {e}") from None
        for literal, name, spec, conversion in parsed:
            if literal:
                parts.append(literal)
            if name is None:
                continue
            if spec or conversion or not name.isidentifier():
                raise TableError(f"{where}: {{{name}}} must be a plain name")
            if name not in scope.names and name not in ("number", "age", "fnr", "duf", "kommunenr"):
                raise TableError(f"{where}: {{{name}}} is not a name visible here")
            parts.append(self.compiler.name(name, scope, where))
        if all(isinstance(p, str) for p in parts):
            text = "".join(p for p in parts if isinstance(p, str))
            return lambda env: text
        frozen = tuple(parts)
        return lambda env: "".join(p if isinstance(p, str) else _show(p(env)) for p in frozen)


class ElementControls:
    """A rule table compiled for one reporting year."""

    def __init__(self, table: dict[str, Any], name: str, year: int):
        loader = _Loader(table, name, year)
        self.items = loader.items
        self.slots = loader.compiler.slots
        self.depth = 1 + max((_depth(i) for i in self.items), default=0)

    def run(self, individ: ET.Element, facts: Facts) -> Iterator[Finding]:
        """Every finding of the table's controls for one ``Individ``, in the table's order."""
        depth = self.depth
        env = Env(individ, facts, [UNSET] * self.slots, [individ] * depth, [0] * depth, [([], 0)] * depth)
        return self._run(self.items, env)

    def _run(self, items: tuple[_Control | _Group, ...], env: Env) -> Iterator[Finding]:
        slots = env.slots
        for item in items:
            if isinstance(item, _Control):
                for slot in item.slots:
                    slots[slot] = UNSET
                if item.when(env):
                    yield (item.id, item.severity, item.field, Bilingual(item.nb(env), item.nn(env)))
                continue
            parent = env.el
            elements = item.each(parent)
            if not elements:
                continue
            depth, by_tag = item.depth, item.by_tag
            counts: dict[str, int] = {}
            for index, element in enumerate(elements):
                if item.per_tag:
                    number = counts[element.tag] = counts.get(element.tag, 0) + 1
                else:
                    number = index + 1
                env.el = env.elements[depth] = element
                env.numbers[depth] = number
                env.iterations[depth] = (elements, index)
                for slot in item.slots:
                    slots[slot] = UNSET
                yield from self._run(item.items if by_tag is None else by_tag[element.tag], env)
            env.el = parent


def _depth(item: _Control | _Group) -> int:
    if isinstance(item, _Control):
        return 0
    return max([item.depth, *(_depth(i) for i in item.items)])


@functools.lru_cache(maxsize=8)
def element_controls(register: str, year: int) -> ElementControls:
    """The register's element rule table, checked and compiled for ``year`` (once); a year that the table does not
    list is refused: a new year is a decision (docs/profiles.md)."""
    table = load_table(register)
    name = table_file(register)
    periodes = table.get("periodes")
    if not isinstance(periodes, list) or year not in periodes:
        raise TableError(f"{name} does not list the reporting year {year} in 'periodes' ({periodes})")
    return ElementControls(table, name, year)
