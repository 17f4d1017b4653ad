"""The block compiler's core (:class:`_BlockNodes`): the nodes of the block form and the rule tables' general
operators over them (fields and their membership, comparisons, arithmetic, ``and``/``or``/``not``/``if``, blank and
null), for :class:`~sendemodul.profiles.rules.rule_block.BlockControls`.

Why the seam is here: these operators are the expression language itself and know nothing of SSB's ways of reading
a field; SSB's readers (numbers, dates, birth years, kommune numbers, DUF numbers) are built on top of them in
:mod:`~sendemodul.profiles.rules.rule_block_compiler`. An operator or operand kind with no array form raises
:class:`~sendemodul.profiles.rules.rule_block_columns._Unsupported`: its control runs line by line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.rule_block_columns import _B, _Block, _constant, _Unsupported, padded_forms
from sendemodul.profiles.rules.rule_compiler import _METHOD_NAMES, _CompilerBase, _is_codes_of, _is_field
from sendemodul.profiles.rules.rule_operators import _PY_OPS, _cmp

if TYPE_CHECKING:
    import numpy as np

__all__: list[str] = []


class _BlockNodes(_CompilerBase):
    """The nodes and the general operators of the block compiler (``b_<op>``; SSB's readers are added by
    :class:`~sendemodul.profiles.rules.rule_block_compiler._BlockCompiler`), with the line compiler's knowledge of
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
        if width <= 2:  # the field's byte or two read in place as one number a line, compared with each form's
            start = self.specs[name].span[0]
            codes = sorted(int.from_bytes(f, "little") for f in forms)
            if len(codes) > 4:
                return self.node("bool", lambda b: np.isin(b.packed.code(b.raw, start, width), codes))

            def small(b: _Block) -> np.ndarray:
                values = b.packed.code(b.raw, start, width)
                found: np.ndarray = values == codes[0]
                for code in codes[1:]:
                    found |= values == code
                return found

            return self.node("bool", small)
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
            found = self.def_nodes[key] = self.node("key", lambda b: b.packed.get(b.raw, start, end - start))
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
