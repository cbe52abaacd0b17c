"""WSGI entry point (gunicorn rumbo.wsgi).

Gateway callbacks (``/hooks/``) are served by a second Django handler with a short middleware stack
(:data:`HOOKS_MIDDLEWARE`): no session, authentication, CSRF, messages, CSP, locale or office scope — a
gateway is not a browser and the webhook view authenticates the call itself (``rumbo.messaging.webhooks``).
A burst of thousands of replies a second then costs the web tier little more than the view. Every other path
goes through the full stack of ``settings.MIDDLEWARE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")

HOOKS_PREFIX = "/hooks/"
HOOKS_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "rumbo.lib.middleware.RequestContextMiddleware",
]


class HooksHandler(WSGIHandler):
    """Django's WSGI handler with :data:`HOOKS_MIDDLEWARE` instead of ``settings.MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        from django.conf import settings

        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = HOOKS_MIDDLEWARE  # only while the chain is built, at start-up
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


_site = get_wsgi_application()
_hooks = HooksHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "").startswith(HOOKS_PREFIX):
        return _hooks(environ, start_response)
    return _site(environ, start_response)
