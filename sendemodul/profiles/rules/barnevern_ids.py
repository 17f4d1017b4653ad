"""15F: SSB's barnevern controls by id: their titles (the report's group headings, in our words), and which of SSB's
controls a finding of our generic rules stands for, in an ``Individ`` (:func:`record_control`) or on ``Avgiver``
(:func:`header_control`). The data is the rule table's (``15F.controls.json``: ``titles``, ``record_controls``,
``header_controls``, ``header_patterns``), which the browser module reads too; the two special cases of
:func:`header_control` are code on both sides."""

from __future__ import annotations

from sendemodul.identity.checkdigits import ascii_digits
from sendemodul.profiles.rules.rule_table_file import load_table

__all__ = ["TITLES", "header_control", "record_control"]


_TABLE = load_table("15F")
#: Every control of SSB's barnevern program (``AvgiverRuleId``, ``IndividRuleId``) and what it checks, in our words.
TITLES: dict[str, str] = _TABLE["titles"]
#: Our generic rules as SSB's controls, for a finding in a record (an ``Individ``); a field-specific entry
#: (``RULE@field``) wins over the rule's own. A rule not here reports as itself (it has no counterpart at SSB).
_RECORD_CONTROLS: dict[str, str] = _TABLE["record_controls"]
#: The same for a finding on ``Avgiver``; SSB's XSD refuses a value that is not of the form its pattern says (then
#: Avgiver01, see :func:`header_control`).
_HEADER_CONTROLS: dict[str, str] = _TABLE["header_controls"]
#: Avgiver attributes with a pattern in SSB's XSD (Versjon is an xs:gYear): their number of digits.
_HEADER_PATTERNS: dict[str, int] = _TABLE["header_patterns"]


def record_control(rule: str, field: str | None) -> str | None:
    """SSB's control for a finding of our ``rule`` (on ``field``) in an ``Individ`` or the file; ``None``: none."""
    return _RECORD_CONTROLS.get(f"{rule}@{field}") or _RECORD_CONTROLS.get(rule)


def header_control(rule: str, name: str | None, value: str | None) -> str | None:
    """SSB's control for a finding of our ``rule`` on ``Avgiver`` (its attribute ``name`` holding ``value``)."""
    if name in _HEADER_PATTERNS and value is not None and not ascii_digits(value, _HEADER_PATTERNS[name]):
        return "Avgiver01"  # SSB's XSD refuses it before its Avgiver controls run
    if rule == "MANDATORY" and name == "Kommunenavn" and value and not value.strip():
        return "Avgiver06"  # blanks only: SSB's XSD (at least 1 character) lets it through, Avgiver06 does not
    return _HEADER_CONTROLS.get(rule)
