"""The ``sendemodul`` command: operator (admin, serve, worker), municipal side (keygen, check, encrypt, upload) and
SSB side (ssb open, check, answer).

Every command's docstring carries an example; every user error is one line ``ERROR: ...`` and exit code 1.
"""

import sys

import click

from sendemodul.errors import SendemodulError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="sendemodul")
def cli():
    """sendemodul: secure double-blind transfer of municipal statistics (kommune -> TPF -> SSB).

    \b
    Example:
      sendemodul admin init --dev && sendemodul serve
    """


def _register_commands():
    from sendemodul.cli import (
        admin,
        check,
        crypto,
        demo,
        encrypt,
        module,
        profiles,
        serve,
        ssb_answer,
        transfer,
        worker,
    )

    for command in (admin, serve, worker, check, crypto, ssb_answer, encrypt, transfer, demo, module, profiles):
        command.register(cli)


_register_commands()


def main(args=None):
    """Run the CLI. A user's mistake is one line ``ERROR: ...`` on stderr and exit code 1, never a traceback."""
    try:
        code = cli.main(args=args, prog_name="sendemodul", standalone_mode=False)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        _fail(e.format_message() + hint)
    except click.ClickException as e:
        _fail(e.format_message())
    except SendemodulError as e:
        _fail(str(e))
    except click.Abort:
        _fail("aborted")
    except KeyboardInterrupt:
        _fail("interrupted")
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message):
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
