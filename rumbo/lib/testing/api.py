"""Helpers for API tests: token clients and assertions on the one JSON error shape."""

from __future__ import annotations

from typing import Any

from django.test import Client


def token_client(user: Any) -> Client:
    """A client that authenticates every request with ``Authorization: Token <key>`` (no session)."""
    from rumbo.accounts.testing import api_token_key

    return Client(HTTP_AUTHORIZATION=f"Token {api_token_key(user)}")


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert ``response`` is an API error with ``status`` (and ``code``); return its ``error`` body."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
