"""``sendemodul serve``: run the server in the foreground (the same as ``twistd -ny twistd.tac``)."""

import os
import sys

import click

import sendemodul
from sendemodul import config, resources
from sendemodul.cli.admin import home_option
from sendemodul.store import Store

TAC = resources.tac_path()


@click.command()
@home_option
def serve(home):
    """Run the server in the foreground until interrupted (Ctrl-C). Logs go to the console and <home>/log/.

    \b
    Example:
      sendemodul admin init --dev && sendemodul serve
    """
    cfg = config.load(home)
    if not Store.exists(cfg.store_location):
        raise click.ClickException(f"{cfg.home} is not initialised: run 'sendemodul admin init --dev' first")
    from sendemodul.supervisor import check_front

    check_front(cfg)  # an unknown [process] user, or the wrong one: refused before anything starts
    os.environ["SENDEMODUL_HOME"] = str(cfg.home)
    print_banner(cfg)
    from twisted.scripts import twistd

    sys.argv = ["twistd", "--nodaemon", "--pidfile=", "--python", str(TAC)]
    twistd.run()


def print_banner(cfg):
    server = cfg.server
    # a TCP listener shows its own address; any other endpoint (unix, systemd) the public URL
    url = (
        f"https://{server.interface}:{server.https_port}"
        if server.https_port is not None
        else server.public_url.rstrip("/")
    )
    sftp = f"{server.interface} port {server.sftp_port}" if server.sftp_port is not None else server.sftp_endpoint
    click.echo(f"sendemodul {sendemodul.__version__}: state home {cfg.home} (environment {cfg.environment})")
    click.echo(f"  web:          {url}/  (self-signed certificate: {cfg.tls_cert_path})")
    click.echo(f"  API:          {url}/api/v1/uploads   SFTP: {sftp}")
    demo = cfg.home / "demo"
    if os.access(demo / "unit.txt", os.R_OK):  # (with [process] users the demo folder is root's only)
        unit = (demo / "unit.txt").read_text().strip()
        kommunenr, bydel, orgnr = unit.split("-")
        click.echo(f"  demo unit:    {unit}  (web login: kommunenr {kommunenr}, bydel {bydel}, orgnr {orgnr})")
        click.echo(f"  its PIN:      {demo / 'pin.txt'}")  # safe: names the PIN, never its value
        click.echo(f"  signing key:  {demo / 'unit.key'}")
        click.echo(
            f"  try:          curl --cacert {cfg.tls_cert_path} "
            f'-u "{unit}:$(cat {demo / "pin.txt"})" '  # safe: names the PIN, never its value
            f"{url}/api/v1/uploads"
        )
    click.echo("  stop with Ctrl-C")


def register(cli):
    cli.add_command(serve)
