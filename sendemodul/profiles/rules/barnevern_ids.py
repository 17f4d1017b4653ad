"""15F: SSB's barnevern controls by id: their titles (the report's group headings, in our words), and which of SSB's
controls a finding of our generic rules stands for, in an ``Individ`` (:func:`record_control`) or on ``Avgiver``
(:func:`header_control`). Data beside the controls themselves (:mod:`~sendemodul.profiles.rules.barnevern`)."""

from __future__ import annotations

from sendemodul.identity.checkdigits import ascii_digits

__all__ = ["TITLES", "header_control", "record_control"]


#: Every control of SSB's barnevern program (``AvgiverRuleId``, ``IndividRuleId``) and what it checks, in our words.
TITLES = {
    "Avgiver00": "Filen skal ha nøyaktig én avgiver",
    "Avgiver01": "Avgiver følger ikke filbeskrivelsen",
    "Avgiver02": "Årgangen (Versjon) er ikke rapporteringsåret",
    "Avgiver03": "Organisasjonsnummer mangler",
    "Avgiver04": "Kommunenummeret er ikke enhetens",
    "Avgiver06": "Kommunenavn mangler",
    "Individ00": "Filen har ingen individer",
    "Individ01": "Individet følger ikke filbeskrivelsen",
    "Individ01a": "Dato utenfor 1998-2049",
    "Individ02a": "Individets startdato er etter sluttdatoen",
    "Individ02b": "Individets sluttdato er før forrige telletidspunkt",
    "Individ02d": "Avsluttet individ (Avslutta3112 = 1) uten sluttdato",
    "Individ03": "Individet kan ikke identifiseres (fødselsnummer og DUF-nummer)",
    "Individ04": "Samme fødselsnummer i flere journaler",
    "Individ05": "Samme journalnummer flere ganger",
    "Individ06": "Individet har verken meldinger, planer eller tiltak",
    "Individ07": "Individ over 25 år skal avsluttes som klient",
    "Individ08": "Individ over 18 år skal ha tiltak",
    "Individ09": "Bydelsnummer mangler eller er feil",
    "Individ10": "Bydelsnavn mangler (Oslo)",
    "Individ11": "Fødselsnummeret er ufullstendig",
    "Individ12": "Fødselsnummeret eller D-nummeret er ikke gyldig",
    "Individ19": "DUF-nummeret er ikke gyldig",
    "Melding02a": "Meldingens startdato er etter sluttdatoen",
    "Melding02c": "Meldingens sluttdato er etter individets sluttdato",
    "Melding02d": "Avsluttet individ: meldingen skal være avsluttet",
    "Melding02e": "Meldingens startdato er før individets startdato",
    "Melding03": "Meldingen er behandlet på mer enn 7 dager",
    "Melding04": "Konkludert melding uten melder",
    "Melding05": "Konkludert melding uten saksinnhold",
    "Melder02": "Melder med kode 22 mangler presisering",
    "Saksinnhold02": "Saksinnhold med kode 18 eller 19 mangler presisering",
    "Undersokelse02a": "Undersøkelsens startdato er etter sluttdatoen",
    "Undersokelse02b": "Undersøkelsens sluttdato er ikke i rapporteringsåret",
    "Undersokelse02c": "Undersøkelsens sluttdato er etter individets sluttdato",
    "Undersokelse02d": "Avsluttet individ: undersøkelsen skal være avsluttet",
    "Undersokelse02e": "Undersøkelsens startdato er før individets startdato",
    "Undersokelse03": "Undersøkelse med konklusjon 5 mangler presisering",
    "Undersokelse04": "Avsluttet undersøkelse mangler konklusjon",
    "Undersokelse07": "Undersøkelse konkludert med 1 eller 2 mangler vedtaksgrunnlag",
    "Undersokelse08": "Undersøkelse begynt før 1. juli er ikke konkludert",
    "Vedtak02": "Vedtaksgrunnlag med kode 18 eller 19 mangler presisering",
    "Plan02a": "Planens startdato er etter sluttdatoen",
    "Plan02c": "Planens sluttdato er etter individets sluttdato",
    "Plan02d": "Avsluttet individ: planen skal være avsluttet",
    "Plan02e": "Planens startdato er før individets startdato",
    "Tiltak02a": "Tiltakets startdato er etter sluttdatoen",
    "Tiltak02b": "Tiltakets sluttdato er ikke i rapporteringsåret",
    "Tiltak02c": "Tiltakets sluttdato er etter individets sluttdato",
    "Tiltak02d": "Avsluttet individ: tiltaket skal være avsluttet",
    "Tiltak02e": "Tiltakets startdato er før individets startdato",
    "Tiltak04": "Avsluttet omsorgstiltak mangler årsak til opphevelse",
    "Tiltak05": "Barn over 7 år i barnehage",
    "Tiltak06": "Barn over 11 år i SFO",
    "Tiltak07": "Tiltakskategori som krever presisering, mangler den",
    "Tiltak08": "Opphevelse med kode 4 mangler presisering",
    "Tiltak09": "Flere plasseringstiltak i samme periode",
    "Tiltak24": "Lovhjemmelen viser til feil barnevernlov",
    "Lovhjemmel02": "Avsluttet omsorgstiltak mangler årsak til opphevelse (kjøres ikke av SSB)",
    "Lovhjemmel03": "Individ over 18 år med omsorgstiltak",
    "Lovhjemmel04": "Lovhjemmel med kapittel eller paragraf 0",
    "Flytting02c": "Flyttingens sluttdato er etter individets sluttdato",
    "Flytting02f": "Flyttingens sluttdato er før individets startdato",
}

#: Our generic rules as SSB's controls, for a finding in a record (an ``Individ``); a field-specific entry
#: (``RULE@field``) wins over the rule's own. A rule not here reports as itself (it has no counterpart at SSB).
_RECORD_CONTROLS = {
    **dict.fromkeys(("SCHEMA", "MANDATORY", "LENGTH", "CODE", "INTEGER", "DATE"), "Individ01"),
    "ID_INVALID": "Individ01",  # what is left of it: an identifier that is not 11/12 digits (see _ids)
    "DUPLICATE_ID@Fodselsnummer": "Individ04",
    "DUPLICATE@Journalnummer": "Individ05",
    "BYDEL": "Individ09",
    "EMPTY": "Individ00",
}
#: The same for a finding on ``Avgiver``; SSB's XSD refuses a value that is not of the form its pattern says (then
#: Avgiver01, see :func:`header_control`).
_HEADER_CONTROLS = {
    **dict.fromkeys(("SCHEMA", "MANDATORY", "LENGTH"), "Avgiver01"),
    "VERSION": "Avgiver02",
    "KOMMUNENR": "Avgiver04",
}
#: Avgiver attributes with a pattern in SSB's XSD (Versjon is an xs:gYear).
_HEADER_PATTERNS = {"Versjon": 4, "Kommunenummer": 4, "Organisasjonsnummer": 9}


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
