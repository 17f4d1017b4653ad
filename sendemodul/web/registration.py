"""``/registrer-person``: skjema 999, "Registrering av person som skal rapportere sensitive data", for a logged-in
unit (after the PIN alone, or as a person). As SSB's form: page 1 the unit (kommunenr, name, bydel) and the person
responsible (name, phone, e-mail); page 2 the reporting person (name, e-mail, mobile, registers 11F/11CF/15F, and
the written standard); then a check step that lists what is wrong, each with a link back to its field, before
anything is sent. Sending registers the person (:func:`sendemodul.enrolment.register`) and e-mails the link. More
registers for a person: a new registration. The draft lives in the web session's memory only."""

import re

from twisted.logger import Logger

from sendemodul import enrolment, messages_nb, persons
from sendemodul.web.app import AppResource
from sendemodul.web.errors import respond
from sendemodul.web.pages import _form, _redirect

log = Logger()

PATH = "/registrer-person"
PAGE1 = ("kommunenr", "unit_name", "bydel", "responsible_name", "responsible_phone", "responsible_email")
PAGE2 = ("name", "email", "mobile", "language")
PHONE_RE = re.compile(r"^\+?[0-9 ]{8,15}$")

#: Field -> (page, label), for the check step's list and its links back (labels: messages_nb).
FIELDS = {name: (1 if name in PAGE1 else 2, label) for name, label in messages_nb.REGISTRATION_LABELS.items()}


def problems(draft, unit):
    """Bokmål messages by field for a draft of skjema 999 from ``unit`` (the logged-in identity.Unit)."""
    wrong = []
    if draft.get("kommunenr") != unit.kommunenr:
        wrong.append("kommunenr")
    if not draft.get("unit_name"):
        wrong.append("unit_name")
    if draft.get("bydel") != unit.bydel:
        wrong.append("bydel")
    if not draft.get("responsible_name"):
        wrong.append("responsible_name")
    if not PHONE_RE.match(draft.get("responsible_phone", "")):
        wrong.append("responsible_phone")
    if not persons.EMAIL_RE.match(draft.get("responsible_email", "")):
        wrong.append("responsible_email")
    if not draft.get("name"):
        wrong.append("name")
    if not persons.EMAIL_RE.match(draft.get("email", "")):
        wrong.append("email")
    if draft.get("mobile") and not persons.MOBILE_RE.match(draft["mobile"]):
        wrong.append("mobile")
    if not draft.get("registers"):
        wrong.append("registers")
    if draft.get("language") not in persons.LANGUAGES:
        wrong.append("language")
    texts = messages_nb.REGISTRATION_PROBLEMS
    return {name: texts[name].format(kommunenr=unit.kommunenr, bydel=unit.bydel) for name in wrong}


class RegistrationPage(AppResource):
    isLeaf = True

    def render_GET(self, request):
        d = self.app.session(request)
        d.addCallback(self._get, request)
        return respond(request, d)

    def _draft(self, session):
        return session.drafts.setdefault(
            "999", {"kommunenr": session.unit.kommunenr, "bydel": session.unit.bydel, "language": "nb"}
        )

    def _get(self, session, request):
        if session is None:
            return _redirect(request, "/")
        side = _form(request, "side") or "1"
        if side not in ("1", "2", "kontroll"):
            side = "1"
        draft = self._draft(session)
        found = problems(draft, session.unit) if side == "kontroll" else {}
        return self._page(request, session, side, draft, found)

    def _page(self, request, session, side, draft, found, status=200, message=None):
        return self.app.render(
            request,
            "registrer-person",
            status=status,
            session=session,
            side=side,
            draft=draft,
            problems=found,
            fields=FIELDS,
            registers=persons.PERSON_REGISTERS,
            message=message,
        )

    def render_POST(self, request):
        d = self.app.session(request)
        d.addCallback(self._post, request)
        return respond(request, d)

    def _post(self, session, request):
        if session is None:
            return _redirect(request, "/")
        if not (self.app.same_origin(request) and self.app.csrf_ok(request, session.csrf)):
            return self.app.render(request, "error", status=403, session=session, message=messages_nb.melding("csrf"))
        draft = self._draft(session)
        step = _form(request, "step")
        if step == "1":
            draft.update({name: _form(request, name) for name in PAGE1})
            return _redirect(request, PATH + "?side=2")
        if step == "2":
            draft.update({name: _form(request, name) for name in PAGE2})
            wanted = {v.decode("utf-8", "replace") for v in request.args.get(b"registers", [])}
            draft["registers"] = [r for r in persons.PERSON_REGISTERS if r in wanted]
            return _redirect(request, PATH + "?side=kontroll")
        if step != "send":
            return _redirect(request, PATH)
        found = problems(draft, session.unit)
        if found:
            return self._page(request, session, "kontroll", draft, found, status=400)
        actor = persons.audit_actor(session.person.person_id) if session.person else str(session.unit)
        d = self.app.run_db(
            enrolment.register,
            self.app.config,
            self.app.store,
            session.unit,
            name=draft["name"],
            email=draft["email"],
            mobile=draft.get("mobile", ""),
            language=draft["language"],
            registers=tuple(draft["registers"]),
            registration={
                k: draft[k] for k in ("unit_name", "responsible_name", "responsible_phone", "responsible_email")
            },
            actor=actor,
        )
        d.addCallback(self._sent, request, session)
        return d

    def _sent(self, done, request, session):
        session.drafts.pop("999", None)
        log.info(
            "skjema 999 for {unit}: person {person} ({state})",
            unit=str(session.unit),
            person=done.person["person_id"],
            state=done.person["state"],
        )
        return self.app.render(
            request,
            "registrer-person-sendt",
            session=session,
            person=done.person,
            needs_enrolment=done.needs_enrolment,
            mail_failed=done.mail_error is not None,
            link_hours=max(1, enrolment.link_seconds(self.app.config) // 3600),
        )
