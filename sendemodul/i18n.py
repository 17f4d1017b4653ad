"""Bokmål and Nynorsk (DESIGN.md section 16; språklova §§ 14-15): the message catalogs, which language a request or a
recipient gets, texts that can be rendered in either language later (:class:`Msg`), and the jinja2 environments.

The message id of every text is its Bokmål wording, as written in a template (``{% trans %}``, ``_("...")``), in
:mod:`sendemodul.messages_nb` or in a ``Msg("...")`` call. The catalogs (``sendemodul/locale/{nb,nn}/LC_MESSAGES/
sendemodul.po``) are compiled to ``.mo`` files that ship in the package and are read with the standard library's
:mod:`gettext`; Babel is needed only to extract, update and compile them (``scripts/i18n``, or
``python -m sendemodul.i18n_catalogs``).

A web request's language is, in order: ``?lang=nb|nn`` (this one answer), the ``sprak`` cookie that the language
switch sets, the browser's ``Accept-Language``, Bokmål. Whatever else the answer is, ``<html lang>`` and
``Content-Language`` carry it.
"""

from __future__ import annotations

import functools
import gettext
import urllib.parse
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where an environment is made: the encryption module never renders a page
    import jinja2

LANGUAGES = ("nb", "nn")
DEFAULT = "nb"
DOMAIN = "sendemodul"
#: The written standards a unit (a kommune) can have chosen; ``neutral`` ("språknøytral") gets Bokmål.
UNIT_STANDARDS = ("nb", "nn", "neutral")
#: The cookie that the language switch sets (a preference, not a secret).
COOKIE = b"sprak"
#: What the language switch calls each language, in that language.
NAMES = {"nb": "Bokmål", "nn": "Nynorsk"}


def locale_dir() -> Any:
    """The catalogs' directory in the package (``<lang>/LC_MESSAGES/sendemodul.{po,mo}``)."""
    return resources.files("sendemodul").joinpath("locale")


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang``; Bokmål, the source language, falls back to the message ids as written."""
    lang = language(lang)
    mo = locale_dir().joinpath(lang, "LC_MESSAGES", f"{DOMAIN}.mo")
    if lang == DEFAULT and not mo.is_file():
        return gettext.NullTranslations()
    with mo.open("rb") as f:
        return gettext.GNUTranslations(f)


def language(value: object) -> str:
    """``value`` if it names one of our languages (``nn``, ``nn-NO``, ``NN``), else Bokmål. ``no``/``nb`` and the
    unit standard ``neutral`` are Bokmål."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return DEFAULT
    base = value.strip().lower().replace("_", "-").split("-")[0]
    return "nn" if base == "nn" else DEFAULT


def recognised(value: object) -> str | None:
    """The language ``value`` names exactly (``nb``/``nn``, any case, with a region), or None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    base = value.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def from_accept_language(header: str | bytes | None) -> str | None:
    """The language a browser's ``Accept-Language`` prefers among ours (``no`` counts as Bokmål), or None.

    Ranges are taken by their ``q`` (default 1), earlier first among equals; ``*`` and others are skipped."""
    if not header:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        base = tag.strip().lower().split("-")[0]
        lang = {"nn": "nn", "nb": "nb", "no": "nb"}.get(base)
        if lang and q > 0:
            ranked.append((-q, position, lang))
    return min(ranked)[2] if ranked else None


def request_language(request: Any) -> str:
    """The language of a twisted.web request's answer (``?lang=``, the cookie, ``Accept-Language``, Bokmål);
    remembered on the request."""
    chosen = getattr(request, "sendemodul_lang", None)
    if chosen is not None:
        return str(chosen)
    args = getattr(request, "args", None) or {}
    chosen = recognised((args.get(b"lang") or [None])[0])
    if chosen is None and hasattr(request, "getCookie"):
        chosen = recognised(request.getCookie(COOKIE))
    if chosen is None:
        chosen = from_accept_language(request.getHeader(b"accept-language"))
    chosen = chosen or DEFAULT
    request.sendemodul_lang = chosen
    return chosen


def early_language(path: bytes | None, headers: Any) -> str:
    """The language of an answer written before twisted.web parsed the request (an upload refused before its body,
    a request the channel could not read): the same order as :func:`request_language`, from the request line's
    ``path`` and the raw ``headers`` (a ``twisted.web.http_headers.Headers``; either may be None)."""
    if path:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        chosen = recognised((query.get(b"lang") or [b""])[0])
        if chosen:
            return chosen
    if headers is None:
        return DEFAULT
    for header in headers.getRawHeaders(b"cookie") or ():
        for pair in header.split(b";"):
            name, _, value = pair.strip().partition(b"=")
            if name == COOKIE and recognised(value):
                return str(recognised(value))
    return from_accept_language((headers.getRawHeaders(b"accept-language") or [None])[0]) or DEFAULT


def localized(lang: str, value: Any) -> Any:
    """``value`` (a JSON body: dicts, lists, strings) with every :class:`Msg` in it rendered in ``lang``, so that a
    ``melding`` anywhere in an answer follows the reader's language; other values unchanged."""
    if isinstance(value, Msg):
        return value.in_language(lang)
    if isinstance(value, dict):
        return {key: localized(lang, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [localized(lang, item) for item in value]
    return value


def gettext_in(lang: str, msgid: str) -> str:
    """``msgid`` (Bokmål) in ``lang``."""
    return translations(lang).gettext(msgid)


class Msg(str):
    """A text whose value is its Bokmål wording, which remembers its message id and values so that it can be
    rendered in another language where the recipient is known: a template prints it in the page's language
    (:func:`environment`'s finalize), the API puts it in ``melding``. Code that only knows Bokmål keeps working.

    ``Msg("Bydel {b} kan ikke brukes for kommune {k}.", b="16", k="0301")``: the id has ``{name}`` fields that are
    filled in after translation."""

    msgid: str
    values: dict[str, Any]

    def __new__(cls, msgid: str, /, **values: Any) -> Msg:
        self = super().__new__(cls, msgid.format(**values) if values else msgid)
        self.msgid = msgid
        self.values = values
        return self

    def in_language(self, lang: str) -> str:
        text = gettext_in(lang, self.msgid)
        if not self.values:
            return text
        return text.format(**{name: text_in(lang, value) for name, value in self.values.items()})

    def __reduce__(self) -> Any:
        return (_msg, (self.msgid, self.values))


class Bilingual(Msg):
    """A text given in both languages already (a rule table's message, rendered from its ``nb`` and ``nn``
    templates): its value is the Bokmål text, and :meth:`in_language` gives the Nynorsk one without a catalog."""

    nynorsk: str

    def __new__(cls, bokmal: str, nynorsk: str) -> Bilingual:
        self = str.__new__(cls, bokmal)
        self.msgid = bokmal
        self.values = {}
        self.nynorsk = nynorsk
        return self

    def in_language(self, lang: str) -> str:
        return self.nynorsk if language(lang) == "nn" else str.__str__(self)

    def __reduce__(self) -> Any:
        return (Bilingual, (str.__str__(self), self.nynorsk))


def _msg(msgid: str, values: dict[str, Any]) -> Msg:
    return Msg(msgid, **values)


def text_in(lang: str, value: Any) -> Any:
    """``value`` in ``lang``: a :class:`Msg` translated with its values; a plain string that is a message id
    (Bokmål text handed to a template as it is) translated; anything else unchanged (a unit's name stays its name,
    markup already rendered stays as it is)."""
    if isinstance(value, Msg):
        return value.in_language(lang)
    if lang != DEFAULT and type(value) is str and value:
        return translations(lang).gettext(value)
    return value


def environment(lang: str, loader: jinja2.BaseLoader, *, autoescape: Any = True) -> jinja2.Environment:
    """A jinja2 environment that renders in ``lang``: ``{% trans %}`` and ``_()`` from the catalog (whitespace in
    a ``trans`` block trimmed, so the message id is one line), and any :class:`Msg` printed in ``lang``."""
    import jinja2

    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
        finalize=functools.partial(text_in, lang),
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.globals["other_languages"] = [(code, NAMES[code]) for code in LANGUAGES if code != lang]
    env.globals["language_names"] = NAMES
    return env
