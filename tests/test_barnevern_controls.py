"""SSB's individual barnevern (15F) controls, case by case from the rows of SSB's own unit tests
(kontroller/src/test/kotlin/no/ssb/kostra/validation/rule/barnevern/individrule/<Control>Test.kt in
github.com/statisticsnorway/kostra-kontrollprogram, commit c1f5848): each case names SSB's test and row, and expects
SSB's control id with SSB's severity, or no finding of that control."""

import datetime
import io

import pytest

from sendemodul import identity
from sendemodul.profiles import load_profile
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.profiles.rules.report import Severity

UNIT = "3401-00-944117784"  # Kongsvinger (SSB's test files' kommune): no bydel
FNR = "01011088194"  # from SSB's Testfil_22_OK
D = "2026-06-15"  # SSB's dateInTest: a day in the reporting year
BEFORE, AFTER, LATER, NEXT_YEAR, TWO_YEARS_AGO = "2026-06-14", "2026-06-16", "2026-06-17", "2027-06-15", "2024-06-15"
TILTAK = '<Lovhjemmel Lov="BVL" Kapittel="4" Paragraf="4"/><Kategori Kode="{kode}"/>'


def individ(body="", start=D, end="", closed="2"):
    slutt = f' SluttDato="{end}"' if end else ""
    return (
        f'<Individ Id="C1" Journalnummer="J1" StartDato="{start}"{slutt} Fodselsnummer="{FNR}" '
        f'Saksbehandler="S" Avslutta3112="{closed}">{body}</Individ>'
    )


def melding(inner="", start=D, end="", konklusjon=""):
    attrs = (f' SluttDato="{end}"' if end else "") + (f' Konklusjon="{konklusjon}"' if konklusjon else "")
    return f'<Melding Id="M1" StartDato="{start}"{attrs}>{inner}</Melding>'


def undersokelse(inner="", start=D, end="", konklusjon=""):
    attrs = (f' SluttDato="{end}"' if end else "") + (f' Konklusjon="{konklusjon}"' if konklusjon else "")
    return f'<Undersokelse Id="U1" StartDato="{start}"{attrs}>{inner}</Undersokelse>'


def plan(start=D, end=""):
    return f'<Plan Id="P1" StartDato="{start}"' + (f' SluttDato="{end}"' if end else "") + ' Plantype="1"/>'


def tiltak(start=D, end="", kode="3.9", after="", ident="T1"):
    slutt = f' SluttDato="{end}"' if end else ""
    return f'<Tiltak Id="{ident}" StartDato="{start}"{slutt}>{TILTAK.format(kode=kode)}{after}</Tiltak>'


def flytting(end):
    return f'<Flytting Id="F1" SluttDato="{end}"><ArsakFra Kode="1.3"/><FlyttingTil Kode="1"/></Flytting>'


PRES = "<Presisering>Presiseringstekst</Presisering>"
CONTENT = plan()  # something, so that Individ06 is quiet

# (SSB's test, its row, the Individ, the control, whether it finds something)
CASES = [
    ("Individ02bTest", "individ without sluttDato", individ(CONTENT), "Individ02b", False),
    ("Individ02bTest", "individ with valid sluttDato", individ(CONTENT, end=D), "Individ02b", False),
    (
        "Individ02bTest",
        "individ with invalid sluttDato",
        individ(CONTENT, start=TWO_YEARS_AGO, end=TWO_YEARS_AGO),
        "Individ02b",
        True,
    ),
    ("Individ02aTest", "startDato after sluttDato", individ(CONTENT, start=AFTER, end=D), "Individ02a", True),
    ("Individ02dTest", "avslutta3112 = '1' without sluttDato", individ(CONTENT, closed="1"), "Individ02d", True),
    ("Individ06Test", "individ with melding", individ(melding()), "Individ06", False),
    ("Individ06Test", "individ with plan", individ(plan()), "Individ06", False),
    ("Individ06Test", "individ with tiltak", individ(tiltak()), "Individ06", False),
    ("Individ06Test", "individ with without content", individ(), "Individ06", True),
    (
        "Melding02aTest",
        "melding with startDato after sluttDato",
        individ(melding(start=AFTER, end=D)),
        "Melding02a",
        True,
    ),
    ("Melding02cTest", "individ without sluttDato", individ(melding(end=AFTER)), "Melding02c", False),
    ("Melding02cTest", "melding without sluttDato", individ(melding(), end=AFTER), "Melding02c", False),
    (
        "Melding02cTest",
        "melding with sluttDato equal to individ",
        individ(melding(end=AFTER), end=AFTER),
        "Melding02c",
        False,
    ),
    (
        "Melding02cTest",
        "melding with sluttDato  after individ sluttDato, henlagt",
        individ(melding(end=LATER, konklusjon="1"), end=AFTER),
        "Melding02c",
        False,
    ),
    (
        "Melding02cTest",
        "melding with sluttDato after individ sluttDato",
        individ(melding(end=LATER, konklusjon="2"), end=AFTER),
        "Melding02c",
        True,
    ),
    (
        "Melding02dTest",
        "avslutta3112 = '1', melding without sluttDato",
        individ(melding(), end=D, closed="1"),
        "Melding02d",
        True,
    ),
    (
        "Melding02eTest",
        "melding with startDato before individ startDato",
        individ(melding(start=BEFORE)),
        "Melding02e",
        True,
    ),
    (
        "Melder02Test",
        "individ with melding with melder, kode different from 22",
        individ(melding('<Melder Kode="21"/>')),
        "Melder02",
        False,
    ),
    (
        "Melder02Test",
        "individ with melding with melder, kode = 22",
        individ(melding(f'<Melder Kode="22">{PRES}</Melder>')),
        "Melder02",
        False,
    ),
    (
        "Melder02Test",
        "individ with melding with melder, kode = 22, presisering missing",
        individ(melding('<Melder Kode="22"/>')),
        "Melder02",
        True,
    ),
    (
        "Saksinnhold02Test",
        "melding with saksinnhold, kode does not require presisering",
        individ(melding('<Saksinnhold Kode="17"/>')),
        "Saksinnhold02",
        False,
    ),
    (
        "Saksinnhold02Test",
        "melding with saksinnhold with presisering, kode requires presisering",
        individ(melding(f'<Saksinnhold Kode="18">{PRES}</Saksinnhold>')),
        "Saksinnhold02",
        False,
    ),
    (
        "Saksinnhold02Test",
        "melding with saksinnhold without presisering, kode requires presisering",
        individ(melding('<Saksinnhold Kode="19"/>')),
        "Saksinnhold02",
        True,
    ),
    (
        "Undersokelse02aTest",
        "undersokelse with startDato after sluttDato",
        individ(melding(undersokelse(start=AFTER, end=D))),
        "Undersokelse02a",
        True,
    ),
    (
        "Undersokelse02bTest",
        "undersokelse with sluttDato after reporting year",
        individ(melding(undersokelse(end=NEXT_YEAR))),
        "Undersokelse02b",
        True,
    ),
    (
        "Undersokelse02cTest",
        "undersokelse with sluttDato after individ sluttDato",
        individ(melding(undersokelse(end=LATER)), end=AFTER),
        "Undersokelse02c",
        True,
    ),
    (
        "Undersokelse02dTest",
        "avslutta3112 = '1', melding without undersokelse",
        individ(melding(), end=D, closed="1"),
        "Undersokelse02d",
        False,
    ),
    (
        "Undersokelse02dTest",
        "avslutta3112 = '1', melding with undersokelse with valid sluttDato",
        individ(melding(undersokelse(end=D), end=D), end=D, closed="1"),
        "Undersokelse02d",
        False,
    ),
    (
        "Undersokelse02dTest",
        "avslutta3112 = '1', undersokelse without sluttdato",
        individ(melding(undersokelse(), end=D), end=D, closed="1"),
        "Undersokelse02d",
        True,
    ),
    (
        "Undersokelse02dTest",
        "avslutta3112 = '1', undersokelse with sluttDato after reporting year",
        individ(melding(undersokelse(end=NEXT_YEAR), end=D), end=D, closed="1"),
        "Undersokelse02d",
        True,
    ),
    (
        "Undersokelse02eTest",
        "undersokelse with startDato before individ startDato",
        individ(melding(undersokelse(start=BEFORE))),
        "Undersokelse02e",
        True,
    ),
    (
        "Undersokelse03Test",
        "undersokelse with unrelated konklusjon",
        individ(melding(undersokelse(konklusjon="4"))),
        "Undersokelse03",
        False,
    ),
    (
        "Undersokelse03Test",
        "undersokelse with konklusjon and presisering",
        individ(melding(undersokelse(PRES, konklusjon="5"))),
        "Undersokelse03",
        False,
    ),
    (
        "Undersokelse03Test",
        "undersokelse with konklusjon without presisering",
        individ(melding(undersokelse(konklusjon="5"))),
        "Undersokelse03",
        True,
    ),
    (
        "Vedtak02Test",
        "undersokelse with vedtaksgrunnlag, unrelated kode",
        individ(melding(undersokelse('<Vedtaksgrunnlag Kode="17"/>'))),
        "Vedtak02",
        False,
    ),
    (
        "Vedtak02Test",
        "undersokelse with vedtaksgrunnlag without presisering, kode = 18",
        individ(melding(undersokelse('<Vedtaksgrunnlag Kode="18"/>'))),
        "Vedtak02",
        True,
    ),
    (
        "Vedtak02Test",
        "undersokelse with vedtaksgrunnlag without presisering, kode = 19",
        individ(melding(undersokelse('<Vedtaksgrunnlag Kode="19"/>'))),
        "Vedtak02",
        True,
    ),
    ("Plan02aTest", "plan with startDato after sluttDato", individ(plan(start=AFTER, end=D)), "Plan02a", True),
    (
        "Plan02cTest",
        "plan with sluttDato after individ sluttDato",
        individ(plan(end=LATER), end=AFTER),
        "Plan02c",
        True,
    ),
    ("Plan02dTest", "avslutta3112 = '1', plan without sluttDato", individ(plan(), end=D, closed="1"), "Plan02d", True),
    ("Plan02eTest", "individ without plan", individ(tiltak()), "Plan02e", False),
    ("Plan02eTest", "plan with startDato equal to individ startDato", individ(plan()), "Plan02e", False),
    ("Plan02eTest", "plan with startDato before individ startDato", individ(plan(start=BEFORE)), "Plan02e", True),
    ("Tiltak02aTest", "tiltak with startDato after sluttDato", individ(tiltak(start=AFTER, end=D)), "Tiltak02a", True),
    ("Tiltak02bTest", "tiltak without sluttDato", individ(tiltak()), "Tiltak02b", False),
    ("Tiltak02bTest", "tiltak with sluttDato in reporting year", individ(tiltak(end=D)), "Tiltak02b", False),
    ("Tiltak02bTest", "tiltak with sluttDato after reporting year", individ(tiltak(end=NEXT_YEAR)), "Tiltak02b", True),
    (
        "Tiltak02cTest",
        "tiltak with sluttDato after individ sluttDato",
        individ(tiltak(end=LATER), end=AFTER),
        "Tiltak02c",
        True,
    ),
    ("Tiltak02dTest", "individ with avslutta3112 = '2'", individ(tiltak()), "Tiltak02d", False),
    (
        "Tiltak02dTest",
        "avslutta3112 = '1', no tiltak",
        individ(CONTENT.replace("/>", ' SluttDato="2026-06-15"/>'), end=D, closed="1"),
        "Tiltak02d",
        False,
    ),
    (
        "Tiltak02dTest",
        "avslutta3112 = '1', tiltak with sluttDato",
        individ(tiltak(end=D), end=D, closed="1"),
        "Tiltak02d",
        False,
    ),
    (
        "Tiltak02dTest",
        "avslutta3112 = '1', tiltak without sluttDato",
        individ(tiltak(), end=D, closed="1"),
        "Tiltak02d",
        True,
    ),
    (
        "Tiltak02dTest",
        "avslutta3112 = '1', tiltak with valid sluttDato, context without sluttDato",
        individ(tiltak(end=D), closed="1"),
        "Tiltak02d",
        True,
    ),
    (
        "Tiltak02dTest",
        "avslutta3112 = '1', tiltak with sluttDato after reporting year",
        individ(tiltak(end=NEXT_YEAR), end=D, closed="1"),
        "Tiltak02d",
        True,
    ),
    (
        "Tiltak02eTest",
        "tiltak with startDato before individ startDato",
        individ(tiltak(start=BEFORE)),
        "Tiltak02e",
        True,
    ),
    (
        "Tiltak07Test",
        "individ with kategori that does not require presisering",
        individ(tiltak(kode="4.1")),
        "Tiltak07",
        False,
    ),
    (
        "Tiltak07Test",
        "individ with kategori with presisering",
        individ(tiltak().replace('<Kategori Kode="3.9"/>', f'<Kategori Kode="1.99">{PRES}</Kategori>')),
        "Tiltak07",
        False,
    ),
    ("Tiltak07Test", "individ with kategori without presisering", individ(tiltak(kode="1.99")), "Tiltak07", True),
    ("Tiltak08Test", "individ with tiltak without opphevelse", individ(tiltak()), "Tiltak08", False),
    (
        "Tiltak08Test",
        "individ with opphevelse that does not require presisering",
        individ(tiltak(after='<Opphevelse Kode="1"/>')),
        "Tiltak08",
        False,
    ),
    (
        "Tiltak08Test",
        "individ with opphevelse with presisering",
        individ(tiltak(after=f'<Opphevelse Kode="4">{PRES}</Opphevelse>')),
        "Tiltak08",
        False,
    ),
    (
        "Tiltak08Test",
        "individ with opphevelse without presisering",
        individ(tiltak(after='<Opphevelse Kode="4"/>')),
        "Tiltak08",
        True,
    ),
    ("Flytting02cTest", "individ with sluttDato, without flytting", individ(CONTENT, end=AFTER), "Flytting02c", False),
    (
        "Flytting02cTest",
        "flytting with sluttDato equal to individ",
        individ(CONTENT + flytting(AFTER), end=AFTER),
        "Flytting02c",
        False,
    ),
    (
        "Flytting02cTest",
        "flytting with sluttDato after individ sluttDato",
        individ(CONTENT + flytting(LATER), end=AFTER),
        "Flytting02c",
        True,
    ),
    ("Flytting02fTest", "individ without flytting", individ(CONTENT), "Flytting02f", False),
    (
        "Flytting02fTest",
        "flytting with sluttDato equal to individ",
        individ(CONTENT + flytting(D)),
        "Flytting02f",
        False,
    ),
    (
        "Flytting02fTest",
        "flytting with sluttDato before individ startDato",
        individ(CONTENT + flytting(BEFORE)),
        "Flytting02f",
        True,
    ),
    ("Melding03Test", "melding without sluttDato", individ(melding()), "Melding03", False),
    (
        "Melding03Test",
        "melding with sluttDato less than 8 days from startDato",
        individ(melding(end="2026-06-22")),
        "Melding03",
        False,
    ),
    (
        "Melding03Test",
        "melding with sluttDato more than 8 days from startDato",
        individ(melding(end="2026-06-24")),
        "Melding03",
        True,
    ),
    (
        "Melding04Test",
        "melding with sluttDato before reporting year",
        individ(melding(start="2025-12-20", end="2025-12-24", konklusjon="1"), start="2025-12-01"),
        "Melding04",
        False,
    ),
    (
        "Melding04Test",
        "melding with sluttDato after reporting year, no konklusjon",
        individ(melding(end=AFTER)),
        "Melding04",
        False,
    ),
    (
        "Melding04Test",
        "melding with sluttDato after reporting year, with konklusjon '1', melder is not empty",
        individ(melding('<Melder Kode="1"/>', end=AFTER, konklusjon="1")),
        "Melding04",
        False,
    ),
    (
        "Melding04Test",
        "melding with sluttDato after reporting year, with konklusjon '2', melder is empty",
        individ(melding(end=AFTER, konklusjon="2")),
        "Melding04",
        True,
    ),
    (
        "Melding05Test",
        "melding with sluttDato after reporting year, with konklusjon '3'",
        individ(melding(end=AFTER, konklusjon="3")),
        "Melding05",
        False,
    ),
    (
        "Melding05Test",
        "melding with sluttDato after reporting year, with konklusjon '2', saksinnhold is not empty",
        individ(melding('<Saksinnhold Kode="1"/>', end=AFTER, konklusjon="2")),
        "Melding05",
        False,
    ),
    (
        "Melding05Test",
        "melding with sluttDato after reporting year, with konklusjon '1', saksinnhold is empty",
        individ(melding(end=AFTER, konklusjon="1")),
        "Melding05",
        True,
    ),
    ("Undersokelse04Test", "undersokelse without sluttDato", individ(melding(undersokelse())), "Undersokelse04", False),
    (
        "Undersokelse04Test",
        "undersokelse with sluttDato and konklusjon",
        individ(melding(undersokelse(end=AFTER, konklusjon="3"))),
        "Undersokelse04",
        False,
    ),
    (
        "Undersokelse04Test",
        "undersokelse with sluttDato without konklusjon",
        individ(melding(undersokelse(end=AFTER))),
        "Undersokelse04",
        True,
    ),
    (
        "Undersokelse07Test",
        "undersokelse with unrelated konklusjon",
        individ(melding(undersokelse(konklusjon="3"))),
        "Undersokelse07",
        False,
    ),
    (
        "Undersokelse07Test",
        "undersokelse with konklusjon and vedtaksgrunnlag",
        individ(melding(undersokelse('<Vedtaksgrunnlag Kode="1"/>', konklusjon="1"))),
        "Undersokelse07",
        False,
    ),
    (
        "Undersokelse07Test",
        "undersokelse with konklusjon without vedtaksgrunnlag, konklusjon = 1",
        individ(melding(undersokelse(konklusjon="1"))),
        "Undersokelse07",
        True,
    ),
    (
        "Undersokelse07Test",
        "undersokelse with konklusjon without vedtaksgrunnlag, konklusjon = 2",
        individ(melding(undersokelse(konklusjon="2"))),
        "Undersokelse07",
        True,
    ),
    (
        "Undersokelse08Test",
        "undersokelse with startDato before June with sluttDato",
        individ(
            melding(undersokelse(start="2026-05-01", end=D, konklusjon="3"), start="2026-05-01"), start="2026-05-01"
        ),
        "Undersokelse08",
        False,
    ),
    (
        "Undersokelse08Test",
        "undersokelse with startDato after June, without sluttDato",
        individ(melding(undersokelse(start="2026-07-01"))),
        "Undersokelse08",
        False,
    ),
    (
        "Undersokelse08Test",
        "undersokelse with startDato before June without sluttDato",
        individ(melding(undersokelse(start="2026-05-01"), start="2026-05-01"), start="2026-05-01"),
        "Undersokelse08",
        True,
    ),
    ("Lovhjemmel04Test", "individ with tiltak with valid lovhjemmel", individ(tiltak()), "Lovhjemmel04", False),
    (
        "Lovhjemmel04Test",
        "invalid kapittel",
        individ(tiltak().replace('Kapittel="4"', 'Kapittel="0"')),
        "Lovhjemmel04",
        True,
    ),
    (
        "Lovhjemmel04Test",
        "invalid paragraf",
        individ(tiltak().replace('Paragraf="4"', 'Paragraf="0"')),
        "Lovhjemmel04",
        True,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato before 01.01.2023, no errors",
        individ(tiltak(start="2022-12-31", after=""), start="2022-12-31"),
        "Tiltak24",
        False,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato before 01.01.2023, wrong lovhjemmel.lov",
        individ(tiltak(start="2022-12-31").replace('Lov="BVL"', 'Lov="FAIL"'), start="2022-12-31"),
        "Tiltak24",
        True,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato before 01.01.2023, wrong jmfrlovhjemmel.lov",
        individ(
            tiltak(start="2022-12-31").replace(
                "<Kategori", '<JmfrLovhjemmel Lov="BVL2021" Kapittel="1" Paragraf="1"/><Kategori'
            ),
            start="2022-12-31",
        ),
        "Tiltak24",
        True,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato after 01.01.2023, no errors, lov = 'BVL'",
        individ(tiltak()),
        "Tiltak24",
        False,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato after 01.01.2023, no errors, lov = 'BVL2021'",
        individ(tiltak().replace('Lov="BVL"', 'Lov="BVL2021"')),
        "Tiltak24",
        False,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato after 01.01.2023, wrong lovhjemmel.lov",
        individ(tiltak().replace('Lov="BVL"', 'Lov="FAIL"')),
        "Tiltak24",
        True,
    ),
    (
        "Tiltak24Test",
        "tiltak with startdato after 01.01.2023, wrong jmfrlovhjemmel.lov",
        individ(tiltak().replace("<Kategori", '<JmfrLovhjemmel Lov="FAIL" Kapittel="1" Paragraf="1"/><Kategori')),
        "Tiltak24",
        True,
    ),
    (
        "Tiltak04Test",
        "tiltak without sluttdato",
        individ(tiltak().replace('Paragraf="4"', 'Paragraf="12"')),
        "Tiltak04",
        False,
    ),
    ("Tiltak04Test", "tiltak with sluttdato, not omsorgstiltak", individ(tiltak(end=AFTER)), "Tiltak04", False),
    (
        "Tiltak04Test",
        "tiltak with sluttdato, omsorgstiltak",
        individ(tiltak(end=AFTER, after='<Opphevelse Kode="1"/>').replace('Paragraf="4"', 'Paragraf="12"')),
        "Tiltak04",
        False,
    ),
    (
        "Tiltak04Test",
        "tiltak with sluttdato, omsorgstiltak, opphevelse missing",
        individ(tiltak(end=AFTER).replace('Paragraf="4"', 'Paragraf="12"')),
        "Tiltak04",
        True,
    ),
    (
        "Tiltak04 (BVL2021 5-1 c, as SSB's lovhjemmelOmsorgstiltak)",
        "omsorgstiltak, opphevelse missing",
        individ(
            tiltak(end=AFTER).replace(
                'Lov="BVL" Kapittel="4" Paragraf="4"', 'Lov="BVL2021" Kapittel="5" Paragraf="1" Bokstav="c"'
            )
        ),
        "Tiltak04",
        True,
    ),
    ("Tiltak09Test", "individ with single plasseringstiltak", individ(tiltak(kode="1.1")), "Tiltak09", False),
    (
        "Tiltak09Test",
        "two overlapping plasseringstiltak, less than 90 days",
        individ(tiltak(kode="1.1") + tiltak(kode="1.2", end="2026-09-12", ident="T2")),
        "Tiltak09",
        False,
    ),
    (
        "Tiltak09Test",
        "two overlapping plasseringstiltak, more than 90 days",
        individ(tiltak(kode="1.1") + tiltak(kode="1.2", end="2026-09-23", ident="T2")),
        "Tiltak09",
        True,
    ),
    (
        "Tiltak09Test",
        "three overlapping plasseringstiltak, more than 90 days",
        individ(
            tiltak(kode="1.1")
            + tiltak(start="2026-06-16", kode="1.2", end="2026-09-14", ident="T2")
            + tiltak(start="2026-06-17", kode="1.2", end="2026-09-15", ident="T3")
        ),
        "Tiltak09",
        True,
    ),
    (
        "Individ03Test",
        "individ without fodselsnummer and DUF",
        individ(CONTENT).replace(f' Fodselsnummer="{FNR}"', ""),
        "Individ03",
        True,
    ),
]


#: SSB's severity where it is not ERROR.
WARNINGS = {
    control: Severity.WARNING
    for control in ("Melding03", "Undersokelse08", "Tiltak04", "Tiltak05", "Tiltak06", "Tiltak09")
}


def check(individ_xml, periode=2026):
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Barnevern><Avgiver Organisasjonsnummer="944117784" '
        f'Versjon="{periode}" Kommunenummer="3401" Kommunenavn="Kongsvinger"/>\n{individ_xml}\n'
        "</Barnevern>\n"
    ).encode()
    return run_checks(
        load_profile("15F", periode), io.BytesIO(data), identity.parse_unit(UNIT, periode), allow_synthetic=True
    )


@pytest.mark.parametrize(
    "ssb_test, row, individ_xml, control, fires", CASES, ids=[f"{test}-{row}" for test, row, *_ in CASES]
)
def test_ssbs_control_as_in_ssbs_unit_test(ssb_test, row, individ_xml, control, fires):
    report = check(individ_xml)
    structural = [f for f in report.findings if f.rule in {"XML", "SCHEMA", "MANDATORY", "CODE", "LENGTH", "DATE"}]
    assert not structural, report.to_text()  # each case is valid against SSB's XSD
    found = [f for f in report.findings if f.rule == control]
    assert bool(found) == fires, report.to_text()
    if fires:
        severity = WARNINGS.get(control, Severity.ERROR)
        assert {f.severity for f in found} == {severity}
        assert report.exit_code == (2 if severity is Severity.ERROR else 1)
        assert all(f.line == 3 and f.journalnr == "J1" for f in found)


def test_the_controls_name_no_id_or_date():
    report = check(
        individ(
            melding(undersokelse(end=NEXT_YEAR), start="2026-01-01") + tiltak(start="2026-01-01", end="2026-12-01"),
            start="2026-03-03",
            end="2026-03-04",
            closed="1",
        )
    )
    assert {"Undersokelse02b", "Melding02e", "Tiltak02e", "Tiltak02c", "Melding02d"} <= set(report.rule_counts)
    for finding in report.findings:
        assert not any(text in finding.message for text in ("2026-", "2027-", "M1", "U1", "T1", "C1")), finding


def test_a_valid_individ_with_everything_gives_no_findings():
    body = (
        melding(
            f'<Melder Kode="22">{PRES}</Melder><Saksinnhold Kode="18">{PRES}</Saksinnhold>'
            + undersokelse(f'{PRES}<Vedtaksgrunnlag Kode="19">{PRES}</Vedtaksgrunnlag>', end=D, konklusjon="5"),
            end=D,
            konklusjon="2",
        )
        + plan(end=D)
        + tiltak(end=D, after=f'<Opphevelse Kode="4">{PRES}</Opphevelse>')
        + flytting(D)
    )
    report = check(individ(body, start=D, end=D, closed="1"))
    assert set(report.rule_counts) <= {"ID_SYNTHETIC"}, report.to_text()


@pytest.mark.parametrize(
    "row, unit, bydelsnavn, fires",
    [
        ("individ without bydelsnavn", UNIT, "", False),
        ("individ with bydelsnavn, Oslo", "0301-14-958935420", ' Bydelsnavn="Nordstrand"', False),
        ("individ without bydelsnavn, Oslo", "0301-14-958935420", "", True),
    ],
)
def test_individ10_as_in_ssbs_individ10test(row, unit, bydelsnavn, fires):
    kommunenr, orgnr = unit[:4], unit[-9:]
    bydel = ' Bydelsnummer="14"' if kommunenr == "0301" else ""
    data = (
        f'<Barnevern><Avgiver Organisasjonsnummer="{orgnr}" Versjon="2026" Kommunenummer="{kommunenr}" '
        f'Kommunenavn="K"/>\n'
        + individ(CONTENT).replace(" Saksbehandler=", f"{bydel}{bydelsnavn} Saksbehandler=")
        + "\n</Barnevern>\n"
    ).encode()
    report = run_checks(
        load_profile("15F", 2026), io.BytesIO(data), identity.parse_unit(unit, 2026), allow_synthetic=True
    )
    assert set(report.rule_counts) - {"ID_SYNTHETIC", "ID_PLACEHOLDER"} == ({"Individ10"} if fires else set()), (
        report.to_text()
    )
    if fires:
        assert report.findings[0].severity is Severity.ERROR


def fnr_aged(age):
    """A valid fødselsnummer of someone ``age`` years old in 2026 (SSB's reckoning: 2026 minus the birth year)."""
    year = 2026 - age
    first = 500 if year >= 2000 else 0
    return next(
        f for i in range(first, first + 500) if (f := identity.generate_fnr(datetime.date(year, 3, 1), i)) is not None
    )


OMSORG = tiltak().replace('Paragraf="4"', 'Paragraf="12"')
# (SSB's test, its row, age (None: no fødselsnummer, DUF number instead), the Individ's body, control, fires)
AGE_CASES = [
    ("Individ07Test", "individ without fodselsnummer", None, CONTENT, "Individ07", False),
    ("Individ07Test", "individ with fodselsnummer, age below 25", 24, CONTENT, "Individ07", False),
    ("Individ07Test", "individ with fodselsnummer, age is 25", 25, CONTENT, "Individ07", False),
    ("Individ07Test", "individ age above 25", 26, CONTENT, "Individ07", True),
    ("Individ08Test", "individ with fodselsnummer, age below 18", 17, CONTENT, "Individ08", False),
    ("Individ08Test", "individ with fodselsnummer, age above 18 with measure", 19, tiltak(), "Individ08", False),
    ("Individ08Test", "individ with fodselsnummer, age above 18 without measure", 19, CONTENT, "Individ08", True),
    ("Tiltak05Test", "individ with fodselsnummer, age below 7", 6, tiltak(kode="4.1"), "Tiltak05", False),
    ("Tiltak05Test", "individ with fodselsnummer, age above 7, no tiltak", 8, CONTENT, "Tiltak05", False),
    (
        "Tiltak05Test",
        "individ with fodselsnummer, age above 7, tiltak with kategori#kode different from 4.1",
        8,
        tiltak(kode="4.2"),
        "Tiltak05",
        False,
    ),
    (
        "Tiltak05Test",
        "individ with fodselsnummer, age above 7, tiltak with kategori#kode 4.1",
        8,
        tiltak(kode="4.1"),
        "Tiltak05",
        True,
    ),
    ("Tiltak06Test", "individ with fodselsnummer, age below 11", 10, tiltak(kode="4.2"), "Tiltak06", False),
    (
        "Tiltak06Test",
        "individ with fodselsnummer, age above 11, tiltak with kategori#kode different from 4.2",
        12,
        tiltak(kode="4.3"),
        "Tiltak06",
        False,
    ),
    (
        "Tiltak06Test",
        "individ with fodselsnummer, age above 11, tiltak with kategori#kode equal to 4.2",
        12,
        tiltak(kode="4.2"),
        "Tiltak06",
        True,
    ),
    ("Lovhjemmel03Test", "individ with fodselsnummer, age below eighteen", 17, OMSORG, "Lovhjemmel03", False),
    ("Lovhjemmel03Test", "age above eighteen, with omsorgstiltak", 19, OMSORG, "Lovhjemmel03", True),
    ("Lovhjemmel03Test", "age above eighteen, no omsorgstiltak", 19, tiltak(), "Lovhjemmel03", False),
]


@pytest.mark.parametrize(
    "ssb_test, row, age, body, control, fires", AGE_CASES, ids=[f"{test}-{row}" for test, row, *_ in AGE_CASES]
)
def test_ssbs_age_controls_as_in_ssbs_unit_tests(ssb_test, row, age, body, control, fires):
    person = f' Fodselsnummer="{fnr_aged(age)}"' if age is not None else ' DUFnummer="201201234567"'
    report = check(individ(body).replace(f' Fodselsnummer="{FNR}"', person))
    found = [f for f in report.findings if f.rule == control]
    assert bool(found) == fires, report.to_text()
    if fires:
        assert {f.severity for f in found} == {WARNINGS.get(control, Severity.ERROR)}
