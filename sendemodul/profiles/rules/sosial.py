"""SSB's record controls for the social-services registers 11F (økonomisk sosialhjelp, ``controls = "sosialhjelp"``)
and 11CF (kvalifiseringsstønad, ``controls = "kvalifisering"``), under SSB's control ids (``K015``...) and
severities, as SSB's control program for the reporting year runs them.

What the field rules and the identifier rules already find is not repeated here: a field's own value (mandatory,
type, code list: SSB's K002 in 11F, and in 11CF the controls its fields name with ``control``), the kommune, bydel
and year (K003, K004), K005 (the profile's ``fnr_rule``) and duplicates (K005A, K005B: the profile's
``duplicates``). docs/profiles.md lists every control and where it is.

Each control is a small function of the record's values (stripped texts by field name, identifiers included); none
of them ever puts an identifier in its message. Ages are computed as SSB's program computes them: from the
fødselsnummer's date part and individual number (D- and synthetic numbers unshifted), the reporting year minus the
birth year, and for a number SSB cannot read the value SSB's control assumes (see each control).
"""

from __future__ import annotations

import datetime
import functools
import operator
import re
from collections.abc import Callable
from typing import NamedTuple

from sendemodul.identity import duf_ok
from sendemodul.identity.person_ids import PLACEHOLDER_SUFFIXES
from sendemodul.profiles.fixed import FixedWidthProfile
from sendemodul.profiles.rules.fields import Context, parse_date
from sendemodul.profiles.rules.report import Severity
from sendemodul.profiles.rules.sosial_ids import TITLES, ssb_control

__all__ = ["TITLES", "SosialControls", "month_sum", "ssb_birth_year", "ssb_control", "ssb_date", "ssb_int"]

Values = dict[str, str]

SUPPORT_FIELDS = (
    "KVP_MED_KOMMBOS",
    "KVP_MED_HUSBANKBOS",
    "KVP_MED_SOSHJ_ENGANG",
    "KVP_MED_SOSHJ_PGM",
    "KVP_MED_SOSHJ_SUP",
)
SITUATION_FIELDS = (
    "AVSL_ORDINAERTARB",
    "AVSL_ARBLONNSTILS",
    "AVSL_ARBMARK",
    "AVSL_SKOLE",
    "AVSL_UFORE",
    "AVSL_AAP",
    "AVSL_OK_AVKLAR",
    "AVSL_UTEN_OK_AVKLAR",
    "AVSL_ANNET",
    "AVSL_UKJENT",
)


class Control(NamedTuple):
    """One SSB control: its id, severity, the field a finding names, and the message of a violation of the values
    (``None``: none)."""

    id: str
    severity: Severity
    field: str | None
    violation: Callable[[Values], str | None]


def ssb_int(text: str) -> int:
    """A number field as SSB's controls read it: the text as a whole number (a sign allowed), 0 if it is not one."""
    t = text.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not (body.isascii() and body.isdigit()) or len(body) > 9:
        return 0
    return int(t)


@functools.lru_cache(maxsize=8192)
def ssb_date(text: str) -> datetime.date | None:
    """A ``ddMMyyyy`` date as SSB's program reads it: day 01-31 and month 01-12, a day past the month's end taken as
    its last day (``31042026`` is 30 April); ``None`` if it is no date at all."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    if not (1 <= day <= 31 and 1 <= month <= 12 and year >= 1):
        return None
    while True:
        try:
            return datetime.date(year, month, day)
        except ValueError:
            day -= 1


def ssb_birth_year(fnr: str, year: int) -> int | None:
    """The birth year SSB's controls read from a fødselsnummer in reporting year ``year``, or ``None``.

    An SSB placeholder (``00100``, ``00200``, ``99999``): the six digits as a date in 20YY, or 19YY if that is after
    the end of the next year. Otherwise a D-number's day (-40) and a synthetic number's month (-80) are restored, and
    the individual number gives the century: 500-999 with YY <= 39: 20YY; 500-749 with YY >= 54: 18YY; 000-499 or
    900-999: 19YY; else 20YY. An H-number's month (+40) is not restored: no date, ``None``. SSB reads the date
    leniently (31 April is 30 April): a day 01-31 and a month 01-12 are enough.
    """
    if not (len(fnr) == 11 and fnr.isascii() and fnr.isdigit()):
        return None
    day, month, yy = int(fnr[:2]), int(fnr[2:4]), int(fnr[4:6])
    if fnr[6:] in PLACEHOLDER_SUFFIXES:
        if not (1 <= day <= 31 and 1 <= month <= 12):
            return None
        return 1900 + yy if 2000 + yy > year + 1 else 2000 + yy
    if day >= 40:
        day -= 40
    if month >= 80:
        month -= 80
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    individual = int(fnr[6:9])
    if individual >= 500 and yy <= 39:
        return 2000 + yy
    if 500 <= individual <= 749 and yy >= 54:
        return 1800 + yy
    if individual <= 499 or individual >= 900:
        return 1900 + yy
    return 2000 + yy


def month_sum(fields: tuple[str, ...]) -> int:
    """The sum of number fields that passed the field rules (digits, left- or right-aligned, or blank), of equal
    width W, at most 99 of them, in a few C calls: joined with "00" between them and spaces read as zeros, the text
    is the number sum(v_i * 10**((W + 2) * k_i)), whose remainder modulo 10**(W + 2) - 1 is the sum itself (it is
    smaller than that). A left-aligned number (digits, then spaces) would read as scaled: then the numbers are added
    up one by one."""
    width = len(fields[0])
    filled = "|".join(fields).replace(" " * width, "") + "|"  # the blank fields dropped
    if " |" not in filled:  # no number followed by a space: none is left-aligned
        modulus: int = 10 ** (width + 2) - 1
        return int("00".join(fields).replace(" ", "0") or "0") % modulus
    return sum(map(int, " ".join(fields).split()))


def _age(values: Values, year: int) -> int | None:
    born = ssb_birth_year(values.get("PERSON_FODSELSNR", ""), year)
    return None if born is None else year - born


def _code(values: Values, name: str, codes: frozenset[str]) -> bool:
    return values.get(name, "") in codes


class SosialControls:
    """The controls of one register's profile, for one unit and year: :meth:`violations` of a record."""

    def __init__(self, profile: FixedWidthProfile, context: Context):
        self.year = profile.periode
        self.codes = {spec.name: frozenset(spec.codes) for spec in profile.field_specs}
        self.context = context
        if profile.controls == "sosialhjelp":
            self.controls = self._sosialhjelp()
        elif profile.controls == "kvalifisering":
            self.controls = self._kvalifisering()
        else:
            raise ValueError(f"no social-services controls {profile.controls!r}")
        #: The fields the controls read.
        self.fields = frozenset(name for name in self.codes if name != "SAKSBEHANDLER")
        self._slices = {spec.name: slice(*spec.span) for spec in profile.field_specs}
        #: :meth:`passes`: the same controls on a record line whose fields all passed the field rules.
        self.passes: Callable[[str], bool] = (
            self._sosialhjelp_passes() if profile.controls == "sosialhjelp" else self._kvalifisering_passes()
        )

    def violations(self, values: Values) -> list[tuple[Severity, str, str | None, str]]:
        """``(severity, control id, field, message)`` for each control the record breaks, in control order."""
        found = []
        for control in self.controls:
            message = control.violation(values)
            if message is not None:
                found.append((control.severity, control.id, control.field, message))
        return found

    def _fast_age(self) -> Callable[[str], int | None]:
        """The age SSB reads from a fødselsnummer that the identifier rules accepted (11 digits, a date once the
        D-, H- and synthetic offsets are removed): :func:`ssb_birth_year` with what those rules already know."""
        year = self.year

        def age(f: str) -> int | None:
            if f[2] == "4" or f[2] == "5":  # an H-number: SSB does not restore the month, so it reads no date
                return None
            yy = int(f[4:6])
            if f[6:] in PLACEHOLDER_SUFFIXES:
                return year - (1900 + yy if 2000 + yy > year + 1 else 2000 + yy)
            individual = int(f[6:9])
            if individual >= 500 and yy <= 39:
                return year - 2000 - yy
            if 500 <= individual <= 749 and yy >= 54:
                return year - 1800 - yy
            if individual <= 499 or individual >= 900:
                return year - 1900 - yy
            return year - 2000 - yy

        return age

    def _sosialhjelp_passes(self) -> Callable[[str], bool]:
        """11F: whether a record line that passed the field rules (so every code is one of its field's codes or
        blank, every number digits and every date a date) passes every control (the fødselsnummer is filled in,
        as the field rules demand)."""
        sl = self._slices
        bu18, antbu18, vklo, trygd, arbsit = sl["BU18"], sl["ANTBU18"], sl["VKLO"], sl["TRYGDESIT"], sl["ARBSIT"]
        fnr, months = sl["PERSON_FODSELSNR"], slice(sl["STMND_1"].start, sl["STMND_12"].stop)
        bidrag, laan = sl["BIDRAG"], sl["LAAN"]
        month_names = ("JAN", "FEB", "MARS", "APRIL", "MAI", "JUNI", "JULI", "AUG", "SEPT", "OKT", "NOV", "DES")
        bidrag_months = operator.itemgetter(*(sl[f"BIDRAG_{m}"] for m in month_names))
        laan_months = operator.itemgetter(*(sl[f"LAAN_{m}"] for m in month_names))
        soslov, utbet, utbettom = sl["VILKARSOSLOV"], sl["UTBETDATO"], sl["UTBETTOMDATO"]
        vilkar = slice(sl["VILKARARBEID"].start, sl["VILKARNORSKSAMISKOPPL"].stop)
        vklo_arbsit = {
            "1": ("01", "02"),
            "2": ("03", "05", "06"),
            "4": ("03",),
            "6": ("09",),
            "8": ("10",),
            "5": ("02", "03", "04", "05", "06", "07", "08"),
        }
        working = ("02", "03", "04", "05", "06", "07")
        age_of = self._fast_age()
        blank2, blank7 = " " * 2, " " * 7

        def passes(t: str) -> bool:
            a = t[antbu18]
            n = int(a) if a != blank2 else 0
            has_children = t[bu18] == "1"
            if has_children != (n > 0) or n >= 14:
                return False
            v, tr, ar = t[vklo], t[trygd], t[arbsit]
            allowed = vklo_arbsit.get(v)
            if allowed is not None and ar not in allowed:
                return False
            if v == "3" and (tr == "12" or (tr == "11" and ar == "08")):
                return False
            if (tr == "05" or tr == "13") and not has_children:
                return False
            if (tr == "04" or tr == "07") and ar not in working:
                return False
            age = age_of(t[fnr])
            if age is None or age < 18 or age >= 96 or (tr == "07" and age < 62):
                return False
            if not t[months].strip(" "):
                return False
            b_text, lo_text = t[bidrag], t[laan]  # mandatory numbers (the field rules), blank-safe all the same
            b, lo = int(b_text) if b_text != blank7 else 0, int(lo_text) if lo_text != blank7 else 0
            if not 200 < b + lo <= 1_000_000:
                return False
            if b != month_sum(bidrag_months(t)) or lo != month_sum(laan_months(t)):
                return False
            # conditions set (K041-K043): both dates (a filled one is a date: the field rules) and some condition
            return t[soslov] != "1" or bool(t[utbet].strip(" ") and t[utbettom].strip(" ") and t[vilkar].strip(" "))

        return passes

    def _kvalifisering_passes(self) -> Callable[[str], bool]:
        """11CF: whether a record line that passed the field rules passes every control."""
        sl, year, context = self._slices, self.year, self.context
        check_dates = context.expected["kommunenr"] != "0301"
        bu18, antbu18, fnr = sl["BU18"], sl["ANTBU18"], sl["PERSON_FODSELSNR"]
        reg, vedtak, begynt, version = sl["REG_DATO"], sl["VEDTAK_DATO"], sl["BEGYNT_DATO"], sl["VERSION"]
        kvp_komm, kommnr = sl["KVP_KOMM"], sl["KOMMNR_KVP_KOMM"]
        sosial, sosial_type = sl["YTELSE_SOSHJELP"], sl["YTELSE_TYPE_SOSHJ"]
        astonad = sl["KVP_MED_ASTONAD"]
        support = self._any_ticked(SUPPORT_FIELDS)
        months = self._any_ticked([f"STMND_{n}" for n in range(1, 13)])
        stonad, status, avsl = sl["KVP_STONAD"], sl["STATUS"], sl["AVSL_DATO"]
        situations = self._any_ticked(SITUATION_FIELDS)
        income, income_codes = sl["AVSL_VIKTIGSTE_INNTEKT"], self.codes["AVSL_VIKTIGSTE_INNTEKT"]
        kommune_codes, type_codes = self.codes["KOMMNR_KVP_KOMM"], self.codes["YTELSE_TYPE_SOSHJ"]
        last_day = datetime.date(year, 12, 31)
        age_of = self._fast_age()

        def passes(t: str) -> bool:
            a = t[antbu18]
            n = int(a) if a.isascii() and a.isdigit() else ssb_int(a)  # 11CF: not checked by itself, any text
            has_children = t[bu18] == "1"
            if has_children != (n > 0) or n >= 14:
                return False
            age = age_of(t[fnr])
            if age is not None and (age < 18 or age > 68):
                return False
            if check_dates:
                v = ssb_int(t[version])
                version_year = 2000 + v if 1 <= v <= 99 else v
                for field, reference in ((reg, version_year), (vedtak, version_year), (begynt, year)):
                    day = ssb_date(t[field])
                    if day is None or reference - day.year > 4 or (field is begynt and day > last_day):
                        return False
            if t[kvp_komm] not in ("1", "2") or t[astonad] not in ("1", "2"):
                return False
            if t[kvp_komm] == "1":
                code = t[kommnr].strip(" ")
                if code not in kommune_codes and not (
                    code.isascii() and code.isdigit() and context.kommunenr_valid(code)
                ):
                    return False
            if t[sosial] == "1" and t[sosial_type] not in type_codes:
                return False
            if (support(t) is not None) != (t[astonad] == "1"):
                return False
            st = t[status]
            has_month = months(t) is not None
            amount = ssb_int(t[stonad])
            if st != "2" and (not has_month or not t[stonad].strip(" ")):
                return False
            if st == "1" and amount <= 0:
                return False
            if amount > 600_000:
                return False
            if st in ("3", "4", "5", "7"):
                day = parse_date(t[avsl], "ddMMyyyy")
                if day is None or day.year != year:
                    return False
                if st in ("3", "7") and situations(t) is None:
                    return False
                if st == "3" and t[income] not in income_codes:
                    return False
            return True

        return passes

    def _any_ticked(self, names: list[str] | tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
        """A match on a record line when one of these fields (one-code fields, in line order) holds its code, else
        ``None``: one regular expression, each alternative skipping to its field."""
        alternatives = []
        for name in names:
            (code,) = self.codes[name]
            field = self._slices[name]
            alternatives.append(f".{{{field.start}}}{re.escape(code)}")
        return re.compile("|".join(alternatives), re.DOTALL).match

    # -- what both registers share -------------------------------------------------------------------------------

    def _code_control(self, control_id: str, name: str, what: str) -> Control:
        codes = self.codes[name]
        listed = ", ".join(sorted(codes))

        def violation(values: Values) -> str | None:
            value = values.get(name, "")
            if value in codes:
                return None
            shown = f" (fant '{value}')" if 0 < len(value) <= 4 else ""
            return f"{what} mangler eller har en ugyldig kode{shown}; gyldige koder er {listed}"

        return Control(control_id, Severity.ERROR, name, violation)

    def _children(self) -> list[Control]:
        def k011(v: Values) -> str | None:
            if v.get("BU18") == "1" and ssb_int(v.get("ANTBU18", "")) <= 0:
                return "det er oppgitt barn under 18 år i husholdningen, men ikke hvor mange (ANTBU18)"
            return None

        def k012(v: Values) -> str | None:
            if ssb_int(v.get("ANTBU18", "")) > 0 and v.get("BU18") != "1":
                return "det er oppgitt et antall barn under 18 år (ANTBU18), men ikke at det bor barn i husholdningen"
            return None

        def k013(v: Values) -> str | None:
            n = ssb_int(v.get("ANTBU18", ""))
            return f"{n} barn under 18 år i husholdningen er 14 eller flere: er det riktig?" if n >= 14 else None

        return [
            Control("K011", Severity.ERROR, "ANTBU18", k011),
            Control("K012", Severity.ERROR, "BU18", k012),
            Control("K013", Severity.ERROR, "ANTBU18", k013),
        ]

    def _has_month(self) -> Callable[[Values], bool]:
        months = [(f"STMND_{n}", self.codes[f"STMND_{n}"]) for n in range(1, 13)]
        return lambda v: any(v.get(name, "") in codes for name, codes in months)

    # -- 11F -------------------------------------------------------------------------------------------------------

    def _sosialhjelp(self) -> list[Control]:
        year = self.year

        def k004a(v: Values) -> str | None:
            if ssb_date(v.get("FODSELSDATO", "")) is None:
                return "fødselsdatoen mangler eller er ingen gyldig dato (DDMMÅÅÅÅ)"
            return None

        def k006(v: Values) -> str | None:
            age = _age(v, year)
            if age is None:
                return "mottakerens alder kan ikke leses av fødselsnummeret, og regnes som under 18 år"
            return f"mottakeren ({age} år) er under 18 år" if age < 18 else None

        def k007(v: Values) -> str | None:
            age = _age(v, year) or 0
            return f"mottakeren ({age} år) er 96 år eller eldre" if age >= 96 else None

        vklo_arbsit = [
            ("K015", Severity.ERROR, "1", {"01", "02"}),
            ("K016", Severity.ERROR, "2", {"03", "05", "06"}),
            ("K017", Severity.ERROR, "4", {"03"}),
            ("K018", Severity.ERROR, "6", {"09"}),
            ("K019", Severity.ERROR, "8", {"10"}),
            ("K021", Severity.WARNING, "5", {"02", "03", "04", "05", "06", "07", "08"}),
        ]

        def vklo_control(control_id: str, severity: Severity, vklo: str, arbsit: set[str]) -> Control:
            allowed = frozenset(arbsit)
            listed = ", ".join(sorted(arbsit))

            def violation(v: Values) -> str | None:
                if v.get("VKLO") == vklo and v.get("ARBSIT", "") not in allowed:
                    return (
                        f"viktigste kilde til livsopphold er {vklo}: da må arbeidssituasjonen (ARBSIT) være "
                        f"en av {listed}"
                    )
                return None

            return Control(control_id, severity, "ARBSIT", violation)

        trygd = self.codes["TRYGDESIT"] - {"12"}

        def k020b(v: Values) -> str | None:
            if v.get("VKLO") == "3" and v.get("TRYGDESIT", "") not in trygd:
                return "viktigste kilde til livsopphold er trygd/pensjon, men trygdesituasjonen viser ingen trygd"
            return None

        def k023a(v: Values) -> str | None:
            if v.get("TRYGDESIT") != "07":
                return None
            age = _age(v, year)
            age = -1 if age is None else age
            return f"mottakeren ({age} år) er yngre enn 62 år og mottar alderspensjon" if age < 62 else None

        def children_for(code: str, what: str) -> Callable[[Values], str | None]:
            def violation(v: Values) -> str | None:
                if v.get("TRYGDESIT") == code and not (v.get("BU18") == "1" and ssb_int(v.get("ANTBU18", "")) > 0):
                    return f"mottakeren mottar {what}, men det er ikke oppgitt barn under 18 år i husholdningen"
                return None

            return violation

        def k024(v: Values) -> str | None:
            if v.get("TRYGDESIT") in ("04", "07") and v.get("ARBSIT") not in ("02", "03", "04", "05", "06", "07"):
                return "mottakeren mottar uføretrygd eller alderspensjon: arbeidssituasjonen (ARBSIT) passer ikke"
            return None

        def k024b(v: Values) -> str | None:
            if v.get("VKLO") == "3" and v.get("TRYGDESIT") == "11" and v.get("ARBSIT") == "08":
                return "mottakeren mottar arbeidsavklaringspenger og kan ikke ha arbeidssituasjon 08"
            return None

        has_month = self._has_month()

        def k026(v: Values) -> str | None:
            return None if has_month(v) else "det er ikke krysset av for noen måned med utbetalt sosialhjelp"

        def k027(v: Values) -> str | None:
            if ssb_int(v.get("BIDRAG", "")) > 0 or ssb_int(v.get("LAAN", "")) > 0:
                return None
            return "det er ikke oppgitt noe utbetalt bidrag eller lån i året (BIDRAG, LAAN)"

        def total(v: Values) -> int:
            return ssb_int(v.get("BIDRAG", "")) + ssb_int(v.get("LAAN", ""))

        def k030(v: Values) -> str | None:
            return (
                "bidrag og lån er til sammen over SSBs kontrollgrense på 1 000 000 kr" if total(v) > 1_000_000 else None
            )

        def k031(v: Values) -> str | None:
            return "bidrag og lån er til sammen 200 kr eller mindre (SSBs kontrollgrense)" if total(v) <= 200 else None

        bidrag = ("JAN", "FEB", "MARS", "APRIL", "MAI", "JUNI", "JULI", "AUG", "SEPT", "OKT", "NOV", "DES")

        def month_sum(kind: str) -> Callable[[Values], str | None]:
            names = [f"{kind}_{month}" for month in bidrag]

            def violation(v: Values) -> str | None:
                if ssb_int(v.get(kind, "")) != sum(ssb_int(v.get(name, "")) for name in names):
                    return f"{kind} fordelt på måneder stemmer ikke med summen for året ({kind})"
                return None

            return violation

        def k038(v: Values) -> str | None:
            if v.get("PERSON_FODSELSNR"):
                return None
            if duf_ok(v.get("PERSON_DUF", "")):
                return None
            return "mottakeren har verken fødselsnummer eller et gyldig DUF-nummer (12 siffer)"

        def date_when_conditions(name: str, what: str) -> Callable[[Values], str | None]:
            def violation(v: Values) -> str | None:
                if v.get("VILKARSOSLOV") == "1" and ssb_date(v.get(name, "")) is None:
                    return f"det stilles vilkår etter sosialtjenesteloven: {what} ({name}) må være en gyldig dato"
                return None

            return violation

        vilkar = [
            (name, self.codes[name])
            for name in (
                "VILKARARBEID",
                "VILKARKURS",
                "VILKARUTD",
                "VILKARJOBBLOG",
                "VILKARJOBBTILB",
                "VILKARSAMT",
                "VILKAROKRETT",
                "VILKARLIVSH",
                "VILKARHELSE",
                "VILKARANNET",
                "VILKARDIGPLAN",
                "VILKARNORSKSAMISKOPPL",
            )
        ]

        def k043(v: Values) -> str | None:
            if v.get("VILKARSOSLOV") == "1" and not any(v.get(name, "") in codes for name, codes in vilkar):
                return "det stilles vilkår etter sosialtjenesteloven, men ingen vilkår er krysset av"
            return None

        return [
            Control("K004A", Severity.ERROR, "FODSELSDATO", k004a),
            Control("K006", Severity.WARNING, "PERSON_FODSELSNR", k006),
            Control("K007", Severity.WARNING, "PERSON_FODSELSNR", k007),
            self._code_control("K008", "KJONN", "kjønn"),
            self._code_control("K009", "EKTSTAT", "sivilstand"),
            self._code_control("K010", "BU18", "forsørgerplikt for barn under 18 år"),
            *self._children(),
            self._code_control("K014", "VKLO", "viktigste kilde til livsopphold"),
            *(vklo_control(*row) for row in vklo_arbsit[:5]),
            Control("K020B", Severity.ERROR, "TRYGDESIT", k020b),
            vklo_control(*vklo_arbsit[5]),
            self._code_control("K022", "TRYGDESIT", "trygdesituasjon"),
            Control("K023A", Severity.ERROR, "TRYGDESIT", k023a),
            Control("K023B", Severity.ERROR, "TRYGDESIT", children_for("05", "overgangsstønad")),
            Control("K023C", Severity.ERROR, "TRYGDESIT", children_for("13", "barnetrygd")),
            Control("K024", Severity.WARNING, "ARBSIT", k024),
            Control("K024B", Severity.ERROR, "ARBSIT", k024b),
            self._code_control("K025", "ARBSIT", "arbeidssituasjon"),
            Control("K026", Severity.ERROR, "STMND_1", k026),
            Control("K027", Severity.ERROR, "BIDRAG", k027),
            Control("K030", Severity.WARNING, "BIDRAG", k030),
            Control("K031", Severity.WARNING, "BIDRAG", k031),
            self._code_control("K032", "GITT_OKONOMIRAD", "økonomisk rådgivning"),
            self._code_control("K033", "FAAT_INDIVIDUELL_PLAN", "individuell plan"),
            self._code_control("K035", "BOSIT", "boligsituasjon"),
            Control("K036", Severity.WARNING, "BIDRAG", month_sum("BIDRAG")),
            Control("K037", Severity.WARNING, "LAAN", month_sum("LAAN")),
            Control("K038", Severity.WARNING, "PERSON_DUF", k038),
            self._code_control("K039", "VILKARSOSLOV", "vilkår etter sosialtjenesteloven"),
            self._code_control("K040", "VILKARSAMEKT", "vilkår til ektefelle/samboer"),
            Control(
                "K041", Severity.ERROR, "UTBETDATO", date_when_conditions("UTBETDATO", "utbetalingsvedtakets dato")
            ),
            Control(
                "K042",
                Severity.ERROR,
                "UTBETTOMDATO",
                date_when_conditions("UTBETTOMDATO", "utbetalingsvedtakets til og med-dato"),
            ),
            Control("K043", Severity.ERROR, "VILKARSOSLOV", k043),
        ]

    # -- 11CF ------------------------------------------------------------------------------------------------------

    def _kvalifisering(self) -> list[Control]:
        year = self.year

        def k006(v: Values) -> str | None:
            age = _age(v, year)
            return f"deltakeren ({age} år) er under 18 år" if age is not None and age < 18 else None

        def k007(v: Values) -> str | None:
            age = _age(v, year) or 0
            return f"deltakeren ({age} år) er over 68 år" if age > 68 else None

        def version_year(v: Values) -> int:
            n = ssb_int(v.get("VERSION", ""))
            return 2000 + n if 1 <= n <= 99 else n

        def program_date(name: str, what: str, *, from_version: bool, not_after_year: bool) -> Control:
            def violation(v: Values) -> str | None:
                if v.get("KOMMUNE_NR") == "0301":  # SSB does not check Oslo's dates
                    return None
                day = ssb_date(v.get(name, ""))
                reference = version_year(v) if from_version else year
                if day is None or reference - day.year > 4 or (not_after_year and day > datetime.date(year, 12, 31)):
                    window = " eller etter rapporteringsåret" if not_after_year else ""
                    return f"{what} ({name}) mangler, er ingen gyldig dato, eller er mer enn 4 år før{window}"
                return None

            return Control(
                {"REG_DATO": "K014", "VEDTAK_DATO": "K015", "BEGYNT_DATO": "K016"}[name],
                Severity.ERROR,
                name,
                violation,
            )

        kommune_codes = self.codes["KOMMNR_KVP_KOMM"]

        def k020(v: Values) -> str | None:
            if v.get("KVP_KOMM") != "1":
                return None
            code = v.get("KOMMNR_KVP_KOMM", "")
            if code in kommune_codes or (code.isascii() and code.isdigit() and self.context.kommunenr_valid(code)):
                return None
            return (
                "deltakeren kommer fra kvalifiseringsprogram i annen kommune, men kommunenummeret mangler eller er "
                "ugyldig"
            )

        type_codes = self.codes["YTELSE_TYPE_SOSHJ"]

        def k021(v: Values) -> str | None:
            if v.get("YTELSE_SOSHJELP") == "1" and v.get("YTELSE_TYPE_SOSHJ", "") not in type_codes:
                return "det er oppgitt sosialhjelp før søknaden, men ikke hvilken type (YTELSE_TYPE_SOSHJ)"
            return None

        support = [
            (name, self.codes[name])
            for name in (
                "KVP_MED_KOMMBOS",
                "KVP_MED_HUSBANKBOS",
                "KVP_MED_SOSHJ_ENGANG",
                "KVP_MED_SOSHJ_PGM",
                "KVP_MED_SOSHJ_SUP",
            )
        ]

        def k027(v: Values) -> str | None:
            answer = v.get("KVP_MED_ASTONAD")
            ticked = any(v.get(name, "") in codes for name, codes in support)
            if answer == "1" and not ticked:
                return "det er svart ja på annen støtte i perioden, men ingen støtte er krysset av"
            if answer == "2" and ticked:
                return "det er svart nei på annen støtte i perioden, men støtte er krysset av"
            return None

        has_month = self._has_month()

        def k028(v: Values) -> str | None:
            if v.get("STATUS") != "2" and not has_month(v):
                return "det er ikke krysset av for noen måned med utbetalt kvalifiseringsstønad"
            return None

        def k029(v: Values) -> str | None:
            if v.get("STATUS") == "1" and ssb_int(v.get("KVP_STONAD", "")) <= 0:
                return "det er ikke oppgitt hvor mye kvalifiseringsstønad deltakeren har fått i året (KVP_STONAD)"
            return None

        def k030(v: Values) -> str | None:
            if v.get("STATUS") != "2" and has_month(v) and not v.get("KVP_STONAD"):
                return "det er krysset av for måneder med stønad, men stønadsbeløpet (KVP_STONAD) mangler"
            return None

        def k031(v: Values) -> str | None:
            if v.get("STATUS") == "1" and ssb_int(v.get("KVP_STONAD", "")) > 0 and not has_month(v):
                return "deltakeren har fått kvalifiseringsstønad, men ingen måned er krysset av"
            return None

        def k032(v: Values) -> str | None:
            if ssb_int(v.get("KVP_STONAD", "")) > 600_000:
                return "kvalifiseringsstønaden er over SSBs kontrollgrense på 600 000 kr"
            return None

        def k037(v: Values) -> str | None:
            if v.get("STATUS") not in ("3", "4", "5", "7"):
                return None
            day = parse_date(v.get("AVSL_DATO", ""), "ddMMyyyy")
            if day is None or day.year != year:
                return f"programmet er avsluttet: datoen det ble avsluttet (AVSL_DATO) må være en gyldig dato i {year}"
            return None

        situations = [
            (name, self.codes[name])
            for name in (
                "AVSL_ORDINAERTARB",
                "AVSL_ARBLONNSTILS",
                "AVSL_ARBMARK",
                "AVSL_SKOLE",
                "AVSL_UFORE",
                "AVSL_AAP",
                "AVSL_OK_AVKLAR",
                "AVSL_UTEN_OK_AVKLAR",
                "AVSL_ANNET",
                "AVSL_UKJENT",
            )
        ]

        def k038(v: Values) -> str | None:
            if v.get("STATUS") in ("3", "7") and not any(v.get(name, "") in codes for name, codes in situations):
                return "programmet er fullført eller avsluttet: deltakerens situasjon etterpå må krysses av"
            return None

        income = self.codes["AVSL_VIKTIGSTE_INNTEKT"]

        def k039(v: Values) -> str | None:
            if v.get("STATUS") == "3" and v.get("AVSL_VIKTIGSTE_INNTEKT", "") not in income:
                return (
                    "programmet er fullført: deltakerens viktigste inntektskilde etterpå (AVSL_VIKTIGSTE_INNTEKT) "
                    "mangler"
                )
            return None

        return [
            Control("K006", Severity.ERROR, "PERSON_FODSELSNR", k006),
            Control("K007", Severity.WARNING, "PERSON_FODSELSNR", k007),
            *self._children(),
            program_date("REG_DATO", "søknadens registreringsdato", from_version=True, not_after_year=False),
            program_date("VEDTAK_DATO", "vedtaksdatoen", from_version=True, not_after_year=False),
            program_date("BEGYNT_DATO", "datoen deltakeren begynte", from_version=False, not_after_year=True),
            self._code_control("K019", "KVP_KOMM", "svaret på om deltakeren kommer fra program i annen kommune"),
            Control("K020", Severity.ERROR, "KOMMNR_KVP_KOMM", k020),
            Control("K021", Severity.ERROR, "YTELSE_TYPE_SOSHJ", k021),
            self._code_control("K026", "KVP_MED_ASTONAD", "svaret på om deltakeren fikk annen støtte i perioden"),
            Control("K027", Severity.ERROR, "KVP_MED_ASTONAD", k027),
            Control("K028", Severity.WARNING, "STMND_1", k028),
            Control("K029", Severity.WARNING, "KVP_STONAD", k029),
            Control("K030", Severity.WARNING, "KVP_STONAD", k030),
            Control("K031", Severity.WARNING, "KVP_STONAD", k031),
            Control("K032", Severity.WARNING, "KVP_STONAD", k032),
            Control("K037", Severity.ERROR, "AVSL_DATO", k037),
            Control("K038", Severity.ERROR, "STATUS", k038),
            Control("K039", Severity.ERROR, "AVSL_VIKTIGSTE_INNTEKT", k039),
        ]
