"""The ``sendemodul`` command: operator (admin, serve, worker), municipal side (keygen, check, encrypt, upload) and
SSB side (ssb open, check, answer).

Every command's docstring carries an example; every user error is one line ``ERROR: ...`` and exit code 1.
"""

import sys

import click

from sendemodul.errors import SendemodulError

#: Each command's name -> the modules of sendemodul.cli whose ``register(cli)`` adds it (``ssb``: its group and the
#: answer commands that join it).
_COMMAND_MODULES = {
    "admin": ("admin",),
    "serve": ("serve",),
    "worker": ("worker",),
    "forwarder": ("worker",),
    "check": ("check",),
    "keygen": ("crypto",),
    "ssb": ("crypto", "ssb_answer"),
    "encrypt": ("encrypt",),
    "upload": ("transfer",),
    "demo-extract": ("demo",),
    "module": ("module",),
    "profiles": ("profiles",),
}


class _LazyGroup(click.Group):
    """A group that imports a command's module only when the command is run (or listed, for ``--help``).

    ``sendemodul encrypt`` and ``sendemodul worker`` (the pseudonymizer) then start without importing the web
    server, the store's engines and the metrics: on this machine that was about 1 CPU-second of every run (over
    2 with byte-code compilation off), a tenth of an encryption of 200,000 records.
    """

    def __init__(self, *args, **kwargs):
        self._registered = set()
        super().__init__(*args, **kwargs)

    @property
    def commands(self):
        """Every command (click's attribute, which some callers read directly): all modules are imported."""
        for modules in _COMMAND_MODULES.values():
            self._register(modules)
        return self._commands

    @commands.setter
    def commands(self, value):
        self._commands = value

    def add_command(self, cmd, name=None):
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        self._commands[name] = cmd

    def _register(self, modules):
        import importlib

        for name in modules:
            if name not in self._registered:
                self._registered.add(name)
                importlib.import_module(f"sendemodul.cli.{name}").register(self)

    def get_command(self, ctx, cmd_name):
        self._register(_COMMAND_MODULES.get(cmd_name, ()))
        return self._commands.get(cmd_name)

    def list_commands(self, ctx):
        return sorted(self.commands)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="sendemodul")
def cli():
    """sendemodul: secure double-blind transfer of municipal statistics (kommune -> TPF -> SSB).

    \b
    Example:
      sendemodul admin init --dev && sendemodul serve
    """


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
