"""The helpers bulk jobs use: a fixed date for a whole batch and a paused garbage collector."""

from __future__ import annotations

import datetime
import gc

import pytest
from django.core.exceptions import ValidationError

from rumbo.lib.dates import fixed_today, today
from rumbo.lib.memory import collector_paused
from rumbo.people.validators import validate_birth_date


def test_fixed_today_holds_within_the_block_and_is_restored():
    real = today()
    with fixed_today(datetime.date(2001, 5, 6)):
        assert today() == datetime.date(2001, 5, 6)
        with fixed_today(datetime.date(1999, 1, 1)):
            assert today() == datetime.date(1999, 1, 1)
        assert today() == datetime.date(2001, 5, 6)
    assert today() == real


def test_validators_read_the_fixed_date():
    """A date of birth after the batch's date is in the future for it, whatever the clock says."""
    with fixed_today(datetime.date(2001, 5, 6)):
        assert validate_birth_date(datetime.date(2001, 5, 6)) == datetime.date(2001, 5, 6)
        with pytest.raises(ValidationError) as exc:
            validate_birth_date(datetime.date(2001, 5, 7))
    assert exc.value.code == "birth_future"
    assert validate_birth_date(datetime.date(2001, 5, 7)) == datetime.date(2001, 5, 7)


def test_collector_is_paused_within_the_block_and_enabled_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_paused_collector_stays_off_when_it_was_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
