"""``sendemodul profiles export``: the year's profiles and rule tables as one JSON table (docs/profiles.md)."""

import json
from pathlib import Path

import click

from sendemodul.errors import ProfileError
from sendemodul.profiles.export import combined_table


@click.group()
def profiles():
    """The register profiles and their rule tables.

    \b
    Example:
      sendemodul profiles export --year 2026 -o profiles-2026.json
    """


@profiles.command()
@click.option("--year", type=click.IntRange(2000, 2099), required=True, help="The reporting year.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write [default: standard output].",
)
def export(year, output):
    """Write the year's fixed-width profiles (fields, codes) and their SSB control tables, and its XML profiles
    (``xml_profiles``: elements, attributes, children, consistency rules), as one JSON table, the one the browser
    module embeds. The same bytes for the same sources (sorted keys).

    \b
    Example:
      sendemodul profiles export --year 2026 -o profiles-2026.json
    """
    table = combined_table(year)
    if not table["profiles"]:
        raise ProfileError(f"no fixed-width profiles for {year}")
    text = json.dumps(table, ensure_ascii=False, sort_keys=True, indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}: {len(table['profiles'])} profiles, controls of {', '.join(table['controls'])}")


def register(cli):
    cli.add_command(profiles)
