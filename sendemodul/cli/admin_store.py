"""``sendemodul admin migrate-store``: the home's SQLite database copied into PostgreSQL, for a cluster of fronts."""

import click

from sendemodul import config
from sendemodul.cli.admin_options import home_option
from sendemodul.errors import AlreadyExists, StoreError
from sendemodul.store import Store
from sendemodul.store.copying import copy_store


@click.command("migrate-store")
@home_option
@click.option(
    "--to",
    "url",
    required=True,
    metavar="URL",
    help="The PostgreSQL database to fill: postgresql://USER@HOST:PORT/DBNAME (empty: made with createdb).",
)
def migrate_store(home, url):
    """Copy the home's SQLite database into an empty PostgreSQL database and verify the copy.

    Stop the server first. Every row is copied in one transaction; then the row counts of every table and the audit
    chain are checked on the copy. The SQLite file is left as it was. Afterwards set [store] url in config.toml to
    the same URL, on every front.

    \b
    Example:
      createdb -h db.example.org -U sendemodul sendemodul
      sendemodul admin migrate-store --to postgresql://sendemodul@db.example.org:5432/sendemodul
    """
    if not url.startswith(("postgresql://", "postgres://")):
        raise click.UsageError("--to must be a postgresql:// URL")
    cfg = config.load(home)
    source = Store.open(cfg.db_path)
    try:
        try:
            target = Store.create(url)
        except AlreadyExists:  # a copy that failed before left the schema: copy_store checks the tables are empty
            target = Store.open(url)
    except StoreError:
        source.close()
        raise
    try:
        report = copy_store(
            source, target, progress=lambda table, rows: click.echo(f"  {table}: +{rows} rows", err=True)
        )
    finally:
        source.close()
        target.close()
    for table, rows in sorted(report.counts.items()):
        click.echo(f"{table:<16} {rows} rows")
    click.echo(f"copied and verified: audit log intact, {report.audit_rows} rows, head {report.audit_head[:16]}")
    click.echo("now set [store] url to this URL in config.toml on every front")
