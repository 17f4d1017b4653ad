"""The catalogs' tool chain (Babel): extract every text to translate, update the ``nb`` and ``nn`` catalogs, compile
them. ``scripts/i18n`` (or ``python -m sendemodul.i18n_catalogs all``) runs the three; a translator then fills in the
empty ``msgstr`` of ``sendemodul/locale/nn/LC_MESSAGES/sendemodul.po`` and runs it again. tests/test_i18n.py fails
while an entry is missing, empty or fuzzy, or a ``.mo`` is stale.

Where texts come from (the message id is always the Bokmål wording):

- the templates (``templates/**/*.j2``): ``{% trans %}...{% endtrans %}`` and ``_("...")``, via jinja2's Babel
  extractor, whitespace trimmed as :func:`sendemodul.i18n.environment` renders them;
- Python: ``_("...")``, ``N_("...")`` and ``Msg("...")`` calls anywhere in the package;
- :mod:`sendemodul.messages_nb`: every string value of its module-level dicts (keyed messages);
- the control rules (``sendemodul/profiles/rules/``): module-level dicts named ``*_NB`` or ``*TITLES`` (the check
  report's own words, the controls' titles), and ``Msg("...")`` messages;
- the register profiles (``sendemodul/profiles/*.toml``): the control texts (keys ``text``, ``message``, ``melding``,
  ``tekst``, ``title``) that the check report prints (``sendemodul check --lang nn``), and the rule tables'
  (``sendemodul/profiles/*.controls.json``) titles of SSB's controls, the report's group headings.

Babel is needed here only; the running service reads the ``.mo`` files with the standard library.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import importlib
import io
import json
import pkgutil
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from sendemodul import i18n, messages_nb, resources

PACKAGE_DIR = resources.path()
LOCALE_DIR = resources.path("locale")
TEMPLATE_FILE = LOCALE_DIR / f"{i18n.DOMAIN}.pot"
PROFILE_TEXT_KEYS = ("text", "message", "melding", "tekst", "title")
PYTHON_KEYWORDS = {"_": None, "N_": None, "Msg": None, "gettext": None}
HEADER = "Sendemodul: Bokmål and Nynorsk (msgid = the Bokmål text). Run scripts/i18n after changing a text."
#: Fixed header dates, so that running the tool changes the files only when a text changed (and two branches that
#: each add texts do not conflict on the header).
HEADER_DATE = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"


def _add(catalog: Catalog, msgid: str, where: str, line: int = 0, flags: tuple[str, ...] = ()) -> None:
    if not msgid.strip():
        return
    existing = catalog.get(msgid)
    if existing is not None:
        existing.locations.append((where, line))
        return
    catalog.add(msgid, locations=[(where, line)], flags=flags)


def _walk_strings(value: object, key: str | None = None):
    """The strings under the profile keys that hold texts, anywhere in a TOML document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v, key)
    elif isinstance(value, str) and key in PROFILE_TEXT_KEYS:
        yield value


def extract() -> Catalog:
    """Every text to translate, from the templates, the Python code, messages_nb and the profiles."""
    catalog = Catalog(
        project="sendemodul",
        version="1",
        domain=i18n.DOMAIN,
        header_comment=f"# {HEADER}",
        fuzzy=False,
        creation_date=HEADER_DATE,
        revision_date=HEADER_DATE,
        last_translator="sendemodul",
        language_team="sendemodul",
    )
    templates = resources.templates_dir()
    method_map = [("**.j2", "jinja2.ext:babel_extract")]
    options = {"**.j2": {"trimmed": "true", "extensions": "jinja2.ext.i18n"}}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        templates, method_map, options, keywords={"_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        _add(catalog, message if isinstance(message, str) else message[0], f"templates/{filename}", lineno)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        PACKAGE_DIR,
        [("**/locale/**", "ignore"), ("**/templates/**", "ignore"), ("**.py", "python")],
        keywords=PYTHON_KEYWORDS,
    ):
        if isinstance(message, str):
            _add(catalog, message, f"sendemodul/{filename}", lineno)
    for name, value in sorted(vars(messages_nb).items()):
        if isinstance(value, dict) and not name.startswith("_"):
            for key, text in value.items():
                if isinstance(text, str):
                    _add(catalog, text, f"sendemodul/messages_nb.py:{name}[{key}]")
    for module in _rule_modules():
        for name, value in sorted(vars(module).items()):
            if isinstance(value, dict) and (name.endswith("_NB") or name.endswith("TITLES")):
                for key, text in value.items():
                    if isinstance(text, str):
                        _add(catalog, text, f"{module.__name__}:{name}[{key}]")
    for profile in sorted(resources.profiles().iterdir(), key=lambda p: p.name):
        if profile.name.endswith(".toml"):
            document = tomllib.loads(profile.read_text(encoding="utf-8"))
            for text in _walk_strings(document):
                _add(catalog, text, f"sendemodul/profiles/{profile.name}")
        elif profile.name.endswith(".controls.json"):  # the rule tables: SSB's controls' titles (report headings)
            table = json.loads(profile.read_text(encoding="utf-8"))
            for key, text in sorted(table.get("titles", {}).items()):
                _add(catalog, text, f"sendemodul/profiles/{profile.name}:titles[{key}]")
    return catalog


def _rule_modules():
    """The modules of the control rules (their texts: dicts named ``*_NB`` or ``*TITLES``, the Bokmål wording)."""
    from sendemodul.profiles import rules

    for info in pkgutil.walk_packages(rules.__path__, f"{rules.__name__}."):
        yield importlib.import_module(info.name)


def _write_po(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=116, sort_output=True, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())


def _read_po(path: Path, lang: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=lang, domain=i18n.DOMAIN, project="sendemodul", fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=i18n.DOMAIN)


def update(template: Catalog) -> dict[str, list[str]]:
    """Write the template and bring each catalog up to it; Bokmål, the source language, translates to itself.
    Returns, per language, the message ids still without a translation (or fuzzy)."""
    _write_po(template, TEMPLATE_FILE)
    missing = {}
    for lang in i18n.LANGUAGES:
        catalog = _read_po(po_path(lang), lang)
        catalog.update(copy.deepcopy(template), update_header_comment=True)  # update() adopts its messages
        catalog.fuzzy = False
        catalog.header_comment = f"# {HEADER}"
        catalog.revision_date = HEADER_DATE
        catalog.last_translator = "sendemodul"
        catalog.language_team = "sendemodul"
        for message in catalog:
            if not message.id:
                continue
            if lang == i18n.DEFAULT:
                message.string = message.id
                message.flags.discard("fuzzy")
        _write_po(catalog, po_path(lang))
        missing[lang] = untranslated(catalog)
    return missing


def untranslated(catalog: Catalog) -> list[str]:
    """The message ids of ``catalog`` that are empty or fuzzy."""
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def compiled(lang: str) -> bytes:
    """The ``.mo`` of a catalog as it is on disk now (fuzzy entries left out, as gettext expects)."""
    buffer = io.BytesIO()
    write_mo(buffer, _read_po(po_path(lang), lang), use_fuzzy=False)
    return buffer.getvalue()


def compile_all() -> None:
    for lang in i18n.LANGUAGES:
        mo_path(lang).write_bytes(compiled(lang))


def main(argv: list[str] | None = None) -> None:
    """``python -m sendemodul.i18n_catalogs [extract|update|compile|all]`` (default ``all``)."""
    parser = argparse.ArgumentParser(
        prog="python -m sendemodul.i18n_catalogs",
        description="Extract the texts to translate, update the nb and nn catalogs, compile them. "
        "Example: python -m sendemodul.i18n_catalogs all",
    )
    parser.add_argument("step", nargs="?", default="all", choices=["extract", "update", "compile", "all"])
    step = parser.parse_args(argv).step
    template = extract()
    if step == "extract":
        _write_po(template, TEMPLATE_FILE)
        print(f"{len(template)} texts in {TEMPLATE_FILE}")
        return
    missing = update(template) if step in ("update", "all") else {}
    if step in ("compile", "all"):
        compile_all()
    for lang, ids in missing.items():
        for msgid in ids:
            print(f"{lang}: untranslated: {msgid}", file=sys.stderr)
    print(f"{len(template)} texts; untranslated: " + ", ".join(f"{k} {len(v)}" for k, v in missing.items()))


if __name__ == "__main__":  # pragma: no cover - python -m sendemodul.i18n_catalogs
    main()
