"""The UTC text form and the Norwegian display form of a moment (sendemodul/timefmt.py)."""

import datetime

import pytest

from sendemodul import timefmt


def test_utc_text_of_an_aware_moment_in_any_zone():
    moment = datetime.datetime(2027, 1, 15, 8, 0, tzinfo=timefmt.OSLO)
    assert timefmt.utc_text(moment) == "2027-01-15T07:00:00Z"
    assert timefmt.parse_utc_text("2027-01-15T07:00:00Z") == moment


def test_display_follows_norwegian_summer_and_winter_time():
    assert timefmt.oslo_display_of_text("2027-01-15T07:00:00Z") == "15.01.2027 kl. 08:00"
    assert timefmt.oslo_display_of_text("2027-07-15T07:00:00Z") == "15.07.2027 kl. 09:00"
    assert timefmt.oslo_display_of_text(None) == ""
    assert timefmt.oslo_display_of_text("") == ""


@pytest.mark.parametrize("text", ["2027-01-15 07:00:00Z", "2027-01-15T07:00:00", "2027-02-30T07:00:00Z"])
def test_parse_refuses_anything_but_the_utc_text_form(text):
    with pytest.raises(ValueError):
        timefmt.parse_utc_text(text)


def test_utc_now_text_is_in_the_utc_text_form():
    assert timefmt.parse_utc_text(timefmt.utc_now_text()).tzinfo is datetime.UTC
