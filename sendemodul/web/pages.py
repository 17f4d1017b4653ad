"""The pages of the HTTPS front, in Bokmål or Nynorsk (:mod:`sendemodul.i18n`): ``/`` login, ``/opplasting``,
``/kvittering/{reference}``, ``/innsendinger``, ``POST /logg-ut``, ``/sprak`` (the language switch), ``/okt`` (a
session's keep-alive), ``/tilgjengelighet`` (the accessibility statement), the error pages, the static files and
``/favicon.ico``."""

import datetime
import re
import secrets

from twisted.cred.error import UnauthorizedLogin
from twisted.web import resource, static

from sendemodul import auth, i18n, identity, messages_nb, resources, standing
from sendemodul.errors import BydelError, KommunenrError, LoginBusy, OrgnrError
from sendemodul.timefmt import OSLO
from sendemodul.web.api import upload_with_standing
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond
from sendemodul.web.request import bad_segment
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE

STATIC_DIR = resources.static_dir()
REFERENCE_RE = re.compile(r"^SM-\d{8}-[2-9A-HJ-NP-Z]{8}$")


def _field_errors(form, year):
    """Messages per field for the login form (empty dict when the unit is well-formed), as
    :class:`~sendemodul.i18n.Msg` so that the page shows them in its language."""
    field = messages_nb.login_field
    errors = {}
    k, b, o = form["kommunenr"], form["bydel"], form["orgnr"]
    if not re.fullmatch(r"\d{4}", k):
        errors["kommunenr"] = field("kommunenr_shape")
    else:
        try:
            identity.kommune(k, year)
        except KommunenrError:
            errors["kommunenr"] = field("kommunenr_unknown", k=k, year=year)
    if not re.fullmatch(r"\d{2}", b):
        errors["bydel"] = field("bydel_shape")
    elif "kommunenr" not in errors:
        try:
            identity.check_bydel(k, b, year)
        except BydelError:
            errors["bydel"] = field("bydel_oslo" if k == identity.OSLO_KOMMUNENR else "bydel_other", b=b, k=k)
    if not re.fullmatch(r"\d{9}", o):
        errors["orgnr"] = field("orgnr_shape")
    else:
        try:
            identity.check_orgnr(o)
        except OrgnrError:
            errors["orgnr"] = field("orgnr_invalid", o=o)
    if not form["pin"].strip():
        errors["pin"] = field("pin_missing")
    return errors


def _form(request, name):
    value = (request.args.get(name.encode()) or [b""])[0]
    return value.decode("utf-8", "replace").strip()[:200]


#: The second step of the web login ("Hvem er du?", :mod:`sendemodul.web.persons`).
PERSON_STEP = "/hvem-er-du"


def home_of(app, session):
    """Where a logged-in session starts: a reviewer's session without a unit on the open tasks, the person step
    while a unit's session still lacks a person, else "Mine skjema" or the upload page."""
    if session.unit is None:
        return "/oppgaver/"
    if app.needs_person(session):
        return PERSON_STEP
    return "/mine-skjema" if session.person is not None else "/opplasting"


def _redirect(request, location):
    request.setResponseCode(303)
    request.setHeader(b"Location", location.encode("ascii"))
    return b""


class LoginPage(AppResource):
    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request, unitless=True)
        d.addCallback(
            lambda session: (
                _redirect(request, home_of(self.app, session)) if session else self._page(request, {}, {}, None)
            )
        )
        return respond(request, d)

    def _page(self, request, form, errors, message, status=200):
        token = secrets.token_urlsafe(24)
        self.app.set_cookie(request, LOGIN_COOKIE, token.encode("ascii"))
        return self.app.render(
            request, "login", status=status, form=form, errors=errors, message=message, csrf=token, session=None
        )

    def render_POST(self, request):
        form = {name: _form(request, name) for name in ("kommunenr", "bydel", "orgnr")}
        form["pin"] = _form(request, "pin")
        cookie = request.getCookie(LOGIN_COOKIE)
        if not (
            cookie and self.app.same_origin(request) and self.app.csrf_ok(request, cookie.decode("ascii", "replace"))
        ):
            return self._page(request, form, {}, messages_nb.melding("csrf"), status=403)
        errors = _field_errors(form, datetime.datetime.now(OSLO).year)
        if errors:
            return self._page(request, form, errors, messages_nb.login_field("fix_fields"), status=400)
        unit = f"{form['kommunenr']}-{form['bydel']}-{form['orgnr']}"
        d = self.app.portal.login(auth.UnitCredentials(unit, form["pin"], request.source()), None, auth.IUnitAvatar)
        d.addCallbacks(self._logged_in, self._failed, callbackArgs=(request,), errbackArgs=(request, form))
        return respond(request, d)

    def _logged_in(self, result, request):
        avatar = result[1]
        session = self.app.sessions.create(avatar.parsed, avatar.epoch)
        self.app.set_cookie(request, COOKIE, session.token.encode("ascii"))
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        return _redirect(request, home_of(self.app, session))

    def _failed(self, failure, request, form):
        code = "busy" if failure.check(LoginBusy) else "unauthorized"
        if code == "unauthorized":
            failure.trap(UnauthorizedLogin)
        form = {**form, "pin": ""}
        return self._page(request, form, {}, messages_nb.melding(code), status=503 if code == "busy" else 401)


class SessionPage(AppResource):
    """A page for a logged-in unit; otherwise a redirect to the login page."""

    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request)
        d.addCallback(self._route, request)
        return respond(request, d)

    def _route(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if self.app.needs_person(session):
            return _redirect(request, PERSON_STEP)
        return self.page(request, session)


class UploadPage(SessionPage):
    def page(self, request, session):
        return self.app.render(
            request, "opplasting", session=session, max_bytes=self.app.config.limits.max_upload_bytes
        )


class DeliveriesPage(SessionPage):
    def page(self, request, session):
        d = self.app.run_db(self.app.store.uploads_with_answers, session.unit)
        return d.addCallback(lambda rows: self._render(request, session, rows))

    def _render(self, request, session, rows):
        current = standing.current_uploads(rows)
        uploads = [
            {**row, "gjelder": messages_nb.counts_short_nb(row, current.get(standing.group(row)))}
            for row in reversed(rows)
        ]
        return self.app.render(request, "innsendinger", session=session, uploads=uploads)


class ReceiptPage(SessionPage):
    """``/kvittering/{reference}``: the receipt, and what counts now for its register and periode.

    ``?igjen=1`` is where the upload page goes when the unit sent a file that was sent before (the API answered 200
    with ``"duplicate": true``): the page then says so first and never shows the green "received" line. It only
    changes how the page opens; what counts is always from the store."""

    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def page(self, request, session):
        again = (request.args.get(b"igjen") or [b""])[0] == b"1"

        def found(found):
            row, current = found
            if row is None or row["unit"] != str(session.unit):
                return self.app.render(
                    request, "error", status=404, session=session, message=messages_nb.melding("not_found")
                )
            s = standing.standing(row, current)
            return self.app.render(
                request,
                "kvittering",
                session=session,
                upload=row,
                feedback=row["feedback"],
                again=again,
                fresh=s.counts and not s.stopped and not again,
                gjelder=messages_nb.counts_nb(row, current, duplicate=again),
                current=current,
                person=row.get("person"),
            )

        if not REFERENCE_RE.match(self.reference):
            return found((None, None))
        return self.app.run_db(self._load, self.reference).addCallback(found)

    def _load(self, reference):
        """In a DB thread: ``(row, current)`` as :func:`upload_with_standing`, the row with the person who sent it
        (if sent in a person's session)."""
        row, current = upload_with_standing(self.app.store, reference)
        if row is not None and row.get("person_id"):
            row["person"] = self.app.store.person(row["person_id"])
        return row, current


class Receipts(AppResource):
    def getChild(self, path, request):
        return ReceiptPage(self.app, path.decode("ascii", "replace"))


class LogoutPage(AppResource):
    isLeaf = True

    def render_POST(self, request):
        return respond(request, self.app.session(request, unitless=True).addCallback(self._log_out, request))

    def _log_out(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        self.app.sessions.end(session.token)
        self.app.set_cookie(request, COOKIE, b"", max_age=b"0")
        return _redirect(request, "/")


class NotFoundPage(AppResource):
    """404 as a page of ours, in the request's language (Twisted's own has no ``lang``)."""

    isLeaf = True

    def render(self, request):
        return self.app.render(
            request, "error", status=404, session=None, message=messages_nb.page_text("page_not_found")
        )


class LanguageSwitch(AppResource):
    """``GET /sprak?lang=nn&neste=/opplasting``: remember the language in a cookie (a year) and go back to the page.
    ``neste`` must be a path on this site (no scheme, no ``//``), else the login page."""

    isLeaf = True

    def render_GET(self, request):
        lang = i18n.recognised((request.args.get(b"lang") or [b""])[0]) or i18n.DEFAULT
        request.sendemodul_lang = lang
        self.app.set_cookie(request, i18n.COOKIE, lang.encode("ascii"), max_age=b"31536000", same_site="lax")
        target = (request.args.get(b"neste") or [b"/"])[0].decode("utf-8", "replace")
        if not LOCAL_PATH_RE.fullmatch(target):
            target = "/"
        return _redirect(request, target)


LOCAL_PATH_RE = re.compile(r"/(?![/\\])[A-Za-z0-9/_.-]*")


class KeepAlive(AppResource):
    """``GET /okt``: 204 when the request's web session is alive (and so renewed), else 401. The session warning
    (``static/okt.js``) calls it when the user chooses to continue."""

    isLeaf = True

    def render_GET(self, request):
        def answer(session):
            request.setResponseCode(204 if session else 401)
            return b""

        return respond(request, self.app.session(request, unitless=True).addCallback(answer))


class StatementPage(AppResource):
    """``/tilgjengelighet``: the accessibility statement, for everyone (logged in or not)."""

    isLeaf = True

    def render_GET(self, request):
        return respond(
            request,
            self.app.session(request, unitless=True).addCallback(
                lambda s: self.app.render(request, "tilgjengelighet", session=s)
            ),
        )


class Favicon(resource.Resource):
    """``/favicon.ico``: browsers ask for it on a site's first page; without it every first visit logs a 404 in the
    browser's console and the server's log. Read once at start (312 bytes); a browser may keep it for a week."""

    isLeaf = True
    CACHE_SECONDS = 7 * 24 * 3600

    def __init__(self):
        super().__init__()
        self.data = (STATIC_DIR / "favicon.ico").read_bytes()

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"image/vnd.microsoft.icon")
        request.setHeader(b"Cache-Control", f"public, max-age={self.CACHE_SECONDS}".encode("ascii"))
        return self.data


class StaticFiles(static.File):
    """The static files. The site sets ``childNotFound`` to its :class:`NotFoundPage` (Twisted copies it to each
    child), so that a missing file gets our 404 page in the request's language."""

    def directoryListing(self):
        return self.childNotFound

    def getChild(self, path, request):
        if bad_segment(path):  # a NUL would reach os.stat (ValueError, a 500); non-UTF-8 is logged as an error
            return self.childNotFound
        return super().getChild(path, request)
