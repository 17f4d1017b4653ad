"""The operators of the rule tables' expression language, each compiled to Python source (``op_<name>``), and the
messages (templates over named values).

A module of its own because the operators are the language: each one knows what the field rules already guarantee
in line mode and folds or shortens its code accordingly, while the machinery they build on (reading fields, names,
constants) is in :mod:`~sendemodul.profiles.rules.rule_compiler`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from sendemodul.profiles.rules.rule_compiler import (
    _TEMPLATE_NAME,
    _Code,
    _CompilerBase,
    _constant,
    _is_codes_of,
    _is_field,
    _null_tested,
)
from sendemodul.profiles.rules.rule_table_file import TableError
from sendemodul.profiles.rules.rule_values import ssb_int


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        return a is not None and b is not None and op(a, b)

    return compare


_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _Compiler(_CompilerBase):
    """The compiler with its operators: ``op_<name>`` compiles ``[name, ...args]`` (see
    :data:`~sendemodul.profiles.rules.rule_table_file.OPERATORS`)."""

    def op_f(self, args: list[Any], where: str) -> _Code:
        fixed = self.fixed_value(args[0])
        return _constant(fixed) if fixed is not None else self.field(args[0])

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
