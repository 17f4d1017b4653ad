"""Field rules: each field's value against its profile specification (mandatory, the unit's and the year's values,
type, date, length, code list, the bydel rule), and the regular expressions that accept exactly the values a fixed-width
field may hold."""

from __future__ import annotations

import datetime
import functools
import re

from sendemodul import identity
from sendemodul.errors import BydelError, KommunenrError
from sendemodul.profiles.model import FieldSpec, Profile

__all__ = ["Context", "FieldRule", "allowed_bydeler", "digits_only", "parse_date"]

#: Longer values are never shown in a message (they might be, or hold, an identifier).
_SHOW_MAX_CHARS = 4


def _show(value: str) -> str:
    """`` (found 'x')`` for a short value; nothing for a longer one, which could be (part of) an identifier."""
    return f" (found {value!r})" if 0 < len(value) <= _SHOW_MAX_CHARS else ""


def digits_only(value: str) -> bool:
    """Whether ``value`` is one or more ASCII digits."""
    return value.isascii() and value.isdigit()


_DATE_SHAPES = {
    "ddMMyyyy": re.compile(r"(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{4}"),
    "yyyy-MM-dd": re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"),
}


@functools.lru_cache(maxsize=8192)
def parse_date(value: str, date_format: str) -> datetime.date | None:
    """The date, or ``None`` if ``value`` is not one in ``date_format``."""
    if not _DATE_SHAPES[date_format].fullmatch(value):
        return None
    if date_format == "ddMMyyyy":
        day, month, year = int(value[:2]), int(value[2:4]), int(value[4:])
    else:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:])
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def allowed_bydeler(unit: identity.Unit, year: int) -> tuple[frozenset[str], str]:
    """The values a record's bydel field may hold for ``unit`` (``""`` = blank), and that rule in words.

    A unit reporting for one bydel: that bydel. A kommune with bydeler (Oslo) reporting as a whole: each record names
    one of its reporting bydeler (01-15). Any other kommune: blank, or 00.
    """
    if unit.bydel != "00":
        return frozenset({unit.bydel}), f"must be the unit's bydel {unit.bydel}"
    reporting = []
    for number in range(1, 100):
        try:
            reporting.append(identity.check_bydel(unit.kommunenr, f"{number:02d}", year))
        except BydelError:
            continue
    if reporting:
        return frozenset(reporting), f"must be one of {unit.kommunenr}'s bydeler {reporting[0]}-{reporting[-1]}"
    return frozenset({"", "00"}), f"must be blank (or 00): {unit.kommunenr} has no bydeler"


class Context:
    """What the field rules compare against: the unit and the year."""

    def __init__(self, profile: Profile, unit: identity.Unit):
        self.periode = profile.periode
        self.expected = {
            "kommunenr": unit.kommunenr,
            "orgnr": unit.orgnr,
            "version": f"{profile.periode % 100:02d}",
            "periode": str(profile.periode),
        }
        self.bydeler, self.bydel_rule = allowed_bydeler(unit, profile.periode)
        if profile.controls in ("sosialhjelp", "kvalifisering") and "00" in self.bydeler:  # SSB's K003: blank only
            self.bydeler, self.bydel_rule = frozenset({""}), f"must be blank: {unit.kommunenr} has no bydeler"
        self._kommuner: dict[str, bool] = {}

    def kommunenr_valid(self, code: str) -> bool:
        """Whether ``code`` is a kommunenummer in force in the profile's year (memoized)."""
        valid = self._kommuner.get(code)
        if valid is None:
            try:
                identity.kommune(code, self.periode)
                valid = True
            except KommunenrError:
                valid = False
            self._kommuner[code] = valid
        return valid


_ROLE_RULES = {
    "kommunenr": ("KOMMUNENR", "the unit's kommunenr"),
    "orgnr": ("ORGNR", "the unit's orgnr"),
    "version": ("VERSION", "the last two digits of the periode"),
    "periode": ("VERSION", "the periode"),
}


class FieldRule:
    """The field-level rules of one field: mandatory, the role's value, type, length, code list."""

    def __init__(self, spec: FieldSpec, context: Context, label: str | None = None):
        self.spec = spec
        self.label = label or spec.name
        self.context = context
        role = spec.role
        self.expected = context.expected.get(role) if role is not None else None
        #: For a role with a value to compare to: the rule that a different value breaks, and that value in words.
        self._role_rule = _ROLE_RULES[role] if role is not None and self.expected is not None else None

    def problem(self, value: str) -> tuple[str, str] | None:
        """``(rule, message)`` for the first rule ``value`` breaks, else ``None``. Padding spaces do not count."""
        spec, label = self.spec, self.label
        if not spec.checked:
            return None
        v = value.strip(" ")
        if spec.role == "bydel":
            if v in self.context.bydeler:
                return None
            return "BYDEL", f"{label} {self.context.bydel_rule}{_show(v)}"
        if not v:
            return ("MANDATORY", f"{label} must be filled in") if spec.mandatory else None
        if self._role_rule is not None and v != self.expected:
            rule, what = self._role_rule
            return rule, f"{label} must be {what}, {self.expected}{_show(v)}"
        if spec.type == "integer" and not digits_only(v):
            return "INTEGER", f"{label} must be a whole number (digits only){_show(v)}"
        if spec.date_format is not None and parse_date(v, spec.date_format) is None:  # a date field
            return "DATE", f"{label} must be a valid date written {spec.date_format}{_show(v)}"
        if spec.max_length is not None and len(v) > spec.max_length:
            return "LENGTH", f"{label} is {len(v)} characters long; at most {spec.max_length} are allowed"
        if spec.min_length is not None and len(v) < spec.min_length:
            return "LENGTH", f"{label} is {len(v)} characters long; at least {spec.min_length} are needed"
        if (
            (spec.codes or spec.codes_from)
            and v not in spec.codes
            and not (spec.codes_from and self.context.kommunenr_valid(v))
        ):
            return "CODE", f"{label} must be {self._codes_in_words()}{_show(v)}"
        return None

    def _codes_in_words(self) -> str:
        if self.spec.codes_from:
            extra = "".join(f" or {code} ({text})" for code, text in self.spec.codes.items())
            return f"a kommunenummer valid in {self.context.periode}{extra}"
        codes = list(self.spec.codes)
        return f"one of the codes {', '.join(codes[:-1])} or {codes[-1]}" if len(codes) > 1 else f"{codes[0]}"

    def pattern(self) -> str:
        """Fixed width: a regular expression for the field's text that matches exactly the values :meth:`problem`
        accepts, except that a date is matched by its shape and a ``codes_from`` code by its digits only (see
        :attr:`needs_python`). Padding spaces may surround any value."""
        spec = self.spec
        if not spec.checked:
            return "[^\\n]*"
        if spec.role == "bydel":
            return _padded(sorted(b for b in self.context.bydeler if b), blank="" in self.context.bydeler)
        if self.expected is not None:
            core = re.escape(self.expected)
        elif spec.codes_from:
            core = "[0-9]+"
        elif spec.codes:
            core = "|".join(re.escape(code) for code in spec.codes)
        elif spec.type == "integer":
            core = "[0-9]+"
        elif spec.date_format is not None:  # a date field
            core = _DATE_SHAPES[spec.date_format].pattern
        elif spec.mandatory:
            return "[ ]*[^ \\n][^\\n]*"
        else:
            return "[^\\n]*"
        return _padded([core], blank=not spec.mandatory)

    def exact_pattern(self) -> str:
        """Fixed width: a regular expression for exactly ``length`` characters, so that the fields of a record need
        no separators. It matches only texts that :meth:`pattern` matches: the same ones (every way to pad each value
        to the width spelled out), except that a number is matched only left-aligned, right-aligned or filling the
        field (a text it does not match is then checked by :meth:`problem`, which decides)."""
        spec, width = self.spec, self.spec.width
        digits = None
        if not spec.checked:
            return f"[^\\n]{{{width}}}"
        if spec.role == "bydel":
            values, blank = sorted(b for b in self.context.bydeler if b), "" in self.context.bydeler
        elif self.expected is not None:
            values, blank = [self.expected], not spec.mandatory
        elif spec.codes_from or spec.type == "integer":
            values, blank, digits = [], not spec.mandatory, True
        elif spec.codes:
            values, blank = list(spec.codes), not spec.mandatory
        elif spec.date_format is not None:  # a date field
            shape = _DATE_SHAPES[spec.date_format]
            return _exact_width([(f"(?:{shape.pattern})", len(spec.date_format))], width, blank=not spec.mandatory)
        elif spec.mandatory:
            return f"(?![ ]{{{width}}})[^\\n]{{{width}}}"
        else:
            return f"[^\\n]{{{width}}}"
        if digits:
            return _aligned_digits(width, blank=blank)
        return _exact_width([(re.escape(value), len(value)) for value in values], width, blank=blank)

    @property
    def needs_python(self) -> bool:
        """Whether :meth:`pattern` is only a shape check, so that :meth:`problem` must still run on a match."""
        return self.spec.checked and (self.spec.type == "date" or bool(self.spec.codes_from))


def _aligned_digits(width: int, *, blank: bool) -> str:
    """A regular expression for exactly ``width`` characters: digits then spaces (digits first), spaces then digits,
    or (if ``blank``) spaces only. The first character picks the branch, so a text is tried against few
    alternatives."""
    left = "|".join(f"[0-9]{{{digits}}}[ ]{{{width - 1 - digits}}}" for digits in range(width - 1, -1, -1))
    right = [f"[ ]{{{spaces}}}[0-9]{{{width - 1 - spaces}}}" for spaces in range(width - 1)]
    if blank:
        right.append(f"[ ]{{{width - 1}}}")
    return f"[0-9](?:{left})" + (f"|[ ](?:{'|'.join(right)})" if right else "")


def _exact_width(choices: list[tuple[str, int]], width: int, *, blank: bool) -> str:
    """A regular expression for exactly ``width`` characters: one of ``choices`` (a regular expression and the fixed
    length of what it matches) with padding spaces before and after, or (if ``blank``) spaces only."""
    alternatives = [
        f"[ ]{{{before}}}{choice}[ ]{{{width - length - before}}}"
        for choice, length in choices
        if length <= width
        for before in range(width - length + 1)
    ]
    if blank:
        alternatives.append(f"[ ]{{{width}}}")
    return "|".join(alternatives) if alternatives else "(?!)"


def _padded(choices: list[str], *, blank: bool) -> str:
    """A regular expression for one of ``choices`` (regular expressions) surrounded by padding spaces, or (if
    ``blank``) for padding only."""
    alternatives = "|".join(choices)
    return f"[ ]*(?:{alternatives}){'?' if blank else ''}[ ]*" if choices else "[ ]*"
