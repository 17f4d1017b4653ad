"""The files that ship inside the package: templates, static files, profiles, reference data, the default key
directory and the ``.tac``. Every module finds them here, through :mod:`importlib.resources`, so that a source
checkout, an editable install (``pip install -e .``) and an installed wheel read the same files.

The repository keeps ``templates/``, ``keys/`` and ``twistd.tac`` at its top level; ``sendemodul/templates``,
``sendemodul/keys`` and ``sendemodul/twistd.tac`` are symlinks to them, so that the package directory holds them in a
checkout, and ``package-data`` in ``pyproject.toml`` copies them into the wheel as ordinary files.
"""

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "sendemodul"


def path(*parts: str) -> Path:
    """A file or directory shipped in the package, as a path on disk (symlinks resolved, so that a checkout names
    its top-level ``templates/``). jinja2's loader, ``static.File``, the key directory and twistd need real paths;
    pip always installs a wheel as files, never as a zip."""
    where = resources.files(PACKAGE).joinpath(*parts)
    if not isinstance(where, Path):
        raise RuntimeError(f"sendemodul needs its package files on disk, not inside {where!r}")
    return where.resolve()


def templates_dir() -> Path:
    """The jinja2 templates: pages (``web/``), letters, the check report, the morning e-mail (``mail/``)."""
    return path("templates")


def static_dir() -> Path:
    """The web portal's static files (CSS, JavaScript), served under ``/static/``."""
    return path("templates", "static")


def default_keys_dir() -> Path:
    """The project's own key directory (``keys/`` in the repository), used when neither ``--keys`` nor
    ``<home>/keys/`` names one."""
    return path("keys")


def tac_path() -> Path:
    """The ``twistd.tac`` that ``sendemodul serve`` hands to twistd."""
    return path("twistd.tac")


def profiles() -> Traversable:
    """The register profiles (``<REGISTER>-<periode>.toml``)."""
    return resources.files(f"{PACKAGE}.profiles")


def data_text(name: str) -> str:
    """A reference table under ``sendemodul/data/`` (kommuner, bydeler, fylker) as text."""
    return resources.files(PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
