"""The TPF step's work on the identities part (:class:`Pseudonymize`): each ID classified and pseudonymized, the
pseudonyms lines written, the classes counted and the invalid IDs noted for the unit's feedback.

:func:`sendemodul.package.make_package` feeds it the identities' plaintext as it is decrypted, line by line or a
block at a time; the pseudonyms lines of a block may be made in a child process
(:mod:`sendemodul.pseudonym_child`). No ID is kept: only counts, pseudonyms and, for invalid IDs, the row and field.
"""

import collections
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sendemodul import identity
from sendemodul.container import ID_TYPE_PATTERN
from sendemodul.errors import PartContentError
from sendemodul.identity import fnr_tables
from sendemodul.pseudonym import id_kind
from sendemodul.pseudonym_child import LINE_MARK, MAX_CODES, join_lines

#: At most this many invalid IDs are listed in the feedback of one container; the seal counts all of them.
FEEDBACK_LIMIT = 1000
#: :meth:`Pseudonymize.block` sends a block to the pseudonym child only while fewer than this many are sent and not
#: answered (each about 1 MiB in a pipe or in this process); with more, the child is behind, and this process makes
#: the block's lines itself. So neither process waits for the other, and each takes the share of the work that the
#: machine's cores leave it time for.
CHILD_BLOCKS_IN_FLIGHT = 3
#: :meth:`Pseudonymize.block` waits for the child's answers only with this many blocks' lines not yet written (the
#: child's and those made here while the child's were on their way, which must wait their turn): the memory bound.
MAX_PENDING_BLOCKS = 8
#: Classes that get a pseudonym (valid IDs of a person), and classes that are not listed in the feedback.
_PSEUDONYM_CLASSES = frozenset(
    c for c in identity.IdClass if identity.ClassifiedId(c, None, None).valid and c is not identity.IdClass.PLACEHOLDER
)
_NO_FEEDBACK = frozenset(
    c for c in identity.IdClass if identity.ClassifiedId(c, None, None).valid or c is identity.IdClass.MISSING
)


#: :meth:`Pseudonymize.block`'s codes of the two kinds of ID field.
_FNR_KIND, _DUF_KIND = 0, 1
#: A block with more ID field names than this goes line by line (a register has a few).
_MAX_NAMES = 16


@dataclass(frozen=True)
class Feedback:
    """One invalid ID, for the unit: which row and field, and what was wrong. Never the ID itself."""

    row_id: str
    id_type: str
    id_class: identity.IdClass


class Pseudonymize:
    """``on_line`` and ``on_block`` for the identities part: classify, pseudonymize, count, and write pseudonyms lines.

    :meth:`block` (blocks of rows, the usual way in) classifies IDs of exactly 11 digits (fnr) or 12 (DUF) a block
    at a time by array arithmetic (numpy), passes any other ID to ``classify``, and pseudonymizes a block's IDs at
    once (:meth:`~sendemodul.pseudonym.Pseudonymizer.pseudonyms`); it gives the same lines, counts and feedback as
    ``on_line`` (the tests compare them).
    """

    def __init__(self, pseudonymizer, classify, out, child=None):
        self._pseudonymizer = pseudonymizer
        self._classify = classify
        self._out = out
        #: A :class:`~sendemodul.pseudonym_pipe.PseudonymChild` that makes :meth:`block`'s pseudonyms, or None.
        self._child = child
        #: :meth:`block`'s lines not yet written, in order: bytes made here, or None for the child's next answer.
        self._pending = collections.deque()
        self._kinds = {}
        self._kinds_bytes = {}
        self.counts = dict.fromkeys(identity.IdClass, 0)
        self.feedback = []
        self.feedback_omitted = 0
        #: In :meth:`block` a class is its label, the end of its pseudonyms line (bytes: hashed much faster than enums).
        self._labels = {c: f"{c}\n".encode("ascii") for c in identity.IdClass}
        #: :meth:`block` classifies the IDs of the usual shapes itself only where ``classify`` is classify_id.
        self._fast = classify is identity.classify_id
        #: In :meth:`block` a line's class is a code: an index into these.
        self._code_classes = tuple(identity.IdClass)
        if len(self._code_classes) > MAX_CODES:  # join_lines marks each line's end with its class code
            raise AssertionError("more ID classes than join_lines has line marks")
        self._code_of = {c: i for i, c in enumerate(self._code_classes)}
        self._code_labels = tuple(self._labels[c] for c in self._code_classes)
        self._array_codes = np.asarray([self._code_of[c] for c in fnr_tables.ARRAY_CLASSES], np.int8)
        self._missing_code = self._code_of[identity.IdClass.MISSING]
        self._duf_code = self._code_of[identity.IdClass.DUF]
        self._bad_checksum_code = self._code_of[identity.IdClass.BAD_CHECKSUM]
        self._with_pseudonym_codes = np.asarray([c in _PSEUDONYM_CLASSES for c in self._code_classes])
        self._with_feedback_codes = np.asarray([c not in _NO_FEEDBACK for c in self._code_classes])
        #: An ID field name (bytes) -> _FNR_KIND or _DUF_KIND.
        self._kind_codes = {}
        #: ``<TAB>CLASS<LF>`` of each class code, joined, and where each one starts and how long it is.
        #: :func:`~sendemodul.pseudonym_child.join_lines`'s layout: the pseudonym prefix, per class code its
        #: ``<TAB>CLASS<LF>`` and whether it has a pseudonym.
        self.layout = (
            pseudonymizer._prefix_bytes,
            tuple(b"\t" + label for label in self._code_labels),
            tuple(bool(flag) for flag in self._with_pseudonym_codes),
        )

    def _kind(self, id_type):
        kind = self._kinds.get(id_type)
        if kind is None:
            if not ID_TYPE_PATTERN.fullmatch(id_type):
                raise PartContentError.detail("identities: an ID field name is not valid")
            kind = self._kinds[id_type] = id_kind(id_type)
        return kind

    def _note(self, row_id, id_type, id_class, n=1):
        """Count ``n`` IDs of ``id_class``; list an invalid one in the feedback."""
        self.counts[id_class] += n
        if id_class not in _NO_FEEDBACK:
            if len(self.feedback) < FEEDBACK_LIMIT:
                self.feedback.append(Feedback(row_id, id_type, id_class))
            else:
                self.feedback_omitted += 1

    def __call__(self, row_id, id_type, raw_id):
        if self._pending:
            self.finish()
        classified = self._classify(raw_id, self._kind(id_type))
        self._note(row_id, id_type, classified.id_class)
        self._out.write(f"{row_id}\t{id_type}\t{self._pseudonymizer(classified)}\t{classified.id_class}\n".encode())

    def block(self, block, ends=None, tabs=None):
        """``on_block``: the pseudonyms lines of a block of ``row_id<TAB>id_type<TAB>id`` lines (bytes), with the
        positions of its line breaks and TABs if the parser found them (else they are found here).

        By array arithmetic over the block's bytes (numpy) rather than a split into three objects per line: the
        line breaks and TABs give each line's fields; the lines of each ID field name are found by comparing its
        bytes; the IDs of exactly 11 digits in an fnr field and 12 in a DUF field are classified together
        (:func:`~sendemodul.identity.fnr_tables.classify_fnr_array`), any other goes to ``classify``; the block's
        IDs are pseudonymized at once, and the output is joined from the block's line starts, the pseudonyms and the
        class labels (:func:`~sendemodul.pseudonym_child.join_lines`, in the child process if there is one). A block
        with an ID holding a TAB, or of many field names, goes line by line (:meth:`_lines`); both give the same
        lines, counts and feedback.
        """
        if not self._fast:  # another classify: line by line
            self._lines(block)
            return
        data = np.frombuffer(block, np.uint8)
        if ends is None:
            ends = np.flatnonzero(data == 10)
        if tabs is None:
            tabs = np.flatnonzero(data == 9)
        n = len(ends)
        if len(tabs) != 2 * n:  # an ID holds a TAB
            self._lines(block)
            return
        # The parser checked that each line has at least two TABs (so here exactly two) and starts with a row_id
        # and a TAB: the field name is [start + 25, second TAB), the ID (second TAB, line break).
        starts = np.empty(n, np.intp)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        tab2 = tabs[1::2]
        names = self._names(block, data, starts + 25, tab2)
        if names is None:
            self._lines(block)
            return
        name_of, name_list = names
        kinds = np.asarray([self._kind_codes[name] for name in name_list], np.int8)[name_of]
        values = tab2 + 1
        lengths = ends - values
        codes = np.full(n, self._missing_code, np.int8)
        by_python = lengths > 0
        canonical_of = {}
        for kind, width in ((_FNR_KIND, 11), (_DUF_KIND, 12)):
            lines = np.flatnonzero((kinds == kind) & (lengths == width))
            if not len(lines):
                continue
            digits = data[values[lines, None] + np.arange(width)]
            numeric = ((digits >= 48) & (digits <= 57)).all(axis=1)
            lines, digits = lines[numeric], digits[numeric]
            if kind == _FNR_KIND:
                classes, _ = fnr_tables.classify_fnr_array(digits)
                codes[lines] = self._array_codes[classes]
            else:
                codes[lines] = np.where(fnr_tables.duf_ok_array(digits), self._duf_code, self._bad_checksum_code)
            by_python[lines] = False
        for i in np.flatnonzero(by_python).tolist():  # letters, other lengths: as classify_id says
            classified = self._classify(
                block[values[i] : ends[i]].decode("utf-8"), self._kinds_bytes[name_list[name_of[i]]]
            )
            codes[i] = self._code_of[classified.id_class]
            if classified.canonical is not None:
                canonical_of[i] = classified.canonical.encode("ascii")
        pseudonym_of = self._with_pseudonym_codes[codes]
        slots = np.flatnonzero(pseudonym_of)
        joined = self._joined_ids(block, data, slots, values, ends, canonical_of)
        counts = np.bincount(codes, minlength=len(self._code_classes)).tolist()
        for id_class, count in zip(self._code_classes, counts):
            self.counts[id_class] += count
        for i in np.flatnonzero(self._with_feedback_codes[codes]).tolist():
            row_id = block[starts[i] : starts[i] + 24].decode("ascii")
            self._note(row_id, name_list[name_of[i]].decode("ascii"), self._code_classes[codes[i]], 0)
        kept = self._kept(data, ends, values, codes)
        codes_bytes = codes.tobytes()
        count = len(slots)
        if self._child is None:
            encoded = self._pseudonymizer.base32(joined.split(b"\n") if count else ())
            self._out.write(join_lines(kept, codes_bytes, encoded, self.layout))
            return
        # The child hashes this block's IDs and joins its lines while this process decrypts, checks and classifies
        # the next ones. When the child is behind (CHILD_BLOCKS_IN_FLIGHT blocks not answered, or no room in its
        # input pipe), this process makes the block's lines itself, with the same functions, rather than wait for
        # it; the lines are written in order.
        child = self._child
        behind = child.in_flight >= CHILD_BLOCKS_IN_FLIGHT and not child.ready()
        if not behind and child.submit(count, joined, kept, codes_bytes, wait=False):
            self._pending.append(None)
        else:  # the child is behind, or its input pipe is full
            encoded = self._pseudonymizer.base32(joined.split(b"\n") if count else ())
            self._pending.append(join_lines(kept, codes_bytes, encoded, self.layout))
        self._write_pending(MAX_PENDING_BLOCKS)

    def use_child(self, child):
        """Have ``child`` (a :class:`~sendemodul.pseudonym_pipe.PseudonymChild` with :attr:`layout`, or None) make
        the lines of :meth:`block`."""
        self._child = child

    def finish(self):
        """Write the lines still waiting (for the child, or for the child's answers before them): after the last
        block, before the output is read, and before any line that does not go through :meth:`block`."""
        self._write_pending(0)

    def _write_pending(self, keep):
        """Write the pending lines in order: waiting for the child's answers while more than ``keep`` blocks are
        pending, then as far as they have come."""
        pending = self._pending
        while pending:
            lines = pending[0]
            if lines is None:
                if len(pending) <= keep and not self._child.ready():
                    return
                lines = self._child.answer()
            self._out.write(lines)
            pending.popleft()

    def _joined_ids(self, block, data, slots, values, ends, canonical_of):
        """The IDs of the lines ``slots`` (their canonical form where ``canonical_of`` has one), joined by line
        breaks. Where they are all as wide (the usual block: fnr of 11 digits), by one gather of each ID with its
        line break (numpy), not a slice per ID."""
        if not len(slots):
            return b""
        widths = ends[slots] - values[slots]
        if not canonical_of and (widths == widths[0]).all():
            return data[values[slots, None] + np.arange(int(widths[0]) + 1)].tobytes()[:-1]
        canonical = list(map(block.__getitem__, map(slice, values[slots].tolist(), ends[slots].tolist())))
        for k, i in enumerate(slots.tolist() if canonical_of else ()):
            canonical[k] = canonical_of.get(i, canonical[k])
        return b"\n".join(canonical)

    def _kept(self, data, ends, values, codes):
        """The block (``data``, its bytes as an array) without its IDs, each line's ``row_id<TAB>id_type<TAB>``
        ended by its class's mark instead of its line break (:func:`~sendemodul.pseudonym_child.join_lines`), joined.

        The bytes alternate: kept up to an ID, the ID dropped, kept from its line break up to the next ID, ...
        """
        n = len(ends)
        bounds = np.empty(2 * n + 2, np.intp)
        bounds[0], bounds[-1] = 0, len(data)
        bounds[1:-1:2], bounds[2:-1:2] = values, ends
        kept_bytes = np.repeat(np.arange(2 * n + 1) % 2 == 0, np.diff(bounds))
        marked = data.copy()
        marked[ends] = codes + LINE_MARK
        return marked[kept_bytes].tobytes()

    def _names(self, block, data, first, after):
        """Which ID field name each line has: ``(index per line, [names as bytes])``, or None if a block has more
        than :data:`_MAX_NAMES` of them. Each new name is checked (:meth:`_kind_of`); the lines with the same bytes
        are found by one comparison of the array of their bytes with it."""
        n = len(first)
        name_of = np.full(n, -1, np.int16)
        sizes = after - first
        name_list = []
        left = np.arange(n)
        while len(left):
            if len(name_list) == _MAX_NAMES:
                return None
            i = left[0]
            name = block[first[i] : after[i]]
            if name not in self._kinds_bytes:
                self._kind_of(name)
            same = left[sizes[left] == len(name)]
            if len(name):
                same = same[_equal_at(data, first[same], name)]
            name_of[same] = len(name_list)
            name_list.append(name)
            left = left[name_of[left] < 0]
        return name_of, name_list

    def _lines(self, block):
        """The pseudonyms lines of ``block`` one line at a time (``on_line``)."""
        self.finish()
        for line in block.split(b"\n")[:-1]:
            self(*line.decode("utf-8").split("\t", 2))

    def _kind_of(self, id_type):
        """The kind of an ID field name (bytes) first seen in :meth:`block`, checked as in ``on_line``."""
        kind = self._kinds_bytes[id_type] = self._kind(id_type.decode("utf-8"))
        self._kind_codes[id_type] = _FNR_KIND if kind == "fnr" else _DUF_KIND
        return kind


def _equal_at(data, positions, text):
    """Whether the bytes of ``data`` (a uint8 array) at each of ``positions`` begin with ``text`` (bytes; each
    position has at least ``len(text) + 1`` bytes after it).

    A text of 8 bytes or more is compared as the 8-byte words that cover it (the last one overlapping), each
    gathered from a view of ``data`` as a word at every byte (unaligned, no copy): a few gathers of one number per
    position instead of one of ``len(text)`` bytes per position through an index array."""
    width = len(text)
    if width < 8:
        return (sliding_window_view(data, width)[positions] == np.frombuffer(text, np.uint8)).all(axis=1)
    words = np.ndarray((len(data) - 7,), "<u8", buffer=data, strides=(1,))
    equal = np.ones(len(positions), bool)
    for offset in (*range(0, width - 8, 8), width - 8):
        equal &= words[positions + offset] == int.from_bytes(text[offset : offset + 8], "little")
    return equal
