"""SSB's individual barnevern (15F) controls that span more than one element of an ``Individ``: the register's rule
table, ``sendemodul/profiles/15F.controls.json`` (docs/profiles.md, "The rule table"), which
:mod:`~sendemodul.profiles.rules.element_table` checks, compiles and runs (:func:`run_controls`). The table is the
one source of these controls: the browser module runs the same JSON. What is code, not table, is beside it:

- :mod:`~sendemodul.profiles.rules.barnevern_facts`: what the controls are given (:class:`Facts`, read from the
  identifiers by :func:`fnr_state`, :func:`duf_state`, :func:`age_in`) and the finding's type;
- :mod:`~sendemodul.profiles.rules.barnevern_ids`: the controls' titles, and our generic rules' findings as SSB's ids
  (both read from the table).

The names other modules use (``Facts``, ``run_controls``, ``age_in``, ``TITLES`` ...) are all importable from here.

The control ids are SSB's (kostra-kontrollprogram's ``IndividRuleId``: ``Individ06``, ``Tiltak02d`` ...), as are
the severities and the conditions; the table's texts are our own. The controls that one element's attributes decide
(``Individ02a``, ``Individ02d``, ``Individ03``, ``Melding02a``, ``Plan02a``, ``Tiltak02a``, ``Undersokelse02a``) are
consistency rules in ``15F-2026.toml``. A date that is not a valid date is left to the ``DATE`` rule: a control that
needs it says nothing. As every finding, these name no value longer than 4 characters (an ``Id`` or a date could be
anything): an element is named by its kind and number within the individ (``Tiltak nr. 2``), a year by itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sendemodul.profiles.rules.barnevern_facts import Facts, Finding, IdState, age_in, duf_state, fnr_state
from sendemodul.profiles.rules.barnevern_ids import TITLES, header_control, record_control
from sendemodul.profiles.rules.element_table import element_controls

__all__ = [
    "REGISTER",
    "TITLES",
    "Facts",
    "Finding",
    "IdState",
    "age_in",
    "duf_state",
    "fnr_state",
    "header_control",
    "record_control",
    "run_controls",
]

#: The register whose rule table holds these controls.
REGISTER = "15F"


def run_controls(individ: ET.Element, facts: Facts) -> list[Finding]:
    """Every finding of every control for one ``Individ`` element, in the table's order (the table compiled for
    ``facts.periode`` once; a year the table does not list is a TableError)."""
    return element_controls(REGISTER, facts.periode).run(individ, facts)
