"""``sendemodul demo-extract``: write a synthetic extract to try ``check``, ``encrypt`` and ``upload`` with."""

import sys
from pathlib import Path

import click

from sendemodul import identity
from sendemodul.errors import UsageError
from sendemodul.profiles import load_profile
from sendemodul.testing import extracts


@click.command(name="demo-extract")
@click.option("--register", "-r", required=True, metavar="REGISTER", help="11F, 11CF, 15F or IPLOS.")
@click.option("--periode", "-p", required=True, metavar="YEAR", help="The reporting year, e.g. 2026.")
@click.option(
    "--unit",
    "-u",
    "unit_text",
    required=True,
    metavar="UNIT",
    help="The reporting unit KOMMUNENR-BYDEL-ORGNR, e.g. 0301-00-958935420.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="The extract file to write (- writes to standard output).",
)
@click.option("--count", "-n", default=100, show_default=True, metavar="N", type=int, help="How many records.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed gives the same bytes.")
def demo_extract(register, periode, unit_text, output, count, seed):
    """Write a synthetic extract for a register: valid by construction, with synthetic fødselsnummer only (never a
    real person's).

    \b
    Example:
      sendemodul demo-extract -r 11F -p 2026 -u 0301-00-958935420 -o demo-11f.txt -n 100
      sendemodul check -r 11F -p 2026 -u 0301-00-958935420 demo-11f.txt
    """
    if not (periode.isascii() and periode.isdigit() and len(periode) == 4):
        raise UsageError(f"--periode must be a year such as 2026, not {periode!r}.")
    if count < 1:
        raise UsageError(f"--count must be 1 or more, not {count}.")
    year = int(periode)
    profile = load_profile(register, year)
    unit = identity.parse_unit(unit_text, year)
    if str(output) == "-":
        extracts.write_extract(sys.stdout.buffer, profile, unit, count, seed=seed)
        return
    try:
        with open(output, "wb") as out:
            size = extracts.write_extract(out, profile, unit, count, seed=seed)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror}.") from None
    click.echo(
        f"Wrote {count} synthetic {register} {year} records for {unit_text} to {output} ({size} bytes).", err=True
    )


def register(cli):
    cli.add_command(demo_extract)
