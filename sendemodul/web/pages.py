"""The pages of the HTTPS front, in Bokmål: ``/`` login, ``/opplasting``, ``/kvittering/{reference}``,
``/innsendinger``, ``POST /logg-ut``, and the static files."""

import datetime
import re
import secrets

from twisted.cred.error import UnauthorizedLogin
from twisted.web import pages, static

from sendemodul import auth, identity, messages_nb, resources
from sendemodul.errors import BydelError, KommunenrError, LoginBusy, OrgnrError
from sendemodul.timefmt import OSLO
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond
from sendemodul.web.request import bad_segment
from sendemodul.web.sessions import COOKIE, LOGIN_COOKIE

STATIC_DIR = resources.static_dir()
REFERENCE_RE = re.compile(r"^SM-\d{8}-[2-9A-HJ-NP-Z]{8}$")


def _field_errors(form, year):
    """Bokmål messages per field for the login form (empty dict when the unit is well-formed)."""
    errors = {}
    k, b, o = form["kommunenr"], form["bydel"], form["orgnr"]
    if not re.fullmatch(r"\d{4}", k):
        errors["kommunenr"] = "Kommunenummeret skal ha fire siffer, for eksempel 0301."
    else:
        try:
            identity.kommune(k, year)
        except KommunenrError:
            errors["kommunenr"] = f"Kommunenummeret {k} finnes ikke i {year}. Kontroller nummeret."
    if not re.fullmatch(r"\d{2}", b):
        errors["bydel"] = "Bydel skal ha to siffer: 00 for hele kommunen, 01–15 for bydelene i Oslo."
    elif "kommunenr" not in errors:
        try:
            identity.check_bydel(k, b, year)
        except BydelError:
            errors["bydel"] = f"Bydel {b} kan ikke brukes for kommune {k}. Bruk 00 for hele kommunen" + (
                ", eller 01–15 for en bydel." if k == identity.OSLO_KOMMUNENR else "."
            )
    if not re.fullmatch(r"\d{9}", o):
        errors["orgnr"] = "Organisasjonsnummeret skal ha ni siffer."
    else:
        try:
            identity.check_orgnr(o)
        except OrgnrError:
            errors["orgnr"] = (
                f"Organisasjonsnummeret {o} er ikke gyldig: det skal begynne med 8 eller 9 og ha riktig kontrollsiffer."
            )
    if not form["pin"].strip():
        errors["pin"] = "Skriv inn PIN-koden."
    return errors


def _form(request, name):
    value = (request.args.get(name.encode()) or [b""])[0]
    return value.decode("utf-8", "replace").strip()[:200]


def _redirect(request, location):
    request.setResponseCode(303)
    request.setHeader(b"Location", location.encode("ascii"))
    return b""


class LoginPage(AppResource):
    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request)
        d.addCallback(
            lambda session: _redirect(request, "/opplasting") if session else self._page(request, {}, {}, None)
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
            return self._page(request, form, errors, "Rett opp feltene som er merket.", status=400)
        unit = f"{form['kommunenr']}-{form['bydel']}-{form['orgnr']}"
        d = self.app.portal.login(auth.UnitCredentials(unit, form["pin"], request.source()), None, auth.IUnitAvatar)
        d.addCallbacks(self._logged_in, self._failed, callbackArgs=(request,), errbackArgs=(request, form))
        return respond(request, d)

    def _logged_in(self, result, request):
        avatar = result[1]
        session = self.app.sessions.create(avatar.parsed, avatar.epoch)
        self.app.set_cookie(request, COOKIE, session.token.encode("ascii"))
        self.app.set_cookie(request, LOGIN_COOKIE, b"", max_age=b"0")
        return _redirect(request, "/opplasting")

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
        d.addCallback(lambda session: _redirect(request, "/") if session is None else self.page(request, session))
        return respond(request, d)


class UploadPage(SessionPage):
    def page(self, request, session):
        return self.app.render(
            request, "opplasting", session=session, max_bytes=self.app.config.limits.max_upload_bytes
        )


class DeliveriesPage(SessionPage):
    def page(self, request, session):
        d = self.app.run_db(self.app.store.uploads_with_answers, session.unit)
        return d.addCallback(
            lambda rows: self.app.render(request, "innsendinger", session=session, uploads=list(reversed(rows)))
        )


class ReceiptPage(SessionPage):
    def __init__(self, app, reference):
        super().__init__(app)
        self.reference = reference

    def page(self, request, session):
        def found(row):
            if row is None or row["unit"] != str(session.unit):
                return self.app.render(
                    request, "error", status=404, session=session, message=messages_nb.melding("not_found")
                )
            return self.app.render(request, "kvittering", session=session, upload=row, feedback=row["feedback"])

        if not REFERENCE_RE.match(self.reference):
            return found(None)
        return self.app.run_db(self.app.store.upload_with_feedback, self.reference).addCallback(found)


class Receipts(AppResource):
    def getChild(self, path, request):
        return ReceiptPage(self.app, path.decode("ascii", "replace"))


class LogoutPage(AppResource):
    isLeaf = True

    def render_POST(self, request):
        return respond(request, self.app.session(request).addCallback(self._log_out, request))

    def _log_out(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        self.app.sessions.end(session.token)
        self.app.set_cookie(request, COOKIE, b"", max_age=b"0")
        return _redirect(request, "/")


class StaticFiles(static.File):
    def directoryListing(self):
        return pages.notFound()

    def getChild(self, path, request):
        if bad_segment(path):  # a NUL would reach os.stat (ValueError, a 500); non-UTF-8 is logged as an error
            return pages.notFound()
        return super().getChild(path, request)
