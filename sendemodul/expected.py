"""Which units must report a register for a periode: the regions (``KKKK-BB``) the status list, the staff page and
the reminders go through. Pure: the packaged code lists and the config's ``[[expected]]`` tables in, names out.

Every kommune valid at some time in the periode's year must report (a kommune merged away on 2023-12-31 is expected
for 2023, not for 2024). Oslo reports as a whole (0301-00) or per bydel (its reporting bydeler 01-15; 16 Sentrum and
17 Marka never report), whichever the register is configured for. ``add`` and ``exclude`` cover what the code lists
cannot know: a unit excused by SSB, a kommune that reports for another by agreement.
"""

from dataclasses import dataclass

from sendemodul.config.sections import Config
from sendemodul.identity.codelists import bydeler, kommuner

OSLO = "0301"


@dataclass(frozen=True)
class ExpectedUnit:
    """A region that must report: ``kommunenr``, ``bydel`` (``00`` for a whole kommune) and a name to show."""

    kommunenr: str
    bydel: str
    name: str

    @property
    def region(self) -> str:
        return f"{self.kommunenr}-{self.bydel}"


def _name(kommunenr: str, bydel: str) -> str:
    kommune = kommuner().get(kommunenr)
    name = kommune.name if kommune else kommunenr
    if bydel != "00":
        found = bydeler().get(kommunenr, {}).get(bydel)
        name = f"{name}, bydel {found.name}" if found else f"{name}, bydel {bydel}"
    return name


def expected_units(cfg: Config, register: str, periode: int) -> list[ExpectedUnit]:
    """Every region that must report ``register`` for ``periode``, in kommunenr and bydel order."""
    rule = cfg.expected_for(register, periode)
    regions: set[tuple[str, str]] = set()
    for kommune in kommuner().values():
        if not kommune.valid_in(periode):
            continue
        if kommune.kommunenr == OSLO and rule.oslo == "bydeler":
            regions.update(
                (OSLO, b.bydelnr) for b in bydeler().get(OSLO, {}).values() if b.reports and b.valid_in(periode)
            )
        else:
            regions.add((kommune.kommunenr, "00"))
    for region in rule.add:
        kommunenr, bydel = region.split("-")
        regions.add((kommunenr, bydel))
    for region in rule.exclude:
        kommunenr, bydel = region.split("-")
        regions.discard((kommunenr, bydel))
    return [ExpectedUnit(k, b, _name(k, b)) for k, b in sorted(regions)]
