"""Individer to run SSB's barnevern controls on, many and odd: the SSB-derived cases of the control tests, SSB's own
test files, generated extracts, and random individer built from pools of values at each control's edges (dates
around 1998, 2023, 30 June and the reporting year; the codes that need a presisering; the laws and lovhjemmel of
omsorgstiltak), each with facts of their own (year, kommune, age, the identifiers' states).

tests/test_element_table.py checks the rule table's findings against the findings that the hand-written controls gave
on :func:`all_cases` before the table replaced them (tests/data/barnevern_controls_expected.json.gz, which holds the
cases too: it stays what it was if these builders change)."""

from __future__ import annotations

import io
import random
import re
import xml.etree.ElementTree as ET

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.testing.extracts import write_extract

DATES = [
    "",
    "1997-12-31",
    "1998-01-01",
    "2049-12-31",
    "2050-01-01",
    "2022-12-30",
    "2022-12-31",
    "2023-01-01",
    "2024-12-31",
    "2025-01-01",
    "2025-06-29",
    "2025-06-30",
    "2025-12-31",
    "2026-01-01",
    "2026-01-05",
    "2026-01-09",
    "2026-01-10",
    "2026-04-01",
    "2026-06-29",
    "2026-06-30",
    "2026-07-01",
    "2026-12-31",
    "2027-01-01",
    "2027-06-30",
    " 2026-05-05 ",
    "2026-02-30",
    "26-01-01",
]
KATEGORIER = ["1.1", "1.99", "2.3", "2.99", "3.7", "3.9", "3.99", "4.1", "4.2", "4.99", "5.99", "6.99", "8.2", "8.99"]
KONKLUSJON = ["", "1", "2", "3", "4", "5", " 1 "]
LOV = ["BVL", "BVL2021", "BVL", "BVL2021", "X", ""]
PRESISERING = ["", "Presisering", "Presisering", "  "]
#: The identifiers' states as SSB's ID controls see them (barnevern_facts.IdState).
STATES = ["none", "format", "mod11", "placeholder", "valid", "bad"]
AGES = [None, 0, 6, 7, 10, 11, 18, 19, 25, 26, 40]


def _attrs(rng: random.Random, **choices: list[str]) -> str:
    """Attributes with a value picked from each pool; an empty pick leaves the attribute out."""
    out = []
    for name, pool in choices.items():
        value = rng.choice(pool)
        if value:
            out.append(f' {name}="{value}"')
    return "".join(out)


def _presisering(rng: random.Random) -> str:
    text = rng.choice(PRESISERING)
    return "" if not text and rng.random() < 0.5 else f"<Presisering>{text}</Presisering>"


def _undersokelse(rng: random.Random) -> str:
    inner = ""
    for _ in range(rng.choice([0, 0, 1, 2])):
        inner += f'<Vedtaksgrunnlag Kode="{rng.choice(["18", "19", "2"])}">{_presisering(rng)}</Vedtaksgrunnlag>'
    if rng.random() < 0.3:
        inner += _presisering(rng)
    attrs = _attrs(rng, StartDato=DATES, SluttDato=DATES, Konklusjon=KONKLUSJON)
    return f'<Undersokelse Id="U"{attrs}>{inner}</Undersokelse>'


def _melding(rng: random.Random) -> str:
    inner = ""
    for _ in range(rng.choice([0, 1, 1, 2])):
        inner += f'<Melder Kode="{rng.choice(["22", "1", "22"])}">{_presisering(rng)}</Melder>'
    for _ in range(rng.choice([0, 1, 1, 2])):
        inner += f'<Saksinnhold Kode="{rng.choice(["18", "19", "3"])}">{_presisering(rng)}</Saksinnhold>'
    for _ in range(rng.choice([0, 1, 1, 2])):
        inner += _undersokelse(rng)
    attrs = _attrs(rng, StartDato=DATES, SluttDato=DATES, Konklusjon=KONKLUSJON)
    return f'<Melding Id="M"{attrs}>{inner}</Melding>'


def _lovhjemmel(rng: random.Random, tag: str) -> str:
    attrs = _attrs(
        rng,
        Lov=LOV,
        Kapittel=["4", "4", "5", "0", ""],
        Paragraf=["12", "8", "1", "4", "0"],
        Ledd=["", "1", "2", "3"],
        Bokstav=["", "a", "g", "h"],
    )
    return f"<{tag}{attrs}/>"


def _tiltak(rng: random.Random) -> str:
    inner = _lovhjemmel(rng, "Lovhjemmel") if rng.random() < 0.9 else ""
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        inner += _lovhjemmel(rng, "JmfrLovhjemmel")
    if rng.random() < 0.9:
        inner += f'<Kategori Kode="{rng.choice(KATEGORIER)}">{_presisering(rng)}</Kategori>'
    if rng.random() < 0.4:
        inner += f'<Opphevelse Kode="{rng.choice(["4", "1"])}">{_presisering(rng)}</Opphevelse>'
    attrs = _attrs(rng, StartDato=DATES, SluttDato=DATES)
    return f'<Tiltak Id="T"{attrs}>{inner}</Tiltak>'


def random_individ(rng: random.Random) -> str:
    """An individ built from the pools: any number of meldinger, planer, tiltak and flyttinger (0 to 3 each)."""
    body = "".join(_melding(rng) for _ in range(rng.choice([0, 1, 1, 2, 3])))
    for _ in range(rng.choice([0, 1, 2])):
        body += f'<Plan Id="P"{_attrs(rng, StartDato=DATES, SluttDato=DATES, EvaluertDato=DATES)} Plantype="1"/>'
    body += "".join(_tiltak(rng) for _ in range(rng.choice([0, 1, 2, 3, 4])))
    for _ in range(rng.choice([0, 0, 1, 2])):
        body += f'<Flytting Id="F"{_attrs(rng, SluttDato=DATES)}><ArsakFra Kode="1.3"/></Flytting>'
    attrs = _attrs(
        rng,
        StartDato=DATES,
        SluttDato=DATES,
        Avslutta3112=["1", "2", "1"],
        Bydelsnavn=["", "Gamle Oslo", " "],
    )
    return f'<Individ Id="I" Journalnummer="J"{attrs}>{body}</Individ>'


def random_facts(rng: random.Random) -> tuple[int, str, int | None, str, str]:
    """(periode, kommunenr, age, fnr state, duf state)."""
    return (
        rng.choice([2025, 2026]),
        rng.choice(["0301", "3401"]),
        rng.choice(AGES),
        rng.choice(STATES),
        rng.choice(STATES),
    )


_IDS = re.compile(r' (?:Fodselsnummer|DUFnummer)="[^"]*"')


def without_ids(xml: str) -> str:
    """The individ with its identifiers taken out, as the controls get it (and as a fixture may hold it)."""
    return _IDS.sub("", xml)


def individer_of(document: bytes) -> list[str]:
    """The ``Individ`` elements of a 15F document, as XML text without their identifiers."""
    root = ET.fromstring(document)
    return [without_ids(ET.tostring(e, encoding="unicode")) for e in root.iter("Individ")]


def generated_individer(n: int, seed: int) -> list[str]:
    out = io.BytesIO()
    write_extract(out, load_profile("15F", 2026), identity.parse_unit("0301-00-958935420", 2026), n, seed=seed)
    return individer_of(out.getvalue())


def mutated(xml: str, rng: random.Random) -> str:
    """``xml`` with some dates, codes and laws replaced by values from the pools."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if rng.random() > 0.3:
            return match[0]
        if name.endswith("Dato"):
            return f' {name}="{rng.choice(DATES)}"'
        if name == "Konklusjon":
            return f' {name}="{rng.choice(KONKLUSJON)}"'
        if name == "Lov":
            return f' {name}="{rng.choice(LOV)}"'
        if name == "Kode":
            return f' {name}="{rng.choice([*KATEGORIER, "22", "18", "19", "4", "5"])}"'
        return match[0]

    return re.sub(r' (\w+)="[^"]*"', replace, xml)


def ssb_individer() -> list[tuple[str, tuple[int, str, int | None, str, str]]]:
    """(individ XML without identifiers, facts) of the SSB-derived cases (the rows of test_ssb_agreement_15f and
    test_barnevern_controls, SSB's test files), with the facts their identifiers give."""
    import test_barnevern_controls as controls
    import test_ssb_15f as files
    import test_ssb_agreement_15f as agreement

    from sendemodul.profiles.rules import barnevern

    documents = [agreement.unit_and_file(case) for case in agreement.CASES]
    documents += [(controls.UNIT, agreement.doc(case[2])) for case in controls.CASES]
    documents += [
        (controls.UNIT, agreement.doc(controls.individ(case[3]).replace(controls.FNR, controls.fnr_aged(case[2]))))
        for case in controls.AGE_CASES
        if case[2] is not None
    ]
    for name, unit in {**files.OK_FILES, **files.OTHER_FILES}.items():
        documents.append((unit, files.ssb_file(name)))
    out = []
    for unit, document in documents:
        data = document if isinstance(document, bytes) else document.encode()
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue  # SSB's "invalid XML" row
        kommunenr = identity.parse_unit(unit, 2026).kommunenr
        for element in root.iter("Individ"):
            fnr, duf = element.get("Fodselsnummer", "").strip(), element.get("DUFnummer", "").strip()
            facts = (2026, kommunenr, barnevern.age_in(fnr, 2026), barnevern.fnr_state(fnr), barnevern.duf_state(duf))
            out.append((without_ids(ET.tostring(element, encoding="unicode")), facts))
    return out


def all_cases() -> list[tuple[str, tuple[int, str, int | None, str, str]]]:
    """Every (individ, facts) of tests/data/barnevern_controls_expected.json.gz, made as it was made (the SSB-derived
    cases, 60 generated individer and 3 mutations of each, 1000 random ones; seeded): the hand-written controls gave
    the findings stored there, before the rule table replaced them."""
    rng = random.Random(15)
    found = ssb_individer()
    generated = generated_individer(60, 1)
    for xml in generated + [mutated(x, rng) for x in generated for _ in range(3)]:
        found.append((xml, random_facts(rng)))
    for _ in range(1000):
        found.append((random_individ(rng), random_facts(rng)))
    return found
