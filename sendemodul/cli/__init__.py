"""The ``sendemodul`` command: operator (admin, serve, worker), municipal side (keygen, check, encrypt, upload) and
SSB side (ssb open).

Every command's docstring carries an example; every user error is one line ``ERROR: ...`` and exit code 1.
"""

import sys

import click

from sendemodul.errors import SendemodulError


class Group(click.Group):
    """A click group that turns our errors into one ``ERROR: ...`` line and exit code 1 (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SendemodulError as e:
            raise click.ClickException(str(e)) from None


click.ClickException.show = lambda self, file=None: click.echo(f"ERROR: {self.format_message()}", err=True)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="sendemodul")
def cli():
    """sendemodul: secure double-blind transfer of municipal statistics (kommune -> TPF -> SSB).

    \b
    Example:
      sendemodul admin init --dev && sendemodul serve
    """


def _register_commands():
    import importlib

    for name in ("admin", "serve", "check", "crypto", "transfer"):
        try:
            module = importlib.import_module(f"sendemodul.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"sendemodul.cli.{name}":
                raise
            continue
        module.register(cli)


_register_commands()


def main():
    cli(prog_name="sendemodul")


if __name__ == "__main__":
    sys.exit(main())
