"""What counts now (sendemodul/standing.py) and how it is said (messages_nb.counts_nb, the receipt's message and
melding): the newest production upload per unit, register and periode counts; older ones and tests do not."""

import pytest

from sendemodul import messages_nb, standing
from sendemodul.receipt import Receipt

UNIT = "0301-00-958935420"


def upload(reference, received_at, *, register="11F", periode=2026, superseded_by=None, test=0, status="received"):
    return {
        "reference": reference,
        "unit": UNIT,
        "register": register,
        "periode": periode,
        "received_at": received_at,
        "superseded_by": superseded_by,
        "test": test,
        "status": status,
        "size": 10,
        "sha256": "0" * 64,
        "late": 0,
    }


A = upload("SM-20270110-AAAAAAAA", "2027-01-10T08:00:00Z", superseded_by="SM-20270112-BBBBBBBB")
B = upload("SM-20270112-BBBBBBBB", "2027-01-12T09:30:00Z")
T = upload("SM-20270113-TTTTTTTT", "2027-01-13T10:00:00Z", test=1)
OTHER = upload("SM-20270111-CCCCCCCC", "2027-01-11T08:00:00Z", register="15F")


def test_the_newest_not_superseded_production_upload_counts_per_register_and_periode():
    current = standing.current_uploads([A, B, T, OTHER])
    assert current == {(UNIT, "11F", 2026): B, (UNIT, "15F", 2026): OTHER}


def test_tests_never_count_and_no_upload_counts_while_only_tests_were_sent():
    assert standing.current_uploads([T]) == {}
    s = standing.standing(T, None)
    assert (s.counts, s.current_reference, s.test) == (False, None, True)


def test_a_superseded_upload_names_the_one_that_counts():
    s = standing.standing(A, B)
    assert (s.counts, s.current_reference, s.stopped) == (False, B["reference"], False)
    assert standing.standing(B, B).counts


def test_the_current_upload_must_be_of_the_same_register_and_periode():
    with pytest.raises(ValueError):
        standing.standing(A, OTHER)


def test_a_superseded_upload_says_which_counts_and_how_to_make_it_count_again():
    text = messages_nb.counts_nb(A, B)
    assert "gjelder ikke lenger" in text and B["reference"] in text and "12.01.2027 kl. 10:30" in text
    assert "Skal SM-20270110-AAAAAAAA gjelde igjen, krypterer du uttrekket på nytt" in text


def test_the_file_sent_again_names_its_first_reference_and_time_and_the_one_that_counts():
    text = messages_nb.counts_nb(A, B, duplicate=True)
    assert text.startswith("Denne filen er sendt inn før, 10.01.2027 kl. 09:00, med referansen SM-20270110-AAAAAAAA.")
    assert B["reference"] in text and "krypterer du uttrekket på nytt" in text


def test_a_file_sent_again_that_still_counts_says_so():
    text = messages_nb.counts_nb(B, B, duplicate=True)
    assert "sendt inn før" in text and f"{B['reference']} gjelder fortsatt for 11F 2026" in text
    assert "gjelder ikke" not in text


def test_the_newest_upload_says_it_counts_and_a_stopped_one_that_it_will_not_reach_ssb():
    assert messages_nb.counts_nb(B, B) == "Denne innsendingen er den nyeste for 11F 2026, og det er den som gjelder."
    stopped = {**B, "status": "quarantined"}
    assert "stoppet og blir ikke levert til SSB" in messages_nb.counts_nb(stopped, stopped)
    assert "er stoppet" in messages_nb.counts_nb(A, stopped)


def test_a_test_upload_says_it_does_not_count_and_which_does():
    assert "gjelder ingen innsending ennå" in messages_nb.counts_nb(T, None)
    assert f"gjelder innsendingen {B['reference']}" in messages_nb.counts_nb(T, B)


def test_the_short_form_for_the_list():
    assert messages_nb.counts_short_nb(B, B) == "Ja, den nyeste"
    assert messages_nb.counts_short_nb(A, B) == f"Nei, {B['reference']} gjelder"
    assert messages_nb.counts_short_nb(T, B) == "Nei, test"


def test_the_receipt_says_the_same_in_english_and_bokmaal_with_the_counting_reference():
    r = Receipt.from_row(A, B, duplicate=True).to_json()
    assert (r["counts"], r["superseded_by"], r["counting_reference"]) == (False, B["reference"], B["reference"])
    assert r["counting_received_at"] == B["received_at"]
    assert r["melding"] == messages_nb.counts_nb(A, B, duplicate=True)
    assert "sent before, at 2027-01-10T08:00:00Z, as SM-20270110-AAAAAAAA" in r["message"]
    assert "encrypt the extract again" in r["message"]


def test_every_sentence_key_has_a_text_in_both_languages():
    from sendemodul.receipt import COUNTS_EN

    assert set(COUNTS_EN) == set(messages_nb.COUNTS)
