"""``sendemodul check``: run the control rules on an extract before it is encrypted (municipal side)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import click

from sendemodul import identity
from sendemodul.cli.progress import ProgressReader
from sendemodul.errors import InputError, UsageError
from sendemodul.profiles import load_profile
from sendemodul.profiles.rules.checker import run_checks
from sendemodul.profiles.rules.report import LANGUAGES
from sendemodul.registers import REGISTERS

#: Files at least this large get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
_READ_BUFFER_BYTES = 1 << 16


@click.command()
@click.option(
    "--register", "-r", required=True, metavar="REGISTER", help=f"{', '.join(REGISTERS[:-1])} or {REGISTERS[-1]}."
)
@click.option("--periode", "-p", required=True, metavar="YEAR", help="The reporting year, e.g. 2026.")
@click.option(
    "--unit",
    "-u",
    "unit_text",
    required=True,
    metavar="UNIT",
    help="The reporting unit KOMMUNENR-BYDEL-ORGNR, e.g. 0301-12-958935420.",
)
@click.option(
    "--format",
    "-f",
    "report_format",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="The report's format.",
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write the report to this file instead of standard output."
)
@click.option(
    "--production",
    is_flag=True,
    help="Production policy: a synthetic test ID is a WARNING (by default it is expected: one INFO).",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="The report's language: en (the rules' texts as written), nb (Bokmål) or nn (Nynorsk). The command's own "
    "messages stay English.",
)
@click.argument("file", metavar="FILE", type=click.Path(allow_dash=True, path_type=Path))
@click.pass_context
def check(ctx, register, periode, unit_text, report_format, output, production, lang, file):
    """Check an extract with SSB's control rules before it is encrypted.

    FILE is the register's extract (- reads standard input). The report names rows by line number and
    journalnummer, never by ID number. The exit code is 0 when the extract is OK (or has only INFO findings), 1 for
    WARNING and 2 for ERROR or FATAL, which block submission.

    \b
    Example:
      sendemodul check --register 11CF --periode 2026 --unit 0301-12-958935420 kvp2026.txt
      sendemodul check -r 15F -p 2026 -u 1103-00-964965226 --format html -o rapport.html barnevern.xml
      sendemodul check -r 11F -p 2026 -u 4640-00-964967636 --lang nn sosialhjelp.txt
    """
    if not (periode.isascii() and periode.isdigit() and len(periode) == 4):
        raise UsageError(f"--periode must be a year such as 2026, not {periode!r}.")
    year = int(periode)
    profile = load_profile(register, year)
    unit = identity.parse_unit(unit_text, year)
    if str(file) == "-":
        report = run_checks(profile, sys.stdin.buffer, unit, allow_synthetic=not production, source="-")
    else:
        report = _check_file(profile, unit, file, allow_synthetic=not production)
    report.lang = lang
    rendered = {"text": report.to_text, "json": report.to_json, "html": report.to_html}[report_format]()
    if output is None:
        click.echo(rendered, nl=False)
    else:
        try:
            output.write_text(rendered, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"Cannot write {output}: {e.strerror}.") from None
        click.echo(report.summary, err=True)
    ctx.exit(report.exit_code)


def _check_file(profile, unit, path: Path, *, allow_synthetic: bool):
    """Check a file, with a progress bar over the bytes read when it is large and stderr is a terminal."""
    try:
        with open(path, "rb", buffering=0) as raw:
            size = os.fstat(raw.fileno()).st_size
            if size >= PROGRESS_MIN_BYTES and sys.stderr.isatty():
                with click.progressbar(length=size, label="Checking", file=sys.stderr) as bar:
                    stream = io.BufferedReader(ProgressReader(raw, bar.update), _READ_BUFFER_BYTES)
                    return run_checks(profile, stream, unit, allow_synthetic=allow_synthetic, source=str(path))
            stream = io.BufferedReader(raw, _READ_BUFFER_BYTES)
            return run_checks(profile, stream, unit, allow_synthetic=allow_synthetic, source=str(path))
    except OSError as e:
        raise InputError(f"Cannot read {path}: {e.strerror}.") from None


def register(cli):
    cli.add_command(check)
