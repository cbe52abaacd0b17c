"""Repository-level tests (browser, schemathesis) share the fixtures of rumbo/conftest.py."""

from rumbo.conftest import *  # noqa: F403
