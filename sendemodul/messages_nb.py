"""What the unit is told in Bokmål: the message for each error code the API can answer with (:func:`melding`), and
an upload's state (:func:`status_nb`), shared by the web pages and the morning e-mail.

The API's JSON carries ``error`` (the stable code), ``message`` (English, for logs and scripts) and ``melding``
(Bokmål, what the web page shows). Details (which part, which key) stay in ``message``.
"""

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
    "not_found": "Fant ikke innsendingen.",
    "review_message": "Skriv en melding til avgiveren på 1 til 4000 tegn før du returnerer innsendingen.",
    "review_own": "Du kan ikke godkjenne eller returnere en innsending du har sendt selv.",
    "review_decided": "Oppgaven er allerede løst.",
    "invalid": "Forespørselen er ugyldig.",
    "error": "Noe gikk galt hos oss. Prøv igjen senere.",
    "staff_login": "Statuslisten er for SSB og pseudonymforvalteren: logg inn med brukernavnet staff og nøkkelen "
    "fra driftsansvarlig.",
}


def melding(code):
    """The Bokmål message for an error code (a generic one for codes without their own)."""
    return MESSAGES.get(code) or MESSAGES["refused"]


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


def status_nb(row):
    """The state of an upload as the unit sees it."""
    if row.get("superseded_by"):
        return "Erstattet av nyere innsending"
    text = STATUS_NB.get(row["status"], row["status"])
    if row.get("test"):
        text += " (test)"
    elif row.get("late"):
        text += " (etter fristen)"
    return text


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
    """A unit's state in the status list, in Bokmål (a state without a text of its own as it is)."""
    return STATUS_LIST_NB.get(state, state)
