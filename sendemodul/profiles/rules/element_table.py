"""A rule table over XML elements (15F's ``15F.controls.json``): read, checked and compiled once per reporting
year into one generated Python function (:func:`element_controls`), which gives one ``Individ``'s findings
(:meth:`ElementControls.run`).

The table is the one source of SSB's barnevern controls: CPython runs it here (the reference), the browser module
interprets the same JSON (``sendemodul/browser/src/elementrules.js``). docs/profiles.md ("The rule table
(``15F.controls.json``)") specifies the file and its language; :mod:`~sendemodul.profiles.rules.element_expr`
compiles its expressions. Every mistake in the table is a
:class:`~sendemodul.profiles.rules.rule_table_file.TableError` at load time naming the control, never a wrong
finding later.

The function is the table's items as nested loops: a group is a ``for`` over its elements (``e1``, ``e2`` ... by
depth, numbered ``n1`` ...), a ``let`` or def an assignment, computed in order when its element becomes current, a
control an ``if`` that appends a finding. In a ``{"tags": [...]}`` group the controls whose ``when`` begins with
``["==", ["tag"], T]`` run only on the elements of tag T (their findings are the same; the others' conditions are
not even computed). A finding's message is a :class:`~sendemodul.i18n.Bilingual`: its Bokmål rendering, which
remembers the Nynorsk one, so that a report shown in Nynorsk has the table's Nynorsk text.
"""

from __future__ import annotations

import functools
import string
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from sendemodul.i18n import Bilingual
from sendemodul.profiles.rules.barnevern_facts import Facts, Finding
from sendemodul.profiles.rules.element_expr import BUILTINS, HELPERS, ExprCompiler, Scope, is_path
from sendemodul.profiles.rules.report import Severity
from sendemodul.profiles.rules.rule_table_file import TableError, load_table, table_file

__all__ = ["ElementControls", "element_controls"]

_SEVERITIES = ("ERROR", "WARNING", "INFO")
_CONTROL_KEYS = frozenset({"id", "severity", "field", "each", "let", "when", "message"})
_GROUP_KEYS = frozenset({"each", "let", "controls"})


def _guard_tag(when: Any) -> str | None:
    """``T`` if ``when`` is ``["==", ["tag"], T]`` or an ``and`` that begins with it."""
    if isinstance(when, list) and when and when[0] == "and" and len(when) > 1:
        when = when[1]
    if isinstance(when, list) and len(when) == 3 and when[0] == "==" and when[1] == ["tag"]:
        return when[2] if isinstance(when[2], str) else None
    return None


class _Generator:
    """Checks one table and writes the source of its function for one reporting year."""

    def __init__(self, table: dict[str, Any], name: str, year: int):
        self.name = name
        macros = table.get("macros", {})
        if not isinstance(macros, dict):
            raise TableError(f"{name}: 'macros' must be an object of name: expression")
        for key in macros:  # every macro is checked, used or not (its names only where it is used)
            self._check_macro(macros, key, [])
        self.expr = ExprCompiler(macros, year)
        self.lines = [
            "def run(e0, facts):",
            " found = []",
            " append = found.append",
            " b_age, b_fnr, b_duf, b_kommunenr = facts.age, facts.fnr, facts.duf, facts.kommunenr",
        ]
        scope = Scope({}, "e0", 0)
        defs = table.get("defs", {})
        if not isinstance(defs, dict):
            raise TableError(f"{name}: 'defs' must be an object of name: expression")
        for key, e in defs.items():
            self.assign(scope, key, e, f"{name} defs", 1)
        controls = table.get("controls")
        if not isinstance(controls, list):
            raise TableError(f"{name}: 'controls' must be a list")
        for i, c in enumerate(controls):
            self.item(c, scope, f"{name} controls[{i}]", 1)
        self.lines.append(" return found")

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

    def emit(self, indent: int, line: str) -> None:
        self.lines.append(" " * indent + line)

    def assign(self, scope: Scope, key: Any, e: Any, where: str, indent: int) -> None:
        local, source = self.expr.define(scope, key, e, where)
        self.emit(indent, f"{local} = {source}")

    def lets(self, c: dict[str, Any], scope: Scope, where: str, indent: int) -> None:
        lets = c.get("let", {})
        if not isinstance(lets, dict):
            raise TableError(f"{where}: 'let' must be an object of name: expression")
        for key, e in lets.items():
            self.assign(scope, key, e, f"{where} let", indent)

    def item(self, c: Any, scope: Scope, where: str, indent: int, tags: list[str] | None = None) -> None:
        if not isinstance(c, dict):
            raise TableError(f"{where}: an item must be an object (a control or a group)")
        if "id" in c:
            unknown = set(c) - _CONTROL_KEYS
            if unknown:
                raise TableError(f"{where} ({c['id']}): unknown keys {sorted(unknown)}")
            if "each" in c:  # short for a group holding this one control
                inner = {k: v for k, v in c.items() if k != "each"}
                self.group({"each": c["each"], "controls": [inner]}, scope, where, indent, wrapped=True)
                return
            guard = _guard_tag(c.get("when")) if tags is not None else None
            if guard is not None:  # in a tags group: only on elements of its tag
                self.emit(indent, f"if {scope.element}.tag == {guard!r}:")
                indent += 1
            self.control(c, scope, f"{where} ({c['id']})", indent)
            return
        if "controls" not in c or "each" not in c:
            raise TableError(f"{where}: an item is a control (with 'id') or a group (with 'each' and 'controls')")
        unknown = set(c) - _GROUP_KEYS
        if unknown:
            raise TableError(f"{where}: unknown keys {sorted(unknown)} in a group")
        self.group(c, scope, where, indent)

    def group(self, c: dict[str, Any], outer: Scope, where: str, indent: int, wrapped: bool = False) -> None:
        depth = outer.depth + 1
        element, elements = f"e{depth}", f"els{depth}"
        each = c["each"]
        tags = None
        if is_path(each):
            self.emit(indent, f"{elements} = {outer.element}.findall({each!r})")
            numbering = f"n{depth} = i{depth} + 1"
        elif isinstance(each, dict) and set(each) == {"tags"} and isinstance(each["tags"], list) and each["tags"]:
            tags = each["tags"]
            if not all(isinstance(t, str) and is_path(t) and "/" not in t for t in tags):
                raise TableError(f"{where}: 'tags' must list element names")
            wanted = self.expr.constant(frozenset(tags))
            self.emit(indent, f"{elements} = [x for x in {outer.element}.iter() if x.tag in {wanted}]")
            self.emit(indent, f"c{depth} = {{}}")
            numbering = f"n{depth} = c{depth}[{element}.tag] = c{depth}.get({element}.tag, 0) + 1"
        else:
            raise TableError(f"{where}: 'each' must be a plain path (Melding/Undersokelse) or {{\"tags\": [...]}}")
        self.emit(indent, f"for i{depth}, {element} in enumerate({elements}):")
        self.emit(indent + 1, numbering)
        scope = outer.child(element=element, depth=depth)
        self.lets(c, scope, where, indent + 1)
        controls = c["controls"]
        if not isinstance(controls, list) or not controls:
            raise TableError(f"{where}: a group's 'controls' must be a non-empty list")
        for i, sub in enumerate(controls):
            self.item(sub, scope, where if wrapped else f"{where}.controls[{i}]", indent + 1, tags)

    def control(self, c: dict[str, Any], outer: Scope, where: str, indent: int) -> None:
        rule_id = c["id"]
        if not isinstance(rule_id, str) or not rule_id:
            raise TableError(f"{where}: 'id' must be a text")
        severity = c.get("severity")
        if severity not in _SEVERITIES:
            raise TableError(f"{where}: unknown severity {severity!r} (ERROR, WARNING or INFO)")
        field = c.get("field")
        if field is not None and not isinstance(field, str):
            raise TableError(f"{where}: 'field' must be a text or null")
        if "when" not in c:
            raise TableError(f"{where}: a control needs 'when'")
        message = c.get("message")
        if not isinstance(message, dict) or set(message) != {"nb", "nn"}:
            raise TableError(f"{where}: 'message' must have exactly 'nb' and 'nn'")
        scope = outer.child()
        self.lets(c, scope, where, indent)
        when = self.expr.compile(c["when"], scope, f"{where} when")
        nb = self.message(message["nb"], scope, f"{where} message nb")
        nn = self.message(message["nn"], scope, f"{where} message nn")
        self.emit(indent, f"if {when}:")
        self.emit(indent + 1, f"append(({rule_id!r}, _{severity}, {field!r}, _Bilingual({nb}, {nn})))")

    def message(self, m: Any, scope: Scope, where: str) -> str:
        if isinstance(m, list) and len(m) == 4 and m[0] == "if":
            cond = self.expr.compile(m[1], scope, where)
            yes, no = self.message(m[2], scope, where), self.message(m[3], scope, where)
            return f"({yes} if {cond} else {no})"
        if not isinstance(m, str):
            raise TableError(f'{where}: a message is a text or ["if", condition, message, message]')
        try:
            parsed = list(string.Formatter().parse(m))
        except ValueError as e:
            raise TableError(f"{where}: {e}") from None
        parts = []
        for literal, name, spec, conversion in parsed:
            if literal:
                parts.append(repr(literal))
            if name is None:
                continue
            if spec or conversion or not name.isidentifier():
                raise TableError(f"{where}: {{{name}}} must be a plain name")
            if name not in scope.names and name not in BUILTINS:
                raise TableError(f"{where}: {{{name}}} is not a name visible here")
            parts.append(f"_show({self.expr.name(name, scope, where)})")
        return f"({' + '.join(parts) or repr('')})"


class ElementControls:
    """A rule table compiled for one reporting year."""

    def __init__(self, table: dict[str, Any], name: str, year: int):
        generator = _Generator(table, name, year)
        #: The generated function's source (for a reader; tests print it).
        self.source = "\n".join(generator.lines) + "\n"
        namespace: dict[str, Any] = {
            **HELPERS,
            **generator.expr.constants,
            "_Bilingual": Bilingual,
            **{f"_{s}": Severity[s] for s in _SEVERITIES},
        }
        exec(compile(self.source, f"<{name} {year}>", "exec"), namespace)  # the table's, checked: see element_expr
        self._run: Callable[[ET.Element, Facts], list[Finding]] = namespace["run"]

    def run(self, individ: ET.Element, facts: Facts) -> list[Finding]:
        """Every finding of the table's controls for one ``Individ``, in the table's order."""
        return self._run(individ, facts)


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
