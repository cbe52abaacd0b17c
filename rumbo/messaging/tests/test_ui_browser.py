"""The template editor in a real browser, in Spanish: typing a message updates the SMS length check as the
person types (htmx), GSM-7 → UCS-2 when a character outside GSM 03.38 appears. Debian's Chromium driven by
Playwright against Django's live server (the fixtures of ``tests/browser``)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from rumbo.accounts.testing import login_verified
from tests.browser.conftest import browser, page  # noqa: F401  (Playwright fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:  # noqa: F811
    """The office administrator's session, past the second factor, handed to the browser."""
    client = login_verified(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_typing_a_template_updates_the_sms_segment_count(live_server, page, world):  # noqa: F811
    _log_in(page, live_server, world.admin)
    page.goto(f"{live_server.url}/messaging/templates/")
    assert page.locator("html").get_attribute("lang") == "es"
    page.click("a[href='/messaging/templates/new/']")
    page.wait_for_url(f"{live_server.url}/messaging/templates/new/")
    counter = page.locator("#seg-spa .segments")
    assert counter.get_attribute("data-segments") == "0"

    body = page.locator("textarea[name=texts__spa__body]")
    body.fill("Hola {{ given_names }}, ¿cómo está?")  # "ó" and "á" are not GSM-7
    page.locator("#seg-spa .segments[data-encoding='UCS-2']").wait_for()
    assert page.locator("#seg-spa .non-gsm code").all_inner_texts() == ["ó", "á"]
    assert counter.get_attribute("data-segments") == "1"

    body.fill("Señor, " + "a" * 153)  # ñ is GSM-7: 160 characters fit one SMS
    page.locator("#seg-spa .segments[data-encoding='GSM-7'][data-characters='160']").wait_for()
    assert counter.get_attribute("data-segments") == "1"

    body.press("End")
    body.type("!")  # the 161st character: two SMS
    page.locator("#seg-spa .segments[data-segments='2']").wait_for()
    assert page.locator("#seg-spa .segments").get_attribute("data-characters") == "161"

    # The English text has its own counter; typing there leaves the Spanish one alone.
    page.locator("textarea[name=texts__eng__body]").fill("Stay safe 🙂")
    page.locator("#seg-eng .segments[data-encoding='UCS-2']").wait_for()
    assert page.locator("#seg-spa .segments").get_attribute("data-segments") == "2"
