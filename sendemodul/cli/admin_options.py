"""What the ``sendemodul admin`` commands share: the ``--home`` and ``--json`` options, the UNIT argument, opening the
store, and printing rows as a table or JSON."""

import datetime
import json
import re
from pathlib import Path

import click

from sendemodul import config, identity
from sendemodul.store import Store

ACTOR = "admin"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def home_option(f):
    return click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="SENDEMODUL_HOME",
        default=config.DEFAULT_HOME,
        show_default=True,
        show_envvar=True,
        help="The state home (database, config, keys, spool).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def open_store(home):
    cfg = config.load(home)
    return cfg, Store.open(cfg.store_location)


def unit_argument(f):
    return click.argument("unit", metavar="UNIT", callback=lambda ctx, param, value: _parse_unit(value))(f)


def _parse_unit(value):
    return identity.parse_unit(value, datetime.date.today().year)


def print_table(rows, columns):
    """A plain aligned text table; ``columns`` is a list of (key, heading)."""
    cells = [[heading for _, heading in columns]]
    cells += [["" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for i, r in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
    if not rows:
        click.echo("(none)")


def emit(rows, columns, as_json):
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_table(rows, columns)
