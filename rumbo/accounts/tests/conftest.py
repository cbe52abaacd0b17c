"""Fixtures of the accounts tests."""

from __future__ import annotations

from typing import Any

import pytest

from rumbo.lib.testing.factories import UserFactory


@pytest.fixture
def lucia(db: None) -> Any:
    """A user without any role: no second factor involved unless she chooses one."""
    return UserFactory(username="lucia")


@pytest.fixture
def frozen() -> Any:
    """Time stopped at a fixed moment, 5 seconds into a TOTP time step; ``frozen.shift(s)`` moves it."""
    import datetime as dt

    import time_machine

    with time_machine.travel(dt.datetime(2026, 3, 2, 16, 0, 5, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller
