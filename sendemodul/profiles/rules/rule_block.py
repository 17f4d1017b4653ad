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
from typing import TYPE_CHECKING, Any

from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.rule_block_columns import (
    _B,
    PackedFields,
    TextOf,
    _Block,
    _Unsupported,
    packed_field,
    padded_forms,
)
from sendemodul.profiles.rules.rule_block_compiler import _BlockCompiler

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BlockControls", "packed_field", "padded_forms"]


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

    def passes(self, raw: np.ndarray, text_of: TextOf, packed: PackedFields | None = None) -> np.ndarray:
        """Whether each line of ``raw`` (``(n, record length + 1)`` uint8: lines that passed the field rules, each
        with its LF) breaks no control; ``text_of(i)``: line ``i``'s text (for the controls run line by line)."""
        import numpy as np

        block = _Block(raw, text_of, packed)
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


#: The line compiler's ``passes`` for one control of the table.
LineFunction = Callable[[dict[str, Any]], Callable[[str], bool]]
