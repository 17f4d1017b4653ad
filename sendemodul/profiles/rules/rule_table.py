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

This module generates the two functions and holds :class:`ControlTable`; the parts live beside it and are re-exported
here: the values functions in :mod:`~sendemodul.profiles.rules.rule_values`, reading the table and its operators in
:mod:`~sendemodul.profiles.rules.rule_table_file`, the compiler's machinery in
:mod:`~sendemodul.profiles.rules.rule_compiler` and its operators in :mod:`~sendemodul.profiles.rules.rule_operators`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.report import Severity
from sendemodul.profiles.rules.rule_compiler import _Code
from sendemodul.profiles.rules.rule_operators import _Compiler
from sendemodul.profiles.rules.rule_table_file import OPERATORS, TableError, load_table, table_file
from sendemodul.profiles.rules.rule_values import month_sum, ssb_birth_year, ssb_date, ssb_int

__all__ = [
    "OPERATORS",
    "ControlTable",
    "TableError",
    "Values",
    "Violation",
    "load_table",
    "month_sum",
    "ssb_birth_year",
    "ssb_date",
    "ssb_int",
    "table_file",
]

if TYPE_CHECKING:
    from sendemodul.profiles.rules.rule_block import BlockControls

Values = dict[str, str]
#: A finding of a control: severity, SSB's id, the field it names, the message.
Violation = tuple[Severity, str, "str | None", str]


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
        self._profile, self._context = profile, context
        self._block: BlockControls | None = None

    @property
    def block(self) -> BlockControls:
        """The same controls for a block of lines at once (numpy; built on first use: most commands never need it)."""
        if self._block is None:
            from sendemodul.profiles.rules.rule_block import BlockControls

            self._block = BlockControls(self._profile, self._context, self.table, self._line_function)
        return self._block

    def _line_function(self, control: dict[str, Any]) -> Callable[[str], bool]:
        """``passes`` of the table with only ``control`` (and the defs): for a control the block form runs line by
        line."""
        table = {**self.table, "controls": [control]}
        source, namespace, _ = _generate(self._profile, self._context, table, "line")
        exec(compile(source, f"<{self._profile.register} rule table: line {control['id']}>", "exec"), namespace)
        function: Callable[[str], bool] = namespace["passes"]
        return function

    @property
    def control_ids(self) -> list[str]:
        return [control["id"] for control in self.table["controls"]]
