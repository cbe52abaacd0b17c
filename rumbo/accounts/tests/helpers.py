"""Clients for the accounts tests. Pages are requested in English (the source language), so assertions on
text keep holding once the Spanish catalogue is filled in."""

from __future__ import annotations

from typing import Any

from django.test import Client

from rumbo.accounts.testing import login_verified


def english(client: Client) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def browser(**defaults: Any) -> Client:
    """A fresh, anonymous client asking for English pages."""
    return english(Client(**defaults))


def logged_in(user: Any, **defaults: Any) -> Client:
    """A client past the password step only (no second factor verified)."""
    client = browser(**defaults)
    client.force_login(user)
    return client


def fully_logged_in(user: Any) -> Client:
    """A client past both steps, as ``world.client_for`` gives."""
    return login_verified(browser(), user)
