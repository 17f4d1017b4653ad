"""Letters rendered from jinja2 templates shipped in the package's ``templates/`` directory (autoescape on), in
the recipient's written standard (:mod:`sendemodul.i18n`)."""

import datetime

import jinja2

from sendemodul import i18n, resources

TEMPLATES_DIR = resources.templates_dir()


def environment(lang=i18n.DEFAULT):
    """The templates' environment in ``lang``. Text in templates is marked for translation (``{% trans %}`` or
    ``_("...")``, the Bokmål text being the message id) and rendered from the catalogs."""
    return i18n.environment(
        lang, jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=jinja2.select_autoescape(["html", "j2"])
    )


def render_pin_letter(cfg, unit_row, pin):
    """The printable PIN letter for one unit (HTML), in the unit's written standard (§ 15 of the language act)."""
    lang = i18n.language(unit_row.get("language"))
    return (
        environment(lang)
        .get_template("pin-letter.html.j2")
        .render(
            unit=unit_row,
            pin=pin,
            public_url=cfg.server.public_url,
            sftp_port=cfg.server.sftp_port,
            date=datetime.date.today().strftime("%d.%m.%Y"),
        )
    )
