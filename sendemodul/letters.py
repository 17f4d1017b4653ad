"""Letters rendered from jinja2 templates shipped in the package's ``templates/`` directory (autoescape on)."""

import datetime

import jinja2

from sendemodul import resources

TEMPLATES_DIR = resources.templates_dir()


def environment():
    """The templates' environment. Text in templates is marked for translation (``{% trans %}`` or ``_("...")``,
    the Bokmål text being the message id); until catalogs are installed it renders as written, in Bokmål."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def render_pin_letter(cfg, unit_row, pin):
    """The printable PIN letter for one unit (HTML, Bokmål)."""
    return (
        environment()
        .get_template("pin-letter.html.j2")
        .render(
            unit=unit_row,
            pin=pin,
            public_url=cfg.server.public_url,
            sftp_port=cfg.server.sftp_port,
            date=datetime.date.today().strftime("%d.%m.%Y"),
        )
    )
