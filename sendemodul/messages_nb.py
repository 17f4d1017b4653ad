"""What the unit is told, written in Bokmål: the message for each error code the API can answer with
(:func:`melding`), an upload's state (:func:`status_nb`), the login form's field errors, shared by the web pages and
the morning e-mail, and what counts now for an upload's register and periode (:func:`counts_nb`,
:func:`counts_short_nb`).

The API's JSON carries ``error`` (the stable code), ``message`` (English, for logs and scripts) and ``melding``
(what the web page shows, in the request's language). Details (which part, which key) stay in ``message``.

Every string value of a module-level dict here is a message id of the catalogs (``scripts/i18n`` extracts them);
the functions return :class:`~sendemodul.i18n.Msg`, which reads as Bokmål and renders in Nynorsk where the page,
the answer or the recipient is in Nynorsk.
"""

from sendemodul import standing
from sendemodul.i18n import Msg
from sendemodul.timefmt import oslo_display_of_text

MESSAGES = {
    "unauthorized": "Innloggingen mislyktes. Kontroller kommunenummer, bydel, organisasjonsnummer og PIN-kode.",
    "busy": "Tjenesten er travel akkurat nå. Vent litt og prøv igjen.",
    "session": "Økten din er utløpt. Logg inn på nytt.",
    "login_revoked": "Innloggingen gjelder ikke lenger: PIN-koden er byttet eller trukket tilbake, eller enheten er "
    "deaktivert. Ingenting er lagret. Logg inn på nytt.",
    "csrf": "Skjemaet var utløpt eller kom fra en annen side. Last siden på nytt og prøv igjen.",
    "too_large": "Filen er større enn tjenesten tar imot.",
    "incomplete": "Filen kom ikke fram i sin helhet, og ingenting er lagret. Send den på nytt.",
    "timeout": "Innsendingen tok for lang tid, og ingenting er lagret. Send filen på nytt.",
    "window_closed": "Mottaket er ikke åpent for dette registeret og denne perioden.",
    "no_space": "Tjenesten kan ikke lagre filer akkurat nå, og ingenting er lagret. Prøv igjen senere.",
    "too_many_uploads": "Enheten har allerede så mange innsendinger i gang som tjenesten tillater samtidig. Vent til "
    "en er ferdig, og prøv igjen.",
    "refused": "Filen ble avvist.",
    "replay": "Denne filen er sendt inn før. Lag en ny fil med krypteringsmodulen for å sende på nytt.",
    "wrong_unit": "Filen er laget for en annen enhet enn den du er logget inn som.",
    "unsigned": "Filen mangler signatur. Lag filen på nytt med krypteringsmodulen.",
    "no_signing_key": "Enheten har ingen registrert signeringsnøkkel. Kontakt oss for å registrere den.",
    "bad_signature": "Signaturen stemmer ikke med enhetens registrerte nøkkel. Lag filen på nytt med riktig nøkkel.",
    "container_truncated": "Filen er ufullstendig. Send den på nytt.",
    "container_tar": "Filen er ikke en gyldig innsendingsfil fra krypteringsmodulen.",
    "container_members": "Filen har feil innhold. Lag den på nytt med krypteringsmodulen.",
    "container_trailing": "Filen har ekstra innhold på slutten. Lag den på nytt med krypteringsmodulen.",
    "manifest_syntax": "Filens innholdsliste er ugyldig. Lag filen på nytt med krypteringsmodulen.",
    "manifest_schema": "Filens innholdsliste er ugyldig. Lag filen på nytt med krypteringsmodulen.",
    "format": "Filen er laget med en versjon av krypteringsmodulen som tjenesten ikke støtter.",
    "part_size": "En del av filen har feil størrelse. Filen er skadet; lag den på nytt.",
    "part_digest": "En del av filen er endret eller skadet. Lag filen på nytt.",
    "recipient_count": "Filen er kryptert til feil mottakere. Lag den på nytt med gjeldende nøkler.",
    "recipient_type": "Filen er kryptert med en annen nøkkeltype enn nøkkelen krever (for eksempel klassisk i stedet "
    "for kvantesikker). Hent gjeldende nøkler og lag filen på nytt.",
    "recipient_unknown": "Filen er kryptert til en ukjent nøkkel. Hent gjeldende nøkler og lag filen på nytt.",
    "recipient_role": "Filen er kryptert til feil mottaker. Lag den på nytt med gjeldende nøkler.",
    "recipient_not_current": "Filen er kryptert til en nøkkel som ikke lenger gjelder. Hent gjeldende nøkler og "
    "lag filen på nytt.",
    "register_not_permitted": "Du har ikke rett til å sende inn dette registeret, og ingenting er lagret. Enheten kan "
    "gi deg rett til det ved å registrere deg på nytt for registeret (Registrer person, skjema 999).",
    "passkey_failed": "Innloggingen med passnøkkel mislyktes. Prøv igjen, eller bruk koden fra appen.",
    "person_unauthorized": "Innloggingen mislyktes. Kontroller e-postadressen og koden.",
    "not_found": "Fant ikke innsendingen.",
    "review_message": "Skriv en melding til avgiveren på 1 til 4000 tegn før du returnerer innsendingen.",
    "review_own": "Du kan ikke godkjenne eller returnere en innsending du har sendt selv.",
    "review_decided": "Oppgaven er allerede løst.",
    "application_decided": "Søknaden er allerede avgjort.",
    "reviewer_unauthorized": "Innloggingen mislyktes. Kontroller e-postadressen og koden. Denne innloggingen er for "
    "statsforvalteren; den som sender inn for en enhet, logger inn med enhetens PIN-kode.",
    "invalid": "Forespørselen er ugyldig.",
    "bad_request": "Forespørselen kunne ikke leses. Prøv igjen.",
    "uri_too_long": "Adressen er for lang.",
    "header_too_large": "Forespørselen har for store hoder.",
    "error": "Noe gikk galt hos oss. Prøv igjen senere.",
    "staff_login": "Statuslisten er for SSB og pseudonymforvalteren: logg inn med brukernavnet staff og nøkkelen "
    "fra driftsansvarlig.",
}


def melding(code, lang=None):
    """The message for an error code (a generic one for codes without their own): a :class:`Msg` (Bokmål until
    rendered), or the text in ``lang`` when it is given."""
    text = Msg(MESSAGES.get(code) or MESSAGES["refused"])
    return text if lang is None else text.in_language(lang)


STATUS_NB = {
    "received": "Mottatt",
    "pseudonymizing": "Under behandling",
    "queued": "Klar for levering",
    "delivered": "Levert til SSB",
    "rejected": "Avvist",
    "quarantined": "Stoppet (se melding)",
    "tested": "Testet (sendes ikke til SSB)",
    "accepted": "Godkjent av SSB",
    "returned": "Returnert",
    "awaiting_review": "Venter på godkjenning hos statsforvalteren",
    "review_returned": "Returnert av statsforvalteren",
}


STATUS_NOTES = {
    "superseded": "Erstattet av nyere innsending",
    "test": "{status} (test)",
    "late": "{status} (etter fristen)",
}


def status_nb(row):
    """The state of an upload as the unit sees it (a :class:`Msg`)."""
    if row.get("superseded_by"):
        return Msg(STATUS_NOTES["superseded"])
    known = STATUS_NB.get(row["status"])
    text = Msg(known) if known else row["status"]
    if row.get("test"):
        return Msg(STATUS_NOTES["test"], status=text)
    if row.get("late"):
        return Msg(STATUS_NOTES["late"], status=text)
    return text


#: The login form's messages per field (``{k}`` kommunenr, ``{b}`` bydel, ``{o}`` orgnr, ``{year}``).
LOGIN_FIELDS = {
    "kommunenr_shape": "Kommunenummeret skal ha fire siffer, for eksempel 0301.",
    "kommunenr_unknown": "Kommunenummeret {k} finnes ikke i {year}. Kontroller nummeret.",
    "bydel_shape": "Bydel skal ha to siffer: 00 for hele kommunen, 01–15 for bydelene i Oslo.",
    "bydel_oslo": "Bydel {b} kan ikke brukes for kommune {k}. Bruk 00 for hele kommunen, eller 01–15 for en bydel.",
    "bydel_other": "Bydel {b} kan ikke brukes for kommune {k}. Bruk 00 for hele kommunen.",
    "orgnr_shape": "Organisasjonsnummeret skal ha ni siffer.",
    "orgnr_invalid": "Organisasjonsnummeret {o} er ikke gyldig: det skal begynne med 8 eller 9 og ha riktig "
    "kontrollsiffer.",
    "pin_missing": "Skriv inn PIN-koden.",
    "fix_fields": "Rett opp feltene som er merket.",
}


def login_field(key, **values):
    """A login form message (:data:`LOGIN_FIELDS`) with its values."""
    return Msg(LOGIN_FIELDS[key], **values)


#: Texts of the pages themselves, in Python: the 404 and 405 pages, the 500 page.
PAGES = {
    "page_not_found": "Fant ikke siden. Kontroller adressen, eller gå til forsiden.",
    "method_not_allowed": "Siden kan ikke brukes på denne måten.",
    "internal_error": "Noe gikk galt hos oss. Prøv igjen senere.",
    "internal_error_title": "Feil",
}


def page_text(key, lang=None):
    """A text of :data:`PAGES` (a :class:`Msg`, or in ``lang``)."""
    text = Msg(PAGES[key])
    return text if lang is None else text.in_language(lang)


#: E-mails: the morning e-mail's subject (``{unit}``, ``{date}``).
MAIL = {
    "morning_subject": "sendemodul: status for {unit} {date}",
    "reminder_subject": "sendemodul: {register} {periode} mangler for {unit}",
    "enrolment_subject": "Sendemodulen: ta i bruk innloggingen din",
    "registers_subject": "Sendemodulen: nye registre for deg",
    "reviewer_fylke_subject": "Sendemodulen: du har tilgang som statsforvalter",
    "reviewer_refused_subject": "Sendemodulen: søknaden om tilgang er avslått",
}


#: What counts now, said on the receipt page, the list and in the API's and SFTP's receipts (``melding``). Each text
#: is one plain sentence or two; ``{reference}`` is the upload's, ``{current}`` the one that counts now.
COUNTS = {
    "counts": "Denne innsendingen er den nyeste for {register} {periode}, og det er den som gjelder.",
    "counts_stopped": "Denne innsendingen er den nyeste for {register} {periode}, men den er stoppet og blir ikke "
    "levert til SSB. Rett feilen og send en ny fil; den nye filen vil gjelde.",
    "superseded": "Denne innsendingen gjelder ikke lenger. For {register} {periode} gjelder den nyeste innsendingen, "
    "{current}, sendt {current_time}.",
    "superseded_stopped": "Denne innsendingen gjelder ikke lenger. Den nyeste innsendingen for {register} {periode}, "
    "{current}, sendt {current_time}, er stoppet og blir ikke levert til SSB. Rett feilen og send en ny fil.",
    "test": "Dette er en testinnsending: den blir kontrollert, men ikke sendt til SSB, og gjelder ikke.",
    "test_current": "For {register} {periode} gjelder innsendingen {current}, sendt {current_time}.",
    "test_none": "For {register} {periode} gjelder ingen innsending ennå.",
    "again": "Skal {reference} gjelde igjen, krypterer du uttrekket på nytt med krypteringsmodulen og sender den nye "
    "filen. En fil som er sendt før, blir ikke tatt imot som ny.",
    "duplicate": "Denne filen er sendt inn før, {time}, med referansen {reference}. Ingenting nytt er lagret.",
    "duplicate_counts": "Denne filen er sendt inn før, {time}, med referansen {reference}. Ingenting nytt er lagret; "
    "{reference} gjelder fortsatt for {register} {periode}.",
}

#: The short form in the list's "Gjelder" column.
COUNTS_SHORT = {
    "counts": "Ja, den nyeste",
    "counts_stopped": "Ja, men stoppet",
    "superseded": "Nei, {current} gjelder",
    "test": "Nei, test",
}


class _Sentences(dict):
    """:data:`COUNTS` as :func:`standing.describe` reads it, keeping each sentence it formats as a :class:`Msg`."""

    def __init__(self, texts):
        super().__init__(texts)
        self.kept = []

    def __getitem__(self, key):
        return _Sentence(super().__getitem__(key), self.kept)


class _Sentence:
    def __init__(self, msgid, kept):
        self.msgid = msgid
        self.kept = kept

    def format(self, **values):
        sentence = Msg(self.msgid, **values)
        self.kept.append(sentence)
        return sentence


def counts_nb(row, current, *, duplicate=False):
    """What counts now for ``row``'s register and periode (a :class:`Msg` of its sentences: Bokmål until rendered in
    Nynorsk): ``current`` is the upload that counts (:func:`sendemodul.standing.current_uploads` or the store's
    ``current_upload``); ``duplicate``: the unit just sent this file again."""
    texts = _Sentences(COUNTS)
    standing.describe(texts, row, current, duplicate=duplicate, time_text=oslo_display_of_text)
    names = [f"s{i}" for i in range(len(texts.kept))]
    return Msg(" ".join("{" + name + "}" for name in names), **dict(zip(names, texts.kept)))


def counts_short_nb(row, current):
    """The short form for the list: whether ``row`` counts, and if not, which upload does."""
    s = standing.standing(row, current)
    if s.test:
        key = "test"
    elif s.counts:
        key = "counts_stopped" if s.stopped else "counts"
    else:
        key = "superseded"
    return Msg(COUNTS_SHORT[key], current=s.current_reference)


#: A unit's state in the staff's status list (sendemodul/status_list.py), in Bokmål.
STATUS_LIST_NB = {
    "delivered": "Levert til SSB",
    "received": "Mottatt",
    "awaiting review": "Venter på kontroll",
    "accepted": "Godkjent av SSB",
    "returned": "Sendt tilbake",
    "quarantined": "Stoppet",
    "rejected": "Avvist",
    "missing": "Mangler",
    "late": "Forsinket",
    "not registered": "Ikke registrert",
}


def status_list_nb(state):
    """A unit's state in the status list (a :class:`Msg`: Bokmål until a page renders it in Nynorsk; a state without
    a text of its own as it is)."""
    return Msg(STATUS_LIST_NB[state]) if state in STATUS_LIST_NB else state


#: Skjema 999 (``/registrer-person``): each field's label, as SSB's form names it.
REGISTRATION_LABELS = {
    "kommunenr": "Kommunenummer",
    "unit_name": "Kommunens/bydelens navn",
    "bydel": "Bydel",
    "responsible_name": "Ansvarlig persons navn",
    "responsible_phone": "Ansvarlig persons telefon",
    "responsible_email": "Ansvarlig persons e-post",
    "name": "Navn på personen som skal rapportere",
    "email": "E-post (jobb)",
    "mobile": "Mobilnummer",
    "registers": "Skjema personen skal rapportere",
    "language": "Målform",
}

#: What the check step of skjema 999 says is wrong, by field (``{kommunenr}``/``{bydel}``: the logged-in unit's).
REGISTRATION_PROBLEMS = {
    "kommunenr": "Kommunenummeret må være {kommunenr}, enheten du er logget inn som.",
    "unit_name": "Skriv kommunens eller bydelens navn.",
    "bydel": "Bydel må være {bydel}, enheten du er logget inn som.",
    "responsible_name": "Skriv navnet på den ansvarlige personen.",
    "responsible_phone": "Skriv et telefonnummer med 8 til 15 siffer, for eksempel 22 00 00 00.",
    "responsible_email": "Skriv en gyldig e-postadresse for den ansvarlige personen.",
    "name": "Skriv navnet på personen som skal rapportere.",
    "email": "Skriv en gyldig e-postadresse (jobb) for personen som skal rapportere.",
    "mobile": "Mobilnummeret skal ha 8 til 15 siffer, for eksempel +47 912 34 567.",
    "registers": "Kryss av for minst ett skjema: 11F, 11CF eller 15F.",
    "language": "Velg bokmål eller nynorsk.",
}

#: The persons' pages: the second login step, the enrolment link, "Mine skjema".
PERSON_TEXTS = {
    "email_missing": "Skriv inn e-postadressen din, for eksempel kari.nordmann@kommune.no.",
    "code_missing": "Skriv inn koden fra autentiseringsappen, eller en gjenopprettingskode.",
    "link_gone": "Lenken er brukt, utløpt eller ugyldig. Be enheten registrere deg på nytt (skjema 999).",
    "enrolment_wrong_code": "Koden stemmer ikke. Skriv inn koden appen viser nå, og prøv igjen.",
    "confirm_no_participants": "Kryss av for å bekrefte at enheten ikke har deltakere i {register} {periode}.",
    "deadline_in_days": "frist om {days} dager",
    "deadline_tomorrow": "frist i morgen",
    "deadline_today": "fristen er i dag",
    "deadline_yesterday": "fristen gikk ut i går",
    "deadline_days_ago": "fristen gikk ut for {days} dager siden",
}


#: Access for reviewers (``/tilgang``, the application; ``/statsforvalter``, the login without a unit): what is wrong
#: with a field, by field.
ACCESS_PROBLEMS = {
    "name": "Skriv navnet ditt.",
    "email": "Skriv en gyldig e-postadresse (jobb), for eksempel kari.nordmann@statsforvalteren.no.",
    "fylke": "Velg fylket du skal være statsforvalter for.",
    "language": "Velg bokmål eller nynorsk.",
    "code": "Skriv inn koden fra autentiseringsappen, eller en gjenopprettingskode.",
}

#: Access for reviewers: messages for a whole form (too many open applications, a banned source, a failed e-mail).
ACCESS_TEXTS = {
    "full": "Det er for mange søknader som venter for dette fylket. Prøv igjen senere.",
    "banned": "Det er sendt for mange søknader eller innloggingsforsøk fra din adresse. Vent en stund og prøv igjen.",
    "mail_failed": "Avgjørelsen er lagret, men e-posten til søkeren kunne ikke sendes. Be driftsansvarlig om å sende "
    "den på nytt.",
}
