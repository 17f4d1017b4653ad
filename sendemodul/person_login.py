"""The second step of the web login ("Hvem er du?"): a person of the logged-in unit, by e-mail address and a TOTP
code or a recovery code. Blocking (store and key file): the web front runs it off the reactor thread.

Each code is accepted once: a TOTP code's step must be newer than the last step the person used (a compare-and-set
in the store, so two racing logins cannot both use it), a recovery code is spent. An unknown person, a disabled one
and a wrong code look the same to the caller (None); the front scores the source and delays the answer as for a
wrong PIN, and never locks the person out."""

from sendemodul import persons, totp


def check(cfg, store, unit, email, code, unix_seconds):
    """The active person row if ``code`` is a valid, unused second factor for ``email`` in ``unit``, else None."""
    return _checked(cfg, store, store.login_person(unit, persons.normalize_email(email)), code, unix_seconds)


def check_reviewer(cfg, store, email, code, unix_seconds):
    """The login without a unit (issue 17): the active reviewer person (role statsforvalter, of a fylke, no unit)
    if ``code`` is a valid, unused second factor for ``email``, else None. As :func:`check`, the one step is the
    whole login: the e-mail address names the person and the code proves them."""
    return _checked(cfg, store, store.login_reviewer(persons.normalize_email(email)), code, unix_seconds)


def _checked(cfg, store, person, code, unix_seconds):
    key = persons.PersonKey.for_home(cfg.home)
    if person is None or not person["totp_secret"]:
        totp.matching_step(b"\0" * totp.SECRET_BYTES, code, unix_seconds)  # about the same work as a real check
        return None
    person_id = person["person_id"]
    if persons.looks_like_recovery_code(code):
        return person if store.use_recovery_code(person_id, key.recovery_hash(person_id, code)) else None
    secret = key.decrypt_secret(person_id, person["totp_secret"])
    step = totp.matching_step(secret, code, unix_seconds, last_step=person["totp_last_step"])
    if step is None or not store.use_totp_step(person_id, step):
        return None
    return person
