"""Random field values for test extracts that satisfy a profile's field rules and consistency rules."""

from __future__ import annotations

import datetime
import random

from sendemodul import identity
from sendemodul.profiles import Profile
from sendemodul.profiles.model import AnyOf, Consistency, DateOrder, FieldSpec, Requires
from sendemodul.profiles.rules.fields import allowed_bydeler

__all__ = ["Values"]


class Values:
    """Random valid values for a profile's fields, for one unit."""

    def __init__(self, profile: Profile, unit: identity.Unit, rng: random.Random):
        self.profile = profile
        self.rng = rng
        self.bydeler = sorted(allowed_bydeler(unit, profile.periode)[0])
        if profile.controls in ("sosialhjelp", "kvalifisering") and "00" in self.bydeler:  # SSB's K003: blank only
            self.bydeler = [""]
        self.roles = {
            "kommunenr": unit.kommunenr,
            "orgnr": unit.orgnr,
            "version": f"{profile.periode % 100:02d}",
            "periode": str(profile.periode),
            "kommunenavn": identity.kommune(unit.kommunenr, profile.periode).name,
        }
        self.unit = unit

    def value(self, spec: FieldSpec, *, filled: bool = False) -> str:
        """A valid value for ``spec``; blank now and then if it is optional (never if ``filled``)."""
        rng = self.rng
        if spec.role == "bydel":
            return rng.choice(self.bydeler)
        if spec.role in self.roles:
            return self.roles[spec.role]
        if not (spec.mandatory or filled) and rng.random() < 0.4:
            return ""
        if spec.codes_from:
            return self.unit.kommunenr
        if spec.codes:
            return rng.choice(list(spec.codes))
        if spec.type == "integer":
            digits = min(spec.length or spec.max_length or 5, 5)
            return str(rng.randrange(10 ** ((spec.min_length or 1) - 1), 10**digits))
        if spec.type == "date":
            day = datetime.date(self.profile.periode, 1, 1) + datetime.timedelta(days=rng.randrange(365))
            return day.strftime("%d%m%Y" if spec.date_format == "ddMMyyyy" else "%Y-%m-%d")
        width = spec.length or min(spec.max_length or 10, 10)
        return f"{spec.name[:2].upper()}{rng.randrange(10**6):06d}"[:width]

    def fields(self, specs: tuple[FieldSpec, ...], rules: tuple[Consistency, ...]) -> dict[str, str]:
        """Values for ``specs`` that also satisfy the consistency ``rules`` (identifiers are left out: every record
        gets at least one)."""
        values = {spec.name: self.value(spec) for spec in specs if not spec.id_kind}
        if self.profile.controls in ("sosialhjelp", "kvalifisering") and specs is self.profile.field_specs:
            _plausible_sosial(values, self.rng, self.profile.periode)
        by_name = {spec.name: spec for spec in specs}
        for _ in range(len(rules) * 4 + 1):
            repaired = [self._repair(rule, values, by_name) for rule in rules]  # every rule, every round
            if not any(repaired):
                return values
        raise AssertionError(f"the consistency rules of {self.profile!r} cannot all be satisfied")

    def _repair(self, rule: Consistency, values: dict[str, str], specs: dict[str, FieldSpec]) -> bool:
        """Make ``values`` satisfy ``rule``; whether anything changed."""
        if isinstance(rule, Requires):
            value = values.get(rule.field, "")
            if values.get(rule.if_field) in rule.if_values and (not value or (rule.positive and int(value) == 0)):
                values[rule.field] = self.value(specs[rule.field], filled=True)
                return True
        elif isinstance(rule, AnyOf):
            if not any(values.get(name) or specs[name].id_kind for name in rule.fields):
                values[rule.fields[0]] = self.value(specs[rule.fields[0]], filled=True)
                return True
        elif isinstance(rule, DateOrder):
            earlier, later = values.get(rule.earlier, ""), values.get(rule.later, "")
            if earlier and later and _date_key(earlier, specs[rule.earlier]) > _date_key(later, specs[rule.later]):
                values[rule.earlier], values[rule.later] = later, earlier
                return True
        return False


def _date_key(value: str, spec: FieldSpec) -> str:
    return value[4:] + value[2:4] + value[:2] if spec.date_format == "ddMMyyyy" else value


#: 11F: combinations of main income (VKLO), work (ARBSIT) and benefits (TRYGDESIT) that SSB's K015-K024B accept.
_INCOME = (
    ("1", "01", "12"),
    ("1", "02", "12"),
    ("2", "05", "12"),
    ("5", "07", "12"),
    ("9", "08", "02"),
    ("3", "04", "04"),
)
_MONTHS_11F = ("JAN", "FEB", "MARS", "APRIL", "MAI", "JUNI", "JULI", "AUG", "SEPT", "OKT", "NOV", "DES")


def _plausible_sosial(values: dict[str, str], rng: random.Random, year: int) -> None:
    """Make a record's values pass SSB's K-controls of 11F or 11CF (ages come from the people generator)."""
    if values.get("BU18") == "1":
        values["ANTBU18"] = str(rng.randrange(1, 4))
    elif "BU18" in values:
        values["ANTBU18"] = ""
    months = sorted(rng.sample(range(1, 13), rng.randrange(1, 13)))
    for n in range(1, 13):
        values[f"STMND_{n}"] = f"{n:02d}" if n in months else ""
    day = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    if "VKLO" in values:  # 11F
        values["VKLO"], values["ARBSIT"], values["TRYGDESIT"] = rng.choice(_INCOME)
        for kind in ("BIDRAG", "LAAN"):
            amounts = {
                n: rng.randrange(300, 20_000) if n in months and (kind == "BIDRAG" or rng.random() < 0.2) else 0
                for n in range(1, 13)
            }
            for n, month in enumerate(_MONTHS_11F, 1):
                values[f"{kind}_{month}"] = str(amounts[n]) if amounts[n] else ""
            values[kind] = str(sum(amounts.values()))
        if values.get("VILKARSOSLOV") == "1":
            values["UTBETDATO"] = values["UTBETTOMDATO"] = day.strftime("%d%m%Y")
            values["VILKARARBEID"] = "16"
        return
    # 11CF
    values["KVP_KOMM"] = values.get("KVP_KOMM") or "2"
    values["KVP_MED_ASTONAD"] = values.get("KVP_MED_ASTONAD") or "2"
    if values.get("KVP_KOMM") == "1" and not values.get("KOMMNR_KVP_KOMM"):
        values["KOMMNR_KVP_KOMM"] = "9999"
    if values.get("YTELSE_SOSHJELP") == "1" and not values.get("YTELSE_TYPE_SOSHJ"):
        values["YTELSE_TYPE_SOSHJ"] = "2"
    support = (
        "KVP_MED_KOMMBOS",
        "KVP_MED_HUSBANKBOS",
        "KVP_MED_SOSHJ_ENGANG",
        "KVP_MED_SOSHJ_PGM",
        "KVP_MED_SOSHJ_SUP",
    )
    if values.get("KVP_MED_ASTONAD") == "2":
        for name in support:
            values[name] = ""
    elif not any(values.get(name) for name in support):
        values["KVP_MED_KOMMBOS"] = "4"
    values["KVP_STONAD"] = str(rng.randrange(1_000, 200_000))
    if values.get("STATUS") in ("3", "4", "5", "7"):
        values["AVSL_DATO"] = day.strftime("%d%m%Y")
        values["AVSL_ORDINAERTARB"] = "01"
        values["AVSL_VIKTIGSTE_INNTEKT"] = "01"
