"""11F and 11CF: SSB's K-controls by id: their titles by register (the report's group headings, in our words), and
which K-control a finding of our field and identifier rules stands for (:func:`ssb_control`). Data beside the
controls themselves (:mod:`~sendemodul.profiles.rules.sosial`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sendemodul.profiles.fixed import FixedWidthProfile

__all__ = ["TITLES", "ssb_control"]

_SHARED_TITLES = {
    "K001": "Postlengde",
    "K003": "Kommunenummer og bydelsnummer",
    "K004": "Oppgaveår",
    "K004A": "Fødselsdato",
    "K005": "Fødselsnummer",
    "K005A": "Fødselsnummer, dubletter",
    "K005B": "Journalnummer, dubletter",
    "K006": "Alder under 18 år",
    "K008": "Kjønn",
    "K009": "Sivilstand",
    "K010": "Forsørgerplikt for barn under 18 år",
    "K011": "Barn under 18 år, antall mangler",
    "K012": "Antall barn under 18 år uten at det bor barn i husholdningen",
    "K013": "Mange barn under 18 år i husholdningen",
}
#: SSB's controls' titles in Bokmål (our words), by register: the report's group headings.
TITLES = {
    "11F": {
        **_SHARED_TITLES,
        "K002": "Filbeskrivelse",
        "K007": "Alder 96 år eller over",
        "K014": "Viktigste kilde til livsopphold, gyldige koder",
        "K015": "Viktigste kilde til livsopphold og arbeidssituasjon: arbeidsinntekt",
        "K016": "Viktigste kilde til livsopphold og arbeidssituasjon: kursstønad/lønn i tiltak",
        "K017": "Viktigste kilde til livsopphold og arbeidssituasjon: stipend/lån",
        "K018": "Viktigste kilde til livsopphold og arbeidssituasjon: introduksjonsstøtte",
        "K019": "Viktigste kilde til livsopphold og arbeidssituasjon: kvalifiseringsstønad",
        "K020B": "Viktigste kilde til livsopphold: trygd/pensjon",
        "K021": "Viktigste kilde til livsopphold og arbeidssituasjon: sosialhjelp",
        "K022": "Trygdesituasjon, gyldige koder",
        "K023A": "Alderspensjon og alder under 62 år",
        "K023B": "Overgangsstønad uten barn under 18 år",
        "K023C": "Barnetrygd uten barn under 18 år",
        "K024": "Uføretrygd/alderspensjon og arbeidssituasjon",
        "K024B": "Arbeidsavklaringspenger og arbeidssituasjon",
        "K025": "Arbeidssituasjon, gyldige koder",
        "K026": "Stønadsmåneder",
        "K027": "Stønadssum mangler",
        "K030": "Stønadssum over 1 000 000 kr",
        "K031": "Stønadssum 200 kr eller lavere",
        "K032": "Økonomisk rådgivning, gyldige koder",
        "K033": "Individuell plan, gyldige koder",
        "K035": "Boligsituasjon, gyldige koder",
        "K036": "Bidrag fordelt på måneder",
        "K037": "Lån fordelt på måneder",
        "K038": "DUF-nummer",
        "K039": "Vilkår etter sosialtjenesteloven",
        "K040": "Vilkår til ektefelle/samboer",
        "K041": "Dato for utbetalingsvedtak",
        "K042": "Til og med-dato for utbetalingsvedtak",
        "K043": "Type vilkår",
    },
    "11CF": {
        **_SHARED_TITLES,
        "K007": "Alder over 68 år",
        "K014": "Dato søknaden ble registrert",
        "K015": "Dato for vedtak om program",
        "K016": "Dato deltakeren begynte i program",
        "K019": "Program i annen kommune",
        "K020": "Program i annen kommune: kommunenummer",
        "K021": "Ytelser før søknaden",
        "K026": "Annen støtte i perioden",
        "K027": "Annen støtte i perioden: svaralternativer",
        "K028": "Måneder med kvalifiseringsstønad",
        "K029": "Kvalifiseringsstønad mangler",
        "K030": "Måneder uten stønadsbeløp",
        "K031": "Stønadsbeløp uten måneder",
        "K032": "Kvalifiseringsstønad over 600 000 kr",
        "K036": "Status for deltakelsen",
        "K037": "Dato for avsluttet program",
        "K038": "Situasjon etter avsluttet program",
        "K039": "Viktigste inntektskilde etter avsluttet program",
    },
}


#: 11CF: the answers to "other support in the period" and the situations after the programme (one code each).


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
