"""11F and 11CF: SSB's K-controls by id: their titles by register (the report's group headings, in our words, kept
in the rule tables), and which K-control a finding of our field and identifier rules stands for
(:func:`ssb_control`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendemodul.profiles.rules.rule_table import load_table

if TYPE_CHECKING:
    from sendemodul.profiles.fixed import FixedWidthProfile

__all__ = ["FIELD_RULES", "SSB_IDS", "TITLES", "ssb_control"]

#: SSB's controls' titles in Bokmål (our words), by register: the report's group headings, from the rule tables.
TITLES = {register: dict(load_table(register)["titles"]) for register in ("11F", "11CF")}


#: The field and identifier rules' findings under SSB's control ids (the other fields' rules: the field's
#: ``control``, else the profile's ``field_control``).
_SSB_IDS = {
    "RECORD_LENGTH": "K001",
    "TAB": "K001",
    "KOMMUNENR": "K003",
    "BYDEL": "K003",
    "VERSION": "K004",
    "ID_INVALID": "K005",
    "ID_MISSING": "K005",
    "DUPLICATE_ID": "K005A",
    "DUPLICATE": "K005B",
}
_FIELD_RULES = frozenset({"MANDATORY", "INTEGER", "DATE", "CODE", "LENGTH"})
#: For the browser module (``sendemodul profiles export``): our rules' SSB control ids, and the field rules whose
#: control is the field's (or the profile's ``field_control``), as :func:`ssb_control` reads them.
SSB_IDS = _SSB_IDS
FIELD_RULES = _FIELD_RULES


def ssb_control(profile: FixedWidthProfile, rule: str, field: str | None) -> str | None:
    """SSB's control id for a finding of ``rule`` (on ``field``) in a profile with SSB's controls; ``None`` for a
    finding of ours that SSB's program has no control for (``BIRTHDATE``, ``ID_SYNTHETIC``, ``ID_PLACEHOLDER``,
    ``EMPTY``)."""
    if rule in _SSB_IDS:
        return _SSB_IDS[rule]
    if rule in _FIELD_RULES:
        spec = next((s for s in profile.field_specs if s.name == field), None)
        return (spec.control if spec is not None else None) or profile.field_control
    return rule if rule[:1] == "K" and rule[1:4].isdigit() else None
