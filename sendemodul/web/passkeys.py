"""Passkeys (WebAuthn, with py_webauthn): a person adds one on ``/passnokler`` and logs in with one in the second
step of the web login (``/passnokkel/...``), instead of a TOTP code.

- The relying party is this site: its id is the host name the browser reached (``localhost``, ``tpf.example``;
  browsers refuse IP addresses), and the origin must be ``https://`` + that host.
- Each ceremony's challenge lives in the web session and is taken out when the answer arrives: an answer is checked
  against one challenge only once, so a replayed answer (or one made for another challenge) is refused.
- Discoverable credentials: the login asks for no user name; the credential id names the passkey, which must belong
  to an active person of the unit that logged in with its PIN. The signature counter is compared-and-set.
- A failed check counts against the source like a wrong PIN or code, after the same delay, with the same message.
"""

import json

from twisted.internet import task
from twisted.logger import Logger
from twisted.web import pages
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sendemodul import messages_nb, persons
from sendemodul.web.app import AppResource
from sendemodul.web.errors import json_response, respond
from sendemodul.web.pages import _redirect
from sendemodul.web.sessions import COOKIE

log = Logger()

REGISTER_CHALLENGE = "webauthn-register"
LOGIN_CHALLENGE = "webauthn-login"


def relying_party(request):
    """``(rp_id, origin)`` for this request: the host the browser reached."""
    host = (request.getHeader(b"host") or b"").decode("ascii", "replace")
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return hostname, f"https://{host}"


def _json_body(request):
    try:
        return json.loads(request.content.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _error(request, status, code):
    return json_response(request, status, {"error": code, "melding": messages_nb.melding(code)})


class PasskeysPage(AppResource):
    """``/passnokler``: the person's passkeys, and adding one (``valg``: the options; ``ny``: the answer)."""

    def getChild(self, path, request):
        if path == b"valg":
            return RegistrationOptions(self.app)
        if path == b"ny":
            return RegistrationAnswer(self.app)
        return self

    def render_GET(self, request):
        d = self.app.session(request)
        d.addCallback(self._page, request)
        return respond(request, d)

    def _page(self, session, request):
        if session is None or session.person is None:
            return _redirect(request, "/")
        d = self.app.run_db(self.app.store.passkeys, session.person.person_id)
        return d.addCallback(lambda keys: self.app.render(request, "passnokler", session=session, passkeys=keys))


class _PersonJSON(AppResource):
    """A JSON POST of a person's session with the CSRF header; ``self.post(request, session) -> Deferred|bytes``."""

    isLeaf = True
    needs_person = True

    def render_POST(self, request):
        return respond(request, self.app.session(request).addCallback(self._checked, request))

    def _checked(self, session, request):
        if session is None or (self.needs_person and session.person is None):
            return _error(request, 401, "session")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return _error(request, 403, "csrf")
        return self.post(request, session)


class RegistrationOptions(_PersonJSON):
    def post(self, request, session):
        rp_id, _ = relying_party(request)

        def options(existing):
            made = generate_registration_options(
                rp_id=rp_id,
                rp_name="Sendemodul",
                user_id=session.person.person_id.encode("ascii"),
                user_name=session.person.name,
                user_display_name=session.person.name,
                authenticator_selection=AuthenticatorSelectionCriteria(
                    resident_key=ResidentKeyRequirement.REQUIRED,
                    user_verification=UserVerificationRequirement.PREFERRED,
                ),
                exclude_credentials=[
                    PublicKeyCredentialDescriptor(id=base64url_to_bytes(k["credential_id"])) for k in existing
                ],
            )
            session.drafts[REGISTER_CHALLENGE] = made.challenge
            return json_response(request, 200, json.loads(options_to_json(made)))

        return self.app.run_db(self.app.store.passkeys, session.person.person_id).addCallback(options)


class RegistrationAnswer(_PersonJSON):
    def post(self, request, session):
        challenge = session.drafts.pop(REGISTER_CHALLENGE, None)
        body = _json_body(request)
        rp_id, origin = relying_party(request)
        if challenge is None or body is None:
            return _error(request, 400, "passkey_failed")
        try:
            verified = verify_registration_response(
                credential=body, expected_challenge=challenge, expected_origin=origin, expected_rp_id=rp_id
            )
        except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
            log.info("passkey registration refused for {person}", person=session.person.person_id)
            return _error(request, 400, "passkey_failed")
        d = self.app.run_db(
            self.app.store.add_passkey,
            session.person.person_id,
            bytes_to_base64url(verified.credential_id),
            bytes_to_base64url(verified.credential_public_key),
            verified.sign_count,
        )
        return d.addCallback(lambda _: json_response(request, 200, {"location": "/passnokler"}))


class LoginOptions(_PersonJSON):
    """``POST /passnokkel/valg``: options for the second step (a session that has passed the unit's PIN)."""

    needs_person = False

    def post(self, request, session):
        rp_id, _ = relying_party(request)
        made = generate_authentication_options(rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED)
        session.drafts[LOGIN_CHALLENGE] = made.challenge
        return json_response(request, 200, json.loads(options_to_json(made)))


class LoginAnswer(_PersonJSON):
    """``POST /passnokkel/logg-inn``: the authenticator's answer; a new session of the person when it holds."""

    needs_person = False

    def post(self, request, session):
        challenge = session.drafts.pop(LOGIN_CHALLENGE, None)
        body = _json_body(request)
        source = request.source()
        if challenge is None or body is None or not isinstance(body.get("id"), str) or self.app.source_banned(source):
            return self._failed(request, source)
        rp_id, origin = relying_party(request)
        d = self.app.run_db(self._check, session.unit, body, challenge, rp_id, origin)
        d.addCallback(self._checked_person, request, session, source)
        return d

    def _check(self, unit, body, challenge, rp_id, origin):
        """In a DB thread: the person row if the answer holds, else None."""
        store = self.app.store
        key = store.passkey(body["id"])
        person = store.person(key["person_id"]) if key else None
        if person is None or person["state"] != "active" or person["unit"] != str(unit):
            return None
        try:
            verified = verify_authentication_response(
                credential=body,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=base64url_to_bytes(key["public_key"]),
                credential_current_sign_count=key["sign_count"],
            )
        except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
            return None
        if not store.use_passkey(key["credential_id"], key["sign_count"], verified.new_sign_count):
            return None
        return person

    def _checked_person(self, person, request, session, source):
        if person is None:
            return self._failed(request, source)
        from sendemodul.web.persons import person_login_of

        self.app.sessions.end(session.token)
        new = self.app.sessions.create(session.unit, session.epoch, person=person_login_of(person))
        self.app.set_cookie(request, COOKIE, new.token.encode("ascii"))
        log.info("person {person} logged in with a passkey", person=person["person_id"])
        d = self.app.run_db(
            self.app.store.audit,
            "person.login",
            actor=persons.audit_actor(person["person_id"]),
            unit=str(session.unit),
            detail={"person": person["person_id"], "factor": "passkey"},
        )
        return d.addCallback(lambda _: json_response(request, 200, {"location": "/mine-skjema"}))

    def _failed(self, request, source):
        if source is not None:
            self.app.score_failure(source, 1)
        log.info("passkey login refused")
        d = task.deferLater(self.app.clock, self.app.config.auth.failure_delay_seconds, lambda: None)
        return d.addCallback(lambda _: _error(request, 401, "passkey_failed"))


class PasskeyLogin(AppResource):
    def getChild(self, path, request):
        if path == b"valg":
            return LoginOptions(self.app)
        if path == b"logg-inn":
            return LoginAnswer(self.app)
        return pages.notFound()
