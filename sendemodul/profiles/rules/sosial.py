"""SSB's record controls for the social-services registers 11F (økonomisk sosialhjelp, ``controls = "sosialhjelp"``)
and 11CF (kvalifiseringsstønad, ``controls = "kvalifisering"``), under SSB's control ids (``K015``...) and
severities, as SSB's control program for the reporting year runs them.

The controls themselves are data: the register's rule table (``sendemodul/profiles/11F.controls.json``,
``11CF.controls.json``), compiled by :mod:`~sendemodul.profiles.rules.rule_table`; the browser module runs the same
table. docs/profiles.md specifies the table and lists every control and where it is.

What the field rules and the identifier rules already find is not repeated in the table: a field's own value
(mandatory, type, code list: SSB's K002 in 11F, and in 11CF the controls its fields name with ``control``), the
kommune, bydel and year (K003, K004), K005 (the profile's ``fnr_rule``) and duplicates (K005A, K005B: the profile's
``duplicates``). No control ever puts an identifier in its message.
"""

from __future__ import annotations

from collections.abc import Callable

from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context
from sendemodul.profiles.rules.rule_table import (
    ControlTable,
    Values,
    Violation,
    month_sum,
    ssb_birth_year,
    ssb_date,
    ssb_int,
)
from sendemodul.profiles.rules.sosial_ids import TITLES, ssb_control

__all__ = ["TITLES", "SosialControls", "month_sum", "ssb_birth_year", "ssb_control", "ssb_date", "ssb_int"]


class SosialControls:
    """The controls of one register's profile, for one unit and year: :meth:`violations` of a record's values, and
    :attr:`passes` for a record line that passed the field rules (both from the rule table)."""

    def __init__(self, profile: FixedWidthProfile, context: Context):
        if profile.controls not in ("sosialhjelp", "kvalifisering"):
            raise ValueError(f"no social-services controls {profile.controls!r}")
        self.table = ControlTable(profile, context)
        #: The fields the controls read.
        self.fields = self.table.fields
        #: The same controls on a record line whose fields all passed the field rules.
        self.passes: Callable[[str], bool] = self.table.passes
        self.violations: Callable[[Values], list[Violation]] = self.table.violations
